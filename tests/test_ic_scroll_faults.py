"""A company scroll that meets an injected 5xx cannot be resumed (reference §5.4), over HTTPS in the shared
sandbox server: its scroll_param then answers 404 and a new scroll opens at once; an injected 429 leaves
it alone. The project's own Intercom client restarts such a scroll and still gets every company."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crmsandbox.intercom import IntercomService, companies
from crmsandbox.testing import RunningSandbox, running_sandbox
from ic_support import http_client, write_load_folder
from syncaudit.connectors.http import build_http_session
from syncaudit.connectors.intercom.client import IntercomClient
from syncaudit.connectors.intercom.streams import CompaniesStream, IntercomContext
from syncaudit.snapshot import TableWriter


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    root = tmp_path_factory.mktemp("icscroll")
    service = IntercomService(root / "state", write_load_folder(root / "load"), default_version="2.16")
    with running_sandbox(services={"intercom": service}, state_dir=root / "sd") as handle:
        yield handle


def raw(sb: RunningSandbox):
    """A client for injected answers (the server's fault bodies are not the emulator's documented ones)."""
    return http_client({**sb["intercom"], "ca_cert": sb["ca_cert"]}, validate=False)


@pytest.fixture
def api(sb: RunningSandbox, monkeypatch: pytest.MonkeyPatch):
    sb.reset()
    monkeypatch.setattr(companies, "SCROLL_PAGE", 2)  # 5 visible companies: 3 pages
    with http_client({**sb["intercom"], "ca_cert": sb["ca_cert"]}) as client:
        yield client


def test_a_5xx_mid_scroll_ends_it_and_a_new_one_opens_at_once(sb: RunningSandbox, api) -> None:
    first = api.get("/companies/scroll")
    param = first.json()["scroll_param"]
    assert first.status_code == 200 and len(first.json()["data"]) == 2
    sb.control("POST", "faults", {"profile": "none", "rates": {"server_error": 1.0}})
    try:
        with raw(sb) as c:
            failed = c.get("/companies/scroll", params={"scroll_param": param})
    finally:
        sb.control("POST", "faults", {"profile": "none"})
    assert failed.status_code >= 500 and failed.json()["type"] == "error.list"
    gone = api.get("/companies/scroll", params={"scroll_param": param})
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "not_found"
    again = api.get("/companies/scroll")  # no scroll_exists: the failed one is over
    assert again.status_code == 200 and len(again.json()["data"]) == 2


def test_an_injected_429_mid_scroll_leaves_it_open(sb: RunningSandbox, api) -> None:
    param = api.get("/companies/scroll").json()["scroll_param"]
    sb.control("POST", "faults", {"profile": "none", "rates": {"rate_limit": 1.0, "storm_length": 1}})
    try:
        with raw(sb) as c:
            assert c.get("/companies/scroll", params={"scroll_param": param}).status_code == 429
    finally:
        sb.control("POST", "faults", {"profile": "none"})
    page = api.get("/companies/scroll", params={"scroll_param": param})
    assert page.status_code == 200 and len(page.json()["data"]) == 2


def test_the_project_client_restarts_a_scroll_that_met_a_500(sb: RunningSandbox, api, tmp_path: Path) -> None:
    faults = sb.sandbox.faults
    original = faults.decide
    failed: list[int] = []

    def decide(seq: int, system: str, *, auth_path: bool) -> str | None:
        # the first follow-up page of the first scroll fails once (the server numbers requests in order)
        log = [e for e in sb.sandbox.log.since(0) if e["path"] == "/companies/scroll"]
        if not failed and len(log) == 1:
            failed.append(seq)
            return "server_error"
        return original(seq, system, auth_path=auth_path)

    faults.decide = decide
    try:
        client = IntercomClient(
            sb["intercom"]["base_url"], sb["intercom"]["token"], build_http_session(sb["ca_cert"], 30)
        )
        path = tmp_path / "companies.parquet"
        outcome = CompaniesStream(IntercomContext(client)).pull(lambda n, s: TableWriter(path, s), None, lambda n: None)
    finally:
        faults.decide = original
    assert failed, "no scroll request met the injected 500"
    statuses = [e["status"] for e in sb.sandbox.log.since(0) if e["path"] == "/companies/scroll"]
    assert 404 in statuses  # the failed scroll was gone; the client started a new one
    assert outcome.extra["restarts"] == 1
    ids = pq.read_table(path).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 5
