"""MkDocs hook: tables generated from the package at build time, so the docs cannot go stale.

A page asks for a table with a marker on a line of its own, e.g. ``<!-- table: variables -->``;
:func:`on_page_markdown` replaces it with the Markdown table built from the live registries:

=============== ====================================================================
marker          source
=============== ====================================================================
``variables``   :data:`xdifferland.contract.declare.VARIABLES` (roles, units, CF names, ...)
``parameters``  :func:`xdifferland.parameter_table` (the 40 DALEC993 entries)
``derived``     :data:`xdifferland.registry.DERIVED`
``outputs``     :data:`xdifferland.engine.OUTPUTS` (the 44 simulated quantities)
``loss-terms``  :data:`xdifferland.engine.LOSS_TERMS` (names, default weights, streams)
``fit-config``  the fields of :class:`xdifferland.FitConfig` with defaults and comments
``network``     the fields of :class:`xdifferland.NetworkConfig`
=============== ====================================================================

Run ``python docs/hooks.py NAME`` to print one table. An unknown marker fails the build.

The same hook fails the build on a page that cites a package name that does not exist
(``xdifferland.<dotted.name>`` anywhere in the page, code included; checked by import and
attribute lookup, :func:`xdifferland._docstrings.missing_names`), so a renamed function cannot
leave a dangling reference behind. The package's docstrings are checked by
``tests/test_accessor_docs.py``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys

_MARKER = re.compile(r"^<!--[ \t]*table:[ \t]*([\w-]+)[ \t]*-->[ \t]*$", re.MULTILINE)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (tuple, list)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value) -> str:
    return f"`{value}`" if value not in (None, "", ()) else ""


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def variables_table() -> str:
    from xdifferland.contract.declare import VARIABLES

    def plausible(v) -> str:
        low, high = v.plausible_range
        return "" if low is None and high is None else (
            f"{'-inf' if low is None else f'{low:g}'} to {'inf' if high is None else f'{high:g}'}")

    rows = [[f"`{v.name}`", v.role, v.group or "", _code(v.units), plausible(v),
             _code(v.standard_name), ", ".join(v.dims) or "static",
             ", ".join(f"`{a}`" for a in v.aliases), "yes" if v.required else ""]
            for v in VARIABLES if v.role != "uncertainty"]
    return _table(["name", "role", "group", "canonical units", "plausible range",
                   "CF standard_name", "dims (besides space)", "accepted aliases", "required"],
                  rows)


def parameters_table() -> str:
    import xdifferland

    table = xdifferland.parameter_table()
    rows = [[f"`{r.name}`", f"`{r.alias}`", r.min, r.max, _code(r.units), r.group, r.head,
             r.description] for r in table.itertuples()]
    return _table(["name", "published name", "min", "max", "units", "group", "network head",
                   "description"], rows)


def derived_table() -> str:
    from xdifferland.registry import DERIVED

    rows = [[f"`{d.name}`", _code(d.units), d.description] for d in DERIVED.values()]
    return _table(["name", "units", "definition"], rows)


def outputs_table() -> str:
    from xdifferland.engine import OUTPUTS

    rows = [[f"`{o.name}`", f"`{o.alias}`", _code(o.units), o.long_name,
             _code(o.standard_name)] for o in OUTPUTS]
    return _table(["name", "published name", "units", "description", "CF standard_name"], rows)


def loss_terms_table() -> str:
    from xdifferland.engine import LOSS_TERMS
    from xdifferland.training import STREAMS

    variable_of = {stream: name for name, stream in STREAMS.items()}
    rows = []
    for term in LOSS_TERMS.values():
        observed = (f"`{variable_of.get(term.observation, term.observation)}`"
                    if term.observation else "(constraint, always on)")
        outputs = (", ".join(f"`{o}`" for o in term.outputs) if len(term.outputs) <= 6
                   else f"all pools and their fluxes ({len(term.outputs)} outputs)")
        rows.append([f"`{term.name}`", term.default_weight, observed, outputs,
                     term.description])
    return _table(["term", "default weight", "observation (Dataset variable)",
                   "simulated outputs used", "what it measures"], rows)


def _field_comments(cls) -> dict[str, str]:
    """``#:`` comments after each field of a dataclass's source."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+)\s*:[^=]*=.*?#:\s*(.+)$", line)
        if match:
            comments[match.group(1)] = match.group(2).strip()
    return comments


#: Meanings of settings whose source line has no ``#:`` comment (the comment wins when present).
_MEANINGS = {
    "epochs": "passes over all training patches",
    "seed": "seed of the initialization, the splits and the shuffles",
    "loss_weights": "term name -> weight; None or 0 switches a term off (see the loss table)",
    "use_uncertainty": "divide residuals by the observation's `<name>_unc` where present",
    "mass_conserving": "run the mass-conserving engine variant (see The model)",
    "eval_every": "epochs between dev-loss evaluations",
    "checkpoint_every": "epochs between checkpoints (with `checkpoint_dir`)",
    "network": "the network shape, a NetworkConfig",
    "width": "units per hidden layer",
    "depth": "hidden layers of the embedding MLP",
    "activation": "activation function of the hidden layers",
    "bias_init": "initial value of every bias",
}


def _dataclass_table(cls, skip=()) -> str:
    comments = {**_MEANINGS, **_field_comments(cls)}
    rows = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = ""
        if dataclasses.is_dataclass(default):
            default = "see below"
        elif default == {}:
            default = "{} (published defaults)"
        rows.append([f"`{f.name}`", f"`{f.type}`", f"`{default!r}`", comments.get(f.name, "")])
    return _table(["setting", "type", "default", "meaning"], rows)


def fit_config_table() -> str:
    from xdifferland import FitConfig

    return _dataclass_table(FitConfig)


def network_table() -> str:
    from xdifferland import NetworkConfig

    return _dataclass_table(NetworkConfig)


TABLES = {
    "variables": variables_table,
    "parameters": parameters_table,
    "derived": derived_table,
    "outputs": outputs_table,
    "loss-terms": loss_terms_table,
    "fit-config": fit_config_table,
    "network": network_table,
}


def on_page_markdown(markdown: str, page=None, **kwargs) -> str:
    """Replace every ``<!-- table: NAME -->`` line with the generated table; refuse a page
    that cites a package name that does not exist."""
    from xdifferland._docstrings import missing_names

    where = getattr(getattr(page, "file", None), "src_path", "?")
    missing = missing_names(markdown)
    if missing:
        raise ValueError(f"{where}: cites {', '.join(missing)}, which xdifferland does not "
                         "have; fix the name or remove the reference")

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in TABLES:
            raise ValueError(f"{where}: unknown table marker {name!r}; known: "
                             f"{', '.join(TABLES)}")
        return TABLES[name]()

    return _MARKER.sub(replace, markdown)


if __name__ == "__main__":
    for name in sys.argv[1:] or TABLES:
        print(f"## {name}\n\n{TABLES[name]()}\n")
