"""The file cases of ``bad_inputs.py``: unreadable files, and each reader a user calls."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

from _bad_input_changes import relabel, world


def _write_world(path: Path) -> Path:
    from xdifferland.io import to_netcdf

    return to_netcdf(world(), path)


def text_file(tmp: Path) -> Path:
    path = tmp / "notes.nc"
    path.write_text("time,t_min,t_max\n2001-01-15,20.1,30.2\n")
    return path


def html_page(tmp: Path) -> Path:
    path = tmp / "download.nc"
    path.write_text("<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n")
    return path


def empty_file(tmp: Path) -> Path:
    path = tmp / "empty.nc"
    path.write_bytes(b"")
    return path


def truncated_file(tmp: Path) -> Path:
    full = _write_world(tmp / "full.nc")
    path = tmp / "truncated.nc"
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_classic_file(tmp: Path) -> Path:
    """A netCDF-3 (64-bit offset) file cut short: its libraries read the rest as zeros."""
    from xdifferland.io import to_netcdf

    full = to_netcdf(world(), tmp / "full3.nc", format="NETCDF3_64BIT", engine="scipy")
    path = tmp / "truncated3.nc"
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.95)])
    return path


def empty_zarr(tmp: Path) -> Path:
    path = tmp / "empty.zarr"
    path.mkdir()
    return path


def kelvin_file(tmp: Path) -> Path:
    from xdifferland.io import to_netcdf

    return to_netcdf(relabel("t_min", offset=273.15)(world()), tmp / "kelvin.nc")


def read_netcdf(make: Callable[[Path], Path]):
    """Open what ``make(tmp)`` writes with :func:`xdifferland.io.open_netcdf`, then validate."""
    def action(tmp: Path):
        from xdifferland.io import open_netcdf

        with open_netcdf(make(tmp)) as ds:
            return ds.differland.validate()
    return action


def read_zarr(make: Callable[[Path], Path]):
    def action(tmp: Path):
        from xdifferland.io import open_zarr

        with open_zarr(make(tmp)) as ds:
            return ds.differland.validate()
    return action


def read_cli(make: Callable[[Path], Path], fmt: str = "auto"):
    """The command line's reader: ``resolve_data`` (format detection unless ``fmt`` says) and
    ``open_resolved``."""
    def action(tmp: Path):
        from xdifferland.cli_data import open_resolved, resolve_data

        ds = open_resolved(resolve_data([str(make(tmp))], fmt))
        try:
            return ds.differland.validate()
        finally:
            ds.close()
    return action


class CommandRefused(Exception):
    """``xdifferland validate`` exited non-zero; ``text`` is what it printed."""

    def __init__(self, text: str, unexpected: bool):
        super().__init__(text)
        self.text, self.unexpected = text, unexpected


def run_cli(make: Callable[[Path], Path]):
    """``xdifferland validate PATH`` through ``xdifferland.cli.main``, output captured."""
    def action(tmp: Path):
        import logging

        from xdifferland.cli import main

        out, err = io.StringIO(), io.StringIO()
        root = logging.getLogger()
        handlers = list(root.handlers)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(["validate", str(make(tmp))])
        finally:
            for h in root.handlers[:]:  # the command line adds its own handler
                if h not in handlers:
                    root.removeHandler(h)
        text = out.getvalue() + err.getvalue()
        if code != 0:
            raise CommandRefused(text, "unexpected error" in text)
        return None
    return action
