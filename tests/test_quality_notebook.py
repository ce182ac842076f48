"""The suite editor: its library side, and a papermill smoke run of notebooks/55_suite_editor.ipynb."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from quality_snapshot import write_snapshot
from syncaudit.config import load_config
from syncaudit.errors import ConfigError
from syncaudit.quality.editor import open_suite, preview, suite_table
from syncaudit.quality.suites import add_expectation

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "55_suite_editor.ipynb"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("editor")
    write_snapshot(root / "data", 25)
    text = (ROOT / "config" / "demo.yaml").read_text().replace("data_dir: data/demo", f"data_dir: {root / 'data'}")
    (root / "cfg.yaml").write_text(text)
    shutil.copytree(ROOT / "expectations", root / "expectations")
    return root


def test_editor_lists_and_previews_an_edited_suite(project: Path) -> None:
    cfg = load_config(project / "cfg.yaml")
    suite = open_suite("sf_Contact", project / "expectations", cfg)
    table = suite_table(suite)
    assert len(table) == len(suite.expectations) and table["generated"].any() and not table["generated"].all()
    add_expectation(suite, "expect_column_values_to_not_be_null", column="No_Such__c")
    _, results = preview(cfg, suite)
    assert (results["status"] == "FAIL").sum() == 7
    last = results.iloc[-1]
    assert last["status"] == "error" and "No_Such__c" in last["error"]
    with pytest.raises(ConfigError, match="pick one of"):
        open_suite("sf_Nope", project / "expectations", cfg)


def test_parameters_cell_is_tagged_and_papermill_style() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    for line in "".join(tagged[0]["source"]).splitlines():
        assert ": " in line and " = " in line and "  # " in line, line


@pytest.mark.slow
def test_notebook_runs_under_papermill(project: Path, tmp_path: Path, monkeypatch) -> None:
    import papermill as pm

    # The kernel is a subprocess: point it at this worktree's package.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "lib"), os.environ.get("PYTHONPATH", "")]))
    target = project / "expectations" / "sf_Lead.json"
    target.write_text(target.read_text().replace("\n", "\n "))  # reformat: saving must normalise it
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={
            "config_path": str(project / "cfg.yaml"),
            "suite_name": "sf_Lead",
            "expectations_dir": str(project / "expectations"),
            "save": True,
        },
        kernel_name="python3",
        progress_bar=False,
        cwd=str(project),
    )
    text = out.read_text()
    assert "saved" in text and "sf_Lead.json" in text
    assert json.loads(target.read_text()) == json.loads((ROOT / "expectations" / "sf_Lead.json").read_text())
