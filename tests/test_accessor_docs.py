"""The accessor's docstrings are the forwarded functions' (one source), complete, and every
``xdifferland.…`` name the package's docstrings and the docs cite exists."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from xdifferland import _docstrings
from xdifferland.accessor import DifferLandAccessor

ROOT = Path(__file__).resolve().parents[1]
METHODS = sorted(name for name, member in vars(DifferLandAccessor).items()
                 if inspect.isfunction(member) and not name.startswith("_"))
#: Methods that raise nothing of their own (default_parameters only reads the Dataset's dims).
RAISES_NOTHING = {"default_parameters"}
MIRRORED = [name for name in METHODS if hasattr(getattr(DifferLandAccessor, name), "__mirrors__")]


def _target(method: str):
    module, qualname = getattr(DifferLandAccessor, method).__mirrors__.split(":")
    obj = importlib.import_module(f"xdifferland.{module}")
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _sections(method: str) -> dict[str, str]:
    return _docstrings.split_sections(inspect.getdoc(getattr(DifferLandAccessor, method)))[1]


def _documented(body: str) -> set[str]:
    return {name.strip().lstrip("*") for entry in _docstrings._entries(body)
            for name in entry[0].split(" : ")[0].split(",")}


def test_every_method_but_canonical_mirrors_a_function():
    assert len(METHODS) == 13
    assert sorted(set(METHODS) - set(MIRRORED)) == ["canonical"]


@pytest.mark.parametrize("method", METHODS)
def test_accessor_docstring_is_complete_and_calls_the_accessor(method):
    sections = _sections(method)
    required = ("Parameters", "Returns", "See Also", "Examples")
    for name in required + (() if method in RAISES_NOTHING else ("Raises",)):
        assert sections.get(name, "").strip(), f"{method}: no {name} section"
    assert f".differland.{method}(" in sections["Examples"]
    assert not {"ds", "dataset"} & _documented(sections["Parameters"])


@pytest.mark.parametrize("method", MIRRORED)
def test_docstring_read_from_source_is_the_functions(method):
    target = _target(method)
    spec = getattr(DifferLandAccessor, method).__mirrors__
    assert _docstrings.target_docstring(spec) == inspect.getdoc(target)
    # the function's prose is the accessor's, not a copy kept by hand
    summary = _docstrings.split_sections(inspect.getdoc(target))[0]
    assert inspect.getdoc(getattr(DifferLandAccessor, method)).startswith(summary)


@pytest.mark.parametrize("method", MIRRORED)
def test_signature_read_from_source_is_the_functions(method):
    spec = getattr(DifferLandAccessor, method).__mirrors__
    read = _docstrings.target_signature(spec).parameters.values()
    real = inspect.signature(_target(method)).parameters.values()
    assert [(p.name, p.kind, p.annotation) for p in read] == \
        [(p.name, p.kind, p.annotation) for p in real]
    for source, value in zip(read, real):
        if source.default is not source.empty and source.default != "None":
            try:
                assert ast.literal_eval(source.default) == value.default, source.name
            except ValueError:  # a name, not a literal
                assert source.default.split(".")[-1] in repr(value.default), source.name


@pytest.mark.parametrize("method", MIRRORED)
def test_documented_parameters_are_those_the_call_accepts(method):
    signature = inspect.signature(getattr(DifferLandAccessor, method))
    names = {p.name for p in signature.parameters.values()} - {"self"}
    documented = _documented(_sections(method)["Parameters"])
    assert documented <= names
    # every parameter but **kwargs is documented
    assert {p.name for p in signature.parameters.values()
            if p.kind is not p.VAR_KEYWORD} - {"self"} <= documented


def test_target_docstring_names_a_missing_definition():
    with pytest.raises(LookupError, match="no 'def not_here'"):
        _docstrings.target_docstring("simulation:not_here")


def test_split_sections_and_call_rewrite():
    summary, sections = _docstrings.split_sections(
        "Sum.\n\nLonger.\n\nParameters\n----------\nds : Dataset\n    Data.\n"
        "k : int\n    Count.\n\nExamples\n--------\n>>> xdifferland.total(ds, k=2)\n")
    assert summary == "Sum.\n\nLonger."
    assert list(sections) == ["Parameters", "Examples"]
    assert _docstrings._parameters(sections["Parameters"], {"ds"}, {}, "") == "k : int\n    Count."
    assert (_docstrings._accessor_calls(sections["Examples"], "total", "total")
            == ">>> ds.differland.total(k=2)")


@pytest.mark.parametrize("name, exists", [
    ("xdifferland.simulate", True),
    ("xdifferland.engine.step.integer_power", True),   # the module, not the exported function
    ("xdifferland.FitConfig.loss_weights", True),       # a dataclass field
    ("xdifferland.contract.declare.VARIABLES", True),
    ("xdifferland." + "to_canonical", False),
    ("xdifferland.engine." + "no_module.f", False),
])
def test_resolves(name, exists):
    assert _docstrings.resolves(name) is exists


def test_missing_names_skips_file_names_and_reports_each_once():
    text = ("`xdifferland.csv`, `xdifferland.simulate(ds)`, xdifferland." + "nope and "
            "xdifferland." + "nope again")
    assert _docstrings.missing_names(text) == ["xdifferland." + "nope"]


def _files(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in ROOT.glob(pattern))


@pytest.mark.parametrize("path", _files("xdifferland/**/*.py"), ids=lambda p: str(p.relative_to(ROOT)))
def test_package_cites_no_missing_name(path):
    assert _docstrings.missing_names(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", _files("docs/**/*.md", "README.md"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_cite_no_missing_name(path):
    assert _docstrings.missing_names(path.read_text(encoding="utf-8")) == []
