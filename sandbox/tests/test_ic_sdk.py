"""The official Intercom Python SDK (python-intercom 5.x), unmodified, against the emulator over HTTPS.

The SDK's httpx client carries the same response hook as the other tests, so
what the SDK receives is also validated against the OpenAPI document.
"""

from __future__ import annotations

import httpx
import pytest
from intercom import Intercom
from intercom.core.api_error import ApiError
from intercom.types import CreateContactRequestWithEmail, CreateContactRequestWithExternalId

from crmsandbox.intercom import IntercomService
from ic_support import FakeClock, _check_response, serve_https, write_load_folder


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    root = tmp_path_factory.mktemp("icsdk")
    service = IntercomService(None, write_load_folder(root / "load", n_contacts=40), clock=FakeClock())
    with serve_https(service, root) as facts:
        http = httpx.Client(verify=facts["ca_cert"], timeout=30, event_hooks={"response": [_check_response]})
        client = Intercom(
            token=facts["token"], base_url=facts["base_url"], headers={"Intercom-Version": "2.16"}, httpx_client=http
        )
        yield client, service
        http.close()
    service.close()


def test_sdk_lists_all_contacts_across_pages(sdk):
    client, _ = sdk
    ids = [c.id for c in client.contacts.list(per_page=15)]
    assert len(ids) == len(set(ids)) == 40


def test_sdk_searches_contacts(sdk):
    client, _ = sdk
    query = {
        "operator": "AND",
        "value": [
            {"field": "role", "operator": "=", "value": "user"},
            {"field": "custom_attributes.plan_type", "operator": "=", "value": "Pro"},
        ],
    }
    # python-intercom 5.0.1's search pager re-sends the first page's pagination (it never passes
    # pages.next.starting_after on), so iterating the pager loops forever on any API; page by hand.
    found, pagination = [], {"per_page": 5}
    for _ in range(20):
        page = client.contacts.search(query=query, pagination=pagination).response
        found += page.data
        if not (page.pages and page.pages.next and page.pages.next.starting_after):
            break
        pagination = {"per_page": 5, "starting_after": page.pages.next.starting_after}
    assert found and all(c.role == "user" and c.custom_attributes["plan_type"] == "Pro" for c in found)
    expected = sum(1 for i in range(40) if i % 5 != 4 and i % 3 == 1)
    assert len(found) == expected


def test_sdk_creates_and_updates_contacts(sdk):
    client, service = sdk
    created = client.contacts.create(request=CreateContactRequestWithEmail(email="sdk@new.example", name="Sdk User"))
    assert created.id and created.email == "sdk@new.example" and created.role == "user"
    by_ext = client.contacts.create(request=CreateContactRequestWithExternalId(external_id="sdk-ext-1"))
    updated = client.contacts.update(by_ext.id, name="Renamed", custom_attributes={"seats": 7})
    assert updated.name == "Renamed" and updated.custom_attributes == {"seats": 7}
    assert client.contacts.find(by_ext.id).name == "Renamed"
    with pytest.raises(ApiError) as info:  # 409 on a duplicate external_id (do not enable retries on create)
        client.contacts.create(request=CreateContactRequestWithExternalId(external_id="sdk-ext-1"))
    assert info.value.status_code == 409
    service.reset()


def test_sdk_lists_and_scrolls_companies(sdk):
    client, service = sdk
    service.reset()
    listed = [c.company_id for c in client.companies.list(page=1, per_page=2)]
    assert sorted(listed) == [f"ACME-{i:03d}" for i in range(5)]
    scrolled = [c.company_id for c in client.companies.scroll()]
    assert sorted(scrolled) == sorted(listed)
    attached = [c.id for c in client.contacts.list_attached_companies("c" + "0" * 23)]
    assert attached == [f"{1:024x}"]


def test_sdk_creates_lists_and_finds_notes_and_lists_segments(sdk):
    client, _ = sdk
    cid = f"c{7:023x}"
    made = [client.notes.create(cid, body=f"Note {i}", admin_id="991267466") for i in range(3)]
    assert made[0].body == "<p>Note 0</p>" and made[0].contact.id == cid
    listed = [n.id for n in client.notes.list(cid, per_page=2)]
    assert listed == [n.id for n in reversed(made)]  # every page, most recent first
    assert client.notes.find(made[1].id).body == "<p>Note 1</p>"
    segments = client.segments.list(include_count=True).segments
    assert [(s.name, s.count) for s in segments] == [("Active users", 3), ("Fresh leads", 0)]
