"""Accessor docstrings built from the docstring of the function each method forwards to.

A ``ds.differland`` method and the public function it forwards to have one docstring, written
once, on the function. :func:`mirrors` builds the method's docstring from it: the Dataset
parameter is dropped (the accessor supplies it), the example's call is rewritten in the
accessor form ``ds.differland.method(...)``, and a "See Also" entry names the function. Where
the function's docstring lacks a section (say, Raises), the accessor supplies that section.

The function's docstring is read from the package's source text, not imported, so that
``import xdifferland`` stays as light as before (the functions import JAX).
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from pathlib import Path

__all__ = ["mirrors", "target_docstring", "target_signature", "split_sections", "resolves",
           "missing_names"]

_PACKAGE = Path(__file__).parent
#: numpydoc sections in the order the accessor's docstrings list them.
SECTIONS = ("Parameters", "Returns", "Yields", "Raises", "Warns", "See Also", "Notes",
            "References", "Examples")
_QUOTE = re.compile(r'[rR]?"""')


@functools.lru_cache(maxsize=None)
def _source(module: str) -> str:
    return _PACKAGE.joinpath(*module.split(".")).with_suffix(".py").read_text(encoding="utf-8")


def _definition(target: str) -> tuple[str, int, re.Match]:
    """The module's text, where ``target``'s ``def`` line starts, and its docstring's quote."""
    module, qualname = target.split(":")
    text = _source(module)
    start, indent = 0, ""
    names = qualname.split(".")
    for depth, name in enumerate(names):
        keyword = "def" if depth == len(names) - 1 else "class"
        found = re.compile(rf"^{indent}{keyword} {name}\b", re.MULTILINE).search(text, start)
        if found is None:
            raise LookupError(f"{target}: no '{keyword} {name}' in xdifferland/{module}")
        start, indent = found.end(), indent + "    "
    quote = _QUOTE.search(text, start)
    if quote is None or not re.search(r":[ \t]*(#[^\n]*)?\n\s*$", text[start:quote.start()]):
        raise LookupError(f"{target}: the definition has no docstring")
    return text, found.start(), quote


class _SourceText(str):
    """A default value shown as written in the source (the object itself is not imported)."""

    def __repr__(self) -> str:
        return str(self)


def target_signature(target: str) -> inspect.Signature:
    """``target``'s signature read from its source: annotations and defaults as written."""
    text, start, quote = _definition(target)
    segment = inspect.cleandoc("\n" + text[start:quote.start()]) + " pass"
    function = ast.parse(segment).body[0]
    args = function.args
    source = functools.partial(ast.get_source_segment, segment)
    kind = inspect.Parameter
    positional = [(a, kind.POSITIONAL_ONLY) for a in args.posonlyargs] + \
                 [(a, kind.POSITIONAL_OR_KEYWORD) for a in args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    listed = [(a, k, d) for (a, k), d in zip(positional, defaults)]
    listed += [(args.vararg, kind.VAR_POSITIONAL, None)] if args.vararg else []
    listed += [(a, kind.KEYWORD_ONLY, d) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    listed += [(args.kwarg, kind.VAR_KEYWORD, None)] if args.kwarg else []
    empty = inspect.Parameter.empty
    return inspect.Signature(
        [kind(a.arg, k, default=empty if d is None else _SourceText(source(d)),
              annotation=empty if a.annotation is None else source(a.annotation))
         for a, k, d in listed],
        return_annotation=empty if function.returns is None else source(function.returns))


def accessor_signature(method, target: str, skip: set[str]) -> inspect.Signature:
    """The method's own parameters, then (if it takes ``**kwargs``) the function's others as
    keywords: what the call accepts, for ``help()`` and the API pages."""
    own = list(inspect.signature(method).parameters.values())
    keywords = own and own[-1].kind is inspect.Parameter.VAR_KEYWORD
    own = own[:-1] if keywords else own
    taken = {p.name for p in own} | skip | {"self"}
    theirs = target_signature(target)
    extra = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind is not p.VAR_KEYWORD else p
             for p in theirs.parameters.values()
             if keywords and p.name not in taken and p.kind is not p.VAR_POSITIONAL]
    return inspect.Signature(own + extra, return_annotation=theirs.return_annotation)


def target_docstring(target: str) -> str:
    """The cleaned docstring of ``"module.path:function"`` or ``"module:Class.method"``.

    ``module.path`` is relative to the package (``"analysis.fisher:local_identifiability"``).
    The text equals ``inspect.getdoc`` of the imported object (a test checks it).

    Raises
    ------
    LookupError
        If the module has no such top-level definition or it has no docstring.
    """
    text, _, quote = _definition(target)
    end = text.index('"""', quote.end()) + 3
    return inspect.cleandoc(ast.literal_eval(text[quote.start():end]))


def split_sections(doc: str) -> tuple[str, dict[str, str]]:
    """A numpydoc docstring as (summary and extended description, {section: body})."""
    lines = doc.splitlines()
    head: list[str] = []
    sections: dict[str, list[str]] = {}
    current = head
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        underline = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if line in SECTIONS and underline and set(underline) == {"-"}:
            current = sections.setdefault(line, [])
            index += 2
            continue
        current.append(lines[index])
        index += 1
    return "\n".join(head).strip(), {k: "\n".join(v).strip("\n") for k, v in sections.items()}


def _entries(body: str) -> list[list[str]]:
    """Parameter-like entries: a line at column 0, then its indented description."""
    entries: list[list[str]] = []
    for line in body.splitlines():
        if line and not line[0].isspace():
            entries.append([line])
        elif entries:
            entries[-1].append(line)
    return entries


def _names(entry: list[str]) -> set[str]:
    return {name.strip() for name in entry[0].split(" : ")[0].split(",")}


def _parameters(body: str, drop: set[str], amend: dict[str, str], add: str,
                more: str = "") -> str:
    kept = []
    for entry in _entries(body):
        if _names(entry) & drop:
            continue
        for name in _names(entry) & set(amend):
            entry = [*entry, *("    " + line for line in amend[name].splitlines())]
        kept.append("\n".join(entry).rstrip())
    return "\n".join(([inspect.cleandoc(add)] if add else []) + kept
                     + ([inspect.cleandoc(more)] if more else []))


def _accessor_calls(example: str, function: str, method: str) -> str:
    """``[module.]function(data, ...)`` -> ``data.differland.method(...)`` in an example."""
    call = re.compile(rf"(?<![\w.])(?:\w+\.)*{function}\((\w+)(, ?|(?=\)))")
    return call.sub(lambda m: f"{m.group(1)}.differland.{method}(", example)


def mirrors(target: str, public: str, *, dataset: str = "ds", drop: tuple[str, ...] = (),
            add: str = "", more: str = "", amend: dict[str, str] | None = None,
            rewrite: dict[str, str] | None = None, **sections: str | tuple[str, ...]):
    """Decorator: give an accessor method the docstring of the function it forwards to.

    Parameters
    ----------
    target : str
        Where the function is defined, ``"module.path:name"`` relative to the package.
    public : str
        The name users call it by, e.g. ``"xdifferland.simulate"`` (the See Also entry).
    dataset : str, default "ds"
        The parameter the accessor fills with its Dataset: dropped from Parameters, and
        ``function(<first argument>, ...)`` calls in the example become
        ``<first argument>.differland.method(...)`` when it is the first parameter.
    drop : tuple of str
        Further parameters the accessor fills itself.
    add, more : str
        Parameter entries of the accessor's own, listed first (``add``) or last (``more``:
        one the function's docstring lacks).
    amend : dict, optional
        Parameter name -> a sentence appended to its entry (what the accessor adds to it).
    rewrite : dict, optional
        Literal replacements in the function's example, instead of the rule above (for a
        method, or a Dataset that is not the first argument).
    **sections : str or tuple of str
        ``Parameters=``, ``Returns=``, ``Raises=``, ...: the body of a section the function's
        docstring lacks (a section the function has is kept). ``Examples=`` is an example of
        the accessor's own and replaces the function's. A tuple is joined (shared entries).
    """

    def decorate(method):
        summary, found = split_sections(target_docstring(target))
        name = method.__name__
        own = {k.replace("_", " "): "\n".join(inspect.cleandoc(part) for part in
                                               ((v,) if isinstance(v, str) else v))
               for k, v in sections.items()}
        body = {**own, **found}
        body["Parameters"] = _parameters(body.get("Parameters", ""),
                                         {dataset, *drop}, amend or {}, add, more)
        body["See Also"] = "\n".join(
            [f"{public} : The same, with the Dataset as an argument.", body.get("See Also", "")]
        ).strip()
        if "Examples" in own:
            body["Examples"] = own["Examples"]
        elif rewrite:
            for old, new in rewrite.items():
                body["Examples"] = body["Examples"].replace(old, new)
        elif "Examples" in body:
            function = target.rpartition(":")[2].rpartition(".")[2]
            body["Examples"] = _accessor_calls(body["Examples"], function, name)
        text = [summary, "", f"This is ``{public}`` applied to the Dataset."]
        for section in SECTIONS:
            if body.get(section):
                text += ["", section, "-" * len(section), body[section]]
        method.__doc__ = "\n".join(text) + "\n"
        method.__signature__ = accessor_signature(method, target, {dataset, *drop})
        method.__mirrors__ = target
        return method

    return decorate


#: A dotted name in the package, as docs and docstrings cite it (``xdifferland.io.to_netcdf``).
CITED_NAME = re.compile(r"(?<![\w./-])xdifferland(?:\.[A-Za-z_]\w*)+(?![\w-])")
#: File names that look like dotted names (``xdifferland.csv``) are not names.
_FILE_SUFFIXES = {"csv", "nc", "json", "toml", "png", "zarr", "py", "md", "npz", "txt", "yaml"}


def resolves(name: str) -> bool:
    """Whether a dotted ``xdifferland....`` name exists: modules imported, attributes looked up.

    A submodule wins over a package attribute of the same name (``xdifferland.engine.step`` is
    the module, although the package also exports its function ``step``), as in documentation
    tools. A dataclass field counts as an attribute of its class.

    Examples
    --------
    >>> resolves("xdifferland.contract.convert.to_canonical_units")
    True
    >>> resolves("xdifferland." + "to_canonical")  # written apart: a test scans docstrings
    False
    """
    import importlib

    parts = name.split(".")
    obj = importlib.import_module(parts[0])
    for depth in range(1, len(parts)):
        if hasattr(obj, "__path__"):  # a package: its submodule, if there is one
            try:
                obj = importlib.import_module(".".join(parts[: depth + 1]))
                continue
            except ModuleNotFoundError as exc:
                if exc.name != ".".join(parts[: depth + 1]):
                    raise
        if hasattr(obj, parts[depth]):
            obj = getattr(obj, parts[depth])
        elif parts[depth] in getattr(obj, "__dataclass_fields__", {}) and depth == len(parts) - 1:
            return True
        else:
            return False
    return True


def missing_names(text: str) -> list[str]:
    """The ``xdifferland.…`` names cited in ``text`` that do not exist, each once, in order."""
    return [name for name in dict.fromkeys(CITED_NAME.findall(text))
            if name.rpartition(".")[2] not in _FILE_SUFFIXES and not resolves(name)]
