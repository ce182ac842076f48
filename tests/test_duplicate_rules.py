"""Salesforce duplicate rules on writes, against the emulator: DUPLICATES_DETECTED with its message, and the
Sforce-Duplicate-Rule-Header letting "Allow" rules through (never "Block" ones)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from crmsandbox.salesforce import SalesforceService
from sf_https import ANN, BOB, LEAD_OPEN, serve_https, write_load_dir
from syncaudit.changes.model import Operation
from syncaudit.config import DuplicateRuleHeader
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.salesforce.auth import SalesforceAuthenticator, SalesforceCredentials
from syncaudit.connectors.salesforce.connector import SalesforceConnector
from syncaudit.connectors.salesforce.duplicates import duplicate_rule_header
from syncaudit.connectors.salesforce.writer import SalesforceWriter


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("dup")
    load = write_load_dir(root / "load")
    rules = [
        {"object": "Contact", "fields": ["Email"], "action": "allow"},
        {"object": "Lead", "fields": ["Email"], "action": "block"},
    ]
    (load / "salesforce" / "duplicate_rules.json").write_text(json.dumps(rules))
    service = SalesforceService(root / "state", load)
    with serve_https(service, root) as facts:
        yield facts
    service.close()


def _writer(org: dict[str, Any], header: DuplicateRuleHeader | None = None) -> SalesforceWriter:
    creds = SalesforceCredentials(
        method="session", token_url="", session_id=org["session_id"], instance_url=org["instance_url"]
    )
    http = build_http_session(org["ca_cert"], 60)
    connector = SalesforceConnector(SalesforceAuthenticator(creds, http, 60), http)
    return SalesforceWriter(connector, poll_s=0.01, duplicate_header=duplicate_rule_header(header))


def _update(rid: str, obj: str, **after: Any) -> Operation:
    return Operation("salesforce", obj, rid, "update", after, policy="push_owner_value")


def _noop(job_id: str, state: str) -> None:
    return None


def test_a_write_a_duplicate_rule_matches_fails_with_its_message(org: dict[str, Any]) -> None:
    w = _writer(org)
    # Bob's email becomes Ann's (any case): the Contact rule matches.
    [res] = w.write("Contact", "update", [(0, _update(BOB, "Contact", Email="ANN@acme.example"))], _noop)
    assert (res.outcome, res.code) == ("failed", "DUPLICATES_DETECTED")
    assert res.detail is not None and res.detail.startswith("Use one of these records?")
    assert ANN in res.detail and "Contact: Email" in res.detail  # the rule and the record it matched
    assert w.query(f"SELECT Email FROM Contact WHERE Id = '{BOB}'")[0]["Email"] == "bob@acme.example"
    # Not a duplicate: saved.
    [ok] = w.write("Contact", "update", [(1, _update(BOB, "Contact", Email="bob2@acme.example"))], _noop)
    assert ok.outcome == "updated"


def test_the_header_lets_allow_rules_through_but_never_block_rules(org: dict[str, Any]) -> None:
    w = _writer(org, DuplicateRuleHeader(allow_save=True))
    [res] = w.write("Contact", "update", [(0, _update(BOB, "Contact", Email="ann@acme.example"))], _noop)
    assert res.outcome == "updated"
    sent = [r for r in org["sandbox"].requests() if r["method"] == "PATCH"]
    assert sent  # the write went out with the header (the emulator honoured allowSave)
    # A Lead rule set to Block refuses whatever the header says.
    [blocked] = w.write("Lead", "update", [(1, _update(LEAD_OPEN, "Lead", Email="ann@acme.example"))], _noop)
    assert (blocked.outcome, blocked.code) == ("failed", "DUPLICATES_DETECTED")


def test_header_text() -> None:
    assert duplicate_rule_header(None) == {}
    assert duplicate_rule_header(DuplicateRuleHeader()) == {
        "Sforce-Duplicate-Rule-Header": "allowSave=true; includeRecordDetails=false; runAsCurrentUser=true"
    }
