"""A failed run looks failed; gates are stated as they are; one source of truth for every number.

The chain here uses the shipped notebook names (so the real dependencies apply) with small stand-in
notebooks run by papermill in real kernels; the figures are unit-tested on small findings files.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from syncaudit.cli import main
from syncaudit.report.findings import combine_findings
from syncaudit.report.metrics import findings_figures
from syncaudit.report.sanitize import has_machine_path, strip_machine_paths
from syncaudit.report.status import gates_state, run_status
from syncaudit.report.summary import changes_since, health, planned_changes, top_actions
from test_report_batch import _config, _nb, offline_sandbox_facts


def _lines(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


AUDIT = [
    {"id": "a1", "kind": "duplicate", "system": "salesforce", "object": "Contact", "records": ["003A", "003B"],
     "severity": "medium", "detail": "same email"},
    {"id": "a2", "kind": "field_drift", "system": "both", "object": "Contact", "field": "plan_type",
     "records": ["003A", "66aa"], "severity": "high", "detail": "differs"},
    {"id": "a3", "kind": "orphan", "system": "intercom", "object": "contact", "records": ["66bb"], "severity": "low",
     "detail": "no counterpart"},
]  # fmt: skip
QUALITY = [
    {"id": "q1", "kind": "quality", "system": "salesforce", "object": "Contact", "records": ["003C", "003D", "003E"],
     "record_count": 3, "severity": "medium", "detail": "3 of 10 records fail", "suite": "sf_Contact"},
]  # fmt: skip


def test_quality_findings_join_the_audit_findings_once(tmp_path) -> None:
    _lines(tmp_path / "audit" / "findings.jsonl", AUDIT)
    _lines(tmp_path / "quality" / "findings.jsonl", QUALITY)
    # Before: the summary page read the audit's file alone (3), the index audit + quality (4).
    (tmp_path / "findings.jsonl").write_text((tmp_path / "audit" / "findings.jsonl").read_text())
    assert findings_figures(tmp_path / "findings.jsonl")["total"] == 3
    combine_findings(tmp_path)
    combine_findings(tmp_path)  # the quality step and the end of the run both call it: counted once
    figures = findings_figures(tmp_path / "findings.jsonl")
    assert figures["total"] == 4 and figures["by_kind"]["quality"] == 1


def test_health_actions_changes_and_plan(tmp_path) -> None:
    now = _lines(tmp_path / "now.jsonl", AUDIT + QUALITY)
    before = _lines(tmp_path / "before.jsonl", [AUDIT[0], AUDIT[2], {**AUDIT[1], "id": "old"}])
    h = health(now, {"records": {"salesforce_people": 50, "intercom_contacts": 50}})
    # 003A high (1) + 66aa high (1) + 003B medium (.5) + 003C-E medium (1.5) + 66bb low (.25) = 4.25 of 100
    assert h["affected"] == 7 and h["weighted"] == 4.25 and h["score"] == 96
    assert health(now, None)["score"] is None  # no in-scope count: not measured, never a made-up 100
    actions = top_actions(now, {"plan_type": "intercom"})
    assert [a["kind"] for a in actions][:2] == ["field_drift", "quality"]  # 2 high records beat 3 medium (2 > 1.5)
    assert actions[0]["who"] == "Intercom admins (owner of plan_type)"
    assert actions[0]["action"] == "Correct plan_type on 1 Contact pair (the two systems disagree)"
    assert actions[0]["worklist"] == "worklists/field_drift.csv" and actions[0]["page"] == "30_field_drift.html"
    ch = changes_since(now, before)
    assert (ch["new"], ch["resolved"], ch["still_open"]) == (2, 1, 2)
    assert ch["by_kind"]["field_drift"] == {"new": 1, "resolved": 1, "still_open": 0}
    assert changes_since(now, None) is None
    plan = planned_changes({"operations": 9, "writes": 8, "reviews": 1, "hash": "h",
                            "by_target": {"intercom.contact.merge": 6, "salesforce.Contact.update": 2}})  # fmt: skip
    assert plan["irreversible"] == 6 and plan["irreversible_by_target"] == {"intercom.contact.merge": 6}


def test_gates_are_stated_as_they_are() -> None:
    none = SimpleNamespace(max_findings={}, min_quality_pass_rate=None, fail_on_critical_expectations=False)
    some = SimpleNamespace(max_findings={"duplicate": 5}, min_quality_pass_rate=0.9, fail_on_critical_expectations=True)
    assert gates_state(none, [], run_failed=False)["state"] == "none"
    assert gates_state(some, [], run_failed=False)["state"] == "passed"
    assert gates_state(some, [], run_failed=True)["state"] == "not_evaluated"
    failed = gates_state(some, ["9 duplicate findings exceed the gate of 5"], run_failed=False)
    assert failed["state"] == "failed" and failed["passed"] is False
    status = run_status(
        [
            {"name": "00_pull", "status": "ok"},
            {"name": "10_schema_mapping", "status": "failed", "error": "ConfigError: /home/ana/x/snap.json: bad"},
            {"name": "20_identity_links", "status": "skipped", "error": "needs the results of the audit"},
        ]
    )
    assert status["sentence"] == (
        "The run FAILED at step 10_schema_mapping (Schema and mapping): ConfigError: snap.json: bad; "
        "1 later step skipped."
    )


def test_machine_paths_are_cut_to_file_names() -> None:
    text = 'File "/srv/wt/x/.venv/lib/python3.12/site-packages/duckdb/__init__.py", line 3 in /tmp/a b'
    assert strip_machine_paths(text) == 'File "__init__.py", line 3 in a b'
    kept = "https://example.com/home/x data:image/png;base64,AAA/tmp/BBB reports/2026-11/index.html"
    assert strip_machine_paths(kept) == kept and not has_machine_path(kept)


@pytest.fixture(scope="module")
def failed_chain(tmp_path_factory):
    """The audit step fails (an absolute path in its error); what needs its findings is skipped."""
    tmp = tmp_path_factory.mktemp("failed")
    nbs = tmp / "nbs"
    nbs.mkdir()
    _nb(nbs / "00_pull.ipynb", "import json, pathlib\n(pathlib.Path(report_dir) / 'snapshot.json').write_text("
                               "json.dumps({'snapshot_id': 'S1'}))\nimport sys\nprint('pulling…', file=sys.stderr)")  # fmt: skip
    _nb(nbs / "10_schema_mapping.ipynb", "raise FileNotFoundError('/home/ana/data/demo/snapshots/S1/manifest.json')")
    _nb(nbs / "20_identity_links.ipynb", "print('must not run')")
    _nb(nbs / "50_data_quality.ipynb", "print('quality ran')")
    _nb(nbs / "90_monthly_summary.ipynb", "print('must not run')")
    cfg = _config(tmp, fail_on_critical_expectations=False)
    mp = pytest.MonkeyPatch()
    mp.setenv("SYNCAUDIT_NOTEBOOKS_DIR", str(nbs))
    offline_sandbox_facts(tmp, mp)
    mp.chdir(tmp)
    try:
        code = main(["audit", "--config", str(cfg), "--period", "2026-11"])
    finally:
        mp.undo()
    return {"code": code, "out": tmp / "reports" / "2026-11"}


def test_a_failed_run_looks_failed(failed_chain) -> None:
    assert failed_chain["code"] == 1
    out = failed_chain["out"]
    m = json.loads((out / "metrics.json").read_text())
    assert {k: v["status"] for k, v in m["notebooks"].items()} == {
        "00_pull": "ok", "10_schema_mapping": "failed", "20_identity_links": "skipped",
        "50_data_quality": "ok", "90_monthly_summary": "skipped",
    }  # fmt: skip
    assert m["gates"]["state"] == "not_evaluated" and m["findings"]["total"] is None
    index = (out / "index.html").read_text()
    assert "The run FAILED at step 10_schema_mapping (Schema and mapping): FileNotFoundError: manifest.json" in index
    assert "All configured gates passed" not in index and "Gates not evaluated" in index
    assert "not measured" in index
    for page in out.glob("*.html"):
        text = page.read_text()
        assert "Traceback" not in text, page.name
        assert not has_machine_path(text.split("<script", 1)[0] + text.rsplit("</script>", 1)[-1]), page.name
        assert "pulling…" not in text  # stderr goes to the run log, not to a pink block
    assert "This step failed:" in (out / "10_schema_mapping.html").read_text()


def test_index_states_no_gates_and_the_change_by_kind(tmp_path) -> None:
    from syncaudit.report.index import write_index

    metrics = {
        "period": "2026-11", "config": "demo", "generated_at": "2026-11-30T06:00:00+00:00",
        "findings": {"total": 4, "by_kind": {"orphan": 4}},
        "run": run_status([{"name": "00_pull", "status": "ok"}]),
        "gates": gates_state(SimpleNamespace(max_findings={}, min_quality_pass_rate=None,
                                             fail_on_critical_expectations=False), [], run_failed=False),
        "changes": {"new": 3, "resolved": 2, "still_open": 1,
                    "by_kind": {"orphan": {"new": 3, "resolved": 2, "still_open": 1}}},
    }  # fmt: skip
    page = write_index(tmp_path, metrics, [], [{"period": "2026-10"}], [], masked=True).read_text()
    assert "No gates are configured" in page and "All configured gates passed" not in page
    assert "passed" not in page.split('id="gates"')[1].split("</section>")[0]
    row = page.split('id="changes"')[1].split("</section>")[0]
    assert 'Missing counterpart</td><td class="n up">3</td><td class="n down">2</td><td class="n">1</td>' in row
