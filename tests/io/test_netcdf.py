"""Atomic NetCDF / Zarr writers: round trips, refusal to overwrite, no partial results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from xdifferland.io import (
    decode_attrs,
    encode_attrs,
    open_cardamom_sites,
    open_netcdf,
    open_zarr,
    to_netcdf,
    to_zarr,
)

FLUXNET = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fluxnet_sites"

FORMATS = {
    "netcdf": (to_netcdf, open_netcdf, "out.nc"),
    "zarr": (to_zarr, open_zarr, "out.zarr"),
}


def _awkward() -> xr.Dataset:
    """A Dataset with everything NetCDF cannot store as attributes, and a 2-D date coordinate."""
    dates = np.array(["2001-01-01", "2001-01-02", "NaT"], dtype="datetime64[ns]")
    return xr.Dataset(
        {
            "gpp": (("time", "site"), np.arange(6.0).reshape(3, 2),
                    {"units": "g/m**2/day", "checked": True, "note": None,
                     "limits": {"lo": 0, "hi": [1.5, None]}, "mixed": [1, "a"]}),
            "lai": (("time", "site"), np.ones((3, 2), dtype="float32"), {"units": "m**2/m**2"}),
        },
        coords={
            "time": ("time", np.arange(3), {"long_name": "time step index"}),
            "site": ("site", np.array(["US-Ha1", "AU-Dry"]), {"flag": np.bool_(False)}),
            "igbp": ("site", np.array(["DBF", "SAV"])),
            "date": (("time", "site"), np.stack([dates, dates], axis=1)),
        },
        attrs={"trained": False, "config": {"lr": 1e-3, "layers": [32, 32], "x64": True},
               "seed": np.int64(7), "empty": [], "title": "xdifferland test", "vec": [1.0, 2.0]},
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_awkward_attrs(tmp_path, fmt):
    write, read, name = FORMATS[fmt]
    ds = _awkward()
    assert write(ds, tmp_path / name) == tmp_path / name
    with read(tmp_path / name) as back:
        xr.testing.assert_identical(back.load(), ds)
        assert back.attrs["trained"] is False and back.gpp.attrs["note"] is None


@pytest.mark.shared
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("align", ["step", "calendar"])
def test_round_trip_site_data(tmp_path, fmt, align):
    write, read, name = FORMATS[fmt]
    ds = open_cardamom_sites(FLUXNET, sites=["US-Ha1", "AU-Dry"], align=align)
    write(ds, tmp_path / name)
    with read(tmp_path / name) as back:
        xr.testing.assert_identical(back.load(), ds)


def test_netcdf_to_zarr_and_back(tmp_path):
    # Encodings picked up from one format must not break writing the other.
    to_netcdf(_awkward(), tmp_path / "a.nc")
    with open_netcdf(tmp_path / "a.nc") as first:
        to_zarr(first, tmp_path / "b.zarr")
    with open_zarr(tmp_path / "b.zarr") as second:
        to_netcdf(second, tmp_path / "c.nc")
    with open_netcdf(tmp_path / "c.nc") as third:
        xr.testing.assert_identical(third.load(), _awkward())


def test_encoding_leaves_input_alone():
    ds = _awkward()
    encoded = encode_attrs(ds)
    assert ds.attrs["config"] == {"lr": 1e-3, "layers": [32, 32], "x64": True}
    assert ds.gpp.attrs["checked"] is True
    assert isinstance(encoded.attrs["config"], str)
    xr.testing.assert_identical(decode_attrs(encoded), ds)


def test_unstorable_attribute(tmp_path):
    ds = xr.Dataset({"x": ("t", [1.0], {"bad": object()})})
    with pytest.raises(TypeError, match="'bad' of variable 'x'"):
        to_netcdf(ds, tmp_path / "x.nc")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_refuses_to_overwrite(tmp_path, fmt):
    write, read, name = FORMATS[fmt]
    target = tmp_path / name
    first = xr.Dataset({"x": ("t", [1.0, 2.0])})
    second = xr.Dataset({"x": ("t", [3.0, 4.0, 5.0])})
    write(first, target)
    with pytest.raises(FileExistsError, match=r"out\.(nc|zarr).*overwrite=True"):
        write(second, target)
    with read(target) as back:
        xr.testing.assert_identical(back.load(), first)
    write(second, target, overwrite=True)
    with read(target) as back:
        xr.testing.assert_identical(back.load(), second)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporaries left


@pytest.mark.parametrize("fmt", FORMATS)
def test_mode_is_not_accepted(tmp_path, fmt):
    write, _, name = FORMATS[fmt]
    with pytest.raises(TypeError, match="overwrite=True"):
        write(xr.Dataset(), tmp_path / name, mode="a")


def _fail_midway(fmt):
    """A replacement for Dataset.to_netcdf / to_zarr that writes part of the output, then dies."""
    def to_netcdf(self, path, *args, **kwargs):
        Path(path).write_bytes(b"\x89HDF\r\n partial")
        raise OSError("disk full")

    def to_zarr(self, store, *args, **kwargs):
        (Path(store) / "zarr.json").write_text("{")
        raise OSError("disk full")

    return to_netcdf if fmt == "netcdf" else to_zarr


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_write_leaves_nothing(tmp_path, fmt, monkeypatch):
    write, _, name = FORMATS[fmt]
    monkeypatch.setattr(xr.Dataset, f"to_{fmt}", _fail_midway(fmt))
    with pytest.raises(OSError, match="disk full"):
        write(xr.Dataset({"x": ("t", [1.0])}), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_overwrite_keeps_old_result(tmp_path, fmt, monkeypatch):
    write, read, name = FORMATS[fmt]
    old = xr.Dataset({"x": ("t", [1.0, 2.0])}, attrs={"run": 1})
    write(old, tmp_path / name)
    monkeypatch.setattr(xr.Dataset, f"to_{fmt}", _fail_midway(fmt))
    with pytest.raises(OSError, match="disk full"):
        write(xr.Dataset({"x": ("t", [9.0])}), tmp_path / name, overwrite=True)
    monkeypatch.undo()
    with read(tmp_path / name) as back:
        xr.testing.assert_identical(back.load(), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_zarr_failed_swap_restores_old_store(tmp_path, monkeypatch):
    # The last rename (new store into place) fails: the old store must come back.
    import os

    old = xr.Dataset({"x": ("t", [1.0])})
    to_zarr(old, tmp_path / "out.zarr")
    real_replace = os.replace

    def flaky_replace(src, dst):
        if Path(src).name.endswith(".tmp") and Path(dst).name == "out.zarr":
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="rename failed"):
        to_zarr(xr.Dataset({"x": ("t", [2.0])}), tmp_path / "out.zarr", overwrite=True)
    monkeypatch.undo()
    with open_zarr(tmp_path / "out.zarr") as back:
        xr.testing.assert_identical(back.load(), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_results_follow_the_umask(tmp_path, fmt, umask):
    write, _, name = FORMATS[fmt]
    write(xr.Dataset({"x": ("t", [1.0, 2.0])}), tmp_path / name)
    umask.check(tmp_path / name)  # a store: the folder, its groups and chunks
    write(xr.Dataset({"x": ("t", [3.0])}), tmp_path / name, overwrite=True)
    umask.check(tmp_path / name)


@pytest.mark.parametrize("fmt", FORMATS)
def test_orphans_of_a_killed_write_go_with_the_next_write(tmp_path, fmt):
    write, _, name = FORMATS[fmt]
    orphan_file = tmp_path / f".{name}.k1ll3d_9.tmp"
    orphan_file.write_bytes(b"")  # what kill -9 during a write leaves
    orphan_store = tmp_path / f".{name}.k1ll3d_8.tmp"
    orphan_store.mkdir()
    other = tmp_path / ".other.nc.k1ll3d_9.tmp"
    other.write_bytes(b"")
    write(xr.Dataset({"x": ("t", [1.0])}), tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, name]


# --- what is not a NetCDF file or a Zarr store: DataError naming the path and the fix -----------


def _truncated(path: Path) -> None:
    """A NetCDF-4 file cut short, as an interrupted download leaves it."""
    xr.Dataset({"gpp": ("time", np.arange(1000.0))}).to_netcdf(path)
    path.write_bytes(path.read_bytes()[:600])


@pytest.mark.parametrize("make, reader, text", [
    (lambda p: p.with_suffix(".nc").write_text("site,gpp\nUS-Ha1,3.2\n"), open_netcdf,
     "cannot be read as a NetCDF file"),
    (lambda p: _truncated(p.with_suffix(".nc")), open_netcdf, "cannot be read as a NetCDF file"),
    (lambda p: p.with_suffix(".zarr").mkdir(), open_zarr, "cannot be read as a Zarr store"),
    (lambda p: p.with_suffix(".zarr").write_text("not a store"), open_zarr,
     "cannot be read as a Zarr store"),
], ids=["text-as-netcdf", "truncated-netcdf", "empty-zarr", "file-as-zarr"])
def test_unreadable_inputs_are_data_errors(tmp_path, make, reader, text):
    from xdifferland.errors import DataError

    make(tmp_path / "input")
    path = next(tmp_path.iterdir())
    with pytest.raises(DataError) as info:
        reader(path)
    problem = info.value.problems[0]
    assert problem.variable == str(path) and text in problem.message and problem.fix


def test_corrupt_json_attributes_are_a_data_error(tmp_path):
    from xdifferland.errors import DataError

    xr.Dataset(attrs={"config": "{not json", "xdifferland_json_attrs": '["config"]'}).to_netcdf(
        tmp_path / "bad.nc")
    with pytest.raises(DataError, match="corrupt JSON-encoded attributes"):
        open_netcdf(tmp_path / "bad.nc")


# --- netCDF-3 files cut short: their libraries read the missing values as zeros -------------


@pytest.mark.parametrize("fmt, engine, unlimited", [
    ("NETCDF3_CLASSIC", "netcdf4", ()), ("NETCDF3_64BIT", "scipy", ()),
    ("NETCDF3_64BIT_DATA", "netcdf4", ()), ("NETCDF3_CLASSIC", "netcdf4", ("time",)),
], ids=["classic", "64bit-offset", "cdf5", "record-variables"])
def test_truncated_netcdf3_is_refused(tmp_path, fmt, engine, unlimited):
    from xdifferland.errors import DataError
    from xdifferland.io.detect import classic_truncation

    ds = xr.Dataset({"gpp": (("time", "site"), np.arange(40.0).reshape(20, 2)),
                     "lai": ("time", np.arange(20, dtype="int16"))},
                    coords={"time": np.arange(20)})
    full = tmp_path / "full.nc"
    ds.to_netcdf(full, format=fmt, engine=engine, unlimited_dims=list(unlimited))
    assert classic_truncation(full) is None
    data = full.read_bytes()
    for keep in (len(data) - 2, len(data) // 2, 30):
        cut = tmp_path / f"cut{keep}.nc"
        cut.write_bytes(data[:keep])
        assert "is truncated" in classic_truncation(cut)
        with pytest.raises(DataError) as info:
            open_netcdf(cut)
        problem = info.value.problems[0]
        assert problem.variable == str(cut) and "truncated" in problem.message and problem.fix


def test_netcdf4_files_are_left_to_their_library(tmp_path):
    from xdifferland.io.detect import classic_truncation

    xr.Dataset({"gpp": ("time", np.arange(10.0))}).to_netcdf(tmp_path / "a.nc", format="NETCDF4")
    assert classic_truncation(tmp_path / "a.nc") is None


def test_the_command_line_reader_refuses_a_truncated_netcdf3_file(tmp_path):
    from xdifferland.cli_data import DataArgumentError, open_resolved, resolve_data
    from xdifferland.errors import FileFormatError

    path = tmp_path / "cut.nc"
    xr.Dataset({"gpp": ("time", np.arange(100.0))}).to_netcdf(path, format="NETCDF3_CLASSIC")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataArgumentError, match=r"cut\.nc is truncated"):
        resolve_data([str(path)])  # detected from the content
    with pytest.raises(FileFormatError, match=r"cut\.nc: is truncated"):
        open_resolved(resolve_data([str(path)], "netcdf"))  # format given: no detection
