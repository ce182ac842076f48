"""syncaudit's own writes, copied from the apply journal into each snapshot (``syncaudit/own_writes.parquet``).

The audit reads snapshots, never the journal: the pull copies what every apply and rollback run wrote so far
(one row per record and field: the value written, the record's version before (at plan time) and after the
write (as its answer reported), the run),
so a later audit can tell syncaudit's own writes from someone's edit — a field-history row whose NewValue is
the value we wrote, an Intercom updated_at equal to the version our write returned — and the snapshot stays the
unit of reproducibility.

The journal is SQLite (``<data_dir>/journal.sqlite``, see changes/journal.py), opened read-only; the values come
from the plan files the runs name. A journal or plan that is missing or unreadable gives no rows, never an error:
the audit then attributes changes from timestamps and history alone.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("system", pa.string()),
        ("object", pa.string()),
        ("record_id", pa.string()),
        ("field", pa.string()),
        ("value", pa.string()),
        ("version_before", pa.string()),
        ("version_after", pa.string()),
        ("run_id", pa.string()),
        ("written_at", pa.float64()),
    ]
)
WRITTEN = ("updated", "created", "merged")


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return v if isinstance(v, str) else json.dumps(v, default=str)


def _plan_values(plan_path: str | None, seqs: set[int]) -> dict[int, tuple[dict[str, Any], Any]]:
    """seq -> (the operation's ``after``, its ``version``: the record's version at plan time) for the wanted
    lines of one plan.jsonl (one pass)."""
    if not plan_path:
        return {}
    path = Path(plan_path)
    path = path / "plan.jsonl" if path.is_dir() else path
    out: dict[int, tuple[dict[str, Any], Any]] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for seq, line in enumerate(fh):
                if seq in seqs:
                    op = json.loads(line)
                    out[seq] = (op.get("after") or {}, op.get("version"))
    except (OSError, ValueError):
        return out
    return out


def read_own_writes(journal_path: Path) -> pa.Table:
    """The journal's successful writes as a table of :data:`SCHEMA` (empty when there is no journal)."""
    if not journal_path.is_file():
        return SCHEMA.empty_table()
    try:
        db = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return SCHEMA.empty_table()
    try:
        cols = {r[1] for r in db.execute("PRAGMA table_info(ops)")}
        version = "o.version_after" if "version_after" in cols else "NULL"
        marks = ",".join("?" for _ in WRITTEN)
        rows = db.execute(
            f"SELECT o.run_id, o.seq, o.system, o.object, coalesce(o.new_id, o.record_key), o.op, {version}, "
            f"o.outcome_at, r.plan_path FROM ops o JOIN runs r USING (run_id) WHERE o.outcome IN ({marks}) "
            "ORDER BY o.outcome_at, o.run_id, o.seq",
            WRITTEN,
        ).fetchall()
    except sqlite3.Error:
        return SCHEMA.empty_table()
    finally:
        db.close()
    wanted: dict[tuple[str, str | None], set[int]] = defaultdict(set)
    for run_id, seq, *_, plan_path in rows:
        wanted[(run_id, plan_path)].add(seq)
    values = {key: _plan_values(key[1], seqs) for key, seqs in wanted.items()}
    out: dict[str, list[Any]] = {f.name: [] for f in SCHEMA}
    for run_id, seq, system, obj, rid, op, ver, at, plan_path in rows:
        after, before = values[(run_id, plan_path)].get(seq, ({}, None))
        if op not in ("update", "upsert"):
            after = {}
        for fld, val in sorted(after.items()) or [(None, None)]:
            row = (system, obj, rid, fld, _text(val), _text(before), None if ver is None else str(ver), run_id, at)
            for k, v in zip(out, row, strict=True):
                out[k].append(v)
    return pa.table(out, schema=SCHEMA)


def copy_own_writes(journal_path: Path, target: Path) -> int:
    """Write the own-writes table to ``target`` (a snapshot's syncaudit/own_writes.parquet); returns its rows."""
    table = read_own_writes(journal_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A new file renamed into place: never written through a hard link into an earlier snapshot's file.
    tmp = target.with_name(target.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return table.num_rows
