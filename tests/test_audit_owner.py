"""Owner drift: a reference field (Salesforce OwnerId -> User, Intercom owner_id -> admin) compared by email.

A hand-built org pair with one person per rule of audit/drift.py's lookup comparison, audited with the
demo mapping (``owner`` with ``lookup: {salesforce: User.Email, intercom: admins.email}``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit_fixtures import ROOT, T_NEW, T_OLD, U_OLD, _write_csv, _write_jsonl, con_, contact_json, filler
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config

USERS = [
    {"Id": "005000000000001AAA", "Name": "Ada Rep", "Email": "Ada.Rep@Northwind.example", "IsActive": "true"},
    {"Id": "005000000000002AAA", "Name": "Bob Rep", "Email": "bob.rep@northwind.example", "IsActive": "true"},
    {"Id": "005000000000003AAA", "Name": "Cy Noseat", "Email": "cy@northwind.example", "IsActive": "true"},
    {"Id": "005000000000004AAA", "Name": "Dee Nomail", "Email": None, "IsActive": "false"},
]
ADMINS = [
    {"type": "admin", "id": "901", "name": "Ada Rep", "email": "ada.rep@northwind.example"},
    {"type": "admin", "id": "902", "name": "Bob Rep", "email": "bob.rep@northwind.example"},
    {"type": "admin", "id": "903", "name": "Sue Support", "email": "sue@northwind.example"},
]
ADA, BOB, CY = (u["Id"] for u in USERS[:3])

# (contact n, OwnerId, owner_id, is drift, text the detail must hold)
CASES = [
    (1, ADA, "901", False, None),  # same person; emails differ in case only
    (2, ADA, "902", True, "Ada Rep <Ada.Rep@Northwind.example>"),  # two different owners
    (3, CY, None, False, None),  # the owner has no Intercom seat: nothing the sync could write
    (4, BOB, None, True, "vs Intercom empty"),  # Intercom lost its owner
    (5, ADA, "999", True, "resolves to no admin"),  # a deleted admin
    (6, CY, "903", True, "no Intercom admin has it"),  # support agent in Intercom, seatless rep in Salesforce
    (7, "005000000000099AAA", "901", True, "resolves to no User"),  # an owner outside the snapshot
    (8, "005000000000099AAA", None, False, None),  # unknown owner, no Intercom owner: nothing to compare
    (9, "005000000000004AAA", "901", True, "(Dee Nomail, no Email)"),  # an owner without an email (inactive)
]


def write_owner_pair(root: Path) -> None:
    sf, ic = root / "salesforce", root / "intercom"
    fill_sf, fill_ic = filler(30)
    for r in fill_sf:  # the newest change in the folder dates the snapshot: the cases are older than the lag
        r["OwnerId"], r["LastModifiedDate"] = BOB, T_NEW
    for r in fill_ic:
        r["owner_id"] = "902"
    contacts, people = [], []
    for n, owner, admin, _, _ in CASES:
        contacts.append(
            dict(Id=con_(n), FirstName="P", LastName=f"Person{n}", Email=f"p{n}@c.example", OwnerId=owner)
            | dict(Product_User_Id__c=f"u{n}", LastModifiedDate=T_OLD)
        )
        people.append(
            contact_json(f"u{n}", f"u{n}", f"P Person{n}", f"p{n}@c.example", updated=U_OLD) | {"owner_id": admin}
        )
    fields = ["Id", "FirstName", "LastName", "Email", "OwnerId", "Product_User_Id__c", "LastModifiedDate"]
    _write_csv(sf / "Contact.csv", contacts + fill_sf, fields)
    _write_csv(sf / "User.csv", USERS, ["Id", "Name", "Email", "IsActive"])
    _write_jsonl(ic / "contacts.jsonl", people + fill_ic)
    (ic / "admins.json").write_text(json.dumps({"type": "admin.list", "admins": ADMINS}), encoding="utf-8")


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("owner")
    write_owner_pair(tmp / "load")
    demo = load_config(ROOT / "config" / "demo.yaml")
    owner = next(f for f in demo.mapping.fields if f.name == "owner")
    # Only what the folder holds: Contacts and the demo's owner mapping.
    mapping = demo.mapping.model_copy(
        update={"objects": demo.mapping.objects[:1], "fields": [owner.model_copy(update={"objects": ["Contact"]})]}
    )
    cfg = demo.model_copy(update={"data_dir": str(tmp / "data"), "mapping": mapping})
    return run_audit(cfg, str(tmp / "load"), tmp / "out")


def owner_findings(res) -> dict[str, dict]:
    rows = res.con.execute(
        "SELECT records, detail, severity, suggested_fix, extra FROM findings_final "
        "WHERE kind = 'field_drift' AND field = 'owner'"
    ).fetchall()
    return {r[0][0]: {"detail": r[1], "severity": r[2], "fix": r[3], "extra": r[4]} for r in rows}


def test_owner_drift_follows_the_lookup_rules(audited) -> None:
    found = owner_findings(audited)
    want = {con_(n) for n, _, _, drift, _ in CASES if drift}
    assert set(found) == want, f"missed {want - set(found)}, false {set(found) - want}"
    for n, _, _, drift, text in CASES:
        if drift:
            assert text in found[con_(n)]["detail"], found[con_(n)]["detail"]


def test_owner_detail_names_both_owners_and_the_fix(audited) -> None:
    f = owner_findings(audited)[con_(2)]
    assert "Salesforce '005000000000001AAA' (Ada Rep <Ada.Rep@Northwind.example>)" in f["detail"]
    assert "Intercom '902' (Bob Rep <bob.rep@northwind.example>)" in f["detail"]
    assert "salesforce owns the field" in f["detail"]
    assert "reference" in f["fix"]
    extra = json.loads(f["extra"]) if isinstance(f["extra"], str) else f["extra"]
    assert extra["normalized"] == {"salesforce": "ada.rep@northwind.example", "intercom": "bob.rep@northwind.example"}


def test_no_other_field_drifts_and_metrics_count_the_gaps(audited) -> None:
    other = audited.con.execute(
        "SELECT count(*) FROM findings_final WHERE kind = 'field_drift' AND field <> 'owner'"
    ).fetchall()[0][0]
    assert other == 0
    drift = audited.metrics["drift"]
    gaps = drift["lookups"]["owner:Contact"]
    # 7: OwnerId outside the snapshot; 5: admin 999 deleted; 3: owner without a seat
    assert gaps["unresolved_salesforce"] == 2 and gaps["unresolved_intercom"] == 1 and gaps["no_counterpart"] == 1
    per = drift["per_field"]["owner:Contact"]
    assert per["pairs"] == len(CASES) + 30 and per["drift"] == sum(c[3] for c in CASES)


def test_a_missing_lookup_target_is_a_schema_conflict_not_drift(tmp_path: Path) -> None:
    write_owner_pair(tmp_path / "load")
    (tmp_path / "load" / "intercom" / "admins.json").write_text('{"type": "admin.list", "admins": []}')
    demo = load_config(ROOT / "config" / "demo.yaml")
    owner = next(f for f in demo.mapping.fields if f.name == "owner")
    lookup = owner.lookup.model_copy(update={"intercom": "admins.mail"})
    mapping = demo.mapping.model_copy(
        update={
            "objects": demo.mapping.objects[:1],
            "fields": [owner.model_copy(update={"objects": ["Contact"], "lookup": lookup})],
        }
    )
    cfg = demo.model_copy(update={"data_dir": str(tmp_path / "data"), "mapping": mapping})
    res = run_audit(cfg, str(tmp_path / "load"), tmp_path / "out")
    rows = res.con.execute("SELECT kind, system, field, detail FROM findings_final").fetchall()
    assert [r[:3] for r in rows] == [("schema_conflict", "intercom", "owner")], rows
    assert "admins has no column 'mail'" in rows[0][3]
