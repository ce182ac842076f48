"""The audit end to end on a hand-built org pair: every kind found, nothing else, stable ids."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from audit_fixtures import ROOT, U_NEWER, acc, con_, write_empty, write_no_links, write_org_pair
from syncaudit.audit.findings import read_findings, stable_id
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config
from syncaudit.errors import ConfigError
from syncaudit.loadfolder import SnapshotDir, convert_load_folder

CROSS = {"identity_gap", "ambiguous_link", "stale_link", "field_drift"}


def demo_cfg(tmp: Path):
    # The hand-written org pair has no Case Priority, Account Type or tags: the demo's rules do not apply to it
    # (test_rules.py runs them on generated pairs).
    return load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp / "data"), "rules": []})


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("org")
    planted = write_org_pair(tmp / "load")
    res = run_audit(demo_cfg(tmp), str(tmp / "load"), tmp / "out")
    return tmp, planted, res


def keyset(res) -> set[tuple[str, tuple[str, ...]]]:
    rows = res.con.execute("SELECT kind, records FROM findings_final").fetchall()
    return {(k, tuple(sorted(r))) for k, r in rows}


def test_every_planted_defect_is_found_and_nothing_else(audited) -> None:
    _, planted, res = audited
    got = keyset(res)
    assert planted - got == set(), f"missed: {planted - got}"
    assert got - planted == set(), f"false findings: {got - planted}"


def test_findings_files_have_the_contract_keys(audited) -> None:
    tmp, _, res = audited
    found = read_findings(res.paths["jsonl"])
    assert len(found) == res.metrics["findings"]["total"] > 0
    for f in found:
        assert f.id == stable_id(f.kind, f.system, f.object, f.field, f.records)
        assert f.kind and f.system in {"salesforce", "intercom", "both"} and f.severity and f.detail
        if f.kind in CROSS:
            # Salesforce ids first, then Intercom ids.
            assert f.records[0][:3] in {"001", "003", "00Q"} and f.records[-1][:3] not in {"001", "003", "00Q"}
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{res.paths['parquet']}')").fetchall()[0][0]
    assert n == len(found)
    metrics = json.loads(res.paths["metrics"].read_text())
    assert metrics["findings"]["by_kind"]["duplicate"] == 5
    plan = metrics["drift"]["per_field"]["plan_type:Contact"]
    assert plan["drift"] == 2 and 0 < plan["agreement_rate"] < 1
    assert 0 < metrics["drift"]["drift_score"] < 1


def test_details_name_values_sides_and_choices(audited) -> None:
    _, _, res = audited
    by = {(f["kind"], tuple(sorted(f["records"]))): f for f in res.findings_df().to_dict("records")}
    drift = by[("field_drift", (con_(2), "i2"))]
    assert drift["field"] == "plan_type"
    assert drift["values"] == {"salesforce": "Pro", "intercom": "Starter"}
    assert "Intercom is newer (the owner changed it" in drift["detail"]
    wrong_side = by[("field_drift", (con_(11), "i11"))]
    assert "the non-owner side" in wrong_side["detail"] and wrong_side["severity"] == "high"
    amb = by[("ambiguous_link", (acc(2), acc(3), "c2"))]
    assert amb["suggested_survivor"] == acc(3) and "most recently updated" in amb["detail"]
    dup = by[("duplicate", (con_(5), con_(6)))]
    merge = json.loads(dup["extra"])["merge"]
    assert merge["email"]["value"] == "dana@y.com" and dup["suggested_survivor"] in {con_(5), con_(6)}
    gap = by[("identity_gap", (con_(4), "i4"))]
    assert "empty in Salesforce" in gap["detail"] and "u4" in gap["suggested_fix"]
    fuzzy = by[("duplicate", ("i11", "i12"))]
    assert 0.5 < fuzzy["confidence"] <= 1


class PullStyleSnapshot:
    """A snapshot object shaped like the pull's: its duckdb() makes its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest = json.loads((path / "manifest.json").read_text())

    def duckdb(self):
        return SnapshotDir(self.path).duckdb()


def test_ids_are_stable_across_runs_and_snapshot_objects(audited, tmp_path: Path) -> None:
    tmp, _, res = audited
    snap = PullStyleSnapshot(tmp / "data" / "snapshots" / "load-load")
    again = run_audit(demo_cfg(tmp), snap, tmp_path / "out2")
    ids1 = {r[0] for r in res.con.execute("SELECT id FROM findings_final").fetchall()}
    ids2 = {r[0] for r in again.con.execute("SELECT id FROM findings_final").fetchall()}
    assert ids1 == ids2 and len(ids1) == res.metrics["findings"]["total"]


def test_changes_within_the_sync_lag_are_in_flight_not_drift(tmp_path: Path) -> None:
    write_org_pair(tmp_path / "load")
    snap = convert_load_folder(tmp_path / "load", tmp_path / "snap")
    manifest = json.loads((snap.path / "manifest.json").read_text())
    # Snapshot taken 30 s after Intercom (the owner of plan_type) changed contact i2: within the 60 s lag.
    from datetime import UTC, datetime

    manifest["started_at"] = datetime.fromtimestamp(U_NEWER + 30, UTC).isoformat()
    (snap.path / "manifest.json").write_text(json.dumps(manifest))
    res = run_audit(demo_cfg(tmp_path), str(snap.path), tmp_path / "out")
    assert ("field_drift", (con_(2), "i2")) not in keyset(res)
    assert res.metrics["drift"]["in_flight"] == 1


def test_empty_systems_give_no_findings_but_schema(tmp_path: Path) -> None:
    write_empty(tmp_path / "load")
    res = run_audit(demo_cfg(tmp_path), str(tmp_path / "load"), tmp_path / "out")
    kinds = {k for k, _ in keyset(res)}
    assert kinds <= {"schema_conflict"}
    assert res.paths["jsonl"].is_file()


def test_systems_with_no_links_give_orphans(tmp_path: Path) -> None:
    write_no_links(tmp_path / "load")
    res = run_audit(demo_cfg(tmp_path), str(tmp_path / "load"), tmp_path / "out")
    got = {x for x in keyset(res) if x[0] != "schema_conflict"}
    assert got == {("orphan", (con_(1),)), ("orphan", (con_(2),)), ("orphan", ("i1",)), ("orphan", ("i2",))}
    assert res.metrics["links"] == {}


def test_mapping_with_unknown_fields_is_rejected_before_work(tmp_path: Path) -> None:
    write_org_pair(tmp_path / "load", n_filler=0)
    cfg = demo_cfg(tmp_path)
    bad = cfg.mapping.fields[0].model_copy(update={"name": "oops", "salesforce": "Emial", "intercom": "emial"})
    cfg = cfg.model_copy(update={"mapping": cfg.mapping.model_copy(update={"fields": [*cfg.mapping.fields, bad]})})
    with pytest.raises(ConfigError) as exc:
        run_audit(cfg, str(tmp_path / "load"), tmp_path / "out")
    assert "fields.oops" in str(exc.value) and "did you mean 'Email'" in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_cli_findings(tmp_path: Path) -> None:
    write_org_pair(tmp_path / "load", n_filler=20)
    text = (ROOT / "config" / "demo.yaml").read_text().replace("data_dir: data/demo", f"data_dir: {tmp_path / 'd'}")
    text = re.sub(r"\nrules:\n.*?\n(?=pull:)", "\n", text, flags=re.S)  # no Case Priority etc. here (see demo_cfg)
    (tmp_path / "c.yaml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    cmd = [sys.executable, "-m", "syncaudit", "findings", "--config", str(tmp_path / "c.yaml")]
    p = subprocess.run(
        [*cmd, "--snapshot", str(tmp_path / "load"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0].endswith("findings.jsonl")
    assert json.loads(p.stdout.splitlines()[1])["findings"]["stale_link"] == 1
    p = subprocess.run([*cmd, "--snapshot", "nope"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "snapshot 'nope' not found" in p.stderr and "Traceback" not in p.stderr


def test_ids_are_stable_across_two_pulls_of_unchanged_data(audited, tmp_path: Path) -> None:
    """A second pull of the same records pages in another order: the same findings, by the same ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp, _, res = audited
    first = tmp / "data" / "snapshots" / "load-load"
    second = tmp_path / "snapshots" / "second-pull"
    shutil.copytree(first, second)
    for f in second.rglob("*.parquet"):
        table = pq.read_table(f)
        pq.write_table(table.take(pa.array(range(table.num_rows - 1, -1, -1), pa.int64())), f)
    assert any(pq.read_metadata(f).num_rows > 1 for f in second.rglob("*.parquet"))
    again = run_audit(demo_cfg(tmp), PullStyleSnapshot(second), tmp_path / "out2")
    query = "SELECT id, kind, list_sort(records) FROM findings_final"
    rows1 = {(i, k, tuple(r)) for i, k, r in res.con.execute(query).fetchall()}
    rows2 = {(i, k, tuple(r)) for i, k, r in again.con.execute(query).fetchall()}
    assert rows1 == rows2 and len(rows1) == res.metrics["findings"]["total"]
