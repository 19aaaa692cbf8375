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

__all__ = ["DifferLandModel", "ExtrapolationWarning", "extrapolation_score", "load_model",
           "training_categories"]

_BLOCK = 65536  # pixels per network evaluation
EXTRAPOLATION = ("warn", "clip", "allow")
#: Validation checks skipped on data a model predicts for: a predictor constant over the new
#: locations is fine (the standardization is the model's); observations' coverage is irrelevant.
PREDICTION_SKIPS = ("overlap", "constant_predictors")


class ExtrapolationWarning(UserWarning):
    """Predictors of some locations lie outside the range the model was trained on."""


def extrapolation_score(standardization: Standardization, x: np.ndarray) -> np.ndarray:
    """``(P,)``: how far each location's predictors lie beyond the training range, in training
    standard deviations (the largest over the predictors; 0 inside the range, NaN for models
    saved before the range was recorded)."""
    if standardization.lower is None:
        return np.full(len(x), np.nan)
    beyond = np.maximum(standardization.lower - x, x - standardization.upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(np.isfinite(standardization.std), beyond / standardization.std, 0.0)
    return np.clip(np.nan_to_num(score, nan=0.0), 0.0, None).max(axis=1, initial=0.0)


def _check_range(standardization: Standardization, x: np.ndarray, valid: np.ndarray,
                 extrapolation: str, labels: Sequence[str] | None = None) -> None:
    """Warn, naming each predictor, how many locations and how far, when ``x`` leaves the
    training range (by more than 0.1 training standard deviations)."""
    if extrapolation not in EXTRAPOLATION:
        raise ValueError(f"extrapolation={extrapolation!r}; choose one of {EXTRAPOLATION}")
    if extrapolation != "warn":
        return
    outside = standardization.outside_range(x) & valid[:, None]
    if not outside.any():
        return
    lines = []
    columns = np.flatnonzero(outside.any(axis=0))
    score = extrapolation_score(standardization, x)
    for k in columns[:5]:
        values, n = x[valid, k], int(outside[:, k].sum())
        lines.append(f"{standardization.names[k]}: {n} location{'s' * (n != 1)}, "
                     f"{values.min():.4g} to {values.max():.4g} vs trained "
                     f"{standardization.lower[k]:.4g} to {standardization.upper[k]:.4g}")
    if len(columns) > 5:
        lines.append(f"and {len(columns) - 5} more predictors")
    where = ""
    if labels is not None:
        worst = [i for i in np.argsort(-score) if outside[i].any()][:5]
        where = " Furthest: " + ", ".join(f"{labels[i]} ({score[i]:.2g})" for i in worst) + "."
    warnings.warn(
        f"{int(outside.any(axis=1).sum())} of {int(valid.sum())} locations have predictors "
        f"outside the training range (up to {np.nanmax(score[valid]):.3g} training standard "
        "deviations beyond it; the result's 'extrapolation' variable gives it per location), "
        "so their parameters are extrapolated by the network ("
        + "; ".join(lines) + ")." + where + " Pass extrapolation='clip' to hold them at the "
        "edge of the range, or extrapolation='allow' to silence this.", ExtrapolationWarning,
        stacklevel=3)


def training_categories(ds: xr.Dataset) -> dict[str, list[str]]:
    """The categories a Dataset's locations carry (its IGBP classes), stored in a fitted model
    so that prediction encodes new data the same way and reports classes it never saw."""
    if "igbp" not in ds.variables:
        return {}
    return {"igbp": sorted({str(c) for c in np.asarray(ds["igbp"].values).ravel()})}


def _encode_categories(ds: xr.Dataset, predictors: Sequence[str],
                       categories: Mapping) -> tuple[xr.Dataset, list[str]]:
    """``ds`` with the model's predictors that are encodings of the IGBP class added where it
    lacks them (a one-hot PFT column no location has is all zero; ``woody``, ``forest``, ... as
    :func:`~xdifferland.experiments.loso.add_site_climate` derives them), and the IGBP classes
    of ``ds`` the model never saw in training."""
    missing = [p for p in predictors if p not in ds.variables]
    if "igbp" not in ds.variables:
        return ds, []
    from .contract.declare import PREDICTOR_GROUPS
    from .experiments.loso import add_site_climate
    from .experiments.sites import IGBP_TO_PFT

    classes = np.asarray(ds["igbp"].values).astype(str)
    dims = ds["igbp"].dims
    added = {}
    for name in missing:
        if name in PREDICTOR_GROUPS["PFT"]:
            onehot = np.vectorize(lambda c: IGBP_TO_PFT.get(c) == name, otypes=[float])(classes)
            added[name] = (dims, onehot, {"units": "1", "long_name": f"{name} (IGBP one-hot)"})
    derived = {"moisture_index", "forest", "tree_cover", "woody", "evergreen"}
    if set(missing) & derived:
        climate = add_site_climate(ds)
        added |= {n: climate[n] for n in set(missing) & derived}
    seen = categories.get("igbp")
    unseen = sorted(set(classes.ravel()) - set(seen)) if seen is not None else []
    return (ds.assign(added) if added else ds), unseen


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
                      categories: Mapping | None = None) -> "DifferLandModel":
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
                      # categories encoded at training (IGBP classes), see parameters()
                      **({"categories": dict(categories)} if categories else {}),
                      # sites trained on (a site list is one patch: its splits are by name)
                      **({"locations": _location_labels(data)}
                         if patch_variable is None and _location_labels(data) else {})})

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
            Accept physically implausible input values (see :mod:`xdifferland.contract.plausibility`);
            any override is recorded in the attribute ``plausibility_overrides``.

        Examples
        --------
        >>> from xdifferland.datasets import synthetic_world
        >>> ds, _ = synthetic_world(seed=0)
        >>> model = ds.differland.fit(epochs=1, progress=False)
        >>> model.parameters(ds)["canopy_efficiency"].dims
        ('lat', 'lon')
        """
        ds, unseen = _encode_categories(ds, self.predictors, self.metadata.get("categories", {}))
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
        _check_range(self.standardization, x, valid, extrapolation,
                     _pixel_labels(template, spatial))
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
            "comment": "largest over the predictors, in training standard deviations; 0 "
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
            stress = (self.config.water_stress, self.weights["water_stress"])
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


def _location_labels(data) -> list[str] | None:
    """Names of a site list's training locations (None on a grid or for unnamed locations)."""
    if len(data.spatial_dims) != 1 or {"lat", "lon"} <= set(data.spatial_dims):
        return None
    index = data.pixel_index
    dim = data.spatial_dims[0]
    values = index[dim].values if dim in index.coords else index.values
    labels = [v[0] if isinstance(v, tuple) else v for v in np.asarray(values).tolist()]
    if not labels or len(labels) > 100_000 or not all(isinstance(v, str) for v in labels):
        return None
    return sorted(labels)


def _pixel_labels(template: xr.DataArray, spatial) -> list[str] | None:
    """Names of a site list's locations, in stacked order (None on a grid)."""
    if len(spatial) != 1 or spatial[0] not in template.coords:
        return None
    return [str(v) for v in template[spatial[0]].values]


def _predict(weights, network: NetworkConfig, predictors, hemisphere):
    return _predict_compiled(network)(weights, predictors, hemisphere)


_COMPILED: dict = {}


def _predict_compiled(network: NetworkConfig):
    if network not in _COMPILED:
        _COMPILED[network] = jax.jit(
            lambda w, z, zh: predict_parameters(w, network, z, zh))
    return _COMPILED[network]
