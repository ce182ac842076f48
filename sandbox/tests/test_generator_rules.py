"""Rule planting (plant_rules.py) adds to the org pair without disturbing what was there: with the rate at 0
nothing is planted, and with it on, every other kind's truth and every untouched table stay byte-identical."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from crmsandbox.generator import generate


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("rules")
    return generate(base / "on", 600, 11), generate(base / "off", 600, 11, rates={"rule_violation": 0})


def _truth(folder: Path) -> list[dict]:
    return orjson.loads((folder / "truth.json").read_bytes())["findings"]


def test_other_kinds_and_untouched_tables_are_byte_identical(pair: tuple[Path, Path]) -> None:
    on, off = pair
    assert [f for f in _truth(on) if f["kind"] != "rule_violation"] == _truth(off)
    for rel in ("salesforce/Contact.csv", "salesforce/Lead.csv", "salesforce/Task.csv", "salesforce/User.csv",
                "salesforce/schema.json", "intercom/contacts.jsonl", "intercom/admins.json", "intercom/tags.json"):  # fmt: skip
        assert (on / rel).read_bytes() == (off / rel).read_bytes(), rel
    # Cases and conversations are only appended to.
    for rel in ("salesforce/Case.csv", "intercom/conversations.jsonl"):
        before, after = (off / rel).read_bytes(), (on / rel).read_bytes()
        assert after.startswith(before) and len(after) > len(before), rel


def test_only_plan_and_type_change_on_companies_and_accounts(pair: tuple[Path, Path]) -> None:
    on, off = pair
    a = [orjson.loads(x) for x in (on / "intercom" / "companies.jsonl").read_bytes().splitlines()]
    b = [orjson.loads(x) for x in (off / "intercom" / "companies.jsonl").read_bytes().splitlines()]
    assert [{**x, "plan": None} for x in a] == [{**x, "plan": None} for x in b]
    assert any(x["plan"] for x in a) and not any(x["plan"] for x in b)
    ra = list(csv.DictReader(open(on / "salesforce" / "Account.csv", encoding="utf-8")))
    rb = list(csv.DictReader(open(off / "salesforce" / "Account.csv", encoding="utf-8")))
    assert [{**x, "Type": ""} for x in ra] == [{**x, "Type": ""} for x in rb]


def test_violations_and_look_alikes_are_listed_and_resolve(pair: tuple[Path, Path]) -> None:
    on, _ = pair
    rules = [f for f in _truth(on) if f["kind"] == "rule_violation"]
    fields = {f["field"] for f in rules if f["expected"]}
    assert fields == {"churn_risk_case", "customer_company_plan", "plan_means_customer"}
    assert any(not f["expected"] for f in rules)  # routed look-alikes: an audit must not report them
    convs = {c["id"]: c for c in map(orjson.loads, (on / "intercom" / "conversations.jsonl").read_bytes().splitlines())}
    cases = list(csv.DictReader(open(on / "salesforce" / "Case.csv", encoding="utf-8")))
    for f in rules:
        if f["field"] != "churn_risk_case":
            continue
        account, conv = f["records"]
        assert [t["name"] for t in convs[conv]["tags"]["tags"]] == ["churn-risk"]
        open_high = [
            c for c in cases if c["AccountId"] == account and c["Priority"] == "High" and c["IsClosed"] == "false"
        ]
        assert bool(open_high) == (f["variant"] == "routed"), f
