"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, *, mode: int = 0o644, fsync: bool = False) -> Path:
    """Write ``data`` to a temporary sibling and rename it over ``path`` (the temp file is removed on failure);
    with ``fsync`` the bytes are on disk before the rename (files other state depends on, e.g. manifests)."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def written_over(path: Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary sibling of ``path`` (``<name><suffix>``) for a block to write: renamed over ``path`` when the
    block ends, removed when it raises. A block that writes nothing (it found it had nothing to write) leaves
    ``path`` as it was; a leftover of an earlier run that crashed is removed first, so it is never renamed over."""
    tmp = Path(path).with_name(Path(path).name + suffix)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if tmp.exists():
        os.replace(tmp, path)
