"""The quality page's tables: each failed expectation with its share of rows and masked sample values, and a
profile of the mapped columns (null share, distinct values, top values). Computed in DuckDB on the snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from syncaudit.config import Config
from syncaudit.report.findings import sample_findings
from syncaudit.report.masking import mask_value, personal_kind
from syncaudit.report.names import object_label

_RULE = re.compile(r"^#(\d+) (\w+)\((.*)\)$")


def _table_of(dataset: str) -> str | None:
    """``sf_Contact`` -> the snapshot view ``sf_Contact``; ``ic_contacts`` -> ``ic_contacts``; derived sets: None."""
    return dataset if dataset.startswith(("sf_", "ic_")) else None


def _plain(expectation: str) -> str:
    return expectation.removeprefix("expect_").replace("_", " ")


def failed_expectations(
    quality_metrics: Mapping[str, Any], snapshot: Any, findings: Path | None, *, mask: bool, samples: int = 3
) -> pd.DataFrame:
    """One row per failed expectation: suite, rule in words, column, failing rows, share affected, samples."""
    rows = []
    ids_by_rule: dict[str, list[str]] = {}
    if findings is not None and findings.is_file():
        q = sample_findings(findings, kinds=("quality",), limit=10_000)
        for rule, records in zip(q.get("rule", []), q.get("records", []), strict=False):
            ids_by_rule[str(rule)] = list(records or [])
    con = snapshot.duckdb() if snapshot is not None else None
    try:
        for suite, s in sorted((quality_metrics.get("suites") or {}).items()):
            for key, e in (s.get("expectations_detail") or {}).items():
                if not isinstance(e, Mapping) or e.get("success"):
                    continue
                m = _RULE.match(key)
                column = m.group(3) if m else ""
                checked, failing = e.get("element_count") or 0, e.get("unexpected_count") or 0
                sample = _samples(con, _table_of(str(s.get("dataset") or suite)), column,
                                  ids_by_rule.get(f"quality:{suite}:{key}", []), samples, mask)  # fmt: skip
                rows.append(
                    {
                        "suite": suite,
                        "rule": _plain(str(e.get("type") or (m.group(2) if m else key))),
                        "column": column,
                        "critical": "yes" if e.get("critical") else "",
                        "rows checked": int(checked),
                        "rows failing": int(failing),
                        "share affected": f"{failing / checked:.1%}" if checked else "—",
                        "sample values": sample or ("(error: " + str(e.get("error")) + ")" if e.get("error") else ""),
                    }
                )
    finally:
        if con is not None:
            con.close()
    df = pd.DataFrame(rows)
    return df.sort_values(["rows failing", "suite"], ascending=[False, True]) if len(df) else df


def _samples(con: Any, table: str | None, column: str, ids: list[str], n: int, mask: bool) -> str:
    """A few failing values of ``column`` (masked by what the column holds), from the failing records."""
    if con is None or not table or not column or not ids or "," in column:
        return ""
    id_col = "Id" if table.startswith("sf_") else "id"
    try:
        vals = con.execute(
            f'select distinct cast("{column}" as varchar) from "{table}" where "{id_col}" in '
            f"(select unnest(?::varchar[])) limit {int(n)}",
            [ids[:500]],
        ).fetchall()
    except Exception:  # noqa: BLE001 - a derived column or a missing table: no sample, the counts stand
        return ""
    out = []
    kind = personal_kind(column, table.removeprefix("sf_").removeprefix("ic_"))
    for (v,) in vals:
        shown = "(empty)" if v is None or v == "" else str(v)
        if mask and kind and v:
            shown = str(mask_value(shown, kind))
        out.append(shown[:60])
    return ", ".join(out)


def mapped_column_profile(cfg: Config, snapshot: Any, *, mask: bool) -> pd.DataFrame:
    """For each mapped field, on each side: rows, null share, distinct values and the top 3 values."""
    con = snapshot.duckdb()
    rows = []
    try:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        for f in cfg.mapping.fields:
            for system, column in (("Salesforce", f.salesforce), ("Intercom", f.intercom)):
                objs = (
                    f.objects
                    if system == "Salesforce"
                    else (["companies"] if f.objects == ["Account"] else ["contacts"])
                )
                for obj in objs:
                    table = ("sf_" if system == "Salesforce" else "ic_") + obj
                    if table not in tables:
                        continue
                    try:
                        n, nulls, distinct = con.execute(
                            f'select count(*), count(*) filter (where "{column}" is null or cast("{column}" as varchar) = \'\'), '
                            f'count(distinct "{column}") from "{table}"'
                        ).fetchone()
                        top = con.execute(
                            f'select cast("{column}" as varchar) v, count(*) c from "{table}" where "{column}" is not null '
                            f"group by 1 order by 2 desc, 1 limit 3"
                        ).fetchall()
                    except Exception:  # noqa: BLE001 - a column the snapshot lacks is a schema finding, not a crash
                        continue
                    kind = personal_kind(column, obj) or personal_kind(f.name, obj)
                    shown = [f"{mask_value(v, kind) if mask and kind else v} ({c:,})" for v, c in top if v is not None]
                    rows.append(
                        {
                            "field": f.name,
                            "system": system,
                            "object": object_label(obj, "salesforce" if system == "Salesforce" else "intercom"),
                            "column": column,
                            "rows": int(n),
                            "empty": f"{nulls / n:.1%}" if n else "—",
                            "distinct values": int(distinct),
                            "top values": ", ".join(str(x)[:80] for x in shown),
                        }
                    )
    finally:
        con.close()
    return pd.DataFrame(rows)
