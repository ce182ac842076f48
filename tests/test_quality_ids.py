"""Quality finding ids follow the expectation, not the sampled rows: a second run, or a second pull of the same
data in another row order, gives the same ids, so "change since the previous run" shows no churn (issue #16)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from quality_snapshot import PLANTED, SNAPSHOT_ID, write_snapshot
from syncaudit.config import Config, load_config
from syncaudit.quality import run as run_module
from syncaudit.quality.datasets import open_tables
from syncaudit.quality.results import build_findings, write_outputs
from syncaudit.quality.run import run_quality
from syncaudit.quality.suites import load_suites
from syncaudit.report.summary import changes_since

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"sf_Contact", "ic_contacts", "linked_people"}
SECOND = "20261226T120000Z"


def _cfg(data_dir: Path) -> Config:
    return load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(data_dir)})


def _run(data_dir: Path, snapshot: str, out: Path) -> tuple[list[dict], Path]:
    cfg = _cfg(data_dir)
    suites, problems = load_suites(ROOT / "expectations")
    run = run_quality(cfg, open_tables(cfg, snapshot), [s for s in suites if s.name in SUITES], problems)
    paths = write_outputs(run, cfg, out)
    return build_findings(run, cfg), paths["findings"]


def _second_pull(data_dir: Path, change=None) -> None:
    """The same records under a new snapshot id, every table in reverse row order (a pull pages differently)."""
    first, second = data_dir / "snapshots" / SNAPSHOT_ID, data_dir / "snapshots" / SECOND
    shutil.copytree(first, second)
    for f in second.rglob("*.parquet"):
        table = pq.read_table(f)
        table = table.take(list(range(table.num_rows - 1, -1, -1)))
        pq.write_table(change(f.stem, table) if change else table, f)


@pytest.fixture
def one_id_sample(monkeypatch) -> None:
    # A sample smaller than the failures (as with thousands of failing rows): which rows it names depends on order.
    monkeypatch.setattr(run_module, "SAMPLE_IDS", 1)


def test_same_data_pulled_twice_gives_the_same_quality_ids(tmp_path: Path, one_id_sample) -> None:
    write_snapshot(tmp_path, 40)
    _second_pull(tmp_path)
    first, first_file = _run(tmp_path, SNAPSHOT_ID, tmp_path / "out1")
    again, _ = _run(tmp_path, SNAPSHOT_ID, tmp_path / "out1b")
    second, second_file = _run(tmp_path, SECOND, tmp_path / "out2")
    ids = sorted(f["id"] for f in first)
    assert len(ids) == len(set(ids)) and len(ids) >= 10
    assert sorted(f["id"] for f in again) == ids
    assert sorted(f["id"] for f in second) == ids
    changes = changes_since(second_file, first_file)
    assert (changes["new"], changes["resolved"], changes["still_open"]) == (0, 0, len(ids))
    # the displayed sample is stable too: the same record named whatever the row order
    by_rule = {f["rule"]: f["records"] for f in first}
    assert {f["rule"]: f["records"] for f in second} == by_rule


def _contact(n: int) -> str:
    return f"003{str(n).zfill(15)}"


def test_fixed_record_resolves_and_new_bad_record_is_new(tmp_path: Path, one_id_sample) -> None:
    write_snapshot(tmp_path, 40)
    fixed, new_bad, new_dup = _contact(PLANTED["Contact"]["bad_email"]), _contact(20), _contact(21)

    def change(stem: str, table):
        """Next month: the only bad email is corrected; one record gets a trial status outside its picklist
        (a rule that passed before); another takes an existing key (a rule that already failed)."""
        if stem != "Contact":
            return table
        ids = table["Id"]
        edits = {
            "Email": pc.if_else(pc.equal(ids, fixed), "fixed@example.com", table["Email"]),
            "Trial_Status__c": pc.if_else(pc.equal(ids, new_bad), "Platinum", table["Trial_Status__c"]),
            "Product_User_Id__c": pc.if_else(pc.equal(ids, new_dup), "u5", table["Product_User_Id__c"]),
        }
        for name, column in edits.items():
            table = table.set_column(table.schema.get_field_index(name), name, column)
        return table

    _second_pull(tmp_path, change)
    first, first_file = _run(tmp_path, SNAPSHOT_ID, tmp_path / "out1")
    second, second_file = _run(tmp_path, SECOND, tmp_path / "out2")
    before = {f["expectation"] + str(f["rule"]): f for f in first if f["suite"] == "sf_Contact"}
    after = {f["expectation"] + str(f["rule"]): f for f in second if f["suite"] == "sf_Contact"}

    def one(findings: dict, type_: str, column: str) -> str:
        hits = [f["id"] for k, f in findings.items() if k.startswith(type_) and f"({column})" in k]
        assert len(hits) <= 1
        return hits[0] if hits else ""

    email = one(before, "expect_column_values_to_match_regex", "Email")
    trial = one(after, "expect_column_values_to_be_in_set", "Trial_Status__c")
    unique_before = one(before, "expect_column_values_to_be_unique", "Product_User_Id__c")
    assert email and not one(after, "expect_column_values_to_match_regex", "Email")
    assert trial and not one(before, "expect_column_values_to_be_in_set", "Trial_Status__c")
    assert one(after, "expect_column_values_to_be_unique", "Product_User_Id__c") == unique_before != ""
    dup = next(f for f in second if f["id"] == unique_before)
    assert dup["record_count"] == 3  # the new duplicate is counted in the open finding

    ids_before, ids_after = {f["id"] for f in first}, {f["id"] for f in second}
    assert ids_before - ids_after == {email}
    assert ids_after - ids_before == {trial}
    changes = changes_since(second_file, first_file)
    assert (changes["new"], changes["resolved"]) == (1, 1)
    assert changes["still_open"] == len(ids_before) - 1
