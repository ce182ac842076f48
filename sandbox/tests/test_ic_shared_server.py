"""The Intercom emulator inside the shared sandbox server (cheroot, TLS, control API), loaded with the
generator's data: every listing, search and retrieval of generated records is validated against the
OpenAPI document, and the control API moves the clock and the rate limit."""

from __future__ import annotations

import pytest

from crmsandbox.testing import running_sandbox
from ic_support import http_client


@pytest.fixture(scope="module")
def sb():
    with running_sandbox(size=200, seed=3) as handle:
        yield handle


@pytest.fixture
def api(sb):
    sb.reset()
    facts = {**sb["intercom"], "ca_cert": sb["ca_cert"]}
    with http_client(facts) as client:
        yield client


def drain(api, path, key="data", **params):
    out, cursor = [], None
    while True:
        r = api.get(path, params={**params, **({"starting_after": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        out += r.json()[key]
        cursor = (r.json()["pages"].get("next") or {}).get("starting_after")
        if not cursor:
            return out


def test_generated_records_list_and_validate(sb, api):
    state = sb.control("GET", "state")["intercom"]
    contacts = drain(api, "/contacts", per_page=50)
    assert len(contacts) == state["contacts"] > 0
    conversations = drain(api, "/conversations", key="conversations", per_page=50)
    assert len(conversations) == state["conversations"]
    for conv in conversations[:5]:
        assert api.get(f"/conversations/{conv['id']}").json()["conversation_parts"]["type"] == "conversation_part.list"
    companies, page = [], 1
    while True:
        data = api.post("/companies/list", params={"page": page, "per_page": 50}).json()["data"]
        if not data:
            break
        companies += data
        page += 1
    assert companies and len({c["id"] for c in companies}) == len(companies)
    for c in contacts[:5]:
        assert api.get(f"/contacts/{c['id']}").json()["id"] == c["id"]
    assert api.get("/data_attributes").json()["data"]
    assert api.get("/admins").json()["admins"]
    assert api.get("/tags").status_code == 200


def test_search_generated_contacts_by_email_and_external_id(api):
    sample = api.get("/contacts", params={"per_page": 20}).json()["data"]
    with_email = [c for c in sample if c.get("email")]
    assert with_email
    r = api.post(
        "/contacts/search", json={"query": {"field": "email", "operator": "=", "value": with_email[0]["email"]}}
    )
    assert with_email[0]["id"] in {c["id"] for c in r.json()["data"]}
    users = [c for c in sample if c.get("external_id")]
    if users:
        q = {"field": "external_id", "operator": "IN", "value": [u["external_id"] for u in users]}
        found = api.post("/contacts/search", json={"query": q, "pagination": {"per_page": 150}}).json()
        assert {u["id"] for u in users} <= {c["id"] for c in found["data"]}


def test_control_api_rate_limit_and_clock(sb, api):
    limited = sb.control("POST", "service/intercom/rate_limit", {"per_minute": 12})
    assert limited == {"rate_limit_per_minute": 12, "per_window": 2, "window_s": 10.0}
    try:
        statuses = [api.get("/admins").status_code for _ in range(3)]
        assert statuses[-1] == 429
        sb.control("POST", "clock", {"advance_s": 10})  # the next 10-second window
        assert api.get("/admins").status_code == 200
        sb.control("POST", "service/intercom/rate_limit", {"per_minute": None})
        assert all(api.get("/admins").status_code == 200 for _ in range(5))
    finally:
        sb.control("POST", "service/intercom/rate_limit", {"per_minute": 10_000})


def test_request_log_counts_records(sb, api):
    sb.control("POST", "requests/clear")
    api.get("/contacts", params={"per_page": 7})
    log = [e for e in sb.requests(system="intercom") if e["path"] == "/contacts"]
    assert log and log[-1]["records"] == 7 and log[-1]["status"] == 200
