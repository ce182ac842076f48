"""Apply against the sandbox over HTTPS: guards, concurrency, per-record failures, faults, quota, verify, rollback."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from changes_world import make_world, world_config, world_services
from crmsandbox.testing import running_sandbox
from syncaudit.changes.apply import apply_plan, journal_for, plans_dir
from syncaudit.changes.plan import build_change_plan
from syncaudit.changes.rollback import plan_rollback
from syncaudit.changes.verify import verify_run
from syncaudit.errors import GuardError, QuotaExhaustedError

WRITES = {
    ("PATCH", "composite/sobjects"),
    ("POST", "composite/sobjects"),
    ("DELETE", "composite/sobjects"),
    ("PUT", "/contacts/"),
    ("POST", "/contacts/merge"),
    ("PUT", "/batches"),
}


class Env:
    def __init__(self, tmp: Path, world: dict[str, Any], sb: Any, **apply: Any) -> None:
        self.tmp, self.world, self.sb = tmp, world, sb
        self.cfg = world_config(tmp, **apply)
        self.plan = build_change_plan(self.cfg, world["snapshot"], world["findings"])
        self.plan.save(plans_dir(self.cfg))

    def state(self, system: str) -> dict[str, Any]:
        return self.sb.control("GET", "state")[system]

    def svc(self, system: str, op: str, **kw: Any) -> Any:
        return self.sb.control("POST", f"service/{system}/{op}", kw)

    def write_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.sb.requests() if any(r["method"] == m and p in r["path"] for m, p in WRITES)]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Env]:
    opts = getattr(request, "param", {})
    world = make_world(opts.pop("n", 12), convs=opts.pop("convs", 1))
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", str(tmp_path / "sb"))
    with running_sandbox(
        services=world_services(world, tmp_path, **opts.pop("ic", {})), state_dir=tmp_path / "sb"
    ) as sb:
        yield Env(tmp_path, world, sb, **opts)


def _all_written_once(env: Env) -> None:
    for system in ("salesforce", "intercom"):
        counts = env.state(system)["writes"]
        assert counts and set(counts.values()) == {1}, (system, counts)


def test_guards_refuse_before_any_request(env: Env) -> None:
    with pytest.raises(GuardError, match="does not match"):
        apply_plan(env.cfg, env.plan.path, "0000000000000000", dry_run=False)
    small = env.cfg.model_copy(update={"apply": env.cfg.apply.model_copy(update={"max_changes": 3})})
    with pytest.raises(GuardError, match="more than apply.max_changes"):
        apply_plan(small, env.plan.path, env.plan.hash, dry_run=False)
    prod = world_config(env.tmp).model_dump(mode="json", exclude={"source_path"})
    prod.pop("sandbox")
    prod["salesforce"] = {"instance_url": "https://example.my.salesforce.com", "production": True}
    prod["intercom"] = {}
    from syncaudit.config import Config

    with pytest.raises(GuardError, match="production"):
        apply_plan(Config.model_validate(prod), env.plan.path, env.plan.hash, dry_run=False)
    dry = apply_plan(env.cfg, env.plan.path, env.plan.hash)
    assert dry.dry_run and dry.would_write["salesforce.Contact.update"] == 6
    assert env.sb.requests() == []  # guards and dry runs never touch the systems


def test_apply_writes_each_planned_change_once_then_verifies(env: Env) -> None:
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert res.status == "complete" and not res.failed and not res.skipped and not res.concurrent
    assert res.counts == {"updated": 12, "created": 1, "merged": 1}
    _all_written_once(env)
    contact = env.svc("salesforce", "record", obj="Contact", id="003000000000001AAA")
    assert contact["Plan_Type__c"] == "Pro"
    assert env.svc("intercom", "contact", id=env.world["ic"][3]["id"])["external_id"] == "user-3"
    assert verify_run(env.cfg, res.run_id).ok
    from syncaudit.changes import journal_frame, operations_frame

    frame = journal_frame(env.cfg, res.run_id)
    assert sorted(frame["outcome"].unique()) == ["created", "merged", "updated"] and len(frame) == 14
    assert len(operations_frame(env.plan)) == len(env.plan.operations)
    rows = journal_for(env.cfg).ops(res.run_id)
    assert all(r["outcome"] and r["intent_at"] and r["outcome_at"] for r in rows)  # the audit log
    # A completed plan is never applied twice.
    before = len(env.sb.requests())
    again = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert again.run_id == res.run_id and "already applied" in again.message and len(env.sb.requests()) == before


def test_records_changed_since_the_snapshot_are_skipped_not_overwritten(env: Env) -> None:
    env.svc("salesforce", "touch", obj="Contact", id="003000000000001AAA", fields={"Plan_Type__c": "Enterprise"})
    env.svc("intercom", "touch", id=env.world["ic"][1]["id"], fields={"name": "Someone edited me"})
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    skipped = {(s["system"], s["record_key"]): s["error_code"] for s in res.skipped}
    assert skipped == {
        ("salesforce", "003000000000001AAA"): "CHANGED_SINCE_SNAPSHOT",
        ("intercom", env.world["ic"][1]["id"]): "CHANGED_SINCE_SNAPSHOT",
    }
    assert env.svc("salesforce", "record", obj="Contact", id="003000000000001AAA")["Plan_Type__c"] == "Enterprise"
    assert env.svc("intercom", "contact", id=env.world["ic"][1]["id"])["custom_attributes"]["lifecycle_stage"] == "MQL"


def test_a_write_that_lands_between_reread_and_intercom_write_is_reported(env: Env) -> None:
    """Intercom has no conditional update: a write by someone else after the re-read is caught in our write's
    answer (a field outside ours moved), journaled, printed, and reported by verify; never silently passed."""
    ic1, ic2 = env.world["ic"][1]["id"], env.world["ic"][5]["id"]
    env.svc("intercom", "interleave", id=ic1, fields={"name": "Edited meanwhile"})  # a field we do not write
    env.svc("intercom", "interleave", id=ic2, fields={"custom_attributes": {"lifecycle_stage": "Customer"}})
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert res.status == "complete" and not res.failed
    flagged = {r["record_key"]: r for r in res.concurrent}
    assert set(flagged) == {ic1} and "name" in flagged[ic1]["detail"] and flagged[ic1]["outcome"] == "updated"
    # ... the other one (someone set only the field we write) is the residual risk: undetectable afterwards.
    rep = verify_run(env.cfg, res.run_id)
    assert [m["key"] for m in rep.mismatches] == [ic1]
    assert rep.mismatches[0]["problems"][0]["field"] == "(concurrent write)"


@pytest.mark.parametrize("env", [{"n": 300}], indirect=True)
def test_intercom_batches_are_reread_immediately_before_their_writes(env: Env) -> None:
    """150 Intercom updates: each batch of 100 is re-read by one search right before its writes, not all upfront."""
    apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    runs: list[list[int]] = []  # [records the search returned, writes that followed it]
    for r in env.sb.requests(system="intercom"):
        if r["path"] == "/contacts/search":
            runs.append([r["records"], 0])
        elif r["method"] == "PUT":
            runs[-1][1] += 1
    assert [w for _, w in runs if w] == [100, 50] and all(found >= w for found, w in runs)


def test_per_record_failures_are_journaled_with_their_code(env: Env) -> None:
    # Someone gives another Contact the key the plan backfills: Salesforce answers DUPLICATE_VALUE for that row.
    env.svc("salesforce", "touch", obj="Contact", id="003000000000012AAA", fields={"Product_User_Id__c": "user-2"})
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert {f["record_key"]: f["error_code"] for f in res.failed} == {"003000000000003AAA": "DUPLICATE_VALUE"}
    assert res.counts == {"updated": 11, "created": 1, "merged": 1, "failed": 1}


def test_locked_rows_are_retried_and_injected_failures_keep_their_code(env: Env) -> None:
    env.sb.control("POST", "faults", {"profile": "none", "seed": 5, "rates": {"record_failure": 0.25}})
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    rows = journal_for(env.cfg).ops(res.run_id)
    assert any(r["attempts"] > 1 for r in rows if r["system"] == "salesforce")  # UNABLE_TO_LOCK_ROW -> retried
    assert {f["error_code"] for f in res.failed} <= {"DUPLICATE_VALUE", "UNABLE_TO_LOCK_ROW"}
    assert all(r["outcome"] in {"updated", "created", "merged", "failed"} for r in rows)
    updated = {r["record_key"] for r in rows if r["system"] == "salesforce" and r["outcome"] == "updated"}
    writes = env.state("salesforce")["writes"]
    assert {k.split("/")[1] for k in writes if k.startswith("Contact/")} == updated
    assert set(writes.values()) == {1}


def test_expired_session_mid_apply_is_renewed(env: Env) -> None:
    env.sb.control("POST", "faults", {"profile": "none", "seed": 2, "rates": {"expired_session": 0.4}})
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert res.status == "complete" and not res.failed
    log = env.sb.requests(system="salesforce")
    first_401 = next(i for i, r in enumerate(log) if r["status"] == 401)
    assert any(r["path"] == "/services/oauth2/token" for r in log[first_401:])  # logged in again after it
    _all_written_once(env)


@pytest.mark.parametrize("seed", [4])
def test_chaos_profile_completes_without_repeating_a_write(env: Env, seed: int) -> None:
    env.sb.control("POST", "faults", {"profile": "chaos", "seed": seed, "rates": {"record_failure": 0.0}})
    res = None
    for _ in range(4):  # a run may stop on a fault that outlasts its retries; re-running resumes it
        try:
            res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
            break
        except Exception:  # noqa: BLE001, S112
            continue
    assert res is not None and res.status == "complete", res
    assert res.counts.get("updated", 0) == 12 and res.counts.get("created") == 1 and res.counts.get("merged") == 1
    counts = {**env.state("salesforce")["writes"], **env.state("intercom")["writes"]}
    assert set(counts.values()) == {1}, counts  # drop_after answers were settled by reading, never re-sent
    assert len(env.svc("salesforce", "find", obj="Task", field="Subject", value="Intercom conversation 471")) == 1


@pytest.mark.parametrize("env", [{"n": 300, "bulk_threshold": 50}], indirect=True)
def test_large_salesforce_batches_go_through_bulk_api(env: Env) -> None:
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert not res.failed
    log = env.sb.requests(system="salesforce")
    paths = Counter((r["method"], r["path"].rsplit("/", 1)[-1]) for r in log)
    assert paths[("PUT", "batches")] == 1 and not any(m == "PATCH" and p == "sobjects" for m, p in paths)
    assert res.api_calls["salesforce"] <= 12
    assert verify_run(env.cfg, res.run_id).ok


@pytest.mark.parametrize("env", [{"n": 60, "ic": {"per_window": 8, "window_s": 1.0}}], indirect=True)
def test_intercom_writes_are_paced_by_rate_headers_without_429(env: Env) -> None:
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert not res.failed and env.state("intercom")["429"] == 0


def test_quota_guard_stops_then_resume_completes_exactly_once(env: Env) -> None:
    env.svc("salesforce", "api_usage", used=78, daily=100)  # 80% is the default share: 2 calls left (of 3)
    with pytest.raises(QuotaExhaustedError):
        apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    runs = journal_for(env.cfg).runs_for_plan(env.plan.hash)
    assert [r["status"] for r in runs] == ["stopped"]
    env.svc("salesforce", "api_usage", used=0, daily=15000)
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert res.run_id == runs[0]["run_id"] and res.status == "complete" and not res.failed
    _all_written_once(env)


def test_rollback_restores_before_images_as_its_own_confirmed_run(env: Env) -> None:
    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    env.svc("salesforce", "touch", obj="Contact", id="003000000000005AAA", fields={"Plan_Type__c": "Starter"})
    rb = plan_rollback(env.cfg, res.run_id)
    assert rb.header["kind"] == "rollback" and rb.header["of_run"] == res.run_id
    why = {i["key"]: i["why"] for i in rb.header["not_restorable"]}
    assert why["003000000000005AAA"] == "changed since the run" and "merges cannot be undone" in "".join(why.values())
    with pytest.raises(GuardError):
        apply_plan(env.cfg, rb, env.plan.hash, dry_run=False)
    back = apply_plan(env.cfg, rb, rb.hash, dry_run=False, kind="rollback", parent_run=res.run_id)
    assert back.counts == {"updated": 11, "deleted": 1}
    assert env.svc("salesforce", "record", obj="Contact", id="003000000000001AAA")["Plan_Type__c"] == "Free"
    assert env.svc("intercom", "contact", id=env.world["ic"][3]["id"])["external_id"] is None
    assert env.svc("salesforce", "find", obj="Task", field="Subject", value="Intercom conversation 471") == []
    assert verify_run(env.cfg, back.run_id).ok
    assert journal_for(env.cfg).run(back.run_id)["parent_run"] == res.run_id


def test_notebook_entry_points(env: Env) -> None:
    """The calls notebooks 60/70/80 make (syncaudit.report.steps): paths in, summaries out."""
    from syncaudit.changes import build_change_plan as build
    from syncaudit.changes import build_rollback_plan, list_runs

    findings = env.tmp / "findings.jsonl"
    findings.write_text("".join(json.dumps(f) + "\n" for f in env.world["findings"]))
    plan = build(env.cfg, env.world["snapshot"], findings)
    summary = plan.summary()
    assert summary["hash"] == env.plan.hash and Path(summary["path"]).is_dir()  # stored on build
    dry = apply_plan(env.cfg, summary["path"], confirm=summary["hash"], execute=False).summary()
    assert dry["dry_run"] and dry["would_write"] and env.sb.requests() == []
    assert list_runs(env.cfg) == []
    done = apply_plan(env.cfg, summary["path"], confirm=summary["hash"], execute=True).summary()
    (run,) = list_runs(env.cfg)
    assert run["run_id"] == done["run_id"] and run["status"] == "complete" and run["counts"]["updated"] == 12
    rb = build_rollback_plan(env.cfg, done["run_id"]).summary()
    assert rb["writes"] == 13 and rb["path"]


def _reference_rollback(env: Env, run_id: str, writers: dict[str, Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """The rollback of ``run_id`` decided with the whole run in memory (every journal row, every operation, each
    target's records read in one call): what the streamed planner must give, operation for operation."""
    from dataclasses import replace

    from syncaudit.changes.model import Operation
    from syncaudit.changes.verify import read_touched
    from syncaudit.changes.writer_api import same_value

    journal = journal_for(env.cfg)
    run = journal.run(run_id)
    rows = [r for r in journal.ops(run_id) if r["outcome"] in {"updated", "created", "merged"}]
    plan_ops = env.plan.ops_at(r["seq"] for r in rows)
    ops, nr, groups = [], [], {}
    for row in rows:
        op = plan_ops[row["seq"]]
        if op.op == "merge":
            nr.append({"seq": row["seq"], "key": op.key, "why": "Intercom merges cannot be undone"})
        elif op.op == "upsert" and row["outcome"] != "created":
            why = "the upsert matched an existing record; its earlier values were not captured"
            nr.append({"seq": row["seq"], "key": row["new_id"] or op.key, "why": why})
        else:
            op = replace(op, key=row["new_id"]) if op.op == "upsert" else op
            groups.setdefault((op.system, op.object), []).append((row["seq"], op))
    for (system, obj), items in sorted(groups.items()):
        cur, changed_only = read_touched(writers[system], obj, [op for _, op in items if op.key], run["started_at"])
        for seq, op in items:
            rec = cur.get(op.key)
            why = (
                "not modified by the run" if changed_only and op.key not in cur
                else "the record no longer exists" if rec is None
                else "changed since the run" if not all(same_value(rec.get(f), v) for f, v in op.after.items())
                else None
            )  # fmt: skip
            if why:
                nr.append({"seq": seq, "key": op.key, "why": why})
                continue
            undo = ("delete", {}, "created by") if op.op == "upsert" else ("update", dict(op.before), "restores")
            current = {f: rec.get(f) for f in op.after}
            version = rec.get("_version")
            policy = f"rollback:{op.policy}"
            ops.append(
                (
                    (system, obj, undo[0], seq),
                    Operation(system, obj, op.key, undo[0], undo[1], current, version, op.finding_id, policy,
                              note=f"{undo[2]} {run_id}"),
                )
            )  # fmt: skip
    return [op for _, op in sorted(ops, key=lambda x: x[0])], nr


class _Recording:
    """A writer handed to the planner that notes how many records each read asks for; ``changed`` False hides
    the writer's streamed "changed since" read, so the planner falls back to reading window by window."""

    def __init__(self, writer: Any, reads: list[int], changed: bool = True) -> None:
        self.w, self.reads, self.changed = writer, reads, changed
        self.system = writer.system

    def current(self, obj: str, ops: list[Any], since: Any) -> dict[str, Any]:
        self.reads.append(len(ops))
        return self.w.current(obj, ops, since)

    def __getattr__(self, name: str) -> Any:
        if name == "changed_pages" and not self.changed:
            raise AttributeError(name)
        return getattr(self.w, name)


@pytest.mark.parametrize("env", [{"n": 440, "convs": 3}], indirect=True)
def test_rollback_plan_streams_in_windows_and_equals_the_whole_run_plan(env: Env) -> None:
    """A run of 440 people (220 Salesforce Contact updates: the "changed since the run" read; Intercom updates;
    created Tasks; an Intercom merge), edited and deleted afterwards, planned in windows of 7 operations:
    every window reads only its own records, and the plan is the whole-run plan byte for byte."""
    from syncaudit.connectors.build import build_writers

    res = apply_plan(env.cfg, env.plan, env.plan.hash, dry_run=False)
    assert res.status == "complete" and res.counts["created"] == 3 and res.counts["merged"] == 1
    real = build_writers(env.cfg, {"salesforce", "intercom"})
    sf, ic = real["salesforce"], real["intercom"]
    env.svc("salesforce", "touch", obj="Contact", id="003000000000005AAA", fields={"Plan_Type__c": "Starter"})
    env.svc("intercom", "touch", id=env.world["ic"][9]["id"], fields={"custom_attributes": {"lifecycle_stage": "X"}})
    sf._call("DELETE", f"{sf.v}/sobjects/Contact/003000000000009AAA", write=True)  # a large set: not modified
    ic._call("DELETE", f"/contacts/{env.world['ic'][13]['id']}", write=True)  # read by id: no longer exists
    (task,) = env.svc("salesforce", "find", obj="Task", field="Subject", value="Intercom conversation 472")
    env.svc("salesforce", "touch", obj="Task", id=task["Id"], fields={"Subject": "edited by someone"})
    want_ops, want_nr = _reference_rollback(env, res.run_id, real)

    plans = []
    for changed in (True, False):
        reads: list[int] = []
        wrap = {s: _Recording(w, reads, changed) for s, w in real.items()}
        before = len(env.sb.requests(system="salesforce"))
        rb = plan_rollback(env.cfg, res.run_id, writers=lambda systems, wrap=wrap: wrap, window=7)
        since_queries = [
            r for r in env.sb.requests(system="salesforce")[before:] if "WHERE+SystemModstamp" in r["query"]
        ]
        assert reads and max(reads) <= 7, reads  # no read asks for more than one window's records
        assert len(since_queries) == (1 if changed else 0), since_queries  # "changed since": one query, spooled
        plans.append(rb)
        why = {i["key"]: i["why"] for i in rb.header["not_restorable"]}
        assert why["003000000000005AAA"] == "changed since the run"
        assert why["003000000000009AAA"] == "not modified by the run"
        assert why[env.world["ic"][9]["id"]] == "changed since the run"
        assert why[env.world["ic"][13]["id"]] == "the record no longer exists"
        assert why[task["Id"]] == "changed since the run"
        assert list(why.values()).count("Intercom merges cannot be undone") == 1
        assert rb.header["not_restorable"] == want_nr
        got = [op for _, op in (item for batch in rb.iter_batches() for item in batch)]
        assert [o.to_dict() for o in got] == [o.to_dict() for o in want_ops]
        assert {o.op for o in got} == {"update", "delete"} and len(got) == len(want_ops) > 200
        # The streamed header and hash are those of the same plan held whole (model.Plan hashes it in memory).
        from syncaudit.changes.model import Plan

        whole = Plan(dict(rb.header), want_ops)
        assert rb.hash == whole.hash
        whole_dir = env.tmp / f"whole-{changed}"
        whole.save(whole_dir)
        for name in ("plan.json", "plan.jsonl", "summary.json"):
            assert (rb.path / name).read_bytes() == (whole_dir / rb.hash / name).read_bytes(), name
    # Both ways give the same plan (the header's "since" is the time each was made).
    assert (plans[0].path / "plan.jsonl").read_bytes() == (plans[1].path / "plan.jsonl").read_bytes()
