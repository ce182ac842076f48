"""Apply a confirmed change plan: guards, optimistic concurrency, journaled exactly-once writes, resume.

For every batch: re-read the targets (records changed since the snapshot are skipped, never overwritten),
journal the intent, send, journal the outcomes. A restarted apply resumes the plan's unfinished run: bulk
jobs it had started are awaited and harvested, in-doubt operations are settled by reading the target record
(an update whose after-values are there is done; a create whose match exists is done; a merged-away lead is
merged), and only what is provably not applied is sent again.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncaudit.changes.journal import Journal
from syncaudit.changes.model import Operation, Plan, load_plan
from syncaudit.changes.writer_api import Writer, WriteResult, same_value, version_key
from syncaudit.config import Config
from syncaudit.errors import GuardError, QuotaExhaustedError, SyncAuditError

MAX_ATTEMPTS = 3  # per operation, for transient per-record refusals (UNABLE_TO_LOCK_ROW)
MAX_SENDS = 8  # per operation, for sends that got no answer (each re-send only after reading shows it did not land)
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})


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
    api_calls: dict[str, int] = field(default_factory=dict)
    message: str = ""

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
            "api_calls": dict(self.api_calls),
            "message": self.message,
        }


def journal_for(cfg: Config, *, must_exist: bool = False) -> Journal:
    """The journal of this config's data dir; with ``must_exist``, a missing journal is an error, not created."""
    path = cfg.resolve_path(cfg.data_dir) / "journal.sqlite"
    if must_exist and not path.is_file():
        raise SyncAuditError(
            f"no journal at {path}: nothing has been applied with this configuration",
            hint="check --config (its data_dir), or apply a plan first",
        )
    return Journal(path)


def plans_dir(cfg: Config) -> Path:
    return cfg.resolve_path(cfg.data_dir) / "plans"


def check_guards(cfg: Config, plan: Plan, confirm: str | None) -> None:
    """Refuse unless the confirmation matches, the change count is under the cap and targets are allowed."""
    if not confirm or confirm.strip() != plan.hash:
        raise GuardError(
            f"confirmation {confirm!r} does not match the plan's hash {plan.hash}",
            hint="review the plan (summary.json), then pass --confirm with the hash `syncaudit plan` printed",
        )
    n = len(plan.writes)
    if n > cfg.apply.max_changes:
        raise GuardError(
            f"the plan has {n} changes, more than apply.max_changes ({cfg.apply.max_changes})",
            hint="narrow the plan with --fixes, or raise apply.max_changes in the config after review",
        )
    systems = {op.system for _, op in plan.writes}
    for system in sorted(systems):
        section = getattr(cfg, system, None)
        production = bool(section is not None and section.production and cfg.sandbox is None)
        if production and not cfg.apply.allow_production:
            raise GuardError(
                f"the plan writes to {system}, which the config marks as production",
                hint="set apply.allow_production: true in the config if this is really intended",
            )


def _kill_hook(point: str) -> None:
    """Test hook: SYNCAUDIT_CHANGES_KILL_AT=<point>:<n> SIGKILLs this process at the n-th time ``point`` passes."""
    spec = os.environ.get("SYNCAUDIT_CHANGES_KILL_AT")
    if not spec:
        return
    want, _, n = spec.partition(":")
    if want != point:
        return
    counts = _kill_hook.__dict__.setdefault("counts", defaultdict(int))
    counts[point] += 1
    if counts[point] == int(n or 1):
        os.kill(os.getpid(), signal.SIGKILL)


class _Engine:
    def __init__(self, plan: Plan, journal: Journal, run_id: str, writers: dict[str, Writer]) -> None:
        self.plan = plan
        self.journal = journal
        self.run_id = run_id
        self.writers = writers
        self.skipped: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.attempts: dict[int, int] = defaultdict(int)

    # -------------------------------------------------------- outcomes

    def _record(self, results: list[tuple[int, Operation, str, str | None, str | None, str | None]]) -> None:
        if not results:
            return
        self.journal.outcomes(self.run_id, results)
        for seq, op, outcome, code, detail, _ in results:
            item = {"seq": seq, "system": op.system, "object": op.object, "key": op.key, "code": code, "detail": detail}
            if outcome == "skipped":
                self.skipped.append(item)
            elif outcome == "failed":
                self.failed.append(item)

    # -------------------------------------------------------- concurrency

    def _conflicts(self, writer: Writer, obj: str, batch: list[tuple[int, Operation]], since: Any) -> set[int]:
        checkable = [(s, o) for s, o in batch if o.op in {"update", "delete", "merge"} and o.key]
        if not checkable:
            return set()
        cur = writer.current(obj, [o for _, o in checkable], since)
        out = []
        for seq, op in checkable:
            if op.key not in cur:
                continue
            rec = cur[op.key]
            if rec is None:
                out.append((seq, op, "skipped", "RECORD_GONE", "the record no longer exists", None))
                continue
            moved = op.version is not None and version_key(rec.get("_version")) != version_key(op.version)
            differs = [f for f, v in op.before.items() if f in rec and not same_value(rec[f], v)]
            if moved or differs:
                why = f"fields changed: {', '.join(differs)}" if differs else "record modified after the snapshot"
                out.append((seq, op, "skipped", "CHANGED_SINCE_SNAPSHOT", why, None))
        self._record(out)
        return {s for s, *_ in out}

    # -------------------------------------------------------- in-doubt settlement

    def _settle(self, writer: Writer, obj: str, batch: list[tuple[int, Operation]]) -> list[tuple[int, Operation]]:
        """Decide in-doubt operations by reading the targets; returns those provably not applied."""
        resend: list[tuple[int, Operation]] = []
        done = []
        keyed = [(s, o) for s, o in batch if o.op != "create" and o.key]
        cur = writer.current(obj, [o for _, o in keyed], None) if keyed else {}
        for seq, op in batch:
            if op.op == "create":
                found = writer.find_created(op)
                if found:
                    done.append((seq, op, "created", None, "settled: found after an interrupted call", found))
                else:
                    resend.append((seq, op))
                continue
            rec = cur.get(op.key)
            if op.op in {"delete", "merge"}:
                if rec is None:
                    done.append((seq, op, "deleted" if op.op == "delete" else "merged", None, "settled", None))
                else:
                    resend.append((seq, op))
                continue
            if rec is None:
                done.append((seq, op, "skipped", "RECORD_GONE", "the record no longer exists", None))
            elif all(same_value(rec.get(f), v) for f, v in op.after.items()):
                done.append((seq, op, "updated", None, "settled: the write had landed", None))
            elif all(same_value(rec.get(f), v) for f, v in op.before.items()):
                resend.append((seq, op))
            else:
                done.append((seq, op, "skipped", "CHANGED_SINCE_SNAPSHOT", "changed by someone else meanwhile", None))
        self._record(done)
        return resend

    # -------------------------------------------------------- sending

    def _send(self, writer: Writer, obj: str, kind: str, batch: list[tuple[int, Operation]]) -> None:
        pending = batch
        while pending:
            for seq, _ in pending:
                self.attempts[seq] += 1
            self.journal.intent(self.run_id, pending)
            _kill_hook("intent")

            def on_job(job_id: str, state: str, _b: list[tuple[int, Operation]] = pending) -> None:
                self.journal.job(self.run_id, job_id, writer.system, obj, [s for s, _ in _b], state)
                if state == "uploaded":
                    _kill_hook("job")

            results = writer.write(obj, kind, pending, on_job)
            _kill_hook("sent")
            pending = self._handle(writer, obj, pending, results)

    def _handle(
        self, writer: Writer, obj: str, batch: list[tuple[int, Operation]], results: list[WriteResult]
    ) -> list[tuple[int, Operation]]:
        by_seq = dict(batch)
        final, again, doubt = [], [], []
        for r in results:
            op = by_seq[r.seq]
            if r.outcome == "in_doubt":
                doubt.append((r.seq, op))
            elif r.outcome == "retry" or (r.outcome == "failed" and r.code in RETRYABLE_CODES):
                if self.attempts[r.seq] < MAX_ATTEMPTS:
                    again.append((r.seq, op))
                else:
                    final.append((r.seq, op, "failed", r.code, r.detail, None))
            else:
                final.append((r.seq, op, r.outcome, r.code, r.detail, r.new_id))
        self._record(final)
        _kill_hook("outcome")
        if doubt:
            resend = self._settle(writer, obj, doubt)
            for seq, op in resend:
                if self.attempts[seq] < MAX_SENDS:
                    again.append((seq, op))
                else:
                    detail = f"no answer after {MAX_SENDS} attempts; reading shows nothing was written"
                    self._record([(seq, op, "failed", "NO_ANSWER", detail, None)])
        return sorted(again, key=lambda x: x[0])

    # -------------------------------------------------------- the run

    def resume_open(self, ops_by_seq: dict[int, Operation]) -> None:
        """Harvest bulk jobs and settle in-doubt operations left by an interrupted run of this plan."""
        for job in self.journal.open_jobs(self.run_id):
            writer = self.writers[job["system"]]
            batch = [(s, ops_by_seq[s]) for s in job["seqs"]]
            results = writer.finish_job(job["object"], job["job_id"], batch)
            state = self.journal.state_map(self.run_id)
            if results is not None:
                open_results = [r for r in results if state.get(r.seq, ("", 0))[0] != "done"]
                again = self._handle(
                    writer,
                    job["object"],
                    [(s, o) for s, o in batch if s in {r.seq for r in open_results}],
                    open_results,
                )
                if again:  # rows the job did not process, or locked rows: send them again
                    self._send(writer, job["object"], again[0][1].op, again)
            self.journal.job(self.run_id, job["job_id"], job["system"], job["object"], job["seqs"], "done")
        state = self.journal.state_map(self.run_id)
        doubt = defaultdict(list)
        for seq, (st, attempts) in state.items():
            if st == "intent":
                op = ops_by_seq[seq]
                doubt[(op.system, op.object)].append((seq, op))
                self.attempts[seq] = attempts
        for (system, obj), items in doubt.items():
            writer = self.writers[system]
            resend = self._settle(writer, obj, items)
            by_kind = defaultdict(list)
            for seq, op in resend:
                by_kind[op.op].append((seq, op))
            for kind, b in by_kind.items():
                self._send(writer, obj, kind, b)

    def run(self, batch_size: dict[str, int]) -> None:
        ops_by_seq = dict(self.plan.writes)
        self.resume_open(ops_by_seq)
        state = self.journal.state_map(self.run_id)
        groups: dict[tuple[str, str, str], list[tuple[int, Operation]]] = defaultdict(list)
        for seq, op in self.plan.writes:
            if state.get(seq, ("", 0))[0] == "done":
                continue
            groups[(op.system, op.object, op.op)].append((seq, op))
        since = self.plan.header.get("since") or {}
        for (system, obj, kind), items in groups.items():
            writer = self.writers[system]
            sizer = getattr(writer, "chunk_size", None)
            size = sizer(kind, len(items)) if sizer else batch_size.get(system, 200)
            for i in range(0, len(items), size):
                chunk = items[i : i + size]
                skip = self._conflicts(writer, obj, chunk, since.get(system))
                todo = [(s, o) for s, o in chunk if s not in skip]
                if kind == "create":
                    todo = self._dedupe_creates(writer, todo)
                if todo:
                    self._send(writer, obj, kind, todo)

    def _dedupe_creates(self, writer: Writer, todo: list[tuple[int, Operation]]) -> list[tuple[int, Operation]]:
        out, done = [], []
        for seq, op in todo:
            found = writer.find_created(op) if op.match else None
            if found:
                done.append((seq, op, "skipped", "ALREADY_EXISTS", "a matching record exists", found))
            else:
                out.append((seq, op))
        self._record(done)
        return out


def build_writers(cfg: Config, systems: set[str]) -> dict[str, Writer]:
    """The real writers for the systems a plan touches."""
    out: dict[str, Writer] = {}
    if "salesforce" in systems:
        from syncaudit.sources.salesforce.writer import SalesforceWriter

        out["salesforce"] = SalesforceWriter.from_config(cfg)
    if "intercom" in systems:
        from syncaudit.sources.intercom.writer import IntercomWriter

        out["intercom"] = IntercomWriter.from_config(cfg)
    return out


def apply_plan(
    cfg: Config,
    plan: Plan | str | Path,
    confirm: str | None,
    *,
    dry_run: bool = True,
    writers: dict[str, Writer] | None = None,
    journal: Journal | None = None,
    kind: str = "apply",
    parent_run: str | None = None,
    execute: bool | None = None,
) -> RunResult:
    """Apply ``plan`` after checking the guards. Dry run (the default) checks and counts, and writes nothing.

    ``execute=True`` is the same as ``dry_run=False`` (the CLI's --execute)."""
    if execute is not None:
        dry_run = not execute
    if not isinstance(plan, Plan):
        plan = load_plan(plan)
    check_guards(cfg, plan, confirm)
    would: dict[str, int] = defaultdict(int)
    for _, op in plan.writes:
        would[f"{op.system}.{op.object}.{op.op}"] += 1
    if dry_run:
        return RunResult(
            None,
            plan.hash,
            True,
            "dry_run",
            would_write=dict(would),
            message="dry run: nothing written; add --execute to apply",
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
    writers: dict[str, Writer] | None,
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
    systems = {op.system for _, op in plan.writes}
    writers = writers or build_writers(cfg, systems)
    engine = _Engine(plan, journal, run_id, writers)
    batch = {"salesforce": max(cfg.apply.bulk_threshold, 200), "intercom": 100}
    if "salesforce" in writers:
        batch["salesforce"] = getattr(writers["salesforce"], "batch_size", batch["salesforce"])
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
    return RunResult(
        run_id,
        plan.hash,
        False,
        "complete",
        counts=counts,
        would_write=would,
        skipped=skipped,
        failed=failed,
        api_calls={s: w.calls for s, w in writers.items()},
        message=f"run {run_id}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
    )


def print_result(res: RunResult) -> None:
    print(res.message)
    if res.dry_run:
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
    if res.run_id:
        print(f"run: {res.run_id}")


def cli_apply(args: argparse.Namespace) -> int:
    """`syncaudit apply --config F --plan P --confirm HASH [--execute]`."""
    res = apply_plan(args.cfg, args.plan, args.confirm, dry_run=not args.execute)
    print_result(res)
    return 0 if not res.failed else 7
