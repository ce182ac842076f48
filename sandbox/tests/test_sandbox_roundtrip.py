"""`syncaudit sandbox serve --load DIR` serves exactly what `sandbox generate` wrote, over real HTTPS,
and keeps its state across a restart when given a state dir."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from crmsandbox.http import ca_session as verified_session
from crmsandbox.server import facts_from_ready_line
from crmsandbox.testing import generated_load_dir

ROOT = Path(__file__).resolve().parents[1]


def start_serve(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmsandbox", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()  # one ready line: base URLs and where the facts are, no credentials
    if not line:
        proc.kill()
        raise AssertionError(f"serve did not start: {proc.stderr.read()}")
    facts = facts_from_ready_line(line)
    assert facts["salesforce"]["instance_url"] in line and facts["intercom"]["base_url"] in line
    for secret in (
        facts["salesforce"].get("client_secret"),
        facts["salesforce"].get("password"),
        facts["intercom"]["token"],
    ):
        assert not secret or secret not in line, "serve printed a credential"
    return proc, facts


def stop_serve(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def sf_client(facts: dict[str, Any]) -> Salesforce:
    return Salesforce(
        instance_url=facts["salesforce"]["instance_url"],
        session_id=facts["salesforce"]["session_id"],
        session=verified_session(facts["ca_cert"]),
        version="59.0",
    )


def intercom_ids(facts: dict[str, Any], path: str, key: str) -> set[str]:
    s = verified_session(facts["ca_cert"])
    headers = {"Authorization": f"Bearer {facts['intercom']['token']}", "Accept": "application/json"}
    ids: set[str] = set()
    params: dict[str, Any] = {"per_page": 150}
    while True:
        r = s.get(facts["intercom"]["base_url"] + path, headers=headers, params=params, timeout=30)
        r.raise_for_status()
        body = r.json()
        ids.update(item["id"] for item in body[key])
        nxt = (body.get("pages") or {}).get("next")
        if not nxt:
            return ids
        params = {"per_page": 150, "starting_after": nxt["starting_after"]}


@pytest.mark.slow
def test_load_folder_round_trips_and_state_survives_restart(tmp_path: Path) -> None:
    load = generated_load_dir(300, 5)
    state = tmp_path / "state"
    proc, facts = start_serve("--load", str(load), "--state-dir", str(state))
    try:
        assert json.loads((state / "sandbox.json").read_text())["ca_cert"] == facts["ca_cert"]
        sf = sf_client(facts)
        for obj in ("User", "Account", "Contact", "Lead", "Task", "Case"):
            with open(load / "salesforce" / f"{obj}.csv", newline="", encoding="utf-8") as f:
                want = {row["Id"] for row in csv.DictReader(f)}
            got = {r["Id"] for r in sf.query_all(f"SELECT Id FROM {obj}")["records"]}
            assert got >= want, obj  # the org may add its own (e.g. the integration user)
            assert len(want - got) == 0 and len(got - want) <= 1, obj
        contacts = [json.loads(x) for x in (load / "intercom" / "contacts.jsonl").read_text().splitlines()]
        assert intercom_ids(facts, "/contacts", "data") == {c["id"] for c in contacts}
        convs = [json.loads(x) for x in (load / "intercom" / "conversations.jsonl").read_text().splitlines()]
        assert intercom_ids(facts, "/conversations", "conversations") == {c["id"] for c in convs}
        # a sample record keeps its values
        with open(load / "salesforce" / "Contact.csv", newline="", encoding="utf-8") as f:
            row = next(csv.DictReader(f))
        rec = sf.Contact.get(row["Id"])
        assert rec["LastName"] == row["LastName"] and (rec["Email"] or "") == row["Email"]
        sf.Contact.update(row["Id"], {"Title": "Round-trip check"})
    finally:
        stop_serve(proc)
    assert not (state / "sandbox.json").exists(), "sandbox.json must go when the sandbox stops"

    proc, facts = start_serve("--state-dir", str(state))  # no --load: the saved state
    try:
        assert sf_client(facts).Contact.get(row["Id"])["Title"] == "Round-trip check"
    finally:
        stop_serve(proc)


def test_serve_refuses_a_folder_that_is_not_a_load_folder(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "crmsandbox",
            "serve",
            "--load",
            str(tmp_path),
            "--state-dir",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 2
    assert "not a load folder" in out.stderr and "Traceback" not in out.stderr
