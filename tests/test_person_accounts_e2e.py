"""Person accounts pulled from the sandbox and audited as people: identity, duplicates and drift.

An org with person accounts (schema.json declares Account.IsPersonAccount) has, for each one, a Contact that
Salesforce keeps (Account.PersonContactId, Contact.IsPersonAccount) mirroring the account's person fields.
The pull reads those Contacts like any other; the audit treats them as people, never as companies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audit_fixtures import (
    CONTACT_FIELDS,
    DATA_ATTRIBUTES,
    SCHEMA,
    U_OLD,
    _write_csv,
    _write_jsonl,
    acc,
    con_,
    contact_json,
    write_empty,
)
from crmsandbox.testing import running_sandbox
from syncaudit.audit.run import run_audit
from syncaudit.changes.plan import read_findings
from syncaudit.config import load_config
from syncaudit.pull import run_pull
from test_audit import ROOT

OLD = "2025-06-01T10:00:00.000Z"
ACCOUNT_FIELDS = ["Id", "Name", "AccountNumber", "Website", "LastModifiedDate", "CreatedDate"]
PERSON_FIELDS = ["IsPersonAccount", "FirstName", "LastName", "PersonEmail", "Phone", "Product_User_Id__pc"]


def _org(root: Path, *, person_accounts: bool) -> None:
    write_empty(root)
    accounts = [
        dict(Id=acc(3), Name="Acme GmbH", AccountNumber="A-3", IsPersonAccount="false"),
        dict(Id=acc(1), Name="Ann Lee", IsPersonAccount="true", FirstName="Ann", LastName="Lee",
             PersonEmail="ann@a.com", Phone="+1 415 555 0199", Product_User_Id__pc="u-1"),
        dict(Id=acc(2), Name="Bo Ek", IsPersonAccount="true", FirstName="Bo", LastName="Ek",
             PersonEmail="bo@b.com", Phone="+1 415 555 0102", Product_User_Id__pc="u-2"),
    ]  # fmt: skip
    fields = ACCOUNT_FIELDS + (PERSON_FIELDS if person_accounts else [])
    if not person_accounts:
        accounts = accounts[:1]
    _write_csv(
        root / "salesforce" / "Account.csv",
        [{**a, "LastModifiedDate": OLD, "CreatedDate": OLD} for a in accounts],
        fields,
    )
    contacts = [
        dict(Id=con_(1), FirstName="Cy", LastName="Oh", Email="cy@c.com", AccountId=acc(3), Product_User_Id__c="u-3"),
        # The same person as the person account Bo Ek, entered again as a business contact at Acme.
        dict(Id=con_(2), FirstName="Bo", LastName="Ek", Email="bo@b.com", Phone="+1 415 555 0102", AccountId=acc(3)),
    ]  # fmt: skip
    _write_csv(
        root / "salesforce" / "Contact.csv",
        [{**c, "LastModifiedDate": OLD, "CreatedDate": OLD} for c in contacts],
        CONTACT_FIELDS,
    )
    attrs = [
        *DATA_ATTRIBUTES,
        {**DATA_ATTRIBUTES[0], "name": "trial_status", "full_name": "custom_attributes.trial_status"},
    ]
    (root / "intercom" / "data_attributes.json").write_text(json.dumps(attrs))  # the mapping's attributes all exist
    if person_accounts:
        schema = {**SCHEMA, "Account": [{"name": "IsPersonAccount", "type": "boolean"}]}
        (root / "salesforce" / "schema.json").write_text(json.dumps(schema))
    _write_jsonl(
        root / "intercom" / "contacts.jsonl",
        [
            # Ann's phone differs between the systems: drift on a person account.
            contact_json("i1", "u-1", "Ann Lee", "ann@a.com", phone="+1 415 555 0100", updated=U_OLD),
            contact_json("i2", "u-2", "Bo Ek", "bo@b.com", phone="+1 415 555 0102", updated=U_OLD),
            contact_json("i3", "u-3", "Cy Oh", "cy@c.com", updated=U_OLD),
        ],
    )


@pytest.fixture(scope="module", params=[True, False], ids=["person-accounts", "without"])
def org(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("load")
    _org(root, person_accounts=request.param)
    with running_sandbox(load_dir=root, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield {"sb": sb, "person_accounts": request.param, "data": tmp_path_factory.mktemp("data")}


def _pull_and_audit(org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[dict[str, Any]]]:
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", org["sb"]["state_dir"])
    cfg = load_config(ROOT / "config" / "demo.yaml")
    cfg = cfg.model_copy(update={"data_dir": str(org["data"]), "rules": []})
    snap = run_pull(cfg, full=True, bars=False, objects=["Account", "Contact", "Lead", "User", "contacts", "admins"])
    audit = run_audit(cfg, snap.id)
    org["people"] = dict(audit.con.execute("SELECT sf_id, company_n FROM sa_sf_people").fetchall())
    return snap, read_findings(Path(audit.out_dir) / "findings.jsonl")


def test_person_accounts_are_audited_as_people(org: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    snap, findings = _pull_and_audit(org, monkeypatch)
    con = snap.duckdb()
    if not org["person_accounts"]:
        # The field does not exist in such an org: nothing asks for it, nothing fails.
        assert "IsPersonAccount" not in [r[0] for r in con.execute("DESCRIBE sf_Contact").fetchall()]
        assert not [f for f in findings if f["kind"] == "duplicate"]
        return
    person = dict(con.execute("SELECT Id, PersonContactId FROM sf_Account WHERE IsPersonAccount").fetchall())
    assert set(person) == {acc(1), acc(2)} and all(person.values())
    ann, bo = person[acc(1)], person[acc(2)]
    rows = con.execute("SELECT Id, Email, Product_User_Id__c FROM sf_Contact WHERE IsPersonAccount").fetchall()
    assert sorted(rows) == sorted([(ann, "ann@a.com", "u-1"), (bo, "bo@b.com", "u-2")])
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_kind.setdefault(f["kind"], []).append(f)
    # The business contact duplicates the person account's person.
    assert any({bo, con_(2)} <= set(f["records"]) for f in by_kind.get("duplicate", [])), by_kind.get("duplicate")
    # Ann is linked by her key (no orphan, no identity gap) and her phone drifted.
    assert any(f["records"][:1] == [ann] and f["field"] == "phone" for f in by_kind.get("field_drift", []))
    # Their Account is the person, not an employer: no company to compare; a business contact keeps its own.
    assert org["people"][ann] is None and org["people"][bo] is None and org["people"][con_(2)]
    flagged = {r for k in ("orphan", "identity_gap") for f in by_kind.get(k, []) for r in f["records"]}
    assert ann not in flagged and acc(1) not in flagged and acc(2) not in flagged
