"""Offline Data Docs, and the `syncaudit quality run|regenerate` commands end to end."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from quality_snapshot import write_snapshot
from syncaudit.cli import main

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config over a small snapshot, and a copy of the committed suites with one hostile hand-written value."""
    root = tmp_path_factory.mktemp("proj")
    write_snapshot(root / "data", 30)
    text = (ROOT / "config" / "demo.yaml").read_text().replace("data_dir: data/demo", f"data_dir: {root / 'data'}")
    (root / "cfg.yaml").write_text(text)
    shutil.copytree(ROOT / "expectations", root / "expectations")
    suite = json.loads((root / "expectations" / "sf_Task.json").read_text())
    suite["expectations"].append(
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "Status", "value_set": [HOSTILE]}}
    )
    (root / "expectations" / "sf_Task.json").write_text(json.dumps(suite))
    return root


def _run(project: Path, monkeypatch, *argv: str) -> int:
    monkeypatch.setenv("SYNCAUDIT_EXPECTATIONS_DIR", str(project / "expectations"))
    return main(["quality", *argv, "--config", str(project / "cfg.yaml")])


@pytest.fixture(scope="module")
def report(project: Path) -> tuple[int, str, str]:
    """One `syncaudit quality run` with a hostile suite value and a broken suite file next to the good ones."""
    import contextlib
    import io
    import os

    broken = project / "expectations" / "zz_broken.json"
    broken.write_text("{oops")
    os.environ["SYNCAUDIT_EXPECTATIONS_DIR"] = str(project / "expectations")
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["quality", "run", "--config", str(project / "cfg.yaml"), "--out", str(project / "report")])
    finally:
        broken.unlink()
        del os.environ["SYNCAUDIT_EXPECTATIONS_DIR"]
    return code, out.getvalue(), err.getvalue()


def test_run_writes_outputs_and_exits_non_zero_on_a_failed_gate(project: Path, report) -> None:
    code, out, err = report
    assert code == 6
    assert "quality gate(s) failed" in err and "be_unique(Id)" in err and "Traceback" not in err
    assert "expectations on snapshot 20261126T120000Z" in out
    for name in ("findings.jsonl", "metrics.json", "index.html"):
        assert (project / "report" / "quality" / name).is_file()
    assert "quality" in json.loads((project / "report" / "metrics.json").read_text())


def test_data_docs_are_self_contained_and_escape_values(project: Path, report) -> None:
    html = (project / "report" / "quality" / "index.html").read_text()
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "no external references"
    assert "url(" not in html and "@import" not in html
    assert "not an email" not in html  # data values stay out; record ids only
    assert "003000000000000003" in html and "sf_Contact" in html


def test_run_reports_a_broken_suite_by_name_and_still_runs_the_rest(project: Path, report) -> None:
    code, _, err = report
    assert code == 6  # the gate decides the exit code; the broken file is listed
    assert "zz_broken.json" in err and "invalid JSON" in err
    metrics = json.loads((project / "report" / "quality" / "metrics.json").read_text())
    assert len(metrics["suites"]) == 10
    assert any("zz_broken.json" in p for p in metrics["problems"])


def test_regenerate_command(project: Path, monkeypatch, capsys) -> None:
    before = json.loads((project / "expectations" / "sf_Task.json").read_text())
    hand = [e for e in before["expectations"] if not (e.get("meta") or {}).get("generated")]
    assert _run(project, monkeypatch, "regenerate") == 0
    out = capsys.readouterr().out
    assert "regenerated 10 suites" in out
    after = json.loads((project / "expectations" / "sf_Task.json").read_text())
    assert [e for e in after["expectations"] if not (e.get("meta") or {}).get("generated")] == hand


def test_no_snapshot_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    text = (ROOT / "config" / "demo.yaml").read_text().replace("data_dir: data/demo", f"data_dir: {tmp_path}")
    (tmp_path / "cfg.yaml").write_text(text)
    monkeypatch.setenv("SYNCAUDIT_EXPECTATIONS_DIR", str(ROOT / "expectations"))
    assert main(["quality", "run", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no complete snapshot" in err and "syncaudit pull" in err


def test_an_empty_expectations_folder_is_a_clear_error(project: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SYNCAUDIT_EXPECTATIONS_DIR", str(tmp_path))
    assert main(["quality", "run", "--config", str(project / "cfg.yaml"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no suite files" in err and "quality regenerate" in err
