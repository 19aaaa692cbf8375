"""MkDocs hook: a tutorial page shows the recorded run of its script, step by step.

A page asks for a tutorial with a marker on a line of its own, ``<!-- tutorial: NAME -->``;
:func:`on_page_markdown` replaces it with the record ``docs/tutorials/output/NAME.json`` that
``python tutorials/run.py NAME`` wrote: the runtime line, then every cell of
``tutorials/NAME.py`` in order, prose as prose, code as a code block followed by what it printed
and the figures it saved. ``<!-- tutorial-runtimes -->`` becomes a table of every recorded
tutorial with its mode and runtime.

The build fails (with the command that fixes it) when a record is missing, when the script has
changed since its record was written (the record keeps the script's SHA-256), or on an unknown
name. CI runs the tutorials before it builds the docs, so the published pages show what the
current code prints.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tutorials"
RECORDS = ROOT / "docs" / "tutorials" / "output"

_MARKER = re.compile(r"^<!--[ \t]*tutorial:[ \t]*([\w-]+)[ \t]*-->[ \t]*$", re.MULTILINE)
_TABLE = re.compile(r"^<!--[ \t]*tutorial-runtimes[ \t]*-->[ \t]*$", re.MULTILINE)
#: Titles of the tutorial pages, by script name (the runtime table links them).
PAGES = {"own_files": ("From your own NetCDF files", "own-files.md"),
         "fluxnet_sites": ("FLUXNET/CARDAMOM sites", "fluxnet-sites.md"),
         "paper_analysis": ("The paper's analysis on a fitted ensemble", "paper-analysis.md"),
         "reproduce_paper": ("Reproducing the paper's run", "reproduce-paper.md")}


def load_record(name: str, scripts: Path = SCRIPTS, records: Path = RECORDS) -> dict:
    """The record of tutorial ``name``, checked against its script."""
    script, path = scripts / f"{name}.py", records / f"{name}.json"
    rerun = f"run `python tutorials/run.py {name} --quick` and commit {path}"
    if not script.exists():
        raise ValueError(f"tutorial {name!r}: no script {script}; known: "
                         f"{', '.join(sorted(p.stem for p in scripts.glob('*.py')))}")
    if not path.exists():
        raise ValueError(f"tutorial {name!r} has no recorded run: {rerun}")
    record = json.loads(path.read_text(encoding="utf-8"))
    digest = hashlib.sha256(script.read_bytes()).hexdigest()
    if record.get("sha256") != digest:
        raise ValueError(f"tutorials/{name}.py changed since its run was recorded: {rerun}")
    return record


def _fence(text: str, language: str = "") -> str:
    """A fenced block that no backtick run inside ``text`` can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


def runtime_line(record: dict) -> str:
    """How long the recorded run took, where and with what."""
    minutes = f" ({record['seconds'] / 60:.1f} min)" if record["seconds"] >= 90 else ""
    command = " ".join(["python", record["script"]]
                       + (["--quick"] if record["mode"] == "quick" else []))
    return (f"**Runtime:** {record['seconds']} s{minutes} on {record['cores']} CPU cores, "
            f"{record['mode']} mode (`{command}`), measured {record['date']} with "
            f"xdifferland {record['version']}.")


def render(record: dict) -> str:
    """The page body of one recorded tutorial."""
    parts = [f"!!! info \"Recorded run\"\n    {runtime_line(record)} The code and output "
             f"below are that run's; the script is `{record['script']}`."]
    for cell in record["cells"]:
        if cell["kind"] == "markdown":
            parts.append(cell["source"])
            continue
        parts.append(_fence(cell["source"], "python"))
        if cell["output"].strip():
            parts.append(_fence(cell["output"], "text"))
        parts += [f"![{Path(f).stem.replace('_', ' ')}](output/{f})" for f in cell["figures"]]
    return "\n\n".join(parts)


def runtimes_table() -> str:
    """Every tutorial with its recorded mode and runtime."""
    rows = ["| tutorial | script | mode | runtime | cores | measured |",
            "|---|---|---|---|---|---|"]
    for name, (title, page) in PAGES.items():
        record = load_record(name)
        rows.append(f"| [{title}]({page}) | `{record['script']}` | {record['mode']} | "
                    f"{record['seconds']} s | {record['cores']} | {record['date']}, "
                    f"{record['version']} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page=None, **kwargs) -> str:
    """Replace the tutorial markers of a page."""
    markdown = _TABLE.sub(lambda _: runtimes_table(), markdown)
    return _MARKER.sub(lambda match: render(load_record(match.group(1))), markdown)
