"""The search query grammar of the Intercom emulator, valid and invalid, over HTTPS (responses are
validated against the OpenAPI document by the client hook)."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from crmsandbox.intercom import IntercomService
from ic_support import FakeClock, http_client, serve_https, write_load_folder

START = 1_767_225_600  # 2026-01-01T00:00:00Z; contact i was created at START + 3600 * i (30 contacts)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("icsearch")
    service = IntercomService(None, write_load_folder(root / "load"), clock=FakeClock(START + 86400 * 40))
    with serve_https(service, root) as facts, http_client(facts) as client:
        yield client
    service.close()


def search(api, query, **extra):
    return api.post("/contacts/search", json={"query": query, "pagination": {"per_page": 150}, **extra})


def count(api, query) -> int:
    r = search(api, query)
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["total_count"] == len(body["data"])
    return body["total_count"]


def f(field, op, value):
    return {"field": field, "operator": op, "value": value}


def code(r):
    return r.status_code, r.json()["errors"][0]["code"]


# -- dates: truncated to the calendar day -----------------------------------------------------------------
def test_date_equals_matches_the_whole_day(api):
    assert count(api, f("created_at", "=", START + 5000)) == 24  # Jan 1: contacts 0..23
    assert count(api, f("created_at", "=", str(START + 86400 + 7))) == 6  # numeric strings too


def test_date_greater_starts_at_next_day_and_less_ends_before_the_day(api):
    assert count(api, f("created_at", ">", START + 5000)) == 6  # from Jan 2 00:00
    assert count(api, f("created_at", "<", START + 86400 + 3600)) == 24  # before Jan 2 00:00
    assert count(api, f("created_at", ">", START - 1)) == 30  # Dec 31 -> from Jan 1


@pytest.mark.parametrize("op", ["!=", ">=", "<=", "IN", "NIN", "~"])
def test_date_operators_other_than_eq_gt_lt_are_refused(api, op):
    value = [START] if op in ("IN", "NIN") else START
    assert code(search(api, f("created_at", op, value))) == (400, "parameter_invalid")


def test_date_value_must_be_a_timestamp(api):
    assert code(search(api, f("created_at", "=", "foobar"))) == (400, "parameter_invalid")
    assert code(search(api, f("updated_at", ">", True))) == (400, "parameter_invalid")


def test_day_follows_the_workspace_time_zone(tmp_path):
    service = IntercomService(None, write_load_folder(tmp_path), clock=FakeClock(), timezone="America/New_York")
    c, h = Client(service.wsgi_app()), {"Authorization": f"Bearer {service.token}"}
    body = {"query": f("created_at", "=", START), "pagination": {"per_page": 150}}
    # START is Dec 31 19:00 in New York; that day ends at Jan 1 05:00 UTC: contacts 0..4
    assert c.post("/contacts/search", json=body, headers=h).json["total_count"] == 5
    service.close()


# -- structure --------------------------------------------------------------------------------------------
def test_two_levels_of_nesting_are_allowed(api):
    query = {
        "operator": "AND",
        "value": [
            {"operator": "OR", "value": [f("role", "=", "lead"), f("custom_attributes.plan_type", "=", "Pro")]},
            {"operator": "OR", "value": [f("created_at", "=", START), f("created_at", "=", START + 86400)]},
        ],
    }
    # leads (i % 5 == 4) or Pro (i % 3 == 1), all within the two days
    assert count(api, query) == sum(1 for i in range(30) if i % 5 == 4 or i % 3 == 1)


def test_three_levels_of_nesting_are_refused(api):
    inner = {"operator": "OR", "value": [{"operator": "AND", "value": [f("role", "=", "user")]}]}
    r = search(api, {"operator": "AND", "value": [inner]})
    assert code(r) == (400, "bad_request") and "nest" in r.json()["errors"][0]["message"]


def test_fifteen_filters_per_group_are_allowed_sixteen_are_not(api):
    fifteen = [f("email", "!=", f"nobody{i}@x.example") for i in range(15)]
    assert count(api, {"operator": "AND", "value": fifteen}) == 30
    r = search(api, {"operator": "OR", "value": [*fifteen, f("role", "=", "user")]})
    assert code(r) == (400, "bad_request") and "15" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "query",
    [
        {"operator": "AND", "value": []},
        {"operator": "XOR", "value": [f("role", "=", "user")]},
        {"field": "role", "operator": "=="},
        {"field": "role", "value": "user"},
        ["role", "=", "user"],
    ],
)
def test_malformed_queries_are_bad_requests(api, query):
    assert code(search(api, query)) == (400, "bad_request")


def test_unknown_fields_and_attributes_are_refused(api):
    assert code(search(api, f("favourite_colour", "=", "blue"))) == (400, "parameter_invalid")
    assert code(search(api, f("custom_attributes.nope", "=", "x"))) == (400, "parameter_invalid")


# -- operators by type ------------------------------------------------------------------------------------
def test_string_operators(api):
    assert count(api, f("email", "=", "PERSON3@ACME3.EXAMPLE")) == 1  # case-insensitive
    assert count(api, f("email", "~", "acme2")) == 6
    assert count(api, f("email", "!~", "acme2")) == 24
    assert count(api, f("name", "^", "Person 1")) == 11  # 1, 10..19
    assert count(api, f("email", "$", "@acme4.example")) == 6
    assert count(api, f("external_id", "IN", ["ext-1", "ext-2", "missing"])) == 2
    assert count(api, f("external_id", "NIN", ["ext-1"])) == 29  # leads without external_id included
    assert count(api, f("external_id", "=", None)) == 6  # the leads
    assert count(api, f("external_id", "!=", None)) == 24
    assert count(api, f("role", "!=", "user")) == 6


@pytest.mark.parametrize("op", [">", "<", ">=", "<="])
def test_range_operators_are_refused_on_strings(api, op):
    assert code(search(api, f("email", op, "a"))) == (400, "parameter_invalid")


def test_integer_and_boolean_attributes(api):
    assert count(api, f("custom_attributes.seats", ">", 25)) == 4
    assert count(api, f("custom_attributes.seats", "<=", 2)) == 3
    assert count(api, f("custom_attributes.seats", "IN", [1, "2", 3])) == 3
    assert code(search(api, f("custom_attributes.seats", "~", 2))) == (400, "parameter_invalid")
    assert code(search(api, f("custom_attributes.seats", "=", "many"))) == (400, "parameter_invalid")
    assert count(api, f("unsubscribed_from_emails", "=", False)) == 30
    assert count(api, f("has_hard_bounced", "IN", [True])) == 0
    assert code(search(api, f("has_hard_bounced", ">", True))) == (400, "parameter_invalid")
    assert code(search(api, f("has_hard_bounced", "=", "maybe"))) == (400, "parameter_invalid")
    assert code(search(api, f("role", "IN", "user"))) == (400, "parameter_invalid")  # IN takes a list


def test_tag_id_allows_only_eq_and_neq(api):
    assert count(api, f("tag_id", "=", "81")) == 10
    assert count(api, f("tag_id", "!=", 81)) == 20
    assert code(search(api, f("tag_id", "IN", ["81"]))) == (400, "parameter_invalid")


def test_tap_intercom_id_query_and_sorting(api):
    body = {
        "query": {"operator": "AND", "value": [f("id", ">", ""), f("role", "=", "user")]},
        "sort": {"field": "updated_at", "order": "ascending"},
        "pagination": {"per_page": 7},
    }
    seen, updated = [], []
    while True:
        page = api.post("/contacts/search", json=body).json()
        seen += [c["id"] for c in page["data"]]
        updated += [c["updated_at"] for c in page["data"]]
        nxt = page["pages"].get("next")
        if not nxt:
            break
        body["pagination"]["starting_after"] = nxt["starting_after"]
    assert len(seen) == len(set(seen)) == 24 and updated == sorted(updated)


def test_sort_order_is_validated_in_2_16_only(api, tmp_path):
    r = search(api, f("role", "=", "user"), sort={"field": "created_at", "order": "desc"})
    assert code(r) == (400, "invalid_sort_order")
    desc = search(api, f("role", "=", "user"), sort={"field": "created_at"}).json()["data"]
    assert [c["created_at"] for c in desc] == sorted((c["created_at"] for c in desc), reverse=True)
    old = api.post(
        "/contacts/search",
        json={"query": f("role", "=", "user"), "sort": {"field": "created_at", "order": "desc"}},
        headers={"Intercom-Version": "2.11"},
    )
    assert old.status_code == 200


# -- conversations ----------------------------------------------------------------------------------------
def conv(api, query):
    r = api.post("/conversations/search", json={"query": query})
    assert r.status_code == 200, r.json()
    return sorted(c["id"] for c in r.json()["conversations"])


def test_conversation_search(api):
    assert conv(api, f("source.body", "~", "support 3")) == ["103"]
    assert conv(api, f("open", "=", True)) == ["100", "102", "104"]
    assert conv(api, f("id", ">", 103)) == ["103", "104", "105"]  # documented as inclusive
    assert conv(api, f("created_at", "=", START + 86400 * 2 + 50)) == ["102"]
    assert conv(api, f("admin_assignee_id", "IN", [991267466])) == ["101", "103", "105"]
    assert conv(api, f("state", "IN", ["closed", "snoozed"])) == ["101", "103", "105"]
    r = api.post("/conversations/search", json={"query": f("state", ">", "open")})
    assert code(r) == (400, "parameter_invalid")


def test_partition_shaped_search_newest_first_pages_through_every_match(api):
    """The incremental pull's query: updated_at > D AND a created_at range, newest updated_at first, paged by
    cursor. It is read along the updated_at index; the pages must hold exactly the matches, in order."""
    body = {"query": f("updated_at", ">", 0), "pagination": {"per_page": 150}}
    everyone = api.post("/contacts/search", json=body).json()["data"]
    day = 86400
    updated = sorted(c["updated_at"] for c in everyone)
    created = sorted(c["created_at"] for c in everyone)
    cut = updated[len(updated) // 3] // day * day  # by day, as the API compares dates
    lo, hi = created[2] // day * day, created[-3] // day * day + day
    query = {
        "operator": "AND",
        "value": [f("updated_at", ">", cut), f("created_at", ">", lo), f("created_at", "<", hi)],
    }
    expected = {c["id"] for c in everyone if c["updated_at"] >= cut + day and lo + day <= c["created_at"] < hi}
    body = {"query": query, "sort": {"field": "updated_at", "order": "descending"}, "pagination": {"per_page": 4}}
    seen, stamps, total = [], [], None
    while True:
        page = api.post("/contacts/search", json=body).json()
        total = page["total_count"] if total is None else total
        seen += [c["id"] for c in page["data"]]
        stamps += [c["updated_at"] for c in page["data"]]
        nxt = page["pages"].get("next")
        if not nxt:
            break
        body["pagination"]["starting_after"] = nxt["starting_after"]
    assert 4 < len(seen) == len(set(seen)) == total and set(seen) == expected
    assert stamps == sorted(stamps, reverse=True)
