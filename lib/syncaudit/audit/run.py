"""Run every analysis on a snapshot: ``run_audit`` (library) and ``syncaudit findings`` (CLI).

Order matters: links first (drift and conversations use them), duplicates before
orphans (a duplicate of a linked record is not an orphan).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from syncaudit.audit import engine, findings
from syncaudit.audit.context import AuditContext, prepare
from syncaudit.audit.conversations import check_conversations
from syncaudit.audit.drift import profile_drift
from syncaudit.audit.duplicates import find_duplicates
from syncaudit.audit.linking import emit_orphans, link_companies, link_people
from syncaudit.audit.match_fields import check_match_fields
from syncaudit.audit.rules import check_rules
from syncaudit.audit.schema import check_schema
from syncaudit.config import Config
from syncaudit.duckdb_resources import out_of_memory
from syncaudit.errors import ConfigError
from syncaudit.loadfolder import SnapshotDir, convert_load_folder
from syncaudit.mapping import check_mapping, load_metadata
from syncaudit.mapping_log import mapping_spec
from syncaudit.workspace import DataDir


@dataclass
class AuditResult:
    """What an audit run produced; ``con`` keeps the working tables for notebooks (``findings_final``, ``sa_*``)."""

    snapshot_id: str
    out_dir: Path | None
    paths: dict[str, Path]
    metrics: dict[str, Any]
    con: duckdb.DuckDBPyConnection = field(repr=False)

    def findings_df(self):  # noqa: ANN201 - pandas.DataFrame
        return self.con.execute("SELECT * FROM findings_final").df()

    def close(self) -> None:
        """Release the working tables (Spark: its work folder; DuckDB: the in-memory connection)."""
        engine.close(self.con)

    def counts(self) -> dict[str, int]:
        return dict(self.metrics["findings"]["by_kind"])


def resolve_snapshot(cfg: Config, snapshot: Any = None) -> Any:
    """An object with ``.path``, ``.manifest`` and ``.duckdb()``: a snapshot object is used as is; an id or
    path is looked up under ``<data_dir>/snapshots``; a load folder is converted next to the snapshots."""
    if snapshot is not None and not isinstance(snapshot, str | os.PathLike):
        return snapshot
    root = DataDir(cfg).snapshots
    if snapshot is None:
        latest = root / "LATEST"
        if not latest.is_file():
            raise ConfigError(
                f"no complete snapshot under {root}",
                hint="run `syncaudit pull --config ...` first, or pass --snapshot ID|PATH",
            )
        snapshot = latest.read_text(encoding="utf-8").strip()
    p = Path(snapshot)
    if not p.is_dir():
        p = root / str(snapshot)
    if not p.is_dir():
        raise ConfigError(f"snapshot '{snapshot}' not found", hint=f"give a snapshot id under {root} or a folder path")
    if (p / "salesforce").is_dir() and any((p / "salesforce").glob("*.csv")):
        return convert_load_folder(p, root / f"load-{p.resolve().name}", cfg)
    if (p / "manifest.json").is_file():
        status = json.loads((p / "manifest.json").read_text(encoding="utf-8")).get("status")
        if status not in (None, "complete"):
            raise ConfigError(f"snapshot {p} is not complete (status {status!r})", hint="pull again")
    return SnapshotDir(p)


def run_audit(cfg: Config, snapshot: Any = None, out_dir: str | Path | None = None) -> AuditResult:
    """Run all analyses on ``snapshot`` (object, id, path or load folder) and write findings + metrics.

    DuckDB runs within ``audit.memory_limit`` and spills to ``audit.temp_dir`` above it."""
    try:
        return _run_audit(cfg, snapshot, out_dir)
    except duckdb.OutOfMemoryException as exc:
        raise out_of_memory(exc, cfg) from None


def _run_audit(cfg: Config, snapshot: Any, out_dir: str | Path | None) -> AuditResult:
    engine.require(cfg)
    snap = resolve_snapshot(cfg, snapshot)
    snap_path = Path(snap.path)
    md = load_metadata(snap_path)
    check_mapping(cfg.mapping, md)
    check_match_fields(cfg.mapping, md)
    snapshot_id = getattr(snap, "id", None) or snap_path.name
    con = engine.connect(cfg, DataDir(cfg).spark_work_dir(str(snapshot_id)))
    snap.duckdb(con) if _accepts_con(snap) else _copy_views(snap, con)
    ctx = AuditContext(con=con, cfg=cfg, md=md, snapshot_id=str(snapshot_id))
    findings.create_table(con)
    durations: dict[str, float] = {}

    def step(name: str, fn, *a) -> None:  # noqa: ANN001
        t0 = time.perf_counter()
        fn(ctx, *a)
        durations[name] = round(time.perf_counter() - t0, 3)

    manifest = getattr(snap, "manifest", {}) or {}
    step("prepare", prepare)
    step("schema", check_schema)
    step("link_people", link_people)
    step("link_companies", link_companies)
    step("duplicates", find_duplicates)
    step("orphans", emit_orphans)
    step("drift", profile_drift, manifest)
    step("conversations", check_conversations)
    step("rules", check_rules, manifest, snap_path)
    findings.finalize(con, ctx.snapshot_id)
    metrics: dict[str, Any] = {
        "snapshot": ctx.snapshot_id,
        "config_hash": cfg.config_hash(),
        "mapping_spec": mapping_spec(cfg),
        "findings": findings.count_metrics(con),
        "links": dict(con.execute("SELECT how, count(*) FROM sa_links GROUP BY 1 ORDER BY 1").fetchall()),
        "records": {
            "salesforce_people": ctx.count("sa_sf_people"),
            "intercom_contacts": ctx.count("sa_ic_people"),
            "accounts": ctx.count("sa_sf_accounts"),
            "intercom_companies": ctx.count("sa_ic_companies"),
        },
        **ctx.metrics,
        "durations_s": durations,
    }
    paths: dict[str, Path] = {}
    out = None
    if out_dir is not False:
        out = Path(out_dir) if out_dir else DataDir(cfg).findings_dir(ctx.snapshot_id)
        paths = findings.write_findings(con, out)
        paths["metrics"] = out / "metrics.json"
        tmp = out / ".metrics.json.tmp"
        tmp.write_text(json.dumps(metrics, indent=1, default=str), encoding="utf-8")
        tmp.replace(paths["metrics"])
    return AuditResult(snapshot_id=ctx.snapshot_id, out_dir=out, paths=paths, metrics=metrics, con=con)


def _accepts_con(snap: Any) -> bool:
    import inspect

    try:
        return "con" in inspect.signature(snap.duckdb).parameters
    except (TypeError, ValueError):
        return False


def _copy_views(snap: Any, con: duckdb.DuckDBPyConnection) -> None:
    """For snapshot objects whose duckdb() makes its own connection: re-create its views on ours."""
    other = snap.duckdb()
    rows = other.execute(
        "SELECT sql FROM duckdb_views() WHERE NOT internal AND (view_name LIKE 'sf\\_%' ESCAPE '\\' "
        "OR view_name LIKE 'ic\\_%' ESCAPE '\\')"
    ).fetchall()
    for (sql,) in rows:
        con.execute(sql.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))


def cli_findings(args: argparse.Namespace) -> int:
    """``syncaudit findings --config F [--snapshot ID] [--out DIR]``: prints the findings file and counts."""
    res = run_audit(args.cfg, args.snapshot, args.out)
    res.close()
    counts = {k: v for k, v in res.counts().items() if v}
    print(res.paths["jsonl"])
    print(json.dumps({"snapshot": res.snapshot_id, "findings": counts}, ensure_ascii=False))
    return 0
