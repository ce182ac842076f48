"""Where review and the notebook API read and write in a config's data dir, asked of
:class:`syncaudit.workspace.DataDir` (the one owner of the layout); the decisions file is the plan folder's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncaudit.workspace import DataDir

DECISIONS_FILE = "decisions.jsonl"


def data_dir(cfg: Any) -> Path:
    return DataDir(cfg).root


def snapshots_root(cfg: Any) -> Path:
    return DataDir(cfg).snapshots


def findings_file(cfg: Any, snapshot_id: str | None, snapshot_path: Path | None = None) -> Path:
    """The findings.jsonl `syncaudit findings` wrote for a snapshot (or, as `syncaudit plan` also accepts, one
    inside the snapshot folder)."""
    candidates = [DataDir(cfg).findings_file(str(snapshot_id))]
    if snapshot_path is not None:
        candidates.append(Path(snapshot_path) / "findings.jsonl")
    return next((p for p in candidates if p.is_file()), candidates[0])


def plans_dir(cfg: Any) -> Path:
    return DataDir(cfg).plans


def journal_file(cfg: Any) -> Path:
    return DataDir(cfg).journal


def decisions_file(plan_folder: Path) -> Path:
    return Path(plan_folder) / DECISIONS_FILE
