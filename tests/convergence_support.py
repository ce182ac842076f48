"""One fix-up cycle on the emulators, measured: pull, audit, plan, apply --execute, pull, audit, plan again.

Shared by tests/test_convergence_e2e.py and bench/bench_convergence.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from syncaudit.audit.run import run_audit
from syncaudit.changes.apply import apply_plan
from syncaudit.changes.plan import build_change_plan, read_findings
from syncaudit.pull import run_pull


def _findings(audit: Any) -> list[dict[str, Any]]:
    return read_findings(Path(audit.out_dir) / "findings.jsonl")


def _extra(f: dict[str, Any]) -> dict[str, Any]:
    e = f.get("extra")
    return json.loads(e) if isinstance(e, str) else (e or {})


def run_cycle(cfg: Any, out: Path, before_first_pull: Any = None) -> dict[str, Any]:
    """Run the cycle; returns the figures and the objects a test inspects."""
    t0 = time.monotonic()
    if before_first_pull is not None:
        before_first_pull()
    snap1 = run_pull(cfg, full=True, bars=False)
    audit1 = run_audit(cfg, snap1.id, out / "audit1")
    found1 = _findings(audit1)
    plan1 = build_change_plan(cfg, snap1, found1)
    t_apply = time.monotonic()
    res1 = apply_plan(cfg, plan1, plan1.hash, execute=True)
    apply_s = time.monotonic() - t_apply
    snap2 = run_pull(cfg, bars=False)  # incremental, as a monthly run would be
    audit2 = run_audit(cfg, snap2.id, out / "audit2")
    found2 = _findings(audit2)
    plan2 = build_change_plan(cfg, snap2, found2)
    res2 = apply_plan(cfg, plan2, plan2.hash, execute=True) if plan2.writes else None
    drift1 = [f for f in found1 if f["kind"] == "field_drift"]
    drift2 = [f for f in found2 if f["kind"] == "field_drift"]
    reviewed = {op.finding_id for op in plan2.operations if op.op == "review"}
    refused = [f for f in drift2 if _extra(f).get("target_cannot_accept")]
    other = [f for f in drift2 if f["id"] not in reviewed and not _extra(f).get("target_cannot_accept")]
    ids1 = {f["id"] for f in drift1}
    return {
        "drift_before": len(drift1),
        "drift_after": len(drift2),
        "fall": (1 - len(drift2) / len(drift1)) if drift1 else None,
        "new_after": sum(f["id"] not in ids1 for f in drift2),
        "remaining_refused": len(refused),
        "remaining_review": sum(f["id"] in reviewed for f in drift2 if not _extra(f).get("target_cannot_accept")),
        "remaining_other": len(other),
        "plan1_writes": len(plan1.writes),
        "plan1_reviews": plan1.summary()["reviews"],
        "apply1": dict(res1.counts),
        "apply1_s": round(apply_s, 1),
        "plan2_writes": len(plan2.writes),
        "plan2_reviews": plan2.summary()["reviews"],
        "apply2": dict(res2.counts) if res2 else {},
        "newer_side_before": audit1.metrics["drift"]["newer_side"],
        "newer_side_after": audit2.metrics["drift"]["newer_side"],
        "total_s": round(time.monotonic() - t0, 1),
        "_drift1": drift1,
        "_drift2": drift2,
        "_other": other,
        "_plan2": plan2,
        "_snap2": snap2,
        "_run1": res1.run_id,
    }
