"""Per-pixel Laplace posterior of a fit's parameters, and fluxes sampled from it.

Where an ensemble is too expensive, a fitted model's parameters can be given an uncertainty from
the curvature of the likelihood at each pixel: with the observed streams ``y_s`` of the pixel,
their observation-error sd ``σ_s`` and the unconstrained parameters ``x`` (the network's output
space, :mod:`xdifferland.transforms`), the Fisher information

.. math::

    F_{kl} = \\sum_s \\sum_{t\\,\\mathrm{observed}} \\frac{1}{\\sigma_s^2}
             \\frac{\\partial y_s(t)}{\\partial x_k} \\frac{\\partial y_s(t)}{\\partial x_l}

counts only the steps the pixel actually observes (gaps, tower windows and the warm-up are left
out, unlike :func:`xdifferland.analysis.local_identifiability`, which assumes every step is
observed). With a Gaussian prior of sd ``prior_sd`` around the fitted values, the posterior is
``N(x̂, (F + I/prior_sd²)⁻¹)``. Parameter maps of its sd in physical units and fluxes are got by
sampling ``x`` and mapping it through the bounded transform, so a sample never leaves the
parameter's range.

The default ``prior_sd`` of 1 unconstrained unit (about a third of a parameter's log-range near
its midpoint) keeps the samples of a parameter the data do not constrain spread over its range
instead of piled at its bounds. The observation-error sd defaults to the residual sd of the model
on its dev patches (:func:`xdifferland.ensemble_intervals.observation_error`), which includes the
structural error the model makes there, not only the instrument noise.

The posterior ignores what the network shares between pixels (a parameter poorly constrained at
each pixel may still be recovered through its relation to the predictors), so it is a per-pixel
statement: how well this pixel's record pins its parameters near the fitted values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .contract import handoff
from .evaluation import SIMULATED_COUNTERPART, _warmup_steps
from .registry import PARAMETER_NAMES

__all__ = ["LaplacePosterior", "laplace_posterior", "posterior_covariance", "sampled_simulation"]

_PIXELS_PER_PASS = 512  # Jacobian held per pass: 40 x streams x time x pixels floats


def posterior_covariance(information, prior_sd: float) -> np.ndarray:
    """``(F + I / prior_sd²)⁻¹`` for Fisher information ``(..., k, k)``; NaN stays NaN.

    Float32 information can have tiny negative eigenvalues along directions the data do not
    constrain: they are set to zero, so the prior alone sets the variance there.

    Examples
    --------
    >>> cov = posterior_covariance(np.array([[3.0, 0.0], [0.0, 0.0]]), prior_sd=1.0)
    >>> np.diag(cov).tolist()
    [0.25, 1.0]
    """
    info = np.asarray(information, np.float64)
    bad = ~np.isfinite(info).all(axis=(-2, -1))
    info = np.where(bad[..., None, None], 0.0, info)
    info = 0.5 * (info + np.swapaxes(info, -1, -2))
    eigenvalues, vectors = np.linalg.eigh(info)
    eigenvalues = np.maximum(eigenvalues, 0.0) + 1.0 / float(prior_sd) ** 2
    covariance = np.einsum("...ij,...j,...kj->...ik", vectors, 1.0 / eigenvalues, vectors)
    return np.where(bad[..., None, None], np.nan, covariance)


def _information(engine_params, forcing, weights, streams, water_stress, mass_conserving):
    """Fisher information ``(pixel, 40, 40)`` with per-step weights ``(stream, time, pixel)``."""
    import jax
    import jax.numpy as jnp

    from .engine import Parameters, simulate
    from .transforms import to_physical, to_unconstrained

    needed = tuple(sorted({o for s in streams for o in SIMULATED_COUNTERPART[s]}))
    variant, stress_weights = water_stress or ("default", None)
    theta = jnp.stack(list(engine_params), axis=-1)
    x = to_unconstrained(theta)

    def observed(x):
        run = simulate(Parameters(*jnp.moveaxis(to_physical(x), -1, 0)), forcing, needed,
                       mass_conserving=mass_conserving, water_stress=variant,
                       stress_weights=stress_weights, forward_mode=True)
        return jnp.stack([sum(run.outputs[o] for o in SIMULATED_COUNTERPART[s])
                          for s in streams])  # (stream, time, pixel)

    def column(k):
        # pixels are independent: a tangent of 1 at every pixel gives each its own derivative
        return jax.jvp(observed, (x,), (jnp.zeros_like(x).at[:, k].set(1.0),))[1]

    jacobian = jax.lax.map(column, jnp.arange(len(PARAMETER_NAMES)))  # (k, s, t, p)
    return jnp.einsum("kstp,stp,lstp->pkl", jacobian, jnp.asarray(weights, jacobian.dtype),
                      jacobian)


def _covariance_block(*arrays, streams, water_stress, mass_conserving, prior_sd,
                      n_inputs: int):
    """NumPy kernel: posterior covariance ``(pixel, 40, 40)`` of one block of pixels.

    ``arrays`` are the engine blocks of :func:`~xdifferland.simulation.engine_arrays` followed
    by one ``(pixel, time)`` weight block per stream (1/σ² where observed, 0 elsewhere).
    """
    n_forcing, n_static = len(handoff.FORCING_INPUTS), len(handoff.STATIC_INPUTS)
    n_pixels = np.shape(arrays[0])[0]
    out = np.full((n_pixels, 40, 40), np.nan)
    size = min(n_pixels, _PIXELS_PER_PASS)
    for start in range(0, n_pixels, size):
        rows = np.arange(start, start + size).clip(max=n_pixels - 1)  # pad: one compilation
        part = [np.asarray(a)[rows] if np.ndim(a) and np.shape(a)[0] == n_pixels else a
                for a in arrays]
        forcing, params, valid = handoff._engine_inputs(part[:n_inputs], n_forcing, n_static)
        weights = np.stack([np.nan_to_num(np.asarray(w, np.float64).T) for w in part[n_inputs:]])
        info = np.array(_information(params, forcing, weights, streams, water_stress,
                                     mass_conserving), np.float64)
        info[~valid] = np.nan
        keep = min(size, n_pixels - start)
        out[start:start + keep] = posterior_covariance(info, prior_sd)[:keep]
    return out


@dataclass(frozen=True)
class LaplacePosterior:
    """Gaussian posterior of the unconstrained parameters at each pixel.

    ``mode`` holds the fitted physical parameter maps, ``covariance`` the unconstrained
    posterior covariance ``(*spatial, parameter, parameter_j)``; ``noise`` the observation-error
    sd per stream it was computed with.
    """

    mode: xr.Dataset
    covariance: xr.DataArray
    noise: Mapping[str, float]
    prior_sd: float
    water_stress: tuple | None = None
    mass_conserving: bool = False

    @property
    def spatial_dims(self) -> tuple[str, ...]:
        return tuple(d for d in self.covariance.dims if d not in ("parameter", "parameter_j"))

    @property
    def sd_unconstrained(self) -> xr.DataArray:
        """Posterior sd of each unconstrained parameter, ``(parameter, *spatial)``."""
        variance = xr.apply_ufunc(np.diagonal, self.covariance,
                                  input_core_dims=[["parameter", "parameter_j"]],
                                  output_core_dims=[["parameter"]],
                                  kwargs={"axis1": -2, "axis2": -1}, dask="parallelized",
                                  output_dtypes=[np.float64])
        return np.sqrt(variance).transpose("parameter", ...).rename("sd_unconstrained")

    def sample(self, samples: int = 100, seed: int = 0) -> xr.Dataset:
        """Physical parameter maps drawn from the posterior, with a ``sample`` dim.

        Each pixel's draws come from its own generator, seeded by ``(seed, pixel index)``, so
        they do not depend on how the pixels are chunked.
        """
        if not (isinstance(samples, (int, np.integer)) and samples >= 1):
            raise ValueError(f"samples={samples!r}: use an integer >= 1")
        spatial = self.spatial_dims
        template = self.mode[PARAMETER_NAMES[0]]
        index = xr.DataArray(np.arange(template.size).reshape(template.shape), dims=template.dims,
                             coords=template.coords)
        if template.chunks is not None:
            index = index.chunk(dict(zip(template.dims, template.chunks)))
        mode = handoff.stack_pixels(self.mode[list(PARAMETER_NAMES)].to_dataarray("parameter"),
                                    spatial)
        drawn = xr.apply_ufunc(
            _draw, mode, handoff.stack_pixels(self.covariance, spatial),
            handoff.stack_pixels(index, spatial),
            input_core_dims=[["parameter"], ["parameter", "parameter_j"], []],
            output_core_dims=[["sample", "parameter"]],
            kwargs={"samples": int(samples), "seed": int(seed)}, dask="parallelized",
            output_dtypes=[np.float64], dask_gufunc_kwargs={"output_sizes": {"sample": samples}})
        drawn = handoff.unstack_pixels(drawn, spatial)
        out = drawn.to_dataset("parameter")
        for name in PARAMETER_NAMES:
            out[name].attrs = dict(self.mode[name].attrs)
        return out.assign_coords(sample=np.arange(samples)).transpose("sample", *spatial)

    def sd(self, samples: int = 200, seed: int = 0) -> xr.Dataset:
        """Posterior sd of every parameter in its physical units (one map per parameter),
        from ``samples`` draws mapped through the bounded transform."""
        out = self.sample(samples, seed).std("sample", ddof=1)
        for name in PARAMETER_NAMES:
            out[name].attrs = {"units": self.mode[name].attrs.get("units", "1"),
                               "long_name": f"Laplace posterior sd of {name}"}
        return out

    def simulate(self, ds: xr.Dataset, outputs=None, *, samples: int = 100, seed: int = 0,
                 **kwargs) -> xr.Dataset:
        """Outputs simulated with ``samples`` parameter draws, stacked along ``sample``.

        ``kwargs`` as for :func:`xdifferland.simulate` (``roles``, ``mask``,
        ``plausibility``); dask-backed data stay lazy, chunked over pixels.
        """
        from .simulation import simulate

        drawn = self.sample(samples, seed)
        runs = [simulate(ds, drawn.isel(sample=k), outputs, mass_conserving=self.mass_conserving,
                         water_stress=self.water_stress, **kwargs) for k in range(samples)]
        out = xr.concat(runs, dim="sample", combine_attrs="override")
        out.attrs.update(laplace_samples=int(samples), laplace_seed=int(seed))
        return out.assign_coords(sample=np.arange(samples))


def _draw(mode, covariance, index, *, samples: int, seed: int):
    """``(pixel, sample, 40)`` physical draws of ``x̂ + L z`` (``L`` Cholesky) for each pixel."""
    from .transforms import to_physical, to_unconstrained

    mode, covariance = np.asarray(mode, np.float64), np.asarray(covariance, np.float64)
    valid = np.isfinite(mode).all(axis=-1) & np.isfinite(covariance).all(axis=(-2, -1))
    # Cholesky, not an eigen-root: unique and continuous in the covariance, so draws do not
    # jump between rotations of a degenerate eigenspace (the many parameters at the prior)
    # when the covariance differs in its last digits (another chunking, another block size)
    root = np.linalg.cholesky(np.where(valid[:, None, None], covariance,
                                       np.eye(mode.shape[-1])))
    # one generator per pixel, seeded by its global index: draws independent of the chunking
    z = np.stack([np.random.default_rng([int(seed), int(i)]).standard_normal(
        (samples, mode.shape[-1])) for i in np.ravel(index)]) if mode.shape[0] else np.empty(
        (0, samples, mode.shape[-1]))
    centre = np.asarray(to_unconstrained(np.where(valid[:, None], mode, 1.0)), np.float64)
    x = centre[:, None, :] + np.einsum("psj,pkj->psk", z, root)
    out = np.asarray(to_physical(x), np.float64)
    return np.where(valid[:, None, None], out, np.nan)


def _noise_of(model, ds, noise, split, kwargs) -> dict[str, float]:
    if noise is not None:
        resolved = {str(k): float(v) for k, v in dict(noise).items()}
        bad = {k: v for k, v in resolved.items()
               if k not in SIMULATED_COUNTERPART or not np.isfinite(v) or v <= 0}
        if bad:
            raise ValueError(f"noise={bad}: give a positive sd for observed streams named as in "
                             f"the Dataset ({', '.join(SIMULATED_COUNTERPART)})")
        return resolved
    from .ensemble_intervals import observation_error

    error = observation_error(model, ds, split=split, level=None, **kwargs)
    # a single model has no member variance: the residual variance is the error variance
    return {s: float(np.sqrt(v)) for s, v in error.residual_variance.items() if v > 0}


def laplace_posterior(ds: xr.Dataset, model, noise: Mapping[str, float] | None = None, *,
                      prior_sd: float = 1.0, warmup_months: int = 24, error_split: str = "dev",
                      roles: Mapping[str, str] | None = None,
                      plausibility=None) -> LaplacePosterior:
    """The per-pixel Laplace posterior of a fitted model's parameters on ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Forcing, predictors and the observed streams (their gaps decide which steps count);
        dask-backed data are computed chunk by chunk over pixels.
    model : DifferLandModel
        The fit whose parameters (and water-stress network) are the posterior's mode.
    noise : mapping of str to float, optional
        Observation-error sd per stream, in the stream's units. Default: the model's residual
        sd on its ``error_split`` patches, per stream.
    prior_sd : float, default 1.0
        Sd of the Gaussian prior around the fitted values, in unconstrained units.
    warmup_months : int, default 24
        Leading months left out, as in :meth:`DifferLandModel.evaluate`.
    error_split : str, default "dev"
    roles, plausibility
        As in :func:`xdifferland.simulate`.

    Returns
    -------
    LaplacePosterior
        ``.sd()`` gives parameter maps of the posterior sd, ``.simulate(ds, samples=...)``
        (or ``xdifferland.simulate(ds, posterior, samples=...)``) the sampled fluxes.

    Examples
    --------
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, _ = synthetic_world(seed=0, n_years=3)
    >>> model = ds.differland.fit(epochs=1, predictors=["sand", "clay"], progress=False)
    >>> post = laplace_posterior(ds.isel(lat=[8], lon=[9, 10]), model, {"lai": 0.5})
    >>> post.sd()["canopy_efficiency"].dims
    ('lat', 'lon')
    """
    from .simulation import engine_arrays, prepare_dataset

    if not (np.isfinite(prior_sd) and prior_sd > 0):
        raise ValueError(f"prior_sd={prior_sd!r}: use a positive sd in unconstrained units, "
                         "e.g. 1")
    resolved = _noise_of(model, ds, noise, error_split,
                         {"warmup_months": warmup_months, "roles": roles,
                          "plausibility": plausibility})
    prepared = prepare_dataset(ds, roles, check=False)
    data, spatial, axes = prepared.data, prepared.spatial_dims, prepared.axes
    missing = [s for s in resolved if s not in data]
    if missing:
        raise ValueError(f"noise names streams {missing} that the Dataset does not observe")
    stress = None
    if model.config.water_stress != "default":
        stress = (model.config.water_stress, model.weights.get("water_stress", {}))
    mode = model.parameters(ds, roles=roles, plausibility=plausibility)
    _, arrays = engine_arrays(ds, mode, roles=roles, plausibility=plausibility)
    after = xr.DataArray(np.arange(data.sizes["time"]) >= _warmup_steps(
        warmup_months, prepared.time.delta_t), dims="time", coords={"time": data["time"]})
    weights = []
    for stream, sd in resolved.items():
        w = (data[stream].notnull() & after).astype(float) / sd**2
        w = handoff.stack_pixels(w.transpose("time", *spatial), spatial)
        weights.append(w.chunk({"pixel": arrays[0].chunksizes["pixel"]}) if arrays[0].chunks else w)
    n_forcing = len(handoff.FORCING_INPUTS)
    covariance = xr.apply_ufunc(
        _covariance_block, *arrays, *weights,
        input_core_dims=([["time"]] * n_forcing + [[]] * (len(arrays) - n_forcing)
                         + [["time"]] * len(weights)),
        output_core_dims=[["parameter", "parameter_j"]],
        kwargs={"streams": tuple(resolved), "water_stress": stress,
                "mass_conserving": bool(model.config.mass_conserving),
                "prior_sd": float(prior_sd), "n_inputs": len(arrays)},
        dask="parallelized", output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"parameter": 40, "parameter_j": 40}})
    covariance = handoff.unstack_pixels(covariance, spatial).assign_coords(
        parameter=list(PARAMETER_NAMES), parameter_j=list(PARAMETER_NAMES))
    covariance.attrs = {"long_name": "Laplace posterior covariance of the unconstrained "
                                     "parameters", "units": "1",
                        "noise_sd": ", ".join(f"{s}={v:.4g}" for s, v in resolved.items()),
                        "prior_sd": float(prior_sd)}
    mode = axes.to_internal(mode)[list(PARAMETER_NAMES)]
    return LaplacePosterior(axes.to_user(mode), axes.to_user(covariance), resolved,
                            float(prior_sd), stress, bool(model.config.mass_conserving))


def sampled_simulation(ds: xr.Dataset, posterior, outputs, samples, seed: int = 0,
                       **kwargs) -> xr.Dataset:
    """``xdifferland.simulate(ds, posterior, samples=n)``: :meth:`LaplacePosterior.simulate`."""
    if not isinstance(posterior, LaplacePosterior):
        raise TypeError(f"parameters is a {type(posterior).__name__}: samples= needs a "
                        "LaplacePosterior (from xdifferland.laplace.laplace_posterior); for "
                        "one run pass a parameters Dataset without samples=")
    if samples is None:
        raise ValueError("parameters is a LaplacePosterior: pass samples= (e.g. 100) to "
                         "simulate draws from it, or posterior.mode for the fitted parameters")
    return posterior.simulate(ds, outputs, samples=samples, seed=seed, **kwargs)
