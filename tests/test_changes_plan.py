"""The plan: fix policies, determinism, the content hash, storage and tamper detection (no network)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from changes_world import make_world, world_config
from syncaudit.changes.model import Plan, load_plan, summarize_plan
from syncaudit.changes.plan import build_change_plan, snapshot_since
from syncaudit.config import Config, FieldMigration, load_config
from syncaudit.errors import ConfigError, GuardError


@pytest.fixture
def world() -> dict:
    return make_world(8)


def _by(plan, policy):  # noqa: ANN001, ANN202
    return [o for o in plan.operations if o.policy == policy]


def test_policies_turn_findings_into_operations(world: dict, tmp_path: Path) -> None:
    plan = build_change_plan(world_config(tmp_path), world["snapshot"], world["findings"])
    push = {(o.system, o.key): o for o in _by(plan, "push_owner_value")}
    # Intercom owns plan_type: Salesforce gets Intercom's value; Salesforce owns lifecycle_stage: the reverse.
    sf = push[("salesforce", "003000000000001AAA")]
    assert sf.after == {"Plan_Type__c": "Pro"} and sf.before == {"Plan_Type__c": "Free"} and sf.finding_id == "f0000"
    ic = push[("intercom", world["ic"][1]["id"])]
    assert ic.after == {"custom_attributes.lifecycle_stage": "SQL"} and ic.version == world["ic"][1]["updated_at"]
    back = {(o.system, o.key): o.after for o in _by(plan, "backfill_identity")}
    assert back[("salesforce", "003000000000003AAA")] == {"Product_User_Id__c": "user-2"}
    assert back[("intercom", world["ic"][3]["id"])] == {"external_id": "user-3"}
    (merge,) = _by(plan, "merge_intercom_leads")
    assert merge.op == "merge" and merge.after == {"into": world["ic"][1]["id"]}
    (task,) = _by(plan, "log_conversations")
    # a create is an upsert by the Task's External ID field: sent twice, it can never make a second Task
    assert task.op == "upsert" and task.object == "Task" and task.after["WhoId"] == "003000000000001AAA"
    assert task.key == "471" and task.match == {"Intercom_Conversation_Id__c": "471"}
    assert task.after["Intercom_Conversation_Id__c"] == "471"
    assert task.after["Description"].endswith("/inbox/tx2p130c/inbox/conversation/471")
    (review,) = _by(plan, "duplicate_worklist")
    assert review.op == "review" and review not in [op for _, op in plan.writes]  # never executed
    assert [o.op for o in plan.operations] == sorted(
        (o.op for o in plan.operations), key=["update", "upsert", "delete", "merge", "review"].index
    )


def test_plan_is_deterministic_and_hash_covers_content(world: dict, tmp_path: Path) -> None:
    cfg = world_config(tmp_path)
    a = build_change_plan(cfg, world["snapshot"], world["findings"])
    shuffled = list(world["findings"])
    random.Random(3).shuffle(shuffled)
    b = build_change_plan(cfg, world["snapshot"], shuffled)
    assert a.hash == b.hash and len(a.hash) == 16
    c = build_change_plan(cfg, world["snapshot"], world["findings"], fixes=["push_owner_value"])
    assert c.hash != a.hash and {o.policy for o in c.operations} == {"push_owner_value"}
    assert len({o.idempotency_key for o in a.operations}) == len(a.operations)


def test_saved_plan_round_trips_and_edits_are_detected(world: dict, tmp_path: Path) -> None:
    plan = build_change_plan(world_config(tmp_path), world["snapshot"], world["findings"])
    folder = plan.save(tmp_path / "plans")
    assert folder.name == plan.hash
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["writes"] == len(plan.writes) and summary["by_target"]["salesforce.Task.upsert"] == 1
    again = load_plan(folder / "plan.jsonl")
    assert again.hash == plan.hash and again.operations == plan.operations
    lines = (folder / "plan.jsonl").read_text().splitlines()
    lines[0] = lines[0].replace('"user-', '"evil-')
    (folder / "plan.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(GuardError, match="modified after it was written"):
        load_plan(folder)


def test_unknown_fix_and_bad_migration_are_refused(world: dict, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown fix policy: nope"):
        build_change_plan(world_config(tmp_path), world["snapshot"], world["findings"], fixes=["nope"])
    with pytest.raises(ValueError, match="source_system and target_system differ"):
        FieldMigration(name="m", source_system="intercom", source_field="a", target_system="intercom", target_field="b")
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("name: x\nsandbox: {}\nfixes:\n  push_owner_value: {enabled: maybe}\n")
    with pytest.raises(ConfigError, match="fixes.push_owner_value.enabled"):
        load_config(cfg_file)


def test_disabled_policy_plans_nothing(world: dict, tmp_path: Path) -> None:
    cfg = world_config(tmp_path)
    fixes = cfg.fixes.model_copy(
        update={"merge_intercom_leads": cfg.fixes.merge_intercom_leads.model_copy(update={"enabled": False})}
    )
    plan = build_change_plan(cfg.model_copy(update={"fixes": fixes}), world["snapshot"], world["findings"])
    assert not _by(plan, "merge_intercom_leads") and _by(plan, "push_owner_value")


def test_migration_copies_a_custom_attribute_into_empty_salesforce_fields(world: dict, tmp_path: Path) -> None:
    for c in world["snapshot"].tables["sf_Contact"]:
        c["Partner_Code__c"] = "KEEP" if c["Id"].endswith("5AAA") else None
    for c in world["snapshot"].tables["ic_contacts"]:
        c["custom_attributes.partner_code"] = " ab-1 " if c["role"] == "user" else None
    cfg = world_config(tmp_path)
    mig = FieldMigration(
        name="partner",
        source_system="intercom",
        source_field="custom_attributes.partner_code",
        target_system="salesforce",
        target_field="Partner_Code__c",
        transform=["trim", "upper"],
    )
    cfg = cfg.model_copy(update={"fixes": cfg.fixes.model_copy(update={"migrations": [mig]})})
    plan = build_change_plan(cfg, world["snapshot"], world["findings"], fixes=["migrations"])
    ops = plan.operations
    # Linked by the identity key (people with a key on both sides); the non-empty target is kept.
    assert ops and all(o.after == {"Partner_Code__c": "AB-1"} and o.before == {"Partner_Code__c": None} for o in ops)
    assert "003000000000005AAA" not in {o.key for o in ops} and "003000000000003AAA" not in {o.key for o in ops}


def test_normalize_values_fixes_owner_side_email_case(world: dict, tmp_path: Path) -> None:
    world["snapshot"].tables["sf_Contact"][2]["Email"] = "  P2@Acme.Example"
    plan = build_change_plan(world_config(tmp_path), world["snapshot"], world["findings"], fixes=["normalize_values"])
    (op,) = plan.operations
    assert op.system == "salesforce" and op.after == {"Email": "p2@acme.example"}
    assert op.before == {"Email": "  P2@Acme.Example"} and op.finding_id


def test_normalize_values_writes_owner_side_phones_in_e164(world: dict, tmp_path: Path) -> None:
    # demo.yaml: phone is owned by Intercom and normalized with phone_e164
    phones = ["(415) 555-0134", "+1 415 555 0199", "not a phone"]
    for i, c in enumerate(world["snapshot"].tables["ic_contacts"]):
        c["phone"] = phones[i] if i < len(phones) else None
    plan = build_change_plan(world_config(tmp_path), world["snapshot"], world["findings"], fixes=["normalize_values"])
    changes = {(o.before["phone"], o.after["phone"]) for o in plan.operations}
    assert changes == {("(415) 555-0134", "+14155550134"), ("+1 415 555 0199", "+14155550199")}
    assert all(o.system == "intercom" for o in plan.operations)


def test_snapshot_since_reads_ids_and_iso_times() -> None:
    class S:
        manifest: dict = {}
        path = "data/snapshots/20261126T123000Z"

    assert snapshot_since(S()) == {"salesforce": "2026-11-26T12:30:00Z", "intercom": 1795696200}


def test_summary_counts_and_samples(world: dict, tmp_path: Path) -> None:
    plan = build_change_plan(world_config(tmp_path), world["snapshot"], world["findings"])
    s = summarize_plan(plan, samples=1)
    assert s["operations"] == len(plan.operations) and all(len(v) == 1 for v in s["samples"].values())
    assert isinstance(world_config(tmp_path), Config)


def test_updates_of_one_record_are_coalesced_and_merged_leads_not_updated(world: dict, tmp_path: Path) -> None:
    world["snapshot"].tables["sf_Contact"][0]["Email"] = "P0@ACME.EXAMPLE"  # normalize + push on one Contact
    lead = world["ic"][-1]["id"]
    world["findings"].append(
        {
            "id": "drift-lead",
            "kind": "field_drift",
            "system": "both",
            "object": "Contact",
            "records": ["003000000000008AAA", lead],
            "field": "lifecycle_stage",
        }
    )
    cfg = world_config(tmp_path)
    alone = build_change_plan(cfg, world["snapshot"], world["findings"], fixes=["push_owner_value"])
    assert [o.op for o in alone.operations if o.key == lead] == ["update"]  # would be planned on its own
    plan = build_change_plan(cfg, world["snapshot"], world["findings"])
    on_first = [o for o in plan.operations if o.key == "003000000000001AAA" and o.op == "update"]
    assert len(on_first) == 1
    (op,) = on_first
    assert op.after == {"Plan_Type__c": "Pro", "Email": "p0@acme.example"}
    assert op.policy == "push_owner_value+normalize_values" and op.also_resolves and op.finding_id == "f0000"
    assert [o.op for o in plan.operations if o.key == lead] == ["merge"]


def test_cli_errors_are_one_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from syncaudit.cli import main

    raw = yaml.safe_load(Path("config/demo.yaml").read_text())
    raw["data_dir"] = str(tmp_path / "data")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    cases = [
        (["apply", "--config", str(cfg), "--plan", str(tmp_path / "nope"), "--confirm", "x"], "no change plan at"),
        (["verify", "--config", str(cfg), "--run", "r1"], "nothing has been applied"),
        (["rollback", "--config", str(cfg), "--run", "r1"], "nothing has been applied"),
        (["rollback", "--config", str(cfg), "--run", "r1", "--confirm", "0123456789abcdef"], "no rollback plan"),
    ]
    for argv, message in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code != 0 and message in err and "Traceback" not in err and "fix:" in err, (argv, err)
    assert not (tmp_path / "data" / "journal.sqlite").exists()  # reading commands create nothing


USERS = [
    {"Id": "005000000000001AAA", "Name": "Ada Rep", "Email": "Ada.Rep@northwind.example", "IsActive": True},
    {"Id": "005000000000002AAA", "Name": "Bob Rep", "Email": "bob.rep@northwind.example", "IsActive": True},
    {"Id": "005000000000003AAA", "Name": "Cy Noseat", "Email": "cy@northwind.example", "IsActive": True},
    {"Id": "005000000000004AAA", "Name": "Sue Old", "Email": "sue@northwind.example", "IsActive": False},
]
ADMINS = [
    {"id": "901", "name": "Ada Rep", "email": "ada.rep@northwind.example"},
    {"id": "902", "name": "Bob Rep", "email": "bob.rep@northwind.example"},
    {"id": "903", "name": "Sue Support", "email": "sue@northwind.example"},
]


def _owner_world(owners: list[tuple[str, str | None]]) -> dict:
    """make_world's people with (OwnerId, owner_id) per person and an owner field_drift finding for each."""
    w = make_world(len(owners))
    t = w["snapshot"].tables
    for row, ic, (sf_owner, ic_owner) in zip(t["sf_Contact"], t["ic_contacts"], owners, strict=False):
        row["OwnerId"], ic["owner_id"] = sf_owner, ic_owner
    for ic in t["ic_contacts"][len(owners) :]:
        ic["owner_id"] = None
    t["sf_User"], t["ic_admins"] = USERS, ADMINS
    w["findings"] = [
        {"id": f"own{i}", "kind": "field_drift", "system": "both", "object": "Contact", "field": "owner",
         "records": [t["sf_Contact"][i]["Id"], t["ic_contacts"][i]["id"]], "severity": "medium"}
        for i in range(len(owners))
    ]  # fmt: skip
    return w


def test_owner_drift_writes_the_admin_id_of_the_owners_email_never_the_user_id(tmp_path: Path) -> None:
    ada, cy = USERS[0]["Id"], USERS[2]["Id"]
    w = _owner_world([(ada, "902"), (cy, "902"), (ada, None)])
    plan = build_change_plan(world_config(tmp_path), w["snapshot"], w["findings"], fixes=["push_owner_value"])
    ops = {o.finding_id: o for o in plan.operations}
    assert ops["own0"].op == "update" and ops["own0"].system == "intercom"
    assert ops["own0"].after == {"owner_id": "901"} and ops["own0"].before == {"owner_id": "902"}
    assert ops["own2"].after == {"owner_id": "901"} and ops["own2"].before == {"owner_id": None}
    # Cy has no Intercom seat: nothing to point at, a person decides (never the User Id or an email).
    assert ops["own1"].op == "review" and "no Intercom admin matches" in ops["own1"].note
    for o in plan.operations:
        assert all(not str(v).startswith("005") and "@" not in str(v) for v in (o.after or {}).values()), o


def test_an_intercom_owned_reference_resolves_back_to_an_active_user(tmp_path: Path) -> None:
    cfg = world_config(tmp_path)
    fields = [
        f.model_copy(update={"owner": "intercom", "direction": "intercom_to_salesforce"}) if f.name == "owner" else f
        for f in cfg.mapping.fields
    ]
    cfg = cfg.model_copy(update={"mapping": cfg.mapping.model_copy(update={"fields": fields})})
    w = _owner_world([(USERS[0]["Id"], "902"), (USERS[0]["Id"], "903")])
    plan = build_change_plan(cfg, w["snapshot"], w["findings"], fixes=["push_owner_value"])
    ops = {o.finding_id: o for o in plan.operations}
    assert ops["own0"].system == "salesforce" and ops["own0"].after == {"OwnerId": USERS[1]["Id"]}
    assert ops["own1"].op == "review" and "inactive" in ops["own1"].note  # Sue's User is deactivated


def test_streamed_plan_is_the_same_in_any_batch_size_and_read_in_batches(
    world: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spool and file are streamed in batches: a batch size of 2 (coalesced updates cross batch boundaries)
    gives byte-identical plans; the reader recomputes the same hash from the file and streams it back."""
    from syncaudit.changes import planfile

    world["snapshot"].tables["sf_Contact"][0]["Email"] = "P0@ACME.EXAMPLE"  # one coalesced update
    cfg = world_config(tmp_path)
    whole = build_change_plan(cfg, world["snapshot"], world["findings"], save=False)
    monkeypatch.setattr(planfile, "BATCH", 2)
    small = build_change_plan(cfg, world["snapshot"], world["findings"], save=False)
    assert small.hash == whole.hash
    assert (small.path / "plan.jsonl").read_bytes() == (whole.path / "plan.jsonl").read_bytes()
    assert not list(small.path.glob("spool*")) and not list(small.path.glob("spill"))  # the spool is gone
    again = load_plan(small.path)
    assert again.hash == whole.hash and not again.in_memory
    batches = list(again.iter_batches(3))
    assert all(len(b) <= 3 for b in batches) and [s for b in batches for s, _ in b] == list(
        range(len(whole.operations))
    )
    assert again.ops_at([0, 2]) == {0: whole.operations[0], 2: whole.operations[2]}
    # the order apply streams: each target's writes together
    targets = [(o.system, o.object, o.op) for o in whole.operations]
    assert all(targets.index(t) == i or targets[i - 1] == t for i, t in enumerate(targets))
    # an in-memory plan hashes exactly as its saved file is rehashed by a reader
    mem = Plan(whole.header, list(whole.operations))
    assert mem.hash == whole.hash and load_plan(mem.save(tmp_path / "p")).hash == whole.hash


def test_a_plan_with_an_operation_kind_apply_does_not_know_is_refused(tmp_path: Path) -> None:
    from syncaudit.changes.apply import apply_plan
    from syncaudit.changes.model import Operation

    old = Operation("salesforce", "Task", None, "create", {"Subject": "x"})  # the kind before keyed upserts
    plan = Plan({"kind": "fixup", "since": {}}, [old])
    with pytest.raises(GuardError, match="'create' operation"):
        apply_plan(world_config(tmp_path), plan, plan.hash, dry_run=True)
