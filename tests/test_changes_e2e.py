"""The whole cycle on the project's own emulators: pull -> findings -> plan -> apply -> verify -> rollback,
through the `syncaudit` commands, plus exactly-once under the chaos profile (dropped answers after writes)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_support import demo_sandbox
from syncaudit.changes.apply import apply_plan, journal_for, plans_dir
from syncaudit.changes.model import load_plan
from syncaudit.changes.plan import build_change_plan, read_findings
from syncaudit.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # seed 4: the plan has a keyed Task create (an unlogged conversation of a Contact) and an Intercom merge
    with demo_sandbox(tmp_path_factory.mktemp("e2e"), size=100, seed=4) as env:
        yield env


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_cycle_plan_apply_verify_rollback(emulated: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(emulated["cfg_file"])
    sb = emulated["sb"]
    assert _run(capsys, "pull", "--config", cfg, "--full")[0] == 0
    assert _run(capsys, "findings", "--config", cfg)[0] == 0
    code, out, err = _run(capsys, "plan", "--config", cfg)
    assert code == 0, err
    folder = re.search(r"^plan: (.+)$", out, re.M).group(1)
    plan_hash = re.search(r"^hash: ([0-9a-f]{16})$", out, re.M).group(1)
    plan = load_plan(folder)
    assert plan.hash == plan_hash and plan.writes
    upserts = [op for _, op in plan.writes if op.op == "upsert"]  # logged conversations: keyed creates
    assert upserts and all(op.match == {"Intercom_Conversation_Id__c": op.key} for op in upserts)

    n = len(sb.requests())
    code, out, err = _run(capsys, "apply", "--config", cfg, "--plan", folder, "--confirm", "deadbeefdeadbeef")
    assert code == 5 and "does not match" in err and "Traceback" not in err
    code, out, _ = _run(capsys, "apply", "--config", cfg, "--plan", folder, "--confirm", plan_hash)
    assert code == 0 and "dry run" in out and len(sb.requests()) == n  # nothing sent

    code, out, err = _run(capsys, "apply", "--config", cfg, "--plan", folder, "--confirm", plan_hash, "--execute")
    assert code in (0, 7), err  # 7: some records were refused (listed)
    run_id = re.search(r"^run: (\S+)$", out, re.M).group(1)
    counts = journal_for(emulated["cfg"]).counts(run_id)
    assert counts.get("updated", 0) > 0 and "in_doubt" not in counts
    assert counts.get("created", 0) == len(upserts)  # each conversation logged once, as a new Task
    code, out, _ = _run(capsys, "verify", "--config", cfg, "--run", run_id)
    assert code == 0 and " 0 differ" in out

    code, out, _ = _run(capsys, "rollback", "--config", cfg, "--run", run_id)
    assert code == 0
    rb_hash = re.search(r"^hash: ([0-9a-f]{16})$", out, re.M).group(1)
    code, out, err = _run(capsys, "rollback", "--config", cfg, "--run", run_id, "--confirm", rb_hash, "--execute")
    assert code in (0, 7), err
    rb_run = re.search(r"^run: (\S+)$", out, re.M).group(1)
    assert journal_for(emulated["cfg"]).run(rb_run)["parent_run"] == run_id
    rb = load_plan(plans_dir(emulated["cfg"]) / rb_hash)
    restored = [op for _, op in rb.writes if op.op == "update"]
    before = {(op.key, f): v for _, op in plan.writes for f, v in op.before.items()}
    assert restored and all(before[(op.key, f)] == v for op in restored for f, v in op.after.items())


def test_chaos_and_a_kill_still_write_each_change_once(emulated: dict[str, Any]) -> None:
    sb, cfg = emulated["sb"], emulated["cfg"]
    sb.reset()
    from syncaudit.audit.run import run_audit
    from syncaudit.pull import run_pull

    snap = run_pull(cfg, full=True, bars=False)
    audit = run_audit(cfg, snap.id)
    plan = build_change_plan(cfg, snap, read_findings(Path(audit.out_dir) / "findings.jsonl"))
    plan.save(plans_dir(cfg))
    sb.control("POST", "requests/clear")
    sb.control("POST", "faults", {"profile": "chaos", "seed": 11, "rates": {"record_failure": 0.0, "drop_after": 0.1}})
    # First a process that is SIGKILLed right after its second batch was sent (answers unrecorded) ...
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib"), "SYNCAUDIT_CHANGES_KILL_AT": "sent:2"}
    cmd = [
        sys.executable,
        "-m",
        "syncaudit",
        "apply",
        "--config",
        str(emulated["cfg_file"]),
        "--plan",
        str(plan.path),
        "--confirm",
        plan.hash,
        "--execute",
    ]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # ... then this process resumes the same run.
    res = None
    for _ in range(5):
        try:
            res = apply_plan(cfg, plan, plan.hash, dry_run=False)
            break
        except Exception:  # noqa: BLE001, S112 - a fault outlasting the retries stops the run; start it again
            continue
    sb.control("POST", "faults", {"profile": "none"})
    assert res is not None and res.status == "complete"
    log = sb.requests()
    assert any(r["fault"] == "drop_after" for r in log)
    handled = [r for r in log if r["fault"] in (None, "drop_after", "slow")]
    ic = Counter(
        r["path"]
        for r in handled
        if r["system"] == "intercom" and r["method"] in ("PUT", "POST") and r["path"] != "/contacts/search"
    )
    assert ic and max(ic.values()) == 1, ic  # no Intercom write was repeated
    sf_records = sum(
        r["records"]
        for r in handled
        if r["system"] == "salesforce" and r["method"] in ("PATCH", "POST") and "composite/sobjects" in r["path"]
    )
    sf_done = sum(
        1
        for r in journal_for(cfg).ops(res.run_id)
        if r["system"] == "salesforce" and r["outcome"] in ("updated", "created")
    )
    assert sf_records == sf_done  # every Salesforce record written once, none twice
    assert len(journal_for(cfg).runs_for_plan(plan.hash)) == 1  # the killed run was resumed, not restarted
