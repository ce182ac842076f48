"""Read findings.jsonl for reports: counts in DuckDB, bounded samples in pandas.

A findings file can hold millions of lines, so counting is a DuckDB group-by
over the file and only the rows a report shows are brought into Python. The
column list is fixed (ARCHITECTURE.md's vocabulary plus the optional keys of
docs/contracts.md); unknown keys are ignored and missing ones read as null.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from syncaudit.audit.findings import KINDS  # noqa: F401  (re-exported: the vocabulary has one home)
from syncaudit.errors import ConfigError
from syncaudit.fsutil import written_over

FINDINGS_COLUMNS: dict[str, str] = {
    "id": "VARCHAR",
    "kind": "VARCHAR",
    "system": "VARCHAR",
    "object": "VARCHAR",
    "records": "VARCHAR[]",
    "field": "VARCHAR",
    "severity": "VARCHAR",
    "detail": "VARCHAR",
    "suggested_fix": "JSON",
    "values": "JSON",
    "confidence": "DOUBLE",
    "rule": "VARCHAR",
    "suggested_survivor": "VARCHAR",
    "first_seen": "VARCHAR",
    "record_count": "BIGINT",
    "suite": "VARCHAR",
    "expectation": "VARCHAR",
    "extra": "JSON",
}


def _source(path: Path) -> str:
    cols = ", ".join(f"'{k}': '{v}'" for k, v in FINDINGS_COLUMNS.items())
    return f"read_json('{_quote(path)}', format='newline_delimited', columns={{{cols}}})"


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def _query(path: Path, sql: str) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError("findings file not found", file=str(path), hint="run the audit first (syncaudit audit)")
    if path.stat().st_size == 0:
        return pd.DataFrame(columns=list(FINDINGS_COLUMNS))
    con = duckdb.connect()
    try:
        return con.sql(sql.replace("{findings}", _source(path))).df()
    except duckdb.Error as exc:
        raise ConfigError(
            f"findings file cannot be read: {str(exc).splitlines()[0]}",
            file=str(path),
            hint="each line must be one JSON object in the findings vocabulary; re-run the audit",
        ) from None
    finally:
        con.close()


def _kinds_clause(kinds: Iterable[str]) -> str:
    return "kind in (" + ", ".join("'" + k.replace("'", "''") + "'" for k in kinds) + ")"


def count_findings(
    path: str | os.PathLike[str], by: Iterable[str] = ("kind", "system"), kinds: Iterable[str] | None = None
) -> pd.DataFrame:
    """Number of findings per group (columns ``by`` + ``n``), largest first, optionally of some kinds only."""
    keys = [k for k in by if k in FINDINGS_COLUMNS]
    if not keys:
        raise ValueError("group by at least one findings column")
    group = ", ".join(f'"{k}"' for k in keys)
    cond = f"where {_kinds_clause(kinds)}" if kinds is not None else ""
    df = _query(
        Path(path),
        f"select {group}, count(*)::BIGINT as n from {{findings}} {cond} group by all order by n desc, {group}",
    )
    if df.empty:
        return pd.DataFrame({**{k: pd.Series(dtype=object) for k in keys}, "n": pd.Series(dtype="int64")})
    return df


def sample_findings(
    path: str | os.PathLike[str],
    *,
    kinds: Iterable[str] | None = None,
    limit: int = 20,
    where: str | None = None,
) -> pd.DataFrame:
    """Up to ``limit`` findings of the given kinds, worst severity first; JSON columns decoded."""
    clauses = []
    if kinds is not None:
        clauses.append(_kinds_clause(kinds))
    if where:
        clauses.append(f"({where})")
    cond = f"where {' and '.join(clauses)}" if clauses else ""
    order = (
        "case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 when 'low' then 3 else 4 end, id"
    )
    df = _query(Path(path), f"select * from {{findings}} {cond} order by {order} limit {int(limit)}")
    for col in ("values", "suggested_fix", "extra"):
        if col in df.columns:
            df[col] = df[col].map(_decode)
    if "records" in df.columns:
        df["records"] = df["records"].map(lambda v: list(v) if v is not None and not isinstance(v, float) else [])
    return df


def _decode(v: Any) -> Any:
    if not isinstance(v, str):
        return None
    try:
        return json.loads(v)
    except ValueError:
        return v


def write_findings(records: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write findings as JSON lines, atomically; returns how many were written."""
    target = Path(path)
    n = 0
    with written_over(target) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(dict(rec), ensure_ascii=False, default=str) + "\n")
            n += 1
    return n


def append_findings(src: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Append one findings file to another (e.g. the quality findings to the audit's), atomically."""
    s, d = Path(src), Path(dest)
    with written_over(d) as tmp, tmp.open("wb") as out:
        for part in (d, s):
            if part.is_file():
                with part.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        out.write(chunk)
                    if part.stat().st_size and not _ends_with_newline(part):
                        out.write(b"\n")


def combine_findings(work: str | os.PathLike[str]) -> Path:
    """``work/findings.jsonl`` := the audit's findings + the quality findings: the one file every figure reads.

    Rebuilt from its two sources each time (``audit/findings.jsonl`` and ``quality/findings.jsonl``), so it
    can be called after the quality step and again at the end of a run without counting anything twice.
    When the audit left no file of its own (an older layout), the current findings.jsonl minus its quality
    lines is kept as the audit's part.
    """
    folder = Path(work)
    target = folder / "findings.jsonl"
    audit = folder / "audit" / "findings.jsonl"
    quality = folder / "quality" / "findings.jsonl"
    if not audit.is_file():
        if not target.is_file():
            if quality.is_file():
                shutil.copyfile(quality, target)
            return target
        if not quality.is_file():
            return target
        keep = folder / "audit_findings.jsonl"
        if not keep.is_file():
            _copy_without_kind(target, keep, "quality")
        audit = keep
    with written_over(target, suffix=".combine.tmp") as tmp, tmp.open("wb") as out:
        for part in (audit, quality):
            if part.is_file() and part.stat().st_size:
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
                if not _ends_with_newline(part):
                    out.write(b"\n")
    return target


def _copy_without_kind(src: Path, dst: Path, kind: str) -> None:
    """Copy a findings file without the lines of one kind (DuckDB, streamed; no row reaches Python)."""
    con = duckdb.connect()
    try:
        with written_over(dst) as tmp:
            con.execute(
                f"copy (select * from read_json_auto('{_quote(src)}', format='newline_delimited') "
                f"where kind <> '{kind}') to '{_quote(tmp)}' (format json)"
            )
    finally:
        con.close()


def _ends_with_newline(p: Path) -> bool:
    with p.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
