"""Review on the project's own emulators: pull -> findings -> plan -> review decisions -> decided plan -> apply.

Hard negatives first: nothing a person did not approve ever becomes a write, a bad decision is refused with one
message, and a rejection does not survive a change of its evidence."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_support import demo_sandbox
from syncaudit.changes.apply import apply_plan
from syncaudit.changes.context import review_op
from syncaudit.changes.model import Plan
from syncaudit.changes.review import Review, normalize_evidence
from syncaudit.changes.review_files import findings_file, plans_dir
from syncaudit.cli import main
from syncaudit.errors import SyncAuditError
from syncaudit.snapshot import open_snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_sandbox(tmp_path_factory.mktemp("review"), size=100, seed=3) as env:
        cfg = str(env["cfg_file"])
        for argv in (["pull", "--config", cfg, "--full"], ["findings", "--config", cfg], ["plan", "--config", cfg]):
            assert main(argv) == 0
        yield env


@pytest.fixture
def review(env: dict[str, Any]) -> Iterator[Review]:
    """A fresh copy of the demo plan (its own folder, no decisions yet) for each test."""
    cfg = env["cfg"]
    base = Review.open(cfg).plan
    yield Review(cfg, base.path)
    for folder in plans_dir(cfg).iterdir():  # decided plans and decision logs made by the test
        if json.loads((folder / "plan.json").read_text()).get("base_plan"):
            shutil.rmtree(folder)
        (folder / "decisions.jsonl").unlink(missing_ok=True)


def _writes(plan: Plan) -> list[tuple[str, str, str | None, str]]:
    return sorted((o.system, o.object, o.key, o.op) for _, o in plan.iter_writes())


def test_bad_decisions_are_refused_with_one_message(review: Review) -> None:
    item = review.page(0, kind="duplicate")[0]
    with pytest.raises(SyncAuditError, match="no review item 'nope'"):
        review.decide("nope", "approve")
    with pytest.raises(SyncAuditError, match="unknown decision 'merge'"):
        review.decide(item.id, "merge")
    with pytest.raises(SyncAuditError, match="not one of item"):
        review.decide(item.id, "approve", survivor="003000000000000AAA")
    with pytest.raises(SyncAuditError, match="skip is not a decision"):
        review.decide(item.id, "skip")
    assert not review.log.path.exists()  # nothing refused was saved


def test_undecided_review_items_never_become_writes(review: Review, env: dict[str, Any]) -> None:
    decided = review.build_plan()
    assert decided.hash != review.plan.hash and decided.header["base_plan"] == review.plan.hash
    assert _writes(decided) == _writes(review.plan)  # no decision: not one write more
    assert decided.summary()["reviews"] == review.count()
    res = apply_plan(env["cfg"], decided.path, decided.hash)  # dry run
    assert res.would_write == review.plan.write_counts()


def test_decisions_are_saved_with_who_and_when_and_the_last_one_stands(review: Review, env: dict[str, Any]) -> None:
    first, second = review.page(0, size=2)
    review.decide(first.id, "reject", who="alice")
    review.decide(first.id, "approve", who="bob")
    review.decide(second.id, "reject")
    lines = [json.loads(line) for line in review.log.path.read_text().splitlines()]
    assert [(x["item"], x["decision"], x["who"]) for x in lines] == [
        (first.id, "reject", "alice"),
        (first.id, "approve", "bob"),
        (second.id, "reject", review.who),
    ]
    assert all(x["when"].endswith("Z") and x["plan"] == review.plan.hash for x in lines)
    again = Review(env["cfg"], review.plan.path)  # a new kernel sees the same standing decisions
    assert again.item(first.id).status == "approve" and again.item(first.id).decided_by == "bob"
    assert again.item(first.id).survivor == first.suggested_survivor
    assert again.counts() == {"pending": review.count() - 2, "approve": 1, "reject": 1}


def test_rejected_items_are_left_out_and_approved_worklist_items_are_marked(review: Review) -> None:
    sf_dup = next(i for i in review.page(0, size=100, kind="duplicate") if i.system == "salesforce")
    other = next(i for i in review.page(0, size=100) if i.id != sf_dup.id)
    survivor = next(r for r in sf_dup.records if r != sf_dup.suggested_survivor)
    review.decide(sf_dup.id, "approve", survivor=survivor)
    review.decide(other.id, "reject")
    decided = review.build_plan()
    reviews = {o.finding_id: o for b in decided.iter_batches() for _, o in b if o.op == "review"}
    assert other.id not in reviews  # rejected: gone
    kept = reviews[sf_dup.id]  # Salesforce merges have no API write: an approved worklist item
    assert kept.after["decided_survivor"] == survivor and kept.note.startswith("approved (merge by hand")
    assert _writes(decided) == _writes(review.plan)
    assert decided.header["review"] | {"decisions": None} == {
        "decisions": None,
        "approved": 1,
        "rejected": 1,
        "carried_rejections": 0,
        "pending": review.count() - 2,
    }
    # The same decisions give the same plan; another survivor gives another one.
    assert review.build_plan().hash == decided.hash
    review.decide(sf_dup.id, "approve", survivor=sf_dup.suggested_survivor)
    assert review.build_plan().hash != decided.hash


def _intercom_pair(env: dict[str, Any]) -> tuple[str, str, str]:
    """An Intercom user and a lead of the snapshot (the plan under review pairs them as a duplicate)."""
    snap = open_snapshot(env["cfg"])
    con = snap.duckdb()
    user = con.execute("SELECT id FROM ic_contacts WHERE role = 'user' ORDER BY id LIMIT 1").fetchone()[0]
    leads = [r[0] for r in con.execute("SELECT id FROM ic_contacts WHERE role = 'lead' ORDER BY id LIMIT 2").fetchall()]
    return user, leads[0], leads[1]


def test_an_approved_intercom_duplicate_becomes_a_merge_and_only_then(env: dict[str, Any]) -> None:
    cfg = env["cfg"]
    user, lead, lead2 = _intercom_pair(env)
    base = Review.open(cfg).plan
    ops = [
        review_op({"id": "dup-user-lead", "kind": "duplicate", "system": "intercom", "object": "contact",
                   "records": [user, lead], "suggested_survivor": user}, "merge_intercom_leads", "check"),
        review_op({"id": "dup-two-leads", "kind": "duplicate", "system": "intercom", "object": "contact",
                   "records": [lead, lead2], "suggested_survivor": lead}, "merge_intercom_leads", "check"),
    ]  # fmt: skip
    folder = Plan({**base.header, "policies": ["test"]}, ops).save(plans_dir(cfg))
    review = Review(cfg, folder)
    try:
        assert review.item("dup-user-lead").kind == "merge_intercom_leads"  # no finding: the policy names it
        # Hard negative: a lead chosen as survivor cannot take a merge (Intercom merges leads into users).
        review.decide("dup-user-lead", "approve", survivor=lead)
        review.decide("dup-two-leads", "approve")
        assert _writes(review.build_plan()) == []
        review.decide("dup-user-lead", "approve", survivor=user)
        decided = review.build_plan()
        merges = [o for _, o in decided.iter_writes()]
        assert [(o.key, o.op, o.after) for o in merges] == [(lead, "merge", {"into": user})]
        assert merges[0].finding_id == "dup-user-lead" and merges[0].before == {"role": "lead"}
        res = apply_plan(cfg, decided.path, decided.hash)
        assert res.would_write == {"intercom.contact.merge": 1}
        with pytest.raises(SyncAuditError, match="does not match"):
            apply_plan(cfg, decided.path, review.plan.hash)  # the reviewed plan's hash does not confirm this one
    finally:
        shutil.rmtree(folder)
        for p in plans_dir(cfg).iterdir():
            if json.loads((p / "plan.json").read_text()).get("base_plan") == review.plan.hash:
                shutil.rmtree(p)


def test_a_rejection_stays_in_later_plans_until_its_evidence_changes(env: dict[str, Any]) -> None:
    cfg = env["cfg"]
    first = Review.open(cfg)
    item = next(i for i in first.page(0, size=100, kind="duplicate") if i.proposal.get("merge"))
    first.decide(item.id, "reject", who="alice")
    # Next month: a new pull, its findings and its plan (the same data: the same finding ids and evidence).
    cfg_file = str(env["cfg_file"])
    for argv in (["pull", "--config", cfg_file, "--full"], ["findings", "--config", cfg_file]):
        assert main(argv) == 0
    snap = open_snapshot(cfg)
    from syncaudit.changes.plan import build_change_plan

    later_plan = build_change_plan(cfg, snap, findings_file(cfg, snap.id))
    try:
        assert later_plan.hash != first.plan.hash
        later = Review(cfg, later_plan.path)
        carried = later.item(item.id)
        assert (carried.status, carried.carried_from, carried.decided_by) == ("reject", first.plan.hash, "alice")
        assert later.count(status="pending") == later.count() - 1
        assert item.id not in {o.finding_id for b in later.build_plan().iter_batches() for _, o in b}
        # The evidence changes (a field of the merge proposal differs): the rejection no longer holds.
        fpath = findings_file(cfg, snap.id)
        rows = [json.loads(line) for line in fpath.read_text().splitlines()]
        for r in rows:
            if r["id"] == item.id:
                field = sorted(r["extra"]["merge"])[0]
                r["extra"]["merge"][field]["value"] = "changed since"
        fpath.write_text("".join(json.dumps(r) + "\n" for r in rows))
        changed = Review(cfg, later_plan.path).item(item.id)
        assert changed.status == "pending" and changed.earlier_rejection_outdated
    finally:
        first.log.path.unlink(missing_ok=True)


def test_filters_and_pages(review: Review) -> None:
    total = review.count()
    assert total == len(review.page(0, size=1000)) and total >= 5
    pages = [i.id for n in range(total) for i in review.page(n, size=2)]
    assert len(pages) == total and len(set(pages)) == total  # every item once across the pages
    dup = review.page(0, size=1000, kind="duplicate")
    assert dup and all(i.kind == "duplicate" for i in dup) and review.count(kind="duplicate") == len(dup)
    assert all(i.severity == "low" for i in review.page(0, size=1000, severity="low"))
    confident = review.page(0, size=1000, min_confidence=0.99)
    assert confident and all((i.confidence or 0) >= 0.99 for i in confident)
    review.decide(dup[0].id, "reject")
    assert [i.id for i in review.page(0, status="reject")] == [dup[0].id]
    assert dup[0].id not in {i.id for i in review.page(0, size=1000, status="pending")}
    assert review.next_pending().id != dup[0].id
    assert review.skip(review.next_pending().id).id != review.next_pending().id
    with pytest.raises(SyncAuditError, match="unknown status"):
        review.page(0, status="maybe")


def test_evidence_from_the_audit_is_used_when_recorded_else_compared_from_the_records(review: Review) -> None:
    raw = [
        {"field": "email", "left": "a@x.io", "right": "A@x.io ", "comparison_level": "exact", "match_weight": 7.5},
        {"field": "name", "value_l": "Ann", "value_r": "Anne", "label_for_charts": "jaro 0.92", "log2_bayes_factor": 2},
    ]
    ev = normalize_evidence(raw)
    assert [(e["field"], e["left"], e["right"], e["level"], e["weight"]) for e in ev] == [
        ("email", "a@x.io", "A@x.io ", "exact", 7.5),
        ("name", "Ann", "Anne", "jaro 0.92", 2.0),
    ]
    assert normalize_evidence(None) == [] and normalize_evidence("not json") == []
    audit_shape = {  # the audit's match evidence (docs/contracts.md, "Findings"): the weakest link is shown
        "deterministic": False,
        "match_probability": 0.71,
        "weakest_link": {"records": ["b", "a"], "match_probability": 0.71},
        "pairs": [
            {"records": ["a", "c"], "fields": [{"field": "phone", "left": 1, "right": 2, "level": "x", "weight": 6}]},
            {
                "records": ["a", "b"],
                "fields": [{"field": "email", "left": "p", "right": "p", "level": "y", "weight": 9}],
            },
        ],
    }
    assert [(e["field"], e["weight"]) for e in normalize_evidence(audit_shape)] == [("email", 9.0)]
    dup = next(i for i in review.page(0, size=100, kind="duplicate") if i.system == "salesforce")
    assert dup.evidence and all(e["field"] and e["level"] for e in dup.evidence)  # recorded by the audit
    assert all(e["field"] not in ("deterministic", "pairs") for e in dup.evidence)
    assert review.comparison(dup)[2] == dup.evidence  # the side-by-side view shows the audit's evidence
    # an item whose finding recorded none: its records' mapped fields are compared here, without weights
    dup = dataclasses.replace(dup, evidence=[])
    ids, rows, evidence = review.comparison(dup)
    assert ids == dup.records and rows[0] == ("id", dup.records)
    email = next(e for e in evidence if e["field"] == "email")
    assert email["weight"] is None and email["level"] in ("exact", "same after normalizing", "different")
    values = dict(rows)["email"]
    assert email["left"] == values[0] and email["right"] == values[1]


def test_review_of_a_damaged_decision_log_is_one_clear_error(review: Review, env: dict[str, Any]) -> None:
    review.log.path.write_text('{"item": "x", "decision": "perhaps"}\n')
    with pytest.raises(SyncAuditError, match="line 1 is not a review decision"):
        Review(env["cfg"], review.plan.path)


def test_open_without_a_plan_names_the_fix(tmp_path: Path, env: dict[str, Any]) -> None:
    cfg = env["cfg"].model_copy(update={"data_dir": str(tmp_path)})
    with pytest.raises(SyncAuditError, match="no change plan") as err:
        Review.open(cfg)
    assert "syncaudit plan" in err.value.hint


def test_decided_writes_follow_their_kind_and_supersede_updates_of_merged_leads(env: dict[str, Any]) -> None:
    from syncaudit.changes.model import Operation

    cfg = env["cfg"]
    user, lead, _ = _intercom_pair(env)
    base = Review.open(cfg).plan
    other = (
        open_snapshot(cfg)
        .duckdb()
        .execute("SELECT id FROM ic_contacts WHERE id NOT IN (?, ?) ORDER BY id LIMIT 1", [user, lead])
        .fetchone()[0]
    )
    ops = [
        Operation("intercom", "contact", lead, "update", {"name": "Lead Renamed"}, {"name": "x"}, 1, "u1", "p"),
        Operation("intercom", "contact", other, "update", {"name": "Kept"}, {"name": "y"}, 1, "u2", "p"),
        review_op({"id": "dup", "kind": "duplicate", "system": "intercom", "object": "contact",
                   "records": [user, lead], "suggested_survivor": user}, "merge_intercom_leads", "check"),
    ]  # fmt: skip
    review = Review(cfg, Plan({**base.header, "policies": ["test-order"]}, ops).save(plans_dir(cfg)))
    review.decide("dup", "approve")
    decided = [(o.op, o.key) for b in review.build_plan().iter_batches() for _, o in b]
    assert decided == [("update", other), ("merge", lead)]  # the merged-away lead's update is superseded


def test_a_plan_whose_snapshot_is_gone_still_reviews(review: Review, env: dict[str, Any], tmp_path: Path) -> None:
    from syncaudit.explore.review_ui import item_html

    snaps = Path(env["raw"]["data_dir"]) / "snapshots"
    moved = tmp_path / "snapshots"
    shutil.move(snaps, moved)
    try:
        item = review.page(0)[0]
        assert review.records(item) == {r: None for r in item.records}
        assert "records not shown" in item_html(review, item) and review.snapshot_problem
        review.decide(item.id, "reject")  # deciding needs the plan and the findings only
        assert review.item(item.id).status == "reject"
    finally:
        shutil.move(moved, snaps)


def test_apply_executes_the_approved_merge_and_the_card_shows_it(env: dict[str, Any]) -> None:
    """Last in this module: it writes to the sandbox. The approved merge is sent once; undecided items are not."""
    from syncaudit import Workspace
    from syncaudit.changes.apply import journal_for

    cfg = env["cfg"]
    con = open_snapshot(cfg).duckdb()
    user, lead = con.execute(  # Intercom merges only real duplicates (same email or phone)
        "SELECT u.id, l.id FROM ic_contacts u JOIN ic_contacts l ON lower(u.email) = lower(l.email) "
        "WHERE u.role = 'user' AND l.role = 'lead' ORDER BY 1, 2 LIMIT 1"
    ).fetchone()
    lead2 = con.execute(
        "SELECT id FROM ic_contacts WHERE role = 'lead' AND id <> ? ORDER BY id LIMIT 1", [lead]
    ).fetchone()[0]
    base = Review.open(cfg).plan
    ops = [
        review_op({"id": "dup-apply", "kind": "duplicate", "system": "intercom", "object": "contact",
                   "records": [user, lead], "suggested_survivor": user}, "merge_intercom_leads", "check"),
        review_op({"id": "dup-undecided", "kind": "duplicate", "system": "intercom", "object": "contact",
                   "records": [user, lead2], "suggested_survivor": user}, "merge_intercom_leads", "check"),
    ]  # fmt: skip
    review = Review(cfg, Plan({**base.header, "policies": ["test-apply"]}, ops).save(plans_dir(cfg)))
    review.decide("dup-apply", "approve")
    decided = review.build_plan()
    res = apply_plan(cfg, decided.path, decided.hash, dry_run=False)
    assert res.status == "complete" and res.counts == {"merged": 1}, (
        (res.failed[0]["error_code"], res.failed[0]["detail"]) if res.failed else res.message
    )
    merges = [r for r in env["sb"].requests("intercom") if r["path"].endswith("/contacts/merge")]
    assert len(merges) == 1  # the undecided pair (user, lead2) was never sent
    assert journal_for(cfg).ops(res.run_id)[0]["record_key"] == lead
    card = Workspace(cfg).snapshot().person(user)
    assert any(h["record"] == lead and "merge merged" in h["event"] for h in card.history)


def test_the_reviewer_named_in_the_config_is_recorded(env: dict[str, Any]) -> None:
    from syncaudit.changes.decisions import reviewer

    cfg = env["cfg"]
    named = cfg.model_copy(update={"review": cfg.review.model_copy(update={"reviewer": "  Dana (RevOps) "})})
    assert reviewer(named) == "Dana (RevOps)"
    assert reviewer(cfg) not in ("", "Dana (RevOps)")  # none named: the OS user
