"""The published DifferLand loss: parity with the reference terms, and behaviour on small cases."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import PARITY
from xdifferland.engine.loss import (
    DEFAULT_WEIGHTS,
    LOSS_TERMS,
    OBSERVATION_STREAMS,
    Observation,
    active_terms,
    edc_per_pixel,
    loss_terms,
    required_outputs,
    total_loss,
)
from xdifferland.engine.loss_primitives import annual_mask, annual_mean, patch_error, weighted_sse
from xdifferland.engine.outputs import is_total, resolve_output, series_outputs, total_base
from xdifferland.engine.types import Pools

PARITY_TOLERANCE = 1e-8
# The published loss has 15 terms; fluxnet_nee is an xdifferland addition for site data.
TERM_NAMES = tuple(name for name in LOSS_TERMS if name != "fluxnet_nee")


def _label_to_stream(label: str) -> str:
    """Reference label column ('SIF', 'EWT_anomaly', 'GPP_ec', ...) -> observation stream name."""
    return label.lower()


@pytest.fixture(scope="module")
def reference():
    """The reference batch, converted to time-major engine names (read in float64 NumPy)."""
    netCDF4 = pytest.importorskip("netCDF4")
    with netCDF4.Dataset(PARITY / "loss_terms.nc") as ds:
        outputs = np.asarray(ds["outputs"][:])  # (pixel, time, output)
        labels = np.asarray(ds["labels"][:])  # (pixel, time, label)
        output_names = [resolve_output(str(n)) for n in ds["output"][:]]
        label_names = [str(n) for n in ds["label"][:]]
        data = {
            "outputs": {name: outputs[:, :, i].T for i, name in enumerate(output_names)},
            "observations": {},
            "initial_pools": np.asarray(ds["initial_pools"][:]),  # (pixel, pool)
            "terms": dict(zip((str(n) for n in ds["term"][:]), np.asarray(ds["terms"][:]))),
            "edc_per_pixel": np.asarray(ds["edc_per_pixel"][:]),
            "total": float(ds["total"][...]),
        }
    for i in range(0, len(label_names), 2):
        value, mask = label_names[i], label_names[i + 1]
        assert mask == f"{value}_mask"
        data["observations"][_label_to_stream(value)] = (labels[:, :, i].T, labels[:, :, i + 1].T)
    # The 12 published label pairs come first, in reference order (nee_ec is an addition).
    assert tuple(data["observations"]) == OBSERVATION_STREAMS[:12]
    return data


def _as_jax(reference):
    outputs = {k: jnp.asarray(v) for k, v in reference["outputs"].items()}
    observations = {k: Observation(jnp.asarray(v), jnp.asarray(m))
                    for k, (v, m) in reference["observations"].items()}
    pools = Pools(*(jnp.asarray(column) for column in reference["initial_pools"].T))
    return outputs, observations, pools


@pytest.fixture(scope="module")
def ours(reference):
    """Our terms, per-pixel EDC and total on the reference batch, computed once in float64."""

    def evaluate(outputs, observations, pools):
        return {
            "terms": loss_terms(outputs, observations, pools, batch_size=64),
            "edc_per_pixel": edc_per_pixel(outputs, pools, 1e-3),
            "total": total_loss(outputs, observations, pools, batch_size=64),
        }

    with jax.enable_x64(True):
        result = jax.jit(evaluate)(*_as_jax(reference))
        return jax.tree_util.tree_map(np.asarray, result)


@pytest.mark.shared
@pytest.mark.parametrize("term", TERM_NAMES)
def test_term_matches_reference(reference, ours, term, x64):
    assert ours["terms"][term].dtype == np.float64
    np.testing.assert_allclose(ours["terms"][term], reference["terms"][term],
                               rtol=PARITY_TOLERANCE)


@pytest.mark.shared
def test_reference_has_exactly_our_terms(reference):
    assert tuple(reference["terms"]) == TERM_NAMES


@pytest.mark.shared
def test_edc_per_pixel_and_total_match_reference(reference, ours, x64):
    np.testing.assert_allclose(ours["edc_per_pixel"], reference["edc_per_pixel"],
                               rtol=PARITY_TOLERANCE)
    np.testing.assert_allclose(ours["total"], reference["total"], rtol=PARITY_TOLERANCE)


@pytest.mark.shared
def test_explicit_edc_gate_replaces_lai_mask(reference, x64):
    outputs, observations, pools = _as_jax(reference)
    lai_gate = observations["lai"].mask[0]
    gated = loss_terms(outputs, observations, pools, edc_gate=lai_gate)["edc"]
    np.testing.assert_allclose(float(gated), reference["terms"]["edc"], rtol=PARITY_TOLERANCE)
    ungated = loss_terms(outputs, {}, pools, edc_gate=jnp.ones(64))["edc"]
    expected = 10 * reference["edc_per_pixel"].sum()
    np.testing.assert_allclose(float(ungated), expected, rtol=PARITY_TOLERANCE)


@pytest.mark.shared
def test_loss_is_jittable_and_differentiable(reference, x64):
    outputs, observations, pools = _as_jax(reference)
    names = required_outputs(active_terms(observations))
    needed = {name: jnp.sum(outputs[total_base(name)], axis=0) if is_total(name)
              else outputs[name] for name in names}
    assert any(is_total(name) for name in needed)  # EDC and violation read time totals

    def loss(out):
        return total_loss(out, observations, pools, batch_size=64)

    value, grads = jax.jit(jax.value_and_grad(loss))(needed)
    np.testing.assert_allclose(float(value), reference["total"], rtol=PARITY_TOLERANCE)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads.values())


# --- small synthetic cases ----------------------------------------------------------------------

N_TIME, N_PIXEL = 24, 3


def _small_case(seed=0):
    rng = np.random.default_rng(seed)
    outputs = {name: jnp.asarray(rng.uniform(1.0, 2.0, (N_TIME, N_PIXEL)))
               for name in series_outputs(required_outputs())}
    observations = {stream: Observation(jnp.asarray(rng.uniform(0.0, 3.0, (N_TIME, N_PIXEL))),
                                        jnp.ones((N_TIME, N_PIXEL)))
                    for stream in OBSERVATION_STREAMS[:12]}
    pools = Pools(*(jnp.full((N_PIXEL,), 1.5) for _ in Pools._fields))
    return outputs, observations, pools


def test_term_switches_off_when_its_stream_is_absent():
    outputs, observations, pools = _small_case()
    full = loss_terms(outputs, observations, pools)
    assert tuple(full) == TERM_NAMES
    del observations["nbe"], observations["gpp_ec"]
    reduced = loss_terms(outputs, observations, pools)
    assert set(full) - set(reduced) == {"nbe", "nbe_iav", "fluxnet_gpp"}
    assert set(loss_terms(outputs, {}, pools)) == {"violation", "edc"}


def test_custom_weights_apply():
    outputs, observations, pools = _small_case()
    default = loss_terms(outputs, observations, pools)
    custom = loss_terms(outputs, observations, pools, weights={"sif": 1.0, "edc": 2.5})
    np.testing.assert_allclose(float(custom["sif"]), float(default["sif"]) / 400.0, rtol=1e-6)
    np.testing.assert_allclose(float(custom["edc"]), float(default["edc"]) * 2.5 / 10.0,
                               rtol=1e-6)
    np.testing.assert_allclose(float(custom["lai"]), float(default["lai"]), rtol=0)


@pytest.mark.parametrize("off", [0, 0.0, None])
def test_zero_weight_removes_term(off):
    outputs, observations, pools = _small_case()
    terms = loss_terms(outputs, observations, pools, weights={"violation": off, "lai": off})
    assert "violation" not in terms and "lai" not in terms
    assert len(terms) == len(TERM_NAMES) - 2
    total = total_loss(outputs, observations, pools, weights={"violation": off, "lai": off})
    np.testing.assert_allclose(float(total), float(sum(terms.values())), rtol=1e-6)


def test_edc_off_needs_no_initial_pools_and_no_flux_outputs():
    outputs, observations, _ = _small_case()
    sif_only = {"sif": outputs["sif"], "water_balance_violation": outputs["sif"]}
    terms = loss_terms(sif_only, {"sif": observations["sif"]}, None, weights={"edc": 0})
    assert set(terms) == {"sif", "violation"}


def test_unknown_names_are_rejected():
    outputs, observations, pools = _small_case()
    with pytest.raises(KeyError, match="unknown loss term"):
        loss_terms(outputs, observations, pools, weights={"gpp": 1.0})
    with pytest.raises(KeyError, match="unknown observation streams"):
        loss_terms(outputs, {"GPP": observations["sif"]}, pools)
    with pytest.raises(KeyError, match="need the engine outputs"):
        loss_terms({"sif": outputs["sif"]}, {}, pools)


def test_required_outputs():
    assert required_outputs(["fluxnet_reco", "nbe", "nbe_iav"]) == ("gpp", "nee", "nbe")
    edc_outputs = required_outputs(["edc"])
    assert {"sum:labile_release", "sum:litter_to_som", "sum:wood_fire_transfer",
            "som_pool"} <= set(edc_outputs)
    assert "labile_release" not in edc_outputs  # only its total: the loop never stacks it
    assert DEFAULT_WEIGHTS["nbe_iav"] == pytest.approx(10380.0)


def test_uncertainty_weighting_on_hand_computed_case():
    # 12 months, 2 pixels; residual 2 everywhere; sigma = 2 in pixel 0, 4 in pixel 1.
    predicted = jnp.full((12, 2), 3.0)
    value, mask = jnp.ones((12, 2)), jnp.ones((12, 2)).at[0, 1].set(0.0)
    sigma = jnp.tile(jnp.array([[2.0, 4.0]]), (12, 1)).at[0, 1].set(0.0)  # masked: sigma 0 is OK
    observation = Observation(value, mask, sigma)
    outputs = {"lai": predicted, "et": predicted, "nbe": predicted}
    observations = {"lai": observation, "nbe": observation}
    weights = {"lai": 1.0, "nbe": 1.0, "nbe_iav": None, "violation": 0, "edc": 0}
    plain = loss_terms(outputs, observations, None, weights=weights)
    scaled = loss_terms(outputs, observations, None, weights=weights, use_uncertainty=True)
    # plain SSE: 4 * (12 + 11) = 92; scaled: 12 * (2/2)^2 + 11 * (2/4)^2 = 12 + 2.75 = 14.75
    assert float(plain["lai"]) == pytest.approx(92.0)
    assert float(scaled["lai"]) == pytest.approx(14.75)
    assert float(scaled["nbe"]) == pytest.approx(float(plain["nbe"]))  # patch terms unchanged
    no_sigma = {"lai": Observation(value, mask)}
    same = loss_terms(outputs, no_sigma, None, weights=weights, use_uncertainty=True)
    assert float(same["lai"]) == pytest.approx(92.0)


def test_annual_uncertainty_uses_mean_monthly_sigma():
    predicted = jnp.full((24, 1), 3.0)
    observation = Observation(jnp.ones((24, 1)), jnp.ones((24, 1)), jnp.full((24, 1), 2.0))
    terms = loss_terms({"vod": predicted}, {"vod": observation}, None, use_uncertainty=True,
                       weights={"vod": 1.0, "violation": 0, "edc": 0})
    assert float(terms["vod"]) == pytest.approx(2.0)  # two years, ((3 - 1) / 2)^2 each


def test_annualization_rejects_partial_years():
    with pytest.raises(ValueError, match="not a multiple of 12"):
        annual_mean(jnp.ones((30, 2)))
    with pytest.raises(ValueError, match="not a multiple of 12"):
        annual_mask(jnp.ones((13, 2)))
    observation = Observation(jnp.ones((18, 2)), jnp.ones((18, 2)))
    with pytest.raises(ValueError, match="18 steps"):
        loss_terms({"nbe": jnp.ones((18, 2))}, {"nbe": observation}, None,
                   weights={"violation": 0, "edc": 0})


def test_annualization_means_values_and_multiplies_masks():
    values = jnp.arange(24.0)[:, None]
    mask = jnp.ones((24, 1)).at[5, 0].set(0.5)
    np.testing.assert_allclose(np.asarray(annual_mean(values))[:, 0], [5.5, 17.5])
    np.testing.assert_allclose(np.asarray(annual_mask(mask))[:, 0], [0.5, 1.0])


def test_patch_error_on_two_pixel_case():
    # Two times, two real pixels, batch of 4 rows (2 padded rows contribute nothing but 1/B).
    predicted = jnp.array([[2.0, 4.0], [1.0, 5.0]])
    observed = jnp.array([[0.0, 2.0], [9.0, 3.0]])
    mask = jnp.array([[1.0, 1.0], [0.0, 1.0]])
    # t=0: pred mean (2+4)/4 = 1.5, obs mean 2/4 = 0.5, coverage 2/4 -> 1^2 * 0.5 = 0.5
    # t=1: pred mean 5/4, obs mean 3/4, coverage 1/4 -> 0.5^2 * 0.25 = 0.0625
    assert float(patch_error(predicted, observed, mask, batch_size=4)) == pytest.approx(0.5625)
    padded = [jnp.concatenate([a, jnp.zeros((2, 2))], axis=1) for a in (predicted, observed, mask)]
    assert float(patch_error(*padded, batch_size=4)) == pytest.approx(0.5625)
    # the default batch size is the number of pixel columns
    terms = loss_terms({"nbe": predicted}, {"nbe": Observation(observed, mask)}, None,
                       weights={"nbe": 1.0, "nbe_iav": 0, "violation": 0, "edc": 0})
    assert float(terms["nbe"]) == pytest.approx(float(patch_error(predicted, observed, mask, 2)))


def test_weighted_sse_with_fractional_mask():
    assert float(weighted_sse(jnp.array([1.0, 3.0]), jnp.array([0.0, 0.0]),
                              jnp.array([1.0, 0.25]))) == pytest.approx(1.0 + 9.0 * 0.25)


def test_som_uses_time_mean_against_first_step():
    som_pool = jnp.array([[1.0, 10.0], [3.0, 20.0]])  # time means 2 and 15
    observation = Observation(jnp.array([[4.0, -9999.0], [100.0, 100.0]]),
                              jnp.array([[1.0, 0.0], [1.0, 1.0]]))
    terms = loss_terms({"som_pool": som_pool}, {"som": observation}, None,
                       weights={"som": 1.0, "violation": 0, "edc": 0})
    assert float(terms["som"]) == pytest.approx(4.0)
