"""From a quality run to `quality` findings, pass-rate metrics and gate decisions; written to the report folder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from syncaudit.config import Config
from syncaudit.fsutil import atomic_write
from syncaudit.quality.run import ExpectationOutcome, QualityRun

_IC_OBJECTS = {"contacts": "contact", "companies": "company", "conversations": "conversation"}


def dataset_system_object(dataset: str) -> tuple[str, str]:
    """``sf_Contact`` → (salesforce, Contact); ``ic_contacts`` → (intercom, contact); linked → (both, name)."""
    if dataset.startswith("sf_"):
        return "salesforce", dataset[3:]
    if dataset.startswith("ic_"):
        return "intercom", _IC_OBJECTS.get(dataset[3:], dataset[3:])
    return "both", dataset


def finding_id(kind: str, system: str, obj: str, fld: str | None, records: list[str], rule: str = "") -> str:
    """docs/contracts.md: first 16 hex of sha256 over kind|system|object|field|sorted(records).

    Quality adds ``|rule`` (suite and expectation): two expectations failing on the same records
    (created_at and updated_at in the future) are two findings and must not share an id.
    """
    body = "|".join([kind, system, obj, fld or "", ",".join(sorted(records))] + ([rule] if rule else []))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def expectation_key(o: ExpectationOutcome) -> str:
    """What identifies an expectation across runs and snapshots: suite, type and its kwargs (canonical JSON).

    Not its position in the suite file (a regenerated suite renumbers) and not the records it failed on."""
    kwargs = json.dumps(o.kwargs, sort_keys=True, separators=(",", ":"), default=str)
    return f"quality:{o.suite}:{o.type}:{kwargs}"


def quality_finding_id(system: str, obj: str, fld: str | None, o: ExpectationOutcome) -> str:
    """A quality finding's id: the contract's hash with no records and the expectation as its rule.

    A quality finding is one failed expectation; its ``records`` are a bounded sample (which rows GX names
    depends on row order and on which other rows fail), so they must not enter the id. Same expectation
    failing on the same snapshot or the next one: same id (still open); passing again: resolved."""
    return finding_id("quality", system, obj, fld, [], expectation_key(o))


def _mapping_field(cfg: Config, system: str, obj: str, columns: list[str]) -> str | None:
    """The mapping field name for the expectation's column, where one applies."""
    for f in cfg.mapping.fields:
        for col in columns:
            if system == "salesforce" and f.salesforce == col and obj in f.objects:
                return f.name
            if system == "intercom" and f.intercom == col:
                people = obj == "contact" and bool({"Contact", "Lead"} & set(f.objects))
                if people or (obj == "company" and "Account" in f.objects):
                    return f.name
    return None


def _records(o: ExpectationOutcome, id_columns: list[str]) -> list[str]:
    """Sample record ids, Salesforce ids first then Intercom ids (the findings convention)."""
    out: list[str] = []
    for col in id_columns:
        out += [str(r[col]) for r in o.sample_ids if r.get(col) is not None]
    return list(dict.fromkeys(out))


def build_findings(run: QualityRun, cfg: Config) -> list[dict[str, Any]]:
    """One `quality` finding per failed expectation: every failing record counted, a bounded sample named."""
    findings = []
    for suite in run.suites:
        system, obj = dataset_system_object(suite.dataset)
        for o in suite.outcomes:
            if o.success is not False:
                continue
            records = _records(o, suite.id_columns)
            columns = [v for k, v in o.kwargs.items() if k in ("column", "column_A", "column_B")]
            fld = _mapping_field(cfg, system, obj, columns)
            count = o.unexpected_count
            what = f"{count:,} of {o.element_count:,} records" if count is not None and o.element_count else "the table"
            rule = f"quality:{o.suite}:{o.label}"
            findings.append(
                {
                    "id": quality_finding_id(system, obj, fld, o),
                    "kind": "quality",
                    "system": system,
                    "object": obj,
                    "records": records,
                    "record_count": count if count is not None else None,
                    "field": fld,
                    "severity": "high" if o.critical else str(o.meta.get("severity") or "medium"),
                    "detail": f"{what} fail expectation {o.label} of suite {o.suite}"
                    + (" (gate)" if o.critical else ""),
                    "suggested_fix": o.meta.get("suggested_fix")
                    or "correct the records in the source system, or adjust the expectation if the rule is wrong",
                    "rule": rule,
                    "expectation": o.type,
                    "suite": o.suite,
                    "snapshot": run.snapshot_id,
                }
            )
    return findings


def build_metrics(run: QualityRun) -> dict[str, Any]:
    """Pass rates per suite and expectation, for metrics.json under the key ``quality``."""
    suites: dict[str, Any] = {}
    total = {"expectations": 0, "evaluated": 0, "passed": 0, "failed": 0, "errors": 0}
    for s in run.suites:
        exps = {}
        for o in s.outcomes:
            exps[o.label] = {
                "type": o.type,
                "success": o.success,
                "pass_rate": o.pass_rate,
                "element_count": o.element_count,
                "unexpected_count": o.unexpected_count,
                "critical": o.critical,
                "generated": o.generated,
                "error": o.error,
            }
        counts = {
            "expectations": len(s.outcomes),
            "evaluated": sum(o.success is not None for o in s.outcomes),
            "passed": sum(o.success is True for o in s.outcomes),
            "failed": sum(o.success is False for o in s.outcomes),
            "errors": sum(o.success is None for o in s.outcomes),
        }
        for k, v in counts.items():
            total[k] += v
        rates = [o.pass_rate for o in s.outcomes if o.pass_rate is not None]
        suites[s.name] = {
            "dataset": s.dataset,
            "file": s.file,
            "rows": s.rows,
            "seconds": s.seconds,
            **counts,
            "pass_rate": round(counts["passed"] / counts["evaluated"], 6) if counts["evaluated"] else None,
            "record_pass_rate": round(sum(rates) / len(rates), 6) if rates else None,
            "expectations_detail": exps,
        }
    overall = {**total, "pass_rate": round(total["passed"] / total["evaluated"], 6) if total["evaluated"] else None}
    return {
        "snapshot": run.snapshot_id,
        "now": run.now,
        "seconds": run.seconds,
        "overall": overall,
        "suites": suites,
        "problems": [str(p) for p in run.problems],
    }


def gate_failures(run: QualityRun, cfg: Config) -> list[str]:
    """Why the batch must exit non-zero (empty when every configured gate holds)."""
    failures = []
    if cfg.gates.fail_on_critical_expectations:
        for o in run.outcomes():
            if o.critical and o.success is not True:
                why = "could not be evaluated" if o.success is None else f"failed ({o.unexpected_count} records)"
                failures.append(f"critical expectation {o.label} of suite {o.suite} {why}")
    floor = cfg.gates.min_quality_pass_rate
    rate = build_metrics(run)["overall"]["pass_rate"]
    if floor is not None and rate is not None and rate < floor:
        failures.append(f"quality pass rate {rate:.2%} is below gates.min_quality_pass_rate {floor:.2%}")
    return failures


def write_outputs(run: QualityRun, cfg: Config, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write quality/{findings.jsonl, metrics.json, index.html} and merge `quality` into the folder's metrics.json."""
    from syncaudit.quality.docs import render_data_docs

    out = Path(out_dir)
    qdir = out / "quality"
    qdir.mkdir(parents=True, exist_ok=True)
    findings = build_findings(run, cfg)
    metrics = build_metrics(run)
    metrics["gate_failures"] = gate_failures(run, cfg)
    paths = {"findings": qdir / "findings.jsonl", "metrics": qdir / "metrics.json", "docs": qdir / "index.html"}
    atomic_write(paths["findings"], "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in findings))
    atomic_write(paths["metrics"], json.dumps(metrics, indent=2, default=str) + "\n")
    atomic_write(paths["docs"], render_data_docs(run, metrics, mask=cfg.report.mask_personal_data))
    # The folder-level metrics.json is shared with the audit and report parts: only our key changes.
    top = out / "metrics.json"
    merged = json.loads(top.read_text(encoding="utf-8")) if top.is_file() else {}
    merged["quality"] = {
        "overall": metrics["overall"],
        "suites": {n: {k: v for k, v in s.items() if k != "expectations_detail"} for n, s in metrics["suites"].items()},
        "pass_rates": {
            n: {label: e["pass_rate"] for label, e in s["expectations_detail"].items()}
            for n, s in metrics["suites"].items()
        },
        "gate_failures": metrics["gate_failures"],
    }
    atomic_write(top, json.dumps(merged, indent=2, default=str) + "\n")
    paths["report_metrics"] = top
    return paths
