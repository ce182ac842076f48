"""The SQLite journal of apply runs: intents, outcomes, bulk jobs and events — the audit log.

Exactly-once rests on one rule: an operation's *intent* is committed before its request is sent and its
*outcome* after the answer. On restart, an operation with an intent and no outcome is "in doubt": the apply
reads the target record to learn whether the write landed before doing anything else with it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syncaudit.changes.model import Operation

PAGE_KEYS = 500  # sequence numbers per look-up (SQLite allows 999 parameters in older builds)
OUTCOMES = ("created", "updated", "deleted", "merged", "skipped", "failed")
FINAL = frozenset(OUTCOMES)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, plan_hash TEXT NOT NULL, plan_path TEXT, kind TEXT NOT NULL,
    parent_run TEXT, status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL, detail TEXT
);
CREATE TABLE IF NOT EXISTS ops (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, idempotency_key TEXT NOT NULL,
    system TEXT NOT NULL, object TEXT NOT NULL, record_key TEXT, op TEXT NOT NULL,
    state TEXT NOT NULL, outcome TEXT, error_code TEXT, detail TEXT, new_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, intent_at REAL, outcome_at REAL, finding_id TEXT,
    fields TEXT, version_after TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS ops_state ON ops (run_id, state);
CREATE TABLE IF NOT EXISTS jobs (
    run_id TEXT NOT NULL, job_id TEXT NOT NULL, system TEXT NOT NULL, object TEXT NOT NULL,
    seqs TEXT NOT NULL, state TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (run_id, job_id)
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, at REAL NOT NULL, event TEXT NOT NULL, detail TEXT
);
"""


class Journal:
    """One SQLite file (WAL) per data dir: ``<data_dir>/journal.sqlite``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: an intent must be on disk before the request leaves, or a crash could forget it.
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        # Journals written before these columns existed get them (the audit reads them to recognise our writes).
        have = {r[1] for r in self.db.execute("PRAGMA table_info(ops)")}
        for col in ("fields", "version_after"):
            if col not in have:
                self.db.execute(f"ALTER TABLE ops ADD COLUMN {col} TEXT")
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------ runs

    def start_run(self, plan_hash: str, plan_path: str, kind: str = "apply", parent_run: str | None = None) -> str:
        now = time.time()
        run_id = f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}-{plan_hash[:8]}"
        n = 1
        base = run_id
        while self.run(run_id) is not None:
            n += 1
            run_id = f"{base}-{n}"
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (run_id, plan_hash, plan_path, kind, parent_run, status, started_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (run_id, plan_hash, plan_path, kind, parent_run, "running", now),
            )
        self.event(run_id, "started", {"plan": plan_hash})
        return run_id

    def run(self, run_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return dict(row) if row else None

    def runs_for_plan(self, plan_hash: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM runs WHERE plan_hash=? ORDER BY started_at", (plan_hash,))
        return [dict(r) for r in rows]

    def finish_run(self, run_id: str, status: str, detail: dict[str, Any] | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=?, detail=? WHERE run_id=?",
                (status, time.time(), json.dumps(detail or {}, default=str), run_id),
            )
        self.event(run_id, status, detail)

    def event(self, run_id: str, event: str, detail: Any = None) -> None:
        self.db.execute(
            "INSERT INTO events VALUES (?,?,?,?)", (run_id, time.time(), event, json.dumps(detail, default=str))
        )

    # ------------------------------------------------------------ operations

    def intent(self, run_id: str, items: Iterable[tuple[int, Operation]]) -> None:
        """Record that these operations are about to be sent (committed before the request)."""
        now = time.time()
        rows = [
            (run_id, seq, op.idempotency_key, op.system, op.object, op.key, op.op, now, op.finding_id, _fields(op))
            for seq, op in items
        ]
        with self._tx() as db:
            db.executemany(
                "INSERT INTO ops (run_id, seq, idempotency_key, system, object, record_key, op, state, attempts,"
                " intent_at, finding_id, fields) VALUES (?,?,?,?,?,?,?,'intent',1,?,?,?)"
                " ON CONFLICT (run_id, seq) DO UPDATE SET state='intent', attempts=attempts+1,"
                " intent_at=excluded.intent_at, outcome=NULL, error_code=NULL",
                rows,
            )

    def outcomes(
        self, run_id: str, results: Iterable[tuple[int, Operation, str, str | None, str | None, str | None]]
    ) -> None:
        """Record final outcomes: (seq, op, outcome, error_code, detail, new_id)."""
        now = time.time()
        rows = []
        for seq, op, outcome, code, detail, new_id in results:
            if outcome not in FINAL:
                raise ValueError(f"not a final outcome: {outcome}")
            rows.append(
                (
                    run_id,
                    seq,
                    op.idempotency_key,
                    op.system,
                    op.object,
                    op.key,
                    op.op,
                    outcome,
                    code,
                    detail,
                    new_id,
                    now,
                    op.finding_id,
                    _fields(op),
                )
            )
        with self._tx() as db:
            db.executemany(
                "INSERT INTO ops (run_id, seq, idempotency_key, system, object, record_key, op, state, outcome,"
                " error_code, detail, new_id, outcome_at, finding_id, fields)"
                " VALUES (?,?,?,?,?,?,?,'done',?,?,?,?,?,?,?)"
                " ON CONFLICT (run_id, seq) DO UPDATE SET state='done', outcome=excluded.outcome,"
                " error_code=excluded.error_code, detail=excluded.detail,"
                " new_id=COALESCE(excluded.new_id, ops.new_id), outcome_at=excluded.outcome_at",
                rows,
            )

    def versions(self, run_id: str, items: Iterable[tuple[int, Any]]) -> None:
        """The record's version (Intercom updated_at) that a write's answer reported: how the audit of a later
        snapshot tells syncaudit's own write from someone else's edit."""
        rows = [(None if v is None else str(v), run_id, seq) for seq, v in items]
        if rows:
            with self._tx() as db:
                db.executemany("UPDATE ops SET version_after=? WHERE run_id=? AND seq=?", rows)

    def state_map(self, run_id: str) -> dict[int, tuple[str, int]]:
        """seq -> (state, attempts) of every operation of the run (small runs and tests; the engine reads
        the states it needs by pages: :meth:`states_of`, :meth:`in_state`, :meth:`done_rows`)."""
        rows = self.db.execute("SELECT seq, state, attempts FROM ops WHERE run_id=?", (run_id,))
        return {r[0]: (r[1], r[2]) for r in rows}

    def states_of(self, run_id: str, seqs: Iterable[int]) -> dict[int, tuple[str, int]]:
        """seq -> (state, attempts) of these operations (those in the journal), by primary-key look-ups in
        pages of at most PAGE_KEYS sequence numbers."""
        want = sorted(set(seqs))
        out: dict[int, tuple[str, int]] = {}
        for i in range(0, len(want), PAGE_KEYS):
            page = want[i : i + PAGE_KEYS]
            marks = ",".join("?" * len(page))
            rows = self.db.execute(
                f"SELECT seq, state, attempts FROM ops WHERE run_id=? AND seq IN ({marks})", (run_id, *page)
            )
            out.update((r[0], (r[1], r[2])) for r in rows)
        return out

    def in_state(self, run_id: str, state: str) -> dict[int, int]:
        """seq -> attempts of the operations in ``state`` (the in-doubt ones are at most a few batches)."""
        rows = self.db.execute("SELECT seq, attempts FROM ops WHERE run_id=? AND state=? ORDER BY seq", (run_id, state))
        return {r[0]: r[1] for r in rows}

    def done_rows(self, run_id: str, page: int = 5_000, columns: str = "*") -> Iterator[list[dict[str, Any]]]:
        """The run's operations with an outcome, in seq order, a keyset page at a time (never all at once);
        ``columns`` (SQL, seq included) narrows each row to what the caller reads."""
        last = -1
        while True:
            rows = self.db.execute(
                f"SELECT {columns} FROM ops WHERE run_id=? AND seq>? AND state='done' ORDER BY seq LIMIT ?",
                (run_id, last, page),
            ).fetchall()
            if not rows:
                return
            yield [dict(r) for r in rows]
            last = rows[-1]["seq"]

    def ops_with_outcome(self, run_id: str, outcome: str, limit: int = 10_000) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM ops WHERE run_id=? AND outcome=? ORDER BY seq LIMIT ?", (run_id, outcome, limit)
        )
        return [dict(r) for r in rows]

    def ops_with_code(self, run_id: str, code: str, limit: int = 10_000) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM ops WHERE run_id=? AND error_code=? ORDER BY seq LIMIT ?", (run_id, code, limit)
        )
        return [dict(r) for r in rows]

    def states(self, run_id: str) -> dict[int, dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM ops WHERE run_id=?", (run_id,))
        return {r["seq"]: dict(r) for r in rows}

    def ops(self, run_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM ops WHERE run_id=? ORDER BY seq", (run_id,))]

    def counts(self, run_id: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT COALESCE(outcome, 'in_doubt') AS o, COUNT(*) AS n FROM ops WHERE run_id=? GROUP BY 1", (run_id,)
        )
        return {r["o"]: r["n"] for r in rows}

    # ------------------------------------------------------------ bulk jobs

    def job(self, run_id: str, job_id: str, system: str, obj: str, seqs: list[int], state: str) -> None:
        self.db.execute(
            "INSERT INTO jobs VALUES (?,?,?,?,?,?,?) ON CONFLICT (run_id, job_id) DO UPDATE SET state=excluded.state",
            (run_id, job_id, system, obj, json.dumps(seqs), state, time.time()),
        )

    def open_jobs(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM jobs WHERE run_id=? AND state NOT IN ('done','aborted')", (run_id,))
        return [{**dict(r), "seqs": json.loads(r["seqs"])} for r in rows]


def _fields(op: Operation) -> str:
    """The fields an operation writes, as a JSON list (empty for merges and deletes)."""
    return json.dumps(sorted(op.after) if op.op in ("update", "upsert") else [])


def list_runs(cfg: Any) -> list[dict[str, Any]]:
    """Every run recorded for this config's data dir, newest first (empty when nothing was applied)."""
    from syncaudit.workspace import DataDir

    path = DataDir(cfg).journal
    if not path.is_file():
        return []
    journal = Journal(path)
    try:
        rows = journal.db.execute("SELECT * FROM runs ORDER BY started_at DESC")
        out = []
        for r in rows:
            run = dict(r)
            run["counts"] = journal.counts(run["run_id"])
            out.append(run)
        return out
    finally:
        journal.close()
