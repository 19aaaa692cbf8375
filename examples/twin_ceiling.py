"""How well could the network carry planted parameters from observed pixels to held-out patches?

In the twin world, canopy efficiency is identified only where GPP is observed: SIF has a slope of
its own at every pixel and ET an own uWUE, so neither fixes the GPP level. Away from the towers,
the fit can only carry what the towers identify through the network's map of the predictors. This
script measures that ceiling directly: it trains the default network (as `fit` initializes it,
on the predictors standardized as `fit` does, same seeded patch split) on the *planted*
unconstrained values at the training patches' tower pixels, without noise, and reports the
spatial Pearson r on the vegetated test pixels. No hybrid fit can beat it from the towers alone.
For comparison, the last row trains on every vegetated training pixel.

Usage::

    python examples/twin_ceiling.py              # towers 48, 144, 288, 432; 3 network seeds
    python examples/twin_ceiling.py --quick      # a smoke run for CI (small world, seconds)
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from xdifferland.datasets import TWIN_PLAUSIBILITY, TWIN_PRESET, synthetic_world
from xdifferland.network import init_network, predict_raw
from xdifferland.registry import HEADS
from xdifferland.training import FitConfig
from xdifferland.training.batches import Standardization, patch_members
from xdifferland.training.data import training_data
from xdifferland.training.loop import split_patches
from xdifferland.transforms import to_unconstrained

TARGETS = ("canopy_efficiency", "underlying_wue", "leaf_carbon_mass_per_area")
VEGETATED_LAI = 0.3


def pixel_values(data, field):
    """A (lat, lon) field of the world at the training data's pixels."""
    return field.stack(pixel=data.spatial_dims).sel(pixel=data.pixel_index.values).values


def supervised_r(data, std, train, test, targets, seed, steps, network) -> np.ndarray:
    """Test r of each target after fitting the network's process head to it on ``train``."""
    z, zh = std.apply(data.predictors, data.hemisphere)
    z, zh = jnp.asarray(z, jnp.float32), jnp.asarray(zh, jnp.float32)
    columns = jnp.asarray([HEADS["process"].index(n) for n in TARGETS])
    y = jnp.asarray(targets[train], jnp.float32)
    weights = init_network(network, z.shape[1], seed)
    optimizer = optax.adam(1e-3)

    @jax.jit
    def step(weights, state):
        def loss(w):
            out = predict_raw(w, network, z[train], zh[train])["process"][:, columns]
            return jnp.mean((out - y) ** 2)
        grads = jax.grad(loss)(weights)
        updates, state = optimizer.update(grads, state, weights)
        return optax.apply_updates(weights, updates), state

    state = optimizer.init(weights)
    for _ in range(steps):
        weights, state = step(weights, state)
    out = np.asarray(predict_raw(weights, network, z, zh)["process"][:, columns])
    return np.array([np.corrcoef(out[test, j], targets[test, j])[0, 1]
                     for j in range(len(TARGETS))])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small world, few steps (CI)")
    parser.add_argument("--towers", type=int, nargs="+", default=[48, 144, 288, 432])
    parser.add_argument("--seeds", type=int, default=3, help="network initializations")
    parser.add_argument("--steps", type=int, default=4000, help="Adam steps (learning rate 1e-3)")
    args = parser.parse_args(argv)
    if args.quick:
        args.towers, args.seeds, args.steps = [20], 1, 50
    config = FitConfig()  # the split and network of a default fit (seed 0)
    results: dict = {}
    print(f"{'towers':>7s} {'trained on':>11s}  " + "  ".join(f"{n:>25s}" for n in TARGETS))
    for towers in args.towers:
        start = time.perf_counter()
        world = dict(seed=0, tower_pixels=towers) if args.quick else dict(
            TWIN_PRESET, tower_pixels=towers)
        ds, truth = synthetic_world(**world)
        data = training_data(ds, plausibility=TWIN_PLAUSIBILITY)
        members = patch_members(data)
        splits = split_patches(data.n_patches, config)
        std = Standardization.from_training(
            data, np.concatenate([members[k] for k in splits.train]))
        split_of = np.full(data.n_patches, "", dtype=object)
        for name in ("train", "dev", "test"):
            split_of[list(getattr(splits, name))] = name
        split = split_of[data.patch]
        vegetated = pixel_values(data, truth["lai"].mean("time")) > VEGETATED_LAI
        tower = pixel_values(data, truth["tower_mask"]).astype(bool)
        targets = np.stack([np.asarray(to_unconstrained(
            pixel_values(data, truth[n]).astype(np.float32), [n])) for n in TARGETS], -1)
        test = (split == "test") & vegetated
        rows = {"towers": (split == "train") & tower,
                "all": (split == "train") & vegetated}
        for label, train in rows.items():
            if label == "all" and towers != args.towers[-1]:
                continue  # the same for every tower count
            r = np.stack([supervised_r(data, std, train, test, targets, seed, args.steps,
                                       config.network) for seed in range(args.seeds)])
            results[f"{towers}/{label}"] = {n: r[:, j].tolist() for j, n in enumerate(TARGETS)}
            cells = "  ".join(f"{r[:, j].min():.3f} - {r[:, j].max():.3f}".rjust(25)
                              for j in range(len(TARGETS)))
            print(f"{towers if label == 'towers' else '':>7} {int(train.sum()):>5d} {label:>5s}"
                  f"  {cells}   ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\nSpatial Pearson r on the {int(test.sum())} vegetated test pixels (min - max over "
          f"{args.seeds} network seeds), planted values without noise.")
    return results


if __name__ == "__main__":
    main()
