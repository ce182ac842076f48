"""`syncaudit verify`: re-read every record a run touched and compare it with the plan's after-values."""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from syncaudit.changes.apply import journal_for
from syncaudit.changes.journal import Journal
from syncaudit.changes.model import Operation, load_plan
from syncaudit.changes.writer_api import Writer, same_value
from syncaudit.config import Config
from syncaudit.errors import ConfigError, SyncAuditError
from syncaudit.writes import WriterSource, resolve_writers


@dataclass
class VerifyReport:
    run_id: str
    checked: int = 0
    matched: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


WINDOW = 20_000  # operations verified together: bounds memory; each window reads its targets once
# What verify and rollback read of a journal row.
_ROW = "seq, state, outcome, error_code, detail, new_id"


def run_operations(journal: Journal, run_id: str) -> tuple[dict[str, Any], list[tuple[dict[str, Any], Operation]]]:
    """The run's journal rows joined with the plan's operations (rows with an outcome only), all at once."""
    run, windows = run_windows(journal, run_id)
    return run, [item for window in windows for item in window]


def run_windows(
    journal: Journal, run_id: str, size: int | None = None
) -> tuple[dict[str, Any], Iterator[list[tuple[dict[str, Any], Operation]]]]:
    """The run's journal rows with an outcome joined with the plan's operations, ``size`` at a time in seq order:
    the journal is read by keyset pages and the plan file streamed alongside (a merge on seq), so neither is
    held whole."""
    run = journal.run(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id!r} in the journal", hint="pass --run with an id `syncaudit apply` printed")
    plan = load_plan(run["plan_path"])
    size = size or WINDOW

    def windows() -> Iterator[list[tuple[dict[str, Any], Operation]]]:
        ops = (item for batch in plan.iter_batches() for item in batch)
        window: list[tuple[dict[str, Any], Operation]] = []
        for page in journal.done_rows(run_id, columns=_ROW):
            for row in page:
                for seq, op in ops:
                    if seq == row["seq"]:
                        window.append((row, op))
                        break
                else:
                    raise SyncAuditError(
                        f"run {run_id} journals operation {row['seq']}, which plan {run['plan_hash']} does not have",
                        hint="the plan folder was replaced after the run; restore it from a backup",
                    )
                if len(window) >= size:
                    yield window
                    window = []
        if window:
            yield window

    return run, windows()


LARGE = 200  # above this many records, read "what changed since the run started" instead of record by record


def read_touched(writer: Writer, obj: str, ops: list[Operation], started_at: float) -> tuple[dict[str, Any], bool]:
    """Current state of the records a run touched. For large Salesforce sets, one query for everything changed
    since the run started (a few calls per 2,000 records) instead of one call per 200; the flag says so."""
    if writer.system == "salesforce" and len(ops) > LARGE and all(o.op == "update" for o in ops):
        return writer.current(obj, ops, started_at - 1), True
    return writer.current(obj, ops, None), False


def verify_run(
    cfg: Config, run_id: str, *, writers: WriterSource = None, journal: Journal | None = None
) -> VerifyReport:
    """Read back every created/updated/merged record of ``run_id`` and report each field that differs."""
    journal = journal or journal_for(cfg, must_exist=True)
    run, windows = run_windows(journal, run_id)
    report = VerifyReport(run_id)
    known: dict[str, Writer] = {}
    for rows in windows:
        _verify_window(cfg, run, rows, writers, known, report)
    journal.event(run_id, "verified", {"checked": report.checked, "mismatches": len(report.mismatches)})
    return report


def _verify_window(
    cfg: Config,
    run: dict[str, Any],
    rows: list[tuple[dict[str, Any], Operation]],
    writers: WriterSource,
    known: dict[str, Writer],
    report: VerifyReport,
) -> None:
    """Read back the records of one window of the run and add what differs to ``report``."""
    touched = [(row, op) for row, op in rows if row["outcome"] in {"updated", "created", "merged", "deleted"}]
    systems = {op.system for _, op in touched} - set(known)
    if systems:
        known.update(resolve_writers(cfg, writers, systems))
    groups: dict[tuple[str, str], list[tuple[dict[str, Any], Operation]]] = defaultdict(list)
    for row, op in touched:
        key = row["new_id"] if op.op == "upsert" else op.key
        groups[(op.system, op.object)].append((row, replace(op, key=key)))
    for (system, obj), items in groups.items():
        cur, changed_only = read_touched(known[system], obj, [op for _, op in items if op.key], run["started_at"])
        for row, op in items:
            report.checked += 1
            rec = cur.get(op.key) if op.key else None
            if changed_only and op.key not in cur and op.op == "update":
                problems = [{"field": "(record)", "expected": "modified by the run", "actual": "unchanged"}]
            elif op.op in {"merge", "delete"}:
                problems = [] if rec is None else [{"field": "(record)", "expected": "gone", "actual": "present"}]
            elif rec is None:
                problems = [{"field": "(record)", "expected": "present", "actual": "missing"}]
            else:
                problems = [
                    {"field": f, "expected": v, "actual": rec.get(f)}
                    for f, v in op.after.items()
                    if not same_value(rec.get(f), v)
                ]
            if row.get("error_code") == "CONCURRENT_CHANGE":
                # Intercom has no conditional update: the write's answer showed that someone else wrote the record
                # after it was re-read; a value of theirs in one of our fields was overwritten (or may have been).
                problems.append(
                    {"field": "(concurrent write)", "expected": "no other write before ours", "actual": row["detail"]}
                )
            if problems:
                report.mismatches.append(
                    {"seq": row["seq"], "system": system, "object": obj, "key": op.key, "problems": problems}
                )
            else:
                report.matched += 1


def cli_verify(args: argparse.Namespace) -> int:
    rep = verify_run(args.cfg, args.run, writers=getattr(args, "writers", None))
    print(f"run {rep.run_id}: {rep.checked} records checked, {rep.matched} as planned, {len(rep.mismatches)} differ")
    for m in rep.mismatches[:50]:
        detail = "; ".join(f"{p['field']}: expected {p['expected']!r}, found {p['actual']!r}" for p in m["problems"])
        print(f"  {m['system']} {m['object']} {m['key']}: {detail}")
    return 0 if rep.ok else 8
