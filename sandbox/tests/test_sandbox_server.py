"""The shared sandbox server: TLS, keep-alive, faults, latency, the request log and the control API.

Exercised with a tiny echo service so these tests pin the server's behaviour on their own.
"""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from crmsandbox.faults import FaultInjector, profile
from crmsandbox.http import ca_session as verified_session
from crmsandbox.service import ENV_FAULTS, ENV_RECORDS, ENV_SEQ
from crmsandbox.testing import running_sandbox
from crmsandbox.tls import ensure_tls


class EchoService:
    """Counts writes; answers JSON; reports per-record failures the injector hands out."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.writes = 0

    def wsgi_app(self):  # noqa: ANN201
        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            if environ["REQUEST_METHOD"] == "POST":
                self.writes += 1
                environ[ENV_RECORDS] = 3
            failures = [environ[ENV_FAULTS].record_failure(environ[ENV_SEQ], i) for i in range(3)]
            body = json.dumps({"path": environ["PATH_INFO"], "failures": failures}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]

        return app

    def reset(self) -> None:
        self.writes = 0

    def dump(self) -> dict[str, Any]:
        return {"writes": self.writes}

    def connection_facts(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "token": "t"}

    def control_set_writes(self, value: int) -> dict[str, int]:
        self.writes = value
        return {"writes": self.writes}


@pytest.fixture()
def sandbox():  # noqa: ANN201
    services = {"salesforce": EchoService("salesforce"), "intercom": EchoService("intercom")}
    with running_sandbox(services=services) as sb:
        yield sb


def session(sb: dict[str, Any]) -> requests.Session:
    return verified_session(sb["ca_cert"])


def test_https_with_generated_ca_and_keep_alive(sandbox) -> None:  # noqa: ANN001
    s = session(sandbox)
    base = sandbox["salesforce"]["base_url"]
    assert base.startswith("https://127.0.0.1:")
    r1 = s.get(base + "/a")
    r2 = s.get(base + "/b")
    assert r1.json()["path"] == "/a" and r2.status_code == 200
    assert r2.headers.get("Connection", "").lower() != "close"
    # an unverified client is refused: the CA is not a public one
    with pytest.raises(requests.exceptions.SSLError):
        verified_session().get(base + "/a", timeout=5)


def test_request_log_counts_calls_and_records(sandbox) -> None:  # noqa: ANN001
    s = session(sandbox)
    s.post(sandbox["intercom"]["base_url"] + "/contacts", json={})
    s.get(sandbox["salesforce"]["base_url"] + "/x")
    log = sandbox.requests()
    assert [(e["system"], e["method"], e["status"], e["records"]) for e in log] == [
        ("intercom", "POST", 200, 3),
        ("salesforce", "GET", 200, 0),
    ]
    assert sandbox.requests(system="intercom")[0]["path"] == "/contacts"


def test_control_api_reset_state_latency_and_service_ops(sandbox) -> None:  # noqa: ANN001
    s = session(sandbox)
    s.post(sandbox["salesforce"]["base_url"] + "/w")
    assert sandbox.control("GET", "state")["salesforce"] == {"writes": 1}
    sandbox.control("POST", "service/salesforce/set_writes", {"value": 5})
    assert sandbox.control("GET", "state")["salesforce"] == {"writes": 5}
    sandbox.reset()
    assert sandbox.control("GET", "state")["salesforce"] == {"writes": 0}
    assert sandbox.requests() == []
    sandbox.control("POST", "latency", {"ms": 80})
    t0 = time.perf_counter()
    s.get(sandbox["salesforce"]["base_url"] + "/slow")
    assert time.perf_counter() - t0 >= 0.08
    r = s.post(sandbox["control"]["salesforce"] + "/nope")
    assert r.status_code == 404


def test_faults_are_reproducible_and_in_wire_format(sandbox) -> None:  # noqa: ANN001
    def run() -> list[tuple[int, str | None]]:
        sandbox.reset()
        sandbox.control("POST", "faults", {"profile": "chaos", "seed": 11})
        s = session(sandbox)
        out = []
        for i in range(60):
            try:
                r = s.get(sandbox["salesforce"]["base_url"] + f"/r{i}")
                out.append((r.status_code, r.json()[0]["errorCode"] if r.status_code >= 400 else None))
            except requests.exceptions.ConnectionError:
                out.append((0, "dropped"))
        return out

    first, second = run(), run()
    assert first == second
    codes = {c for _, c in first}
    assert "INVALID_SESSION_ID" in codes
    assert codes & {"UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE"}
    assert any(status == 0 for status, _ in first), "chaos drops connections"


def test_intercom_rate_limit_fault_is_a_storm_without_retry_after(sandbox) -> None:  # noqa: ANN001
    sandbox.control("POST", "faults", {"profile": "none", "rates": {"rate_limit": 0.5, "storm_length": 3}, "seed": 2})
    s = session(sandbox)
    statuses = []
    for i in range(20):
        r = s.get(sandbox["intercom"]["base_url"] + f"/c{i}")
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert "Retry-After" not in r.headers
            assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time())
            assert r.json()["errors"][0]["code"] == "rate_limit_exceeded"
    run = max(len(x) for x in "".join("x" if c == 429 else "." for c in statuses).split("."))
    assert run >= 3


def test_drop_after_does_the_work_but_loses_the_response(sandbox) -> None:  # noqa: ANN001
    sandbox.control("POST", "faults", {"profile": "none", "rates": {"drop_after": 1.0}, "seed": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        session(sandbox).post(sandbox["salesforce"]["base_url"] + "/write")
    sandbox.control("POST", "faults", {"profile": "none"})
    assert sandbox.control("GET", "state")["salesforce"] == {"writes": 1}
    assert sandbox.requests()[0]["status"] == 0


def test_per_record_failures_follow_the_seed() -> None:
    inj = FaultInjector(profile("none", record_failure=0.5), seed=4)
    first = [inj.record_failure(10, i) for i in range(50)]
    inj2 = FaultInjector(profile("none", record_failure=0.5), seed=4)
    assert first == [inj2.record_failure(10, i) for i in range(50)]
    assert {"UNABLE_TO_LOCK_ROW", "DUPLICATE_VALUE"} <= set(first)
    assert None in first


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault profile 'wild'"):
        profile("wild")


def test_tls_material_is_reused_and_keys_are_private(tmp_path: Path) -> None:
    a = ensure_tls(tmp_path)
    pem = a.ca_cert.read_bytes()
    b = ensure_tls(tmp_path)
    assert b.ca_cert.read_bytes() == pem
    assert (tmp_path / "server-key.pem").stat().st_mode & 0o077 == 0
    ctx = ssl.create_default_context(cafile=str(a.ca_cert))
    assert ctx.cert_store_stats()["x509_ca"] == 1
