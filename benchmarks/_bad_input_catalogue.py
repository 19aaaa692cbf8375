"""The catalogue of ``bad_inputs.py``: every deliberate mistake, valid layout and documented
limitation, as :class:`Case` values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from _bad_input_changes import (as_dtype, as_float64, both, cf_aliases, change_latitude,
                                change_longitude, drop, drop_step, duplicate_step, eight_daily,
                                era5_back, era5_names, extra_dim, floor_fire_uncertainty,
                                forcing_without_time, generic_back, generic_cf_axes,
                                merge_observation, observation_on_own_axis, one_year_later,
                                other_spellings, packed_int, predictor_over_time, put, relabel,
                                set_units, shift_days, site_without_latitude, swap_t_min_t_max,
                                swap_two_steps, t_min_above_t_max_once, time_values, times_as_text,
                                transform, two_candidates)
from _bad_input_files import (empty_file, empty_zarr, html_page, kelvin_file, read_cli,
                              read_netcdf, read_zarr, run_cli, text_file, truncated_classic_file,
                              truncated_file)


@dataclass(frozen=True)
class Case:
    """One deliberate mistake (or valid layout, or documented limitation)."""

    name: str
    category: str  #: units, values, coordinates, dtypes, structure, uncertainties, files, layouts
    expect: tuple[str, ...]  #: names a good report gives (canonical variable, coordinate, file)
    mutate: Callable[[xr.Dataset], xr.Dataset] | None = None  #: world -> broken world
    action: Callable[[Path], object] | None = None  #: file cases: read (and validate)
    base: str = "grid"  #: which world: "grid", "midlatitude", "site"
    fit: bool = False  #: also fit 1 epoch when validate and simulate accept it
    use_uncertainty: bool = False
    kind: str = "mistake"  #: "mistake", "valid" (must be accepted) or "limitation"
    caught_by: str = "validate"  #: the step that should refuse it: validate, simulate, fit, read
    back: Callable[[xr.Dataset], xr.Dataset] | None = None  #: valid layouts: output to reference
    note: str = ""


def _c(name, category, expect, mutate=None, **options) -> Case:
    expect = (expect,) if isinstance(expect, str) else tuple(expect)
    return Case(name, category, expect, mutate, **options)


_SECONDS_PER_DAY = 86400.0
_unc = both(floor_fire_uncertainty)

CASES: tuple[Case, ...] = (
    # --- units: values in other units than their label ---
    _c("t_min_kelvin_labelled_degC", "units", "t_min", relabel("t_min", offset=273.15)),
    _c("t_max_kelvin_labelled_degC", "units", "t_max", relabel("t_max", offset=273.15)),
    _c("t_max_fahrenheit_labelled_degC", "units", "t_max",
       relabel("t_max", factor=1.8, offset=32.0)),
    _c("t_min_celsius_labelled_K", "units", "t_min", set_units("t_min", "K")),
    _c("shortwave_wm2_labelled_MJ_m2_d", "units", "shortwave_radiation",
       relabel("shortwave_radiation", factor=1e6 / _SECONDS_PER_DAY)),
    _c("co2_mol_per_mol_labelled_ppm", "units", "co2", relabel("co2", factor=1e-6)),
    _c("vpd_hPa_labelled_kPa", "units", "vpd", relabel("vpd", factor=10.0)),
    _c("vpd_Pa_labelled_kPa", "units", "vpd", relabel("vpd", factor=1000.0)),
    _c("burned_area_percent_labelled_fraction", "units", "burned_area",
       relabel("burned_area", factor=100.0)),
    _c("sand_percent_labelled_fraction", "units", "sand", relabel("sand", factor=100.0)),
    _c("precipitation_kg_m2_s_labelled_mm_day", "units", "precipitation",
       relabel("precipitation", factor=1 / _SECONDS_PER_DAY)),
    _c("precipitation_mm_month_labelled_mm_day", "units", "precipitation",
       relabel("precipitation", factor=30.0)),
    _c("precipitation_mm_month_labelled_mm_day_no_map", "units", "precipitation",
       both(drop("mean_annual_precipitation"), relabel("precipitation", factor=30.0))),
    _c("mean_annual_precipitation_mm_day_labelled_mm_year", "units",
       "mean_annual_precipitation", relabel("mean_annual_precipitation", factor=1 / 365.25)),
    _c("ewt_anomaly_mm_labelled_m", "units", "ewt_anomaly", set_units("ewt_anomaly", "m"),
       fit=True),
    _c("elevation_m_labelled_km", "units", "elevation", set_units("elevation", "km")),
    _c("bulk_density_kg_m3_labelled_g_cm3", "units", "bulk_density",
       relabel("bulk_density", factor=1000.0)),
    _c("gpp_per_year_labelled_per_day", "units", "gpp", relabel("gpp", factor=365.25), fit=True),
    _c("t_min_units_missing", "units", "t_min", set_units("t_min", None)),
    _c("precipitation_units_missing", "units", "precipitation",
       set_units("precipitation", None)),
    _c("co2_units_empty", "units", "co2", set_units("co2", "")),
    _c("vpd_units_unparsable", "units", "vpd", set_units("vpd", "kilopascals please")),
    _c("vpd_offset_units_degC", "units", "vpd", set_units("vpd", "degC")),
    _c("precipitation_offset_units_degC_per_day", "units", "precipitation",
       set_units("precipitation", "degC/day")),
    _c("t_min_units_delta_degC", "units", "t_min", set_units("t_min", "delta_degC")),
    _c("lai_units_not_a_ratio", "units", "lai", set_units("lai", "kg"), fit=True),
    # --- values ---
    _c("inf_in_t_min", "values", "t_min", put("t_min", np.inf)),
    _c("minus_inf_in_precipitation", "values", "precipitation", put("precipitation", -np.inf)),
    _c("nan_in_t_max_at_land_cell", "values", "t_max", put("t_max", np.nan)),
    _c("negative_precipitation", "values", "precipitation", put("precipitation", -5.0, count=4)),
    _c("precipitation_sign_flipped", "values", "precipitation",
       relabel("precipitation", factor=-1.0)),
    _c("negative_vpd", "values", "vpd", relabel("vpd", offset=-1.0)),
    _c("negative_shortwave", "values", "shortwave_radiation",
       put("shortwave_radiation", -8.0, count=3)),
    _c("t_min_t_max_swapped", "values", ("t_min", "t_max"), swap_t_min_t_max),
    _c("t_min_above_t_max_once", "values", ("t_min", "t_max"), t_min_above_t_max_once),
    _c("burned_area_above_one", "values", "burned_area", put("burned_area", 1.7)),
    _c("co2_zero", "values", "co2", relabel("co2", factor=0.0)),
    _c("fill_value_in_precipitation", "values", "precipitation",
       put("precipitation", 9.969209968386869e36)),
    _c("fill_value_minus_9999_in_t_min", "values", "t_min", put("t_min", -9999.0, count=2)),
    _c("vpd_absurd_magnitude", "values", "vpd", put("vpd", 1e6)),
    _c("nan_in_predictor_at_land_cell", "values", "elevation", put("elevation", np.nan)),
    _c("constant_predictor", "values", "sand", transform("sand", lambda da: da * 0 + 0.3)),
    _c("elevation_below_dead_sea", "values", "elevation", put("elevation", -1500.0)),
    _c("negative_lai_observation", "values", "lai", put("lai", -2.0, "observed", 3), fit=True),
    _c("inf_in_lai_observation", "values", "lai", put("lai", np.inf, "observed"), fit=True),
    _c("minus_inf_in_gpp_observation", "values", "gpp", put("gpp", -np.inf, "observed"),
       fit=True),
    _c("negative_biomass_observation", "values", "biomass",
       put("biomass", -500.0, "observed", 12), fit=True),
    _c("et_observation_absurd_magnitude", "values", "et", put("et", 1e20, "observed"), fit=True),
    _c("negative_fire_emission_observation", "values", "fire_emission",
       put("fire_emission", -3.0, "observed"), fit=True),
    _c("sif_observation_absurd_magnitude", "values", "sif", put("sif", 500.0, "observed"),
       fit=True),
    # --- coordinates ---
    _c("latitude_plus_100", "coordinates", "latitude", change_latitude(lambda v: v + 100.0)),
    _c("latitude_in_metres", "coordinates", "latitude", change_latitude(lambda v: v * 111_000.0)),
    _c("latitude_sign_flipped_midlatitudes", "coordinates", "latitude",
       change_latitude(lambda v: -v), base="midlatitude"),
    _c("latitude_as_text", "coordinates", "latitude", change_latitude(lambda v: v.astype(str))),
    _c("longitude_plus_400", "coordinates", "longitude", change_longitude(lambda v: v + 400.0)),
    _c("time_not_monotonic", "coordinates", "time", time_values(swap_two_steps)),
    _c("time_duplicated_step", "coordinates", "time", time_values(duplicate_step)),
    _c("time_irregular_missing_month", "coordinates", "time", drop_step),
    _c("time_as_text", "coordinates", "time", time_values(times_as_text)),
    # --- dtypes ---
    _c("t_min_as_text", "dtypes", "t_min", as_dtype("t_min", "str")),
    _c("t_min_packed_int_not_unpacked", "dtypes", "t_min", packed_int("t_min", 0.01)),
    _c("precipitation_packed_int_not_unpacked", "dtypes", "precipitation",
       packed_int("precipitation", 0.1)),
    _c("precipitation_as_bool", "dtypes", "precipitation", as_dtype("precipitation", "bool")),
    _c("vpd_as_datetimes", "dtypes", "vpd", as_dtype("vpd", "datetime")),
    _c("co2_as_objects_with_none", "dtypes", "co2", as_dtype("co2", "object")),
    _c("shortwave_as_complex", "dtypes", "shortwave_radiation",
       as_dtype("shortwave_radiation", "complex")),
    # --- structure ---
    _c("missing_vpd", "structure", "vpd", drop("vpd")),
    _c("missing_co2", "structure", "co2", drop("co2")),
    _c("missing_t_min_and_t_max", "structure", ("t_min", "t_max"), drop("t_min", "t_max")),
    _c("predictor_with_time_dim", "structure", "elevation", predictor_over_time),
    _c("forcing_without_time_dim", "structure", "t_min", forcing_without_time),
    _c("t_min_with_extra_dim", "structure", "t_min", extra_dim("t_min")),
    _c("vpd_with_extra_dim", "structure", "vpd", extra_dim("vpd", "expver")),
    _c("predictor_with_extra_dim", "structure", "elevation", extra_dim("elevation", "band")),
    _c("observation_with_extra_dim", "structure", "lai", extra_dim("lai", "band"), fit=True),
    _c("two_candidates_for_t_min", "structure", "t_min", two_candidates),
    _c("lai_merged_shifted_10_days", "structure", "lai",
       merge_observation("lai", shift_days(10)), fit=True),
    _c("lai_merged_8_daily", "structure", "lai", merge_observation("lai", eight_daily),
       fit=True),
    _c("lai_merged_one_year_later", "structure", "lai",
       merge_observation("lai", one_year_later), fit=True),
    _c("lai_on_own_time_axis_outside_period", "structure", "lai", observation_on_own_axis,
       fit=True),
    _c("site_without_latitude", "structure", "latitude", site_without_latitude, base="site"),
    # --- uncertainties (fit with use_uncertainty=True) ---
    _c("fire_emission_unc_zero_where_nothing_burns", "uncertainties", "fire_emission_unc",
       lambda ds: ds, fit=True, use_uncertainty=True, caught_by="fit",
       note="the synthetic world as generated: uncertainty = noise x value"),
    _c("lai_unc_zero", "uncertainties", "lai_unc",
       both(_unc, transform("lai_unc", lambda da: da * 0)), fit=True, use_uncertainty=True,
       caught_by="fit"),
    _c("gpp_unc_missing_where_observed", "uncertainties", "gpp_unc",
       both(_unc, put("gpp_unc", np.nan, "observed", 6)), fit=True, use_uncertainty=True,
       caught_by="fit"),
    _c("et_unc_negative", "uncertainties", "et_unc",
       both(_unc, transform("et_unc", lambda da: -da)), fit=True, use_uncertainty=True),
    _c("nbe_unc_inf", "uncertainties", "nbe_unc", both(_unc, put("nbe_unc", np.inf, "observed")),
       fit=True, use_uncertainty=True),
    # --- files ---
    _c("text_file_as_netcdf", "files", "notes.nc", action=read_netcdf(text_file),
       caught_by="read"),
    _c("text_file_cli_reader", "files", "notes.nc", action=read_cli(text_file),
       caught_by="read"),
    _c("html_page_as_netcdf", "files", "download.nc", action=read_netcdf(html_page),
       caught_by="read"),
    _c("empty_file_as_netcdf", "files", "empty.nc", action=read_netcdf(empty_file),
       caught_by="read"),
    _c("truncated_netcdf", "files", "truncated.nc", action=read_netcdf(truncated_file),
       caught_by="read"),
    _c("truncated_netcdf_cli_reader", "files", "truncated.nc", action=read_cli(truncated_file),
       caught_by="read"),
    _c("truncated_netcdf3", "files", "truncated3.nc", action=read_netcdf(truncated_classic_file),
       caught_by="read"),
    _c("truncated_netcdf3_cli_reader", "files", "truncated3.nc",
       action=read_cli(truncated_classic_file), caught_by="read"),
    _c("truncated_netcdf3_cli_reader_format_netcdf", "files", "truncated3.nc",
       action=read_cli(truncated_classic_file, "netcdf"), caught_by="read"),
    _c("empty_zarr_store", "files", "empty.zarr", action=read_zarr(empty_zarr),
       caught_by="read"),
    _c("empty_zarr_store_cli_reader", "files", "empty.zarr", action=read_cli(empty_zarr),
       caught_by="read"),
    _c("cli_validate_text_file", "files", "notes.nc", action=run_cli(text_file),
       caught_by="read"),
    _c("cli_validate_kelvin_labelled_degC", "files", "t_min", action=run_cli(kelvin_file),
       caught_by="read"),
    # --- valid layouts: must be accepted and simulate as the reference world ---
    _c("era5_valid_time_latitude_longitude", "layouts", (), era5_names, kind="valid",
       back=era5_back),
    _c("generic_cf_axes_t_y_x", "layouts", (), generic_cf_axes, kind="valid",
       back=generic_back),
    _c("dims_transposed", "layouts", (), lambda ds: ds.transpose("lon", "time", "lat"),
       kind="valid"),
    _c("latitude_descending", "layouts", (), lambda ds: ds.isel(lat=slice(None, None, -1)),
       kind="valid"),
    _c("other_unit_spellings", "layouts", (), other_spellings, kind="valid"),
    _c("cf_alias_names", "layouts", (), cf_aliases, kind="valid"),
    _c("float64_values", "layouts", (), as_float64, kind="valid"),
    _c("dask_chunked", "layouts", (), lambda ds: ds.chunk({"lat": 4}), kind="valid"),
    _c("site_layout", "layouts", (), lambda ds: ds, base="site", kind="valid"),
    # --- documented limitations: invisible by design, reported, not failing ---
    _c("precipitation_kg_m2_s_labelled_mm_day_no_map", "units", "precipitation",
       both(drop("mean_annual_precipitation"),
            relabel("precipitation", factor=1 / _SECONDS_PER_DAY)), kind="limitation",
       note="every value is a plausible rate (0 to 3e-4 mm/day) and a climate of 0.02 mm/year "
            "is that of the driest deserts; only the mean_annual_precipitation predictor, "
            "when given, shows the factor 86,400"),
    _c("latitude_sign_flipped_tropics", "coordinates", "latitude", change_latitude(lambda v: -v),
       kind="limitation",
       note="the hemisphere check judges only locations poleward of 25 degrees; at 2-6 degN "
            "the radiation's seasons cannot tell the hemispheres apart"),
)
