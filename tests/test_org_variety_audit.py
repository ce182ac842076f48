"""Orgs unlike the demo, in the audit: identity keys per object and normalized, person accounts as people."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit_fixtures import CONTACT_FIELDS, LEAD_FIELDS, _write_csv, _write_jsonl, con_, contact_json, lead, write_empty
from syncaudit.audit.run import run_audit
from syncaudit.config import Config, load_config
from syncaudit.connectors.salesforce.streams import wanted_fields
from test_audit import ROOT


def _cfg(tmp: Path, **identity: object):
    cfg = load_config(ROOT / "config" / "demo.yaml")
    people = cfg.mapping.identity.people.model_copy(update=identity)
    ident = cfg.mapping.identity.model_copy(update={"people": people})
    mapping = cfg.mapping.model_copy(update={"identity": ident})
    # The hand-written org has no Case Priority, Account Type or tags: the demo's rules do not apply to it.
    return cfg.model_copy(update={"data_dir": str(tmp / "data"), "mapping": mapping, "rules": []})


def _org(root: Path) -> None:
    """Keys typed differently on each side: ' U-1' / 'u-1', 'u-2 ' / 'U-2'; no email in common."""
    write_empty(root)
    _write_csv(
        root / "salesforce" / "Contact.csv",
        [
            dict(Id=con_(1), FirstName="Ann", LastName="Lee", Email="ann@a.com", Product_User_Id__c=" U-1"),
            dict(Id=con_(2), FirstName="Bo", LastName="Ek", Email="bo@b.com", Product_User_Id__c="u-2 "),
        ],
        CONTACT_FIELDS,
    )
    _write_csv(
        root / "salesforce" / "Lead.csv",
        [dict(Id=lead(1), FirstName="Cy", LastName="Oh", Email="cy@c.com", Company="C", Product_User_Id__c="u-3")],
        LEAD_FIELDS,
    )
    _write_jsonl(
        root / "intercom" / "contacts.jsonl",
        [contact_json("i1", "u-1", "Ann Lee", "ann@x.com"), contact_json("i2", "U-2", "Bo Ek", "bo@y.com")],
    )


def _links(res) -> set[tuple[str, str]]:
    rows = res.con.execute("SELECT s.sf_id, i.ic_id FROM sa_sf_people s JOIN sa_ic_people i USING (id_key)").fetchall()
    return set(rows)


def test_keys_compared_raw_do_not_link(tmp_path: Path) -> None:
    _org(tmp_path / "load")
    res = run_audit(_cfg(tmp_path), str(tmp_path / "load"), tmp_path / "out")
    assert _links(res) == set()


def test_keys_normalized_by_the_mapping_link(tmp_path: Path) -> None:
    _org(tmp_path / "load")
    res = run_audit(_cfg(tmp_path, normalize=["trim", "lower"]), str(tmp_path / "load"), tmp_path / "out")
    assert _links(res) == {(con_(1), "i1"), (con_(2), "i2")}
    kinds = {
        k for (k,) in res.con.execute("SELECT kind FROM findings_final WHERE kind <> 'schema_conflict'").fetchall()
    }
    assert "identity_gap" not in kinds


def test_an_object_without_an_identity_field_has_no_key(tmp_path: Path) -> None:
    _org(tmp_path / "load")
    cfg = _cfg(tmp_path, normalize=["trim", "lower"], salesforce_keys={"Lead": None})
    res = run_audit(cfg, str(tmp_path / "load"), tmp_path / "out")
    keys = dict(res.con.execute("SELECT sf_id, id_key FROM sa_sf_people").fetchall())
    assert keys[lead(1)] is None and keys[con_(1)] == "u-1"


@pytest.mark.parametrize(("keys", "lead_field"), [({}, "Product_User_Id__c"), ({"Lead": "Lead_Key__c"}, "Lead_Key__c")])
def test_the_pull_reads_each_objects_own_key(keys: dict, lead_field: str) -> None:
    cfg = Config.model_validate(
        {"name": "t", "sandbox": {}, "mapping": {"identity": {"people": {"salesforce_keys": keys}}}}
    )
    assert lead_field in wanted_fields(cfg, "Lead")
    assert "Product_User_Id__c" in wanted_fields(cfg, "Contact")
    none = Config.model_validate(
        {"name": "t", "sandbox": {}, "mapping": {"identity": {"people": {"salesforce_keys": {"Lead": None}}}}}
    )
    assert "Product_User_Id__c" not in wanted_fields(none, "Lead")


def test_person_accounts_are_people_not_companies(tmp_path: Path) -> None:
    import json

    from audit_fixtures import SCHEMA, acc

    root = tmp_path / "load"
    write_empty(root)
    (root / "salesforce" / "schema.json").write_text(
        json.dumps({**SCHEMA, "Account": [{"name": "IsPersonAccount", "type": "boolean"}]})
    )
    _write_csv(
        root / "salesforce" / "Account.csv",
        [
            dict(Id=acc(1), Name="Ann Lee", AccountNumber="", IsPersonAccount="true"),
            dict(Id=acc(2), Name="Acme GmbH", AccountNumber="A-2", IsPersonAccount="false"),
        ],
        ["Id", "Name", "AccountNumber", "Website", "IsPersonAccount"],
    )
    res = run_audit(_cfg(tmp_path), str(root), tmp_path / "out")
    accounts = {r[0] for r in res.con.execute("SELECT sf_id FROM sa_sf_accounts").fetchall()}
    assert accounts == {acc(2)}
    orphans = {
        tuple(r) for (r,) in res.con.execute("SELECT records FROM findings_final WHERE kind = 'orphan'").fetchall()
    }
    assert (acc(2),) in orphans and (acc(1),) not in orphans


def test_generated_suites_check_each_objects_own_key() -> None:
    from syncaudit.quality.generate import salesforce_expectations

    describe = {"fields": [{"name": "Id", "type": "id"}, {"name": "Lead_Key__c", "type": "string"}]}

    def key_columns(keys: dict) -> set[str]:
        cfg = Config.model_validate(
            {"name": "t", "sandbox": {}, "mapping": {"identity": {"people": {"salesforce_keys": keys}}}}
        )
        exps = salesforce_expectations(cfg, "Lead", describe)
        return {e["kwargs"].get("column") for e in exps if "identity key" in str(e.get("meta", ""))}

    assert key_columns({"Lead": "Lead_Key__c"}) == {"Lead_Key__c"}
    assert key_columns({"Lead": None}) == set()
    assert key_columns({}) == {"Product_User_Id__c"}


def test_preflight_checks_each_objects_own_key() -> None:
    from syncaudit.connectors.preflight import salesforce_needs

    cfg = Config.model_validate(
        {
            "name": "t",
            "sandbox": {},
            "mapping": {
                "identity": {"people": {"salesforce_keys": {"Lead": None, "Contact": "Contact_Key__c"}}},
                "objects": [
                    {"salesforce": "Contact", "intercom": "contact", "role": "user"},
                    {"salesforce": "Lead", "intercom": "contact", "role": "lead"},
                ],
            },
        }
    )
    needs = salesforce_needs(cfg)
    assert "Contact_Key__c" in needs.read["Contact"]
    assert "Product_User_Id__c" not in needs.read["Lead"] and "Product_User_Id__c" not in needs.read["Contact"]
