"""`syncaudit rollback`: restore a run's before-images as a plan of its own — reviewed, confirmed, journaled.

Only fields still holding the values the run wrote are restored (each rollback operation carries the record's
current version, so a later edit by anyone is skipped, not overwritten). Created records are deleted.
Intercom merges cannot be undone; they are listed as irreversible.

Planning streams (memory does not grow with the run): the run's journal rows, merged with the streamed plan, are
spooled by target into a temporary SQLite file; each target's operations are then read back in plan order a
window at a time, their records read for that window (or, for a large Salesforce set of updates, "changed since
the run started" read once, page by page, into the spool), and the rollback operations and not-restorable
entries written out as they are decided. The header, whose not-restorable list is known last, is hashed and
written after plan.jsonl, streamed too. A writer may offer ``changed_pages(obj, fields, since)`` (Salesforce
does); without it a large set is read window by window with ``current``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syncaudit.changes.apply import apply_plan, journal_for, plans_dir, print_result
from syncaudit.changes.journal import Journal
from syncaudit.changes.model import Operation, Plan, canonical, load_plan, publish
from syncaudit.changes.planfile import PlanFileWriter
from syncaudit.changes.verify import LARGE, run_windows
from syncaudit.changes.writer_api import Writer, same_value
from syncaudit.config import Config
from syncaudit.errors import GuardError
from syncaudit.writes import WriterSource, resolve_writers

WINDOW = 20_000  # operations decided together: each window reads its records once; bounds memory
SPOOL_BATCH = 5_000  # journal rows (with their operations) spooled at a time
DONE = frozenset({"updated", "created", "merged"})
_OP_FIELDS = tuple(f.name for f in fields(Operation))
_MARK = "\x00not_restorable\x00"  # where the streamed list goes in the header's canonical text


@dataclass
class _Group:
    """What the planner keeps of one (system, object) target while the run streams past: counts, not rows."""

    keyed: int = 0  # operations with a record key (those whose records are read)
    all_updates: bool = True  # every keyed operation is an update (then a large set is read "changed since")
    fields: set[str] = field(default_factory=set)


class _Spool:
    """The run's restorable operations, the records read for them and the not-restorable list, in a temporary
    SQLite file read back in order through its indexes: its page cache has a fixed size, so a run's size sets
    the file's size and not the planner's memory. (A DuckDB spool, as plans use, held 60-100 MB more at 400,000
    operations than at 100,000 whatever its memory_limit, and its join of the records ran out of a 64 MB cap;
    nothing here needs more than keyed look-ups and index order.)"""

    def __init__(self, folder: Path, cache_mb: int = 32) -> None:
        import sqlite3

        self.folder = folder
        self.db = sqlite3.connect(str(folder / "rollback.sqlite"), isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{cache_mb * 1024}", "temp_store=FILE"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("BEGIN")  # one transaction: a scratch file, never read by anyone else
        self.db.execute("CREATE TABLE ops (system TEXT, object TEXT, kind INTEGER, seq INTEGER, key TEXT, body TEXT)")
        self.db.execute("CREATE TABLE nr (phase INTEGER, grp INTEGER, seq INTEGER, item TEXT)")
        self.db.execute("CREATE TABLE cur (key TEXT PRIMARY KEY, rec TEXT)")

    def insert(self, table: str, cols: dict[str, list[Any]], replace: bool = False) -> None:
        if not next(iter(cols.values())):
            return
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        marks = ",".join("?" * len(cols))
        self.db.executemany(
            f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({marks})", zip(*cols.values(), strict=True)
        )

    def index(self, table: str, columns: str) -> None:
        """An index for reading ``table`` in this order (made once it is filled: cheaper than kept up)."""
        self.db.execute(f"CREATE INDEX IF NOT EXISTS {table}_order ON {table} ({columns})")

    def read(self, sql: str, params: list[Any], size: int) -> Iterator[dict[str, list[Any]]]:
        """Rows of ``sql`` in order, ``size`` at a time, as columns (inserts may go on meanwhile)."""
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        while rows := cursor.fetchmany(size):
            yield dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _NotRestorable:
    """Not-restorable entries as they are decided: (phase, group, seq) orders them as the header lists them —
    merges and matched upserts first in seq order, then each target in (system, object) order, by seq."""

    def __init__(self, spool: _Spool) -> None:
        self.spool = spool
        self.rows: dict[str, list[Any]] = {"phase": [], "grp": [], "seq": [], "item": []}

    def add(self, phase: int, grp: int, seq: int, key: Any, why: str) -> None:
        for c, v in (("phase", phase), ("grp", grp), ("seq", seq)):
            self.rows[c].append(v)
        self.rows["item"].append(canonical({"seq": seq, "key": key, "why": why}))
        if len(self.rows["seq"]) >= 10_000:
            self.flush()

    def flush(self) -> None:
        self.spool.insert("nr", self.rows)
        self.rows = {c: [] for c in self.rows}

    def write_list(self, path: Path) -> None:
        """The list's canonical JSON text (``[item,item,...]``), streamed in order to ``path``."""
        self.flush()
        self.spool.index("nr", "phase, grp, seq")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("[")
            first = True
            for cols in self.spool.read("SELECT item FROM nr ORDER BY phase, grp, seq", [], 10_000):
                fh.write(("" if first else ",") + ",".join(cols["item"]))
                first = False
            fh.write("]")


def plan_rollback(
    cfg: Config,
    run_id: str,
    *,
    writers: WriterSource = None,
    journal: Journal | None = None,
    window: int | None = None,
) -> Plan:
    """The plan that undoes ``run_id``; records changed since the run are listed as not restorable.

    Streamed: the run's journal rows (keyset pages merged with the streamed plan) are spooled per target, then
    each target's operations are decided ``window`` at a time against the records read for them, and the
    rollback operations and not-restorable entries are written out as they are decided. The plan is the one
    the whole run held in memory would give, byte for byte: operations by (system, object, op, seq),
    not-restorable entries merges and matched upserts first, then by target and seq."""
    journal = journal or journal_for(cfg, must_exist=True)
    size = window or WINDOW
    run, windows = run_windows(journal, run_id, min(size, SPOOL_BATCH))  # spooled as they come: small batches
    folder = plans_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    spool = _Spool(Path(tempfile.mkdtemp(prefix=".rollback.", dir=folder)))
    tmp: Path | None = Path(tempfile.mkdtemp(prefix=".plan.", dir=folder))
    try:
        nr = _NotRestorable(spool)
        groups, systems = _spool_run(spool, nr, windows)
        spool.index("ops", "system, object, kind, seq")
        # Taken before the reads below: anything changed after them is newer than this and gets re-checked at apply.
        now = datetime.now(UTC) - timedelta(seconds=1)
        since = {"salesforce": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "intercom": int(now.timestamp())}
        found = resolve_writers(cfg, writers, systems)
        header = {"kind": "rollback", "of_run": run_id, "of_plan": run["plan_hash"], "config": cfg.name}
        header["since"] = since
        with open(tmp / "plan.jsonl", "w", encoding="utf-8") as fh:
            w = PlanFileWriter(fh, {})  # its digest is not the plan's: the header is known only at the end
            for grp, (system, obj) in enumerate(sorted(groups), start=1):
                _plan_target(spool, nr, w, found[system], run, run_id, (grp, system, obj), groups[(system, obj)], size)
        listing = spool.folder / "not_restorable.json"
        nr.write_list(listing)
        plan_hash = _header_and_hash(header, listing, tmp)
        summary = {**w.summary(header), "hash": plan_hash}
        path = publish(tmp, folder, None, plan_hash, summary)
        tmp = None
    finally:
        spool.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    journal.event(run_id, "rollback_planned", {"plan": plan_hash, "operations": w.seq})
    return load_plan(path)


def _spool_run(
    spool: _Spool, nr: _NotRestorable, windows: Iterator[list[tuple[dict[str, Any], Operation]]]
) -> tuple[dict[tuple[str, str], _Group], set[str]]:
    """One pass over the run: merges and matched upserts are listed as not restorable, the rest is spooled by
    target (an upsert under the id it created). Returns each target's counts and the systems to read."""
    groups: dict[tuple[str, str], _Group] = {}
    systems: set[str] = set()
    for rows in windows:
        out: dict[str, list[Any]] = {c: [] for c in ("system", "object", "kind", "seq", "key", "body")}
        for row, op in rows:
            if row["outcome"] not in DONE:
                continue
            if op.op != "merge":
                systems.add(op.system)
            if op.op == "merge":
                nr.add(0, 0, row["seq"], op.key, "Intercom merges cannot be undone")
                continue
            if op.op == "upsert" and row["outcome"] != "created":
                why = "the upsert matched an existing record; its earlier values were not captured"
                nr.add(0, 0, row["seq"], row["new_id"] or op.key, why)
                continue
            key = row["new_id"] if op.op == "upsert" else op.key
            g = groups.setdefault((op.system, op.object), _Group())
            if key:
                g.keyed += 1
                g.all_updates = g.all_updates and op.op == "update"
                g.fields.update(op.after, op.before)
            body = {f: getattr(op, f) for f in _OP_FIELDS}
            body["key"] = key
            for c, v in (("system", op.system), ("object", op.object), ("kind", 0 if op.op == "upsert" else 1)):
                out[c].append(v)
            out["seq"].append(row["seq"])
            out["key"].append(key)
            out["body"].append(json.dumps(body, ensure_ascii=False))
        spool.insert("ops", out)
    return groups, systems


def _plan_target(
    spool: _Spool,
    nr: _NotRestorable,
    w: PlanFileWriter,
    writer: Writer,
    run: dict[str, Any],
    run_id: str,
    target: tuple[int, str, str],
    group: _Group,
    size: int,
) -> None:
    """Decide one target's operations a window at a time, creates (deleted back) before updates, each by seq:
    the plan's order. A large Salesforce set of updates reads "everything changed since the run started" once
    into the spool (a few calls per 2,000 records) and joins it; anything else reads its window's records."""
    grp, system, obj = target
    changed_only = system == "salesforce" and group.keyed > LARGE and group.all_updates
    spooled = changed_only and hasattr(writer, "changed_pages")
    if spooled:
        spool.db.execute("DELETE FROM cur")
        for page in writer.changed_pages(obj, sorted(group.fields), run["started_at"] - 1):
            # A record listed twice (a page boundary moving under the query) counts once, as its last copy.
            spool.insert("cur", {"key": [r.get("Id") for r in page], "rec": [json.dumps(r) for r in page]}, True)
        sql = (
            "SELECT o.seq, o.body, c.rec FROM ops o LEFT JOIN cur c ON c.key = o.key "
            "WHERE o.system = ? AND o.object = ? ORDER BY o.kind, o.seq"
        )
    else:
        sql = "SELECT seq, body, NULL AS rec FROM ops WHERE system = ? AND object = ? ORDER BY kind, seq"
    for cols in spool.read(sql, [system, obj], size):
        items = [
            (seq, Operation.from_dict(json.loads(body))) for seq, body in zip(cols["seq"], cols["body"], strict=True)
        ]
        if spooled:
            cur = {op.key: json.loads(rec) for (_, op), rec in zip(items, cols["rec"], strict=True) if rec is not None}
        else:
            keyed = [op for _, op in items if op.key]
            cur = writer.current(obj, keyed, run["started_at"] - 1 if changed_only else None) if keyed else {}
            if changed_only:  # as the one query would give: a record left out or gone was not modified by the run
                cur = {k: v for k, v in cur.items() if v is not None}
        w.write(_decide(nr, grp, items, cur, changed_only, run_id))


def _decide(
    nr: _NotRestorable,
    grp: int,
    items: list[tuple[int, Operation]],
    cur: dict[str, Any],
    changed_only: bool,
    run_id: str,
) -> list[Operation]:
    """The rollback operations of one window; what cannot be restored goes to ``nr``."""
    out: list[Operation] = []
    for seq, op in items:
        rec = cur.get(op.key) if op.key else None
        if changed_only and op.key not in cur:
            nr.add(1, grp, seq, op.key, "not modified by the run")
            continue
        if rec is None:
            nr.add(1, grp, seq, op.key, "the record no longer exists")
            continue
        if not all(same_value(rec.get(f), v) for f, v in op.after.items()):
            nr.add(1, grp, seq, op.key, "changed since the run")
            continue
        current = {f: rec.get(f) for f in op.after}
        undo, before, note = (
            ("delete", {}, "created by") if op.op == "upsert" else ("update", dict(op.before), "restores")
        )
        out.append(
            Operation(
                op.system,
                op.object,
                op.key,
                undo,
                before,
                current,
                rec.get("_version"),
                op.finding_id,
                f"rollback:{op.policy}",
                note=f"{note} {run_id}",
            )
        )
    return out


def _header_and_hash(header: dict[str, Any], listing: Path, tmp: Path) -> str:
    """Hash the plan (canonical header, its not-restorable list streamed from ``listing``, then plan.jsonl) and
    write plan.json, the header with its hash, the same way: the list is never held whole."""

    def around(extra: dict[str, Any]) -> tuple[str, str]:
        text = canonical({**header, **extra, "not_restorable": _MARK})
        at = text.index('"not_restorable":' + canonical(_MARK)) + len('"not_restorable":')
        return text[:at], text[at + len(canonical(_MARK)) :]

    def blocks(path: Path) -> Iterator[bytes]:
        with open(path, "rb") as fh:
            yield from iter(lambda: fh.read(1 << 20), b"")

    head, tail = around({})
    h = hashlib.sha256(head.encode())
    for b in blocks(listing):
        h.update(b)
    h.update(tail.encode())
    for b in blocks(tmp / "plan.jsonl"):
        h.update(b)
    plan_hash = h.hexdigest()[:16]
    head, tail = around({"hash": plan_hash})
    with open(tmp / "plan.json", "wb") as fh:
        fh.write(head.encode())
        for b in blocks(listing):
            fh.write(b)
        fh.write((tail + "\n").encode())
    return plan_hash


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
        print(f"{plan.summary()['writes']} records to restore; {len(plan.header['not_restorable'])} not restorable")
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
