"""Duplicate rules in the Salesforce emulator: DUPLICATES_DETECTED on the wire, allowSave for 'allow' rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmsandbox.errors import SandboxInputError
from crmsandbox.salesforce import SalesforceService
from sf_https import https_session, serve_https, write_load_dir

V = "/services/data/v59.0"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("dup")
    load = write_load_dir(root / "load")
    rules = [{"object": "Contact", "fields": ["Email"], "action": "allow"}, {"object": "Lead", "fields": ["Email"]}]
    (load / "salesforce" / "duplicate_rules.json").write_text(json.dumps(rules))
    service = SalesforceService(root / "state", load)
    with serve_https(service, root) as facts:
        s = https_session(facts["ca_cert"])
        s.headers["Authorization"] = f"Bearer {facts['session_id']}"
        yield {"base": facts["instance_url"] + V, "http": s}
    service.close()


def test_a_matching_create_is_refused_with_duplicates_detected(org: dict[str, Any]) -> None:
    r = org["http"].post(f"{org['base']}/sobjects/Contact", json={"LastName": "Lee", "Email": "Ann@Acme.example"})
    assert r.status_code == 400
    err = r.json()[0]
    assert err["errorCode"] == "DUPLICATES_DETECTED" and err["message"] == "Use one of these records?"
    assert err["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"]["Id"].startswith("003")


def test_allow_save_passes_allow_rules_only(org: dict[str, Any]) -> None:
    header = {"Sforce-Duplicate-Rule-Header": "allowSave=true; includeRecordDetails=false"}
    ok = org["http"].post(
        f"{org['base']}/sobjects/Contact", json={"LastName": "Lee2", "Email": "ann@acme.example"}, headers=header
    )
    assert ok.status_code == 201
    lead = org["http"].post(
        f"{org['base']}/sobjects/Lead",
        json={"LastName": "Dup", "Company": "X", "Email": "dee@dot.example"},
        headers=header,
    )
    assert lead.status_code == 400 and lead.json()[0]["errorCode"] == "DUPLICATES_DETECTED"
    # A value no record has is no duplicate.
    fresh = org["http"].post(
        f"{org['base']}/sobjects/Lead", json={"LastName": "New", "Company": "X", "Email": "n@x.example"}
    )
    assert fresh.status_code == 201


def test_a_bad_rules_file_is_one_clear_error(tmp_path: Path) -> None:
    load = write_load_dir(tmp_path / "load")
    (load / "salesforce" / "duplicate_rules.json").write_text(json.dumps([{"object": "Contact"}]))
    with pytest.raises(SandboxInputError, match="needs an object and a list of fields"):
        SalesforceService(tmp_path / "state", load)
