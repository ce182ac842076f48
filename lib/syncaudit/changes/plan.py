"""`syncaudit plan`: a deterministic change plan from a snapshot, its findings and the fix policies."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncaudit.changes.context import PlanContext
from syncaudit.changes.model import Operation, Plan, summarize_plan
from syncaudit.changes.policies import POLICIES
from syncaudit.config import Config
from syncaudit.errors import ConfigError, SyncAuditError

_KIND_ORDER = {"update": 0, "upsert": 1, "delete": 2, "merge": 3, "review": 4}


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
    if isinstance(findings, (str, os.PathLike)):
        findings = read_findings(Path(findings))
    con = snapshot.duckdb()
    findings = sorted(findings, key=lambda f: (str(f.get("kind")), str(f.get("id"))))
    ctx = PlanContext(cfg, con, findings, snapshot)
    names = enabled_policies(cfg, fixes)
    ops: list[Operation] = []
    claimed: set[tuple[str, str, str | None, str]] = set()
    dropped = 0
    for name in names:
        opts = {} if name == "migrations" else dict(getattr(cfg.fixes, name).options)
        produced = sorted(
            POLICIES[name](ctx, opts),
            key=lambda o: (_KIND_ORDER[o.op], o.system, o.object, str(o.key), json.dumps(o.after, default=str)),
        )
        for op in produced:
            if op.op == "update":
                fields = [(op.system, op.object, op.key, f) for f in op.after]
                if any(f in claimed for f in fields):
                    dropped += 1  # an earlier policy already writes this field of this record
                    continue
                claimed.update(fields)
            ops.append(op)
    ops = coalesce(ops)
    ops.sort(key=lambda o: _KIND_ORDER[o.op])
    header = {
        "kind": "fixup",
        "config": cfg.name,
        "snapshot_id": _snapshot_id(snapshot),
        "since": snapshot_since(snapshot),
        "policies": names,
        "findings": len(findings),
        "dropped_overlaps": dropped,
    }
    plan = Plan(header, ops)
    if save:
        from syncaudit.changes.apply import plans_dir

        plan.save(plans_dir(cfg))
    return plan


def coalesce(ops: list[Operation]) -> list[Operation]:
    """One update per record: Salesforce refuses a record twice in one call, and a second write would see the
    first as a concurrent change. Updates of a lead that is merged away are dropped (the merge supersedes them)."""
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
        i = first[target]
        base = out[i]
        extra = [f for f in (op.finding_id, *op.also_resolves) if f and f != base.finding_id]
        out[i] = replace(
            base,
            after={**base.after, **op.after},
            before={**base.before, **op.before},
            policy=base.policy if op.policy in base.policy.split("+") else f"{base.policy}+{op.policy}",
            also_resolves=[*base.also_resolves, *(f for f in extra if f not in base.also_resolves)],
            note="; ".join(n for n in (base.note, op.note) if n),
        )
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
    # `syncaudit findings` writes <data_dir>/findings/<snapshot id>/findings.jsonl
    candidates = [
        cfg.resolve_path(cfg.data_dir) / "findings" / Path(snap.path).name / "findings.jsonl",
        Path(snap.path) / "findings.jsonl",
    ]
    fpath = next((p for p in candidates if p.is_file()), candidates[0])
    plan = build_change_plan(cfg, snap, read_findings(fpath), getattr(args, "fixes", None))
    from syncaudit.changes.apply import plans_dir

    folder = plan.save(plans_dir(cfg))
    s = summarize_plan(plan)
    print(f"plan: {folder}")
    print(f"hash: {plan.hash}")
    print(
        f"{s['writes']} writes, {s['reviews']} review items; "
        + ", ".join(f"{k} {v}" for k, v in s["by_target"].items())
    )
    print(f"review it, then: syncaudit apply --config {cfg.source_path} --plan {folder} --confirm {plan.hash}")
    return 0
