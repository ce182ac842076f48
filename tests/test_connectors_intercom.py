"""The Intercom source against the sandbox's Intercom emulator over HTTPS (port 0)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from crmsandbox.intercom import IntercomService
from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.intercom.client import IntercomClient
from syncaudit.connectors.intercom.streams import (
    AdminsStream,
    CompaniesStream,
    ContactsStream,
    ConversationsStream,
    IntercomContext,
)
from syncaudit.snapshot import TableWriter
from test_pull_fixture_data import make_load_dir

CLOCK = [0.0]  # seconds added to the Intercom emulator's clock


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    root = tmp_path_factory.mktemp("ic")
    load = make_load_dir(root / "load")
    service = IntercomService(root / "state", load, default_version="2.16", clock=lambda: time.time() + CLOCK[0])
    with running_sandbox(services={"intercom": service}, state_dir=root / "sd") as sb:
        yield sb


@pytest.fixture
def client(sandbox: RunningSandbox) -> IntercomClient:
    sandbox.reset()
    http = build_http_session(sandbox["ca_cert"], 30)
    return IntercomClient(sandbox["intercom"]["base_url"], sandbox["intercom"]["token"], http)


def pull(stream: Any, out: Path, since: Any = None) -> tuple[dict[str, Path], Any]:
    paths: dict[str, Path] = {}

    def open_writer(name: str, schema: Any) -> TableWriter:
        paths[name] = out / f"{name}.parquet"
        return TableWriter(paths[name], schema)

    outcome = stream.pull(open_writer, since, lambda n: None)
    return paths, outcome


def test_partitioned_contacts_equal_sequential_list(client: IntercomClient, tmp_path: Path) -> None:
    ctx = IntercomContext(client)
    par, out_p = pull(ContactsStream(ctx, partitions=4), tmp_path / "p")
    seq, out_s = pull(ContactsStream(ctx, partitions=1), tmp_path / "s")
    a = pq.read_table(par["contacts"]).sort_by("id")
    b = pq.read_table(seq["contacts"]).sort_by("id")
    assert (
        a.num_rows == out_p.records == 420 - len([i for i in range(420) if i % 53 == 52])
    )  # archived ones are not listed
    assert out_p.extra["partitions"] > 4
    assert a.equals(b)
    assert a.schema.field("custom_attributes.seats").type.bit_width == 64
    assert str(a.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    con = duckdb.connect()
    con.register("c", a)
    # Hostile names come through unchanged; tag names are resolved; >10 companies are complete.
    assert con.execute("select count(*) from c where name = '''; DROP TABLE contacts; --'").fetchone()[0] > 0
    assert con.execute("select count(*) from c where list_contains(tags, 'vip')").fetchone()[0] > 0
    assert con.execute("select max(len(company_ids)) from c").fetchone()[0] == 12
    links = pq.read_table(par["contact_companies"])
    assert links.num_rows == con.execute("select sum(len(company_ids)) from c").fetchone()[0]


def test_calls_close_to_minimum(sandbox: RunningSandbox, client: IntercomClient, tmp_path: Path) -> None:
    seq0 = sandbox.control("GET", "requests", since=10**12)["last"]
    ctx = IntercomContext(client)
    pull(ContactsStream(ctx, partitions=4), tmp_path)
    log = [r for r in sandbox.requests(system="intercom", since=seq0) if "__sandbox__" not in r["path"]]
    assert len(log) == client.api_calls()
    searches = [r for r in log if r["path"].endswith("/contacts/search")]
    # 412 contacts at 150 a page is 3 pages sequentially; partitions add at most one partial page each.
    assert len(searches) <= 2 + 3 + ContactsStream(ctx, partitions=4).partitions * 4


def test_companies_conversations_admins(client: IntercomClient, tmp_path: Path) -> None:
    ctx = IntercomContext(client)
    comp, outc = pull(CompaniesStream(ctx), tmp_path)
    t = pq.read_table(comp["companies"])
    assert outc.records == t.num_rows and t.num_rows > 0
    assert "custom_attributes.tier" in t.column_names
    conv, outv = pull(ConversationsStream(ctx), tmp_path)
    c = pq.read_table(conv["conversations"])
    assert c.num_rows == 12 and outv.records == 12
    assert pq.read_table(conv["conversation_parts"]).num_rows == 0  # parts only when configured
    conv, outv = pull(ConversationsStream(ctx, parts="changed"), tmp_path / "with-parts")
    c = pq.read_table(conv["conversations"])
    parts = pq.read_table(conv["conversation_parts"])
    assert c.num_rows == 12 and outv.records == 12
    assert parts.num_rows == sum(c.column("parts_count").to_pylist())
    assert set(parts.column("part_type").to_pylist()) >= {"comment", "close"}
    adm, _ = pull(AdminsStream(ctx), tmp_path)
    assert pq.read_table(adm["admins"]).column("id").to_pylist()[0] == "991"


def test_pacing_keeps_a_tight_rate_limit_without_429(
    sandbox: RunningSandbox, client: IntercomClient, tmp_path: Path
) -> None:
    service = sandbox.sandbox.services["intercom"]
    service.set_rate_limit(60)  # 10 calls per 10-second window; the pull needs about twice that
    try:
        seq0 = sandbox.control("GET", "requests", since=10**12)["last"]
        paths, out = pull(ContactsStream(IntercomContext(client), partitions=4), tmp_path)
        log = sandbox.requests(system="intercom", since=seq0)
    finally:
        service.set_rate_limit(10_000)
    assert out.records == pq.read_table(paths["contacts"]).num_rows > 400
    assert len(log) > 10 and not [r for r in log if r["status"] == 429]
    assert client.limiter.waits >= 1 and client.rate_limited == 0


def test_429_storms_are_waited_out(sandbox: RunningSandbox, client: IntercomClient, tmp_path: Path) -> None:
    sandbox.control("POST", "faults", {"profile": "none", "seed": 4, "rates": {"rate_limit": 0.3}})
    try:
        paths, out = pull(ContactsStream(IntercomContext(client), partitions=2), tmp_path)
    finally:
        sandbox.control("POST", "faults", {"profile": "none"})
    assert client.rate_limited > 0
    assert pq.read_table(paths["contacts"]).num_rows == out.records > 400


def test_timeouts_are_retried_then_reported(sandbox: RunningSandbox) -> None:
    from syncaudit.connectors.http import Backoff
    from syncaudit.errors import RetriableAPIError

    http = build_http_session(sandbox["ca_cert"], 0.2)  # every call must answer within 0.2 s
    c = IntercomClient(
        sandbox["intercom"]["base_url"], sandbox["intercom"]["token"], http, backoff=Backoff(attempts=2, base_s=0.01)
    )
    sandbox.control("POST", "latency", {"ms": 600})
    try:
        with pytest.raises(RetriableAPIError, match="still failing after 2 attempts"):
            c.request("GET", "admins", "admins")
    finally:
        sandbox.control("POST", "latency", {"ms": 0})


def test_bad_token_is_one_clear_fatal_error(sandbox: RunningSandbox) -> None:
    from syncaudit.errors import FatalAPIError

    c = IntercomClient(sandbox["intercom"]["base_url"], "not-the-token", build_http_session(sandbox["ca_cert"], 10))
    with pytest.raises(FatalAPIError, match="refused the access token") as exc:
        c.request("GET", "admins", "admins")
    assert "not-the-token" not in str(exc.value)


def test_incremental_search_partitions_a_big_delta(
    client: IntercomClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    import syncaudit.connectors.intercom.context as streams

    monkeypatch.setattr(streams, "PER_PAGE", 10)  # 400-odd changed contacts = 40-odd pages
    since = datetime(2025, 2, 1, tzinfo=UTC)
    ctx = IntercomContext(client)
    par, out_p = pull(ContactsStream(ctx, partitions=4), tmp_path / "p", since)
    seq, out_s = pull(ContactsStream(ctx, partitions=1), tmp_path / "s", since)
    assert out_p.extra["partitions"] == 4 and out_s.extra["partitions"] == 1
    a, b = pq.read_table(par["contacts"]).sort_by("id"), pq.read_table(seq["contacts"]).sort_by("id")
    assert a.equals(b) and 0 < a.num_rows < 413
    # Only contacts updated from the day before `since` on (day-truncated search) came back.
    assert min(a.column("updated_at").to_pylist()) >= datetime(2025, 1, 31, tzinfo=UTC)


def test_scroll_left_open_by_another_run_is_waited_out(client: IntercomClient, tmp_path: Path) -> None:
    client.request("GET", "companies/scroll", "scroll companies")  # e.g. a killed pull's scroll, still open
    timer = threading.Timer(1.0, lambda: CLOCK.__setitem__(0, CLOCK[0] + 120))  # a minute later it expires
    timer.start()
    try:
        paths, out = pull(CompaniesStream(IntercomContext(client)), tmp_path)
    finally:
        timer.cancel()
    assert out.records == pq.read_table(paths["companies"]).num_rows > 0
