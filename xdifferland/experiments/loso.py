"""Leave-one-site-out prediction: site predictors that generalise, spin-up and seed ensembles.

With a dozen sites a network fed one-hot IGBP classes learns site identities (several classes
occur at a single site) and cannot place a new site, and continuous climate predictors make it
extrapolate for the sites at the edge of the dozen. The leave-one-site-out fits therefore use
three small predictor sets by default (:data:`LOSO_PREDICTORS`: the coarse ``woody`` flag, tree
cover and leaf habit with the moisture index, and the climate of each site's own forcing),
taken by a site's members in turn, and train on every year of the other sites (none of the
held-out site's data is seen), averaging nine seeds per held-out site (:data:`LOSO_SEEDS`).
Optionally each run starts after cycling its first forcing year (so fast pools need not be
predicted for a site never seen). Every fold and
seed is trained side by side (:func:`fit_members`), from the middle of the parameter ranges
(:data:`LOSO_START`): from the published start many members ended with the soil water below the
wilting point at every site, GPP zero and no gradient. As a safety net, members whose training
loss ends far above their fold's best are refitted from new seeds before averaging
(:func:`~.folds.refit_stuck`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError, Problem
from ..registry import PARAMETER_NAMES
from ..training.config import FitConfig
from .folds import Member, fit_members, predictor_sets, refit_stuck

__all__ = ["FOREST_CLASSES", "FORCING_CLIMATE", "IGBP_TREE_COVER", "IGBP_EVERGREEN", "WOODY_COVER",
           "LOSO_PREDICTORS", "LOSO_SEEDS", "LOSO_START", "SAT_PREDICTORS", "add_site_climate",
           "forcing_climate", "with_spinup", "training_window", "leave_one_site_out",
           "hide_streams", "loso_table", "parameter_spread"]

#: IGBP classes counted as forest for the ``forest`` predictor (1 forest, 0 otherwise).
FOREST_CLASSES = ("ENF", "EBF", "DNF", "DBF", "MF")
#: Tree cover of each IGBP class: the middle of the class's definitional range (forests > 60 %,
#: woody savannas 30-60 %, savannas 10-30 %, open landscapes < 10 %). A fraction, not a label, so
#: a savanna site falls between the grasslands and forests a fit has seen.
IGBP_TREE_COVER = {"ENF": 0.8, "EBF": 0.8, "DNF": 0.8, "DBF": 0.8, "MF": 0.8, "WSA": 0.45,
                   "SAV": 0.2, "CSH": 0.05, "OSH": 0.05, "GRA": 0.05, "CRO": 0.05, "WET": 0.05,
                   "SNO": 0.0, "BSV": 0.0, "URB": 0.05, "CVM": 0.3, "WAT": 0.0}
#: Tree cover above which a class counts as wooded for the ``woody`` predictor: the FAO forest
#: definition's 10 % canopy cover, which includes (woody) savannas.
WOODY_COVER = 0.1
#: Leaf habit of the IGBP forest classes (1 evergreen, 0 deciduous, 0.5 mixed); 0 elsewhere.
IGBP_EVERGREEN = {"ENF": 1.0, "EBF": 1.0, "MF": 0.5}
#: Default predictors of the leave-one-site-out fits (see :func:`add_site_climate`): three sets
#: taken by a site's members in turn (``woody``; tree cover and leaf habit with the moisture
#: index; the forcing's climate alone). Chosen by the leave-one-site-out score (docs/examples.md):
#: with 9 members the three sets beat the first two on ET, NEE and LAI (0.398 / 0.178 / -0.583
#: against 0.356 / 0.154 / -0.881) at GPP 0.462 against 0.472.
LOSO_PREDICTORS = (("woody",), ("tree_cover", "evergreen", "moisture_index"),
                   ("mean_temperature", "moisture_index", "precipitation_seasonality"))
#: Default predictors of the satellite-informed fits (the held-out site's LAI is in training):
#: the ``woody`` flag with the mean temperature and moisture index of each site's own forcing.
#: There the site's LAI anchors its own predictor values, so predictors that tell sites apart
#: pay (4 members: mean LAI NSE 0.11 against -0.50 with ``woody`` alone, ET 0.41 against 0.33),
#: while with nothing of the site seen the same predictors make the network extrapolate.
SAT_PREDICTORS = ("woody", "mean_temperature", "moisture_index")
#: Starting point of the leave-one-site-out, satellite-informed and site-ensemble fits
#: (``FitConfig.water_start``): every process parameter and initial pool near the middle of its
#: range. From the published start (every parameter at the upper end of its range or either end)
#: the first epochs drain the soil bucket of about a third of the members below the wilting point
#: at every site (GPP zero, no gradient) and they had to be refitted; from the middle none are
#: (docs/examples.md, "Stuck members").
LOSO_START = "mid-range"
#: Members (seeds) averaged per held-out site by default: 4 and 8 ``woody`` members scored alike
#: (mean GPP NSE 0.449, 0.452); 9 keep the spread the intervals use steadier, 3 per set.
LOSO_SEEDS = 9
_LATENT_HEAT = 2.45  # MJ kg-1: shortwave energy per mm of evaporated water


def add_site_climate(ds: xr.Dataset) -> xr.Dataset:
    """Add the class and climate predictors to a ``(time, site)`` Dataset.

    ``moisture_index`` is the Budyko-style ratio of mean precipitation to the water the mean
    shortwave radiation could evaporate, ``P / (SW / λ)`` (dimensionless; small = dry). It uses
    the forcing only, which is known wherever the model is run. ``forest`` is 1 where the IGBP
    class is one of :data:`FOREST_CLASSES`; ``tree_cover`` is the class's definitional tree cover
    (:data:`IGBP_TREE_COVER`), ``woody`` is 1 where that cover exceeds :data:`WOODY_COVER` (the
    FAO forest threshold, which counts savannas as wooded) and ``evergreen`` is the leaf habit
    (:data:`IGBP_EVERGREEN`). With the temperature forcing present, the climate of
    :func:`forcing_climate` is added too.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"precipitation": (("time", "site"), [[2.0, 0.5]]),
    ...                  "shortwave_radiation": (("time", "site"), [[24.5, 24.5]])},
    ...                 coords={"igbp": ("site", ["ENF", "GRA"])})
    >>> out = add_site_climate(ds)
    >>> out["moisture_index"].values.round(2).tolist(), out["forest"].values.tolist()
    ([0.2, 0.05], [1.0, 0.0])
    >>> out["tree_cover"].values.tolist(), out["woody"].values.tolist()
    ([0.8, 0.05], [1.0, 0.0])
    """
    index = _moisture_index(ds)
    classes = np.asarray(ds["igbp"].values, str)
    unknown = sorted(str(c) for c in set(classes.ravel()) - set(IGBP_TREE_COVER))
    if unknown:
        raise DataError([Problem("igbp", f"unknown IGBP class(es) {unknown}.",
                                 f"use the 17 IGBP codes ({', '.join(IGBP_TREE_COVER)})")])
    forest = np.isin(classes, FOREST_CLASSES).astype(float)
    cover = np.vectorize(IGBP_TREE_COVER.get, otypes=[float])(classes)
    evergreen = np.vectorize(lambda c: IGBP_EVERGREEN.get(c, 0.0), otypes=[float])(classes)
    dims = ds["igbp"].dims
    climate = (forcing_climate(ds) if {"t_min", "t_max"} <= set(ds.data_vars) else
               {"moisture_index": _labelled(index, "1", "precipitation / (SW / λ)")})
    return ds.assign(
        **climate,
        forest=(dims, forest, {"units": "1", "long_name": "IGBP forest class"}),
        tree_cover=(dims, cover, {"units": "1", "long_name": "tree cover of the IGBP class"}),
        woody=(dims, (cover > WOODY_COVER).astype(float),
               {"units": "1", "long_name": "tree cover above 10 % (FAO forest definition)"}),
        evergreen=(dims, evergreen, {"units": "1", "long_name": "evergreen leaf habit (IGBP)"}))


#: The predictors :func:`forcing_climate` computes from any location's forcing.
FORCING_CLIMATE = ("mean_temperature", "annual_precipitation", "temperature_seasonality",
                   "precipitation_seasonality", "mean_shortwave", "moisture_index")


def forcing_climate(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Climate predictors of each location computed from its own forcing record.

    Known wherever the model can run (no site table needed): ``mean_temperature`` (°C, the mean
    of daily ``(t_min + t_max) / 2``), ``annual_precipitation`` (mm yr-1),
    ``temperature_seasonality`` (°C, the standard deviation of the 12 calendar months' mean
    temperatures), ``precipitation_seasonality`` (the coefficient of variation of the 12 months'
    mean precipitation, 1) and ``mean_shortwave`` (MJ m-2 d-1). Months come from ``date`` (or
    ``time`` when it holds dates).

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> dates = pd.date_range("2001-01-01", "2002-12-31")
    >>> warm = 10 + 10 * np.sin(2 * np.pi * (dates.dayofyear - 100) / 365.25)
    >>> ds = xr.Dataset({"t_min": (("time", "site"), np.c_[warm - 5, warm * 0]),
    ...                  "t_max": (("time", "site"), np.c_[warm + 5, warm * 0]),
    ...                  "precipitation": (("time", "site"), np.full((dates.size, 2), 2.0)),
    ...                  "shortwave_radiation": (("time", "site"), np.full((dates.size, 2), 15.0))},
    ...                 coords={"date": (("time", "site"), np.c_[dates, dates])})
    >>> c = forcing_climate(ds)
    >>> c["mean_temperature"].values.round(1).tolist(), c["annual_precipitation"].values.round()
    ([10.0, 0.0], array([730., 730.]))
    >>> c["temperature_seasonality"].values.round(1).tolist()
    [7.0, 0.0]
    """
    dates = ds["date"] if "date" in ds.coords else ds["time"]
    month = dates.dt.month
    if month.dims != ds["t_min"].dims:
        month = month.broadcast_like(ds["t_min"])
    temperature = 0.5 * (ds["t_min"] + ds["t_max"])
    monthly_t = [temperature.where(month == m).mean("time") for m in range(1, 13)]
    monthly_p = [ds["precipitation"].where(month == m).mean("time") for m in range(1, 13)]
    monthly_t, monthly_p = (xr.concat(v, "month") for v in (monthly_t, monthly_p))
    rainfall = ds["precipitation"].mean("time")
    return {
        "mean_temperature": _labelled(temperature.mean("time"), "degC",
                                      "mean air temperature of the forcing"),
        "annual_precipitation": _labelled(365.25 * rainfall, "mm yr-1",
                                          "annual precipitation of the forcing"),
        "temperature_seasonality": _labelled(monthly_t.std("month"), "degC",
                                             "standard deviation of the monthly mean temperatures"),
        "precipitation_seasonality": _labelled(monthly_p.std("month") / rainfall, "1",
                                               "coefficient of variation of the monthly "
                                               "precipitation"),
        "mean_shortwave": _labelled(ds["shortwave_radiation"].mean("time"), "MJ m-2 d-1",
                                    "mean shortwave radiation of the forcing"),
        "moisture_index": _labelled(_moisture_index(ds), "1", "precipitation / (SW / λ)")}


def _moisture_index(ds: xr.Dataset) -> xr.DataArray:
    evaporable = ds["shortwave_radiation"].mean("time") / _LATENT_HEAT
    return ds["precipitation"].mean("time") / evaporable


def _labelled(values: xr.DataArray, units: str, long_name: str) -> xr.DataArray:
    """``values`` with only these attributes: a statistic of a forcing variable must not keep
    its ``standard_name``, or it would be found as that forcing."""
    out = values.copy(deep=False)
    out.attrs = {"units": units, "long_name": long_name}
    return out


def with_spinup(ds: xr.Dataset, masks: Sequence[xr.DataArray], years: int,
                days: int = 365) -> tuple[xr.Dataset, list[xr.DataArray]]:
    """Prepend ``years`` copies of the first ``days`` steps of forcing to every record.

    The copies carry no observations and dates shifted back by whole multiples of ``days`` (the
    phenology clock stays continuous); ``masks`` (``(time, site)`` booleans) are padded with
    False. The pools at the start of the real record are then those left by the cycled year.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> dates = pd.date_range("2001-01-01", periods=4).values[:, None]
    >>> ds = xr.Dataset({"t_min": (("time", "site"), [[1.0], [2.0], [3.0], [4.0]]),
    ...                  "gpp": (("time", "site"), [[5.0], [6.0], [7.0], [8.0]])},
    ...                 coords={"time": range(4), "date": (("time", "site"), dates)})
    >>> out, _ = with_spinup(ds, [], years=2, days=2)
    >>> out["t_min"].values.ravel().tolist()
    [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0]
    >>> str(out["date"].values[0, 0])[:10], int(out["gpp"].notnull().sum())
    ('2000-12-28', 4)
    """
    if years <= 0:
        return ds, list(masks)
    first = ds.isel(time=slice(0, days))
    blank = {name: first[name].where(False) for name in _observation_names(ds)}
    cycles = [first.assign(blank).assign_coords(date=first["date"] - np.timedelta64(k * days, "D"))
              for k in range(years, 0, -1)]
    time = np.arange(ds.sizes["time"] + years * days)
    out = xr.concat([*cycles, ds], "time", data_vars="minimal", coords="minimal",
                    compat="override")
    padded = [xr.concat([xr.zeros_like(m.isel(time=slice(0, days)))] * years + [m], "time")
              for m in masks]
    return out.assign_coords(time=time), [m.assign_coords(time=time) for m in padded]


def training_window(ds: xr.Dataset, mask: xr.DataArray) -> tuple[xr.Dataset, xr.DataArray]:
    """``ds`` and ``mask`` cut after the last step that any site trains on.

    A fit scored on later years need not simulate them: the loss ignores them, and the steps
    after the training years are ~45 % of the FLUXNET records (a third of a joint fit's time per
    epoch, measured). The fitted model maps predictors to parameters and simulates any record,
    the whole one included.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"gpp": (("time", "site"), np.ones((5, 2)))})
    >>> mask = xr.DataArray([[1, 0], [1, 1], [0, 1], [0, 0], [0, 0]], dims=("time", "site"))
    >>> cut, cut_mask = training_window(ds, mask.astype(bool))
    >>> cut.sizes["time"], cut_mask.shape
    (3, (3, 2))
    """
    observed = np.flatnonzero(mask.any([d for d in mask.dims if d != "time"]).values)
    if observed.size == 0:
        raise ValueError("the training mask selects no step: nothing to train on")
    window = slice(0, int(observed[-1]) + 1)
    return ds.isel(time=window), mask.isel(time=window)


def _observation_names(ds: xr.Dataset) -> list[str]:
    from ..training.data import STREAMS

    return [v for v in ds.data_vars if "time" in ds[v].dims
            and (v in STREAMS or (v.endswith("_unc") and v[:-4] in STREAMS))]


def leave_one_site_out(ds: xr.Dataset, train: xr.DataArray, test: xr.DataArray,
                       settings: dict, *, predictors: Sequence[str] = LOSO_PREDICTORS,
                       seeds: int = LOSO_SEEDS, all_years: bool = True, spinup_years: int = 0,
                       clip_predictors: bool = False, stuck_factor: float = 2.0,
                       max_refits: int = 2, keep_streams: Sequence[str] = (),
                       progress: bool = False, callback=None) -> dict[str, xr.Dataset]:
    """Predict every site from a fit to the others; simulated outputs per held-out site.

    Parameters
    ----------
    ds : xarray.Dataset
        ``(time, site)`` sites from :func:`prepare_sites`.
    train, test : DataArray of bool
        The temporal split; with ``all_years`` the fits also train on the other sites' test
        years (the held-out site is never seen either way).
    settings : dict
        :class:`~xdifferland.training.FitConfig` keywords shared by every fit.
    predictors : sequence of str, or sequence of sequences of str
        Predictors (names in ``ds`` or added by :func:`add_site_climate`), or several sets of
        them, taken by a site's members in turn (:func:`~.folds.predictor_sets`).
    seeds : int, default :data:`LOSO_SEEDS` (9)
        Ensemble members per held-out site; their simulated outputs are averaged.
    all_years : bool, default True
        Train on every year of the other sites instead of their training years only.
    spinup_years : int, default 0
        Cycles of the first forcing year before each record (:func:`with_spinup`).
    clip_predictors : bool, default False
        Clip the held-out site's predictors to the range of the sites its fit saw.
    stuck_factor : float, default 2.0
        A member whose final training loss exceeds this multiple of the best of its held-out
        site's members ended in a poor optimum (:func:`~.folds.stuck_members`): it is refitted
        from a new seed, and left out of the average if it is still stuck after ``max_refits``
        rounds. Judged on training losses only; the held-out site plays no part.
    max_refits : int, default 2
        Rounds of refits (0: keep every member as trained).
    keep_streams : sequence of str, default ()
        Observation streams of the held-out site that stay in training, all years (the
        satellite-informed protocol: ``("lai",)``, satellite data everywhere, flux towers
        elsewhere). Empty: the site is left out altogether.
    progress : bool, default False
        Progress bar over epochs.
    callback : callable, optional
        Called as ``callback(epoch, losses)`` after each epoch; raise to stop training.

    Returns
    -------
    dict of str to xarray.Dataset
        Site → its ensemble-mean simulation (``gpp``, ``et``, ``nee``, ``lai``) on ``ds``'s
        time axis and the members' mean parameters (the 40 of the registry); its attributes
        ``ensemble_members`` and ``refitted_members`` count the
        members averaged and those refitted.
    """
    ds = add_site_climate(ds)
    seen = xr.ones_like(train) if all_years else train
    spun, (seen,) = with_spinup(ds, [seen], spinup_years)
    window, seen = training_window(spun, seen)  # the whole record unless all_years is False
    sites = [str(s) for s in ds["site"].values]
    def held_out(site):
        if keep_streams:
            return hide_streams(window, site, keep_streams), seen
        return window.drop_sel(site=site), seen.drop_sel(site=site)

    sets = predictor_sets(predictors)
    members = [Member(*held_out(site), sets[k % len(sets)],
                      seed=settings.get("seed", 0) + 1000 * k)
               for site in sites for k in range(seeds)]
    config = FitConfig(**(settings | {"test_fraction": 0.0, "dev_fraction": 0.0}))
    first = fit_members(members, config, progress=progress, callback=callback)
    fold = [i // seeds for i in range(len(members))]
    models, stuck, _ = refit_stuck(first, members, config, fold, factor=stuck_factor,
                                   max_refits=max_refits, progress=progress, callback=callback)
    offset = spun.sizes["time"] - ds.sizes["time"]
    out = {}
    for i, site in enumerate(sites):
        one = spun.sel(site=[site])
        own = range(i * seeds, (i + 1) * seeds)
        # a held-out site is a new location by design: clip or extrapolate without a warning
        kept = [k for k in own if k not in stuck]
        how = "clip" if clip_predictors else "allow"
        runs = [models[k].simulate(one, ["gpp", "et", "nee", "lai"], extrapolation=how)
                for k in kept]
        mean = sum(runs) / len(runs)
        params = [models[k].parameters(one, extrapolation=how)[list(PARAMETER_NAMES)]
                  for k in kept]
        mean = mean.assign(sum(params) / len(params))  # the members' mean parameters
        mean.attrs = {"ensemble_members": len(runs),
                      "refitted_members": sum(models[k] is not first[k] for k in own)}
        out[site] = mean.isel(time=slice(offset, None)).assign_coords(time=ds["time"])
    return out


def hide_streams(ds: xr.Dataset, site: str, keep: Sequence[str]) -> xr.Dataset:
    """``ds`` with every observation stream of ``site`` but ``keep`` (and their ``_unc``) NaN.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"gpp": (("time", "site"), np.ones((2, 2))),
    ...                  "lai": (("time", "site"), np.ones((2, 2)))},
    ...                 coords={"site": ["A", "B"]})
    >>> out = hide_streams(ds, "B", keep=["lai"])
    >>> int(out["gpp"].count()), int(out["lai"].count())
    (2, 4)
    """
    other = ds["site"] != site
    hidden = [v for v in _observation_names(ds) if v.removesuffix("_unc") not in keep]
    return ds.assign({v: ds[v].where(other) for v in hidden})


def parameter_spread(simulated: dict[str, xr.Dataset]) -> pd.DataFrame:
    """How much the held-out sites' parameters differ: per parameter, the median over sites and
    the spread (max - min) as a share of the parameter's range (of its logarithm where the range
    spans more than a factor 10, as the bounded transform does)."""
    from ..registry import parameter_table

    table = parameter_table().set_index("name")
    rows = {}
    for name in PARAMETER_NAMES:
        values = np.array([float(sim[name].values.ravel()[0]) for sim in simulated.values()])
        low, high = float(table.loc[name, "min"]), float(table.loc[name, "max"])
        scale = np.log if high / low > 10 else (lambda x: x)
        share = (scale(values.max()) - scale(values.min())) / (scale(high) - scale(low))
        rows[name] = {"median": float(np.median(values)), "min": float(values.min()),
                      "max": float(values.max()), "spread_share_of_range": float(share)}
    return pd.DataFrame.from_dict(rows, orient="index")


def loso_table(simulated: dict[str, xr.Dataset], ds: xr.Dataset, test: xr.DataArray,
               scored: dict) -> pd.DataFrame:
    """Per-site test NSE of leave-one-site-out simulations (columns by published label)."""
    from ..metrics import skill

    rows = {}
    for site, sim in simulated.items():
        one = ds.sel(site=[site])
        keep = test.sel(site=[site])
        row = {}
        for name, (outputs, label) in scored.items():
            if name in one:
                s = sum(sim[o] for o in outputs)
                row[label] = float(skill(one[name].where(keep), s.where(keep),
                                         spatial_dims=["site"])["temporal_nse"].values[0])
        rows[site] = row
    return pd.DataFrame.from_dict(rows, orient="index")
