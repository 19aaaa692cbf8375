"""The spatialization network: standardized predictors → the 40 DALEC993 parameters (spec 7).

An embedding MLP feeds three linear heads (31 process parameters, 7 initial pools, 2 phenology
timings); the phenology head also receives the standardized hemisphere indicator
``sigmoid(latitude in degrees)``. The process and initial-pool heads pass through the bounded
transforms of their registry entries. The phenology timings act only modulo a year; by default
each is the angle of a (cos, sin) pair of outputs, placed in the registry's range
(``NetworkConfig(phenology="bounded")`` gives the published bounded output, spec 7.2). Weights
are Glorot-normal, biases 1, activation leaky ReLU (slope 0.01) by default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .engine.types import Parameters
from .registry import DAYS_PER_YEAR, HEADS, PARAMETER_NAMES
from .transforms import bounds, to_physical, to_unconstrained

__all__ = ["NetworkConfig", "SpatializationNetwork", "cyclic_days", "init_network",
           "predict_parameters", "predict_raw", "water_start", "ACTIVATIONS",
           "PHENOLOGY_OUTPUTS", "WATER_START", "WATER_STARTS"]

ACTIVATIONS: dict[str, Callable] = {
    "leaky_relu": lambda x: nn.leaky_relu(x, negative_slope=0.01),
    "relu": nn.relu,
    "tanh": jnp.tanh,
    "gelu": nn.gelu,
    "silu": nn.silu,
}


PHENOLOGY_OUTPUTS = ("bounded", "cyclic")


@dataclass(frozen=True)
class NetworkConfig:
    """Shape of the network; stored with every fitted model."""

    width: int = 32
    depth: int = 3
    activation: str = "leaky_relu"
    bias_init: float = 1.0
    #: "cyclic" (default): each timing as the angle of a (cos, sin) pair of outputs, a day of
    #: the year placed in the middle year of the registry's range (:func:`cyclic_days`);
    #: "bounded": each timing through its registry transform over [365.25, 1461] days, as
    #: published (its three years let neighbouring pixels settle in different years).
    phenology: str = "cyclic"

    def __post_init__(self):
        if self.phenology not in PHENOLOGY_OUTPUTS:
            raise ValueError(f"phenology={self.phenology!r}: use one of {PHENOLOGY_OUTPUTS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {sorted(ACTIVATIONS)}")
        if self.width < 1 or self.depth < 1:
            raise ValueError("width and depth must be positive integers")

    def to_dict(self) -> dict:
        return asdict(self)


class SpatializationNetwork(nn.Module):
    """Embedding MLP with three heads; returns the unconstrained head outputs."""

    config: NetworkConfig = field(default_factory=NetworkConfig)

    def _dense(self, features: int, name: str) -> nn.Dense:
        return nn.Dense(features, kernel_init=nn.initializers.glorot_normal(),
                        bias_init=nn.initializers.constant(self.config.bias_init), name=name)

    @nn.compact
    def __call__(self, predictors, hemisphere):
        act = ACTIVATIONS[self.config.activation]
        h = predictors
        for layer in range(self.config.depth):
            h = act(self._dense(self.config.width, f"embedding_{layer}")(h))
        return {
            "process": self._dense(len(HEADS["process"]), "process_head")(h),
            "initial_pools": self._dense(len(HEADS["initial_pools"]), "initial_pools_head")(h),
            "phenology": self._dense(
                len(HEADS["phenology"]) * (2 if self.config.phenology == "cyclic" else 1),
                "phenology_head")(
                jnp.concatenate([h, hemisphere], axis=-1)),
        }


def init_network(config: NetworkConfig, n_predictors: int, seed: int):
    """Initial weights for ``n_predictors`` standardized predictors (hemisphere excluded)."""
    net = SpatializationNetwork(config)
    dummy = jnp.zeros((1, n_predictors), jnp.result_type(float))
    return net.init(jax.random.PRNGKey(seed), dummy, jnp.zeros((1, 1), dummy.dtype))["params"]


def predict_raw(weights, config: NetworkConfig, predictors, hemisphere) -> dict:
    """Unconstrained head outputs ``{head: (pixel, n)}``.

    ``weights`` may also hold the process model's water-stress networks under
    ``"water_stress"``; they are not part of this network.
    """
    layers = {k: v for k, v in weights.items() if k != "water_stress"}
    return SpatializationNetwork(config).apply({"params": layers}, predictors, hemisphere)


def predict_parameters(weights, config: NetworkConfig, predictors, hemisphere) -> Parameters:
    """Physical parameters (``(pixel,)`` per registry entry) for standardized predictors.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> config = NetworkConfig()
    >>> w = init_network(config, n_predictors=4, seed=0)
    >>> p = predict_parameters(w, config, jnp.zeros((3, 4)), jnp.zeros((3, 1)))
    >>> p.canopy_efficiency.shape
    (3,)
    """
    heads = predict_raw(weights, config, predictors, hemisphere)
    values = {}
    for head, names in HEADS.items():
        if head == "phenology" and config.phenology == "cyclic":
            physical = cyclic_days(heads[head])
        else:
            physical = to_physical(heads[head], names)
        values.update({name: physical[:, j] for j, name in enumerate(names)})
    return Parameters(*(values[name] for name in PARAMETER_NAMES))


def cyclic_days(pairs):
    """Days from ``(pixel, 2 n)`` head outputs: the angle of each ``(cos, sin)`` pair as a day of
    the year, placed in [730.5, 1095.75), the middle year of the registry's range.

    DALEC993 uses the bud-burst and leaf-fall days only modulo a year (spec 2.3). With the
    published bounded output over three years, neighbouring pixels can settle in different
    years and the smooth network then puts the pixels between them half a season off; an angle
    has no such seams.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> days = cyclic_days(jnp.array([[1.0, 0.0, 0.0, 1.0]]))  # no turn and a quarter turn
    >>> [round(float(d), 1) for d in days[0]]
    [730.5, 821.8]
    """
    cos, sin = pairs[:, 0::2], pairs[:, 1::2]
    turns = jnp.mod(jnp.arctan2(sin, cos) / (2 * jnp.pi), 1.0)
    return 2 * DAYS_PER_YEAR + DAYS_PER_YEAR * turns


#: Where :func:`water_start` puts the water-balance parameters at initialization (the mean over
#: the training locations): field capacity and wilting-point fraction at the bounded transform's
#: midpoint (100 mm, 0.071), the bucket starting full (initial water = field capacity) and the
#: runoff focal point at 4 x field capacity (the registry's "about 4 x maximum storage").
WATER_START = {"field_capacity": 100.0, "wilting_point_fraction": 0.0707107,
               "initial_water": 100.0, "runoff_focal_point": 400.0}
#: Step length (days) of the published model, for which the parameter ranges and the starts'
#: values were set (spec 1.1: ``DELTA_T`` is 30 at every step).
REFERENCE_STEP_DAYS = 30.0
#: ``FitConfig.water_start`` values: "published" (spec 7.3), "centred" (:func:`water_start`) or
#: "mid-range" (:func:`mid_range_start`).
WATER_STARTS = ("published", "centred", "mid-range")
#: Factor on the process and initial-pool head kernels in the "mid-range" start (see
#: :func:`mid_range_start`): 0.3, 0.5 and 0.7 all left no member dead at the FLUXNET sites (1.0,
#: the drawn kernels, left 6 of 48); 0.7 keeps most of the draw's differences between locations
#: and predicted held-out sites better than 0.3 on every stream (docs/examples.md).
MID_RANGE_KERNEL_SCALE = 0.7


def runoff_focal_point_for_step(focal_point: float, step_days: float) -> float:
    """The runoff focal point that drains the bucket as fast per day at a step of ``step_days``
    as ``focal_point`` does at the published 30-day step, kept inside the parameter's range.

    Runoff is an amount per step, ``W**2 / F`` below ``F / 2`` (spec 6.5), so the same focal
    point drains a bucket 30 times faster per day at a daily step than at the monthly step the
    ranges were set for: the middle of the range, 316 mm, empties a 100 mm bucket at 32 mm per
    day, more than any site's rain, and the water-stress factor starts near 0 everywhere. Only
    the starts use this; the parameter's range is the published one.

    Examples
    --------
    >>> round(runoff_focal_point_for_step(316.2, step_days=1.0))
    9486
    >>> runoff_focal_point_for_step(316.2, step_days=30.0)
    316.2
    """
    lo, _, ratio = (float(v[0]) for v in bounds(["runoff_focal_point"]))
    scaled = focal_point * REFERENCE_STEP_DAYS / step_days
    position = np.log(scaled / lo) / np.log(ratio)  # in the log range; its ends are +-inf outputs
    if 0.05 <= position <= 0.95:
        return scaled
    return lo * ratio ** float(np.clip(position, 0.05, 0.95))


def start_weights(weights, config: NetworkConfig, start: str, predictors, hemisphere,
                  step_days: float = REFERENCE_STEP_DAYS):
    """The initial weights of a fit for a ``FitConfig.water_start`` mode.

    ``predictors`` and ``hemisphere`` are the training locations' standardized inputs;
    ``step_days`` is the data's step length (see :func:`runoff_focal_point_for_step`).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> config = NetworkConfig()
    >>> w = init_network(config, n_predictors=2, seed=0)
    >>> z, h = jnp.array([[-1.0, 0.5], [1.0, -0.5]]), jnp.zeros((2, 1))
    >>> raw = predict_raw(start_weights(w, config, "mid-range", z, h), config, z, h)
    >>> bool(jnp.abs(raw["process"].mean(axis=0)).max() < 1e-5)  # the ranges' middles (x = 0)
    True
    >>> start_weights(w, config, "published", z, h) is w
    True
    """
    if start == "published":
        return weights
    if start == "centred":
        return water_start(weights, config, predictors, hemisphere, step_days)
    if start == "mid-range":
        return mid_range_start(weights, config, predictors, hemisphere, step_days=step_days)
    raise ValueError(f"water_start={start!r}: use one of {', '.join(WATER_STARTS)}")


def _recentre(weights, config: NetworkConfig, predictors, hemisphere, targets: dict,
              kernel_scale: float = 1.0):
    """Weights whose head outputs named in ``targets`` (unconstrained values) have that mean over
    ``predictors``, their kernels multiplied by ``kernel_scale``."""
    raw = predict_raw(weights, config, predictors, hemisphere)
    out = jax.tree_util.tree_map(lambda x: x, dict(weights))
    for head in ("process", "initial_pools"):
        names = HEADS[head]
        picked = jnp.asarray([j for j, n in enumerate(names) if n in targets], int)
        if picked.size == 0:
            continue
        target = jnp.asarray([targets[names[int(j)]] for j in picked], raw[head].dtype)
        layer = dict(out[f"{head}_head"])
        bias = layer["bias"][picked]
        mean = jnp.mean(raw[head][:, picked], axis=0)
        # scaling the kernel scales each output's deviation from its bias: mean -> b + s (m - b)
        layer["kernel"] = layer["kernel"].at[:, picked].multiply(kernel_scale)
        layer["bias"] = layer["bias"].at[picked].add(target - bias - kernel_scale * (mean - bias))
        out[f"{head}_head"] = layer
    return out


def water_start(weights, config: NetworkConfig, predictors, hemisphere,
                step_days: float = REFERENCE_STEP_DAYS):
    """Initial weights whose water-balance parameters start alive at the training locations.

    With the published initialization (Glorot kernels, biases 1) every head output starts at
    1 plus a random term of standard deviation ~1.5 (32 positive embedding units times Glorot
    weights), so field capacity, initial water, wilting-point fraction and runoff focal point
    each start anywhere in their log range (mostly in its upper half: the bias alone gives
    u = 0.75, a field capacity of 1000 mm and a wilting point of 190 mm). Many draws start with
    the soil water below the wilting point at every training site: the water-stress factor is
    then clipped to 0, GPP is 0 and has no gradient. This shifts the biases of those four
    outputs so that their mean over ``predictors`` (standardized, the training locations) sits
    at :data:`WATER_START`; the kernels, and so the differences between locations, are those of
    the draw. The runoff focal point's target is for the data's step length
    (:func:`runoff_focal_point_for_step`). It fixes the start only: the other parameters still
    start in the upper halves of their ranges, and the first epochs drain the bucket of many fits
    (see :func:`mid_range_start`).
    """
    names = [n for head in ("process", "initial_pools") for n in HEADS[head] if n in WATER_START]
    start = WATER_START | {"runoff_focal_point": runoff_focal_point_for_step(
        WATER_START["runoff_focal_point"], step_days)}
    values = to_unconstrained(jnp.asarray([[start[n] for n in names]]), names)[0]
    return _recentre(weights, config, predictors, hemisphere, dict(zip(names, values)))


def mid_range_start(weights, config: NetworkConfig, predictors, hemisphere, *,
                    kernel_scale: float = MID_RANGE_KERNEL_SCALE,
                    step_days: float = REFERENCE_STEP_DAYS):
    """Initial weights with every process parameter and initial pool near the middle of its range.

    Why: with the published initialization every head output starts at about 1 plus a draw of
    standard deviation ~1.5, so each parameter starts in the upper part of its range or at either
    end of it; the initial leaf area alone ranges from 0.1 to 50 m2 m-2 across draws. From such a
    start the first epochs' gradient says "less GPP, less leaf area" at every site, and the
    quickest way there is the water balance: field capacity rises, the runoff focal point falls,
    the soil water settles below the wilting point, GPP is zero and has no gradient, and the fit
    stays there. At 11 FLUXNET sites, 9 of 16 members (two folds, 8 seeds, 60 epochs) ended so;
    centring only the water parameters (:func:`water_start`) left 8, and centring them with the
    initial leaf area and the canopy efficiency still left 4 of 16 after 200 epochs, the same
    seeds. Letting a gradient through the water-stress and water-pool clamps does not revive them
    either: with the other parameters where the draw put them, zero GPP is a local optimum, not
    only a flat one.

    Here every output of the process and initial-pool heads has its mean over the training
    locations at the middle of its range (the bounded transform's midpoint: unconstrained 0, e.g.
    field capacity 100 mm, initial foliar carbon 45 g m-2 and leaf carbon mass per area 32 g m-2,
    a leaf area of 1.4), except the runoff focal point, whose middle (316 mm, for 30-day steps)
    is scaled to the data's step length (:func:`runoff_focal_point_for_step`: 9,487 mm for daily
    steps). The heads' kernels are scaled by ``kernel_scale`` so that locations start close to
    the middle (their differences are then learnt). Same experiment: 0 of 16 members dead after
    200 epochs with ``kernel_scale`` 0.3, 0.5 or 0.7, final training losses within a factor 1.5
    of each other (5.6 before). The phenology head is left as drawn.
    """
    names = [n for head in ("process", "initial_pools") for n in HEADS[head]]
    targets = dict.fromkeys(names, 0.0)
    middle = float(to_physical(jnp.zeros(1), ["runoff_focal_point"])[0])
    focal = runoff_focal_point_for_step(middle, step_days)
    targets["runoff_focal_point"] = float(to_unconstrained(jnp.asarray([focal]),
                                                           ["runoff_focal_point"])[0])
    return _recentre(weights, config, predictors, hemisphere, targets, kernel_scale=kernel_scale)
