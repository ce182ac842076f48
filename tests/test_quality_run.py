"""Running suites through Great Expectations on a snapshot: findings, pass rates, gates, bad input."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from quality_snapshot import PLANTED, write_snapshot
from syncaudit.config import Config, load_config
from syncaudit.quality import run as run_module
from syncaudit.quality.datasets import open_tables
from syncaudit.quality.results import build_findings, build_metrics, gate_failures, write_outputs
from syncaudit.quality.run import run_quality
from syncaudit.quality.suites import load_suites

ROOT = Path(__file__).resolve().parents[1]


def demo_config(data_dir: Path, **gates: object) -> Config:
    cfg = load_config(ROOT / "config" / "demo.yaml")
    update: dict = {"data_dir": str(data_dir)}
    if gates:
        update["gates"] = cfg.gates.model_copy(update=gates)
    return cfg.model_copy(update=update)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    write_snapshot(data, 40)
    return data


@pytest.fixture(scope="module")
def committed_run(snapshot: Path):
    cfg = demo_config(snapshot)
    suites, problems = load_suites(ROOT / "expectations")
    return cfg, run_quality(cfg, open_tables(cfg), suites, problems)


def _finding(findings: list[dict], suite: str, type_: str, column: str) -> dict:
    hits = [f for f in findings if f["suite"] == suite and f["expectation"] == type_ and f"({column}" in f["rule"]]
    assert len(hits) == 1, [f["rule"] for f in findings if f["suite"] == suite]
    return hits[0]


def _ids(prefix: str, *rows: int) -> list[str]:
    return [f"{prefix}{str(r).zfill(18 - len(prefix))}" for r in rows]


def test_planted_defects_become_quality_findings_naming_the_records(committed_run) -> None:
    cfg, run = committed_run
    assert run.problems == []
    findings = build_findings(run, cfg)
    c, i = PLANTED["Contact"], PLANTED["contacts"]
    f = _finding(findings, "sf_Contact", "expect_column_values_to_match_regex", "Email")
    assert f["records"] == _ids("003", c["bad_email"]) and f["record_count"] == 1
    assert (f["kind"], f["system"], f["object"], f["field"]) == ("quality", "salesforce", "Contact", "email")
    f = _finding(findings, "sf_Contact", "expect_column_values_to_be_unique", "Product_User_Id__c")
    assert sorted(f["records"]) == _ids("003", *c["dup_key"]) and f["severity"] == "high"  # not a gate
    f = _finding(findings, "sf_Contact", "expect_column_values_to_be_unique", "Id")
    assert f["records"] == _ids("003", c["dup_id"][0]) and f["record_count"] == 2  # a gate: see below
    f = _finding(findings, "sf_Contact", "expect_column_values_to_match_regex", "Phone")
    assert f["records"] == _ids("003", c["bad_phone"]) and f["field"] == "phone"
    f = _finding(findings, "sf_Contact", "expect_column_values_to_not_be_null", "Product_User_Id__c")
    assert f["records"] == _ids("003", c["null_key"])
    f = _finding(findings, "sf_Contact", "expect_column_values_to_be_in_set", "Plan_Type__c")
    assert f["records"] == _ids("003", c["bad_plan"]) and f["field"] == "plan_type"
    f = _finding(findings, "sf_Contact", "expect_column_pair_values_a_to_be_greater_than_b", "LastModifiedDate")
    assert f["records"] == _ids("003", c["modified_before_created"])
    f = _finding(findings, "ic_contacts", "expect_column_values_to_be_in_set", "custom_attributes.referral_source")
    assert f["records"] == _ids("ic", i["bad_referral"]) and f["system"] == "intercom" and f["object"] == "contact"
    f = _finding(findings, "ic_contacts", "expect_column_values_to_be_between", "created_at")
    assert f["records"] == _ids("ic", i["future_created"])
    f = _finding(findings, "ic_contacts", "expect_column_values_to_not_be_null", "external_id")
    assert f["records"] == _ids("ic", i["user_without_key"])
    f = _finding(findings, "ic_contacts", "expect_column_value_lengths_to_be_between", "custom_attributes.partner_code")
    assert f["records"] == _ids("ic", i["long_partner_code"]) and f["field"] == "partner_code"
    # linked pairs: the duplicated key links two Contacts to one Intercom contact; Salesforce ids come first
    f = _finding(findings, "linked_people", "expect_column_values_to_be_unique", "ic_id")
    assert f["system"] == "both" and [r[:3] for r in f["records"]] == ["003", "003", "ic0"]
    assert set(f["records"]) == set(_ids("003", *c["dup_key"]) + _ids("ic", c["dup_key"][0]))
    # hand-written: 2 of 37 linked pairs disagree on email (the bad email, the duplicate), over the 5% tolerated
    f = _finding(findings, "linked_people", "expect_column_pair_values_to_be_equal", "sf_email")
    assert f["record_count"] == 2 and set(f["records"]) >= set(_ids("003", c["bad_email"]) + _ids("ic", c["bad_email"]))
    # nothing else fails, and the tombstone (IsDeleted, bad email) is not checked at all
    # the record written twice shows up in the linked pairs too
    f = _finding(findings, "linked_people", "expect_column_values_to_be_unique", "sf_id")
    assert f["records"][0] == _ids("003", c["dup_id"][0])[0]
    assert len(findings) == 15
    contact = next(s for s in run.suites if s.name == "sf_Contact")
    assert contact.rows == 39
    ids = [f["id"] for f in findings]
    assert len(set(ids)) == len(ids)


def test_finding_ids_are_stable_across_runs(committed_run, snapshot: Path) -> None:
    cfg, run = committed_run
    suites, problems = load_suites(ROOT / "expectations")
    keep = {"sf_Contact", "linked_people"}
    again = run_quality(cfg, open_tables(cfg), [s for s in suites if s.name in keep], problems)
    first = [f["id"] for f in build_findings(run, cfg) if f["suite"] in keep]
    assert len(first) == 10 and [f["id"] for f in build_findings(again, cfg)] == first


def test_pass_rates_per_suite_and_expectation(committed_run) -> None:
    _, run = committed_run
    m = build_metrics(run)
    contact = m["suites"]["sf_Contact"]
    unique = next(v for k, v in contact["expectations_detail"].items() if "be_unique(Product_User_Id__c)" in k)
    assert unique["unexpected_count"] == 2 and unique["element_count"] == 39
    assert unique["pass_rate"] == round(1 - 2 / 38, 6)  # over the 38 non-null keys, as GX counts it
    assert contact["failed"] == 7 and contact["passed"] == contact["expectations"] - 7
    assert contact["pass_rate"] == round(contact["passed"] / contact["evaluated"], 6)
    assert m["suites"]["ic_companies"]["pass_rate"] == 1.0
    assert m["overall"]["failed"] == 15 and m["overall"]["errors"] == 0


def test_all_failing_records_counted_but_sample_bounded(snapshot: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(run_module, "SAMPLE_IDS", 5)
    (tmp_path / "s.json").write_text(
        json.dumps(
            {
                "name": "s",
                "meta": {"dataset": "sf_Lead", "id_columns": ["Id"]},
                "expectations": [
                    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "Email", "regex": "^zz"}}
                ],
            }
        )
    )
    cfg = demo_config(snapshot)
    run = run_quality(cfg, open_tables(cfg), *load_suites(tmp_path))
    [f] = build_findings(run, cfg)
    assert f["record_count"] == 40 and len(f["records"]) == 5


def test_critical_failure_and_pass_rate_floor_are_gates(committed_run, snapshot: Path) -> None:
    cfg, run = committed_run
    gates = gate_failures(run, cfg)
    assert len(gates) == 1 and "be_unique(Id) of suite sf_Contact failed (2 records)" in gates[0]
    off = demo_config(snapshot, fail_on_critical_expectations=False)
    assert gate_failures(run, off) == []
    floor = demo_config(snapshot, fail_on_critical_expectations=False, min_quality_pass_rate=0.99)
    assert "below gates.min_quality_pass_rate" in gate_failures(run, floor)[0]


def test_missing_column_is_reported_by_file_and_expectation_and_the_rest_runs(snapshot: Path, tmp_path: Path) -> None:
    for name in ("sf_Lead.json", "ic_companies.json"):
        shutil.copy(ROOT / "expectations" / name, tmp_path / name)
    suite = json.loads((tmp_path / "sf_Lead.json").read_text())
    suite["expectations"].insert(0, {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "Nope__c"}})
    suite["expectations"].append({"kwargs": ["not", "an", "object"], "meta": "x"})  # no type, junk inside
    (tmp_path / "sf_Lead.json").write_text(json.dumps(suite))
    (tmp_path / "broken.json").write_text("{not json")
    missing = {"name": "gone", "meta": {"dataset": "sf_Opportunity", "id_columns": ["Id"]}, "expectations": []}
    (tmp_path / "gone.json").write_text(json.dumps(missing))
    cfg = demo_config(snapshot)
    run = run_quality(cfg, open_tables(cfg), *load_suites(tmp_path))
    messages = [str(p) for p in run.problems]
    assert any("broken.json" in m and "invalid JSON" in m for m in messages)
    assert any("sf_Lead.json: expectation #0 expect_column_values_to_not_be_null(Nope__c)" in m for m in messages)
    assert any("gone.json" in m and "sf_Opportunity" in m for m in messages)
    lead = next(s for s in run.suites if s.name == "sf_Lead")
    assert lead.outcomes[0].success is None and "Nope__c" in lead.outcomes[0].error
    assert lead.outcomes[-1].success is None and "has no 'type'" in lead.outcomes[-1].error
    assert all(o.success is True for o in lead.outcomes[1:-1])  # the rest of that suite ran
    assert [s.name for s in run.suites] == ["gone", "ic_companies", "sf_Lead"]  # every other suite ran too
    assert all(o.success for o in run.suites[1].outcomes)


def test_write_outputs_merges_metrics_and_writes_findings_and_docs(committed_run, tmp_path: Path) -> None:
    cfg, run = committed_run
    (tmp_path / "metrics.json").write_text(json.dumps({"counts": {"duplicate": 3}}))
    paths = write_outputs(run, cfg, tmp_path)
    merged = json.loads((tmp_path / "metrics.json").read_text())
    assert merged["counts"] == {"duplicate": 3}
    assert merged["quality"]["overall"]["failed"] == 15
    rates = merged["quality"]["pass_rates"]["sf_Contact"]
    assert any("Product_User_Id__c" in k and v < 1 for k, v in rates.items())
    lines = paths["findings"].read_text().splitlines()
    assert len(lines) == 15 and all(json.loads(x)["kind"] == "quality" for x in lines)
    assert paths["docs"].read_text().startswith("<!DOCTYPE html>")
    assert json.loads(paths["metrics"].read_text())["gate_failures"]


def test_sample_ids_come_from_failing_rows_wherever_they_are(tmp_path: Path) -> None:
    """Pass 2 widens its slice until it finds failures at the end; duplicates are found after sorting."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from syncaudit.quality.datasets import tables_from_folder

    n = 20_000
    ids = [f"003{i:015d}" for i in range(n)]
    emails = [f"u{i}@x.io" if i < n - 1_000 else f"bad {i}" for i in range(n)]
    keys = [f"k{i}" if i % 97 else f"k{i // 2000}" for i in range(n)]  # ~200 rows share 10 values
    snap = tmp_path / "snap"
    (snap / "salesforce").mkdir(parents=True)
    pq.write_table(pa.table({"Id": ids, "Email": emails, "Key": keys}), snap / "salesforce" / "Contact.parquet")
    suite = {
        "name": "s",
        "meta": {"dataset": "sf_Contact", "id_columns": ["Id"]},
        "expectations": [
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "Email", "regex": "@"}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "Key"}},
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(suite))
    cfg = demo_config(tmp_path)
    run = run_quality(cfg, tables_from_folder(snap), *load_suites(tmp_path))
    regex, unique = run.suites[0].outcomes
    assert regex.unexpected_count == 1_000 and len(regex.sample_ids) == run_module.SAMPLE_IDS
    assert all(int(r["Id"][3:]) >= n - 1_000 for r in regex.sample_ids)
    counts = Counter(keys)
    dup_rows = {ids[i] for i, k in enumerate(keys) if counts[k] > 1}
    assert unique.unexpected_count == len(dup_rows)
    assert len(unique.sample_ids) == run_module.SAMPLE_IDS
    assert {r["Id"] for r in unique.sample_ids} <= dup_rows


def test_a_run_never_opens_a_network_connection(snapshot: Path, monkeypatch) -> None:
    """GX analytics stay off and nothing (version checks, CDNs, usage stats) reaches the internet."""
    import os
    import socket

    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    cfg = demo_config(snapshot)
    suites, problems = load_suites(ROOT / "expectations")
    run = run_quality(cfg, open_tables(cfg), [s for s in suites if s.name in {"sf_Account", "ic_contacts"}], problems)
    assert len(run.suites) == 2 and run.problems == []
    assert attempts == []
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
