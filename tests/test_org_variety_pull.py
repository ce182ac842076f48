"""Orgs unlike the demo: person accounts, multiple currencies, and millions of Tasks of which few are logs.

The emulator gets these fields through the load folder's schema.json, as an org that enabled them has.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.config import Config
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.salesforce.auth import SalesforceAuthenticator, SalesforceCredentials
from syncaudit.connectors.salesforce.client import SalesforceClient
from syncaudit.connectors.salesforce.scope import scope_condition
from syncaudit.connectors.salesforce.streams import SalesforceObjectStream
from syncaudit.snapshot import TableWriter
from test_pull_fixture_data import make_load_dir

SUBJECTS = ["Intercom conversation: Billing", "Call", "Email: follow-up", "Intercom conversation: O'Brien's SSO"]
SUBTYPES = ["Task", "Call", "Email", "Task"]


def _rewrite(path: Path, extra: dict[str, Any]) -> None:
    """Add columns to a load-folder CSV: extra = {column: function(row index) -> value}."""
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(rows[0] + list(extra))
        for i, r in enumerate(rows[1:]):
            w.writerow(r + [fn(i) for fn in extra.values()])


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    load = make_load_dir(tmp_path_factory.mktemp("load"), contacts=40, companies=12)
    sf = load / "salesforce"
    schema = {
        "Account": [
            {"name": "IsPersonAccount", "type": "boolean"},
            {"name": "PersonEmail", "type": "email"},
            {"name": "CurrencyIsoCode", "type": "picklist", "picklistValues": ["USD", "EUR", "JPY"]},
        ],
    }
    (sf / "schema.json").write_text(json.dumps(schema))
    _rewrite(
        sf / "Account.csv",
        {
            "IsPersonAccount": lambda i: "true" if i % 4 == 0 else "false",
            "PersonEmail": lambda i: f"person{i}@example.test" if i % 4 == 0 else "",
            "CurrencyIsoCode": lambda i: ["USD", "EUR", "JPY"][i % 3],
            "AnnualRevenue": lambda i: str(1000 * (i + 1)),
        },
    )
    with open(sf / "Task.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Subject", "TaskSubtype", "WhoId", "Description", "Status", "CreatedDate"])
        for i in range(200):
            who = "003000000000001AAA" if i % 8 == 0 else ""
            w.writerow(
                [SUBJECTS[i % 4], SUBTYPES[i % 4], who, f"line one\nline {i}", "Completed", "2026-01-02T03:04:05Z"]
            )
    with running_sandbox(load_dir=load, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb


def _client(sb: RunningSandbox) -> SalesforceClient:
    f = sb["salesforce"]
    c = SalesforceCredentials(
        method="client_credentials",
        token_url=f["token_url"],
        instance_url=f["instance_url"],
        client_id=f["client_id"],
        client_secret=f["client_secret"],
    )
    http = build_http_session(sb["ca_cert"], 30)
    return SalesforceClient(SalesforceAuthenticator(c, http, 30), http)


def _cfg(**pull: Any) -> Config:
    fields = pull.pop("fields", [])
    return Config.model_validate({"name": "t", "sandbox": {}, "pull": pull, "mapping": {"fields": fields}})


def _pull(sb: RunningSandbox, cfg: Config, obj: str, out: Path) -> tuple[Any, Any]:
    out.mkdir(parents=True, exist_ok=True)
    stream = SalesforceObjectStream(_client(sb), cfg, obj)
    outcome = stream.pull(lambda name, schema: TableWriter(out / f"{name}.parquet", schema), None, lambda n: None)
    return pq.read_table(out / f"{obj}.parquet").sort_by("Id"), outcome


REVENUE = {
    "name": "revenue",
    "salesforce": "AnnualRevenue",
    "intercom": "custom_attributes.revenue",
    "objects": ["Account"],
    "direction": "salesforce_to_intercom",
    "owner": "salesforce",
}


def test_a_currency_value_travels_with_its_currency(sandbox: RunningSandbox, tmp_path: Path) -> None:
    plain, _ = _pull(sandbox, _cfg(), "Account", tmp_path / "plain")
    assert "CurrencyIsoCode" not in plain.column_names  # nothing in money mapped: the code is not needed
    table, _ = _pull(sandbox, _cfg(fields=[REVENUE]), "Account", tmp_path / "money")
    rows = table.select(["AnnualRevenue", "CurrencyIsoCode"]).to_pylist()
    assert {r["CurrencyIsoCode"] for r in rows} == {"USD", "EUR", "JPY"}
    assert all(r["AnnualRevenue"] is not None and r["CurrencyIsoCode"] for r in rows)


def test_person_accounts_are_pulled_with_their_person_fields(sandbox: RunningSandbox, tmp_path: Path) -> None:
    accounts, _ = _pull(sandbox, _cfg(), "Account", tmp_path / "a")
    contacts, _ = _pull(sandbox, _cfg(), "Contact", tmp_path / "c")
    assert accounts["IsPersonAccount"].to_pylist().count(True) == 3
    persons = accounts.filter(accounts["IsPersonAccount"]).column("PersonEmail").to_pylist()
    assert all(e and e.endswith("@example.test") for e in persons)
    # Each person account has the Contact Salesforce keeps for it (PersonContactId), and no other Contact is one.
    person_contacts = set(contacts.filter(contacts["IsPersonAccount"]).column("Id").to_pylist())
    assert person_contacts == set(accounts.filter(accounts["IsPersonAccount"]).column("PersonContactId").to_pylist())
    assert len(person_contacts) == 3


@pytest.mark.parametrize("threshold", [100_000, 0], ids=["rest", "bulk2"])
def test_tasks_are_scoped_to_what_conversation_logging_creates(
    sandbox: RunningSandbox, tmp_path: Path, threshold: int
) -> None:
    everything, _ = _pull(sandbox, _cfg(bulk_threshold=threshold), "Task", tmp_path / "all")
    assert everything.num_rows == 200
    scoped_cfg = _cfg(bulk_threshold=threshold, activities={"task_subtypes": ["Task"], "subject_like": "Intercom%"})
    scoped, outcome = _pull(sandbox, scoped_cfg, "Task", tmp_path / "scoped")
    assert scoped.num_rows == outcome.extra["expected"] == 100  # the COUNT() is scoped alike
    assert set(scoped["TaskSubtype"].to_pylist()) == {"Task"}
    quoted = _cfg(bulk_threshold=threshold, activities={"subject_like": "%O'Brien%"})
    table, _ = _pull(sandbox, quoted, "Task", tmp_path / "quoted")
    assert table.num_rows == 50  # a quote in the pattern is escaped, not an injection
    with_person = _cfg(bulk_threshold=threshold, activities={"with_person": True})
    table, _ = _pull(sandbox, with_person, "Task", tmp_path / "person")
    assert table.num_rows == 25 and set(table["WhoId"].to_pylist()) == {"003000000000001AAA"}


def test_scope_uses_only_fields_the_object_has() -> None:
    cfg = _cfg(activities={"task_subtypes": ["Task"], "subject_like": "Intercom%", "with_person": True})
    task = scope_condition(cfg, "Task", {"tasksubtype", "subject", "whoid"})
    assert task == "TaskSubtype IN ('Task') AND Subject LIKE 'Intercom%' AND WhoId != null"
    assert scope_condition(cfg, "Case", {"subject", "contactid"}) == "Subject LIKE 'Intercom%' AND ContactId != null"
    assert scope_condition(cfg, "Contact", {"subject"}) is None
    assert scope_condition(_cfg(), "Task", {"tasksubtype", "subject", "whoid"}) is None
