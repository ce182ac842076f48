"""``syncaudit quality run|regenerate``: the command-line side of the quality part."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from syncaudit.config import Config
from syncaudit.errors import ConfigError, GateFailed
from syncaudit.quality.datasets import SnapshotTables, dataset_columns, open_tables
from syncaudit.quality.generate import generated_suites, regenerate_all
from syncaudit.quality.results import write_outputs
from syncaudit.quality.run import QualityRun, run_quality
from syncaudit.quality.suites import load_suites
from syncaudit.workspace import DataDir


def expectations_dir(cfg: Config | None = None) -> Path:
    """This org pair's suites (:attr:`syncaudit.workspace.DataDir.expectations`): $SYNCAUDIT_EXPECTATIONS_DIR,
    else quality.expectations_dir, else the project's expectations/ for the demo, else <data_dir>/expectations."""
    if cfg is None:
        env = os.environ.get("SYNCAUDIT_EXPECTATIONS_DIR")
        return Path(env) if env else Path("expectations")
    return DataDir(cfg).expectations


def metadata(tables: SnapshotTables, cfg: Config) -> tuple[dict, list, dict[str, list[str]]]:
    """Describe results, data attributes and dataset columns of a snapshot: the inputs of generation."""
    sobjects = {p.salesforce for p in cfg.mapping.objects} | {"Task", "Case", cfg.mapping.conversations.log_as}
    describes = {so: tables.describe(so) for so in sobjects}
    datasets = generated_suites(cfg, describes, tables.data_attributes()).keys()
    columns = {ds: cols for ds in datasets if (cols := dataset_columns(tables, cfg, ds)) is not None}
    return describes, tables.data_attributes(), columns


def run_and_write(cfg: Config, snapshot: str | None, out: Path, suites_dir: Path) -> tuple[QualityRun, list[str]]:
    """Run every suite on the snapshot and write the results; returns the run and its gate failures."""
    import json

    suites, problems = load_suites(suites_dir) if suites_dir.is_dir() else ([], [])
    if not suites and not problems:
        raise ConfigError(
            "no suite files (*.json) here",
            file=str(suites_dir),
            hint="suites are per org pair: run `syncaudit quality regenerate --config ...` to generate this org's "
            "suites here, or name a folder in quality.expectations_dir",
        )
    tables = open_tables(cfg, snapshot)
    run = run_quality(cfg, tables, suites, problems)
    paths = write_outputs(run, cfg, out)
    gates = json.loads(paths["metrics"].read_text(encoding="utf-8"))["gate_failures"]
    return run, gates


def cli_quality(args: argparse.Namespace) -> int:
    """`syncaudit quality run|regenerate`: exit 6 when a gate fails, 2 for broken suites (after running the rest)."""
    cfg: Config = args.cfg
    suites_dir = expectations_dir(cfg)
    if args.quality_command == "regenerate":
        tables = open_tables(cfg, args.snapshot)
        describes, attributes, columns = metadata(tables, cfg)
        suites_dir.mkdir(parents=True, exist_ok=True)
        written = regenerate_all(cfg, suites_dir, describes, attributes, columns)
        for p in written:
            print(p)
        print(f"regenerated {len(written)} suites from snapshot {tables.id}; hand-written expectations kept")
        return 0
    out = Path(args.out) if args.out else Path(cfg.report.out_dir) / datetime.now(UTC).strftime("%Y-%m")
    run, gates = run_and_write(cfg, args.snapshot, out, suites_dir)
    outcomes = run.outcomes()
    failed = sum(o.success is False for o in outcomes)
    errors = sum(o.success is None for o in outcomes)
    print(
        f"{len(run.suites)} suites, {len(outcomes)} expectations on snapshot {run.snapshot_id}: "
        f"{len(outcomes) - failed - errors} passed, {failed} failed, {errors} not evaluated ({run.seconds:.1f} s)"
    )
    print(out / "quality" / "index.html")
    for p in run.problems:
        print(f"syncaudit: suite problem: {p}", file=sys.stderr)
    if gates:
        raise GateFailed(
            f"{len(gates)} quality gate(s) failed:\n  " + "\n  ".join(gates),
            hint="see the Data Docs page above; fix the data or the expectation",
        )
    if run.problems:
        raise ConfigError(
            f"{len(run.problems)} problem(s) in the suites (listed above); the other expectations ran",
            file=str(suites_dir),
            hint="fix the suite files named above",
        )
    return 0
