"""The tables of the rules page (notebooks/35_rules.ipynb): violations per rule, their trend over the report
folders, the Accounts with most violations, and the mapping change log against the previous run."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from syncaudit.loadfolder import lit
from syncaudit.mapping_log import attribute_findings, diff_specs
from syncaudit.report.metrics import load_history

_RULE_COLUMNS = ["rule", "matched", "violations", "satisfied", "unresolved"]


def rules_table(audit: Mapping[str, Any]) -> pd.DataFrame:
    """One row per configured rule: records meeting its condition, violations, satisfied, unresolved (no link)."""
    rows = [
        {"rule": name, **{k: int(v.get(k, 0)) for k in _RULE_COLUMNS[1:]}}
        for name, v in (audit.get("rules") or {}).items()
    ]
    return pd.DataFrame(rows, columns=_RULE_COLUMNS)


def rules_trend(
    history: Sequence[Mapping[str, Any]], audit: Mapping[str, Any], period: str = "this run"
) -> pd.DataFrame:
    """Violations per rule and period, from earlier report folders' metrics.json and this run."""
    rows = []
    for m in [*history, {"period": period, "audit": audit}]:
        for name, v in ((m.get("audit") or {}).get("rules") or {}).items():
            rows.append({"period": m.get("period"), "rule": name, "violations": int(v.get("violations", 0))})
    return pd.DataFrame(rows, columns=["period", "rule", "violations"])


def worst_accounts(findings_path: str | os.PathLike[str], limit: int = 10) -> pd.DataFrame:
    """The Accounts named by most rule violations (Account ids are not personal data)."""
    con = duckdb.connect()
    try:
        return con.execute(
            f"""SELECT account, count(*) AS violations, string_agg(DISTINCT field, ', ' ORDER BY field) AS rules
            FROM (SELECT unnest(records) AS account, field FROM read_json_auto({lit(str(findings_path))})
                  WHERE kind = 'rule_violation')
            WHERE account LIKE '001%' GROUP BY account ORDER BY violations DESC, account LIMIT {int(limit)}"""
        ).df()
    except duckdb.Error:
        return pd.DataFrame(columns=["account", "violations", "rules"])
    finally:
        con.close()


def _read_findings(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        return [
            {"id": d.get("id"), "kind": d.get("kind"), "field": d.get("field")}
            for d in map(json.loads, filter(str.strip, fh))
        ]


def previous_run(out_root: str | os.PathLike[str], snapshot_id: str | None) -> Mapping[str, Any] | None:
    """The newest published report whose audit stored its mapping and that is not of this snapshot."""
    for m in reversed(load_history(out_root, before="9999-99")):
        audit = m.get("audit") or {}
        if audit.get("mapping_spec") is not None and m.get("snapshot_id") != snapshot_id:
            return m
    return None


def change_log(
    audit: Mapping[str, Any],
    findings_path: str | os.PathLike[str],
    out_root: str | os.PathLike[str],
    snapshot_id: str | None,
) -> tuple[pd.DataFrame, dict[str, int], str | None]:
    """What changed in the mapping and rules since the previous run, and the findings each change explains.

    Returns (one row per change: change, appeared, disappeared, examples), the appeared/disappeared counts the
    data explains, and the previous run's period (None when there is none).
    """
    prev = previous_run(out_root, snapshot_id)
    cols = ["change", "appeared", "disappeared", "examples"]
    if prev is None or audit.get("mapping_spec") is None:
        return pd.DataFrame(columns=cols), {"appeared": 0, "disappeared": 0}, None
    changes = diff_specs(prev["audit"]["mapping_spec"], audit["mapping_spec"])
    prev_findings = _read_findings(Path(out_root) / str(prev.get("period")) / "findings.jsonl")
    result = attribute_findings(changes, prev_findings, _read_findings(Path(findings_path)))
    rows = [
        {
            "change": r["text"],
            "appeared": r["appeared"],
            "disappeared": r["disappeared"],
            "examples": ", ".join(f"{e['kind']} {e['id']}" for e in r["examples"]),
        }
        for r in result["by_change"]
    ]
    return pd.DataFrame(rows, columns=cols), result["data"], str(prev.get("period"))
