"""Salesforce writes are keyed, against the project's Salesforce emulator over HTTPS: creates are upserts by an
External ID (Collections upsert for small batches, Bulk API 2.0 upsert for large), updates match on Id (a Bulk
upsert by Id whose Id is not found fails the row and creates nothing), and a create sent twice never makes a
second record. Plus the plan-time check that the configured field really is an External ID."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from changes_world import TinySnapshot, make_world, world_config
from crmsandbox.salesforce import SalesforceService
from sf_https import ANN, BOB, CARL, https_session, serve_https, write_load_dir
from syncaudit.changes.model import Operation
from syncaudit.changes.plan import build_change_plan
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.salesforce.auth import SalesforceAuthenticator, SalesforceCredentials
from syncaudit.connectors.salesforce.connector import SalesforceConnector
from syncaudit.connectors.salesforce.writer import SalesforceWriter
from syncaudit.errors import ConfigError

EXT = "Intercom_Conversation_Id__c"
GONE = "003000000000099AAA"  # a well-formed Contact id that does not exist


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("sfw")
    load = write_load_dir(root / "load")
    schema = json.loads((load / "salesforce" / "schema.json").read_text())
    schema["Task"] = [{"name": EXT, "type": "string", "length": 64, "externalId": True, "unique": True}]
    (load / "salesforce" / "schema.json").write_text(json.dumps(schema))
    service = SalesforceService(root / "state", load)
    with serve_https(service, root) as facts:
        yield facts
    service.close()


def _writer(org: dict[str, Any], bulk_threshold: int = 200) -> SalesforceWriter:
    creds = SalesforceCredentials(
        method="session", token_url="", session_id=org["session_id"], instance_url=org["instance_url"]
    )
    http = build_http_session(org["ca_cert"], 60)
    connector = SalesforceConnector(SalesforceAuthenticator(creds, http, 60), http)
    return SalesforceWriter(connector, bulk_threshold=bulk_threshold, poll_s=0.01)


def _task(conv: str, who: str = ANN) -> Operation:
    after = {"WhoId": who, "Subject": f"Intercom conversation {conv}", "Status": "Completed", EXT: conv}
    return Operation("salesforce", "Task", conv, "upsert", after, match={EXT: conv}, policy="log_conversations")


def _count(w: SalesforceWriter, soql: str) -> int:
    return len(w.query(soql))


def _writes(org: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in org["sandbox"].requests() if r["method"] in ("PATCH", "POST", "PUT", "DELETE")]


def _noop(job_id: str, state: str) -> None:
    return None


def test_collections_upsert_by_external_id_never_duplicates(org: dict[str, Any]) -> None:
    w = _writer(org)
    batch = [(0, _task("9001")), (1, _task("9002", BOB))]
    first = w.write("Task", "upsert", batch, _noop)
    assert [r.outcome for r in first] == ["created", "created"] and all(r.new_id for r in first)
    assert any(f"/composite/sobjects/Task/{EXT}" in r["path"] for r in _writes(org))
    again = w.write("Task", "upsert", batch, _noop)  # e.g. re-sent after a lost answer
    assert [r.outcome for r in again] == ["updated", "updated"]
    assert [r.new_id for r in again] == [r.new_id for r in first]
    assert _count(w, f"SELECT Id FROM Task WHERE {EXT} IN ('9001', '9002')") == 2
    found = w.find_external("Task", EXT, ["9001", "9002", "9999"])
    assert {k: v[0] for k, v in found.items()} == {"9001": first[0].new_id, "9002": first[1].new_id}
    assert all(v[1] for v in found.values())  # CreatedDate: tells "created by this run" from "existed before"


def test_bulk_upsert_by_external_id_and_by_id(org: dict[str, Any]) -> None:
    w = _writer(org, bulk_threshold=1)
    tasks = [(i, _task(str(9100 + i))) for i in range(3)]
    jobs: list[tuple[str, str]] = []
    res = w.write("Task", "upsert", tasks, lambda j, s: jobs.append((j, s)))
    assert [r.outcome for r in res] == ["created"] * 3 and [s for _, s in jobs] == ["created", "uploaded", "done"]
    res = w.write("Task", "upsert", tasks, _noop)
    assert [r.outcome for r in res] == ["updated"] * 3  # the same rows again: no second Task
    assert _count(w, f"SELECT Id FROM Task WHERE {EXT} IN ('9100', '9101', '9102')") == 3

    contacts_before = _count(w, "SELECT Id FROM Contact")
    ups = [
        (10, Operation("salesforce", "Contact", ANN, "update", {"Partner_Code__c": "P-ANN"})),
        (11, Operation("salesforce", "Contact", CARL, "update", {"Partner_Code__c": None})),
        (12, Operation("salesforce", "Contact", GONE, "update", {"Partner_Code__c": "P-GONE"})),
    ]
    res = {r.seq: r for r in w.write("Contact", "update", ups, _noop)}
    assert res[10].outcome == "updated" and res[11].outcome == "updated"
    assert res[12].outcome == "failed" and res[12].code  # an Id not found fails; it never creates
    assert _count(w, "SELECT Id FROM Contact") == contacts_before
    assert _count(w, "SELECT Id FROM Contact WHERE Partner_Code__c = 'P-ANN'") == 1
    assert w.query("SELECT Id FROM Contact WHERE Partner_Code__c = 'P-GONE'") == []


def test_bulk_job_definition_is_upsert_with_external_id_field(org: dict[str, Any]) -> None:
    w = _writer(org, bulk_threshold=1)
    ups = [(i, Operation("salesforce", "Contact", c, "update", {"Seats__c": 7})) for i, c in enumerate((ANN, BOB))]
    jobs: list[str] = []
    w.write("Contact", "update", ups, lambda j, s: jobs.append(j))
    info = w._call("GET", f"{w.v}/jobs/ingest/{jobs[0]}").json()
    assert info["operation"] == "upsert" and info["externalIdFieldName"] == "Id" and info["state"] == "JobComplete"


def test_an_update_without_its_id_is_never_sent(org: dict[str, Any]) -> None:
    w = _writer(org, bulk_threshold=1)
    n = len(_writes(org))
    res = w.write(
        "Contact", "update", [(0, Operation("salesforce", "Contact", None, "update", {"Seats__c": 1}))], _noop
    )
    assert [(r.outcome, r.code) for r in res] == [("failed", "MISSING_KEY")] and len(_writes(org)) == n


def test_sandbox_upsert_on_id_inserts_a_blank_id_like_salesforce(org: dict[str, Any]) -> None:
    """Why the writer refuses a keyless update: Salesforce upserts on Id insert a row whose Id is blank."""
    http = https_session(org["ca_cert"])
    url = f"{org['instance_url']}/services/data/v59.0/composite/sobjects/Contact/Id"
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, "LastName": "Blank"},
            {"attributes": {"type": "Contact"}, "Id": GONE, "LastName": "Gone"},
        ],
    }
    r = http.patch(url, json=body, headers={"Authorization": f"Bearer {org['session_id']}"})
    first, second = r.json()
    assert first["success"] and first["created"] is True
    assert not second["success"] and second["errors"][0]["statusCode"] == "NOT_FOUND"


def _snapshot_with_describe(tmp_path: Path, world: dict[str, Any], fields: list[dict[str, Any]]) -> TinySnapshot:
    d = tmp_path / "20261126T120000Z"
    (d / "salesforce" / "describe").mkdir(parents=True)
    (d / "salesforce" / "describe" / "Task.json").write_text(json.dumps({"name": "Task", "fields": fields}))
    snap = world["snapshot"]
    return TinySnapshot(snap.tables, datetime.fromisoformat(snap.manifest["started_at"]).timestamp(), path=str(d))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([{"name": "Subject", "type": "string"}], "Task.Intercom_Conversation_Id__c does not exist"),
        ([{"name": EXT, "type": "string", "externalId": False}], "is not an External ID field"),
    ],
)
def test_plan_refuses_a_conversation_key_that_is_not_an_external_id(
    tmp_path: Path, fields: list[dict[str, Any]], message: str
) -> None:
    world = make_world(4)
    snap = _snapshot_with_describe(tmp_path, world, fields)
    with pytest.raises(ConfigError, match=message) as err:
        build_change_plan(world_config(tmp_path), snap, world["findings"], save=False)
    assert "mapping.conversations.external_id_field" in str(err.value)


def test_plan_accepts_an_external_id_field(tmp_path: Path) -> None:
    world = make_world(4)
    fields = [
        {"name": n, "type": "string", "createable": True, "updateable": True}
        for n in ("WhoId", "Subject", "Status", "Description")
    ]
    fields.append({"name": EXT, "type": "string", "length": 64, "externalId": True, "createable": True})
    plan = build_change_plan(
        world_config(tmp_path), _snapshot_with_describe(tmp_path, world, fields), world["findings"]
    )
    (task,) = [o for o in plan.operations if o.policy == "log_conversations"]
    assert task.op == "upsert" and task.match == {EXT: "471"}
