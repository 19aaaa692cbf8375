"""write_text_atomic: all or nothing, no temporary files left behind."""

from __future__ import annotations

import pytest

from xdifferland.io import write_text_atomic


def test_writes_and_replaces(tmp_path):
    target = tmp_path / "metrics.json"
    assert write_text_atomic(target, "one\n") == target
    write_text_atomic(target, "two — ü\n")
    assert target.read_text(encoding="utf-8") == "two — ü\n"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "config.toml"
    target.write_text("kept\n")
    with pytest.raises(TypeError):
        write_text_atomic(target, b"not text")  # fails while writing the temporary file
    assert target.read_text() == "kept\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]
