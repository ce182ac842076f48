"""Safe writes: identity keys and Intercom merges only on deterministic evidence; the rest are review items that
show their evidence; the plan summary and the dry run list every irreversible operation first."""

from __future__ import annotations

import json
from pathlib import Path

from changes_world import make_world, world_config
from syncaudit.changes.apply import apply_plan, print_result
from syncaudit.changes.plan import build_change_plan


def _world_with(findings_edit) -> dict:  # noqa: ANN001
    w = make_world(8)
    findings_edit(w)
    return w


def test_a_fuzzy_identity_gap_gets_no_key_write_but_a_review_with_evidence(tmp_path: Path) -> None:
    """The hard negative: a probabilistic match (p >= 0.9) must never copy one person's key onto another."""

    def fuzzy(w: dict) -> None:
        for f in w["findings"]:
            if f["kind"] == "identity_gap":
                f["rule"], f["confidence"] = "fuzzy_match", 0.93

    w = _world_with(fuzzy)
    plan = build_change_plan(world_config(tmp_path), w["snapshot"], w["findings"])
    gaps = {f["id"] for f in w["findings"] if f["kind"] == "identity_gap"}
    writes = [op for _, op in plan.writes if op.finding_id in gaps]
    assert writes == [], [op.to_dict() for op in writes]
    reviews = {op.finding_id: op for op in plan.operations if op.op == "review" and op.finding_id in gaps}
    assert set(reviews) == gaps
    item = reviews["f0002"].after
    assert item["kind"] == "identity_gap" and item["records"][0] == "003000000000003AAA"
    fields = {e["field"]: e for e in item["evidence"]}
    assert fields["name"]["agrees"] is True and fields["email"]["agrees"] is True
    assert fields["match probability"]["value"] == 0.93
    assert item["suggested_action"]["write"]["values"] == {"Product_User_Id__c": "user-2"}
    # the review id is stable: the same finding gives the same id in another plan
    again = build_change_plan(world_config(tmp_path), w["snapshot"], list(reversed(w["findings"])))
    ids = {op.after["review_id"] for op in again.operations if op.op == "review" and op.finding_id in gaps}
    assert ids == {op.after["review_id"] for op in reviews.values()}


def test_same_email_with_another_name_is_not_proven(tmp_path: Path) -> None:
    def rename(w: dict) -> None:
        w["snapshot"].tables["ic_contacts"][2]["name"] = "Someone Else"

    w = _world_with(rename)
    plan = build_change_plan(world_config(tmp_path), w["snapshot"], w["findings"])
    by = {op.finding_id: op for op in plan.operations if op.policy == "backfill_identity"}
    assert by["f0002"].op == "review" and by["f0003"].op == "update"  # the other gap keeps its proven write
    assert {e["field"]: e["agrees"] for e in by["f0002"].after["evidence"]}["name"] is False


def test_the_matching_verdict_is_used_when_the_finding_carries_one(tmp_path: Path) -> None:
    def verdict(w: dict) -> None:
        for f in w["findings"]:
            if f["id"] == "f0002":
                f["extra"] = json.dumps({"deterministic": False, "evidence": [{"field": "email", "agrees": True}]})

    w = _world_with(verdict)
    plan = build_change_plan(world_config(tmp_path), w["snapshot"], w["findings"])
    (item,) = [op for op in plan.operations if op.finding_id == "f0002"]
    assert item.op == "review" and item.after["evidence"] == [{"field": "email", "agrees": True}]


def test_a_lead_merge_needs_proof_and_merges_are_listed_before_anything_is_applied(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    w = make_world(8, leads=2)
    w["snapshot"].tables["ic_contacts"][-1]["name"] = "Not Pat"  # the second lead's name disagrees
    cfg = world_config(tmp_path)
    plan = build_change_plan(cfg, w["snapshot"], w["findings"])
    merges = [op for op in plan.operations if op.op == "merge"]
    assert [m.key for m in merges] == [w["ic"][-2]["id"]]
    (review,) = [op for op in plan.operations if op.policy == "merge_intercom_leads" and op.op == "review"]
    assert review.after["suggested_action"]["merge"]["from"] == [w["ic"][-1]["id"]]
    summary = json.loads((plan.path / "summary.json").read_text())
    assert summary["irreversible"] == [
        {
            "seq": summary["irreversible"][0]["seq"],
            "system": "intercom",
            "object": "contact",
            "key": w["ic"][-2]["id"],
            "op": "merge",
            "into": w["ic"][1]["id"],
            "finding_id": merges[0].finding_id,
        }
    ]
    res = apply_plan(cfg, plan, plan.hash)  # a dry run
    assert res.dry_run and [i["key"] for i in res.irreversible] == [w["ic"][-2]["id"]]
    print_result(res)
    out = capsys.readouterr().out
    assert "irreversible" in out and f"merge Intercom contact {w['ic'][-2]['id']} into {w['ic'][1]['id']}" in out
