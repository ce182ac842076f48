"""`syncaudit plan`: a deterministic change plan from a snapshot, its findings and the fix policies."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncaudit.changes.context import PlanContext
from syncaudit.changes.finding_source import FindingSource
from syncaudit.changes.model import Operation, Plan, publish, summarize_plan
from syncaudit.changes.planfile import PlanFileWriter, PlanSpool, coalesce_pair
from syncaudit.changes.policies import POLICIES
from syncaudit.config import Config
from syncaudit.errors import ConfigError, SyncAuditError


def snapshot_since(snapshot: Any) -> dict[str, Any]:
    """The instant the snapshot started: records changed after it are re-checked before any write."""
    manifest = getattr(snapshot, "manifest", None) or {}
    raw = manifest.get("started_at") or manifest.get("id") or manifest.get("snapshot_id")
    if raw is None and getattr(snapshot, "path", None) is not None:
        raw = Path(snapshot.path).name
    try:
        if isinstance(raw, (int, float)):
            at = datetime.fromtimestamp(float(raw), UTC)
        elif "T" in str(raw) and "-" not in str(raw):
            at = datetime.strptime(str(raw)[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        else:
            at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise SyncAuditError(
            f"cannot tell when snapshot {raw!r} was taken", hint="use a snapshot written by `syncaudit pull`"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return {"salesforce": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "intercom": int(at.timestamp())}


def enabled_policies(cfg: Config, only: list[str] | None) -> list[str]:
    known = list(POLICIES)
    if only:
        bad = [f for f in only if f not in known]
        if bad:
            raise ConfigError(f"unknown fix policy: {', '.join(bad)}", hint=f"choose from: {', '.join(known)}")
        return [p for p in known if p in only]
    out = []
    for name in known:
        if name == "migrations":
            if cfg.fixes.migrations:
                out.append(name)
        elif getattr(cfg.fixes, name).enabled:
            out.append(name)
    return out


def build_change_plan(
    cfg: Config,
    snapshot: Any,
    findings: list[dict[str, Any]] | str | os.PathLike[str],
    fixes: list[str] | None = None,
    *,
    save: bool = True,
) -> Plan:
    """Deterministic: the same snapshot, findings, config and fixes always give the same plan and hash.

    ``findings`` is the list of finding dicts or the path of a findings.jsonl. The plan is stored under
    ``<data_dir>/plans/<hash>/`` unless ``save`` is false.
    """
    # A findings file is read into a DuckDB file and handed to the policies a kind and a batch at a time.
    source = (
        FindingSource.from_file(Path(findings)) if isinstance(findings, (str, os.PathLike)) else FindingSource(findings)
    )
    try:
        return _build(cfg, snapshot, source, fixes, save)
    finally:
        source.close()


def _build(cfg: Config, snapshot: Any, findings: FindingSource, fixes: list[str] | None, save: bool) -> Plan:
    con = snapshot.duckdb()
    ctx = PlanContext(cfg, con, findings, snapshot)
    names = enabled_policies(cfg, fixes)
    if save:
        from syncaudit.changes.apply import plans_dir

        out_dir = plans_dir(cfg)
    else:
        out_dir = Path(tempfile.mkdtemp(prefix="syncaudit-plan-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".plan.", dir=out_dir))
    # Operations go to a DuckDB spool policy by policy (each policy yields them in batches); overlaps are
    # resolved there and the plan file is streamed out, so no plan is ever held whole in memory.
    spool = PlanSpool(tmp)
    try:
        for pidx, name in enumerate(names):
            opts = {} if name == "migrations" else dict(getattr(cfg.fixes, name).options)
            spool.add(pidx, POLICIES[name](ctx, opts))
            ctx.forget()
        dropped = spool.resolve()
        header = {
            "kind": "fixup",
            "config": cfg.name,
            "snapshot_id": _snapshot_id(snapshot),
            "since": snapshot_since(snapshot),
            "policies": names,
            "findings": len(findings),
            "dropped_overlaps": dropped,
        }
        with open(tmp / "plan.jsonl", "w", encoding="utf-8") as fh:
            writer = PlanFileWriter(fh, header)
            spool.write_to(writer)
    except BaseException:
        spool.close()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written is left behind
        raise
    spool.close()
    summary = writer.summary(header)
    folder = publish(tmp, out_dir, header, writer.hash, summary)
    return Plan(header, None, folder, plan_hash=writer.hash, summary=summary)


def coalesce(ops: list[Operation]) -> list[Operation]:
    """One update per record (in memory; the planner does the same in DuckDB, see planfile.py): Salesforce
    refuses a record twice in one call, and a second write would see the first as a concurrent change.
    Updates of a lead that is merged away are dropped (the merge supersedes them)."""
    merged = {(o.system, o.object, o.key) for o in ops if o.op == "merge"}
    out: list[Operation] = []
    first: dict[tuple[str, str, str | None], int] = {}
    for op in ops:
        target = (op.system, op.object, op.key)
        if op.op != "update":
            out.append(op)
            continue
        if target in merged:
            continue
        if target not in first:
            first[target] = len(out)
            out.append(op)
            continue
        out[first[target]] = coalesce_pair(out[first[target]], op)
    return out


def _snapshot_id(snapshot: Any) -> str | None:
    manifest = getattr(snapshot, "manifest", None) or {}
    sid = manifest.get("id") or manifest.get("snapshot_id")
    if sid is None and getattr(snapshot, "path", None) is not None:
        sid = Path(snapshot.path).name
    return str(sid) if sid is not None else None


def read_findings(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SyncAuditError(f"no findings at {path}", hint="run `syncaudit findings --config F` first")
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise SyncAuditError(f"{path} line {n} is not JSON", hint="re-run `syncaudit findings`") from None
    return out


def cli_plan(args: argparse.Namespace) -> int:
    """`syncaudit plan --config F [--snapshot ID] [--fixes ...]`: write the plan, print its path and hash."""
    from syncaudit.snapshot import open_snapshot

    cfg: Config = args.cfg
    snap = open_snapshot(cfg, snapshot_id=getattr(args, "snapshot", None))
    from syncaudit.workspace import DataDir

    # The audit (`syncaudit findings`, the notebooks, the batch) leaves a snapshot's findings in one place.
    candidates = [DataDir(cfg).findings_file(snap.id), Path(snap.path) / "findings.jsonl"]
    fpath = next((p for p in candidates if p.is_file()), candidates[0])
    plan = build_change_plan(cfg, snap, fpath, getattr(args, "fixes", None))
    from syncaudit.changes.apply import plans_dir

    folder = plan.save(plans_dir(cfg))
    s = summarize_plan(plan)
    print(f"plan: {folder}")
    print(f"hash: {plan.hash}")
    print(
        f"{s['writes']} writes, {s['reviews']} review items; "
        + ", ".join(f"{k} {v}" for k, v in s["by_target"].items())
    )
    from syncaudit.changes.apply import print_irreversible

    print_irreversible(s.get("irreversible") or [])
    print(f"review it, then: syncaudit apply --config {cfg.source_path} --plan {folder} --confirm {plan.hash}")
    return 0
