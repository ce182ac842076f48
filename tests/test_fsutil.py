"""Atomic writes: a reader sees the old file or the new one; a failed or empty write leaves the old one."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncaudit.fsutil import atomic_write, written_over


def test_atomic_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old", encoding="utf-8")
    atomic_write(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_written_over_renames_what_the_block_wrote(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")
    with written_over(target) as tmp:
        assert tmp == tmp_path / "out.jsonl.tmp"
        tmp.write_text("new\n", encoding="utf-8")
        assert target.read_text(encoding="utf-8") == "old\n"  # not before the block ends
    assert target.read_text(encoding="utf-8") == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_written_over_keeps_the_old_file_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(RuntimeError), written_over(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("the masking failed")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_block_that_writes_nothing_never_renames_a_leftover(tmp_path: Path) -> None:
    """A crashed run's ``.tmp`` (half a file) is removed on entry: a block that then decides to write nothing
    (a reuse that found no twin) must not put that leftover in place of the file."""
    target = tmp_path / "out.parquet"
    (tmp_path / "out.parquet.tmp").write_text("half of an earlier run", encoding="utf-8")
    with written_over(target):
        pass
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
