"""The batch run with papermill: chain, progress, a failed notebook still reported, gates, exit codes.

Small notebooks written here stand in for the real chain (test_notebooks_sandbox.py runs the real
ones against the sandbox); they run in real kernels through papermill and nbconvert.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from syncaudit.cli import main
from syncaudit.report.batch import find_notebooks
from syncaudit.report.runner import notebook_parameters, run_notebook

ROOT = Path(__file__).resolve().parents[1]
PARAMS = (
    'config_path: str = "config/demo.yaml"  # the config\n'
    'snapshot_id: str = ""  # the snapshot (empty: the latest)\n'
    'report_dir: str = ""  # the report folder (empty: a work folder)'
)
FINDINGS = [
    {
        "id": "1",
        "kind": "duplicate",
        "system": "salesforce",
        "object": "Contact",
        "records": ["0031", "0032"],
        "severity": "high",
        "detail": "<script>alert(1)</script> jane.doe@example.com",
    },
    {
        "id": "2",
        "kind": "duplicate",
        "system": "intercom",
        "object": "contact",
        "records": ["a", "b"],
        "severity": "low",
        "detail": "=HYPERLINK(1)",
    },
    {
        "id": "3",
        "kind": "orphan",
        "system": "intercom",
        "object": "contact",
        "records": ["c"],
        "severity": "low",
        "detail": "Zoë",
    },
]


def _nb(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell(PARAMS)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), p, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, str(path))
    return path


def _chain(d: Path, *, pull_fails: bool = False) -> Path:
    d.mkdir()
    pull = (
        "raise RuntimeError('sandbox unreachable at bob.smith@corp.io')"
        if pull_fails
        else "import json, pathlib\n"
        "d = pathlib.Path(report_dir)\n"
        "(d / 'snapshot.json').write_text(json.dumps({'snapshot_id': 'S-fixture'}))\n"
        f"(d / 'findings.jsonl').write_text({''.join(json.dumps(f) + chr(10) for f in FINDINGS)!r})\n"
        "print('pulled')"
    )
    _nb(d / "00_pull.ipynb", pull)
    _nb(
        d / "10_broken.ipynb",
        "assert snapshot_id == 'S-fixture', snapshot_id",
        "raise ValueError('row of bob.smith@corp.io is bad')",
    )
    _nb(
        d / "20_duplicates.ipynb",
        "from syncaudit.report.context import open_context\n"
        "from syncaudit.report import charts, views\n"
        "ctx = open_context(config_path, snapshot_id, report_dir)\n"
        "assert ctx.snapshot_id == 'S-fixture'\n"
        "counts = ctx.counts(by=('kind', 'system'))\n"
        "ctx.figure(charts.bar_chart(counts, 'kind', 'n', color='system', title='Findings'))\n"
        "ctx.table(views.readable_findings(ctx.findings(kinds=('duplicate',))), caption='Duplicates')",
    )
    return d


def offline_sandbox_facts(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    """A sandbox.json for the batch's preflight (connection facts present); nothing listens: the chains here
    are small notebooks that never call an API."""
    from crmsandbox.tls import ensure_tls

    state = tmp / "sandbox-state"
    ca = ensure_tls(state / "tls").ca_cert
    facts = {
        "salesforce": {"instance_url": "https://127.0.0.1:9", "client_id": "c", "client_secret": "s"},
        "intercom": {"base_url": "https://127.0.0.1:9", "token": "t"},
        "ca_cert": str(ca),
    }
    (state / "sandbox.json").write_text(json.dumps(facts))
    mp.setenv("SYNCAUDIT_SANDBOX_DIR", str(state))


def _config(tmp: Path, **gates) -> Path:
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    raw["report"]["out_dir"] = str(tmp / "reports")
    raw["gates"] = gates
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("batch")
    chain = _chain(tmp / "nbs")
    cfg = _config(tmp, max_findings={"duplicate": 1})
    mp = pytest.MonkeyPatch()
    mp.setenv("SYNCAUDIT_NOTEBOOKS_DIR", str(chain))
    offline_sandbox_facts(tmp, mp)
    mp.chdir(tmp)
    # An earlier month, for the trend; and an earlier run of this month, which the new one replaces.
    (tmp / "reports" / "2026-10").mkdir(parents=True)
    (tmp / "reports" / "2026-10" / "metrics.json").write_text(
        json.dumps({"period": "2026-10", "findings": {"total": 1, "by_kind": {"duplicate": 1}}})
    )
    (tmp / "reports" / "2026-11").mkdir()
    (tmp / "reports" / "2026-11" / "stale.txt").write_text("old")
    try:
        code = main(["audit", "--config", str(cfg), "--period", "2026-11"])
    finally:
        mp.undo()
    return {"code": code, "out": tmp / "reports" / "2026-11", "tmp": tmp}


def test_gate_failure_exits_6_and_report_is_complete(batch_run, capsys) -> None:
    assert batch_run["code"] == 6
    out = batch_run["out"]
    for name in (
        "index.html",
        "metrics.json",
        "findings.jsonl",
        "00_pull.html",
        "10_broken.html",
        "20_duplicates.html",
    ):
        assert (out / name).is_file(), name
    for name in ("00_pull", "10_broken", "20_duplicates"):
        assert (out / "executed" / f"{name}.ipynb").is_file()
    assert not (out / "stale.txt").exists()  # the earlier run of the period was replaced whole
    assert not list(out.parent.glob(".2026-11*"))  # no staging folder left behind
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gates"]["passed"] is False
    assert metrics["gates"]["failures"] == ["2 duplicate findings exceed the gate of 1 (gates.max_findings.duplicate)"]
    assert metrics["snapshot_id"] == "S-fixture"
    assert metrics["notebooks"]["10_broken"]["status"] == "failed"
    assert metrics["findings"]["by_kind"] == {"duplicate": 2, "orphan": 1}


def test_failed_notebook_page_shows_the_error_and_index_marks_it(batch_run) -> None:
    out = batch_run["out"]
    page = (out / "10_broken.html").read_text()
    assert "ValueError" in page and "is bad" in page
    assert "bob.smith@corp.io" not in page  # masked even inside a traceback
    assert "Traceback" not in page and "ipykernel" not in page  # one sentence, the traceback went to run.log
    index = (out / "index.html").read_text()
    assert "The run FAILED at step 10_broken (Broken): ValueError: row of b***@corp.io is bad" in index
    assert 'class="failed">failed' in index
    assert "All configured gates passed" not in index
    log = (batch_run["tmp"] / "data" / "work" / "report-2026-11" / "run.log").read_text()
    assert "Traceback" in log and "10_broken" in log
    assert not (out / "run.log").exists()
    assert "exceed the gate" in index
    assert "Plotly.newPlot" in index  # trend against 2026-10


def test_notebook_pages_from_the_chain(batch_run) -> None:
    page = (batch_run["out"] / "20_duplicates.html").read_text()
    assert "Plotly.newPlot" in page
    assert "<script>alert(1)</script>" not in page and "jane.doe@example.com" not in page
    assert "open_context" not in page  # no code


def test_no_file_of_the_report_folder_holds_personal_data(batch_run) -> None:
    """Executed notebooks, findings, JSON: all masked; the run's work folder keeps the raw outputs for analysts."""
    out = batch_run["out"]
    planted = ("bob.smith@corp.io", "jane.doe@example.com")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"executed/10_broken.ipynb", "findings.jsonl", "metrics.json"} <= {
        p.relative_to(out).as_posix() for p in files
    }
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        assert not [v for v in planted if v in text], f.relative_to(out)
    work = batch_run["tmp"] / "data" / "work" / "report-2026-11"
    assert "bob.smith@corp.io" in (work / "executed" / "10_broken.ipynb").read_text()
    assert "jane.doe@example.com" in (work / "findings.jsonl").read_text()
    broken = json.loads((out / "metrics.json").read_text())["notebooks"]["10_broken"]["error"]
    assert "b***@corp.io" in broken  # the error is still shown, masked


def test_plotly_js_is_inlined_once_and_only_where_there_are_charts(batch_run) -> None:
    out = batch_run["out"]
    chart = (out / "20_duplicates.html").read_text(encoding="utf-8")
    assert chart.count("/**\n* plotly.js") == 1 and 'data-plotlyjs="basic"' in chart
    assert "plotly.js" not in (out / "10_broken.html").read_text(encoding="utf-8")
    for nb in (out / "executed").glob("*.ipynb"):
        assert "plotly.js v" not in nb.read_text(encoding="utf-8"), nb.name
    # two pages with charts (1.2 MB of plotly.js each) and two without; ~15 MB when every copy inlined the full plotly.js
    assert sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) < 4_000_000


def test_failed_pull_skips_the_rest(tmp_path, monkeypatch, capsys) -> None:
    chain = _chain(tmp_path / "nbs", pull_fails=True)
    cfg = _config(tmp_path)
    monkeypatch.setenv("SYNCAUDIT_NOTEBOOKS_DIR", str(chain))
    offline_sandbox_facts(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    code = main(["audit", "--config", str(cfg), "--period", "2026-11", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1
    assert "[1/3] 00_pull: running" in err and "[1/3] 00_pull: FAILED" in err  # progress is shown
    assert "[2/3] 10_broken: skipped (no snapshot: the pull did not complete)" in err
    assert "sandbox unreachable at b***@corp.io" in err  # the progress log is masked like the report
    assert "3 notebook(s) did not complete" in err
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert [v["status"] for v in metrics["notebooks"].values()] == ["failed", "skipped", "skipped"]
    assert "sandbox unreachable" in (tmp_path / "r" / "00_pull.html").read_text()


def test_bad_period_is_refused_before_any_work(tmp_path, capsys) -> None:
    cfg = _config(tmp_path)
    assert main(["audit", "--config", str(cfg), "--period", "2026-13"]) == 2
    assert "write the period as YYYY-MM" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_missing_notebook_and_parameters(tmp_path) -> None:
    from syncaudit.errors import ConfigError

    with pytest.raises(ConfigError, match="notebook not found"):
        run_notebook(tmp_path / "nope.ipynb", tmp_path / "out.ipynb", {})
    with pytest.raises(ConfigError, match="no notebooks named"):
        find_notebooks(tmp_path)


def test_every_shipped_notebook_is_thin_and_declares_its_parameters(monkeypatch) -> None:
    monkeypatch.delenv("SYNCAUDIT_NOTEBOOKS_DIR", raising=False)
    monkeypatch.chdir(ROOT)
    shipped = find_notebooks()
    assert [p.stem for p in shipped] == [
        "00_pull", "10_schema_mapping", "20_identity_links", "30_field_drift", "35_rules", "40_duplicates",
        "50_data_quality", "60_fixup_plan", "70_apply", "80_rollback", "90_monthly_summary",
    ]  # fmt: skip
    for path in shipped:
        params = notebook_parameters(path)
        assert {"config_path", "snapshot_id", "report_dir"} <= set(params), path.name
        assert all(p["help"] for p in params.values()), f"{path.name}: every parameter needs a # help comment"
        nb = nbformat.read(str(path), as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(len(c.source.splitlines()) <= 25 for c in code), f"{path.name}: logic belongs in lib/"
        intro = nb.cells[0]
        assert intro.cell_type == "markdown" and "**What to" in intro.source, (
            f"{path.name}: tell the analyst what to do"
        )
        text = "".join(c.source for c in nb.cells).lower()
        for word in ("token", "password", "secret"):
            assert f"{word}:" not in text and f"{word} =" not in text, f"{path.name}: no secret parameters"
