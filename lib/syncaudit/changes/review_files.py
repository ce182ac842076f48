"""Where review reads and writes in a config's data dir: the one place the review and the notebook API name
the data_dir layout (snapshots, findings, plans, journal). When ``syncaudit.workspace.DataDir`` is the owner of
that layout, these functions become calls to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def data_dir(cfg: Any) -> Path:
    return cfg.resolve_path(cfg.data_dir)


def snapshots_root(cfg: Any) -> Path:
    return data_dir(cfg) / "snapshots"


def findings_file(cfg: Any, snapshot_id: str | None, snapshot_path: Path | None = None) -> Path:
    """The findings.jsonl `syncaudit findings` wrote for a snapshot (or one inside the snapshot folder)."""
    candidates = [data_dir(cfg) / "findings" / str(snapshot_id) / "findings.jsonl"]
    if snapshot_path is not None:
        candidates.append(Path(snapshot_path) / "findings.jsonl")
    return next((p for p in candidates if p.is_file()), candidates[0])


def plans_dir(cfg: Any) -> Path:
    return data_dir(cfg) / "plans"


def journal_file(cfg: Any) -> Path:
    return data_dir(cfg) / "journal.sqlite"


def decisions_file(plan_folder: Path) -> Path:
    return Path(plan_folder) / "decisions.jsonl"
