"""One data_dir layout (syncaudit.workspace.DataDir) for the CLI, the notebooks and changes/.

The regression first: after the notebooks ran by hand (they audit through NotebookContext), `syncaudit plan`
must find their findings instead of failing with "no findings"."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_support import demo_sandbox
from syncaudit.cli import main
from syncaudit.config import Config
from syncaudit.workspace import DataDir

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_sandbox(tmp_path_factory.mktemp("ws"), size=60, seed=5) as env:
        yield env


def test_plan_finds_the_findings_the_notebooks_wrote(
    demo: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncaudit.report.context import open_context

    cfg_file = str(demo["cfg_file"])
    assert main(["pull", "--config", cfg_file, "--full"]) == 0
    capsys.readouterr()
    monkeypatch.chdir(ROOT)  # where a notebook kernel runs (open_context moves out of notebooks/)
    ctx = open_context(cfg_file)  # a notebook opened by hand: no report_dir, the latest snapshot
    notebook_findings = ctx.findings_path
    assert notebook_findings.is_file()
    layout = DataDir(ctx.cfg)
    assert layout.findings_file(ctx.snapshot_id).is_file()  # the audit's findings are where plan looks
    code = main(["plan", "--config", cfg_file])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(r"^hash: [0-9a-f]{16}$", out, re.M)
    assert out.splitlines()[0].startswith(f"plan: {layout.plans}")


def test_every_part_asks_the_layout(demo: dict[str, Any]) -> None:
    from syncaudit.changes.apply import journal_for, plans_dir
    from syncaudit.quality.cli import expectations_dir
    from syncaudit.snapshot import snapshots_root

    cfg: Config = demo["cfg"]
    d = DataDir(cfg)
    assert d.root == Path(demo["raw"]["data_dir"])
    assert snapshots_root(cfg) == d.snapshots == d.root / "snapshots"
    assert plans_dir(cfg) == d.plans
    journal = journal_for(cfg)
    try:
        assert Path(journal.path) == d.journal
    finally:
        journal.close()
    assert expectations_dir(cfg) == d.expectations


def test_expectations_are_per_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCAUDIT_EXPECTATIONS_DIR", raising=False)
    monkeypatch.chdir(ROOT)
    demo = Config.model_validate({"name": "demo", "sandbox": {}, "data_dir": str(tmp_path / "d")})
    assert DataDir(demo).expectations == Path("expectations")  # the demo's own suites
    other = Config.model_validate({"name": "acme", "sandbox": {}, "data_dir": str(tmp_path / "a")})
    assert DataDir(other).expectations == tmp_path / "a" / "expectations"  # never the demo's
    named = Config.model_validate(
        {"name": "acme", "sandbox": {}, "data_dir": str(tmp_path / "a"), "quality": {"expectations_dir": "suites/x"}}
    )
    assert DataDir(named).expectations == Path("suites/x")


def test_another_org_never_runs_the_demo_suites(
    demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SYNCAUDIT_EXPECTATIONS_DIR", raising=False)
    monkeypatch.chdir(ROOT)  # expectations/ (the demo's suites) is right here
    raw = dict(demo["raw"], name="acme-sandbox")
    import yaml

    cfg_file = tmp_path / "acme.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    code = main(["quality", "run", "--config", str(cfg_file), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "no suite files" in err and "regenerate" in err
    assert str(Path(raw["data_dir"]) / "expectations") in err
    assert os.path.isdir(ROOT / "expectations")  # the demo's suites were there, and were not used
    # Suites generated for this org go to its own folder, and then run.
    if not (Path(raw["data_dir"]) / "snapshots" / "LATEST").is_file():
        assert main(["pull", "--config", str(cfg_file), "--full"]) == 0
    assert main(["quality", "regenerate", "--config", str(cfg_file)]) == 0
    own = sorted(p.name for p in (Path(raw["data_dir"]) / "expectations").glob("*.json"))
    assert "sf_Contact.json" in own
    capsys.readouterr()
    code = main(["quality", "run", "--config", str(cfg_file), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code in (0, 6), err  # ran (a gate may fail on generated data), not "no suites"
    assert f"{len(own)} suites" in out
