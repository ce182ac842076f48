"""metrics.json for a report period: build it, read earlier periods, evaluate the gates.

metrics.json (one per report folder) holds the figures a trend needs:

    {"period": "2026-11", "generated_at": ISO, "config": name, "config_hash": h, "snapshot_id": id,
     "findings": {"total": n, "by_kind": {kind: n}, "by_system": {system: n}, "by_kind_system": {"kind/system": n}},
     "quality": {"pass_rate": 0.97, "suites": {...}, "critical_failures": [...]} | null,
     "api_calls": {"salesforce": n, "intercom": n}, "durations_s": {"notebooks": {name: s}, "total": s},
     "notebooks": {name: {"status": ok|failed|skipped, "error": text|null}},
     "audit": {...figures the audit reports...}, "gates": {"passed": bool, "failures": [text]}}
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncaudit.errors import ConfigError
from syncaudit.report.findings import count_findings

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_period(period: str | None) -> str:
    """The report period (YYYY-MM), this month's by default; a clear error otherwise."""
    if period is None:
        return datetime.now(UTC).strftime("%Y-%m")
    if not PERIOD_RE.match(period):
        raise ConfigError(
            f"--period {period!r} is not a month", hint="write the period as YYYY-MM, e.g. --period 2026-11"
        )
    return period


def findings_figures(findings_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts by kind, by system and by both, from a findings file (DuckDB group-by)."""
    if not Path(findings_path).is_file():
        return {"total": None, "by_kind": {}, "by_system": {}, "by_kind_system": {}}
    df = count_findings(findings_path, by=("kind", "system"))
    by_kind: dict[str, int] = {}
    by_system: dict[str, int] = {}
    by_both: dict[str, int] = {}
    for kind, system, n in df.itertuples(index=False):  # a few dozen groups at most
        by_kind[str(kind)] = by_kind.get(str(kind), 0) + int(n)
        by_system[str(system)] = by_system.get(str(system), 0) + int(n)
        by_both[f"{kind}/{system}"] = int(n)
    return {"total": int(df["n"].sum()), "by_kind": by_kind, "by_system": by_system, "by_kind_system": by_both}


def build_metrics(
    *,
    period: str,
    config_name: str,
    config_hash: str,
    snapshot_id: str | None,
    findings_path: str | os.PathLike[str],
    quality: Mapping[str, Any] | None,
    manifest: Mapping[str, Any] | None,
    runs: list[Mapping[str, Any]],
    audit: Mapping[str, Any] | None = None,
    plan: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble metrics.json's content from the parts of a run."""
    return {
        "period": period,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config_name,
        "config_hash": config_hash,
        "snapshot_id": snapshot_id,
        "findings": findings_figures(findings_path),
        "quality": dict(quality) if quality else None,
        "api_calls": api_calls(manifest),
        "durations_s": {
            "notebooks": {r["name"]: r["duration_s"] for r in runs},
            "total": round(sum(float(r["duration_s"]) for r in runs), 2),
        },
        "notebooks": {r["name"]: {"status": r["status"], "error": r.get("error")} for r in runs},
        "audit": dict(audit) if audit else None,
        "plan": dict(plan) if plan else None,
    }


def api_calls(manifest: Mapping[str, Any] | None) -> dict[str, int | None]:
    """API calls per system as the snapshot manifest records them (None when it does not say)."""
    out: dict[str, int | None] = {"salesforce": None, "intercom": None}
    if not manifest:
        return out
    calls = manifest.get("api_calls")
    if isinstance(calls, Mapping):
        for system in out:
            v = calls.get(system)
            out[system] = int(v) if isinstance(v, int | float) else None
        return out
    for system in out:
        section = manifest.get(system)
        if isinstance(section, Mapping) and isinstance(section.get("api_calls"), int | float):
            out[system] = int(section["api_calls"])
    return out


def evaluate_gates(gates: Any, metrics: Mapping[str, Any]) -> list[str]:
    """The configured gates that fail, each as one sentence (empty: all pass)."""
    failures: list[str] = []
    by_kind = (metrics.get("findings") or {}).get("by_kind") or {}
    for kind, limit in sorted((gates.max_findings or {}).items()):
        n = int(by_kind.get(kind, 0))
        if n > limit:
            failures.append(f"{n:,} {kind} findings exceed the gate of {limit:,} (gates.max_findings.{kind})")
    quality = metrics.get("quality") or {}
    rate = quality.get("pass_rate")
    if gates.min_quality_pass_rate is not None:
        if rate is None:
            failures.append("no quality pass rate was measured, but gates.min_quality_pass_rate is set")
        elif rate < gates.min_quality_pass_rate:
            failures.append(
                f"quality pass rate {rate:.1%} is below the gate of {gates.min_quality_pass_rate:.1%} "
                "(gates.min_quality_pass_rate)"
            )
    if gates.fail_on_critical_expectations:
        for item in quality.get("critical_failures") or []:
            failures.append(str(item))
    return failures


def write_json(data: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON atomically (a reader never sees half a file)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def load_history(
    out_root: str | os.PathLike[str],
    before: str,
    limit: int = 12,
    *,
    exclude: str | None = None,
    config: str | None = None,
) -> list[dict[str, Any]]:
    """metrics.json of earlier runs under ``out_root`` (oldest first), skipping unreadable ones.

    Earlier runs are the period folders before ``before`` and, when ``exclude`` (the current folder's name) is
    given, every other run folder of the same ``config`` whose period is not after ``before`` (e.g. two demo
    runs of one month). Each entry carries its folder as ``_folder`` (for the change since the previous run).
    """
    root = Path(out_root)
    found: list[dict[str, Any]] = []
    if not root.is_dir():
        return found
    for sub in sorted(root.iterdir()):
        if not sub.is_dir() or sub.name.startswith(".") or sub.name == exclude:
            continue
        by_period = bool(PERIOD_RE.match(sub.name)) and sub.name < before
        if not by_period and exclude is None:
            continue
        try:
            data = json.loads((sub / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        data.setdefault("period", sub.name)
        if not by_period and (str(data.get("period")) > before or (config and data.get("config") != config)):
            continue
        data["_folder"] = str(sub)
        found.append(data)
    found.sort(key=lambda m: (str(m.get("period")), str(m.get("generated_at") or "")))
    return found[-limit:]
