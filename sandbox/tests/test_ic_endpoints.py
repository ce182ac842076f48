"""Every Intercom endpoint of the emulator over real HTTPS; every response is validated against the
official OpenAPI 2.16 document by the client's response hook (tests/ic_support.py)."""

from __future__ import annotations

import re

import pytest

from crmsandbox.intercom import IntercomService, companies
from crmsandbox.intercom.responses import URLS
from ic_support import FakeClock, http_client, serve_https, validator, write_load_folder

START = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("ic")
    clock = FakeClock(START + 86400 * 40)
    service = IntercomService(root / "state", write_load_folder(root / "load"), clock=clock, default_version="2.11")
    with serve_https(service, root) as facts:
        yield {"service": service, "facts": facts, "clock": clock}
    service.close()


@pytest.fixture
def api(env):
    env["service"].reset()
    with http_client(env["facts"]) as client:
        yield client


def err(r):
    return r.json()["errors"][0]["code"]


def test_auth_errors_and_headers(env):
    with http_client(env["facts"], token="wrong") as bad:
        r = bad.get("/contacts")
        assert r.status_code == 401 and err(r) == "unauthorized"
        assert r.json()["request_id"] == r.headers["X-Request-Id"]
    with http_client(env["facts"], version="1.4") as old:
        r = old.get("/contacts")
        assert r.status_code == 400 and "2.16" in r.json()["errors"][0]["message"]


def test_default_version_applies_when_header_absent(env):
    env["service"].reset()
    with http_client(env["facts"], version=None) as c:
        contact = c.get("/contacts", params={"per_page": 1}).json()["data"][0]
        assert contact["owner_id"] == 991267466  # integer before 2.16
    with http_client(env["facts"], version="2.16") as c:
        assert c.get("/contacts", params={"per_page": 1}).json()["data"][0]["owner_id"] == "991267466"


def test_unknown_route_and_bad_json(api):
    r = api.get("/contacts/c000/segments")
    assert r.status_code == 404 and err(r) == "not_found"
    r = api.post("/contacts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and err(r) == "parameter_invalid"


def test_list_contacts_cursor_pagination(api):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"per_page": 7, **({"starting_after": cursor} if cursor else {})}
        body = api.get("/contacts", params=params).json()
        assert body["total_count"] == 30
        seen += [c["id"] for c in body["data"]]
        pages += 1
        nxt = body["pages"].get("next")
        if not nxt:
            break
        cursor = nxt["starting_after"]
    assert pages == 5 and len(seen) == 30 and len(set(seen)) == 30
    assert api.get("/contacts", params={"per_page": 999}).json()["pages"]["per_page"] == 150
    r = api.get("/contacts", params={"starting_after": "garbage!"})
    assert r.status_code == 400 and err(r) == "parameter_invalid"


def test_list_is_stable_under_inserts(api):
    first = api.get("/contacts", params={"per_page": 10}).json()
    api.post("/contacts", json={"email": "new@x.example"})  # created now: sorts last
    rest, cursor = [], first["pages"]["next"]["starting_after"]
    while cursor:
        body = api.get("/contacts", params={"per_page": 10, "starting_after": cursor}).json()
        rest += [c["id"] for c in body["data"]]
        cursor = (body["pages"].get("next") or {}).get("starting_after")
    ids = [c["id"] for c in first["data"]] + rest
    assert len(ids) == len(set(ids)) == 31


def test_contact_crud_and_conflicts(api):
    r = api.post(
        "/contacts",
        json={"email": "Ann@New.example", "external_id": "sf-1", "name": "Ann", "custom_attributes": {"seats": 3}},
    )
    assert r.status_code == 200
    ann = r.json()
    assert ann["role"] == "user" and ann["email_domain"] == "New.example" and ann["custom_attributes"] == {"seats": 3}
    dup = api.post("/contacts", json={"external_id": "sf-1", "role": "lead"})
    assert dup.status_code == 409 and err(dup) == "conflict" and ann["id"] in dup.json()["errors"][0]["message"]
    assert api.post("/contacts", json={"email": "ann@new.example"}).status_code == 409  # users: email is unique
    assert api.post("/contacts", json={"email": "ann@new.example", "role": "lead"}).status_code == 200
    r = api.post("/contacts", json={"email": "x@y.example", "custom_attributes": {"nope": 1}})
    assert r.status_code == 400 and err(r) == "parameter_invalid"
    r = api.post("/contacts", json={"email": "x@y.example", "custom_attributes": {"seats": "three"}})
    assert r.status_code == 400 and err(r) == "parameter_invalid"
    r = api.post("/contacts", json={"email": "x@y.example", "favourite": "blue"})
    assert r.status_code == 400 and err(r) == "bad_request"

    r = api.put(
        f"/contacts/{ann['id']}", json={"name": "Ann Lee", "custom_attributes": {"plan_type": "Pro", "seats": None}}
    )
    assert r.status_code == 200
    upd = r.json()
    assert (
        upd["name"] == "Ann Lee" and upd["custom_attributes"] == {"plan_type": "Pro"} and upd["external_id"] == "sf-1"
    )
    assert api.put(f"/contacts/{ann['id']}", json={"external_id": "ext-0"}).status_code == 409
    got = api.get(f"/contacts/{ann['id']}").json()
    assert got["name"] == "Ann Lee"
    assert api.get("/contacts/find_by_external_id/sf-1").json()["id"] == ann["id"]
    r = api.get("/contacts/nope")
    assert r.status_code == 404 and err(r) == "not_found"

    r = api.delete(f"/contacts/{ann['id']}")
    assert r.json() == {"type": "contact", "id": ann["id"], "external_id": "sf-1", "deleted": True}
    assert api.get(f"/contacts/{ann['id']}").status_code == 404


def test_archive_unarchive(api):
    cid = "c" + "0" * 23
    r = api.post(f"/contacts/{cid}/archive")
    assert r.json() == {"type": "contact", "id": cid, "external_id": "ext-0", "archived": True}
    assert api.get("/contacts").json()["total_count"] == 29
    assert api.get(f"/contacts/{cid}").status_code == 200  # still retrievable
    assert api.post("/contacts", json={"external_id": "ext-0"}).status_code == 409
    assert api.post(f"/contacts/{cid}/unarchive").json()["archived"] is False
    assert api.get("/contacts").json()["total_count"] == 30


def test_merge_lead_into_user(env, api):
    lead = api.post("/contacts", json={"role": "lead", "email": "person0@acme0.example", "phone": "+1999"}).json()
    api.post(f"/contacts/{lead['id']}/tags", json={"id": "82"})
    user_id = "c" + "0" * 23
    r = api.post("/contacts/merge", json={"from": lead["id"], "into": user_id})
    assert r.status_code == 200
    merged = r.json()
    assert merged["id"] == user_id and {t["id"] for t in merged["tags"]["data"]} == {"81", "82"}
    gone = api.get(f"/contacts/{lead['id']}")
    assert gone.status_code == 410 and err(gone) == "contact_merged"
    assert gone.headers["Link"] == f'</contacts/{user_id}>; rel="canonical"'
    with http_client(env["facts"], version="2.15") as old:
        assert old.get(f"/contacts/{lead['id']}").status_code == 404
    ids = {c["id"] for c in api.get("/contacts", params={"per_page": 150}).json()["data"]}
    assert lead["id"] not in ids
    # 2.16 duplicate validation; user -> user is refused
    other = api.post("/contacts", json={"role": "lead", "email": "nobody@else.example"}).json()
    r = api.post("/contacts/merge", json={"from": other["id"], "into": user_id})
    assert r.status_code == 400 and err(r) == "invalid_merge"
    ok = api.post("/contacts/merge", json={"from": other["id"], "into": user_id, "skip_duplicate_validation": True})
    assert ok.status_code == 200
    r = api.post("/contacts/merge", json={"from": user_id, "into": "c" + "0" * 22 + "1"})
    assert r.status_code == 400


def test_merge_history_only_when_asked_on_users_in_2_16(env, api):
    user_id = "c" + "0" * 23  # ext-0, person0@acme0.example
    lead = api.post("/contacts", json={"role": "lead", "email": "person0@acme0.example"}).json()
    flag = {"include_merge_history": "true"}
    merged = api.post("/contacts/merge", params=flag, json={"from": lead["id"], "into": user_id}).json()
    item = {"type": "merge_history", "source_contact_id": lead["id"], "source_contact_role": "lead"}
    assert merged["merge_history"] == [{**item, "merged_at": int(env["clock"]())}]
    assert "merge_history" not in api.get(f"/contacts/{user_id}").json()
    assert len(api.get(f"/contacts/{user_id}", params=flag).json()["merge_history"]) == 1
    assert len(api.get("/contacts/find_by_external_id/ext-0", params=flag).json()["merge_history"]) == 1
    assert len(api.put(f"/contacts/{user_id}", params=flag, json={"name": "Ann"}).json()["merge_history"]) == 1
    listed = api.get("/contacts", params={"per_page": 150, **flag}).json()["data"]
    by_id = {c["id"]: c for c in listed}
    assert len(by_id[user_id]["merge_history"]) == 1
    assert all(c.get("merge_history") == [] for c in listed if c["role"] == "user" and c["id"] != user_id)
    assert all("merge_history" not in c for c in listed if c["role"] == "lead")  # users only
    assert all("merge_history" not in c for c in api.get("/contacts", params={"per_page": 150}).json()["data"])
    query = {"query": {"field": "id", "operator": "=", "value": user_id}}
    assert len(api.post("/contacts/search", params=flag, json=query).json()["data"][0]["merge_history"]) == 1
    assert "merge_history" not in api.post("/contacts/search", json=query).json()["data"][0]
    with http_client(env["facts"], version="2.15") as old:  # not sent before 2.16, even when asked
        assert "merge_history" not in old.get(f"/contacts/{user_id}", params=flag).json()
        assert old.get(f"/contacts/{user_id}/merge_history").status_code == 404
    # GET /contacts/{id}/merge_history pages through the same entries, newest first
    env["clock"].advance(60)
    second = api.post("/contacts", json={"role": "lead", "phone": "+15550000000"}).json()
    api.post("/contacts/merge", json={"from": second["id"], "into": user_id})
    first_page = api.get(f"/contacts/{user_id}/merge_history", params={"per_page": 1}).json()
    assert first_page["has_more"] is True and first_page["data"][0]["source_contact_id"] == second["id"]
    cursor = {"per_page": 1, "cursor": first_page["next_cursor"]}
    last = api.get(f"/contacts/{user_id}/merge_history", params=cursor).json()
    assert last["data"] == [{**item, "merged_at": int(env["clock"]()) - 60}] and last["has_more"] is False
    assert "next_cursor" not in last
    oldest_first = api.get(f"/contacts/{user_id}/merge_history", params={"order": "asc"}).json()["data"]
    assert [h["source_contact_id"] for h in oldest_first] == [lead["id"], second["id"]]
    assert err(api.get(f"/contacts/{user_id}/merge_history", params={"cursor": "nope"})) == "parameter_invalid"
    assert api.get(f"/contacts/{second['id']}/merge_history").status_code == 410  # merged away
    lead_id = f"c{4:023x}"
    assert api.get(f"/contacts/{lead_id}/merge_history").status_code == 404  # users only


def test_contact_tags(api):
    cid = "c" + "0" * 22 + "1"
    tag = api.post(f"/contacts/{cid}/tags", json={"id": "82"}).json()
    assert tag["id"] == "82" and tag["applied_by"]["type"] == "admin" and tag["applied_at"]
    assert [t["name"] for t in api.get(f"/contacts/{cid}/tags").json()["data"]] == ["Churn risk"]
    assert api.get(f"/contacts/{cid}").json()["tags"]["total_count"] == 1
    assert api.delete(f"/contacts/{cid}/tags/82").json()["name"] == "Churn risk"
    assert api.get(f"/contacts/{cid}/tags").json()["data"] == []
    r = api.post(f"/contacts/{cid}/tags", json={"id": "999"})
    assert r.status_code == 404 and err(r) == "not_found"


def test_contact_companies(api):
    cid = "c" + "0" * 22 + "1"
    body = api.get(f"/contacts/{cid}/companies").json()
    assert body["total_count"] == 1 and body["companies"] == body["data"]
    co = api.post(f"/contacts/{cid}/companies", json={"id": f"{3:024x}"}).json()
    assert co["company_id"] == "ACME-002"
    assert api.get(f"/contacts/{cid}").json()["companies"]["total_count"] == 2
    r = api.post(f"/contacts/{cid}/companies", json={"id": "missing"})
    assert r.status_code == 404 and err(r) == "company_not_found"
    r = api.post(f"/contacts/{cid}/companies", json={})
    assert r.status_code == 400 and err(r) == "parameter_not_found"
    assert api.delete(f"/contacts/{cid}/companies/{3:024x}").json()["id"] == f"{3:024x}"
    assert api.get(f"/contacts/{cid}/companies").json()["total_count"] == 1


def test_companies_create_update_find_delete(api):
    r = api.post(
        "/companies", json={"company_id": "NEW-1", "name": "New Co", "plan": "Pro", "size": 12, "monthly_spend": 99.7}
    )
    co = r.json()
    assert co["plan"]["name"] == "Pro" and co["monthly_spend"] == 99 and co["user_count"] == 0
    again = api.post("/companies", json={"company_id": "NEW-1", "industry": "Software"}).json()
    assert again["id"] == co["id"] and again["name"] == "New Co" and again["industry"] == "Software"
    r = api.post("/companies", json={"company_id": "NEW-1", "test": 1})
    assert r.status_code == 400 and r.json()["errors"][0]["message"] == "bad 'test' parameter"
    assert api.get("/companies", params={"company_id": "NEW-1"}).json()["id"] == co["id"]
    assert api.get("/companies", params={"name": "Acme 1"}).json()["company_id"] == "ACME-001"
    r = api.get("/companies", params={"company_id": "none"})
    assert r.status_code == 404 and err(r) == "company_not_found"
    assert (
        api.put(f"/companies/{co['id']}", json={"website": "https://new.example"}).json()["website"]
        == "https://new.example"
    )
    assert api.get(f"/companies/{co['id']}").json()["company_id"] == "NEW-1"
    assert api.delete(f"/companies/{co['id']}").json() == {"id": co["id"], "object": "company", "deleted": True}
    assert api.get(f"/companies/{co['id']}").status_code == 404


def test_company_lists_hide_empty_companies_and_page(api):
    body = api.post("/companies/list", params={"per_page": 2}).json()
    assert body["total_count"] == 5 and len(body["data"]) == 2  # LONELY has no contacts
    assert body["pages"]["next"] == {"page": 2, "per_page": 2, "starting_after": None}  # the documented object
    assert [c["last_request_at"] for c in body["data"]] == sorted(
        (c["last_request_at"] for c in body["data"]), reverse=True
    )
    past = api.post("/companies/list", params={"page": 9, "per_page": 2}).json()
    assert past["data"] == [] and "next" not in past["pages"]
    listed = api.get("/companies", params={"page": 1, "per_page": 50}).json()
    assert {c["company_id"] for c in listed["data"]} == {f"ACME-{i:03d}" for i in range(5)}
    assert api.get("/companies", params={"tag_id": "81"}).json()["data"] == []
    assert all(c["user_count"] == 6 for c in listed["data"])
    contacts = api.get(f"/companies/{1:024x}/contacts").json()
    assert contacts["total_count"] == 6 and len(contacts["data"]) == 6


def test_company_list_cap(api, monkeypatch):
    monkeypatch.setattr(companies, "LIST_CAP", 4)
    assert len(api.post("/companies/list", params={"page": 2, "per_page": 3}).json()["data"]) == 1
    r = api.post("/companies/list", params={"page": 3, "per_page": 2})
    assert r.status_code == 400 and "scroll" in r.json()["errors"][0]["message"]


def test_company_scroll(env, api, monkeypatch):
    monkeypatch.setattr(companies, "SCROLL_PAGE", 2)
    first = api.get("/companies/scroll").json()
    param = first["scroll_param"]
    assert len(first["data"]) == 2
    r = api.get("/companies/scroll")
    assert r.status_code == 400 and err(r) == "scroll_exists"
    got = [c["id"] for c in first["data"]]
    while True:
        page = api.get("/companies/scroll", params={"scroll_param": param}).json()
        if not page["data"]:
            break
        got += [c["id"] for c in page["data"]]
    assert len(got) == len(set(got)) == 5
    # after the end a new scroll may be opened; idle for over a minute, it expires
    param = api.get("/companies/scroll").json()["scroll_param"]
    env["clock"].advance(61)
    r = api.get("/companies/scroll", params={"scroll_param": param})
    assert r.status_code == 404
    assert api.get("/companies/scroll").status_code == 200


def test_conversations(env, api):
    body = api.get("/conversations", params={"per_page": 4}).json()
    assert body["type"] == "conversation.list" and body["total_count"] == 6 and len(body["conversations"]) == 4
    assert "conversation_parts" not in body["conversations"][0]
    body2 = api.get(
        "/conversations", params={"per_page": 4, "starting_after": body["pages"]["next"]["starting_after"]}
    ).json()
    assert len(body2["conversations"]) == 2 and "next" not in body2["pages"]
    conv = api.get("/conversations/101").json()
    assert conv["conversation_parts"]["total_count"] == 1 and conv["admin_assignee_id"] == 991267466
    assert api.get("/conversations/100").json()["admin_assignee_id"] == 0  # 2.16: unassigned is 0
    with http_client(env["facts"], version="2.11", validate=False) as old:
        assert old.get("/conversations/100").json()["admin_assignee_id"] is None
    r = api.get("/conversations/9999")
    assert r.status_code == 404 and err(r) == "not_found"
    found = api.post(
        "/conversations/search",
        json={
            "query": {
                "operator": "AND",
                "value": [
                    {"field": "state", "operator": "=", "value": "closed"},
                    {"field": "contact_ids", "operator": "=", "value": "c" + "0" * 22 + "1"},
                ],
            }
        },
    ).json()
    assert [c["id"] for c in found["conversations"]] == ["101"]


def test_admins_me_tags(api):
    admins = api.get("/admins").json()["admins"]
    assert [a["id"] for a in admins] == ["991267466"]
    assert api.get("/admins/991267466").json()["name"] == "Ops Admin"
    r = api.get("/admins/1")
    assert r.status_code == 404 and err(r) == "admin_not_found"
    me = api.get("/me").json()
    assert me["app"]["id_code"] and me["app"]["timezone"] == "UTC"
    assert {t["name"] for t in api.get("/tags").json()["data"]} == {"VIP", "Churn risk"}
    new = api.post("/tags", json={"name": "Beta"}).json()
    assert api.post("/tags", json={"name": "Beta"}).json()["id"] == new["id"]
    assert api.get(f"/tags/{new['id']}").json()["name"] == "Beta"
    assert api.post("/tags", json={"id": new["id"], "name": "Beta 2"}).json()["name"] == "Beta 2"
    tagged = api.post("/tags", json={"name": "Key", "companies": [{"company_id": "ACME-001"}]}).json()
    assert api.get("/companies", params={"tag_id": tagged["id"]}).json()["data"][0]["company_id"] == "ACME-001"
    assert api.delete(f"/tags/{new['id']}").status_code == 200
    assert api.get(f"/tags/{new['id']}").status_code == 404


def test_data_attributes(env, api):
    attrs = api.get("/data_attributes", params={"model": "contact"}).json()["data"]
    by_name = {a["name"]: a for a in attrs}
    assert by_name["seats"]["data_type"] == "integer" and by_name["seats"]["id"] == 12 and by_name["seats"]["custom"]
    assert by_name["email"]["custom"] is False and "id" not in by_name["email"]
    r = api.post("/data_attributes", json={"name": "nps", "model": "contact", "data_type": "integer"})
    assert r.json()["full_name"] == "custom_attributes.nps"
    assert api.post("/contacts", json={"email": "n@p.example", "custom_attributes": {"nps": 9}}).status_code == 200
    dup = api.post("/data_attributes", json={"name": "nps", "model": "contact", "data_type": "integer"})
    assert dup.status_code == 400 and err(dup) == "parameter_invalid"
    bad = api.post("/data_attributes", json={"name": "bad name!", "model": "contact", "data_type": "string"})
    assert bad.status_code == 400
    r = api.get("/data_attributes", params={"model": "conversation"})
    assert r.status_code == 422 and err(r) == "parameter_invalid"
    companies_attrs = api.get("/data_attributes", params={"model": "company"}).json()["data"]
    assert "sf_account_id" in {a["name"] for a in companies_attrs}


def test_reset_restores_loaded_state(env, api):
    api.post("/contacts", json={"email": "temp@x.example"})
    assert env["service"].dump()["contacts"] == 31
    env["service"].reset()
    assert env["service"].dump()["contacts"] == 30


def test_state_dir_survives_restart(tmp_path):
    load = write_load_folder(tmp_path / "load", n_contacts=3)
    first = IntercomService(tmp_path / "state", load)
    from werkzeug.test import Client

    h = {"Authorization": f"Bearer {first.token}"}
    Client(first.wsgi_app()).post("/contacts", json={"email": "kept@x.example"}, headers=h)
    note = Client(first.wsgi_app()).post(f"/contacts/c{0:023x}/notes", json={"body": "kept"}, headers=h).json
    token = first.token
    first.close()
    again = IntercomService(tmp_path / "state", load)  # same load folder: keep the state
    assert again.token == token and again.dump()["contacts"] == 4
    client = Client(again.wsgi_app())
    assert client.get(f"/notes/{note['id']}", headers=h).json["body"] == "<p>kept</p>"
    assert len(client.get("/segments", headers=h).json["segments"]) == 2
    assert client.get("/contacts?per_page=1", headers=h).json["total_count"] == 4  # the count buckets too
    again.reset()
    assert again.dump()["contacts"] == 3
    assert client.get(f"/notes/{note['id']}", headers=h).status_code == 404  # reset: back to the loaded state
    assert len(client.get("/segments", headers=h).json["segments"]) == 2
    again.close()


def test_search_contacts_answers_a_contact_list(api):
    body = api.post("/contacts/search", json={"query": {"field": "role", "operator": "=", "value": "lead"}}).json()
    assert body["type"] == "list" and body["total_count"] == 6 and all(c["role"] == "lead" for c in body["data"])


def test_contact_notes(env, api):
    cid = "c" + "0" * 23
    assert api.get(f"/contacts/{cid}/notes").json()["data"] == []
    assert api.get("/contacts/nope/notes").status_code == 404
    made = [
        api.post(f"/contacts/{cid}/notes", json={"body": f"Call <{i}>", "admin_id": "991267466"}).json()
        for i in range(11)
    ]
    assert made[0]["body"] == "<p>Call &lt;0&gt;</p>" and made[0]["contact"] == {"type": "contact", "id": cid}
    assert made[0]["author"]["id"] == "991267466" and made[0]["created_at"] == int(env["clock"]())
    html_note = api.post(f"/contacts/{cid}/notes", json={"body": "<p>Hi</p>"}).json()  # author: the first admin
    assert html_note["body"] == "<p>Hi</p>" and html_note["author"]["type"] == "admin"
    listed = api.get(f"/contacts/{cid}/notes").json()
    ids = [n["id"] for n in listed["data"]]
    assert listed["total_count"] == 12 and ids[0] == html_note["id"] and ids == sorted(ids, key=int, reverse=True)
    assert len(api.get(f"/contacts/{cid}/notes", params={"per_page": 5, "page": 3}).json()["data"]) == 2
    assert api.get(f"/notes/{made[0]['id']}").json() == made[0]
    embedded = api.get(f"/contacts/{cid}").json()["notes"]
    assert embedded["total_count"] == 12 and embedded["has_more"] is True and len(embedded["data"]) == 10
    assert embedded["data"][0] == {"type": "note", "id": html_note["id"], "url": f"/notes/{html_note['id']}"}
    assert embedded["url"] == f"/contacts/{cid}/notes"
    listed_contact = api.post(
        "/contacts/search", json={"query": {"field": "id", "operator": "=", "value": cid}}
    ).json()["data"][0]
    assert listed_contact["notes"]["total_count"] == 12
    for body, status, code in [
        ({}, 400, "parameter_invalid"),
        ({"body": ""}, 400, "parameter_invalid"),
        ({"body": "x", "admin_id": "404404"}, 404, "not_found"),
        ({"body": "x", "admin_id": ["1"]}, 400, "parameter_invalid"),
    ]:
        r = api.post(f"/contacts/{cid}/notes", json=body)
        assert (r.status_code, err(r)) == (status, code), body
    assert api.post("/contacts/nope/notes", json={"body": "x"}).status_code == 404
    assert [api.get(f"/notes/{n}").status_code for n in ("999999", "abc", "1" * 30)] == [404] * 3
    # a deleted contact takes its notes along; a merged lead's notes move to the user
    other = api.post("/contacts", json={"role": "lead", "email": "person1@acme1.example"}).json()
    note = api.post(f"/contacts/{other['id']}/notes", json={"body": "lead note"}).json()
    into = "c" + "0" * 22 + "1"
    api.post("/contacts/merge", json={"from": other["id"], "into": into})
    assert api.get(f"/notes/{note['id']}").json()["contact"]["id"] == into
    api.delete(f"/contacts/{into}")
    assert api.get(f"/notes/{note['id']}").status_code == 404


def test_company_notes_from_2_16(env, api):
    co = f"{1:024x}"
    assert api.get(f"/companies/{co}/notes").json()["total_count"] == 0
    note = api.post(f"/companies/{co}/notes", json={"body": "Renewal due"}).json()
    assert note["company"] == {"type": "company", "id": co} and "contact" not in note
    assert api.get(f"/companies/{co}").json()["notes"]["notes"] == [note]
    assert api.get(f"/companies/{co}/notes").json()["data"] == [note]
    assert api.get(f"/notes/{note['id']}").json() == note
    assert api.post("/companies/nope/notes", json={"body": "x"}).json()["errors"][0]["code"] == "company_not_found"
    with http_client(env["facts"], version="2.15") as old:
        assert old.get(f"/companies/{co}/notes").status_code == 404
        assert "notes" not in old.get(f"/companies/{co}").json()
    api.delete(f"/companies/{co}")
    assert api.get(f"/notes/{note['id']}").status_code == 404


def test_segments(api):
    active, leads = "5f1a0000000000000000a001", "5f1a0000000000000000a002"
    listed = api.get("/segments").json()
    assert [s["id"] for s in listed["segments"]] == [active, leads] and "count" not in listed["segments"][0]
    counted = api.get("/segments", params={"include_count": "true"}).json()["segments"]
    assert [s["count"] for s in counted] == [3, 0]
    assert api.get(f"/segments/{leads}").json()["person_type"] == "contact"
    assert api.get("/segments/nope").status_code == 404
    c0, c5 = "c" + "0" * 23, f"c{5:023x}"
    assert [s["name"] for s in api.get(f"/contacts/{c0}/segments").json()["data"]] == ["Active users"]
    assert api.get(f"/contacts/{c5}/segments").json()["data"] == []
    assert api.get("/contacts/nope/segments").status_code == 404
    co0 = f"{1:024x}"
    assert [s["id"] for s in api.get(f"/companies/{co0}/segments").json()["data"]] == [active]
    assert api.get(f"/companies/{co0}").json()["segments"]["segments"][0]["id"] == active
    assert err(api.get("/companies/nope/segments")) == "company_not_found"
    members = api.post("/contacts/search", json={"query": {"field": "segment_id", "operator": "=", "value": active}})
    assert {c["id"] for c in members.json()["data"]} == {f"c{i:023x}" for i in range(3)}
    rest = api.post("/contacts/search", json={"query": {"field": "segment_id", "operator": "!=", "value": active}})
    assert rest.json()["total_count"] == 27
    assert [c["id"] for c in api.get("/companies", params={"segment_id": active}).json()["data"]] == [co0]


def test_attribute_updates(api):
    r = api.put("/data_attributes/12", json={"description": "Seats bought", "archived": True})
    assert r.json()["description"] == "Seats bought" and r.json()["archived"] is True
    names = {a["name"] for a in api.get("/data_attributes", params={"model": "contact"}).json()["data"]}
    assert "seats" not in names
    assert "seats" in {
        a["name"] for a in api.get("/data_attributes", params={"include_archived": "true"}).json()["data"]
    }
    assert api.put("/data_attributes/999", json={"archived": True}).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/contacts", {"email": "t@y.example", "unsubscribed_from_emails": "nope"}, "unsubscribed_from_emails"),
        ("PUT", f"/contacts/c{0:023x}", {"unsubscribed_from_emails": "nope"}, "unsubscribed_from_emails"),
        ("PUT", f"/contacts/c{0:023x}", {"email_verified": 1}, "email_verified"),
        ("PUT", f"/contacts/c{0:023x}", {"owner_id": 1.5}, "owner_id"),
        ("POST", "/companies", {"company_id": True}, "company_id"),
        ("POST", "/companies", {"company_id": "Z", "name": ["x"]}, "name"),
        ("PUT", f"/companies/{1:024x}", {"website": 7}, "website"),
        ("PUT", "/data_attributes/12", {"archived": "yes"}, "archived"),
        ("PUT", "/data_attributes/12", {"messenger_writable": 0}, "messenger_writable"),
        ("PUT", "/data_attributes/12", {"description": False}, "description"),
        ("PUT", "/data_attributes/12", {"options": -3.2e102}, "options"),
        ("PUT", "/data_attributes/12", {"options": [{"value": "a"}, {"value": 5}]}, "options"),
        (
            "POST",
            "/data_attributes",
            {"name": "n2", "model": "contact", "data_type": "string", "archived": 1},
            "archived",
        ),
    ],
)
def test_wrongly_typed_writes_are_refused_not_stored(api, method, path, body, field):
    before = api.get(path).json() if method == "PUT" and "/data_attributes/" not in path else None
    r = api.request(method, path, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "parameter_invalid" and error.get("field") == field, error
    if before is not None:
        after = api.get(path).json()
        assert after == before


@pytest.mark.parametrize(
    "query",
    [
        {"query": {"field": "role", "operator": ["="], "value": "user"}},
        {"query": {"field": "role", "operator": {"op": "="}, "value": "user"}},
        {"query": {"operator": 1, "value": []}},
        {"query": {"field": "role", "operator": "=", "value": "user"}, "sort": {"field": ["email"]}},
        {"query": {"field": "role", "operator": "=", "value": "user"}, "sort": {"field": "email", "order": 1}},
    ],
)
@pytest.mark.parametrize("path", ["/contacts/search", "/conversations/search"])
def test_search_with_non_string_operator_or_sort_is_a_400(api, path, query):
    r = api.post(path, json=query)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "error.list"


def test_avatar_is_the_avatar_object(api):
    made = api.post("/contacts", json={"email": "av@y.example", "avatar": "https://example.org/a.png"}).json()
    assert made["avatar"] == {"type": "avatar", "image_url": "https://example.org/a.png"}
    again = api.put(f"/contacts/{made['id']}", json={"avatar": "https://example.org/b.png"}).json()
    assert again["avatar"] == {"type": "avatar", "image_url": "https://example.org/b.png"}
    assert api.get(f"/contacts/{made['id']}").json()["avatar"]["image_url"] == "https://example.org/b.png"
    cleared = api.put(f"/contacts/{made['id']}", json={"avatar": None}).json()
    assert cleared.get("avatar") is None


def test_every_route_answered_and_was_validated_against_the_document(api):
    """Runs last in this module: each emulated route has had a 2xx answer validated against the spec."""
    v = validator()
    ok = {(m, t) for m, t, status in v.seen if status < 300}
    for rule in URLS.iter_rules():
        sample = re.sub(r"<(?:path:)?(\w+)>", "x", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            template, _ = v.operation(method.lower(), sample)
            assert (method.lower(), template) in ok, f"{method} {rule.rule} has no validated 2xx answer"


HOSTILE = [
    ("POST", "/contacts", []),
    ("POST", "/contacts", {"email": {"$ne": 1}}),
    ("POST", "/contacts", {"email": "a@b.example", "signed_up_at": 10**30}),
    ("POST", "/contacts", {"email": "a@b.example", "custom_attributes": {"seats": 10**40}}),
    ("POST", "/contacts", {"email": "a@b.example", "custom_attributes": "seats=1"}),
    ("POST", "/contacts/search", {"query": {"field": "created_at", "operator": ">", "value": 10**30}}),
    ("POST", "/contacts/search", {"query": {"field": "email", "operator": "=", "value": {"a": 1}}}),
    (
        "POST",
        "/contacts/search",
        {"query": {"field": "custom_attributes.x'); DROP TABLE contacts;--", "operator": "=", "value": 1}},
    ),
    (
        "POST",
        "/contacts/search",
        {"query": {"field": "role", "operator": "=", "value": "user"}, "sort": {"field": "1; DROP"}},
    ),
    (
        "POST",
        "/contacts/search",
        {"query": {"field": "role", "operator": "=", "value": "user"}, "pagination": {"per_page": "lots"}},
    ),
    (
        "POST",
        "/contacts/search",
        {"query": {"field": "role", "operator": "=", "value": "user"}, "pagination": {"starting_after": 7}},
    ),
    (
        "POST",
        "/contacts/search",
        {"query": {"field": "role", "operator": "=", "value": "user"}, "pagination": {"starting_after": "WzEsW10sMV0"}},
    ),
    ("POST", "/contacts/search", "just a string"),
    ("GET", "/contacts?per_page=-3", None),
    ("GET", "/contacts?per_page=99999999999999999999", None),
    ("GET", "/contacts?starting_after=WyJ4IiwgMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAsIDJd", None),
    ("POST", "/companies", {"company_id": "Z", "size": 10**40}),
    ("POST", "/companies", {"company_id": "Z", "monthly_spend": "lots"}),
    ("POST", "/companies/list?page=0", None),
    ("POST", "/contacts/merge", {"from": ["x"], "into": {"y": 1}}),
    ("POST", "/data_attributes", {"name": "n", "model": "contact", "data_type": "options", "options": "a,b"}),
    ("PUT", "/contacts/%27%3B--", {"name": "x"}),
    ("POST", f"/contacts/c{0:023x}/notes", "just a string"),
    ("POST", f"/contacts/c{0:023x}/notes", {"body": {"$ne": 1}}),
    ("POST", f"/companies/{1:024x}/notes", {"body": "x", "admin_id": {"id": 1}}),
    ("GET", f"/contacts/c{0:023x}/notes?per_page=0", None),
    ("GET", "/notes/-1", None),
]


@pytest.mark.parametrize("method,path,body", HOSTILE, ids=[f"{m} {p} {i}" for i, (m, p, _) in enumerate(HOSTILE)])
def test_hostile_input_gets_a_4xx_error_list_never_a_500(api, method, path, body):
    r = api.request(method, path, json=body) if body is not None else api.request(method, path)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["type"] == "error.list" and "Traceback" not in r.text
