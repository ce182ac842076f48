"""Bad input to either emulator gets the real API's error shape and status, never a 500 or a traceback.

One sweep over both emulators served together over HTTPS: malformed JSON, wrong types, unknown fields,
oversized pages, unknown routes and methods. Salesforce answers a JSON array of ``{errorCode, message}``;
Intercom an ``error.list`` envelope with ``errors[{code, message}]``.
"""

from __future__ import annotations

import json

import pytest

from crmsandbox.http import ca_session
from crmsandbox.intercom import IntercomService
from crmsandbox.salesforce import SalesforceService
from crmsandbox.testing import running_sandbox
from ic_support import write_load_folder
from sf_https import ANN, write_load_dir

JSON = {"Content-Type": "application/json"}
V = "/services/data/v59.0"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    write_load_dir(root / "sf")
    services = {
        "salesforce": SalesforceService(None, root / "sf"),
        "intercom": IntercomService(root / "ic-state", write_load_folder(root / "ic"), default_version="2.16"),
    }
    with running_sandbox(services=services, state_dir=root / "sb") as sb:
        yield sb, ca_session(sb["ca_cert"])


def _records(n: int) -> bytes:
    return json.dumps({"records": [{"attributes": {"type": "Contact"}, "LastName": str(i)} for i in range(n)]}).encode()


SALESFORCE = [
    # (method, path, body, headers, status, errorCode)
    ("POST", f"{V}/sobjects/Contact", b'{"LastName": ', JSON, 400, "JSON_PARSER_ERROR"),
    ("POST", f"{V}/sobjects/Contact", b"not json at all", JSON, 400, "JSON_PARSER_ERROR"),
    ("POST", f"{V}/sobjects/Contact", b"[1, 2]", JSON, 400, "JSON_PARSER_ERROR"),
    ("POST", f"{V}/sobjects/Contact", b'{"LastName": {"a": 1}}', JSON, 400, "JSON_PARSER_ERROR"),
    ("POST", f"{V}/sobjects/Contact", b'{"LastName": "x", "Birthdate": 5}', JSON, 400, "JSON_PARSER_ERROR"),
    (
        "POST",
        f"{V}/sobjects/Contact",
        b'{"LastName": "x", "HasOptedOutOfEmail": "maybe"}',
        JSON,
        400,
        "JSON_PARSER_ERROR",
    ),
    ("POST", f"{V}/sobjects/Contact", b'{"LastName": "x", "Nope__c": 1}', JSON, 400, "INVALID_FIELD"),
    ("PATCH", f"{V}/sobjects/Contact/{ANN}", b'{"Shoe_Size__c": 1}', JSON, 400, "INVALID_FIELD"),
    ("PATCH", f"{V}/sobjects/Contact/{ANN}", b'{"LastName": ["a"]}', JSON, 400, "JSON_PARSER_ERROR"),
    ("POST", f"{V}/composite/sobjects", _records(201), JSON, 400, "EXCEEDED_ID_LIMIT"),
    ("POST", f"{V}/composite/sobjects", b'{"records": "x"}', JSON, 400, "JSON_PARSER_ERROR"),
    ("POST", f"{V}/composite/batch", b'{"batchRequests": 7}', JSON, 400, "JSON_PARSER_ERROR"),
    ("POST", f"{V}/jobs/query", b'{"operation": 5}', JSON, 400, "INVALIDJOB"),
    ("POST", f"{V}/jobs/ingest", b"not json", JSON, 400, "JSON_PARSER_ERROR"),
    ("GET", f"{V}/query?q=SELECT+Id+FROM", None, {}, 400, "MALFORMED_QUERY"),
    ("GET", f"{V}/query?q=SELECT+Nope+FROM+Contact", None, {}, 400, "INVALID_FIELD"),
    ("GET", f"{V}/query/not-a-locator", None, {}, 400, "INVALID_QUERY_LOCATOR"),
    ("GET", f"{V}/nope", None, {}, 404, "NOT_FOUND"),
    ("GET", "/nope/at/all", None, {}, 404, "NOT_FOUND"),
    ("GET", "/services/data/v12.0/sobjects", None, {}, 404, "NOT_FOUND"),
    ("DELETE", f"{V}/query?q=SELECT+Id+FROM+Contact", None, {}, 405, "METHOD_NOT_ALLOWED"),
    ("PUT", f"{V}/sobjects/Contact", b"{}", JSON, 405, "METHOD_NOT_ALLOWED"),
]

INTERCOM = [
    # (method, path, body, status, code)
    ("POST", "/contacts", b'{"email": ', 400, "parameter_invalid"),
    ("POST", "/contacts", b"\xff\xfe", 400, "parameter_invalid"),
    ("POST", "/contacts", b"[]", 400, "bad_request"),
    ("POST", "/contacts", b'{"email": 5}', 400, "parameter_invalid"),
    ("POST", "/contacts", b'{"email": "a@b.example", "unsubscribed_from_emails": "nope"}', 400, "parameter_invalid"),
    ("POST", "/contacts", b'{"email": "a@b.example", "shoe_size": 5}', 400, "bad_request"),
    ("POST", "/companies", b'{"company_id": true}', 400, "parameter_invalid"),
    ("POST", "/companies", b'{"company_id": "X", "tier": "gold"}', 400, "bad_request"),
    ("PUT", "/data_attributes/12", b'{"options": 3}', 400, "parameter_invalid"),
    (
        "POST",
        "/contacts/search",
        b'{"query": {"field": "role", "operator": ["="], "value": "user"}}',
        400,
        "bad_request",
    ),
    ("GET", "/contacts?per_page=abc", None, 400, "parameter_invalid"),
    ("GET", "/contacts?per_page=0", None, 400, "parameter_invalid"),
    ("GET", "/nope", None, 404, "not_found"),
    ("PATCH", "/contacts", b"{}", 404, "not_found"),
    ("DELETE", "/tags", None, 404, "not_found"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "code"), SALESFORCE)
def test_salesforce_bad_input(live, method, path, body, headers, status, code):
    sb, http = live
    sf = sb["salesforce"]
    r = http.request(
        method, sf["instance_url"] + path, data=body, headers={"Authorization": f"Bearer {sf['session_id']}", **headers}
    )
    assert r.status_code == status, r.text
    errors = r.json()
    assert isinstance(errors, list) and errors[0]["errorCode"] == code and errors[0]["message"], errors
    assert "Traceback" not in r.text


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), INTERCOM)
def test_intercom_bad_input(live, method, path, body, status, code):
    sb, http = live
    ic = sb["intercom"]
    headers = {"Authorization": f"Bearer {ic['token']}", "Intercom-Version": "2.16", **(JSON if body else {})}
    r = http.request(method, ic["base_url"] + path, data=body, headers=headers)
    assert r.status_code == status, r.text
    body_json = r.json()
    assert body_json["type"] == "error.list" and body_json["errors"][0]["code"] == code, body_json
    assert body_json["errors"][0]["message"] and "Traceback" not in r.text


def test_oversized_pages_are_capped_as_the_real_apis_cap_them(live):
    """Salesforce pages at most 2000 records whatever batchSize asks; Intercom at most 150 per page."""
    sb, http = live
    sf, ic = sb["salesforce"], sb["intercom"]
    r = http.get(
        sf["instance_url"] + f"{V}/query",
        params={"q": "SELECT Id FROM Contact"},
        headers={"Authorization": f"Bearer {sf['session_id']}", "Sforce-Query-Options": "batchSize=999999"},
    )
    assert r.status_code == 200 and r.json()["done"] is True
    ih = {"Authorization": f"Bearer {ic['token']}", "Intercom-Version": "2.16"}
    page = http.get(ic["base_url"] + "/contacts", params={"per_page": 100000}, headers=ih).json()
    assert page["pages"]["per_page"] == 150
    found = http.post(
        ic["base_url"] + "/contacts/search",
        json={"query": {"field": "role", "operator": "=", "value": "user"}, "pagination": {"per_page": 100000}},
        headers=ih,
    ).json()
    assert found["pages"]["per_page"] == 150


def test_no_request_of_the_sweep_was_answered_500(live):
    sb, _ = live
    statuses = [e["status"] for e in sb.requests()]
    assert statuses and all(s is not None and s < 500 for s in statuses)
