"""The sandbox clock end to end: served `--as-of now`, the drift the generator plants "still in flight" is in
flight when the audit runs; served unchanged weeks after its as-of moment, it is not (the hard negative)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crmsandbox.testing import generated_load_dir, running_sandbox
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config
from syncaudit.pull import run_pull

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SIZE, SEED = 300, 3


def _audit(tmp: Path, as_of: str, monkeypatch: pytest.MonkeyPatch) -> tuple[set, set]:
    """(in-flight drift the generator planted, field_drift pairs the audit reported) for one serving."""
    tmp.mkdir(parents=True)
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", str(tmp / "sb"))
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    (tmp / "demo.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(tmp / "demo.yaml")
    with running_sandbox(load_dir=generated_load_dir(SIZE, SEED), state_dir=tmp / "sb", as_of=as_of):
        snap = run_pull(cfg, full=True, bars=False)
    audit = run_audit(cfg, snap.id)
    served = tmp / "sb" / "load-as-of" if as_of == "now" else generated_load_dir(SIZE, SEED)
    truth = json.loads((served / "truth.json").read_text())
    in_flight = {
        (tuple(f["records"]), f["field"]) for f in truth["findings"] if f["kind"] == "field_drift" and f["within_lag"]
    }
    lines = audit.paths["jsonl"].read_text().splitlines()
    reported = {(tuple(f["records"]), f["field"]) for f in map(json.loads, lines) if f["kind"] == "field_drift"}
    return in_flight, reported


def test_in_flight_drift_is_in_flight_when_served_as_of_now(tmp_path, monkeypatch):
    in_flight, reported = _audit(tmp_path / "now", "now", monkeypatch)
    assert in_flight, "the generator plants drift within the sync lag"
    assert reported, "the audit reports the drift beyond the lag"
    assert not in_flight & reported, sorted(in_flight & reported)


def test_served_unchanged_weeks_later_the_same_drift_is_reported(tmp_path, monkeypatch):
    in_flight, reported = _audit(tmp_path / "orig", "original", monkeypatch)
    assert in_flight & reported, "weeks after its as-of moment nothing is in flight any more"
