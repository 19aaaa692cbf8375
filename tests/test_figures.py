"""The summary figure of a run: its LAI panel counts what the LAI metrics score, and its axes
say quantity and units in the package's one style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import jax
import numpy as np
import pytest

from tests.figure_checks import RAW_UNITS, axis_texts, overlapping, tick_labels
from xdifferland import DifferLandModel, FitConfig
from xdifferland.datasets import synthetic_world
from xdifferland.figures import summary_figure, summary_panels
from xdifferland.network import init_network
from xdifferland.training.batches import Standardization
from xdifferland.training.data import patch_ids

PREDICTORS = ("sand", "clay")


def _model_with_splits(ds, predictors=PREDICTORS, seed=0) -> DifferLandModel:
    """An untrained model over ``predictors`` whose patches are split one train, the rest test,
    with a made-up loss history: what the figure reads of a fitted model."""
    config = FitConfig()
    weights = jax.tree_util.tree_map(np.array, init_network(config.network, len(predictors),
                                                            seed))
    land = ds["land_mask"].values.astype(bool)
    x = np.stack([ds[n].values[land] for n in predictors], axis=1)
    h = 1.0 / (1.0 + np.exp(-np.broadcast_to(ds["lat"].values[:, None], land.shape)[land]))
    standardization = Standardization(tuple(predictors), x.mean(0), x.std(0), float(h.mean()),
                                      float(h.std()) or 1.0)
    patches = np.unique(patch_ids(ds, ["lat", "lon"]).transpose("lat", "lon").values[land])
    patches = patches.tolist()
    assert len(patches) >= 2
    history = {"train_loss": list(np.geomspace(1.0, 0.05, 40)), "dev_epoch": [10, 20, 30, 40],
               "dev_loss": [0.9, 0.5, 0.4, 0.35]}
    return DifferLandModel(weights=weights, config=config, standardization=standardization,
                           predictors=tuple(predictors), history=history,
                           splits={"train": (patches[0],), "dev": (), "test": tuple(patches[1:])})


@pytest.fixture(scope="module")
def run():
    """World, model, parameters, simulation and test-split skill, as ``demo`` has them."""
    ds, _ = synthetic_world(seed=0, n_years=3)
    model = _model_with_splits(ds)
    parameters = model.parameters(ds, extrapolation="allow")
    simulation = model.simulate(ds, ["gpp", "lai"], extrapolation="allow")
    skill = model.evaluate(ds, "test")
    return ds, model, parameters, simulation, skill


def _lai_count(fig) -> int:
    title = fig.axes[1].get_title()
    return int(title.split("(")[1].split(" observations")[0].replace(",", ""))


def test_the_lai_panel_counts_the_observations_its_nse_scores(run, save_figure):
    ds, model, parameters, simulation, skill = run
    fig = summary_panels(model, ds, parameters, simulation, skill, title="a test run")
    save_figure(fig, "summary")
    n_scored = int(skill["n"].sel(variable="lai"))
    assert _lai_count(fig) == n_scored
    assert len(fig.axes[1].collections[0].get_offsets()) == n_scored
    assert skill.attrs["warmup_steps"] > 0  # the warm-up the count leaves out is not nothing
    assert f"after a {skill.attrs['warmup_steps']}-step warm-up" in fig.axes[1].get_title()
    assert f"NSE = {float(skill['nse'].sel(variable='lai')):.2f}" in fig.axes[1].get_title()


def test_summary_axes_say_quantity_and_units(run, save_figure):
    ds, model, parameters, simulation, skill = run
    fig = summary_panels(model, ds, parameters, simulation, skill)
    save_figure(fig, "summary-labels")
    ax_map, ax_scatter, ax_cycle, ax_loss = fig.axes[:4]
    colour_bar, twin = fig.axes[4:6]
    assert colour_bar.get_ylabel() == "canopy efficiency (g C m⁻² d⁻¹)"
    assert (ax_map.get_xlabel(), ax_map.get_ylabel()) == ("longitude (°E)", "latitude (°N)")
    assert ax_scatter.get_xlabel() == "observed LAI (m² m⁻²)"
    assert ax_scatter.get_ylabel() == "simulated LAI (m² m⁻²)"
    assert (ax_cycle.get_ylabel(), twin.get_ylabel()) == ("GPP (g C m⁻² d⁻¹)", "LAI (m² m⁻²)")
    assert "test patches outlined" in ax_map.get_title()
    assert not [t for t in axis_texts(fig) if RAW_UNITS.search(t)]
    for ax in (ax_map, ax_scatter, ax_cycle, ax_loss):
        assert overlapping(tick_labels(ax, "x")) == []
    # the seasonal cycle's legend sits below the panel, clear of its axis label
    legend = ax_cycle.get_legend().get_texts()
    assert [t.get_text() for t in legend] == ["GPP simulated", "LAI simulated", "LAI observed"]
    assert overlapping([ax_cycle.xaxis.label, *tick_labels(ax_cycle, "x"), *legend]) == []


def test_another_split_is_named_and_counted(run):
    ds, model, parameters, simulation, _ = run
    skill = model.evaluate(ds, "train")
    fig = summary_panels(model, ds, parameters, simulation, skill)
    assert "LAI on the train patches" in fig.axes[1].get_title()
    assert _lai_count(fig) == int(skill["n"].sel(variable="lai"))


def test_summary_figure_writes_the_png(run, tmp_path):
    ds, model, parameters, simulation, skill = run
    path = summary_figure(model, ds, parameters, simulation, skill, tmp_path / "summary.png")
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 10_000
