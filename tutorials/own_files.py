# %% [markdown]
# Your data rarely arrive the way a model wants them: forcing from a reanalysis, land cover and
# soil from other products, observations from satellites, each file with its own variable names,
# units and axis names. This tutorial goes from three such NetCDF files to a fitted model, its
# skill and two maps:
#
# 1. write the three files (here made from the embedded synthetic world, so it runs offline);
# 2. open them with xarray and put them on one grid;
# 3. `ds.differland.validate()` lists every problem at once;
# 4. fix them: units attributes, and `roles=` for the names the package cannot guess;
# 5. a short fit, `model.evaluate`, a parameter map and a simulated flux map.
#
# Run it yourself with `python tutorials/own_files.py` (add `--quick` for the short version shown
# here; `--out FOLDER` says where the figures go). The full mode trains 400 epochs instead of
# 20: it ran in 91 s on 2 CPU cores shared with other work (2026-12-05, xdifferland 0.1.0), with
# a test-patch NSE of 0.90 for LAI and 0.79 for ET.

# %%
import argparse
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt
import xarray as xr

import xdifferland
from xdifferland.analysis import plots
from xdifferland.datasets import synthetic_world

parser = argparse.ArgumentParser(description="From your own NetCDF files to maps")
parser.add_argument("--quick", action="store_true", help="20 epochs instead of 400")
parser.add_argument("--out", type=Path, default=Path("own-files-output"), help="figures")
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)
work = Path(tempfile.mkdtemp(prefix="own-files-"))  # the data files of this tutorial
EPOCHS = 20 if args.quick else 400

# %% [markdown]
# ## 1. Three files, as they might come from three sources
#
# The synthetic world is 16 × 20 half-degree cells (320 cells, 4 years of monthly steps). Its
# variables are written the way their usual sources publish them:
#
# | file | variables | as published by |
# |---|---|---|
# | `forcing.nc` | `mn2t`, `mx2t` (K), `ssrd` (J m⁻², daily sum), `tp` (m, daily sum), `vpd` (hPa), `co2` (mol mol⁻¹) | an ERA5-like reanalysis: `valid_time`, `latitude` from north to south, `longitude` |
# | `predictors.nc` | `MAT` (K), `MAP` (mm yr⁻¹), `sand_pct`, `clay_pct`, `frac_ebf`, `frac_sav`, `frac_gra` (%) | soil and land-cover maps on `lat`, `lon` |
# | `observations.nc` | `Lai_500m` (m² m⁻², MODIS-like), `Evap` (kg m⁻² s⁻¹), `GPP` (kg m⁻² s⁻¹, at 4 flux towers) | satellite and tower products on `time`, `lat`, `lon` |

# %%
world, _ = synthetic_world(n_lat=16, n_lon=20, n_years=4, seed=0)


def as_published(values, units, long_name, **attrs):
    """A variable with only the attributes a data provider would give it."""
    return xr.DataArray(values.values, values.coords, values.dims,
                        attrs={"units": units, "long_name": long_name, **attrs})


forcing = xr.Dataset({
    "mn2t": as_published(world.t_min + 273.15, "K", "Minimum temperature at 2 m"),
    "mx2t": as_published(world.t_max + 273.15, "K", "Maximum temperature at 2 m"),
    "ssrd": as_published(world.shortwave_radiation * 1e6, "J m**-2",
                         "Surface short-wave radiation downwards (daily sum)",
                         standard_name="surface_downwelling_shortwave_flux_in_air"),
    "tp": as_published(world.precipitation / 1000, "m", "Total precipitation (daily sum)"),
    "vpd": as_published(world.vpd * 10, "hPa", "Vapour pressure deficit"),
    "co2": as_published(world.co2 * 1e-6, "mol mol-1", "CO2 mole fraction"),
}).rename(time="valid_time", lat="latitude", lon="longitude").sortby("latitude", ascending=False)
predictors = xr.Dataset({
    "MAT": as_published(world.mean_annual_temperature + 273.15, "K", "Mean annual temperature"),
    "MAP": as_published(world.mean_annual_precipitation, "mm year-1", "Mean annual precipitation"),
    "sand_pct": as_published(world.sand * 100, "%", "Sand content"),
    "clay_pct": as_published(world.clay * 100, "%", "Clay content"),
    "frac_ebf": as_published(world.evergreen_broadleaf_forest * 100, "%",
                             "Evergreen broadleaf forest cover"),
    "frac_sav": as_published(world.savanna * 100, "%", "Savanna cover"),
    "frac_gra": as_published(world.grassland * 100, "%", "Grassland cover"),
})
observations = xr.Dataset({
    "Lai_500m": as_published(world.lai, "m2 m-2", "Leaf area index"),
    "Evap": as_published(world.et / 86400, "kg m-2 s-1", "Evapotranspiration"),
    "GPP": as_published(world.gpp / 1000 / 86400, "kg m-2 s-1",
                        "Gross primary productivity (eddy covariance)"),
})
for name, data in (("forcing", forcing), ("predictors", predictors),
                   ("observations", observations)):
    data.to_netcdf(work / f"{name}.nc")
    print(f"{name}.nc: {', '.join(map(str, data.data_vars))}; dims {dict(data.sizes)}")

# %% [markdown]
# ## 2. Open them and put them on one grid
#
# This is plain xarray. The three files describe the same cells under different axis names, so
# give the predictors and observations the forcing's names before merging. Merging lines the
# cells up by their coordinate values, so latitude may run north to south in one file and south
# to north in another.

# %%
forcing = xr.open_dataset(work / "forcing.nc")
predictors = xr.open_dataset(work / "predictors.nc")
observations = xr.open_dataset(work / "observations.nc")
ds = xr.merge([forcing,
               predictors.rename(lat="latitude", lon="longitude"),
               observations.rename(time="valid_time", lat="latitude", lon="longitude")],
              join="outer")
print(ds)

# %% [markdown]
# ## 3. Validate: every problem at once
#
# `validate` returns a report; nothing is fitted or simulated yet. Each line names the
# variable, what is wrong and the fix. `report.variables` shows what was recognised, under
# which canonical name: `co2`, `vpd`, `MAT`, `MAP` and `GPP` are known spellings, `ssrd` was
# found by its CF `standard_name`.

# %%
report = ds.differland.validate()
print(report)
print("\nrecognised:", report.variables)
unused = sorted(set(map(str, ds.data_vars)) - set(report.variables.values()))
print("not recognised, so not used:", unused)

# %% [markdown]
# `fit` and `simulate` run the same checks first and refuse the data, before any computation,
# with the same list:

# %%
try:
    ds.differland.fit(epochs=1)
except xdifferland.ValidationError as error:
    lines = str(error).splitlines()
    print(f"{type(error).__name__}: {lines[0]}\n{lines[1]}\n...")

# %% [markdown]
# Variables the package does not recognise are not an error: they are simply not used. Predictors
# and observations are optional, so check `report.variables` for those you meant to use
# (here the soil, land cover, LAI and ET).
#
# ## 4. Fix the data
#
# **Units.** The reanalysis labels its daily sums `J m**-2` and `m` (per day is implied by the
# file's time step). Say so in the units attribute; the package converts from there (K → °C,
# J m⁻² d⁻¹ → MJ m⁻² d⁻¹, m d⁻¹ → mm d⁻¹, hPa → kPa, mol mol⁻¹ → ppm, % → fraction,
# kg m⁻² s⁻¹ → mm d⁻¹ or g m⁻² d⁻¹).
#
# **Names.** `roles=` maps a canonical name to your variable; the same mapping works in
# `validate`, `canonical`, `fit`, `simulate`, `evaluate` and the command line (`--role`).

# %%
ds["ssrd"].attrs["units"] = "J m-2 d-1"
ds["tp"].attrs["units"] = "m d-1"
roles = {"t_min": "mn2t", "t_max": "mx2t", "precipitation": "tp",
         "sand": "sand_pct", "clay": "clay_pct", "evergreen_broadleaf_forest": "frac_ebf",
         "savanna": "frac_sav", "grassland": "frac_gra", "lai": "Lai_500m", "et": "Evap"}
report = ds.differland.validate(roles=roles)
print(report)
print("recognised:", sorted(report.variables))

# %% [markdown]
# `canonical` returns the Dataset the model works with: canonical names, units and axes
# (`time`, `lat` south to north, `lon`). Save it once, and later work needs no `roles`.

# %%
data = ds.differland.canonical(roles)
xdifferland.to_netcdf(data, work / "canonical.nc")
for name in ("t_min", "shortwave_radiation", "precipitation", "sand", "lai", "et", "gpp"):
    da = data[name]
    print(f"{name:>20s}: {da.attrs.get('units')!s:>14s}  mean {float(da.mean()):8.3f}")

# %% [markdown]
# ## 5. Fit
#
# The region is small, so training groups cells into 2° × 2° patches (`patch_size`) instead of
# the default 4° × 5°: 20 patches, of which 10 % are held out for testing and 10 % for
# monitoring. `--quick` trains 20 epochs, a smoke run; the full mode trains 400.

# %%
model = data.differland.fit(epochs=EPOCHS, seed=1, patch_size=(2.0, 2.0), progress=False)
print(f"{model.config.epochs} epochs; training loss {model.history['train_loss'][0]:.4g} "
      f"-> {model.history['train_loss'][-1]:.4g}")
for split in ("train", "test"):
    print(f"{split} patches: {int(model.split_mask(data, split).sum())} cells")
model.save(work / "model.npz")

# %% [markdown]
# ## 6. Evaluate
#
# `evaluate` scores every observed variable on the held-out test patches after a 24-month
# warm-up. GPP is observed at four tower cells only, none of them in a test patch here, so it
# has no test score (n = 0); on `"all"` it has one.

# %%
for split in ("test", "all"):
    skill = model.evaluate(data, split)
    print(f"\n{split} split:")
    print(skill[["nse", "r2", "rmse", "n"]].to_dataframe().round(3).to_string())

# %% [markdown]
# ## 7. Maps
#
# `model.parameters` predicts the 40 parameter maps from the predictors; `model.simulate` runs
# DALEC993 with them.

# %%
parameters = model.parameters(data)
figure = plots.parameter_maps(parameters, ["canopy_efficiency", "leaf_lifespan"])
figure.savefig(args.out / "parameter_maps.png", dpi=90)
plt.close(figure)

simulated = model.simulate(data, outputs=["gpp"])
gpp = simulated["gpp"].mean("time")
figure, ax = plt.subplots(figsize=(5.5, 4))
gpp.plot(ax=ax, cbar_kwargs={"label": "mean GPP (g C m$^{-2}$ d$^{-1}$)"})
ax.set_title(f"simulated GPP, mean of {simulated.sizes['time']} months")
ax.set_xlabel("longitude (°E)")
ax.set_ylabel("latitude (°N)")
figure.tight_layout()
figure.savefig(args.out / "gpp_map.png", dpi=90)
plt.close(figure)
print(f"mean simulated GPP {float(gpp.mean()):.2f} {simulated['gpp'].attrs['units']}")
