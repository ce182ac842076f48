"""`syncaudit pull --full` with config/demo.yaml against a 50,000-person generated sandbox (the issue's case).

Tasks pass bulk_threshold and come back through Bulk API 2.0 as CSV, with multi-line transcripts holding
quotes, commas and emoji; every one must arrive exactly as the load folder has it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crmsandbox.testing import RunningSandbox, generated_load_dir, running_sandbox
from syncaudit.config import load_config
from syncaudit.pull import run_pull

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # about 40 s: generate, load and pull 50,000 people a side


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSandbox, Path]]:
    load = generated_load_dir(50_000, 1)
    with running_sandbox(load_dir=load, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb, load


def test_full_pull_with_the_demo_config_reads_every_transcript(
    sandbox: tuple[RunningSandbox, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb, load = sandbox
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", sb["state_dir"])
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp_path)})
    snap = run_pull(cfg, full=True, out=io.StringIO(), bars=False)
    streams = snap.manifest["streams"]
    assert streams["salesforce/Task"]["method"] == "bulk2"  # the path that failed
    with open(load / "salesforce" / "Task.csv", newline="", encoding="utf-8") as f:
        expected = {r["Id"]: r["Description"] or None for r in csv.DictReader(f)}
    table = pq.read_table(snap.table_path("salesforce", "Task"), columns=["Id", "Description"])
    got = dict(zip(table["Id"].to_pylist(), table["Description"].to_pylist(), strict=True))
    assert len(got) == len(expected) > cfg.pull.bulk_threshold
    assert got == expected
    multi = [d for d in got.values() if d and "\n" in d]
    assert len(multi) > len(got) // 2 and any('"' in d for d in multi) and any("👍" in d for d in multi)
