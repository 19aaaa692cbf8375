"""The tutorial machinery: a script is split into cells, run cell by cell with its output and
figures recorded, and the docs hook renders a record or refuses a missing or stale one. The
committed records must belong to the committed scripts (CI reruns the tutorials themselves)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load(ROOT / "tutorials" / "run.py")
hook = _load(ROOT / "docs" / "tutorial_hook.py")

TOY = """\
# %% [markdown]
# # A toy
# Some *prose*.

# %%
import argparse
from pathlib import Path
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--out", type=Path)
args = parser.parse_args()
total = 40 + 2

# %%
print("total", total, "quick" if args.quick else "full")
(args.out / "figure.png").write_bytes(b"not really a PNG")
__import__("warnings").warn("mind the units")
"""


@pytest.fixture
def toy(tmp_path):
    """A tutorial folder holding the toy script; returns (scripts, records)."""
    scripts, records = tmp_path / "tutorials", tmp_path / "output"
    scripts.mkdir()
    (scripts / "toy.py").write_text(TOY)
    return scripts, records


def test_cells_are_split_at_percent_markers_with_their_first_line():
    cells = runner.split_cells(TOY)
    assert [c["kind"] for c in cells] == ["markdown", "code", "code"]
    assert cells[0]["source"] == "# A toy\nSome *prose*."
    assert cells[1]["line"] == 6 and cells[1]["source"].startswith("import argparse")
    assert cells[2]["line"] == 15 and cells[2]["source"].startswith('print("total"')


@pytest.mark.parametrize("quick, mode", [(True, "quick"), (False, "full")])
def test_a_run_records_each_cells_output_and_figures(toy, quick, mode):
    scripts, records = toy
    record = runner.run_tutorial(scripts / "toy.py", records, quick)
    code = [c for c in record["cells"] if c["kind"] == "code"]
    assert code[0]["output"] == "" and code[0]["figures"] == []
    assert code[1]["output"] == f"total 42 {mode}\nUserWarning: mind the units\n"
    assert code[1]["figures"] == ["toy/figure.png"]
    assert record["mode"] == mode and record["cores"] >= 1 and record["seconds"] >= 0
    (records / "toy.json").write_text(json.dumps(record))
    page = hook.render(hook.load_record("toy", scripts, records))
    assert "Some *prose*." in page and "total 42" in page
    assert "![figure](output/toy/figure.png)" in page
    assert f"{mode} mode" in page


def test_a_failing_cell_raises_at_the_scripts_own_line(toy):
    scripts, records = toy
    (scripts / "toy.py").write_text(TOY + "\n# %%\nraise RuntimeError('broken step')\n")
    with pytest.raises(RuntimeError, match="broken step") as caught:
        runner.run_tutorial(scripts / "toy.py", records, True)
    assert caught.traceback[-1].lineno + 1 == 20  # the raise; pytest counts lines from 0


def test_the_hook_refuses_a_missing_or_stale_record(toy):
    scripts, records = toy
    with pytest.raises(ValueError, match="has no recorded run"):
        hook.load_record("toy", scripts, records)
    records.mkdir()
    (records / "toy.json").write_text(json.dumps(runner.run_tutorial(scripts / "toy.py",
                                                                     records, True)))
    assert hook.load_record("toy", scripts, records)["name"] == "toy"
    (scripts / "toy.py").write_text(TOY.replace("40 + 2", "41 + 2"))
    with pytest.raises(ValueError, match="changed since its run was recorded"):
        hook.load_record("toy", scripts, records)
    with pytest.raises(ValueError, match="no script"):
        hook.load_record("absent", scripts, records)


@pytest.mark.parametrize("name", runner.TUTORIALS)
def test_each_committed_record_belongs_to_its_script(name):
    record = hook.load_record(name)
    assert record["mode"] == "quick" and record["cells"]
    for cell in record["cells"]:
        for figure in cell.get("figures", []):
            assert (hook.RECORDS / figure).is_file(), figure
