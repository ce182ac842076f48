"""syncaudit's own writes: from the SQLite journal (and the plans its runs name) into a snapshot table."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from syncaudit.changes.journal import Journal
from syncaudit.changes.model import Operation, Plan
from syncaudit.own_writes import copy_own_writes, read_own_writes


def test_journaled_writes_become_rows_with_values_and_versions(tmp_path: Path) -> None:
    ops = [
        Operation("intercom", "contact", "ic1", "update", {"external_id": "u1", "email": None}, version=1700000000),
        Operation("salesforce", "Contact", "003A", "update", {"Plan_Type__c": "Pro"}, version="2026-01-01T00:00:00Z"),
        Operation("salesforce", "Contact", "003B", "update", {"Plan_Type__c": "Free"}),
        Operation("intercom", "contact", "ic9", "merge", {"into": "ic1"}),
    ]
    plan = Plan({"kind": "fixup"}, ops)
    folder = plan.save(tmp_path / "plans")
    journal = Journal(tmp_path / "journal.sqlite")
    run = journal.start_run(plan.hash, str(folder))
    items = list(enumerate(ops))
    journal.intent(run, items)
    outcomes = [(0, ops[0], "updated", None, None, None), (1, ops[1], "updated", None, None, None)]
    outcomes += [(2, ops[2], "failed", "X", "refused", None), (3, ops[3], "merged", None, None, None)]
    journal.outcomes(run, outcomes)
    journal.versions(run, [(0, 1700000099)])
    journal.close()
    rows = read_own_writes(tmp_path / "journal.sqlite").to_pylist()
    got = {(r["record_id"], r["field"]): r for r in rows}
    assert set(got) == {("ic1", "email"), ("ic1", "external_id"), ("003A", "Plan_Type__c"), ("ic9", None)}
    assert got[("ic1", "external_id")]["value"] == "u1" and got[("ic1", "email")]["value"] is None
    assert got[("ic1", "external_id")]["version_before"] == "1700000000"
    assert got[("ic1", "external_id")]["version_after"] == "1700000099"
    assert got[("003A", "Plan_Type__c")]["run_id"] == run  # the failed write to 003B is not ours to recognise
    n = copy_own_writes(tmp_path / "journal.sqlite", tmp_path / "snap" / "syncaudit" / "own_writes.parquet")
    assert n == 4 and pq.read_table(tmp_path / "snap" / "syncaudit" / "own_writes.parquet").num_rows == 4


def test_no_journal_gives_an_empty_table(tmp_path: Path) -> None:
    assert read_own_writes(tmp_path / "missing.sqlite").num_rows == 0
