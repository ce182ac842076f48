"""Exact search counts from the date count buckets: they must equal a row count after any mix of writes,
survive a restart with a state dir, and only answer the queries they can answer exactly."""

from __future__ import annotations

import json
import random

import pytest
from werkzeug.test import Client

from crmsandbox.intercom import IntercomService, buckets
from crmsandbox.intercom.search import CONTACT_OPS, QueryCompiler, contact_resolver
from ic_support import FakeClock, write_load_folder

START = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86400


def f(field, op, value):
    return {"field": field, "operator": op, "value": value}


class Api:
    def __init__(self, service: IntercomService) -> None:
        self.service = service
        self.client = Client(service.wsgi_app())
        self.headers = {"Authorization": f"Bearer {service.token}", "Intercom-Version": "2.16"}

    def call(self, method: str, path: str, body: object = None) -> dict:
        r = self.client.open(path, method=method, json=body, headers=self.headers)
        assert r.status_code == 200, r.get_data(as_text=True)
        return json.loads(r.get_data())

    def total(self, query: dict) -> int:
        return self.call("POST", "/contacts/search", {"query": query, "pagination": {"per_page": 1}})["total_count"]

    def rows(self, query: dict) -> int:
        """The same count by a row scan (the compiled WHERE), bypassing the buckets."""
        backend = self.service.backend
        with backend.store.connection() as db:
            resolve = contact_resolver({})
            where, params = QueryCompiler(resolve, CONTACT_OPS, backend.timezone).compile(query)
            sql = f"SELECT count(*) FROM contacts t WHERE t.archived = 0 AND t.merged_into IS NULL AND ({where})"  # noqa: S608
            return db.execute(sql, params).fetchone()[0]


def plan(query: object, tz: str = "UTC"):
    return QueryCompiler(contact_resolver({}), CONTACT_OPS, tz).bucket_plan(query)


def test_bucket_plans_cover_incremental_queries_only():
    day2 = START + DAY
    assert plan({}) == buckets.BucketPlan("created_at")
    assert plan(f("updated_at", ">", START + 5)) == buckets.BucketPlan("updated_at", None, day2, None)
    both = {
        "operator": "AND",
        "value": [f("updated_at", ">", START), f("role", "=", "User"), f("updated_at", "<", day2 + DAY)],
    }
    assert plan(both) == buckets.BucketPlan("updated_at", "user", day2, day2 + DAY)
    assert plan(f("created_at", "=", START + 7)) == buckets.BucketPlan("created_at", None, START, day2)
    assert plan(f("email", "=", "a@b.example")) is None
    assert plan({"operator": "OR", "value": [f("updated_at", ">", START), f("role", "=", "user")]}) is None
    assert plan({"operator": "AND", "value": [f("updated_at", ">", START), f("created_at", ">", START)]}) is None
    # a zone whose midnight is not on a 15-minute boundary (Liberia until 1972): counted by rows instead
    assert plan(f("updated_at", ">", 0), tz="Africa/Monrovia") is None
    assert plan(f("updated_at", ">", START), tz="Asia/Kathmandu") is not None  # +05:45 is on a boundary


@pytest.fixture
def api(tmp_path):
    clock = FakeClock(START + 40 * DAY)
    service = IntercomService(tmp_path / "state", write_load_folder(tmp_path / "load", n_contacts=60), clock=clock)
    yield Api(service)
    service.close()


def random_queries(rnd: random.Random, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        field = rnd.choice(["created_at", "updated_at", "signed_up_at", "last_seen_at"])
        parts = [f(field, rnd.choice(["=", ">", "<"]), START + rnd.randrange(-DAY, 45 * DAY))]
        if rnd.random() < 0.5:
            parts.append(f(field, rnd.choice([">", "<"]), START + rnd.randrange(-DAY, 45 * DAY)))
        if rnd.random() < 0.6:
            parts.append(f("role", "=", rnd.choice(["user", "lead"])))
        out.append(parts[0] if len(parts) == 1 else {"operator": "AND", "value": parts})
    return [*out, {}, f("role", "=", "lead")]


def check(api: Api, queries: list[dict]) -> None:
    for q in queries:
        assert api.total(q) == api.rows(q), q


def test_counts_stay_exact_through_every_kind_of_write(api):
    rnd = random.Random(3)
    queries = random_queries(rnd, 60)
    check(api, queries)
    clock = api.service.clock
    ids = [f"c{i:023x}" for i in range(60)]
    for i in range(12):  # updates move contacts between updated_at days (and some between roles)
        clock.advance(DAY / 3)
        body = {"name": f"renamed {i}", "last_seen_at": int(clock()) - rnd.randrange(10 * DAY)}
        api.call("PUT", f"/contacts/{ids[i]}", body)
    api.call("PUT", f"/contacts/{ids[5]}", {"role": "lead", "external_id": None})
    for i in range(3):
        api.call("POST", "/contacts", {"email": f"new{i}@x.example", "signed_up_at": START + i * DAY})
    api.call("POST", f"/contacts/{ids[20]}/archive")
    api.call("POST", f"/contacts/{ids[21]}/archive")
    api.call("POST", f"/contacts/{ids[21]}/unarchive")
    api.call("DELETE", f"/contacts/{ids[22]}")
    lead, user = ids[24], ids[25]  # contact 24 is a lead
    api.call("POST", "/contacts/merge", {"from": lead, "into": user, "skip_duplicate_validation": True})
    check(api, queries)
    # a write rolled back by an error leaves the buckets alone
    before = api.total({})
    r = api.client.post("/contacts", json={"email": "x@x.example", "external_id": "ext-1"}, headers=api.headers)
    assert r.status_code == 409 and api.total({}) == before
    # reset restores the loaded buckets with the loaded rows
    api.service.reset()
    check(api, queries)


def test_listing_total_count_comes_from_buckets_and_matches(api):
    listed = api.call("GET", "/contacts?per_page=5")
    assert listed["total_count"] == 60
    api.call("POST", f"/contacts/{'c' + '0' * 23}/archive")
    assert api.call("GET", "/contacts?per_page=5")["total_count"] == 59


def test_buckets_survive_a_restart_with_the_state_dir(tmp_path):
    load = write_load_folder(tmp_path / "load", n_contacts=20)
    clock = FakeClock(START + 40 * DAY)
    first = Api(IntercomService(tmp_path / "state", load, clock=clock))
    first.call("PUT", f"/contacts/c{3:023x}", {"name": "moved"})  # updated_at moves to day 40
    query = f("updated_at", ">", START + 39 * DAY)
    assert first.total(query) == 1
    first.service.close()
    again = Api(IntercomService(tmp_path / "state", load, clock=clock))
    assert again.total(query) == again.rows(query) == 1
    again.call("PUT", f"/contacts/c{4:023x}", {"name": "moved too"})
    assert again.total(query) == again.rows(query) == 2
    again.service.close()


def test_a_state_dir_of_an_older_schema_is_reloaded_with_its_buckets(tmp_path):
    import sqlite3

    load = write_load_folder(tmp_path / "load", n_contacts=12)
    IntercomService(tmp_path / "state", load).close()
    db = sqlite3.connect(tmp_path / "state" / "intercom.sqlite")  # as main's schema 2 left it: no buckets
    with db:
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        db.execute("DELETE FROM contact_buckets")
        db.execute("DROP TRIGGER tr_contact_buckets_ins")
    db.close()
    api = Api(IntercomService(tmp_path / "state", load, clock=FakeClock(START + 40 * DAY)))
    assert api.total({}) == api.rows({}) == 12
    api.call("POST", "/contacts", {"email": "after@x.example"})
    assert api.total(f("created_at", ">", START + 39 * DAY)) == 1  # the triggers are back
    api.service.close()
