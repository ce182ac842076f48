"""Rule fix-ups end to end on the emulators: pull -> findings -> plan (rule_fixups) -> apply -> verify -> pull again
(the fixed violations are gone) -> a re-planned, re-applied create of the same Case makes no second Case -> rollback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from demo_support import demo_sandbox
from syncaudit.audit.findings import read_findings
from syncaudit.changes.apply import apply_plan, journal_for, plans_dir
from syncaudit.changes.model import load_plan
from syncaudit.changes.plan import build_change_plan
from syncaudit.changes.rule_fixups import rule_record_key
from syncaudit.cli import main
from syncaudit.config import load_config
from syncaudit.snapshot import open_snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_sandbox(tmp_path_factory.mktemp("rules-e2e"), size=200, seed=4) as env:
        # The generator's clock is its as_of; a pull is stamped with today's date, so widen the churn window
        # to keep the planted conversations in it (the window itself is tested on load folders).
        raw = env["raw"]
        raw["rules"][0]["when"]["within"] = "3650d"
        env["cfg_file"].write_text(yaml.safe_dump(raw, sort_keys=False))
        env["cfg"] = load_config(env["cfg_file"])
        yield env


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _audit(capsys: pytest.CaptureFixture[str], cfg: str) -> tuple[dict[str, set[tuple[str, ...]]], str, str]:
    """Pull, run the findings; returns violations by rule, the findings file and the snapshot id."""
    code, snap_path, _ = _run(capsys, "pull", "--config", cfg, "--full")
    assert code == 0
    code, out, err = _run(capsys, "findings", "--config", cfg)
    assert code == 0, err
    path = out.splitlines()[0]
    found: dict[str, set[tuple[str, ...]]] = {}
    for f in read_findings(path):
        if f.kind == "rule_violation":
            found.setdefault(str(f.field), set()).add(tuple(f.records))
    return found, path, Path(snap_path.strip().splitlines()[-1]).name


def _cases(cfg: Any) -> int:
    return int(open_snapshot(cfg, None).duckdb().execute("SELECT count(*) FROM sf_Case").fetchall()[0][0])


def test_rule_fixups_create_and_set_through_the_guarded_cycle(
    emulated: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(emulated["cfg_file"])
    before, findings_path, snap_id = _audit(capsys, cfg)
    assert before.get("churn_risk_case") and before.get("plan_means_customer") and before.get("customer_company_plan")
    cases_at_start = _cases(emulated["cfg"])

    code, out, err = _run(capsys, "plan", "--config", cfg, "--fixes", "rule_fixups")
    assert code == 0, err
    folder = re.search(r"^plan: (.+)$", out, re.M).group(1)
    plan_hash = re.search(r"^hash: ([0-9a-f]{16})$", out, re.M).group(1)
    plan = load_plan(folder)
    creates = [op for _, op in plan.writes if op.op == "upsert"]
    sets = [op for _, op in plan.writes if op.op == "update"]
    accounts = {recs[0] for recs in before["churn_risk_case"]}
    assert {op.after["AccountId"] for op in creates} == accounts  # one Case per Account, even for two conversations
    assert all(op.match == {"Intercom_Conversation_Id__c": op.key} for op in creates)
    assert all(op.key == rule_record_key("churn_risk_case", op.after["AccountId"]) for op in creates)
    assert all(op.after["Priority"] == "High" and op.after["Status"] == "New" for op in creates)
    assert {op.key for op in sets} == {recs[0] for recs in before["plan_means_customer"]}
    assert all(op.after == {"Type": "Customer"} and op.before == {"Type": "Prospect"} for op in sets)

    code, out, err = _run(capsys, "apply", "--config", cfg, "--plan", folder, "--confirm", plan_hash, "--execute")
    assert code == 0, err
    run_id = re.search(r"^run: (\S+)$", out, re.M).group(1)
    counts = journal_for(emulated["cfg"]).counts(run_id)
    assert counts.get("created") == len(creates) and counts.get("updated") == len(sets), counts
    code, out, _ = _run(capsys, "verify", "--config", cfg, "--run", run_id)
    assert code == 0 and " 0 differ" in out

    after, _, _ = _audit(capsys, cfg)
    assert not after.get("churn_risk_case") and not after.get("plan_means_customer"), after
    assert after.get("customer_company_plan") == before["customer_company_plan"]  # no fix: a person decides
    assert _cases(emulated["cfg"]) == cases_at_start + len(creates)

    # Planned again from the first snapshot's findings (with another policy beside it, so it is a new plan and a
    # new run): the creates are sent again and update the Cases they made; no second Case appears.
    again = build_change_plan(
        emulated["cfg"],
        open_snapshot(emulated["cfg"], snap_id),
        findings_path,
        ["rule_fixups", "duplicate_worklist"],
    )
    assert again.hash != plan_hash
    assert {op.key for _, op in again.writes if op.op == "upsert"} == {op.key for op in creates}
    res = apply_plan(emulated["cfg"], again, again.hash, dry_run=False)
    ops = [r for r in journal_for(emulated["cfg"]).ops(res.run_id) if r["op"] == "upsert"]
    assert ops and all(r["outcome"] == "updated" for r in ops), ops
    _audit(capsys, cfg)
    assert _cases(emulated["cfg"]) == cases_at_start + len(creates)

    # Rollback restores the Account Types (the created Cases are listed as created, not deleted silently).
    code, out, _ = _run(capsys, "rollback", "--config", cfg, "--run", run_id)
    assert code == 0
    rb = load_plan(plans_dir(emulated["cfg"]) / re.search(r"^hash: ([0-9a-f]{16})$", out, re.M).group(1))
    restored = {op.key: op.after for _, op in rb.writes if op.op == "update"}
    assert {k for k in restored if k.startswith("001")} == {op.key for op in sets}
    assert all(restored[op.key] == {"Type": "Prospect"} for op in sets)
