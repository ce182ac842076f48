"""A failed pull is resumed only by the same run: same config hash, mode, --full flag and --objects. Anything else
starts afresh and says why (a resumed run with other objects or another mode would skip streams)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.config import Config
from syncaudit.errors import QuotaExhaustedError
from syncaudit.pull import run_pull
from syncaudit.snapshot import SnapshotRun, StreamResult
from test_pull_fixture_data import make_load_dir


def _cfg(data: Path, **extra: object) -> Config:
    return Config.model_validate({"name": "t", "sandbox": {}, "data_dir": str(data), **extra})


def _fail_run(cfg: Config, *, full: bool, objects: list[str] | None = None) -> str:
    """A run that finished one stream and died: its .partial folder stays."""
    run = SnapshotRun.begin(cfg, full=full, objects=objects)
    run.stream_done("salesforce/Account", StreamResult(1, 1, 0.1, None, "full"))
    run.release()
    return run.id


def test_same_request_resumes_in_any_order_and_case(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    sid = _fail_run(cfg, full=True, objects=["Account", "contacts"])
    run = SnapshotRun.begin(cfg, full=True, objects=["CONTACTS", "account"])
    try:
        assert run.id == sid and run.resumed and run.is_done("salesforce/Account") and run.discarded == []
    finally:
        run.release()


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [
        ({"full": True, "objects": ["Account"]}, {"full": True}, "--objects account"),
        ({"full": True}, {"full": True, "objects": ["Account"]}, "all objects"),
        ({"full": False}, {"full": True}, "(--full)"),
        ({"full": True}, {"full": False}, "(no --full)"),
    ],
)
def test_another_request_starts_afresh_and_says_why(tmp_path: Path, first: dict, second: dict, why: str) -> None:
    cfg = _cfg(tmp_path)
    sid = _fail_run(cfg, **first)
    run = SnapshotRun.begin(cfg, **second, now=datetime.now(UTC) + timedelta(hours=1))
    try:
        assert not run.resumed and not run.is_done("salesforce/Account")
        assert len(run.discarded) == 1 and run.discarded[0].startswith(sid) and why in run.discarded[0]
        assert run.id != sid and not (tmp_path / "snapshots" / f"{sid}.partial").exists()
    finally:
        run.release()


def test_changed_config_starts_afresh(tmp_path: Path) -> None:
    _fail_run(_cfg(tmp_path), full=True)
    run = SnapshotRun.begin(_cfg(tmp_path, pull={"lookback_s": 60}), full=True)
    try:
        assert not run.resumed and "configuration changed" in run.discarded[0]
    finally:
        run.release()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    load = make_load_dir(tmp_path_factory.mktemp("load"), contacts=60, companies=6)
    with running_sandbox(load_dir=load, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb


def _spent_allocation(sb: RunningSandbox, daily: int) -> None:
    sb.control("POST", "service/salesforce/api_usage", {"used": 0, "daily": daily})


def test_failed_pull_is_resumed_only_by_the_same_run(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", sandbox["state_dir"])
    cfg = _cfg(tmp_path)
    sandbox.reset()
    _spent_allocation(sandbox, 20)  # the guard (80 %) stops the Salesforce streams part-way
    with pytest.raises(QuotaExhaustedError):
        run_pull(cfg, full=True, out=io.StringIO(), bars=False)
    partial = next((tmp_path / "snapshots").glob("*.partial"))
    _spent_allocation(sandbox, 15000)
    out = io.StringIO()
    snap = run_pull(cfg, full=True, objects=["Account", "admins"], out=out, bars=False)
    text = out.getvalue()
    assert f"not resuming unfinished snapshot {partial.name.removesuffix('.partial')}" in text
    assert "starting afresh" in text and "already pulled" not in text
    assert snap.manifest["resumed"] is False
    assert set(snap.manifest["streams"]) == {"salesforce/Account", "intercom/admins"}

    _spent_allocation(sandbox, 20)
    with pytest.raises(QuotaExhaustedError):
        run_pull(cfg, full=True, out=io.StringIO(), bars=False)
    _spent_allocation(sandbox, 15000)
    out = io.StringIO()
    snap = run_pull(cfg, full=True, out=out, bars=False)
    assert "resuming snapshot" in out.getvalue() and "starting afresh" not in out.getvalue()
    assert snap.manifest["resumed"] is True
    assert {"salesforce/Contact", "intercom/contacts", "intercom/conversations"} <= set(snap.manifest["streams"])
