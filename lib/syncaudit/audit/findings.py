"""Findings: the table every analysis writes into, stable ids, and the writers.

Analyses insert rows into the DuckDB table ``findings`` (set-based, one INSERT per
rule); :func:`finalize` gives each row its stable id, and :func:`write_findings`
streams the table to ``findings.jsonl`` and ``findings.parquet`` with DuckDB's COPY.

Stable id (docs/contracts.md): the first 16 hex of
``sha256(kind|system|object|field|r1,r2,...)`` with the record ids sorted and an
absent field written as the empty string.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from syncaudit.audit.engine import is_spark
from syncaudit.loadfolder import lit

KINDS = (
    "duplicate",
    "orphan",
    "identity_gap",
    "ambiguous_link",
    "stale_link",
    "field_drift",
    "schema_conflict",
    "quality",
    "conversation_unlogged",
    "conversation_misfiled",
    "rule_violation",
)

FINDINGS_DDL = """
CREATE OR REPLACE TABLE findings (
    kind VARCHAR NOT NULL,
    system VARCHAR NOT NULL,
    object VARCHAR,
    records VARCHAR[] NOT NULL,
    field VARCHAR,
    severity VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    suggested_fix VARCHAR,
    sf_value VARCHAR,
    ic_value VARCHAR,
    confidence DOUBLE,
    rule VARCHAR NOT NULL,
    suggested_survivor VARCHAR,
    extra JSON
)
"""

# Columns an analysis selects, in order, when it inserts into ``findings``.
COLUMNS = (
    "kind, system, object, records, field, severity, detail, suggested_fix, sf_value, ic_value, "
    "confidence, rule, suggested_survivor, extra"
)


def create_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(FINDINGS_DDL)


def insert(con: duckdb.DuckDBPyConnection, select_sql: str) -> int:
    """Insert the rows of a SELECT producing :data:`COLUMNS`; returns how many were added."""
    before = con.execute("SELECT count(*) FROM findings").fetchall()[0][0]
    con.execute(f"INSERT INTO findings ({COLUMNS}) {select_sql}")
    return con.execute("SELECT count(*) FROM findings").fetchall()[0][0] - before


def stable_id(kind: str, system: str, obj: str | None, field_name: str | None, records: list[str]) -> str:
    """The id of a finding, computed in Python (the same formula as the SQL in :func:`finalize`)."""
    body = "|".join([kind, system, obj or "", field_name or "", ",".join(sorted(records))])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def finalize(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> None:
    """Add ids, drop exact repeats (same id: keep the most severe / first), and order the table."""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE findings_final AS
        WITH ided AS (
            SELECT left(sha256(concat_ws('|', kind, system, coalesce(object, ''), coalesce(field, ''),
                        array_to_string(list_sort(records), ','))), 16) AS id, *
            FROM findings
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY id ORDER BY
                CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, rule) AS rn
            FROM ided
        )
        SELECT id, kind, system, object, records, field, severity, detail, suggested_fix,
               {{'salesforce': sf_value, 'intercom': ic_value}} AS "values",
               confidence, rule, suggested_survivor, extra, {lit(snapshot_id)} AS snapshot
        FROM ranked WHERE rn = 1
        ORDER BY kind, system, object, id
        """
    )


def write_findings(con: duckdb.DuckDBPyConnection, out_dir: Path) -> dict[str, Path]:
    """Write findings.jsonl and findings.parquet (via temporary names, renamed when complete)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_spark(con):  # Spark writes its part files; DuckDB turns them into the two files, as below
        parts = out_dir / ".findings.parts"
        con.write_parquet("SELECT * FROM findings_final", parts)
        local = duckdb.connect()
        local.execute(
            f"CREATE TABLE findings_final AS SELECT * FROM read_parquet({lit(str(parts / '*.parquet'))}) "
            "ORDER BY kind, system, object, id"
        )
        try:
            return write_findings(local, out_dir)
        finally:
            local.close()
            shutil.rmtree(parts, ignore_errors=True)
    paths = {"jsonl": out_dir / "findings.jsonl", "parquet": out_dir / "findings.parquet"}
    tmp_j, tmp_p = out_dir / ".findings.jsonl.tmp", out_dir / ".findings.parquet.tmp"
    # extra is JSON text in the table; cast so it is written as a nested object, not a string.
    select = (
        'SELECT id, kind, system, object, records, field, severity, detail, suggested_fix, "values", '
        "confidence, rule, suggested_survivor, extra::JSON AS extra, snapshot FROM findings_final"
    )
    con.execute(f"COPY ({select}) TO {lit(str(tmp_j))} (FORMAT json)")
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(extra AS VARCHAR) AS extra) FROM findings_final) "
        f"TO {lit(str(tmp_p))} (FORMAT parquet)"
    )
    tmp_j.replace(paths["jsonl"])
    tmp_p.replace(paths["parquet"])
    return paths


def count_metrics(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Counts by kind, by kind and system, and by severity."""
    by_kind = dict(con.execute("SELECT kind, count(*) FROM findings_final GROUP BY 1 ORDER BY 1").fetchall())
    by_ks: dict[str, dict[str, int]] = {}
    for kind, system, n in con.execute("SELECT kind, system, count(*) FROM findings_final GROUP BY 1, 2").fetchall():
        by_ks.setdefault(kind, {})[system] = n
    by_sev = dict(con.execute("SELECT severity, count(*) FROM findings_final GROUP BY 1 ORDER BY 1").fetchall())
    return {
        "total": sum(by_kind.values()),
        "by_kind": {k: by_kind.get(k, 0) for k in KINDS},
        "by_kind_and_system": by_ks,
        "by_severity": by_sev,
    }


@dataclass(frozen=True)
class Finding:
    """One finding, as read back from findings.jsonl (the notebooks' and fix-ups' view)."""

    id: str
    kind: str
    system: str
    object: str | None
    records: list[str]
    field: str | None
    severity: str
    detail: str
    suggested_fix: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None
    rule: str | None = None
    suggested_survivor: str | None = None
    extra: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        known = {k: d.get(k) for k in cls.__dataclass_fields__ if k in d}
        known["values"] = d.get("values") or {}
        return cls(**known)


def read_findings(path: str | Path) -> list[Finding]:
    """Read a findings.jsonl (small ones: reports and tests; analyses use DuckDB)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(Finding.from_dict(json.loads(line)))
    return out
