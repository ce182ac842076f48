"""The apply state machine: per batch, re-check targets, journal the intent, send, journal the outcomes; on
restart, harvest bulk jobs and settle in-doubt operations by reading the targets before anything is re-sent."""

from __future__ import annotations

import os
import signal
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from syncaudit.changes.journal import PAGE_KEYS, Journal
from syncaudit.changes.model import Operation, Plan
from syncaudit.changes.writer_api import Writer, WriteResult, same_value, version_key

MAX_ATTEMPTS = 3  # per operation, for transient per-record refusals (UNABLE_TO_LOCK_ROW)
MAX_SENDS = 8  # per operation, for sends that got no answer (each re-send only after reading shows it did not land)
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})


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


class ApplyEngine:
    def __init__(
        self,
        plan: Plan,
        journal: Journal,
        run_id: str,
        writers: dict[str, Writer],
        counts: dict[str, int] | None = None,
    ) -> None:
        self.plan = plan
        # writes per "system.object.op": sizes the batches of each target (Bulk API for large ones)
        self.counts = plan.write_counts() if counts is None else counts
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
            self.attempts.pop(seq, None)  # final: the count is kept only while an operation is open
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
        keyed = [(s, o) for s, o in batch if o.op != "upsert" and o.key]
        cur = writer.current(obj, [o for _, o in keyed], None) if keyed else {}
        upserts = [o for _, o in batch if o.op == "upsert"]
        found: dict[tuple[str, str], tuple[str, Any]] = {}
        for field in sorted({next(iter(o.match)) for o in upserts}):
            values = sorted({str(o.key) for o in upserts if next(iter(o.match)) == field})
            found.update({(field, v): hit for v, hit in writer.find_external(obj, field, values).items()})
        started = (self.journal.run(self.run_id) or {}).get("started_at") or 0
        for seq, op in batch:
            if op.op == "upsert":
                hit = found.get((next(iter(op.match)), str(op.key)))
                if hit is None:
                    resend.append((seq, op))  # provably not applied; and an upsert re-sent cannot duplicate
                elif (version_key(hit[1]) or 0) >= started - 1:  # the record carrying this External ID exists:
                    done.append((seq, op, "created", None, "settled: found by its external id", hit[0]))
                else:  # it existed before this run: the upsert updated it (nothing of ours to delete on rollback)
                    done.append((seq, op, "updated", None, "settled: an existing record has this external id", hit[0]))
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
        versions = [(r.seq, r.version) for r in results if r.version is not None]
        if versions:
            self.journal.versions(self.run_id, versions)
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

    def resume_open(self) -> None:
        """Harvest bulk jobs and settle in-doubt operations left by an interrupted run of this plan."""
        jobs = self.journal.open_jobs(self.run_id)
        doubtful = list(self.journal.in_state(self.run_id, "intent"))
        if not jobs and not doubtful:
            return
        ops_by_seq = self.plan.ops_at([s for j in jobs for s in j["seqs"]] + doubtful)
        for job in jobs:
            writer = self.writers[job["system"]]
            batch = [(s, ops_by_seq[s]) for s in job["seqs"]]
            results = writer.finish_job(job["object"], job["job_id"], batch)
            state = self.journal.states_of(self.run_id, job["seqs"])
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
        doubt = defaultdict(list)
        for seq, attempts in self.journal.in_state(self.run_id, "intent").items():
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

    def _writes_in_order(self) -> Iterator[tuple[int, Operation]]:
        """The plan's writes, streamed. A stored plan keeps each target's writes together; a plan built in memory
        (rollback, tests) is put in that order here."""
        if not self.plan.in_memory:
            yield from self.plan.iter_writes()
            return
        writes = self.plan.writes
        first: dict[tuple[str, str, str], int] = {}
        for i, (_, op) in enumerate(writes):
            first.setdefault((op.system, op.object, op.op), i)
        yield from sorted(writes, key=lambda w: (first[(w[1].system, w[1].object, w[1].op)], w[0]))

    def _open_writes(self, page: int | None = None) -> Iterator[tuple[int, Operation]]:
        """The writes not done yet (a resumed run skips those with an outcome), in plan order: the journal is
        asked about ``page`` operations at a time, so neither the plan nor the journal is held whole."""
        page = page or PAGE_KEYS
        window: list[tuple[int, Operation]] = []

        def flush() -> Iterator[tuple[int, Operation]]:
            state = self.journal.states_of(self.run_id, (s for s, _ in window))
            yield from ((s, o) for s, o in window if state.get(s, ("", 0))[0] != "done")

        for item in self._writes_in_order():
            window.append(item)
            if len(window) >= page:
                yield from flush()
                window = []
        if window:
            yield from flush()

    def run(self, batch_size: dict[str, int]) -> None:
        self.resume_open()
        since = self.plan.header.get("since") or {}
        target: tuple[str, str, str] | None = None
        chunk: list[tuple[int, Operation]] = []
        size = 0
        for seq, op in self._open_writes():
            key = (op.system, op.object, op.op)
            if key != target or len(chunk) >= size:
                self._batch(target, chunk, since)
                chunk, target = [], key
                writer = self.writers[op.system]
                sizer = getattr(writer, "chunk_size", None)
                n = self.counts.get(".".join(key), 0)
                size = sizer(op.op, n) if sizer else batch_size.get(op.system, 200)
            chunk.append((seq, op))
        self._batch(target, chunk, since)

    def _batch(self, target: tuple[str, str, str] | None, chunk: list[tuple[int, Operation]], since: Any) -> None:
        """One batch of one target: re-check the records right before writing them, then send."""
        if target is None or not chunk:
            return
        system, obj, kind = target
        writer = self.writers[system]
        skip = self._conflicts(writer, obj, chunk, since.get(system))
        todo = [(s, o) for s, o in chunk if s not in skip]
        if todo:
            self._send(writer, obj, kind, todo)
