"""The library entry points the notebooks and the batch call, gathered in one place.

Each step calls another part of syncaudit through its documented entry point
(docs/contracts.md): the pull (``syncaudit.pull.run_pull``), snapshots
(``syncaudit.snapshot.open_snapshot``), the audit (``syncaudit.audit.run.run_audit``),
quality (``syncaudit.quality``) and fix-ups (``syncaudit.changes``). A part that
is not installed fails loudly with NotBuiltError: a report never shows made-up
figures in its place.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syncaudit.config import Config
from syncaudit.errors import NotBuiltError
from syncaudit.report.findings import combine_findings, write_findings
from syncaudit.report.metrics import write_json


def entry_point(module: str, name: str) -> Any:
    """``module.name``, or NotBuiltError naming exactly what is missing."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            raise NotBuiltError(
                f"{module}.{name} is not available in this installation", hint="this step is not built yet"
            ) from None
        raise
    func = getattr(mod, name, None)
    if func is None:
        raise NotBuiltError(f"{module}.{name} is not available in this installation", hint="this step is not built yet")
    return func


def pull_snapshot(cfg: Config, *, full: bool = False) -> Any:
    """Pull both systems into a new snapshot and return it."""
    return entry_point("syncaudit.pull", "run_pull")(cfg, full=full)


def open_snapshot(cfg: Config, snapshot_id: str | None = None) -> Any:
    """An existing complete snapshot (the latest when ``snapshot_id`` is None)."""
    return entry_point("syncaudit.snapshot", "open_snapshot")(cfg, snapshot_id or None)


def run_audit_into(cfg: Config, snapshot: Any, out_dir: Path) -> Path:
    """Run the audit on ``snapshot`` and leave findings.jsonl (and audit_metrics.json) in ``out_dir``.

    The audit itself writes where every part looks for a snapshot's findings (``DataDir.findings_dir``), so
    ``syncaudit plan`` finds what a notebook or the batch produced; ``out_dir`` gets a copy for the report."""
    from syncaudit.workspace import DataDir

    run_audit = entry_point("syncaudit.audit.run", "run_audit")
    params = inspect.signature(run_audit).parameters
    sid = getattr(snapshot, "id", None) or Path(snapshot.path).name
    kwargs = {"out_dir": DataDir(cfg).findings_dir(str(sid))} if "out_dir" in params else {}
    result = run_audit(cfg, snapshot, **kwargs)
    if kwargs:  # the report keeps the audit's own files too (findings.parquet, metrics.json) under audit/
        _link_tree(kwargs["out_dir"], out_dir / "audit")
    target = out_dir / "findings.jsonl"
    _collect_findings(result, target)
    metrics = _attr(result, "metrics")
    if isinstance(metrics, Mapping):
        write_json(dict(metrics), out_dir / "audit_metrics.json")
    return target


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (or copy, across file systems) the files of ``src`` into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file():
            target = dst / f.name
            target.unlink(missing_ok=True)
            try:
                target.hardlink_to(f)
            except OSError:
                shutil.copyfile(f, target)


def _attr(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _collect_findings(result: Any, target: Path) -> None:
    """The audit returns a findings file, a result carrying one, or the findings themselves."""
    if target.is_file():
        return
    paths = _attr(result, "paths")
    source = _attr(result, "findings_path") or (paths.get("jsonl") if isinstance(paths, Mapping) else None)
    if isinstance(result, str | Path):
        source = result
    if source is not None and Path(source).is_file():
        if Path(source).resolve() != target.resolve():
            shutil.copyfile(source, target)
        return
    found = _attr(result, "findings") if not isinstance(result, list) else result
    if found is None:
        raise NotBuiltError(
            "the audit returned no findings file nor findings", hint="run_audit must write or return findings"
        )
    if hasattr(found, "to_dict"):
        found = found.to_dict("records")
    write_findings((f if isinstance(f, Mapping) else _asdict(f) for f in found), target)


def _asdict(obj: Any) -> dict[str, Any]:
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return dict(vars(obj))


def manifest_of(snapshot: Any) -> dict[str, Any]:
    """The snapshot manifest as a plain dict (counts, API calls, durations)."""
    manifest = getattr(snapshot, "manifest", None)
    if isinstance(manifest, Mapping):
        return dict(manifest)
    path = Path(snapshot.path) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8"))


def table_counts(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows per table from a manifest (``tables: {"system/name": {"rows": n}}``)."""
    rows = []
    for key, info in (manifest.get("tables") or {}).items():
        system, _, name = str(key).partition("/")
        n = info.get("rows") if isinstance(info, Mapping) else info
        rows.append({"system": system, "table": name, "rows": int(n) if isinstance(n, int | float) else None})
    return rows


def stream_rows(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per stream: records, API calls and seconds, as the pull recorded them."""
    rows = []
    for key, info in (manifest.get("streams") or {}).items():
        if not isinstance(info, Mapping):
            continue
        rows.append(
            {
                "stream": key,
                "records": info.get("records"),
                "api_calls": info.get("api_calls"),
                "seconds": info.get("duration_s"),
                "bookmark": info.get("bookmark"),
            }
        )
    return rows


def run_quality_into(cfg: Config, snapshot: Any, out_dir: Path) -> dict[str, Any]:
    """Run every expectation suite; results go to ``out_dir/quality/``, the summary is returned.

    The quality part writes quality/{findings.jsonl, metrics.json, index.html (offline Data Docs)}; the
    summary kept in metrics.json is ``pass_rate``, ``suites`` (counts and pass rate each),
    ``critical_failures`` and ``gate_failures``.
    """
    run_and_write = entry_point("syncaudit.quality.cli", "run_and_write")
    expectations_dir = entry_point("syncaudit.quality.cli", "expectations_dir")
    sid = snapshot if isinstance(snapshot, str) else _snapshot_id(snapshot)
    run, gates = run_and_write(cfg, sid, out_dir, expectations_dir(cfg))
    detail = json.loads((out_dir / "quality" / "metrics.json").read_text(encoding="utf-8"))
    overall = detail.get("overall") or {}
    suites = {
        name: {
            k: s.get(k)
            for k in ("dataset", "rows", "expectations", "evaluated", "passed", "failed", "errors", "pass_rate")
        }
        for name, s in (detail.get("suites") or {}).items()
    }
    summary = {
        "pass_rate": overall.get("pass_rate"),
        "expectations": overall.get("expectations"),
        "failed": overall.get("failed"),
        "suites": suites,
        "gate_failures": list(gates),
        "critical_failures": [g for g in gates if g.startswith("critical")],
        "problems": detail.get("problems") or [],
        "docs": "quality/index.html",
    }
    write_json(summary, out_dir / "quality_summary.json")
    if (out_dir / "findings.jsonl").is_file():  # one source of truth: the quality findings join the audit's
        combine_findings(out_dir)
    return summary


def _snapshot_id(snapshot: Any) -> str:
    sid = getattr(snapshot, "id", None)
    return str(sid) if sid else Path(snapshot.path).name


def build_plan_into(cfg: Config, snapshot: Any, findings_path: Path, out_dir: Path) -> dict[str, Any]:
    """Build the fix-up change plan from the findings (no write to any system); returns its summary."""
    build = entry_point("syncaudit.changes.plan", "build_change_plan")
    plan = build(cfg, snapshot, findings_path)
    summary = _attr(plan, "summary")
    summary = summary() if callable(summary) else summary
    if not isinstance(summary, Mapping):
        raise NotBuiltError("the change plan has no summary", hint="see syncaudit.changes.plan")
    # Sample operations carry before/after values (personal data): they stay in the plan, not in the report.
    data = {k: v for k, v in summary.items() if k != "samples"}
    data.setdefault("path", str(_attr(plan, "path") or ""))
    data.setdefault("hash", str(_attr(plan, "hash") or _attr(plan, "plan_hash") or ""))
    write_json(data, out_dir / "plan_summary.json")
    return data


def plan_operations(plan_path: str) -> Any:
    """The operations of a stored plan as a frame, without before/after values (for review tables)."""
    load_plan = entry_point("syncaudit.changes.model", "load_plan")
    frame = entry_point("syncaudit.changes.model", "operations_frame")(load_plan(plan_path))
    return frame.drop(columns=[c for c in ("before", "after") if c in frame.columns])


def apply_plan_dry_run(cfg: Config, plan_path: str, confirm: str) -> dict[str, Any]:
    """Rehearse a confirmed plan: the guards run, nothing is written. Returns the outcome summary."""
    apply = entry_point("syncaudit.changes.apply", "apply_plan")
    outcome = apply(cfg, plan_path, confirm=confirm, execute=False)
    summary = _attr(outcome, "summary")
    summary = summary() if callable(summary) else summary
    return dict(summary) if isinstance(summary, Mapping) else {"outcome": str(outcome)}


def journal_runs(cfg: Config) -> list[dict[str, Any]]:
    """The applied runs recorded in the journal (newest first)."""
    runs = entry_point("syncaudit.changes.journal", "list_runs")(cfg)
    return [dict(r) if isinstance(r, Mapping) else _asdict(r) for r in runs]


def rollback_preview(cfg: Config, run_id: str) -> dict[str, Any]:
    """The rollback plan of an applied run (its before-images), built but not executed."""
    build = entry_point("syncaudit.changes.rollback", "build_rollback_plan")
    plan = build(cfg, run_id)
    summary = _attr(plan, "summary")
    summary = summary() if callable(summary) else summary
    return dict(summary) if isinstance(summary, Mapping) else {"plan": str(plan)}
