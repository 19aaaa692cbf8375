"""Loss terms for a user's own observation stream: a Dataset variable compared with a signed
sum of engine outputs, at pixel or patch scale, per model step or per year.

:func:`stream_term` builds one; ``fit(..., extra_terms=[...])`` reads the variable (and its
``<variable>_unc``) from the Dataset like the built-in streams, and ``evaluate`` scores it
against the same combination of outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .loss import LOSS_TERMS, LossTerm
from .loss_primitives import annual_mean, annualize, observation_sse, patch_error
from .outputs import OUTPUT_NAMES

__all__ = ["SCALES", "StreamTerm", "stream_term"]

#: Where a stream is observed: per pixel (SSE, like LAI), or as patch means (the patch error of
#: NBE and fire emission, spec 8.2), which the model matches only on average over a patch.
SCALES = ("pixel", "patch")


@dataclass(frozen=True)
class StreamTerm(LossTerm):
    """A :class:`~xdifferland.engine.loss.LossTerm` that also says what it compares.

    ``observation`` names the Dataset variable. Besides the fields of ``LossTerm``:

    Attributes
    ----------
    simulated : tuple of (str, float)
        The modelled counterpart: the sum of ``coefficient * output`` over the pairs.
    scale : {"pixel", "patch"}
    annual : bool
        Compare annual means (whole years of monthly steps) instead of every step.
    """

    simulated: tuple[tuple[str, float], ...] = ()
    scale: str = "pixel"
    annual: bool = False

    def record(self) -> dict:
        """What the model stores about the stream (JSON)."""
        return {"term": self.name, "simulated": dict(self.simulated), "scale": self.scale,
                "annual": self.annual}


def _pairs(simulated) -> tuple[tuple[str, float], ...]:
    if isinstance(simulated, str):
        return ((simulated, 1.0),)
    if isinstance(simulated, Mapping):
        return tuple((str(k), float(v)) for k, v in simulated.items())
    if isinstance(simulated, Sequence):
        return tuple((str(k), 1.0) for k in simulated)
    raise TypeError(f"simulated={simulated!r}: give an output name, a list of outputs (summed) "
                    "or a mapping output -> coefficient, e.g. {'gpp': 1, "
                    "'autotrophic_respiration': -1}")


def stream_term(variable: str, simulated: str | Sequence[str] | Mapping[str, float], *,
                weight: float = 1.0, scale: str = "pixel", annual: bool = False,
                name: str | None = None, description: str | None = None) -> StreamTerm:
    """A loss term comparing the Dataset variable ``variable`` with modelled outputs.

    Parameters
    ----------
    variable : str
        The observed Dataset variable, ``(time, *spatial)``, or ``(*spatial)`` for a static one
        (compared with every step), NaN where unobserved; an optional
        ``<variable>_unc`` holds its one-sigma uncertainty (used with ``use_uncertainty=True``),
        and ``fit``'s ``observation_mask=`` masks it like the built-in streams. Its values are
        used in the units the outputs have (see :mod:`xdifferland.engine.outputs`).
    simulated : str, list of str or mapping of str to float
        The engine outputs it observes: one name, several (summed), or a signed combination,
        e.g. ``{"gpp": 1, "autotrophic_respiration": -1}`` for net primary production.
    weight : float, default 1
        Weight of the term in the loss (the built-in terms' weights, spec 8.3, scale each
        stream's squared errors to a similar size).
    scale : {"pixel", "patch"}, default "pixel"
        ``"pixel"``: sum of squared errors per pixel (divided by the uncertainty with
        ``use_uncertainty=True``). ``"patch"``: squared error of the patch mean, for a
        coarse product observed as an average over a patch (spec 8.2); patches covering less
        than ``coverage_threshold`` of their cells are left out, as for NBE.
    annual : bool, default False
        Compare annual means (needs whole years of monthly steps) instead of every step.
    name : str, optional
        Term name in the loss history (default: ``variable``).
    description : str, optional

    Returns
    -------
    StreamTerm

    Examples
    --------
    >>> npp = stream_term("npp_obs", {"gpp": 1, "autotrophic_respiration": -1}, weight=10)
    >>> npp.name, npp.observation, npp.outputs
    ('npp_obs', 'npp_obs', ('gpp', 'autotrophic_respiration'))
    >>> npp.record()["simulated"]
    {'gpp': 1.0, 'autotrophic_respiration': -1.0}
    """
    pairs = _pairs(simulated)
    name = variable if name is None else name
    problems = []
    if not (isinstance(variable, str) and variable):
        problems.append(f"variable={variable!r}: give the name of a Dataset variable")
    unknown = [o for o, _ in pairs if o not in OUTPUT_NAMES]
    if unknown or not pairs:
        problems.append(f"simulated: {unknown or 'nothing'} are not engine outputs; use any of "
                        f"{', '.join(OUTPUT_NAMES)}")
    if scale not in SCALES:
        problems.append(f"scale={scale!r}: use 'pixel' or 'patch'")
    if not weight > 0:
        problems.append(f"weight={weight!r}: use a positive number")
    if name in LOSS_TERMS:
        problems.append(f"name={name!r} is a built-in term; choose another name")
    if problems:
        raise ValueError(f"stream term for {variable!r}:\n- " + "\n- ".join(problems))

    def compare(outputs, observation, context):
        predicted = sum(coefficient * outputs[output] for output, coefficient in pairs)
        if annual:
            predicted, observation = annual_mean(predicted), annualize(observation)
        if scale == "patch":
            return patch_error(predicted, observation.value, observation.mask,
                               context.batch_size)
        return observation_sse(predicted, observation, context.use_uncertainty)

    combination = " ".join(f"{'+' if c >= 0 else '-'} {abs(c):g} {o}" for o, c in pairs)
    said = (f"{'annual ' if annual else ''}{'SSE' if scale == 'pixel' else 'patch error'}, "
            f"{variable} vs {combination.lstrip('+ ')}")
    return StreamTerm(name, float(weight), variable, tuple(dict.fromkeys(o for o, _ in pairs)),
                      compare, description or said, simulated=pairs, scale=scale,
                      annual=bool(annual))
