"""truth.json written a partition at a time, and the partitions' load folders appended into one.

truth.json keeps its shape (``generator``, ``counts``, ``summary``, then ``findings``), so its readers are
unchanged; a large one is written without holding the findings in memory (one line per finding), and
:func:`read_summary` reads everything but the findings without parsing them.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

FINDINGS_KEY = b'\n  "findings": '


class TruthWriter:
    """Collects counts and findings partition by partition; ``finish`` writes truth.json."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lines_path = path.with_name(path.name + ".findings")
        self._lines = open(self._lines_path, "wb")  # noqa: SIM115 - closed in finish/discard
        self.counts: dict[str, dict[str, int]] = {}
        self.summary: Counter[str] = Counter()
        self.n = 0

    def add(self, counts: dict[str, dict[str, int]], findings: list[dict[str, Any]]) -> None:
        for system, tables in counts.items():
            mine = self.counts.setdefault(system, {})
            for table, rows in tables.items():
                # Users are the whole pair's: every partition writes the same ones
                mine[table] = rows if table == "User" else mine.get(table, 0) + rows
        for f in findings:
            self._lines.write(b",\n    " if self.n else b"\n    ")
            self._lines.write(orjson.dumps(f))
            self.n += 1
        self.summary.update(f["kind"] for f in findings if f["expected"])

    def finish(self, generator: dict[str, Any]) -> None:
        self._lines.close()
        head = {"generator": generator, "counts": self.counts, "summary": dict(sorted(self.summary.items()))}
        text = orjson.dumps(head, option=orjson.OPT_INDENT_2)
        assert text.endswith(b"\n}")
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as out, open(self._lines_path, "rb") as lines:
            out.write(text[:-2] + b"," + FINDINGS_KEY + b"[")
            shutil.copyfileobj(lines, out, 1 << 20)
            out.write(b"\n  ]\n}\n" if self.n else b"]\n}\n")
        tmp.rename(self.path)
        self._lines_path.unlink()

    def discard(self) -> None:
        """Drop the partial findings (after finish there is nothing left to drop)."""
        if not self._lines.closed:
            self._lines.close()
        self._lines_path.unlink(missing_ok=True)


def read_summary(truth_path: Path) -> dict[str, Any]:
    """truth.json's ``generator``, ``counts`` and ``summary``, without reading its findings."""
    buf = b""
    with open(truth_path, "rb") as fh:
        while FINDINGS_KEY not in buf:
            chunk = fh.read(1 << 16)
            if not chunk:
                return {k: v for k, v in orjson.loads(buf).items() if k != "findings"}
            buf += chunk
    head = buf[: buf.index(FINDINGS_KEY)].rstrip().rstrip(b",") + b"\n}"
    return orjson.loads(head)


# files every partition writes alike (the whole pair's owners, reference data and schema): kept once
_SAME_IN_EVERY_PARTITION = {
    "salesforce/User.csv",
    "salesforce/schema.json",
    "salesforce/field_history.json",
    "intercom/admins.json",
    "intercom/tags.json",
    "intercom/data_attributes.json",
}


def append_load_folder(part: Path, out: Path, first: bool) -> None:
    """Move the first partition's files to ``out``; append later ones (CSV rows without their header,
    JSON lines as they are). Files that must be alike in every partition are checked, not appended."""
    for src in sorted(p for p in part.rglob("*") if p.is_file()):
        rel = src.relative_to(part).as_posix()
        dst = out / rel
        if first:
            dst.parent.mkdir(parents=True, exist_ok=True)
            src.rename(dst)
            continue
        if rel in _SAME_IN_EVERY_PARTITION:
            if src.read_bytes() != dst.read_bytes():
                raise RuntimeError(f"partition {part.name} wrote a different {rel}")
            continue
        if not dst.is_file():
            raise RuntimeError(f"partition {part.name} wrote {rel}, which the first partition did not")
        with open(src, "rb") as fh, open(dst, "ab") as sink:
            if src.suffix == ".csv":
                header = fh.readline()
                with open(dst, "rb") as existing:
                    if existing.readline() != header:
                        raise RuntimeError(f"partition {part.name} wrote {rel} with other columns")
            elif src.suffix != ".jsonl":
                raise RuntimeError(f"do not know how to append {rel}")
            shutil.copyfileobj(fh, sink, 1 << 20)
