"""Faults during a pull: the flaky profile, expired sessions, a spent API allocation, a kill mid-pull.

Every case must end with the same snapshot content as a fault-free pull of the same data. The data is
loaded once (a reset would stamp new audit dates) and pulls only read, so it stays the same throughout.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.config import Config
from syncaudit.errors import QuotaExhaustedError
from syncaudit.pull import run_pull
from syncaudit.snapshot import VIEW_PREFIX, Snapshot, latest_snapshot, snapshots_root
from test_pull_fixture_data import make_load_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    load = make_load_dir(tmp_path_factory.mktemp("load"), contacts=300)
    with running_sandbox(load_dir=load, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb


def cfg_for(sb: RunningSandbox, data: Path, monkeypatch: pytest.MonkeyPatch, **pull: object) -> Config:
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", sb["state_dir"])
    return Config.model_validate(
        {
            "name": "t",
            "sandbox": {},
            "data_dir": str(data),
            # Conversation parts on: one call per conversation, so the fault profiles meet enough calls.
            "pull": {"bulk_threshold": 100, "conversation_parts": "changed", **pull},
        }
    )


def content(snap: Snapshot) -> dict[str, list[tuple]]:
    con = snap.duckdb()
    out = {}
    for system, name in snap.tables():
        view = f"{VIEW_PREFIX[system]}_{name}"
        out[f"{system}/{name}"] = con.execute(f'SELECT * FROM "{view}" ORDER BY ALL').fetchall()
    return out


@pytest.fixture(scope="module")
def reference(sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    sandbox.reset()
    mp = pytest.MonkeyPatch()
    try:
        snap = run_pull(cfg_for(sandbox, tmp_path_factory.mktemp("ref"), mp), out=io.StringIO(), bars=False)
    finally:
        mp.undo()
    return content(snap)


def assert_same(snap: Snapshot, reference: dict[str, list[tuple]]) -> None:
    got = content(snap)
    assert set(got) == set(reference)
    for k in reference:
        assert got[k] == reference[k], k


def test_flaky_profile_gives_the_fault_free_snapshot(
    sandbox: RunningSandbox, reference: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.control("POST", "faults", {"profile": "flaky", "seed": 11})
    try:
        snap = run_pull(cfg_for(sandbox, tmp_path, monkeypatch), out=io.StringIO(), bars=False)
        injected = sandbox.control("GET", "state")["faults"]
    finally:
        sandbox.control("POST", "faults", {"profile": "none"})
    assert sum(injected["injected"].values()) > 5, injected  # the run really met faults
    assert_same(snap, reference)


def test_session_expiring_mid_pull_is_renewed(
    sandbox: RunningSandbox, reference: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = sandbox.sandbox.services["salesforce"].auth
    lifetime = auth.lifetime
    auth.lifetime = 0.15  # tokens die a few calls into each object
    sandbox.control("POST", "latency", {"ms": 20})
    try:
        snap = run_pull(cfg_for(sandbox, tmp_path, monkeypatch), out=io.StringIO(), bars=False)
    finally:
        auth.lifetime = lifetime
        sandbox.control("POST", "latency", {"ms": 0})
    assert snap.manifest["salesforce_relogins"] >= 1
    assert any(r["status"] == 401 for r in sandbox.requests(system="salesforce"))
    assert_same(snap, reference)


def test_spent_allocation_stops_cleanly_and_resumes(
    sandbox: RunningSandbox, reference: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = sandbox.sandbox.services["salesforce"].auth
    limit = auth.daily_limit
    sandbox.control("POST", "clock", {"advance_s": 86_400})  # a new day: the usage count starts at zero
    auth.daily_limit = 20  # the guard (80 %) trips at 16 calls, part-way through the objects
    cfg = cfg_for(sandbox, tmp_path, monkeypatch)
    try:
        with pytest.raises(QuotaExhaustedError, match="16 of 20") as exc:
            run_pull(cfg, out=io.StringIO(), bars=False)
        assert "resumable" in str(exc.value)
        assert auth.used < 20  # stopped before the org's allocation was gone
        root = snapshots_root(cfg)
        assert latest_snapshot(root) is None
        partial = next(root.glob("*.partial"))
        done = json.loads((partial / "progress.json").read_text())["streams"]
        assert any(k.startswith("salesforce/") for k in done)  # finished objects are kept
        assert any(k.startswith("intercom/") for k in done)  # the other system finished its work
        auth.daily_limit = limit  # the allocation recovered
        out = io.StringIO()
        snap = run_pull(cfg, out=out, bars=False)
    finally:
        auth.daily_limit = limit
    assert "resuming snapshot" in out.getvalue()
    assert snap.manifest["resumed"] is True and snap.id == partial.name.removesuffix(".partial")
    assert_same(snap, reference)


def test_kill_mid_pull_leaves_nothing_complete_and_next_run_recovers(
    sandbox: RunningSandbox, reference: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.control("POST", "latency", {"ms": 15})
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        f"name: t\nsandbox: {{}}\ndata_dir: {tmp_path}\npull: {{bulk_threshold: 100, conversation_parts: changed}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib"), "SYNCAUDIT_SANDBOX_DIR": sandbox["state_dir"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncaudit", "pull", "--config", str(cfg_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    root = tmp_path / "snapshots"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            prog = list(root.glob("*.partial/progress.json"))
            done = json.loads(prog[0].read_text()).get("streams", {}) if prog else {}
            # Kill once a few streams are in (after the company scroll: an open scroll is another test's case).
            if len(done) >= 3 and "intercom/companies" in done:
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        sandbox.control("POST", "latency", {"ms": 0})
        if proc.poll() is None:
            proc.kill()
    assert latest_snapshot(root) is None
    assert not (root / "LATEST").exists()
    assert not any((p / "manifest.json").exists() for p in root.iterdir() if p.is_dir())
    cfg = cfg_for(sandbox, tmp_path, monkeypatch)
    snap = run_pull(cfg, out=io.StringIO(), bars=False)
    assert snap.manifest["resumed"] is True
    assert not list(root.glob("*.partial"))
    assert not list(snap.path.rglob("*.tmp"))
    assert_same(snap, reference)
