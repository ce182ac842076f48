"""Generated expectations from the mapping and metadata; regeneration keeps hand-written ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quality_snapshot import DATA_ATTRIBUTES, REFERRALS, _describes
from syncaudit.config import load_config
from syncaudit.errors import ConfigError
from syncaudit.quality.generate import EMAIL_REGEX, PHONE_REGEX, generated_suites, regenerate_all, regenerate_suite
from syncaudit.quality.suites import load_suite

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "config" / "demo.yaml")


def _by(exps: list[dict], type_: str, column: str) -> dict:
    hits = [e for e in exps if e["type"] == type_ and column in json.dumps(e["kwargs"])]
    assert len(hits) == 1, (type_, column, [e["type"] for e in exps])
    return hits[0]


def test_generated_from_mapping_and_describe(cfg) -> None:
    gen = generated_suites(cfg, _describes(), DATA_ATTRIBUTES)
    ids, contact = gen["sf_Contact"]
    assert ids == ["Id"]
    assert all(e["meta"]["generated"] for exps in (v[1] for v in gen.values()) for e in exps)
    key = _by(contact, "expect_column_values_to_be_unique", "Product_User_Id__c")
    assert key["meta"]["severity"] == "high" and not key["meta"].get("critical")  # a finding, not a gate
    [ids] = [e for e in contact if e["type"] == "expect_column_values_to_be_unique" and e["kwargs"]["column"] == "Id"]
    assert ids["meta"]["critical"] and ids["severity"] == "critical"  # a broken snapshot is a gate
    phone = _by(contact, "expect_column_values_to_match_regex", "Phone")  # mapped with phone_e164
    assert phone["kwargs"]["regex"] == PHONE_REGEX
    assert _by(contact, "expect_column_values_to_not_be_null", "Product_User_Id__c")["severity"] == "warning"
    plan = _by(contact, "expect_column_values_to_be_in_set", "Plan_Type__c")
    assert plan["kwargs"]["value_set"] == ["Free", "Starter", "Pro", "Enterprise"]
    assert _by(contact, "expect_column_values_to_match_regex", "Email")["kwargs"]["regex"] == EMAIL_REGEX
    future = _by(contact, "expect_column_values_to_be_between", "SystemModstamp")
    assert future["kwargs"]["max_value"] == {"$PARAMETER": "now"}
    order = [
        (e["kwargs"]["column_A"], e["kwargs"]["column_B"])
        for e in contact
        if e["type"] == "expect_column_pair_values_a_to_be_greater_than_b"
    ]
    assert order == [("LastModifiedDate", "CreatedDate"), ("SystemModstamp", "LastModifiedDate")]
    # a Lead is not required to carry the product user id (leads have none yet), but it must be unique
    _, lead = gen["sf_Lead"]
    assert not [e for e in lead if e["type"] == "expect_column_values_to_not_be_null" and "Product" in str(e)]
    _by(lead, "expect_column_values_to_be_unique", "Product_User_Id__c")
    _, account = gen["sf_Account"]
    _by(account, "expect_column_values_to_be_unique", "AccountNumber")


def test_generated_intercom_types_canonical_values_and_lengths(cfg) -> None:
    gen = generated_suites(cfg, _describes(), DATA_ATTRIBUTES)
    _, contacts = gen["ic_contacts"]
    seats = _by(contacts, "expect_column_values_to_be_in_type_list", "custom_attributes.seats")
    assert "Int64Dtype" in seats["kwargs"]["type_list"]
    referral = _by(contacts, "expect_column_values_to_be_in_set", "custom_attributes.referral_source")
    assert {"google", "adwords", "organic"} <= set(referral["kwargs"]["value_set"])  # the picklist map's keys
    assert set(REFERRALS) <= set(referral["kwargs"]["value_set"])  # and the canonical values themselves
    plan = _by(contacts, "expect_column_values_to_be_in_set", "custom_attributes.plan_type")
    assert sorted(plan["kwargs"]["value_set"]) == sorted(["Free", "Starter", "Pro", "Enterprise"])
    length = _by(contacts, "expect_column_value_lengths_to_be_between", "custom_attributes.partner_code")
    assert length["kwargs"]["max_value"] == 20  # Partner_Code__c is string(20)
    # lifecycle_stage flows Salesforce -> Intercom: canonical values still, but no length rule
    stage = _by(contacts, "expect_column_values_to_be_in_set", "custom_attributes.lifecycle_stage")
    assert "MQL" in stage["kwargs"]["value_set"]
    assert not [e for e in contacts if e["type"].startswith("expect_column_value_lengths") and "stage" in str(e)]
    _by(contacts, "expect_column_values_to_match_regex", "phone")
    key = _by(contacts, "expect_column_values_to_not_be_null", "external_id")
    assert key["kwargs"]["row_condition"]["parameter"] == "user"
    assert "linked_people" in gen and "linked_companies" in gen


def test_columns_filter_drops_expectations_on_absent_columns(cfg) -> None:
    gen = generated_suites(cfg, _describes(), DATA_ATTRIBUTES, {"sf_Contact": ["Id", "Email"]})
    _, contact = gen["sf_Contact"]
    assert {c for e in contact for c in (e["kwargs"].get("column"),)} == {"Id", "Email"}


def test_regenerate_replaces_generated_and_keeps_hand_written(cfg, tmp_path: Path) -> None:
    path = tmp_path / "sf_Contact.json"
    hand_written = {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "LastName"},
        "meta": {"why": "mine", "critical": True},
        "severity": "critical",
    }
    twin = {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "Email", "regex": "@"}, "meta": {}}
    stale = {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "Old__c", "value_set": ["x"]}}
    stale["meta"] = {"generated": True}
    body = {"name": "sf_Contact", "meta": {"dataset": "sf_Contact", "id_columns": ["Id"], "owner": "revops"}}
    body["expectations"] = [stale, hand_written, twin]
    path.write_text(json.dumps(body))
    describes = _describes()
    regenerate_suite(path, "sf_Contact", ["Id"], generated_suites(cfg, describes, DATA_ATTRIBUTES)["sf_Contact"][1])
    suite = load_suite(path)
    assert suite.problems == [] and suite.meta == {"owner": "revops"}
    assert hand_written in suite.expectations and twin in suite.expectations
    assert not [e for e in suite.expectations if "Old__c" in json.dumps(e)]
    # the hand-written Email regex wins over the generated one
    assert [e["kwargs"]["regex"] for e in suite.expectations if e["kwargs"].get("column") == "Email"] == ["@"]
    # describe changes (a new plan) -> only the generated expectation follows
    plan = next(f for f in describes["Contact"]["fields"] if f["name"] == "Plan_Type__c")
    plan["picklistValues"].append({"value": "Team", "active": True})
    regenerate_suite(path, "sf_Contact", ["Id"], generated_suites(cfg, describes, DATA_ATTRIBUTES)["sf_Contact"][1])
    again = load_suite(path)
    assert hand_written in again.expectations and twin in again.expectations
    assert "Team" in _by(again.expectations, "expect_column_values_to_be_in_set", "Plan_Type__c")["kwargs"]["value_set"]
    assert len(again.expectations) == len(suite.expectations)


def test_regenerate_refuses_to_overwrite_a_broken_file_and_does_the_rest(cfg, tmp_path: Path) -> None:
    broken = tmp_path / "sf_Lead.json"
    broken.write_text('{"name": "sf_Lead", "expectations": [ {"type": "hand written but broken" ')
    with pytest.raises(ConfigError) as err:
        regenerate_all(cfg, tmp_path, _describes(), DATA_ATTRIBUTES)
    assert "sf_Lead.json" in str(err.value) and "cannot regenerate" in str(err.value)
    assert broken.read_text().endswith('broken" ')  # untouched
    assert (tmp_path / "sf_Contact.json").is_file() and (tmp_path / "ic_contacts.json").is_file()


def test_unrestricted_standard_picklists_are_not_forced_into_the_describe_set(cfg) -> None:
    describes = _describes()
    describes["Account"]["fields"].append(
        {"name": "Rating", "type": "picklist", "custom": False, "picklistValues": [{"value": "Hot", "active": True}]}
    )
    describes["Account"]["fields"].append(
        {
            "name": "Type",
            "type": "picklist",
            "custom": False,
            "restrictedPicklist": True,
            "picklistValues": [{"value": "Customer", "active": True}, {"value": "Old", "active": False}],
        }
    )
    _, account = generated_suites(cfg, describes, DATA_ATTRIBUTES)["sf_Account"]
    assert not [e for e in account if "Rating" in json.dumps(e["kwargs"])]
    assert _by(account, "expect_column_values_to_be_in_set", "Type")["kwargs"]["value_set"] == ["Customer"]
