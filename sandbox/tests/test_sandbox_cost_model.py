"""The cost model: per-call latency, transfer time per payload size, Bulk API 2.0 jobs that take time.

Durations are checked as lower bounds (a modelled cost is never skipped) and Bulk processing time on the
sandbox clock, moved by the control API, so nothing here waits for long or depends on machine speed.
"""

from __future__ import annotations

import time

import pytest

from crmsandbox.costmodel import PROFILES, cost_model
from crmsandbox.errors import SandboxInputError
from crmsandbox.http import ca_session
from crmsandbox.server import build_sandbox
from crmsandbox.testing import running_sandbox
from ic_support import write_load_folder
from sf_https import write_load_dir

V = "/services/data/v59.0"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("cost")
    write_load_dir(root / "load")
    write_load_folder(root / "load")
    with running_sandbox(load_dir=root / "load", state_dir=root / "sb") as sb:
        sf = sb["salesforce"]
        http = ca_session(sb["ca_cert"])
        http.headers["Authorization"] = f"Bearer {sf['session_id']}"
        yield sb, http, sf["instance_url"]


@pytest.fixture
def model(live):
    sb, _, _ = live
    yield lambda **figures: sb.control("POST", "cost", {"profile": "none", **figures})
    sb.control("POST", "cost", {"profile": "none"})
    sb.control("POST", "clock", {"offset_s": 0})


def test_profiles_and_figures_are_validated():
    assert cost_model("none").bulk_s(10_000, "query") == 0
    real = cost_model("realistic")
    assert real.call_ms > 0 and real.bytes_per_s > 0
    assert real.bulk_s(20_000, "query") == pytest.approx(real.bulk_min_s + 20_000 / real.bulk_query_rows_per_s)
    assert real.bulk_s(2_000, "ingest") > real.bulk_s(2_000, "query")  # loading is slower than extracting
    assert cost_model("realistic", call_ms=5).call_ms == 5 and PROFILES["realistic"].call_ms == real.call_ms
    for bad in ({"nope": 1}, {"call_ms": -1}, {"call_ms": "fast"}):
        with pytest.raises(ValueError):
            cost_model("none", **bad)
    with pytest.raises(ValueError, match="realistic"):
        cost_model("speedy")
    assert "none" in cost_model().summary() and "ms/call" in real.summary()


def test_a_bad_model_is_refused_at_start_and_by_the_control_api(live, tmp_path):
    with pytest.raises(SandboxInputError, match="unknown cost model"):
        build_sandbox(tmp_path, cost="speedy")
    sb, _, _ = live
    r = ca_session(sb["ca_cert"]).post(sb["control"]["salesforce"] + "/cost", json={"profile": "speedy"})
    assert r.status_code == 400 and "speedy" in r.json()["error"]


def test_every_call_pays_the_per_call_latency(live, model):
    sb, http, base = live
    model(call_ms=40)
    n = sb.requests()[-1]["n"] if sb.requests() else 0
    for _ in range(3):
        assert http.get(f"{base}{V}/limits").status_code == 200
    logged = [e for e in sb.requests() if e["n"] > n]
    assert len(logged) == 3 and all(e["ms"] >= 40 for e in logged)
    assert sb.control("GET", "state")["cost_model"]["call_ms"] == 40


def test_transfer_time_grows_with_the_payload(live, model):
    _, http, base = live
    model(bytes_per_s=200_000)
    t0 = time.perf_counter()
    big = http.get(f"{base}{V}/sobjects/Contact/describe")
    elapsed = time.perf_counter() - t0
    assert big.status_code == 200 and elapsed >= len(big.content) / 200_000 * 0.95


def test_bulk_query_job_is_in_progress_until_its_rows_are_processed(live, model):
    sb, http, base = live
    model(bulk_min_s=30, bulk_query_rows_per_s=1)  # 3 contacts: 33 s on the sandbox clock
    job = http.post(f"{base}{V}/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Contact"}).json()
    info = http.get(f"{base}{V}/jobs/query/{job['id']}").json()
    assert info["state"] == "InProgress"
    early = http.get(f"{base}{V}/jobs/query/{job['id']}/results")
    assert early.status_code == 400 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    sb.control("POST", "clock", {"advance_s": 20})
    assert http.get(f"{base}{V}/jobs/query/{job['id']}").json()["state"] == "InProgress"
    sb.control("POST", "clock", {"advance_s": 14})
    done = http.get(f"{base}{V}/jobs/query/{job['id']}").json()
    assert done["state"] == "JobComplete" and done["numberRecordsProcessed"] == 3
    assert http.get(f"{base}{V}/jobs/query/{job['id']}/results").text.count("\n") == 4


def test_bulk_ingest_job_is_in_progress_until_its_rows_are_processed(live, model):
    sb, http, base = live
    model(bulk_ingest_rows_per_s=0.1)  # 2 rows: 20 s
    job = http.post(f"{base}{V}/jobs/ingest", json={"operation": "insert", "object": "Contact"}).json()
    http.put(
        f"{base}{V}/jobs/ingest/{job['id']}/batches",
        data=b"LastName\nCostly One\nCostly Two\n",
        headers={"Content-Type": "text/csv"},
    )
    http.patch(f"{base}{V}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert http.get(f"{base}{V}/jobs/ingest/{job['id']}").json()["state"] == "InProgress"
    assert http.get(f"{base}{V}/jobs/ingest/{job['id']}/successfulResults").status_code == 400
    sb.control("POST", "clock", {"advance_s": 21})
    assert http.get(f"{base}{V}/jobs/ingest/{job['id']}").json()["state"] == "JobComplete"
    ok = http.get(f"{base}{V}/jobs/ingest/{job['id']}/successfulResults").text
    assert ok.count("Costly") == 2


def test_bulk_v1_batches_take_their_processing_time_too(live, model):
    sb, http, base = live
    model(bulk_min_s=10)
    ns = "{http://www.force.com/2009/06/asyncapi/dataload}"
    from xml.etree import ElementTree as ET

    def call(method, path, data=b""):
        url = f"{base}/services/async/59.0{path}"
        return http.request(method, url, data=data, headers={"Content-Type": "application/xml"})

    job = (
        ET.fromstring(
            call(
                "POST",
                "/job",
                b'<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><operation>query</operation>'
                b"<object>Contact</object><contentType>CSV</contentType></jobInfo>",
            ).content
        )
        .find(ns + "id")
        .text
    )
    batch = ET.fromstring(call("POST", f"/job/{job}/batch", b"SELECT Id FROM Contact").content).find(ns + "id").text
    state = lambda: ET.fromstring(call("GET", f"/job/{job}/batch/{batch}").content).find(ns + "state").text  # noqa: E731
    assert state() == "InProgress"
    assert call("GET", f"/job/{job}/batch/{batch}/result").status_code == 400
    sb.control("POST", "clock", {"advance_s": 11})
    assert state() == "Completed"
