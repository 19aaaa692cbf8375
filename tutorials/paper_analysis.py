# %% [markdown]
# The DifferLand paper asks of its fitted ensemble: which parameters can the data pin down,
# how do they covary, which predictors explain them and how. `xdifferland.analysis` answers on
# labelled data (see [Evaluation and analysis](../analysis.md)). This tutorial runs each step on
# a synthetic world whose planted parameters depend on climate (CLIM) and land cover (PFT) only,
# with soil (SOIL) and stand age (AGE) drawn independently of them, so the answers are known:
#
# 1. fit an ensemble;
# 2. identifiability: the spread of each parameter across members;
# 3. principal components of the parameter maps;
# 4. SHAP: which predictors drive a parameter, and the shape of the dependence;
# 5. the predictor-group factorial experiment and its hierarchical partition.
#
# Run it with `python tutorials/paper_analysis.py` (`--quick` for the short version shown here:
# six predictors, few epochs, a factorial of two groups; a smoke run whose numbers are not
# converged). The full mode (all 20 predictors of a 720-cell world, 4 members, the 18 setups of
# the four groups, 200 epochs each) is not timed on this page; it is many times longer.

# %%
import argparse
import tempfile
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import xdifferland
from xdifferland.analysis import (factorial, factorial_scores, functional_form,
                                  hierarchical_partition, identifiability, parameter_pca,
                                  partition_shares, plots, shap_ranking, shap_values)
from xdifferland.datasets import synthetic_world

parser = argparse.ArgumentParser(description="The paper's analysis on a fitted ensemble")
parser.add_argument("--quick", action="store_true", help="small and short: a smoke run")
parser.add_argument("--out", type=Path, default=Path("paper-analysis-output"), help="figures")
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)
# Each fit compiles its training step; an on-disk compilation cache lets the fits of one network
# shape (the members of an ensemble, a setup of the factorial) share one compilation.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="paper-analysis-jax-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
if args.quick:
    WORLD = {"n_lat": 10, "n_lon": 12, "n_years": 3}
    GROUPS = {"CLIM": ["mean_annual_temperature", "mean_annual_precipitation"],
              "PFT": ["savanna", "grassland"], "SOIL": ["sand", "clay"]}
    FACTORIAL_GROUPS = {name: GROUPS[name] for name in ("CLIM", "SOIL")}  # 6 setups, not 10
    EPOCHS, MEMBERS, EXPLAIN, NSAMPLES = 20, 3, 50, 100
else:
    WORLD = {"n_lat": 24, "n_lon": 30, "n_years": 4}
    GROUPS = FACTORIAL_GROUPS = None  # every predictor of the four groups
    EPOCHS, MEMBERS, EXPLAIN, NSAMPLES = 200, 4, 200, "auto"
# training settings of every fit: 1 x 1 degree patches (the region is small), a cosine schedule
SETTINGS = {"epochs": EPOCHS, "patch_size": (1.0, 1.0), "schedule": "cosine",
            "learning_rate": 3e-3, "bootstrap": False, "progress": False}


def save(figure, name):
    figure.savefig(args.out / f"{name}.png", dpi=90, bbox_inches="tight")
    plt.close(figure)


# %% [markdown]
# ## 1. The world and the ensemble
#
# `fit_ensemble` fits members that differ by seed (with `bootstrap=True`, also by a resample of
# the training patches), as Dask tasks; `client="synchronous"` runs them in this process. Each
# member trains on the ensemble's training patches only, and its fit logs that it holds no
# test or dev patches of its own ("no test and no dev patches: ..."); the ensemble keeps the
# common split, on whose test patches it is scored here.

# %%
ds, truth = synthetic_world(**WORLD, seed=2, parameter_drivers={"default": ("CLIM", "PFT")},
                            independent_groups=("SOIL", "AGE"))
predictors = [p for group in GROUPS.values() for p in group] if GROUPS else None
ensemble = xdifferland.fit_ensemble(ds, MEMBERS, client="synchronous", predictors=predictors,
                                    **SETTINGS)
print(f"{len(ensemble)} members; final training losses:",
      [round(loss, 1) for loss in ensemble.losses])
print(ensemble.evaluate(ds, "test", mean=True)[["nse", "r2", "n"]].to_dataframe().round(3)
      .to_string())

# %% [markdown]
# ## 2. Identifiability
#
# A parameter that every member predicts alike (a small coefficient of variation across members,
# median over the cells below `threshold`) is called identifiable. `identifiability` takes the
# ensemble and the data, or the members' parameter maps. Those maps carry each location's
# `extrapolation` score beside the 40 parameters; it is not a parameter, so leave it out.

# %%
members = ensemble.parameters(ds).drop_vars("extrapolation")   # (member, lat, lon)
spread = identifiability(members)
table = spread[["median_cv", "identifiable"]].to_dataframe().sort_values("median_cv")
print(f"{int(spread.identifiable.sum())} of {spread.sizes['parameter']} parameters identifiable "
      f"(median CV < {spread.attrs['threshold']}); the five most and least:")
print(table.head(5).round(3).to_string())
print(table.tail(5).round(3).to_string(header=False))

# %% [markdown]
# ## 3. Principal components of the parameters
#
# `parameter_pca` standardizes each parameter map over the cells and returns the components'
# explained variance, loadings and score maps; here of the members' mean.

# %%
pca = parameter_pca(members.mean("member"))
print("explained variance ratio:", pca.explained_variance_ratio.values.round(3))
first = pca.loadings.sel(component=1)
print("largest loadings of component 1:")
print(first.to_series().abs().sort_values(ascending=False).head(5).round(3).to_string())
save(plots.pca_biplot(pca), "pca_biplot")

# %% [markdown]
# ## 4. SHAP
#
# `shap_values` explains the ensemble-mean network's prediction of one parameter (or derived
# quantity) by Kernel SHAP; `shap_ranking` orders the predictors by mean |SHAP| and
# `functional_form` fits a smooth curve to each dependence.

# %%
shap = shap_values(ensemble, ds, "canopy_efficiency", n_explain=EXPLAIN,
                   n_background=min(EXPLAIN, 100), nsamples=NSAMPLES)
ranking = shap_ranking(shap)
print(ranking.to_dataframe().round(3).to_string())
top = [str(p) for p in ranking.predictor.values[:3]]
fits = {name: functional_form(shap, name) for name in top}
save(plots.shap_dependence(shap, top, fits=fits), "shap_dependence")

# %% [markdown]
# ## 5. The factorial experiment and its partition
#
# `factorial` fits an ensemble for every combination of predictor groups, plus CONTROL
# (white-noise predictors: what the model structure and forcing explain) and LATLON, and
# scores each. `hierarchical_partition` gives each group's independent contribution to the
# score (a Shapley value over the setups), `partition_shares` its share beyond CONTROL. The
# world's parameters depend on CLIM and PFT only: they should take most of it, SOIL and AGE
# little. (The quick mode compares CLIM with SOIL only: 6 setups instead of 18.)

# %%
result = factorial(ds, FACTORIAL_GROUPS, n_members=1, split="all", client="synchronous",
                   **SETTINGS)
scores = factorial_scores(result, "r2", "lai")
for setup in result.setup.values:
    r2 = float(result.r2.sel(setup=setup, variable="lai").mean())
    print(f"{setup:>16s}: r2 of LAI {r2:.3f}")
parts = hierarchical_partition(scores, list(FACTORIAL_GROUPS
                                            or ("PFT", "CLIM", "AGE", "SOIL")))
print("\nindependent contributions:", parts.to_series().round(3).to_dict())
if float(parts.drop_sel(component="CONTROL").sum()) > 0:
    print("shares beyond CONTROL:", partition_shares(parts).to_series().round(3).to_dict())
else:
    print("the full model does not beat CONTROL yet: shares beyond it are undefined")
save(plots.partition_bars(parts), "partition_bars")
