"""Small frames the notebooks display: mapping tables, findings flattened for reading, cluster sizes.

Counting is done by DuckDB over findings.jsonl; only bounded samples become
pandas frames here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from syncaudit.config import Config
from syncaudit.report.findings import _source
from syncaudit.report.names import human_duration, kind_label, object_label, system_label

IDENTITY_KINDS = ("orphan", "identity_gap", "ambiguous_link", "stale_link")
CONVERSATION_KINDS = ("conversation_unlogged", "conversation_misfiled")


def mapping_table(cfg: Config) -> pd.DataFrame:
    """One row per mapped field: both sides, objects, direction, owner, normalizers."""
    rows = []
    for f in cfg.mapping.fields:
        norm = [n if isinstance(n, str) else "picklist map" for n in f.normalize]
        rows.append(
            {
                "field": f.name,
                "salesforce": f.salesforce,
                "intercom": f.intercom,
                "objects": ", ".join(f.objects),
                "direction": f.direction,
                "owner": f.owner,
                "normalize": ", ".join(norm),
                "governance": "written by both systems" if f.direction == "both" else "",
            }
        )
    return pd.DataFrame(rows)


def identity_table(cfg: Config) -> pd.DataFrame:
    """How people and companies are linked, per the mapping spec."""
    ident = cfg.mapping.identity
    return pd.DataFrame(
        [
            {
                "what": "people",
                "salesforce key": ident.people.salesforce_key,
                "intercom key": ident.people.intercom_key,
                "fallback": ", ".join(ident.people.fallback) or "none",
            },
            {
                "what": "companies",
                "salesforce key": ident.companies.salesforce_key,
                "intercom key": ident.companies.intercom_key,
                "fallback": "none",
            },
        ]
    )


def readable_findings(df: pd.DataFrame) -> pd.DataFrame:
    """Findings flattened for a table: plain kind and system names, record ids (linked when shown), values side by side."""
    if df.empty:
        return pd.DataFrame(columns=["kind", "object", "field", "severity", "records", "detail", "suggested fix"])
    system = df["system"]
    out = pd.DataFrame(
        {
            "kind": df["kind"].map(kind_label),
            "system": system.map(system_label),
            "object": [object_label(o, s) for o, s in zip(df["object"], system, strict=True)],
            "field": df.get("field"),
            "severity": df.get("severity"),
            "records": df["records"].map(lambda v: list(v) if isinstance(v, list | tuple) else []),
        }
    )
    values = df.get("values")
    if values is not None and values.map(lambda v: isinstance(v, Mapping)).any():
        out["Salesforce value"] = values.map(lambda v: _text(v.get("salesforce")) if isinstance(v, Mapping) else None)
        out["Intercom value"] = values.map(lambda v: _text(v.get("intercom")) if isinstance(v, Mapping) else None)
    if "confidence" in df.columns and df["confidence"].notna().any():
        out["confidence"] = df["confidence"].round(2)
    if "suggested_survivor" in df.columns and df["suggested_survivor"].notna().any():
        out["suggested survivor"] = df["suggested_survivor"]
    out["detail"] = df["detail"].map(human_seconds) if "detail" in df.columns else None
    out["suggested fix"] = df.get("suggested_fix").map(_text) if "suggested_fix" in df.columns else None
    # A table of one kind (or one system) need not repeat it on every line.
    constant = [c for c in ("kind", "system") if out[c].nunique(dropna=False) <= 1 and len(out) > 1]
    return out.drop(columns=constant).dropna(axis=1, how="all")


_SECONDS = re.compile(r"\b(\d{3,}(?:\.\d+)?) s\b")


def human_seconds(text: object) -> object:
    """ "changed 9971109 s before the snapshot" -> "changed 115 days before the snapshot"."""
    if not isinstance(text, str):
        return text
    return _SECONDS.sub(lambda m: human_duration(float(m.group(1))), text)


def _short_records(records: Any, keep: int = 3) -> str:
    ids = list(records) if records is not None else []
    return ", ".join(str(r) for r in ids[:keep]) + (f" … (+{len(ids) - keep})" if len(ids) > keep else "")


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, Mapping):
        return ", ".join(f"{k}: {x}" for k, x in v.items())
    return str(v)


def cluster_sizes(findings_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Duplicate clusters per size (records in the cluster) and system/object."""
    path = Path(findings_path)
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=["size", "system", "object", "clusters"])
    con = duckdb.connect()
    try:
        return con.sql(
            f"""select len(records) as size, system, object, count(*)::BIGINT as clusters
                from {_source(path)} where kind = 'duplicate' group by all order by size, system, object"""
        ).df()
    finally:
        con.close()


def severity_counts(counts: pd.DataFrame) -> dict[str, int]:
    """Headline numbers from a (kind, n) frame."""
    return {str(k): int(n) for k, n in zip(counts.iloc[:, 0], counts["n"], strict=True)}


def drift_table(audit_metrics: Mapping[str, Any]) -> pd.DataFrame:
    """Agreement per mapped field and object, as the audit measured it (empty when it did not say)."""
    per_field = ((audit_metrics.get("drift") or {}).get("per_field")) or {}
    rows = [dict(v) for v in per_field.values() if isinstance(v, Mapping)]
    cols = ["field", "object", "pairs", "agree", "drift", "in_flight", "agreement_rate"]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=cols)
    return df[[c for c in cols if c in df.columns]].sort_values("agreement_rate" if "agreement_rate" in df else cols[0])


def links_table(audit_metrics: Mapping[str, Any]) -> pd.DataFrame:
    """How linked pairs were matched (identity key, fallback email, fuzzy...), with counts."""
    links = audit_metrics.get("links") or {}
    return pd.DataFrame(
        [{"matched by": str(k), "pairs": int(v)} for k, v in links.items() if isinstance(v, int | float)]
    )


def records_table(audit_metrics: Mapping[str, Any]) -> pd.DataFrame:
    """In-scope records per side, as the audit counted them."""
    recs = audit_metrics.get("records") or {}
    return pd.DataFrame(
        [{"in scope": str(k).replace("_", " "), "count": int(v)} for k, v in recs.items() if isinstance(v, int | float)]
    )


def labelled(counts: pd.DataFrame) -> pd.DataFrame:
    """A counts frame for a chart: plain kind and system names, one object name per object whatever its case."""
    out = counts.copy()
    systems = out["system"] if "system" in out.columns else pd.Series([None] * len(out), index=out.index)
    if "object" in out.columns:
        out["object"] = [object_label(o, s) for o, s in zip(out["object"], systems, strict=True)]
    if "kind" in out.columns:
        out["kind"] = out["kind"].map(kind_label)
    if "system" in out.columns:
        out["system"] = out["system"].map(system_label)
    keys = [c for c in out.columns if c != "n"]
    return out.fillna("(none)").groupby(keys, as_index=False)["n"].sum().sort_values("n", ascending=False)


def agreement_for_reading(agreement: pd.DataFrame) -> pd.DataFrame:
    """The agreement table with the rate as a percentage, worst field first."""
    out = agreement.copy()
    if "agreement_rate" in out.columns:
        out = out.sort_values("agreement_rate")
        out["agreement_rate"] = out["agreement_rate"].map(lambda v: f"{v:.2%}" if isinstance(v, float) else v)
    return out.rename(columns={"agreement_rate": "agreement", "in_flight": "still syncing"})


def key_values(summary: Mapping[str, Any], prefix: str = "") -> pd.DataFrame:
    """A nested summary as readable rows (``what``, ``value``): no Python reprs, no ``None`` or ``{}``."""
    rows: list[dict[str, str]] = []

    def walk(node: Any, label: str) -> None:
        if isinstance(node, Mapping):
            if not node:
                return
            for k, v in node.items():
                walk(v, f"{label} · {str(k).replace('_', ' ')}" if label else str(k).replace("_", " "))
        elif isinstance(node, list | tuple):
            if node:
                rows.append({"what": label, "value": f"{len(node):,} item{'s' if len(node) != 1 else ''}"})
        elif node is None or node == "":
            return
        elif isinstance(node, bool):
            rows.append({"what": label, "value": "yes" if node else "no"})
        elif isinstance(node, int | float):
            rows.append({"what": label, "value": f"{node:,}"})
        else:
            rows.append({"what": label, "value": str(node)})

    walk(summary, prefix)
    return pd.DataFrame(rows, columns=["what", "value"])


def rates_as_percent(df: pd.DataFrame) -> pd.DataFrame:
    """Columns named ``*rate`` shown as percentages (0.666667 -> "66.7%")."""
    out = df.copy()
    for col in [c for c in out.columns if str(c).endswith("rate")]:
        out[col] = out[col].map(lambda v: f"{v:.1%}" if isinstance(v, int | float) and v == v else v)
    return out.rename(columns={c: str(c).replace("_", " ") for c in out.columns if str(c).endswith("rate")})
