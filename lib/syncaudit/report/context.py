"""What a notebook opens first: the config, one snapshot, the report folder, and safe display.

Every notebook starts with ``ctx = open_context(config_path, snapshot_id, report_dir)``.
Notebooks run from the project root (JupyterLab starts their kernel in
notebooks/; we step up), so relative paths in the config mean the same thing
in the lab, under papermill and under cron. Artifacts shared by the notebooks of
one run (findings.jsonl, quality results, the plan summary) live in the report
folder; opened interactively without one, a work folder per snapshot is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from syncaudit.config import Config, load_config, load_dotenv_file
from syncaudit.errors import ConfigError
from syncaudit.offline import configure_offline
from syncaudit.report import display
from syncaudit.report.findings import count_findings, sample_findings
from syncaudit.report.masking import PersonalKind, mask_findings, personal_fields

SNAPSHOT_FILE = "snapshot.json"


def project_root_from(cwd: Path) -> Path:
    """The project root when a kernel was started in its notebooks/ folder, else ``cwd``."""
    if cwd.name == "notebooks" and (cwd.parent / "config").is_dir():
        return cwd.parent
    return cwd


@dataclass
class NotebookContext:
    """The config, snapshot and report folder a notebook works on, plus masked, escaped display."""

    cfg: Config
    config_path: str
    snapshot_id: str | None
    explicit_report_dir: Path | None = None
    _snapshot: Any = field(default=None, repr=False)

    @property
    def report_dir(self) -> Path:
        """The run's report folder; opened by hand, a work folder per snapshot (so a new pull starts fresh)."""
        if self.explicit_report_dir is not None:
            folder = self.explicit_report_dir
        else:
            sid = self.snapshot_id or snapshot_id_of(self.snapshot)
            from syncaudit.workspace import DataDir

            folder = DataDir(self.cfg).work_dir(sid)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # ------------------------------------------------------------ inputs

    @property
    def mask(self) -> bool:
        return self.cfg.report.mask_personal_data

    @cached_property
    def personal(self) -> dict[str, PersonalKind]:
        """Mapping field name -> personal kind (email, phone, name)."""
        return personal_fields(self.cfg.mapping.fields)

    @property
    def snapshot(self) -> Any:
        """The snapshot (``syncaudit.snapshot.open_snapshot``), opened once."""
        if self._snapshot is None:
            from syncaudit.report.steps import open_snapshot

            self._snapshot = open_snapshot(self.cfg, self.snapshot_id)
            self.snapshot_id = snapshot_id_of(self._snapshot)
        return self._snapshot

    @property
    def findings_path(self) -> Path:
        """findings.jsonl of this run, produced by the audit on first use."""
        path = self.report_dir / "findings.jsonl"
        if not path.is_file():
            from syncaudit.report.steps import run_audit_into

            run_audit_into(self.cfg, self.snapshot, self.report_dir)
        return path

    def use_snapshot(self, snapshot: Any) -> None:
        """Work on ``snapshot`` from now on and record it (id and manifest) in the report folder."""
        from syncaudit.report.metrics import write_json
        from syncaudit.report.steps import manifest_of

        self._snapshot = snapshot
        self.snapshot_id = snapshot_id_of(snapshot)
        write_json({"snapshot_id": self.snapshot_id, "path": str(snapshot.path)}, self.report_dir / SNAPSHOT_FILE)
        write_json(manifest_of(snapshot), self.report_dir / "manifest.json")

    def audit_metrics(self) -> dict[str, Any]:
        """The audit's own figures (agreement rates, drift score...) when it wrote them."""
        self.findings_path  # noqa: B018 - make sure the audit ran
        return read_json(self.report_dir / "audit_metrics.json") or {}

    def counts(self, by: tuple[str, ...] = ("kind", "system"), kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
        """Findings per group, optionally limited to some kinds."""
        return count_findings(self.findings_path, by=by, kinds=kinds)

    def findings(
        self, kinds: tuple[str, ...] | None = None, limit: int | None = None, where: str | None = None
    ) -> pd.DataFrame:
        """A sample of findings for display, personal data masked when the config says so."""
        n = self.cfg.report.sample_rows if limit is None else limit
        df = sample_findings(self.findings_path, kinds=kinds, limit=n, where=where)
        return mask_findings(df, self.personal) if self.mask else df

    # ------------------------------------------------------------ display

    @cached_property
    def links(self) -> dict[str, Any]:
        """Record URL bases (Salesforce instance, Intercom app) recorded for this run, or learnt now."""
        from syncaudit.report.worklists import link_bases, read_links

        found = read_links(self.report_dir)
        if not found:
            try:
                found = link_bases(self.cfg, self.snapshot)
            except Exception:  # noqa: BLE001 - without a base, record ids are shown as plain text
                found = {}
        return found

    def table(self, df: pd.DataFrame, **kwargs: Any) -> None:
        kwargs.setdefault("mask", self.mask)
        kwargs.setdefault("links", self.links)
        kwargs.setdefault("max_rows", max(self.cfg.report.sample_rows, 1))
        display.show_table(df, **kwargs)

    def link(self, href: str, text: str) -> None:
        """A link to a file of the report folder (relative, so the folder can be moved), when it exists."""
        if (self.report_dir / href).is_file():
            display.show_link(href, text)
        else:
            display.show_note(f"{text}: not available in this run.")

    def figure(self, fig: Any) -> None:
        display.show_figure(fig)

    def headline(self, figures: dict[str, object]) -> None:
        display.show_headline(figures)

    def note(self, text: str, level: str = "info") -> None:
        display.show_note(text, level)


def open_context(config_path: str, snapshot_id: str = "", report_dir: str = "") -> NotebookContext:
    """Load the config and locate the report folder; the snapshot opens lazily on first use."""
    configure_offline()
    root = project_root_from(Path.cwd())
    if root != Path.cwd():
        os.chdir(root)
    load_dotenv_file()
    if not config_path:
        raise ConfigError("no config given", hint="set the notebook parameter config_path, e.g. config/demo.yaml")
    cfg = load_config(config_path)
    sid = snapshot_id.strip() or None
    folder = Path(report_dir) if report_dir else None
    if sid is None and folder is not None:
        recorded = read_json(folder / SNAPSHOT_FILE)
        sid = recorded.get("snapshot_id") if recorded else None
    return NotebookContext(cfg=cfg, config_path=config_path, snapshot_id=sid, explicit_report_dir=folder)


def snapshot_id_of(snapshot: Any) -> str:
    """A snapshot's id: its manifest's ``snapshot_id``/``id``, else its folder name."""
    manifest = getattr(snapshot, "manifest", None) or {}
    for key in ("snapshot_id", "id"):
        if isinstance(manifest, dict) and manifest.get(key):
            return str(manifest[key])
    return Path(snapshot.path).name


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it is absent."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", file=str(path), hint="delete it and re-run the step") from None
    return data if isinstance(data, dict) else None
