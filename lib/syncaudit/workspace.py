"""The one owner of the data_dir layout: where snapshots, findings, plans, the journal and work folders live.

Every part (CLI, notebooks, audit, quality, fix-ups, reports) asks :class:`DataDir` for a path instead of
building one, so the findings a notebook writes are the findings ``syncaudit plan`` reads::

    <data_dir>/
      snapshots/<id>/ , <id>.partial/ , LATEST     pulls (syncaudit.snapshot)
      findings/<snapshot id>/findings.jsonl        the audit's findings for a snapshot (+ .parquet, metrics.json)
      plans/<hash>/                                change plans (syncaudit.changes)
      journal.sqlite                               the change journal
      work/<snapshot id>/                          a notebook opened by hand works here
      work/report-<name>/                          the batch's work folder for report <name> (e.g. 2026-11)
      expectations/                                this org pair's suites (unless quality.expectations_dir)

Paths in the config are relative to the working directory (where make or cron runs).
"""

from __future__ import annotations

import os
from pathlib import Path

from syncaudit.config import Config

DEMO_CONFIG_NAME = "demo"
FINDINGS_FILE = "findings.jsonl"


class DataDir:
    """The layout of one config's data_dir."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.root = cfg.resolve_path(cfg.data_dir)

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    def findings_dir(self, snapshot_id: str) -> Path:
        """Where the audit of ``snapshot_id`` leaves findings.jsonl, findings.parquet and metrics.json."""
        return self.root / "findings" / snapshot_id

    def findings_file(self, snapshot_id: str) -> Path:
        return self.findings_dir(snapshot_id) / FINDINGS_FILE

    @property
    def plans(self) -> Path:
        return self.root / "plans"

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite"

    def work_dir(self, snapshot_id: str) -> Path:
        """The folder of a notebook opened by hand on ``snapshot_id`` (a new pull starts a fresh one)."""
        return self.root / "work" / snapshot_id

    def spark_work_dir(self, snapshot_id: str) -> Path:
        """``audit.engine: spark``: the intermediate Parquet tables of one audit run (removed when it ends)."""
        return self.root / "work" / "spark" / f"{snapshot_id}-{os.getpid()}"

    def report_work_dir(self, name: str) -> Path:
        """The batch's work folder for the report ``name`` (e.g. 2026-11)."""
        return self.root / "work" / f"report-{name}"

    @property
    def expectations(self) -> Path:
        """This org pair's expectation suites.

        ``quality.expectations_dir`` when the config names one (or $SYNCAUDIT_EXPECTATIONS_DIR); for the demo
        config the project's expectations/ folder; for any other config ``<data_dir>/expectations``, so the
        demo's suites never run against another org (``syncaudit quality regenerate`` fills it)."""
        env = os.environ.get("SYNCAUDIT_EXPECTATIONS_DIR")
        if env:
            return Path(env)
        if self.cfg.quality.expectations_dir:
            return self.cfg.resolve_path(self.cfg.quality.expectations_dir)
        if self.cfg.name == DEMO_CONFIG_NAME:
            here = Path("expectations")
            if here.is_dir() or not self.cfg.source_path:
                return here
            return Path(self.cfg.source_path).resolve().parent.parent / "expectations"
        return self.root / "expectations"
