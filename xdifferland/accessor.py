"""The ``.differland`` accessor on :class:`xarray.Dataset`: a thin switchboard.

Every method forwards to a public function of the package, so everything is also available
without the accessor (``ds.differland.simulate(p)`` is ``xdifferland.simulate(ds, p)``). Each
method's docstring is that function's, with the Dataset argument left out
(:func:`xdifferland._docstrings.mirrors`); the function is imported on first call, so
``import xdifferland`` stays light.
"""

from __future__ import annotations

import xarray as xr

from ._docstrings import mirrors

__all__ = ["DifferLandAccessor"]



def _data_errors(more: str = "") -> str:
    """The Raises entries of every method that reads the Dataset's data."""
    return f"""
ValidationError
    Listing every problem of the data (missing variables, units, values) before any JAX code
    runs; see :meth:`validate`.
DataError
    For a structural problem: no time dimension (or two), or a variable named in the call
    that the Dataset lacks{more}.
"""


_DATA_ERRORS = _data_errors()


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
    @mirrors("contract.check:validate", "xdifferland.validate")
    def validate(self, roles=None, **kwargs):
        from .contract.check import validate

        return validate(self._ds, roles, **kwargs)

    def canonical(self, roles=None):
        """The Dataset as the engine reads it: canonical names, units and axes, validated.

        Variables are found by name, alias or CF standard name (or as ``roles`` says) and
        renamed to their canonical names (:data:`xdifferland.contract.declare.VARIABLES`),
        converted to canonical units (as :func:`xdifferland.to_canonical_units` does), and the
        axes renamed to ``time`` and ``lat``/``lon`` or ``site``. Use it to see what a
        simulation or a fit will read from your Dataset.

        Parameters
        ----------
        roles : mapping, optional
            Explicit ``{canonical_name: data_var_name}`` choices (see
            :func:`xdifferland.contract.find.find_variables`).

        Returns
        -------
        xarray.Dataset
            The declared variables found, under their canonical names and in canonical units.

        Raises
        ------
        ValidationError
            Listing every problem of the data (missing variables, units, values); see
            :meth:`validate`.
        DataError
            If the Dataset has no time dimension, or two.

        See Also
        --------
        xdifferland.to_canonical_units : Units only, names and axes kept.

        Examples
        --------
        >>> from xdifferland.datasets import synthetic_world
        >>> ds, _ = synthetic_world(seed=0)
        >>> mine = ds.rename(vpd="VPD_hPa").assign(VPD_hPa=ds["vpd"] * 10)
        >>> mine["VPD_hPa"].attrs["units"] = "hPa"
        >>> out = mine.differland.canonical(roles={"vpd": "VPD_hPa"})
        >>> out["vpd"].attrs["units"], bool(abs(out["vpd"] - ds["vpd"]).max() < 1e-5)
        ('kPa', True)
        """
        from .simulation import prepare_dataset

        return prepare_dataset(self._ds, roles).data

    @mirrors("parameters:default_parameters", "xdifferland.default_parameters", drop=("like",),
             amend={"spatial_dims": "Here ``like`` is this Dataset."},
             Examples="""
             >>> from xdifferland.datasets import synthetic_world
             >>> ds, _ = synthetic_world(seed=0)
             >>> p = ds.differland.default_parameters()
             >>> p["canopy_efficiency"].dims, round(float(p["canopy_efficiency"].max()), 3)
             (('lat', 'lon'), 15.811)
             """)
    def default_parameters(self, **kwargs):
        from .parameters import default_parameters

        return default_parameters(like=self._ds, **kwargs)

    # --- process model -------------------------------------------------------------------
    @mirrors("simulation:simulate", "xdifferland.simulate",
             amend={"parameters": "A fitted model (``DifferLandModel``) is accepted too and\n"
                                  "predicts them from this Dataset's predictors. Default:\n"
                                  ":meth:`default_parameters`."},
             Raises=(_DATA_ERRORS, """
             KeyError
                 For an unknown output name; the message lists the available ones.
             """))
    def simulate(self, parameters=None, outputs=None, **kwargs):
        if parameters is None:
            parameters = self.default_parameters()
        if hasattr(parameters, "simulate") and not isinstance(parameters, xr.Dataset):
            return parameters.simulate(self._ds, outputs=outputs, **kwargs)
        from .simulation import simulate

        return simulate(self._ds, parameters, outputs, **kwargs)

    @mirrors("simulation:budget", "xdifferland.budget",
             Parameters="""
             parameters : xarray.Dataset, optional
                 The 40 parameters; default :meth:`default_parameters`.
             roles, mass_conserving, mask, plausibility
                 As in :func:`xdifferland.simulate`.
             """,
             Returns="""
             xarray.Dataset
                 ``carbon_residual`` (g m-2) and ``water_residual`` (mm) per step,
                 ``(time, *spatial)``, and the ``total_carbon`` they are computed from.
             """,
             Raises=_DATA_ERRORS)
    def budget(self, parameters=None, **kwargs):
        from .simulation import budget

        return budget(self._ds, parameters if parameters is not None
                      else self.default_parameters(), **kwargs)

    # --- hybrid model --------------------------------------------------------------------
    @mirrors("training.loop:fit", "xdifferland.fit", Raises=(_DATA_ERRORS, """
             TypeError
                 For a keyword that is neither a ``fit`` argument nor a ``FitConfig`` setting.
             TrainingError
                 If the training loss stays NaN after ``max_restarts`` re-initializations.
             """))
    def fit(self, config=None, **kwargs):
        from .training import fit

        return fit(self._ds, config, **kwargs)

    @mirrors("model:DifferLandModel.parameters", "xdifferland.DifferLandModel.parameters",
             add="""
             model : DifferLandModel
                 A fitted model (from :meth:`fit` or :func:`xdifferland.load_model`).
             """,
             Returns="""
             xarray.Dataset
                 The 40 parameter maps over this Dataset's spatial dims, with units and long
                 names.
             """,
             Raises=_DATA_ERRORS,
             rewrite={"model.parameters(ds)": "ds.differland.parameters(model)"})
    def parameters(self, model, **kwargs):
        return model.parameters(self._ds, **kwargs)

    @mirrors("evaluation:evaluate", "xdifferland.evaluate",
             Parameters="""
             model : DifferLandModel or Ensemble
                 A fitted model, or an ensemble (``mean=True`` scores the members' mean).
             split : {"train", "dev", "test", "all"}, optional
                 Default: "test" on the data the model was trained on, "all" on other data.
             warmup_months : int, default 24
                 Leading steps left out of every metric.
             roles, plausibility
                 As in :func:`xdifferland.simulate`.
             observation_mask : DataArray of bool, optional
                 ``(time, *spatial)`` or broadcastable: the observations to compare.
             """,
             Examples="""
             >>> from xdifferland.datasets import synthetic_world
             >>> ds, _ = synthetic_world(seed=0)
             >>> model = ds.differland.fit(epochs=1, progress=False)
             >>> skill = ds.differland.evaluate(model)
             >>> skill.attrs["split"], "lai" in skill["variable"].values, "nse" in skill
             ('test', True, True)
             """)
    def evaluate(self, model, split=None, **kwargs):
        return model.evaluate(self._ds, split, **kwargs)

    # --- ensembles and analysis ----------------------------------------------------------
    @mirrors("ensemble:fit_ensemble", "xdifferland.fit_ensemble", Raises="""
             ValueError
                 For ``n_members`` below 1, ``select_best`` outside 1..n_members, or a number
                 of ``seeds`` other than ``n_members``.
             TypeError
                 For settings given both in ``config`` and as keywords.
             """)
    def fit_ensemble(self, n_members, **kwargs):
        from .ensemble import fit_ensemble

        return fit_ensemble(self._ds, n_members, **kwargs)

    @mirrors("analysis.factorial:factorial", "xdifferland.factorial", Raises="""
             ValueError
                 For no group, a reserved group name, or an unknown control.
             KeyError
                 For a group whose predictors are not in the Dataset.
             """,
             Examples="""
             >>> from xdifferland.datasets import synthetic_world
             >>> ds, _ = synthetic_world(seed=0, n_years=3)
             >>> skill = ds.differland.factorial({"SOIL": ["sand", "clay"]}, controls=(),
             ...                                 client="synchronous", epochs=1,
             ...                                 progress=False)
             >>> skill["setup"].values.tolist(), "nse" in skill
             (['SOIL'], True)
             """)
    def factorial(self, groups=None, **kwargs):
        from .analysis.factorial import factorial

        return factorial(self._ds, groups, **kwargs)

    @mirrors("analysis.shap_analysis:shap_values", "xdifferland.analysis.shap_values", more="""
             roles : mapping, optional
                 As in :func:`xdifferland.simulate`.
             """,
             Raises="""
             KeyError
                 For an unknown ``target`` or a ``pft`` that is no PFT cover variable.
             ValueError
                 If no pixel is left to explain, or the members' predictors differ.
             """,
             Examples="""
             >>> from xdifferland.datasets import synthetic_world
             >>> ds, _ = synthetic_world(seed=0, n_years=3)
             >>> model = ds.differland.fit(epochs=1, predictors=["sand", "clay"],
             ...                           progress=False)
             >>> s = ds.differland.shap(model, "canopy_efficiency", n_background=5,
             ...                        n_explain=3, nsamples=20)
             >>> s["shap"].dims, s["predictor"].values.tolist()
             (('sample', 'predictor'), ['sand', 'clay', 'latitude'])
             """)
    def shap(self, ensemble, target, **kwargs):
        from .analysis.shap_analysis import shap_values

        return shap_values(ensemble, self._ds, target, **kwargs)

    @mirrors("analysis.identifiability:identifiability", "xdifferland.analysis.identifiability",
             drop=("parameters",), add="""
             ensemble : Ensemble or xarray.Dataset
                 An ensemble, applied to this Dataset, or parameter maps with a member
                 dimension, e.g. ``ensemble.parameters(ds)``.
             """,
             Raises="""
             ValueError
                 If the parameters have no ``dim`` (member) dimension.
             """,
             Examples="""
             >>> from xdifferland.datasets import synthetic_world
             >>> ds, _ = synthetic_world(seed=0)
             >>> p = ds.differland.default_parameters()
             >>> members = xr.concat([p, p * 1.01, p * 0.99], "member")  # nearly agree
             >>> res = ds.differland.identifiability(members)
             >>> bool(res["identifiable"].all()), round(float(res["median_cv"].max()), 3)
             (True, 0.01)
             """)
    def identifiability(self, ensemble, **kwargs):
        from .analysis.identifiability import identifiability

        return identifiability(ensemble, self._ds, **kwargs)

    @mirrors("analysis.fisher:local_identifiability", "xdifferland.analysis.local_identifiability",
             Raises=_data_errors("; or a noise level that is not a positive number, or\n"
                                 "    ``warmup_months`` or ``prior_sd`` out of range"))
    def local_identifiability(self, parameters, noise, **kwargs):
        from .analysis.fisher import local_identifiability

        return local_identifiability(self._ds, parameters, noise, **kwargs)
