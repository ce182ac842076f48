"""Exactly-once under SIGKILL: apply runs in a subprocess, is killed at several points, and is started again.

The sandbox runs in this process; afterwards its request log and per-record write counters must show every
planned write made exactly once: no operation repeated, no record created twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from changes_world import make_world, world_config, world_services
from crmsandbox.testing import running_sandbox
from syncaudit.changes.apply import journal_for, plans_dir
from syncaudit.changes.plan import build_change_plan

ROOT = Path(__file__).resolve().parent.parent


def _apply(cfg_file: Path, plan: Any, sandbox_dir: Path, kill_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib"), "SYNCAUDIT_SANDBOX_DIR": str(sandbox_dir)}
    env.pop("SYNCAUDIT_CHANGES_KILL_AT", None)
    if kill_at:
        env["SYNCAUDIT_CHANGES_KILL_AT"] = kill_at
    cmd = [
        sys.executable,
        "-m",
        "syncaudit",
        "apply",
        "--config",
        str(cfg_file),
        "--plan",
        str(plan.path),
        "--confirm",
        plan.hash,
        "--execute",
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize(
    ("kill_at", "bulk"),
    [
        ("intent:1", False),  # journaled the intent, nothing sent
        ("sent:1", False),  # Intercom updates sent, outcomes never journaled
        ("sent:3", False),  # the Task upserts (Collections) landed, ids never journaled: no second Task each
        ("sent:4", False),  # the lead merge landed unrecorded
        ("job:1", True),  # a Bulk API 2.0 upsert-by-Id job uploaded but not closed when the process died
        ("job:2", True),  # the Bulk upsert job creating the Tasks (by External ID) uploaded, not closed
        ("sent:3", True),  # that job completed, its results never journaled
    ],
)
def test_killed_apply_resumes_exactly_once(tmp_path: Path, kill_at: str, bulk: bool) -> None:
    world = make_world(16, convs=4)
    cfg = world_config(tmp_path, bulk_threshold=3 if bulk else 200)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"source_path"})))
    plan = build_change_plan(cfg, world["snapshot"], world["findings"])
    plan.save(plans_dir(cfg))
    sbdir = tmp_path / "sb"
    with running_sandbox(services=world_services(world, tmp_path), state_dir=sbdir) as sb:
        first = _apply(cfg_file, plan, sbdir, kill_at)
        assert first.returncode == -signal.SIGKILL, first.stderr
        second = _apply(cfg_file, plan, sbdir, None)
        assert second.returncode == 0, second.stderr
        assert "created 4, merged 1, updated 16" in second.stdout

        state = sb.control("GET", "state")
        counts = {**state["salesforce"]["writes"], **state["intercom"]["writes"]}
        assert len(counts) == len(plan.writes) and set(counts.values()) == {1}, counts
        tasks = [k for k in state["salesforce"]["writes"] if k.startswith("Task/")]
        assert len(tasks) == 4 and state["salesforce"]["objects"]["Task"]["records"] == 4  # no duplicate created
        ingest = [r for r in sb.requests() if r["method"] == "POST" and r["path"].endswith("/jobs/ingest")]
        assert len(ingest) == (2 if bulk else 0)  # bulk: one upsert job by Id, one by the External ID

        log = sb.requests()
        ic_writes = Counter(
            r["path"]
            for r in log
            if r["method"] in ("PUT", "POST")
            and r["system"] == "intercom"
            and r["path"] != "/contacts/search"
            and r["status"] == 200
        )
        assert ic_writes and set(ic_writes.values()) == {1}, ic_writes  # no Intercom write repeated
        sf_written = sum(
            r["records"]
            for r in log
            if r["system"] == "salesforce"
            and r["method"] in ("PATCH", "POST")
            and ("composite/sobjects" in r["path"] or "/jobs/ingest/" in r["path"])
        )
        assert sf_written == sum(1 for _, op in plan.writes if op.system == "salesforce")

    runs = journal_for(cfg).runs_for_plan(plan.hash)
    assert len(runs) == 1 and runs[0]["status"] == "complete"  # the same run, resumed
