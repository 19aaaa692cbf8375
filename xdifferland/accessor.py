"""The ``.differland`` accessor on :class:`xarray.Dataset`: a thin switchboard.

Every method forwards to a public function of the package, so everything is also available
without the accessor (``ds.differland.simulate(p)`` is ``xdifferland.simulate(ds, p)``).
"""

from __future__ import annotations

import xarray as xr

__all__ = ["DifferLandAccessor"]


@xr.register_dataset_accessor("differland")
class DifferLandAccessor:
    """DifferLand methods on a Dataset of forcing, predictors and observations.

    Examples
    --------
    >>> import xdifferland
    >>> from xdifferland.datasets import synthetic_world
    >>> ds, truth = synthetic_world(seed=0)
    >>> report = ds.differland.validate()
    >>> out = ds.differland.simulate(ds.differland.default_parameters(), outputs=["lai"])
    >>> out["lai"].dims
    ('time', 'lat', 'lon')
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    # --- data contract -------------------------------------------------------------------
    def validate(self, roles=None, **kwargs):
        """Every problem with the data at once; see :func:`xdifferland.validate`."""
        from .contract.check import validate

        return validate(self._ds, roles, **kwargs)

    def canonical(self, roles=None):
        """The Dataset with canonical names, units and axes; see
        :func:`xdifferland.to_canonical_units` and :mod:`xdifferland.contract`."""
        from .simulation import prepare_dataset

        return prepare_dataset(self._ds, roles).data

    def default_parameters(self, **kwargs):
        """Mid-range parameters over this Dataset's locations; see
        :func:`xdifferland.default_parameters`."""
        from .parameters import default_parameters

        return default_parameters(like=self._ds, **kwargs)

    # --- process model -------------------------------------------------------------------
    def simulate(self, parameters=None, outputs=None, **kwargs):
        """Simulated fluxes and pools; see :func:`xdifferland.simulate`.

        ``parameters`` is a parameters Dataset or a fitted model (then the model predicts them
        from this Dataset's predictors).
        """
        if parameters is None:
            parameters = self.default_parameters()
        if hasattr(parameters, "simulate") and not isinstance(parameters, xr.Dataset):
            return parameters.simulate(self._ds, outputs=outputs, **kwargs)
        from .simulation import simulate

        return simulate(self._ds, parameters, outputs, **kwargs)

    def budget(self, parameters=None, **kwargs):
        """Per-step carbon and water budget residuals; see :func:`xdifferland.budget`."""
        from .simulation import budget

        return budget(self._ds, parameters if parameters is not None
                      else self.default_parameters(), **kwargs)

    # --- hybrid model --------------------------------------------------------------------
    def fit(self, config=None, **kwargs):
        """Fit the spatialization network; see :func:`xdifferland.fit`."""
        from .training import fit

        return fit(self._ds, config, **kwargs)

    def parameters(self, model, **kwargs):
        """Parameter maps predicted by a fitted model; see
        :meth:`xdifferland.DifferLandModel.parameters`."""
        return model.parameters(self._ds, **kwargs)

    def evaluate(self, model, split="test", **kwargs):
        """Skill of a fitted model on this Dataset; see :func:`xdifferland.evaluate`."""
        return model.evaluate(self._ds, split, **kwargs)

    # --- ensembles and analysis (appended) ------------------------------------------------
    def fit_ensemble(self, n_members, **kwargs):
        """Fit an ensemble of networks as Dask tasks; see :func:`xdifferland.fit_ensemble`."""
        from .ensemble import fit_ensemble

        return fit_ensemble(self._ds, n_members, **kwargs)

    def factorial(self, groups=None, **kwargs):
        """Predictor-group factorial experiment; see :func:`xdifferland.factorial`."""
        from .analysis.factorial import factorial

        return factorial(self._ds, groups, **kwargs)

    def shap(self, ensemble, target, **kwargs):
        """Kernel SHAP of an ensemble's ``target``; see
        :func:`xdifferland.analysis.shap_values`."""
        from .analysis.shap_analysis import shap_values

        return shap_values(ensemble, self._ds, target, **kwargs)

    def identifiability(self, ensemble, **kwargs):
        """Coefficient of variation across members; see
        :func:`xdifferland.analysis.identifiability`."""
        from .analysis.identifiability import identifiability

        return identifiability(ensemble, self._ds, **kwargs)

    def local_identifiability(self, parameters, noise, **kwargs):
        """Per-pixel Fisher-information posterior of the parameters; see
        :func:`xdifferland.analysis.local_identifiability`."""
        from .analysis.fisher import local_identifiability

        return local_identifiability(self._ds, parameters, noise, **kwargs)
