"""Apply a confirmed change plan: guards, optimistic concurrency, journaled exactly-once writes, resume.

For every batch: re-read the targets (records changed since the snapshot are skipped, never overwritten),
journal the intent, send, journal the outcomes. A restarted apply resumes the plan's unfinished run: bulk
jobs it had started are awaited and harvested, in-doubt operations are settled by reading the target record
(an update whose after-values are there is done; an upsert whose External ID exists is done; a merged-away lead is
merged), and only what is provably not applied is sent again.
"""

from __future__ import annotations

import argparse
import fcntl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncaudit.changes.engine import ApplyEngine
from syncaudit.changes.journal import Journal
from syncaudit.changes.model import Plan, load_plan
from syncaudit.changes.writer_api import Writer
from syncaudit.config import Config
from syncaudit.errors import ConfigError, GuardError, QuotaExhaustedError
from syncaudit.workspace import DataDir
from syncaudit.writes import WriterSource, resolve_writers


@dataclass
class RunResult:
    run_id: str | None
    plan_hash: str
    dry_run: bool
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    would_write: dict[str, int] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    concurrent: list[dict[str, Any]] = field(default_factory=list)  # written, but someone wrote it meanwhile
    api_calls: dict[str, int] = field(default_factory=dict)
    message: str = ""
    irreversible: list[dict[str, Any]] = field(default_factory=list)  # listed by a dry run before any apply

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary for notebooks and reports."""
        return {
            "run_id": self.run_id,
            "plan_hash": self.plan_hash,
            "dry_run": self.dry_run,
            "status": self.status,
            "counts": dict(self.counts),
            "would_write": dict(self.would_write),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "concurrent": len(self.concurrent),
            "api_calls": dict(self.api_calls),
            "message": self.message,
            "irreversible": list(self.irreversible),
        }


def journal_for(cfg: Config, *, must_exist: bool = False) -> Journal:
    """The journal of this config's data dir; with ``must_exist``, a missing journal is an error, not created."""
    path = DataDir(cfg).journal
    if must_exist and not path.is_file():
        raise ConfigError(
            f"no journal at {path}: nothing has been applied with this configuration",
            hint="check --config (its data_dir), or apply a plan first",
        )
    return Journal(path)


def plans_dir(cfg: Config) -> Path:
    return DataDir(cfg).plans


def check_guards(cfg: Config, plan: Plan, confirm: str | None, counts: dict[str, int] | None = None) -> None:
    """Refuse unless the confirmation matches, the change count is under the cap and targets are allowed."""
    if not confirm or confirm.strip() != plan.hash:
        raise GuardError(
            f"confirmation {confirm!r} does not match the plan's hash",  # never reveal the right hash
            hint="review the plan (summary.json), then pass --confirm with the hash `syncaudit plan` printed",
        )
    counts = plan.write_counts() if counts is None else counts
    n = sum(counts.values())
    if n > cfg.apply.max_changes:
        raise GuardError(
            f"the plan has {n} changes, more than apply.max_changes ({cfg.apply.max_changes})",
            hint="narrow the plan with --fixes, or raise apply.max_changes in the config after review",
        )
    systems = {k.split(".", 1)[0] for k in counts}
    for system in sorted(systems):
        section = getattr(cfg, system, None)
        production = bool(section is not None and section.production and cfg.sandbox is None)
        if production and not cfg.apply.allow_production:
            raise GuardError(
                f"the plan writes to {system}, which the config marks as production",
                hint="set apply.allow_production: true in the config if this is really intended",
            )


def apply_plan(
    cfg: Config,
    plan: Plan | str | Path,
    confirm: str | None,
    *,
    dry_run: bool = True,
    writers: WriterSource = None,
    journal: Journal | None = None,
    kind: str = "apply",
    parent_run: str | None = None,
    execute: bool | None = None,
) -> RunResult:
    """Apply ``plan`` after checking the guards. Dry run (the default) checks and counts, and writes nothing.

    ``writers``: a mapping system -> writer, or a callable ``systems -> writers``; None builds the real ones
    (:func:`syncaudit.writes.resolve_writers`), which also checks the org's production facts before any write.

    ``execute=True`` is the same as ``dry_run=False`` (the CLI's --execute)."""
    if execute is not None:
        dry_run = not execute
    if not isinstance(plan, Plan):
        plan = load_plan(plan)
    if not confirm or confirm.strip() != plan.hash:
        check_guards(cfg, plan, confirm, {})  # refuses at once, before reading the operations
    would = plan.write_counts()
    check_guards(cfg, plan, confirm, would)
    if dry_run:
        return RunResult(
            None,
            plan.hash,
            True,
            "dry_run",
            would_write=dict(would),
            message="dry run: nothing written; add --execute to apply",
            irreversible=irreversible_operations(plan),
        )
    own_journal = journal is None
    journal = journal or journal_for(cfg)
    lock_path = (plan.path or plans_dir(cfg) / plan.hash) / ".apply.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GuardError(
                f"another apply of plan {plan.hash} is running", hint="wait for it to finish, then run again"
            ) from None
        try:
            return _execute(cfg, plan, journal, writers, kind, parent_run, dict(would))
        finally:
            if own_journal:
                journal.close()


def _execute(
    cfg: Config,
    plan: Plan,
    journal: Journal,
    writers: WriterSource,
    kind: str,
    parent_run: str | None,
    would: dict[str, int],
) -> RunResult:
    runs = journal.runs_for_plan(plan.hash)
    complete = [r for r in runs if r["status"] == "complete"]
    if complete:
        rid = complete[-1]["run_id"]
        return RunResult(
            rid,
            plan.hash,
            False,
            "complete",
            counts=journal.counts(rid),
            would_write=would,
            message=f"plan {plan.hash} was already applied in run {rid}; nothing to do",
        )
    open_runs = [r for r in runs if r["status"] != "complete"]
    run_id = (
        open_runs[-1]["run_id"]
        if open_runs
        else journal.start_run(plan.hash, str(plan.path or ""), kind=kind, parent_run=parent_run)
    )
    if open_runs:
        journal.event(run_id, "resumed")
    systems = {k.split(".", 1)[0] for k in would}
    live: dict[str, Writer] = resolve_writers(cfg, writers, systems)
    engine = ApplyEngine(plan, journal, run_id, live, would)
    batch = {"salesforce": max(cfg.apply.bulk_threshold, 200), "intercom": 100}
    if "salesforce" in live:
        batch["salesforce"] = getattr(live["salesforce"], "batch_size", batch["salesforce"])
    try:
        engine.run(batch)
    except QuotaExhaustedError as exc:
        journal.finish_run(run_id, "stopped", {"reason": str(exc)})
        raise
    except BaseException as exc:
        journal.finish_run(run_id, "interrupted", {"reason": f"{type(exc).__name__}: {exc}"})
        raise
    counts = journal.counts(run_id)
    journal.finish_run(run_id, "complete", counts)
    skipped = journal.ops_with_outcome(run_id, "skipped")
    failed = journal.ops_with_outcome(run_id, "failed")
    concurrent = journal.ops_with_code(run_id, "CONCURRENT_CHANGE")
    return RunResult(
        run_id,
        plan.hash,
        False,
        "complete",
        counts=counts,
        would_write=would,
        skipped=skipped,
        failed=failed,
        concurrent=concurrent,
        api_calls={s: w.calls for s, w in live.items()},
        message=f"run {run_id}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
    )


def irreversible_operations(plan: Plan) -> list[dict[str, Any]]:
    """Every operation of the plan that cannot be undone (one streamed pass)."""
    from syncaudit.changes.model import IRREVERSIBLE, irreversible_item

    return [irreversible_item(seq, op) for seq, op in plan.iter_writes() if op.op in IRREVERSIBLE]


def print_irreversible(items: list[dict[str, Any]]) -> None:
    if not items:
        return
    print(f"  irreversible: {len(items)} operation(s) that rollback cannot undo:")
    for i in items:
        print(f"    merge Intercom {i['object']} {i['key']} into {i['into']} (finding {i['finding_id']})")


def print_result(res: RunResult) -> None:
    print(res.message)
    if res.dry_run:
        print_irreversible(res.irreversible)
        if res.irreversible:
            print("  (an Intercom merge deletes the merged lead: no rollback can bring it back)")
        for k, v in sorted(res.would_write.items()):
            print(f"  would {k.rsplit('.', 1)[1]} {v} {k.rsplit('.', 1)[0]}")
        return
    for item in res.skipped[:20]:
        print(
            f"  skipped {item['system']} {item['object']} {item['record_key']}: {item['error_code']} {item['detail']}"
        )
    for item in res.failed[:20]:
        print(
            f"  failed  {item['system']} {item['object']} {item['record_key']}: {item['error_code']} {item['detail']}"
        )
    for item in res.concurrent[:20]:
        print(f"  check   {item['system']} {item['object']} {item['record_key']}: {item['detail']}")
    if res.concurrent:
        print(f"  {len(res.concurrent)} records were written by someone else meanwhile: run `syncaudit verify`")
    if res.run_id:
        print(f"run: {res.run_id}")


def cli_apply(args: argparse.Namespace) -> int:
    """`syncaudit apply` without preflight (the command itself is :func:`syncaudit.apply_command.cli_apply`)."""
    res = apply_plan(args.cfg, args.plan, args.confirm, dry_run=not args.execute)
    print_result(res)
    return 0 if not res.failed else 7
