"""The spatialization network: wiring check of spec 13 T7 and configurability."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xdifferland.network import NetworkConfig, init_network, predict_parameters, predict_raw
from xdifferland.registry import HEADS

T7_THETA = [0.001798222, 0.6235431, 0.2716163, 0.4687893, 5.167828, 0.0003187203, 0.001379338,
            0.001211562, 3.444045e-05, 0.055423, 33.13069, 0.2717839, 82.16783, 106.9732,
            63.03486, 24.93463, 516.6105, 354.367, 0.3254413, 0.4410649, 0.4882306, 0.4661345,
            5.130983, 0.2332882, 5.066721, 0.06354243, 0.1225017, 19.33722, 6.103077,
            0.004885058, 3.858604e-05]
T7_POOLS = [569.8486, 611.9132, 514.4596, 5900.96, 124.3945, 744.6229, 189.8611]
T7_PHENOLOGY = [1103.871, 765.4869]
PUBLISHED = NetworkConfig(phenology="bounded")  # the published phenology output (spec 7.2)


def _t7_weights():
    """Deterministic weights W_ij = 0.3 sin(1 + i + 0.7 j + layer), biases 1 (spec 13 T7)."""
    weights = init_network(PUBLISHED, n_predictors=20, seed=0)
    layers = ["embedding_0", "embedding_1", "embedding_2", "process_head",
              "initial_pools_head", "phenology_head"]
    out = {}
    for index, name in enumerate(layers):
        n_in, n_out = weights[name]["kernel"].shape
        i, j = np.meshgrid(np.arange(n_in), np.arange(n_out), indexing="ij")
        out[name] = {"kernel": jnp.asarray(0.3 * np.sin(1 + i + 0.7 * j + index), jnp.float32),
                     "bias": jnp.ones(n_out, jnp.float32)}
    return out


def test_network_wiring_matches_reference_t7():
    z = 0.5 * (np.arange(21) - 10.0)
    predictors = jnp.asarray(z[1:][None], jnp.float32)
    hemisphere = jnp.asarray(z[:1][None], jnp.float32)
    p = predict_parameters(_t7_weights(), PUBLISHED, predictors, hemisphere)
    theta = [float(getattr(p, n)[0]) for n in HEADS["process"]]
    pools = [float(getattr(p, n)[0]) for n in HEADS["initial_pools"]]
    phenology = [float(getattr(p, n)[0]) for n in HEADS["phenology"]]
    np.testing.assert_allclose(theta, T7_THETA, rtol=2e-5)
    np.testing.assert_allclose(pools, T7_POOLS, rtol=2e-5)
    np.testing.assert_allclose(phenology, T7_PHENOLOGY, rtol=2e-5)


def test_default_architecture_and_initialization():
    w = init_network(NetworkConfig(), n_predictors=20, seed=3)
    assert w["embedding_0"]["kernel"].shape == (20, 32)
    assert w["process_head"]["kernel"].shape == (32, 31)
    assert w["initial_pools_head"]["kernel"].shape == (32, 7)
    assert w["phenology_head"]["kernel"].shape == (33, 4)  # a (cos, sin) pair per timing
    assert init_network(PUBLISHED, 20, seed=3)["phenology_head"]["kernel"].shape == (33, 2)
    assert all(bool(jnp.all(layer["bias"] == 1.0)) for layer in w.values())
    kernel = np.asarray(w["embedding_1"]["kernel"])
    assert kernel.std() == pytest.approx(np.sqrt(2 / 64), rel=0.15)  # Glorot normal


@pytest.mark.parametrize(("width", "depth", "activation"), [(8, 1, "relu"), (16, 4, "tanh")])
def test_configurable_width_depth_activation(width, depth, activation):
    config = NetworkConfig(width=width, depth=depth, activation=activation)
    w = init_network(config, n_predictors=5, seed=1)
    assert sum(name.startswith("embedding") for name in w) == depth
    raw = predict_raw(w, config, jnp.ones((4, 5)), jnp.zeros((4, 1)))
    assert raw["process"].shape == (4, 31)


def test_seeded_initialization_is_reproducible():
    a = init_network(NetworkConfig(), 6, seed=11)
    b = init_network(NetworkConfig(), 6, seed=11)
    c = init_network(NetworkConfig(), 6, seed=12)
    leaves = jax.tree_util.tree_leaves
    assert all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))
    assert not all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(c)))


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="activation"):
        NetworkConfig(activation="swish2")


def test_cyclic_phenology_is_an_angle_in_the_middle_year():
    config = NetworkConfig()
    assert config.phenology == "cyclic"
    w = init_network(config, n_predictors=5, seed=2)
    assert w["phenology_head"]["kernel"].shape == (33, 4)  # (cos, sin) per timing
    x = jax.random.normal(jax.random.PRNGKey(0), (50, 5))
    hemisphere = jnp.linspace(-1.0, 1.0, 50)[:, None]
    p = predict_parameters(w, config, x, hemisphere)
    for name in HEADS["phenology"]:
        days = np.asarray(getattr(p, name))
        assert ((days >= 730.5) & (days < 1095.75)).all()
    # only the angle of each pair counts: scaling the head's outputs leaves the days alone
    scaled = dict(w, phenology_head={k: 3.0 * v for k, v in w["phenology_head"].items()})
    again = predict_parameters(scaled, config, x, hemisphere)
    np.testing.assert_allclose(again.leaf_fall_day, p.leaf_fall_day, rtol=1e-5)


def test_cyclic_days_have_no_seam():
    from xdifferland.network import cyclic_days

    angle = jnp.linspace(-np.pi, np.pi, 9)
    pairs = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    days = np.asarray(cyclic_days(pairs))[:, 0]
    steps = (np.diff(days) + 182.625) % 365.25 - 182.625  # modulo a year, as DALEC993 uses them
    np.testing.assert_allclose(steps, 365.25 / 8, rtol=1e-5)

    def loss(pair):  # a smooth function of the day modulo a year has finite gradients
        return jnp.sin(jnp.pi * cyclic_days(pair[None])[0, 0] / 365.25) ** 2

    grads = jax.vmap(jax.grad(loss))(pairs)
    assert np.isfinite(np.asarray(grads)).all()


def test_unknown_phenology_output_is_rejected():
    with pytest.raises(ValueError, match="phenology"):
        NetworkConfig(phenology="periodic")


def _training_inputs(n=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=(n, k))), jnp.asarray(rng.choice([-1.0, 1.0], (n, 1)))


@pytest.mark.parametrize("seed", [0, 3007, 11])
def test_mid_range_start_centres_every_process_and_pool_output(seed):
    from xdifferland.network import MID_RANGE_KERNEL_SCALE, start_weights

    config = NetworkConfig(phenology="bounded")
    z, h = _training_inputs()
    drawn = init_network(config, z.shape[1], seed)
    started = start_weights(drawn, config, "mid-range", z, h)
    before, after = ({k: np.asarray(v) for k, v in predict_raw(w, config, z, h).items()}
                     for w in (drawn, started))
    for head in ("process", "initial_pools"):
        # the mean over the training locations sits at the transform's midpoint (0)...
        np.testing.assert_allclose(np.mean(after[head], axis=0), 0.0, atol=1e-5)
        # ...and the differences between locations are the draw's, scaled down
        np.testing.assert_allclose(after[head] - after[head].mean(0),
                                   MID_RANGE_KERNEL_SCALE * (before[head] - before[head].mean(0)),
                                   rtol=1e-4, atol=1e-5)
        assert np.mean(np.abs(before[head].mean(0))) > 0.5  # the published start is off-centre
    np.testing.assert_array_equal(after["phenology"], before["phenology"])


def test_start_modes_published_centred_and_unknown():
    from xdifferland.network import WATER_START, start_weights

    config = NetworkConfig()
    z, h = _training_inputs()
    drawn = init_network(config, z.shape[1], 1)
    assert start_weights(drawn, config, "published", z, h) is drawn
    params = predict_parameters(start_weights(drawn, config, "centred", z, h), config, z, h)
    raw_fc = np.log(np.asarray(params.field_capacity))
    assert np.exp(raw_fc).min() > 0 and np.median(np.asarray(params.field_capacity)) > 1
    assert set(WATER_START) <= set(HEADS["process"]) | set(HEADS["initial_pools"])
    with pytest.raises(ValueError, match="water_start='dry'"):
        start_weights(drawn, config, "dry", z, h)


@pytest.mark.parametrize("step_days, expected", [
    (30.0, 316.23), (1.0, 9486.8), (10.0, 948.68),
    (1.0 / 24.0, None),  # an hourly step would leave the range: kept inside it
])
def test_runoff_focal_point_for_step_keeps_the_daily_drainage_of_the_30_day_step(
        step_days, expected):
    from xdifferland.network import runoff_focal_point_for_step
    from xdifferland.transforms import bounds

    focal = runoff_focal_point_for_step(316.2278, step_days)
    if expected is None:
        _, hi, _ = bounds(["runoff_focal_point"])
        assert 3.0e4 < focal < float(hi[0])
    else:
        assert focal == pytest.approx(expected, rel=1e-4)
        # W**2 / F per step, per day: the same drainage rate for a 100 mm bucket
        assert 100.0**2 / focal / step_days == pytest.approx(100.0**2 / 316.2278 / 30.0,
                                                              rel=1e-4)


@pytest.mark.parametrize("start, monthly_focal_point", [("mid-range", 316.2278),
                                                        ("centred", 400.0)])
def test_starts_set_the_runoff_focal_point_for_the_step(start, monthly_focal_point):
    from xdifferland.network import start_weights
    from xdifferland.registry import HEADS
    from xdifferland.transforms import to_physical

    config = NetworkConfig(phenology="bounded")
    z, h = _training_inputs()
    drawn = init_network(config, z.shape[1], 2)
    column = list(HEADS["process"]).index("runoff_focal_point")
    for step_days in (30.0, 1.0):
        w = start_weights(drawn, config, start, z, h, step_days=step_days)
        raw = np.asarray(predict_raw(w, config, z, h)["process"])[:, column]
        # the mean network output over the training locations is the focal point's target
        focal = float(to_physical(np.array([raw.mean()]), ["runoff_focal_point"])[0])
        assert focal == pytest.approx(monthly_focal_point * 30.0 / step_days, rel=1e-3)
