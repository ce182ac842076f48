"""Exactly-once under SIGKILL on the project's own emulators (not test doubles).

One pull -> audit -> plan on the demo sandbox; then, for each kill point, the sandbox is reset to its loaded
state, `syncaudit apply` runs in a subprocess that SIGKILLs itself at that point, and a second process
resumes the run. The sandbox's request log and final state must show every planned write made exactly once:
no Intercom write repeated, no Salesforce record sent twice, no Task created twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from demo_support import demo_sandbox
from syncaudit.changes.apply import journal_for, plans_dir
from syncaudit.changes.plan import build_change_plan, read_findings
from syncaudit.config import load_config

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from syncaudit.audit.run import run_audit
    from syncaudit.pull import run_pull

    # seed 4: the plan has a keyed Task create (an unlogged conversation of a Contact) and an Intercom merge
    with demo_sandbox(tmp_path_factory.mktemp("kill"), size=100, seed=4) as env:
        snap = run_pull(env["cfg"], full=True, bars=False)
        audit = run_audit(env["cfg"], snap.id)
        findings = read_findings(Path(audit.out_dir) / "findings.jsonl")
        yield {**env, "snap": snap, "findings": findings}


def _apply(cfg_file: Path, plan: Any, sandbox_dir: Path, kill_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib"), "SYNCAUDIT_SANDBOX_DIR": str(sandbox_dir)}
    env.pop("SYNCAUDIT_CHANGES_KILL_AT", None)
    if kill_at:
        env["SYNCAUDIT_CHANGES_KILL_AT"] = kill_at
    cmd = [sys.executable, "-m", "syncaudit", "apply", "--config", str(cfg_file)]
    cmd += ["--plan", str(plan.path), "--confirm", plan.hash, "--execute"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.mark.parametrize(
    ("kill_at", "bulk"),
    [
        ("intent:1", False),  # the first intent journaled, nothing sent
        ("sent:1", False),  # a batch sent, its outcomes never journaled
        ("sent:3", False),
        ("sent:5", False),
        ("job:1", True),  # a Bulk API 2.0 job uploaded but not closed when the process died
    ],
)
def test_killed_apply_on_the_emulators_resumes_exactly_once(
    planned: dict[str, Any], tmp_path: Path, kill_at: str, bulk: bool
) -> None:
    sb = planned["sb"]
    raw = {**planned["raw"], "data_dir": str(tmp_path / "data")}
    if bulk:
        raw["apply"] = {**(raw.get("apply") or {}), "bulk_threshold": 2}
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    cfg = load_config(cfg_file)
    plan = build_change_plan(cfg, planned["snap"], planned["findings"])
    plan.save(plans_dir(cfg))
    planned_ops = Counter((op.system, op.op) for _, op in plan.writes)
    assert planned_ops[("salesforce", "upsert")] >= 1 and planned_ops[("intercom", "merge")] >= 1

    sb.reset()  # the records as loaded: the snapshot's state
    sb.control("POST", "requests/clear")
    tasks_before = sb.control("GET", "state")["salesforce"]["objects"]["Task"]["records"]

    first = _apply(cfg_file, plan, planned["tmp"] / "sb", kill_at)
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
    second = _apply(cfg_file, plan, planned["tmp"] / "sb", None)
    assert second.returncode in (0, 7), second.stdout + second.stderr  # 7: some records refused, listed
    assert "Traceback" not in second.stderr

    runs = journal_for(cfg).runs_for_plan(plan.hash)
    assert len(runs) == 1 and runs[0]["status"] == "complete"  # the killed run was resumed, not restarted
    outcomes = Counter(r["outcome"] for r in journal_for(cfg).ops(runs[0]["run_id"]))
    assert "in_doubt" not in outcomes and sum(outcomes.values()) == len(plan.writes), outcomes

    log = [r for r in sb.requests() if r["fault"] is None]
    ic_writes = Counter(
        (r["method"], r["path"])
        for r in log
        if r["system"] == "intercom"
        and r["method"] in ("PUT", "POST")
        and r["status"] == 200
        and not r["path"].endswith("/search")
    )
    assert sum(ic_writes.values()) == sum(n for (s, _), n in planned_ops.items() if s == "intercom"), ic_writes
    assert set(ic_writes.values()) == {1}, ic_writes  # no Intercom write repeated
    sf_sent = sum(
        r["records"] or 0
        for r in log
        if r["system"] == "salesforce"
        and r["method"] in ("PATCH", "POST", "PUT")
        and ("composite/sobjects" in r["path"] or ("/jobs/ingest/" in r["path"] and r["method"] == "PATCH"))
    )
    # sObject Collections count the records they wrote, a Bulk job the records it processed when closed
    assert sf_sent == sum(n for (s, _), n in planned_ops.items() if s == "salesforce")  # none written twice
    if bulk:
        assert any("/jobs/ingest" in r["path"] for r in log)
    tasks_after = sb.control("GET", "state")["salesforce"]["objects"]["Task"]["records"]
    assert tasks_after - tasks_before == planned_ops[("salesforce", "upsert")]  # no Task created twice


def test_apply_rides_out_sessions_expiring_mid_apply(planned: dict[str, Any], tmp_path: Path) -> None:
    """Access tokens live 1 s and every call takes 150 ms: the apply must log in again, write each record once."""
    sb = planned["sb"]
    raw = {**planned["raw"], "data_dir": str(tmp_path / "data")}
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    cfg = load_config(cfg_file)
    plan = build_change_plan(cfg, planned["snap"], planned["findings"])
    plan.save(plans_dir(cfg))
    sb.reset()
    sb.control("POST", "service/salesforce/expire_sessions")
    sb.control("POST", "service/salesforce/token_lifetime", {"seconds": 1})
    sb.control("POST", "latency", {"ms": 150})
    sb.control("POST", "requests/clear")
    try:
        done = _apply(cfg_file, plan, planned["tmp"] / "sb", None)
    finally:
        sb.control("POST", "latency", {"ms": 0})
        sb.control("POST", "service/salesforce/token_lifetime", {"seconds": 7200})
    assert done.returncode in (0, 7), done.stdout + done.stderr
    log = [r for r in sb.requests("salesforce") if r["fault"] is None]
    assert any(r["status"] == 401 for r in log)  # sessions did expire under the apply
    assert sum(1 for r in log if r["path"].endswith("/oauth2/token")) >= 2  # and it logged in again
    sf_sent = sum(
        r["records"] or 0 for r in log if r["method"] in ("PATCH", "POST") and "composite/sobjects" in r["path"]
    )
    assert sf_sent == sum(1 for _, op in plan.writes if op.system == "salesforce")
