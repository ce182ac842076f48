"""Owner conflicts end to end on the project's emulators: the generator plants them, the pull and the audit find
them, push_owner_value writes the Intercom admin id of the Salesforce owner's email, and the next audit finds
no owner drift left (the write landed in the shape the API and the audit expect)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_support import demo_sandbox
from syncaudit.changes.apply import apply_plan
from syncaudit.changes.plan import build_change_plan, read_findings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_sandbox(tmp_path_factory.mktemp("owner-e2e"), size=400, seed=7) as env:
        yield env


def _owner_findings(cfg: Any) -> tuple[Any, list[dict[str, Any]]]:
    from syncaudit.audit.run import run_audit
    from syncaudit.pull import run_pull

    snap = run_pull(cfg, full=True, bars=False)
    audit = run_audit(cfg, snap.id)
    findings = read_findings(Path(audit.out_dir) / "findings.jsonl")
    return snap, [f for f in findings if f["kind"] == "field_drift" and f["field"] == "owner"]


def test_owner_conflicts_are_found_fixed_and_gone(sandbox: dict[str, Any]) -> None:
    cfg = sandbox["cfg"]
    snap, owners = _owner_findings(cfg)
    assert owners, "the generator plants owner conflicts"
    plan = build_change_plan(cfg, snap, owners, fixes=["push_owner_value"])
    writes = [op for _, op in plan.writes]
    assert writes and all(op.system == "intercom" and set(op.after) == {"owner_id"} for op in writes)
    admins = {r[0] for r in snap.duckdb().execute("SELECT id FROM ic_admins").fetchall()}
    assert all(op.after["owner_id"] in admins for op in writes)  # an admin id, never a User Id or an email
    result = apply_plan(cfg, plan, plan.hash, dry_run=False, execute=True)
    assert result.counts.get("updated", 0) == len(writes), result.counts
    _, left = _owner_findings(cfg)
    reviewed = {op.finding_id for op in plan.operations if op.op == "review"}
    assert {f["id"] for f in left} <= reviewed, [f["detail"] for f in left]
