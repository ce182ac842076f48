"""The executive figures of a run, computed once from findings.jsonl (DuckDB) and kept in metrics.json.

- **Health score** (0-100): the share of in-scope records free of open findings, each affected record
  weighted by its worst finding's severity (critical/high 1, medium 0.5, low 0.25):
  ``100 × (1 − Σ weight / in-scope records)``. docs/reports.md explains it for stakeholders.
- **Top actions**: findings grouped by kind, system, object and field, ranked by severity × records.
- **Change since the previous run**: finding ids compared (new, resolved, still open).
- **Planned changes**: writes, review items and irreversible operations of the fix-up plan.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from syncaudit.report.findings import _source
from syncaudit.report.names import KIND_PAGES, kind_label, object_label, system_label

SEVERITY_WEIGHT_SQL = (
    "case lower(coalesce(severity, '')) when 'critical' then 1.0 when 'high' then 1.0 "
    "when 'medium' then 0.5 else 0.25 end"
)
# Operations no rollback can undo: an Intercom merge deletes the lead it merges, a delete deletes.
IRREVERSIBLE_OPS = ("merge", "delete")


def _con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _usable(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and Path(path).is_file() and Path(path).stat().st_size > 0


def in_scope_records(audit: Mapping[str, Any] | None) -> int | None:
    """People and companies on both sides, as the audit counted them (None when it did not say)."""
    recs = (audit or {}).get("records") or {}
    counts = [int(v) for v in recs.values() if isinstance(v, int | float)]
    return sum(counts) or None


def health(findings_path: str | os.PathLike[str] | None, audit: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"score": 0-100 | None, "affected": n, "weighted": x, "in_scope": n, "by_severity": {...}}``."""
    scope = in_scope_records(audit)
    if not _usable(findings_path) or not scope:
        return {"score": None, "affected": None, "weighted": None, "in_scope": scope, "by_severity": {}}
    con = _con()
    try:
        row = con.execute(
            f"""with r as (select unnest(records) as rid, {SEVERITY_WEIGHT_SQL} as w from {_source(Path(findings_path))}),
                    worst as (select rid, max(w) as w from r group by rid)
                select count(*)::BIGINT, coalesce(sum(w), 0)::DOUBLE,
                       count(*) filter (where w = 1.0)::BIGINT, count(*) filter (where w = 0.5)::BIGINT,
                       count(*) filter (where w = 0.25)::BIGINT from worst"""
        ).fetchone()
    finally:
        con.close()
    affected, weighted, high, medium, low = row
    score = max(0.0, 100.0 * (1.0 - min(weighted, scope) / scope))
    return {
        "score": round(score),
        "affected": int(affected),
        "weighted": round(float(weighted), 2),
        "in_scope": scope,
        "by_severity": {"high": int(high), "medium": int(medium), "low": int(low)},
    }


_ACTIONS = {
    "duplicate": "Review and merge {n:,} duplicate {obj} cluster{s} ({records:,} records)",
    "orphan": "Create or link {n:,} {obj} record{s} that exist in one system only",
    "identity_gap": "Fill the missing link key on {n:,} {obj} pair{s} (the fix-up plan can backfill it)",
    "ambiguous_link": "Make the link key unique: {n:,} key{s} match several {obj} records",
    "stale_link": "Re-point {n:,} {obj} link{s} at the converted or surviving record",
    "field_drift": "Correct {field} on {n:,} {obj} pair{s} (the two systems disagree)",
    "schema_conflict": "Fix the field definition of {field} on {obj}",
    "quality": "Fix {records:,} {obj} records failing {n:,} data-quality rule{s}",
    "conversation_unlogged": "Log {n:,} closed conversation{s} in Salesforce",
    "conversation_misfiled": "Move {n:,} conversation log{s} to the right record",
    "rule_violation": "Resolve {n:,} {obj} record{s} breaking a business rule",
}


def who_fixes(kind: str, system: str, field: str | None, owners: Mapping[str, str]) -> str:
    """The owning system or team: the mapping's owner of the field, else the system the records live in."""
    if field and field in owners and kind in {"field_drift", "schema_conflict"}:
        return f"{system_label(owners[field])} admins (owner of {field})"
    if kind in {"identity_gap", "ambiguous_link", "stale_link"}:
        return "Salesforce admins (the link key lives in Salesforce)"
    if kind.startswith("conversation_"):
        return "Support operations (conversation logging into Salesforce)"
    if kind == "orphan":
        return "Integration owner (the connector's sync scope)"
    if system in {"salesforce", "intercom"}:
        return f"{system_label(system)} admins"
    return "Salesforce and Intercom admins"


def top_actions(
    findings_path: str | os.PathLike[str] | None, owners: Mapping[str, str], limit: int = 7
) -> list[dict[str, Any]]:
    """Groups of findings ranked by severity weight × records; each in plain words with who fixes it."""
    if not _usable(findings_path):
        return []
    con = _con()
    try:
        rows = con.execute(
            f"""select kind, system, object, field, count(*)::BIGINT as n,
                       sum(coalesce(record_count, len(records)))::BIGINT as records,
                       sum({SEVERITY_WEIGHT_SQL} * coalesce(record_count, len(records)))::DOUBLE as score,
                       max({SEVERITY_WEIGHT_SQL})::DOUBLE as worst
                from {_source(Path(findings_path))}
                group by all order by score desc, n desc, kind, object, field limit {int(limit)}"""
        ).fetchall()
    finally:
        con.close()
    out = []
    for kind, system, obj, field, n, records, score, worst in rows:
        kind, system = str(kind), str(system)
        words = _ACTIONS.get(kind, "Resolve {n:,} " + kind_label(kind).lower() + " findings on {obj}")
        out.append(
            {
                "kind": kind,
                "label": kind_label(kind),
                "action": words.format(
                    n=n,
                    records=records,
                    obj=object_label(obj, system),
                    field=field or "fields",
                    s="" if n == 1 else "s",
                ),
                "who": who_fixes(kind, system, field, owners),
                "severity": {1.0: "high", 0.5: "medium"}.get(worst, "low"),
                "findings": int(n),
                "records": int(records),
                "score": round(float(score), 1),
                "page": f"{KIND_PAGES.get(kind, '90_monthly_summary')}.html",
                "worklist": f"worklists/{kind}.csv",
            }
        )
    return out


def changes_since(
    findings_path: str | os.PathLike[str] | None, previous_path: str | os.PathLike[str] | None
) -> dict[str, Any] | None:
    """New, resolved and still-open findings by stable id, in total and per kind (None: nothing to compare)."""
    if not _usable(findings_path) or previous_path is None or not Path(previous_path).is_file():
        return None
    con = _con()
    try:
        now, before = _source(Path(findings_path)), _source(Path(previous_path))
        rows = con.execute(
            f"""with a as (select distinct id, kind from {now}), b as (select distinct id, kind from {before})
                select coalesce(a.kind, b.kind) as kind,
                       count(*) filter (where b.id is null)::BIGINT as new,
                       count(*) filter (where a.id is null)::BIGINT as resolved,
                       count(*) filter (where a.id is not null and b.id is not null)::BIGINT as still_open
                from a full outer join b on a.id = b.id group by 1 order by 1"""
        ).fetchall()
    finally:
        con.close()
    by_kind = {str(k): {"new": int(n), "resolved": int(r), "still_open": int(s)} for k, n, r, s in rows}
    total = {key: sum(v[key] for v in by_kind.values()) for key in ("new", "resolved", "still_open")}
    return {**total, "by_kind": by_kind}


def planned_changes(plan: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Writes, review items and irreversible operations (merges, deletes) of the run's plan."""
    if not plan:
        return None
    by_target = plan.get("by_target") or {}
    irreversible = {k: int(v) for k, v in by_target.items() if str(k).rsplit(".", 1)[-1] in IRREVERSIBLE_OPS}
    return {
        "operations": int(plan.get("operations") or 0),
        "writes": int(plan.get("writes") or 0),
        "reviews": int(plan.get("reviews") or 0),
        "irreversible": sum(irreversible.values()),
        "irreversible_by_target": irreversible,
        "hash": plan.get("hash"),
    }


def previous_findings(history: Sequence[Mapping[str, Any]]) -> Path | None:
    """findings.jsonl of the newest earlier run that kept one (its folder is recorded as ``_folder``)."""
    for m in reversed(list(history)):
        folder = m.get("_folder")
        if folder and (Path(folder) / "findings.jsonl").is_file():
            return Path(folder) / "findings.jsonl"
    return None
