"""The notebook API: a config's workspace, its snapshots, findings, plans and review.

    from syncaudit import Workspace
    ws = Workspace.open("config/demo.yaml")
    ws.snapshots()                              # snapshot ids, oldest first
    snap = ws.snapshot()                        # the newest (or ws.snapshot("20261101T060000Z"))
    snap.sql('SELECT "Email", count(*) FROM sf_Contact GROUP BY 1 HAVING count(*) > 1')   # pandas
    snap.findings(kind="duplicate", severity="high", record="003...")
    snap.person("ada@example.com")             # both systems side by side, links, findings, history
    snap.company("example.com")
    review = ws.review()                        # the newest plan's review items (syncaudit.changes.review)

Everything reads what the commands wrote: snapshots through ``open_snapshot`` (DuckDB views ``sf_<Object>`` and
``ic_<name>`` with incremental delta layers applied), the findings file of ``syncaudit findings`` (as the view
``findings``), the plans of ``syncaudit plan``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncaudit.changes.review_files import findings_file, plans_dir, snapshots_root
from syncaudit.errors import SyncAuditError


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Workspace:
    """A config's data dir, seen from a notebook."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    @classmethod
    def open(cls, config: str | Path | Any = "config/demo.yaml") -> Workspace:
        """Open the workspace of a config file (or of a loaded Config)."""
        if isinstance(config, (str, Path)):
            import os

            from syncaudit.config import load_config, load_dotenv_file

            # A kernel started in notebooks/ works from the project root, like the report notebooks
            # (report.context.project_root_from, not imported: it loads pandas): the config's relative paths
            # (data_dir) are relative to where make and cron run.
            cwd = Path.cwd()
            if cwd.name == "notebooks" and (cwd.parent / "config").is_dir():
                os.chdir(cwd.parent)
            load_dotenv_file()
            return cls(load_config(config))
        return cls(config)

    @property
    def layout(self) -> Any:
        """The data_dir layout (syncaudit.workspace.DataDir): where snapshots, findings, plans and the journal are."""
        from syncaudit.workspace import DataDir

        return DataDir(self.cfg)

    @property
    def data_dir(self) -> Path:
        return self.layout.root

    def snapshots(self) -> list[str]:
        """The complete snapshots' ids, oldest first."""
        from syncaudit.snapshot import list_snapshots

        root = snapshots_root(self.cfg)
        return sorted(list_snapshots(root)) if root.is_dir() else []

    def snapshot(self, snapshot_id: str | None = None) -> SnapshotView:
        """A snapshot (the newest complete one by default), ready for SQL."""
        from syncaudit.snapshot import open_snapshot

        return SnapshotView(self, open_snapshot(self.cfg, snapshot_id))

    def plans(self) -> Any:
        """The stored change plans (newest first) as a DataFrame: hash, snapshot, writes, reviews, decided from."""
        import json

        import pandas as pd

        rows = []
        root = plans_dir(self.cfg)
        for folder in root.iterdir() if root.is_dir() else []:
            try:
                header = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
                summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            rows.append(
                {
                    "hash": folder.name,
                    "snapshot": header.get("snapshot_id"),
                    "writes": summary.get("writes"),
                    "reviews": summary.get("reviews"),
                    "base_plan": header.get("base_plan"),
                    "decisions": (folder / "decisions.jsonl").is_file(),
                    "saved": pd.Timestamp((folder / "plan.json").stat().st_mtime, unit="s", tz="UTC"),
                    "path": str(folder),
                }
            )
        cols = ["hash", "snapshot", "writes", "reviews", "base_plan", "decisions", "saved", "path"]
        return pd.DataFrame(rows, columns=cols).sort_values("saved", ascending=False, ignore_index=True)

    def review(self, plan: str | Path | None = None, **kw: Any) -> Any:
        """The review of a plan (its hash or folder; default: the newest plan that is not a decided one)."""
        from syncaudit.changes.review import Review

        return Review.open(self.cfg, plan, **kw)

    def __repr__(self) -> str:
        snaps = self.snapshots()
        return f"Workspace {self.cfg.name!r} at {self.data_dir}: {len(snaps)} snapshots" + (
            f", newest {snaps[-1]}" if snaps else ""
        )


class SnapshotView:
    """One snapshot's tables as DuckDB views, plus its findings, for questions of one's own."""

    def __init__(self, workspace: Workspace, snapshot: Any) -> None:
        self.workspace = workspace
        self.cfg = workspace.cfg
        self.snapshot = snapshot
        self.id = str(snapshot.id)
        self.con = snapshot.duckdb()
        self.con.execute("SET enable_progress_bar = false")
        self._findings_source = self._register_findings()

    def _register_findings(self) -> Path | None:
        jsonl = findings_file(self.cfg, self.id, Path(self.snapshot.path))
        parquet = jsonl.with_name("findings.parquet")
        if parquet.is_file():
            self.con.execute(f"CREATE VIEW findings AS SELECT * FROM read_parquet({_lit(str(parquet))})")
            return parquet
        if jsonl.is_file():
            self.con.execute(f"CREATE VIEW findings AS SELECT * FROM read_json_auto({_lit(str(jsonl))})")
            return jsonl
        return None

    @property
    def has_findings(self) -> bool:
        return self._findings_source is not None

    def tables(self) -> list[str]:
        """The views ``sql`` can query: sf_<Object>, ic_<name> and findings."""
        rows = self.con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        """Run a DuckDB query on the snapshot's views; the result as a pandas DataFrame."""
        import duckdb

        try:
            return self.con.execute(query, params or []).df()
        except duckdb.Error as exc:
            raise SyncAuditError(
                f"the query failed: {str(exc).splitlines()[0]}",
                hint=f"the views are: {', '.join(self.tables())}",
            ) from None

    def findings(
        self, kind: str | None = None, severity: str | None = None, record: str | list[str] | None = None
    ) -> Any:
        """The snapshot's findings as a DataFrame, filtered by kind, severity and record id(s)."""
        if self._findings_source is None:
            raise SyncAuditError(
                f"snapshot {self.id} has no findings yet",
                hint=f"run `syncaudit findings --config {self.cfg.source_path} --snapshot {self.id}`",
            )
        clauses, params = [], []
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        if severity:
            clauses.append("severity = ?")
            params.append(severity)
        if record:
            clauses.append("list_has_any(records, ?)")
            params.append([record] if isinstance(record, str) else list(record))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self.con.execute(f"SELECT * FROM findings {where} ORDER BY kind, system, object, id", params).df()

    def person(self, query: str) -> Any:
        """A person by id (either system) or email: both systems' records side by side, links, findings, history."""
        from syncaudit.explore.records import record_card

        return record_card(self, query, "person")

    def company(self, query: str) -> Any:
        """A company by id, name or web domain, shown the same way."""
        from syncaudit.explore.records import record_card

        return record_card(self, query, "company")

    def __repr__(self) -> str:
        return f"Snapshot {self.id} ({len(self.tables())} views: {', '.join(self.tables())})"
