"""Training settings, validated at construction (errors name the setting and allowed values)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Mapping

from ..engine.loss import LOSS_TERMS
from ..network import NetworkConfig

__all__ = ["DEFAULT_EPOCHS", "DEFAULT_STARTS", "MIN_DEFAULT_STEPS", "FitConfig"]

#: Epochs of a fit that does not set them, as in the published code (199 there)...
DEFAULT_EPOCHS = 200
#: ...or more, on small datasets, so that a default fit takes at least this many Adam steps (one
#: per patch batch), half of the paper's global runs (about 100,000: 199 epochs of ~513
#: patches). A 40-patch region at 200 epochs would take only 8,000, far from converged at the
#: paper's rate (the twin experiment, docs/twin.md).
MIN_DEFAULT_STEPS = 50_000
#: Initializations a default-length fit screens before it trains the best one on
#: (:mod:`xdifferland.training.starts`): in the twin experiment one initialization in four
#: settled in a wrong basin of the water balance or of the leaf-fall day.
DEFAULT_STARTS = 4


@dataclass(frozen=True)
class FitConfig:
    """Everything that defines a training run (stored in the model and in checkpoints).

    Every fit checks whether it diverged (:mod:`xdifferland.training.divergence`): its training
    or dev loss ended above its start, rose in each of ``divergence_patience`` epochs by more
    than 5 % in all, or stayed above its start that long. ``divergence="warn"`` (default: a
    fit that fails silently is the costlier mistake, and a warning does not change the
    result) finishes the run and warns with what to try; ``"stop"`` ends training at the
    epoch a rule fires; ``"ignore"`` neither warns nor stops. The model records the verdict in
    every mode (``model.converged``, ``model.convergence``), and ``xdifferland fit --strict``
    exits with code 1 on it. ``divergence_patience=10`` epochs: long enough that the
    epoch-to-epoch wobble of a stochastic run near its minimum does not count, short enough
    (against a default fit's 200 or more epochs) to stop a blown-up run early.

    Examples
    --------
    >>> FitConfig(learning_rate=1e-3, divergence="stop", divergence_patience=5).divergence
    'stop'
    """

    #: None: :data:`DEFAULT_EPOCHS`, or enough for :data:`MIN_DEFAULT_STEPS` steps if more
    #: (:meth:`resolved_epochs`); ``fit`` stores the resolved number in the model.
    epochs: int | None = None
    learning_rate: float = 5e-4  #: the paper's value (the published code default is 5e-5)
    schedule: str = "constant"  #: "constant" (as published) or "cosine" (decay to 5 % at the end)
    clip_norm: float | None = None  #: clip gradients to this global norm (None: no clipping)
    weight_decay: float = 0.0  #: decoupled (AdamW) decay of the network's kernels; 0: Adam
    average_last: float = 0.0  #: share of the run whose epoch-end weights are averaged (SWA)
    seed: int = 0
    #: Initializations screened at the start; the lowest training loss trains on. None: 4
    #: (:data:`DEFAULT_STARTS`) for a default-length run, 1 when ``epochs`` is given.
    starts: int | None = None
    screen_share: float = 0.2  #: share of the run's epochs each start is screened for
    test_fraction: float = 0.1  #: share of patches held out for testing
    dev_fraction: float = 0.1  #: share of the remaining patches used to monitor training
    patch_size: tuple[float, float] = (4.0, 5.0)  #: degrees (lat, lon) of a coarse patch
    coverage_threshold: float = 0.8  #: minimum valid share of a patch for coarse terms
    loss_weights: Mapping[str, float | None] = field(default_factory=dict)
    use_uncertainty: bool = False
    mass_conserving: bool = False
    batch_size: int | None = None  #: rows per patch batch (default: the largest patch)
    #: Spatial blocks whose patches an epoch visits together ({dim: cells}): the blocks are
    #: shuffled, then the patches of :data:`~.pixel_store.OPEN_BLOCKS` blocks at a time.
    #: "auto": the chunks of a store-backed Dataset (so each chunk is read once per epoch
    #: instead of once per patch), none for one held in memory; None: every patch shuffled
    #: freely. ``fit`` records the resolved value.
    shuffle_blocks: Mapping[str, int] | str | None = "auto"
    steps_per_call: int = 8  #: patch steps per compiled call (speed; same steps)
    #: Accumulate the loss inside the time loop, observations as its inputs
    #: (:mod:`xdifferland.engine.loss_in_loop`), instead of stacking the simulated series for the
    #: loss to read. Same terms (to rounding) and gradients; off by default because on a 2-core
    #: CPU it is no faster (``benchmarks/loss_in_loop.py``).
    loss_in_loop: bool = False
    eval_every: int = 5
    checkpoint_every: int = 10
    max_restarts: int = 3  #: re-initializations after a NaN loss
    #: Water-stress variant (spec 6.11): "default", "nothing", "nn_paw", "gpp_acm_et_nn",
    #: "nn_whole" or "nn_whole_no_lai"
    #: (:data:`xdifferland.engine.water_stress.WATER_STRESS_VARIANTS`).
    water_stress: str = "default"
    #: Starting point of the parameters: "published" (spec 7.3), "centred" (the water-balance
    #: parameters at :data:`xdifferland.network.WATER_START`) or "mid-range" (every process
    #: parameter and initial pool near the middle of its range, so no fit starts or drains
    #: into a dry bucket; :func:`xdifferland.network.mid_range_start`)
    water_start: str = "published"
    network: NetworkConfig = field(default_factory=NetworkConfig)
    #: What a diverging run does (:mod:`xdifferland.training.divergence`): "warn" finishes it and
    #: warns, "stop" ends it at the epoch a rule fires, "ignore" does neither; the model records
    #: the verdict in every mode (``model.converged``, ``model.convergence``).
    divergence: str = "warn"
    #: Consecutive epochs of a rising training loss, or of one above its start, that count as
    #: divergence (for the dev loss: consecutive evaluations).
    divergence_patience: int = 10

    def __post_init__(self):
        problems = []
        if self.epochs is not None and not (isinstance(self.epochs, int) and self.epochs >= 1):
            problems.append(f"epochs={self.epochs!r}: use an integer >= 1 (or None for the "
                            "default length)")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate={self.learning_rate!r}: use a positive number")
        for name in ("test_fraction", "dev_fraction"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                problems.append(f"{name}={value!r}: use a fraction in [0, 1)")
        if self.schedule not in ("constant", "cosine"):
            problems.append(f"schedule={self.schedule!r}: use 'constant' or 'cosine'")
        if self.clip_norm is not None and not self.clip_norm > 0:
            problems.append(f"clip_norm={self.clip_norm!r}: use a positive number or None")
        if not self.weight_decay >= 0:
            problems.append(f"weight_decay={self.weight_decay!r}: use a number >= 0 (0: none)")
        if not 0 <= self.average_last < 1:
            problems.append(f"average_last={self.average_last!r}: use a share in [0, 1) of the "
                            "run (0: keep the last weights)")
        if self.starts is not None and not (isinstance(self.starts, int) and self.starts >= 1):
            problems.append(f"starts={self.starts!r}: use an integer >= 1 (1: no screening) "
                            "or None")
        if not 0 <= self.screen_share < 1:
            problems.append(f"screen_share={self.screen_share!r}: use a share in [0, 1) of the "
                            "run")
        if not isinstance(self.loss_in_loop, bool):
            problems.append(f"loss_in_loop={self.loss_in_loop!r}: use True or False")
        if not 0 <= self.coverage_threshold <= 1:
            problems.append(f"coverage_threshold={self.coverage_threshold!r}: use [0, 1]")
        unknown = set(self.loss_weights) - set(LOSS_TERMS)
        if unknown:
            problems.append(f"loss_weights has unknown terms {sorted(unknown)}; known terms: "
                            f"{', '.join(LOSS_TERMS)} (add your own with extra_terms=)")
        from ..engine.water_stress import WATER_STRESS_VARIANTS

        if self.water_stress not in WATER_STRESS_VARIANTS:
            problems.append(f"water_stress={self.water_stress!r}: use one of "
                            f"{', '.join(WATER_STRESS_VARIANTS)}")
        from ..network import WATER_STARTS

        if self.water_start not in WATER_STARTS:
            problems.append(f"water_start={self.water_start!r}: use one of "
                            f"{', '.join(WATER_STARTS)}")
        blocks = self.shuffle_blocks
        if not (blocks is None or blocks == "auto" or (
                isinstance(blocks, Mapping) and all(
                    isinstance(k, str) and isinstance(v, int) and v >= 1
                    for k, v in blocks.items()))):
            problems.append(f"shuffle_blocks={blocks!r}: use 'auto', None or a mapping of "
                            "spatial dims to cells per block, e.g. {'lat': 32, 'lon': 40}")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"batch_size={self.batch_size!r}: use a positive integer or None")
        for name in ("steps_per_call", "eval_every", "checkpoint_every"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                problems.append(f"{name}={getattr(self, name)!r}: use an integer >= 1")
        from .divergence import DIVERGENCE_MODES

        if self.divergence not in DIVERGENCE_MODES:
            problems.append(f"divergence={self.divergence!r}: use one of "
                            f"{', '.join(map(repr, DIVERGENCE_MODES))}")
        if not (isinstance(self.divergence_patience, int) and self.divergence_patience >= 1):
            problems.append(f"divergence_patience={self.divergence_patience!r}: use an integer "
                            ">= 1 (epochs)")
        if problems:
            raise ValueError("invalid training settings:\n- " + "\n- ".join(problems))
        object.__setattr__(self, "patch_size", tuple(float(x) for x in self.patch_size))
        object.__setattr__(self, "loss_weights", dict(self.loss_weights))
        if isinstance(self.shuffle_blocks, Mapping):
            object.__setattr__(self, "shuffle_blocks", dict(self.shuffle_blocks))
        if isinstance(self.network, Mapping):
            object.__setattr__(self, "network", NetworkConfig(**self.network))

    def resolved_epochs(self, steps_per_epoch: int) -> int:
        """Epochs the run takes: ``epochs``, or by default 200 or ``ceil(50,000 / steps)``.

        Examples
        --------
        >>> FitConfig().resolved_epochs(513)  # a global run: the published length
        200
        >>> FitConfig().resolved_epochs(40)  # a 40-patch region: 50,000 steps
        1250
        >>> FitConfig(epochs=30).resolved_epochs(40)
        30
        """
        if self.epochs is not None:
            return self.epochs
        return max(DEFAULT_EPOCHS, -(-MIN_DEFAULT_STEPS // max(1, int(steps_per_epoch))))

    def resolved_starts(self) -> int:
        """Initializations screened: ``starts``, or by default 4 for a default-length run.

        Examples
        --------
        >>> FitConfig().resolved_starts(), FitConfig(epochs=50).resolved_starts()
        (4, 1)
        >>> FitConfig(epochs=50, starts=3).resolved_starts()
        3
        """
        if self.starts is not None:
            return self.starts
        return DEFAULT_STARTS if self.epochs is None else 1

    def resolved_shuffle_blocks(self, store_chunks: Mapping[str, int]) -> dict | None:
        """The blocks a fit shuffles by: ``shuffle_blocks``, with "auto" resolved to the
        store's chunks (``store_chunks``; empty for data held in memory: no blocks).

        Examples
        --------
        >>> FitConfig().resolved_shuffle_blocks({"lat": 32, "lon": 40})
        {'lat': 32, 'lon': 40}
        >>> FitConfig().resolved_shuffle_blocks({}) is None
        True
        >>> FitConfig(shuffle_blocks=None).resolved_shuffle_blocks({"lat": 32}) is None
        True
        """
        if self.shuffle_blocks == "auto":
            return dict(store_chunks) or None
        return None if self.shuffle_blocks is None else dict(self.shuffle_blocks)

    def screen_epochs(self) -> int:
        """Epochs each start is screened for (0: no screening).

        Examples
        --------
        >>> FitConfig(epochs=1000, starts=4).screen_epochs()
        200
        >>> FitConfig(epochs=1000).screen_epochs()  # one start: nothing to screen
        0
        """
        if self.resolved_starts() == 1:
            return 0
        epochs = self.epochs if self.epochs is not None else DEFAULT_EPOCHS
        return min(epochs, round(epochs * self.screen_share))

    def averaging_starts(self) -> int:
        """Epoch after which the epoch-end weights enter the returned average (``epochs`` when
        ``average_last`` is 0: the last weights are returned as they are).

        Examples
        --------
        >>> FitConfig(epochs=100, average_last=0.25).averaging_starts()  # epochs 76-100
        75
        >>> FitConfig(epochs=100).averaging_starts()
        100
        """
        epochs = self.epochs if self.epochs is not None else DEFAULT_EPOCHS
        if self.average_last == 0:
            return epochs
        return epochs - max(1, round(epochs * self.average_last))

    def optimizer(self, steps_per_epoch: int):
        """The optax optimizer of these settings: Adam or AdamW, optional schedule and clipping."""
        import optax

        rate = self.learning_rate
        if self.schedule == "cosine":
            total = max(1, self.resolved_epochs(steps_per_epoch) * steps_per_epoch)
            rate = optax.cosine_decay_schedule(self.learning_rate, total, alpha=0.05)
        if self.weight_decay > 0:
            # Decay the kernels only: the biases carry the parameters' baseline values.
            adam = optax.adamw(rate, weight_decay=self.weight_decay, mask=_kernels_only)
        else:
            adam = optax.adam(rate)
        if self.clip_norm is None:
            return adam
        return optax.chain(optax.clip_by_global_norm(self.clip_norm), adam)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["patch_size"] = list(self.patch_size)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "FitConfig":
        known = {f.name for f in fields(cls)}
        # files written before multi-start trained one start, and shuffled patches freely
        d = {"starts": 1, "shuffle_blocks": None} | dict(d)
        if isinstance(d.get("network"), Mapping):  # ...and before the cyclic phenology output
            d["network"] = {"phenology": "bounded"} | dict(d["network"])
        return cls(**{k: v for k, v in d.items() if k in known})


def _kernels_only(weights):
    """``True`` for the kernel (weight-matrix) leaves of a flax parameter tree."""
    import jax

    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[-1], "key", None) == "kernel", weights)
