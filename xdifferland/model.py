"""``DifferLandModel``: a fitted spatialization network, immutable, saved without pickle."""

from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .contract import handoff
from ._version import __version__
from .errors import DataError, Problem
from .io.conventions import cf_result
from .network import NetworkConfig, predict_parameters
from .parameters import parameters_dataset
from .contract.plausibility import overrides_attribute, plausibility_rules
from .registry import PARAMETER_NAMES
from .simulation import prepare_dataset, simulate
from .training.batches import Standardization
from .training.checkpoint import ModelFileError, flatten, unflatten, write_arrays
from .training.config import FitConfig
from .training.data import patch_ids
from .training.model_file import manifest, read_model
from .prediction_inputs import (PREDICTION_SKIPS, ExtrapolationWarning, check_range,
                                encode_categories, extrapolation_score, location_labels,
                                pixel_labels, training_categories)

__all__ = ["DifferLandModel", "ExtrapolationWarning", "extrapolation_score", "load_model",
           "training_categories"]

_BLOCK = 65536  # pixels per network evaluation
@dataclass(frozen=True)
class DifferLandModel:
    """A trained environment → parameter mapping with everything needed to apply it.

    Create it with :func:`xdifferland.fit`; apply it to any Dataset with the same predictors,
    including locations never trained on.
    """

    weights: Mapping
    config: FitConfig
    standardization: Standardization
    predictors: tuple[str, ...]
    splits: Mapping[str, tuple[int, ...]]  #: original patch ids of train/dev/test
    history: Mapping = field(default_factory=dict)
    patch_variable: str | None = None
    metadata: Mapping = field(default_factory=dict)

    @classmethod
    def from_training(cls, *, weights, config, standardization, data, splits, history,
                      predictors, patch_variable, extra_terms,
                      categories: Mapping | None = None,
                      convergence=None) -> "DifferLandModel":
        labels = data.patch_labels
        return cls(
            weights=jax.tree_util.tree_map(np.asarray, weights), config=config,
            standardization=standardization, predictors=tuple(predictors),
            splits={name: tuple(int(labels[k]) for k in getattr(splits, name))
                    for name in ("train", "dev", "test")},
            history=history, patch_variable=patch_variable,
            metadata={"xdifferland_version": __version__, "model": "DALEC993",
                      "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                      "observations": sorted(data.observations), "n_pixels": data.n_pixels,
                      "delta_t": data.delta_t, "extra_terms": list(extra_terms),
                      # inputs accepted outside their plausible ranges (fit's plausibility=)
                      **({"plausibility_overrides": data.extra["plausibility_overrides"]}
                         if data.extra.get("plausibility_overrides") else {}),
                      # the verdict of training.divergence, see converged
                      **({"convergence": convergence.to_dict()} if convergence else {}),
                      # categories encoded at training (IGBP classes), see parameters()
                      **({"categories": dict(categories)} if categories else {}),
                      # sites trained on (a site list is one patch: its splits are by name)
                      **({"locations": location_labels(data)}
                         if patch_variable is None and location_labels(data) else {})})

    @property
    def converged(self) -> bool | None:
        """``False`` when training diverged (:mod:`xdifferland.training.divergence`), ``True``
        when no divergence rule fired, ``None`` for a model that does not record it (files
        written before the check existed)."""
        record = self.metadata.get("convergence")
        return None if not isinstance(record, Mapping) else bool(record.get("converged"))

    @property
    def convergence(self) -> str:
        """Why the fit counts as converged or not: the rule that fired, its numbers and what to
        try; or how the losses went."""
        record = self.metadata.get("convergence")
        if not isinstance(record, Mapping):
            return "not recorded: the model was saved before fits checked their convergence"
        return str(record.get("reason", ""))

    def __repr__(self) -> str:
        return (f"<DifferLandModel: {len(self.predictors)} predictors, "
                f"{self.config.network.depth}x{self.config.network.width} network, "
                f"{len(self.history.get('train_loss', []))} epochs, "
                f"splits train/dev/test = {[len(self.splits[s]) for s in ('train', 'dev', 'test')]}"
                " patches>")

    # --- applying the model --------------------------------------------------------------
    def parameters(self, ds: xr.Dataset, *, roles: Mapping[str, str] | None = None,
                   mask: xr.DataArray | None = None, extrapolation: str = "warn",
                   plausibility: str | Mapping | None = None) -> xr.Dataset:
        """Parameter maps predicted from ``ds``'s predictors (NaN where they are missing).

        Parameters
        ----------
        ds : xarray.Dataset
            The model's predictors (same names and units as in training), with coordinates.
        roles, mask
            As in :func:`xdifferland.simulate`.
        extrapolation : {"warn", "clip", "allow"}, default "warn"
            Locations whose predictors lie outside the training range get parameters the
            network has not been fitted for: ``"warn"`` issues an :class:`ExtrapolationWarning`
            naming the predictors, ``"clip"`` holds predictors at the edge of the training range
            (the nearest trained value), ``"allow"`` extrapolates silently.
        plausibility : {"error", "warn", "ignore"} or mapping, optional
            Accept physically implausible input values (see
            :mod:`xdifferland.contract.plausibility`); any override is recorded in the attribute
            ``plausibility_overrides``.

        Examples
        --------
        >>> from xdifferland.datasets import synthetic_world
        >>> ds, _ = synthetic_world(seed=0)
        >>> model = ds.differland.fit(epochs=1, progress=False)
        >>> model.parameters(ds)["canopy_efficiency"].dims
        ('lat', 'lon')
        """
        ds, unseen = encode_categories(ds, self.predictors, self.metadata.get("categories", {}))
        if unseen and extrapolation == "warn":
            trained = ", ".join(self.metadata["categories"]["igbp"])
            warnings.warn(f"IGBP class(es) {', '.join(unseen)} of this Dataset were not among the "
                          f"training locations' classes ({trained}): their class predictors are "
                          "encoded as for any class (a PFT column the model knows is 0 for "
                          "them), and their parameters are extrapolated by the network",
                          ExtrapolationWarning, stacklevel=2)
        # prediction uses the model's stored standardization: training-only checks (a predictor
        # constant over the locations) do not apply
        prepared = prepare_dataset(ds, roles, mask=mask, skip=PREDICTION_SKIPS,
                                   plausibility=plausibility)
        data, spatial = prepared.data, prepared.spatial_dims
        missing = [n for n in self.predictors if n not in data]
        if missing:
            raise DataError([Problem(n, "predictor used by the model is missing.",
                                     "add it to the Dataset (same name and units as in training)")
                             for n in missing])
        template = prepared.valid
        stacked = [handoff.stack_pixels(data[n].broadcast_like(template), spatial).values
                   for n in self.predictors]
        x = np.stack(stacked, axis=1).astype(float)
        latitude = handoff.stack_pixels(
            prepared.inputs["latitude"].broadcast_like(template), spatial).values
        valid = np.isfinite(x).all(axis=1) & handoff.stack_pixels(template, spatial).values
        check_range(self.standardization, x, valid, extrapolation,
                     pixel_labels(template, spatial))
        score = np.where(valid, extrapolation_score(self.standardization,
                                                    np.where(valid[:, None], x, 0.0)), np.nan)
        z, zh = self.standardization.apply(np.where(valid[:, None], x, self.standardization.mean),
                                           1.0 / (1.0 + np.exp(-latitude)),
                                           clip=extrapolation == "clip")
        values = {name: np.full(len(valid), np.nan) for name in PARAMETER_NAMES}
        weights = jax.tree_util.tree_map(jnp.asarray, self.weights)
        for start in range(0, len(valid), _BLOCK):
            block = slice(start, start + _BLOCK)
            p = _predict(weights, self.config.network, jnp.asarray(z[block], jnp.float32),
                         jnp.asarray(zh[block], jnp.float32))
            for name, v in zip(PARAMETER_NAMES, p):
                values[name][block] = np.asarray(v)
        for v in values.values():
            v[~valid] = np.nan
        stacked_template = handoff.stack_pixels(template.astype(float), spatial)
        out = parameters_dataset(values, stacked_template)
        out["extrapolation"] = (stacked_template.dims, score, {
            "long_name": "distance of the predictors beyond the training range", "units": "1",
            "comment": "largest over the predictors, in training standard deviations (at least "
                       "1 % of the plausible range); 0 "
                       "inside the range"})
        out = handoff.unstack_pixels(out, spatial)
        if unseen:
            out.attrs["unseen_categories"] = ", ".join(unseen)
        out.attrs["xdifferland_version"] = __version__
        overrides = overrides_attribute(plausibility_rules(plausibility))
        if overrides is not None:
            out.attrs["plausibility_overrides"] = overrides
        out = cf_result(out, title="DALEC993 parameters predicted by a DifferLand model",
                        what="parameters predicted from the predictors")
        return prepared.axes.to_user(out)  # on the user's own dim and coordinate names

    def simulate(self, ds: xr.Dataset, outputs: Sequence[str] | str | None = None, *,
                 roles: Mapping[str, str] | None = None, mask: xr.DataArray | None = None,
                 mass_conserving: bool | None = None, extrapolation: str = "warn",
                 plausibility: str | Mapping | None = None) -> xr.Dataset:
        """Fluxes and pools simulated with the model's parameters for ``ds``.

        ``extrapolation`` is passed to :meth:`parameters` (locations outside the training range
        of the predictors), ``plausibility`` to both (see :func:`xdifferland.simulate`).
        """
        if mass_conserving is None:
            mass_conserving = self.config.mass_conserving
        stress = None
        if self.config.water_stress != "default":
            stress = (self.config.water_stress, self.weights.get("water_stress", {}))
        parameters = self.parameters(ds, roles=roles, mask=mask, extrapolation=extrapolation,
                                     plausibility=plausibility)
        result = simulate(ds, parameters, outputs, roles=roles,
                          mass_conserving=mass_conserving, mask=mask, water_stress=stress,
                          plausibility=plausibility)
        result["extrapolation"] = parameters["extrapolation"]
        for key in ("unseen_categories",):
            if key in parameters.attrs:
                result.attrs[key] = parameters.attrs[key]
        return result

    def split_mask(self, ds: xr.Dataset, split: str = "test", *,
                   roles: Mapping[str, str] | None = None) -> xr.DataArray:
        """Boolean map of the locations in ``split`` ("train", "dev", "test" or "all").

        Patches are coarse lat/lon cells (or the fit's ``patch_variable``), so on a grid they are
        found in any Dataset; a site list is one patch, and its locations are in "train" only if
        the model was trained on them (by name).
        """
        prepared = prepare_dataset(ds, roles, check=False)
        if split == "all":
            return prepared.axes.to_user(prepared.valid)
        if split not in self.splits:
            raise ValueError(f"split {split!r}: use 'train', 'dev', 'test' or 'all'")
        ids = self._patch_ids(prepared)
        return prepared.axes.to_user(prepared.valid & ids.isin(list(self.splits[split])))

    def _patch_ids(self, prepared) -> xr.DataArray:
        """Patch id per location; -1 for a site the model was not trained on."""
        ids = patch_ids(prepared.data, prepared.spatial_dims, self.config.patch_size,
                        self.patch_variable)
        trained = self.metadata.get("locations")
        if trained is not None and len(prepared.spatial_dims) == 1:
            dim = prepared.spatial_dims[0]
            labels = [str(v) for v in prepared.data[dim].values] if dim in prepared.data.coords \
                else []
            known = np.isin(labels, list(trained)) if labels else np.zeros(ids.shape, bool)
            ids = ids.where(xr.DataArray(known, dims=ids.dims), -1)
        return ids

    def trained_on(self, ds: xr.Dataset, *, roles: Mapping[str, str] | None = None) -> bool:
        """Whether any location of ``ds`` lies in the model's train, dev or test patches (the
        sites it was trained on, for a site list): ``evaluate``'s default split is then
        "test", otherwise "all"."""
        prepared = prepare_dataset(ds, roles, check=False)
        ids = self._patch_ids(prepared).where(prepared.valid)
        patches = [p for name in ("train", "dev", "test") for p in self.splits.get(name, ())]
        return bool(ids.isin(patches).any())

    def evaluate(self, ds: xr.Dataset, split: str | None = None, *, warmup_months: int = 24,
                 roles: Mapping[str, str] | None = None,
                 observation_mask: xr.DataArray | None = None,
                 plausibility: str | Mapping | None = None) -> xr.Dataset:
        """Skill per observed variable on a split; see :func:`xdifferland.evaluation.evaluate`.

        ``split`` defaults to "test" on the data the model was trained on and to "all" on any
        other Dataset (new sites, another region): every location there is new to the model.
        """
        from .evaluation import evaluate

        return evaluate(self, ds, split, warmup_months=warmup_months, roles=roles,
                        observation_mask=observation_mask, plausibility=plausibility)

    # --- files ---------------------------------------------------------------------------
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model to one ``.npz`` file (arrays + JSON; no pickle), atomically."""
        arrays = {f"weights/{k}": v for k, v in flatten(self.weights).items()}
        meta = {"kind": "model", "config": self.config.to_dict(),
                "standardization": self.standardization.to_dict(),
                "predictors": list(self.predictors),
                "splits": {k: list(v) for k, v in self.splits.items()},
                "history": dict(self.history), "patch_variable": self.patch_variable,
                "metadata": dict(self.metadata),
                "arrays": manifest(arrays)}  # every size known before any data is read
        return write_arrays(path, arrays, meta, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path) -> "DifferLandModel":
        """Read a model written by :meth:`save`.

        The file is validated completely first
        (:func:`~xdifferland.training.model_file.read_model`); a
        :class:`~xdifferland.errors.ModelFileError` says what is wrong with it.
        """
        arrays, meta = read_model(path)
        try:
            config = FitConfig.from_dict(meta["config"])
            weights = unflatten({k[8:]: v for k, v in arrays.items() if k.startswith("weights/")})
            return cls(weights=weights, config=config,
                       standardization=Standardization.from_dict(meta["standardization"]),
                       predictors=tuple(meta["predictors"]),
                       splits={k: tuple(v) for k, v in meta["splits"].items()},
                       history=meta["history"], patch_variable=meta["patch_variable"],
                       metadata=meta["metadata"])
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{path} is incomplete or incompatible ({error!r})") from None


def load_model(path: str | Path) -> DifferLandModel:
    """Load a :class:`DifferLandModel` saved with :meth:`DifferLandModel.save`."""
    return DifferLandModel.load(path)


def _predict(weights, network: NetworkConfig, predictors, hemisphere):
    return _predict_compiled(network)(weights, predictors, hemisphere)


_COMPILED: dict = {}


def _predict_compiled(network: NetworkConfig):
    if network not in _COMPILED:
        _COMPILED[network] = jax.jit(
            lambda w, z, zh: predict_parameters(w, network, z, zh))
    return _COMPILED[network]
