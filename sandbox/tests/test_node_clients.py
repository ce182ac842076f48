"""Conformance: clients nobody here wrote, from npm, against a live sandbox — jsforce 3 and the Salesforce CLI.

The expected values come from the same sandbox over plain HTTPS, so each client is checked against the
emulator's own answers (and those answers against the wire format the clients parse).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from crmsandbox.http import ca_session
from crmsandbox.testing import running_sandbox
from node_clients import NODE_DIR, ensure_node_clients, node_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    bin_dir = ensure_node_clients()
    home = tmp_path_factory.mktemp("node-home")
    with running_sandbox(size=300, seed=1) as sb:
        sf = sb["salesforce"]
        http = ca_session(sb["ca_cert"])
        http.headers["Authorization"] = f"Bearer {sf['session_id']}"
        yield {"sb": sb, "sf": sf, "http": http, "env": node_env(bin_dir, sb["ca_cert"], home), "bin": bin_dir}


def _soql(live, q: str) -> dict:
    r = live["http"].get(f"{live['sf']['instance_url']}/services/data/v59.0/query", params={"q": q})
    assert r.status_code == 200, r.text
    return r.json()


def _run(live, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), env=live["env"], cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_jsforce_identity_queries_crud_and_bulk2(live):
    proc = _run(
        live, str(live["bin"] / "node"), "jsforce_smoke.cjs", live["sf"]["instance_url"], live["sf"]["session_id"]
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["identity"]["username"] == live["sf"]["username"]
    assert out["identity"]["user_id"].startswith("005") and out["identity"]["organization_id"].startswith("00D")
    grouped = _soql(live, "SELECT LeadSource, COUNT(Id) FROM Lead GROUP BY LeadSource")["records"]
    expected = sorted(([r["LeadSource"], r["expr0"]] for r in grouped), key=lambda p: -p[1])
    assert [p[1] for p in out["grouped"]] == [p[1] for p in expected] and sorted(map(tuple, out["grouped"])) == sorted(
        map(tuple, expected)
    )
    total = _soql(live, "SELECT COUNT() FROM Contact")["totalSize"]
    assert out["contacts"] == out["fetched"] == total + 1  # the smoke's own contact, deleted afterwards
    assert out["bulk2"] == total
    assert out["created"] is True and out["retrieved"] == "Jay" and out["limits"] is True
    assert out["refused"]["errorCode"] == "INVALID_FIELD" and "Row:1:Column:12" in out["refused"]["message"]


def test_salesforce_cli_login_query_describe(live):
    sf = str(live["bin"] / "sf")
    base = live["sf"]["instance_url"]
    env = live["env"] | {"SF_ACCESS_TOKEN": live["sf"]["session_id"]}
    live["env"] = env
    # The CLI keeps the instance URL with a trailing slash and asks for //services/data/... afterwards.
    login = _run(
        live,
        sf,
        "org",
        "login",
        "access-token",
        "--instance-url",
        base + "/",
        "--alias",
        "sbx",
        "--no-prompt",
        "--json",
    )
    assert login.returncode == 0, login.stdout + login.stderr
    facts = json.loads(login.stdout)["result"]
    assert facts["username"] == live["sf"]["username"] and facts["isSandbox"] is True and facts["instanceName"]

    q = "SELECT Id, Email, Account.Name FROM Contact ORDER BY Id LIMIT 5"
    query = _run(live, sf, "data", "query", "-q", q, "-o", "sbx", "--json")
    assert query.returncode == 0, query.stdout + query.stderr
    records = json.loads(query.stdout)["result"]["records"]
    assert [r["Id"] for r in records] == [r["Id"] for r in _soql(live, q)["records"]]

    # The human and CSV formats lay out columns from the columns=true metadata.
    grouped = _run(
        live,
        sf,
        "data",
        "query",
        "-q",
        "SELECT LeadSource src, COUNT(Id) FROM Lead GROUP BY LeadSource",
        "-o",
        "sbx",
        "--result-format",
        "csv",
    )
    assert grouped.returncode == 0, grouped.stdout + grouped.stderr
    lines = grouped.stdout.strip().splitlines()
    assert lines[0] == "src,COUNT(Id)"
    by_source = {
        r["LeadSource"]: r["expr0"]
        for r in _soql(live, "SELECT LeadSource, COUNT(Id) FROM Lead GROUP BY LeadSource")["records"]
    }
    assert {line.rsplit(",", 1)[0]: int(line.rsplit(",", 1)[1]) for line in lines[1:]} == by_source

    describe = _run(live, sf, "sobject", "describe", "-s", "Contact", "-o", "sbx", "--json")
    assert describe.returncode == 0, describe.stdout + describe.stderr
    fields = {f["name"] for f in json.loads(describe.stdout)["result"]["fields"]}
    assert {"Id", "Email", "AccountId"} <= fields

    bad = _run(live, sf, "data", "query", "-q", "SELECT Nope FROM Contact", "-o", "sbx", "--json")
    assert bad.returncode != 0 and "No such column 'Nope'" in bad.stdout
