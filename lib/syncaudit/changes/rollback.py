"""`syncaudit rollback`: restore a run's before-images as a plan of its own — reviewed, confirmed, journaled.

Only fields still holding the values the run wrote are restored (each rollback operation carries the record's
current version, so a later edit by anyone is skipped, not overwritten). Created records are deleted.
Intercom merges cannot be undone; they are listed as irreversible.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from syncaudit.changes.apply import apply_plan, journal_for, plans_dir, print_result
from syncaudit.changes.journal import Journal
from syncaudit.changes.model import Operation, Plan, load_plan
from syncaudit.changes.verify import read_touched, run_operations
from syncaudit.changes.writer_api import same_value
from syncaudit.config import Config
from syncaudit.errors import GuardError
from syncaudit.writes import WriterSource, resolve_writers


def plan_rollback(cfg: Config, run_id: str, *, writers: WriterSource = None, journal: Journal | None = None) -> Plan:
    """The plan that undoes ``run_id``; records changed since the run are listed as not restorable."""
    journal = journal or journal_for(cfg, must_exist=True)
    run, rows = run_operations(journal, run_id)
    # Taken before the reads below: anything changed after them is newer than this and gets re-checked at apply.
    now = datetime.now(UTC) - timedelta(seconds=1)
    since = {"salesforce": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "intercom": int(now.timestamp())}
    done = [(row, op) for row, op in rows if row["outcome"] in {"updated", "created", "merged"}]
    writers = resolve_writers(cfg, writers, {op.system for _, op in done if op.op != "merge"})
    ops: list[Operation] = []
    not_restorable: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[tuple[dict[str, Any], Operation]]] = defaultdict(list)
    for row, op in done:
        if op.op == "merge":
            not_restorable.append({"seq": row["seq"], "key": op.key, "why": "Intercom merges cannot be undone"})
            continue
        if op.op == "upsert" and row["outcome"] != "created":
            why = "the upsert matched an existing record; its earlier values were not captured"
            not_restorable.append({"seq": row["seq"], "key": row["new_id"] or op.key, "why": why})
            continue
        groups[(op.system, op.object)].append((row, replace(op, key=row["new_id"]) if op.op == "upsert" else op))
    for (system, obj), items in sorted(groups.items()):
        cur, changed_only = read_touched(writers[system], obj, [op for _, op in items if op.key], run["started_at"])
        for row, op in sorted(items, key=lambda x: x[0]["seq"]):
            rec = cur.get(op.key) if op.key else None
            if changed_only and op.key not in cur:
                not_restorable.append({"seq": row["seq"], "key": op.key, "why": "not modified by the run"})
                continue
            if rec is None:
                not_restorable.append({"seq": row["seq"], "key": op.key, "why": "the record no longer exists"})
                continue
            if not all(same_value(rec.get(f), v) for f, v in op.after.items()):
                not_restorable.append({"seq": row["seq"], "key": op.key, "why": "changed since the run"})
                continue
            current = {f: rec.get(f) for f in op.after}
            if op.op == "upsert":
                ops.append(
                    Operation(
                        system,
                        obj,
                        op.key,
                        "delete",
                        {},
                        current,
                        rec.get("_version"),
                        op.finding_id,
                        f"rollback:{op.policy}",
                        note=f"created by {run_id}",
                    )
                )
            else:
                ops.append(
                    Operation(
                        system,
                        obj,
                        op.key,
                        "update",
                        dict(op.before),
                        current,
                        rec.get("_version"),
                        op.finding_id,
                        f"rollback:{op.policy}",
                        note=f"restores {run_id}",
                    )
                )
    header = {
        "kind": "rollback",
        "of_run": run_id,
        "of_plan": run["plan_hash"],
        "config": cfg.name,
        "since": since,
        "not_restorable": not_restorable,
    }
    ops.sort(key=lambda o: (o.system, o.object, o.op))  # each target's writes together (apply streams them)
    plan = Plan(header, ops)
    plan.save(plans_dir(cfg))
    journal.event(run_id, "rollback_planned", {"plan": plan.hash, "operations": len(ops)})
    return plan


def build_rollback_plan(cfg: Config, run_id: str) -> Plan:
    """Alias of :func:`plan_rollback` (the name the report notebooks use)."""
    return plan_rollback(cfg, run_id)


def cli_rollback(args: argparse.Namespace) -> int:
    """Without --confirm: write the rollback plan and print its hash. With it: apply (dry run unless --execute)."""
    cfg: Config = args.cfg
    writers = getattr(args, "writers", None)  # handed in by the command (syncaudit.apply_command)
    if not args.confirm:
        plan = plan_rollback(cfg, args.run, writers=writers)
        print(f"rollback plan: {plan.path}")
        print(f"hash: {plan.hash}")
        print(f"{len(plan.writes)} records to restore; {len(plan.header['not_restorable'])} not restorable")
        for item in plan.header["not_restorable"][:20]:
            print(f"  not restorable: {item['key']}: {item['why']}")
        print(f"then: syncaudit rollback --config {cfg.source_path} --run {args.run} --confirm {plan.hash} --execute")
        return 0
    folder = plans_dir(cfg) / args.confirm.strip()
    if not (folder / "plan.jsonl").is_file():
        raise GuardError(
            f"no rollback plan with hash {args.confirm}",
            hint="run `syncaudit rollback --run R` without --confirm first and use the hash it prints",
        )
    plan = load_plan(folder)
    if plan.header.get("of_run") != args.run:
        raise GuardError(f"plan {plan.hash} does not roll back run {args.run}", hint="check --run and --confirm")
    res = apply_plan(
        cfg, plan, args.confirm, dry_run=not args.execute, kind="rollback", parent_run=args.run, writers=writers
    )
    print_result(res)
    return 0 if not res.failed else 7
