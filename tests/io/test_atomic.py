"""io.atomic: permissions from the umask, all-or-nothing writes, orphans of killed writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xdifferland.io.atomic as atomic
from xdifferland.io import write_text_atomic
from xdifferland.io.atomic import atomic_open, atomic_path, remove_orphans
from xdifferland.training.checkpoint import read_arrays, write_arrays


def test_files_and_folders_follow_the_umask(tmp_path, umask):
    with atomic_open(tmp_path / "data.bin") as handle:
        handle.write(b"\x00\x01")
    write_text_atomic(tmp_path / "notes.txt", "shared\n")
    write_arrays(tmp_path / "sub" / "model.npz", {"w": np.ones(3)}, {"kind": "model"})
    with atomic_path(tmp_path / "store", directory=True) as tmp:
        (tmp / "group").mkdir()
        (tmp / "group" / "chunk").write_bytes(b"1")
    umask.check(tmp_path / "data.bin", tmp_path / "notes.txt", tmp_path / "sub",
                tmp_path / "store")
    assert (tmp_path / "data.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", "notes.txt", "store", "sub"]


def test_replacing_takes_the_umask_not_the_old_mode(tmp_path, umask):
    target = tmp_path / "config.toml"
    target.write_text("old\n")
    target.chmod(0o600)
    write_text_atomic(target, "new\n")
    umask.check(target)


def test_overwrite_false_refuses(tmp_path):
    target = tmp_path / "a.txt"
    write_text_atomic(target, "one\n", overwrite=False)
    with pytest.raises(FileExistsError, match="a.txt exists; pass overwrite=True"):
        write_text_atomic(target, "two\n", overwrite=False)
    assert target.read_text() == "one\n"


def test_target_created_meanwhile_is_not_replaced(tmp_path):
    target = tmp_path / "a.txt"
    with pytest.raises(FileExistsError):
        with atomic_open(target, "w", overwrite=False) as handle:
            handle.write("mine\n")
            target.write_text("theirs\n")  # another process, while we write
    assert target.read_text() == "theirs\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.parametrize("directory", [False, True], ids=["file", "folder"])
def test_an_interrupted_write_keeps_the_old_target(tmp_path, directory):
    target = tmp_path / "result"
    if directory:
        target.mkdir()
        (target / "old").write_text("old")
    else:
        target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target, directory=directory) as tmp:
            (tmp / "new" if directory else tmp).write_text("half")
            raise KeyboardInterrupt
    assert (target / "old" if directory else target).read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result"]


def test_a_replaced_folder_is_gone_afterwards(tmp_path):
    target = tmp_path / "out.zarr"
    for content in ("one", "two"):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "zarr.json").write_text(content)
    assert (target / "zarr.json").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def _orphans(folder: Path) -> dict[str, Path]:
    made = {
        "file": folder / ".model.npz.a1b2_c3d.tmp",           # a killed file writer
        "folder": folder / ".model.npz.zz99zz99.tmp",         # ... of a store
        "aside": folder / ".model.npz.oldoldol.old",          # a store moved aside
    }
    made["file"].write_bytes(b"")
    made["folder"].mkdir()
    (made["folder"] / "chunk").write_bytes(b"1")
    made["aside"].mkdir()
    return made


def _strangers(folder: Path) -> list[Path]:
    """Names close to the pattern that belong to other targets or to the user."""
    names = [".model.npz.short.tmp", ".model.npz.toolong12.tmp", ".model.npz.ABCDEFGH.tmp",
             ".other.npz.a1b2c3d4.tmp", "model.npz.a1b2c3d4.tmp", ".model.npz.a1b2c3d4.tmp.bak",
             ".model.npzz.a1b2c3d4.tmp", ".xmodel.npz.a1b2c3d4.tmp"]
    for name in names:
        (folder / name).write_text("keep")
    return [folder / name for name in names]


def test_orphans_of_the_target_are_removed_on_its_next_write(tmp_path):
    made = _orphans(tmp_path)
    strangers = _strangers(tmp_path)
    (tmp_path / "model.npz").write_bytes(b"previous")
    write_arrays(tmp_path / "model.npz", {"w": np.zeros(2)}, {"kind": "model"}, overwrite=True)
    assert not any(p.exists() for p in made.values())
    assert all(p.read_text() == "keep" for p in strangers)
    arrays, meta = read_arrays(tmp_path / "model.npz")
    assert meta["kind"] == "model" and arrays["w"].tolist() == [0.0, 0.0]


def test_a_missing_target_comes_back_from_the_folder_moved_aside(tmp_path):
    # Killed between moving the old store aside and renaming the new one in: the aside is the
    # only copy of the old store, so it is put back, not deleted.
    older = tmp_path / ".out.zarr.aaaaaaaa.old"
    newer = tmp_path / ".out.zarr.bbbbbbbb.old"
    for path, content in ((older, "older"), (newer, "newer")):
        path.mkdir()
        (path / "zarr.json").write_text(content)
    os.utime(older, (1_000_000, 1_000_000))
    removed = remove_orphans(tmp_path / "out.zarr")
    assert removed == [older]
    assert (tmp_path / "out.zarr" / "zarr.json").read_text() == "newer"
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def test_remove_orphans_of_a_missing_folder(tmp_path):
    assert remove_orphans(tmp_path / "nowhere" / "model.npz") == []


def test_a_killed_writer_leaves_an_orphan_the_next_write_removes(tmp_path):
    """``kill -9`` during a write: the target is untouched and the temporary goes next time."""
    if os.name != "posix":
        pytest.skip("SIGKILL")
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"epoch 1")
    # Load the module by file, not the package: the child needs no JAX to die mid-write.
    script = (
        "import importlib.util, os, signal, sys\n"
        f"spec = importlib.util.spec_from_file_location('atomic', {atomic.__file__!r})\n"
        "atomic = importlib.util.module_from_spec(spec); spec.loader.exec_module(atomic)\n"
        f"with atomic.atomic_open({str(target)!r}) as handle:\n"
        "    handle.write(b'epoch 2, half')\n"
        "    handle.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert target.read_bytes() == b"epoch 1"
    orphans = [p for p in tmp_path.iterdir() if p != target]
    assert len(orphans) == 1 and orphans[0].name.startswith(".checkpoint.npz.")
    assert orphans[0].name.endswith(".tmp")
    write_arrays(target, {"w": np.ones(1)}, {"kind": "checkpoint"}, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]


def test_folder_fsync_refused_is_not_an_error(tmp_path, monkeypatch):
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to tell folder descriptors")
    real_fsync = os.fsync

    refused = []

    def fsync(fd):
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            refused.append(fd)
            raise OSError(22, "Invalid argument")  # as some network filesystems answer
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_text_atomic(tmp_path / "a.txt", "ok\n")
    assert (tmp_path / "a.txt").read_text() == "ok\n" and refused


def test_mode_is_checked(tmp_path):
    with pytest.raises(ValueError, match="'a'"):
        with atomic_open(tmp_path / "a.txt", "a"):
            pass
