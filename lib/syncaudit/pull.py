"""`syncaudit pull`: both systems into a snapshot, incrementally by default.

Salesforce and Intercom are pulled side by side (one thread each; Intercom
contacts fan out further inside their stream). Each stream writes its tables
into the run folder and is recorded in progress.json when it is finished, so a
run stopped by the quota guard, an error or a kill is resumed by the next one.
In an incremental run a stream writes its delta to staging and merges it into
the base snapshot's table (upserts by id, tombstones kept, removals dropped):
the base file is linked and only a delta layer is written (snapshot_merge).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

import duckdb
import pyarrow.parquet as pq

from syncaudit.config import Config
from syncaudit.connect import Clients, build_clients
from syncaudit.connectors.intercom.streams import (
    AdminsStream,
    CompaniesStream,
    ContactsStream,
    ConversationsStream,
    IntercomContext,
)
from syncaudit.connectors.progress import ProgressBoard, StopFlag, StopRequested, sigint_stops
from syncaudit.connectors.salesforce.streams import (
    HISTORY_OBJECTS,
    OBJECTS,
    SalesforceHistoryStream,
    SalesforceObjectStream,
    since_with_lookback,
)
from syncaudit.connectors.stream import PullOutcome
from syncaudit.errors import ConfigError
from syncaudit.snapshot import Snapshot, SnapshotRun, StreamResult, iso, parse_iso
from syncaudit.snapshot_merge import drop_removed, link_table, table_sql, upsert


class Stream(Protocol):
    system: str
    name: str
    key: str
    children: dict[str, str]

    @property
    def stream_id(self) -> str: ...

    def pull(self, open_writer: Any, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome: ...


def advance_bookmark(previous: str | None, seen: str | None, started: datetime) -> str | None:
    """The new bookmark: the newest value seen, never past the stream's start, never backwards."""
    cand = parse_iso(seen) if seen else None
    if cand is not None and cand > started:
        cand = started
    if previous and (cand is None or parse_iso(previous) > cand):
        return previous
    return iso(cand) if cand is not None else previous


STREAM_NAMES = (*OBJECTS, *HISTORY_OBJECTS, "admins", "companies", "contacts", "conversations")


def check_objects(objects: Iterable[str]) -> set[str]:
    """The --objects names, lower-cased; an unknown name is a ConfigError naming the choices."""
    wanted = {o.lower() for o in objects}
    unknown = sorted(wanted - {n.lower() for n in STREAM_NAMES})
    if unknown:
        raise ConfigError(
            f"unknown object(s) for --objects: {', '.join(unknown)}",
            hint=f"choose from {', '.join(sorted(STREAM_NAMES))}",
        )
    return wanted


def build_streams(cfg: Config, clients: Clients, objects: Iterable[str] | None = None) -> dict[str, list[Any]]:
    ctx = IntercomContext(clients.intercom)
    sf: list[Any] = [SalesforceObjectStream(clients.salesforce, cfg, o) for o in OBJECTS]
    sf += [SalesforceHistoryStream(clients.salesforce, cfg, f"{o}History") for o in cfg.pull.field_history]
    ic: list[Any] = [
        AdminsStream(ctx),
        CompaniesStream(ctx),
        ContactsStream(ctx, partitions=cfg.pull.intercom_partitions),
        ConversationsStream(ctx, workers=cfg.pull.intercom_partitions, parts=cfg.pull.conversation_parts),
    ]
    if objects:
        wanted = check_objects(objects)
        sf = [s for s in sf if s.name.lower() in wanted]
        ic = [s for s in ic if s.name.lower() in wanted]
    return {"salesforce": sf, "intercom": ic, "_ctx": [ctx]}


class PullRunner:
    """Runs streams into a SnapshotRun; thread-safe across the two systems."""

    def __init__(
        self,
        cfg: Config,
        run: SnapshotRun,
        clients: Clients,
        *,
        out: TextIO,
        bars: bool | None,
        board: ProgressBoard | None = None,
    ) -> None:
        self.cfg = cfg
        self.run = run
        self.clients = clients
        self.out = out
        self.bars = bars
        self.board = board or ProgressBoard(out, StopFlag(), bars=bars)
        self._lock = threading.Lock()

    def _client(self, system: str) -> Any:
        return self.clients.salesforce if system == "salesforce" else self.clients.intercom

    def run_stream(self, stream: Stream, position: int, *, allow_incremental: bool = True) -> None:
        run, sid = self.run, stream.stream_id
        if run.is_done(sid):
            return
        self.board.flag.check()  # Ctrl-C between two streams: start no new one
        system = stream.system
        base = run.base
        prev = run.base_bookmark(sid)
        tables = [stream.name, *stream.children]
        incremental = (
            allow_incremental
            and base is not None
            and getattr(stream, "incremental", True)
            and prev is not None
            and all(base.table_path(system, t).is_file() for t in tables)
        )
        since = since_with_lookback(prev, self.cfg.pull.lookback_s) if incremental else None
        client = self._client(system)
        calls0 = client.api_calls()
        t0 = time.monotonic()
        bar = self.board.stream(f"{system} {stream.name}", position)  # records, total, rate, ETA; stops on Ctrl-C

        def open_writer(name: str, schema: Any) -> Any:
            return run.writer(system, name, schema, staging=incremental)

        try:
            outcome = stream.pull(open_writer, since, bar)
        except BaseException:
            bar.close()
            raise
        try:
            self._finish_stream(stream, position, incremental, outcome, prev, client, calls0, t0)
        finally:
            bar.close()  # after the stream's line: a bar closed first leaves the cursor astray

    def _finish_stream(
        self,
        stream: Stream,
        position: int,
        incremental: bool,
        outcome: PullOutcome,
        prev: str | None,
        client: Any,
        calls0: int,
        t0: float,
    ) -> None:
        run, sid, system, base = self.run, stream.stream_id, stream.system, self.run.base
        records = outcome.records
        timings = {"read_s": round(time.monotonic() - t0, 3)}
        table_rows: dict[str, int] = {}
        if incremental:
            assert base is not None
            delta = run.staging_path(system, stream.name)
            new_cols = set(pq.read_schema(delta).names) - set(
                pq.read_schema(base.table_path(system, stream.name)).names
            )
            if new_cols:
                # A field appeared (describe, data attributes): old rows lack it, so read everything again.
                self.board.note(
                    f"{system} {stream.name}: new column(s) {', '.join(sorted(new_cols))}; pulling it in full"
                )
                self.run_stream(stream, position, allow_incremental=False)
                return
            final = run.table_path(system, stream.name)
            t1 = time.monotonic()
            records = upsert(base.table_path(system, stream.name), delta, final, key=stream.key)
            timings["merge_s"] = round(time.monotonic() - t1, 3)
            if hasattr(stream, "find_removed"):
                # Compared after the merge: in the usual case one call and a metadata count settle it.
                t1 = time.monotonic()
                gone = self._find_removed(stream, final)
                timings["removed_s"] = round(time.monotonic() - t1, 3)
                if gone:
                    outcome.removed = sorted(gone)
                    self._tombstones(system, stream.name, gone)
                    records = drop_removed(final, stream.key, outcome.removed)
            t1 = time.monotonic()
            table_rows = {stream.name: records}  # saves completion a pass over each table's keys
            for child, child_key in stream.children.items():
                table_rows[child] = upsert(
                    base.table_path(system, child),
                    run.staging_path(system, child),
                    run.table_path(system, child),
                    key=child_key,
                    replaced=delta,
                    replaced_key=stream.key,
                    removed=outcome.removed,
                )
            if stream.children:
                timings["children_merge_s"] = round(time.monotonic() - t1, 3)
        describe = getattr(stream, "describe", None)
        if describe:
            run.write_json(system, f"describe/{stream.name}.json", describe)
        result = StreamResult(
            records=records,
            api_calls=client.api_calls() - calls0,
            duration_s=time.monotonic() - t0,
            bookmark=advance_bookmark(prev if incremental else None, outcome.bookmark, run.started_at),
            mode="incremental" if incremental else "full",
            extra={
                "changed": outcome.records if incremental else None,
                "removed": len(outcome.removed),
                "timings": timings,
                **({"table_rows": table_rows} if incremental else {}),
                **outcome.extra,
            },
        )
        with self._lock:
            run.stream_done(sid, result)
            changed = f", {outcome.records} changed" if incremental else ""
            self.board.note(  # above the bars on a terminal
                f"{system:<10} {stream.name:<18} {records:>10,} records{changed}  {result.api_calls:>7,} API calls  "
                f"{result.duration_s:8.1f} s  ({result.mode})"
            )

    def _find_removed(self, stream: Any, merged: Path) -> dict[str, str]:
        con = duckdb.connect()
        try:
            con.execute(f"CREATE VIEW local_ids AS {table_sql(merged)}")
            return stream.find_removed(con, "local_ids")
        finally:
            con.close()

    def _tombstones(self, system: str, obj: str, gone: dict[str, str]) -> None:
        """Append removals to ``<system>/tombstones.parquet`` (object, id, reason, detected_in)."""
        import pyarrow as pa

        schema = pa.schema(
            [("object", pa.string()), ("id", pa.string()), ("reason", pa.string()), ("detected_in", pa.string())]
        )
        with self._lock:
            out = self.run.table_path(system, "tombstones")
            old = out if out.is_file() else (self.run.base.table_path(system, "tombstones") if self.run.base else None)
            rows = pq.read_table(old).cast(schema).to_pylist() if old is not None and old.is_file() else []
            seen = {(r["object"], r["id"]) for r in rows}  # a resumed run must not record a removal twice
            rows += [
                {"object": obj, "id": i, "reason": gone[i], "detected_in": self.run.id}
                for i in sorted(gone)
                if (obj, i) not in seen
            ]
            tables = [pa.Table.from_pylist(rows, schema=schema)]
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            pq.write_table(pa.concat_tables(tables), tmp)
            os.replace(tmp, out)

    def run_system(self, streams: list[Any], position: int) -> None:
        for s in streams:
            self.run_stream(s, position)

    def carry_over(self, pulled: set[str]) -> None:
        """Streams not pulled this time (--objects): keep the base snapshot's tables and bookmarks."""
        base = self.run.base
        if base is None:
            return
        for sid, entry in (base.manifest.get("streams") or {}).items():
            if sid in pulled or self.run.is_done(sid):
                continue
            system = sid.split("/", 1)[0]
            for src in (base.path / system).glob("*.parquet"):
                dst = self.run.table_path(system, src.stem)
                if not dst.exists() and _belongs(src.stem, sid):
                    link_table(src, dst)
            self.run.stream_done(sid, StreamResult(**{**_stream_fields(entry), "mode": "carried"}))


def _belongs(table: str, sid: str) -> bool:
    name = sid.split("/", 1)[1]
    children = {"contacts": {"contact_companies"}, "conversations": {"conversation_parts"}}
    return table == name or table in children.get(name, set())


def _stream_fields(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "records": entry.get("records", 0),
        "api_calls": 0,
        "duration_s": 0.0,
        "bookmark": entry.get("bookmark"),
        "mode": entry.get("mode", "full"),
    }


def watch_stop_and_waits(clients: Clients, streams: dict[str, list[Any]], flag: StopFlag, board: ProgressBoard) -> None:
    """Hooks for Ctrl-C and for saying what a wait is for: streams check the flag between pages,
    sleeps (retry backoff, rate-limit windows) wake up on it, and each wait is announced."""
    for s in streams["salesforce"] + streams["intercom"]:
        if hasattr(s, "should_stop"):
            s.should_stop = flag.is_set
        if getattr(s, "sleep", None) is time.sleep:
            s.sleep = flag.sleep
        if hasattr(s, "notify"):
            s.notify = board.note
    waiters = [getattr(c, "backoff", None) for c in (clients.salesforce, clients.intercom)]
    waiters.append(getattr(clients.intercom, "limiter", None))
    for w in waiters:
        if w is None:
            continue
        if getattr(w, "sleep", None) is time.sleep:  # an injected clock (tests) is left alone
            w.sleep = flag.sleep
        w.notify = board.note


def run_pull(
    cfg: Config,
    *,
    full: bool = False,
    objects: Iterable[str] | None = None,
    clients: Clients | None = None,
    out: TextIO | None = None,
    bars: bool | None = None,
    preflight: bool = True,
) -> Snapshot:
    """Pull into a new snapshot and return it (complete), or raise with the run left resumable.

    Preflight (:func:`syncaudit.connectors.preflight.run_preflight`) runs first: a problem stops the pull
    before any stream is read. A run resumes an unfinished one only if it is the same run (same config, mode,
    --full and --objects); otherwise it starts afresh and says why."""
    out = out or sys.stderr
    if objects:
        check_objects(objects)  # bad input first, before any connection
    clients = clients or build_clients(cfg)
    # One run reads each object's describe once (preflight and streams share it); a new run reads it afresh.
    forget = getattr(clients.salesforce, "forget_describes", None)
    if forget is not None:
        forget()
    before = {"salesforce": clients.salesforce.api_calls(), "intercom": clients.intercom.api_calls()}
    if preflight:
        from syncaudit.connectors.preflight import run_preflight

        run_preflight(cfg, clients)
    pre_calls = {
        "salesforce": clients.salesforce.api_calls() - before["salesforce"],
        "intercom": clients.intercom.api_calls() - before["intercom"],
    }
    streams = build_streams(cfg, clients, objects)
    flag = StopFlag()
    board = ProgressBoard(out, flag, bars=bars)
    watch_stop_and_waits(clients, streams, flag, board)
    run = SnapshotRun.begin(cfg, full=full, objects=list(objects) if objects else None)
    for line in run.discarded:
        print(f"not resuming unfinished snapshot {line}; starting afresh", file=out)
    try:
        if run.resumed:
            print(f"resuming snapshot {run.id} ({len(run.progress['streams'])} streams already pulled)", file=out)
        runner = PullRunner(cfg, run, clients, out=out, bars=bars, board=board)
        ctx: IntercomContext = streams["_ctx"][0]
        with sigint_stops(flag), ThreadPoolExecutor(max_workers=2) as pool:
            futures = [
                pool.submit(runner.run_system, streams["salesforce"], 0),
                pool.submit(runner.run_system, streams["intercom"], 1),
            ]
            errors = [f.exception() for f in futures]
        board.close()
        if flag.is_set():
            done = len(run.progress["streams"])
            print(f"stopped: {done} stream(s) finished are kept; run the same command to resume", file=out)
            raise StopRequested()
        for e in errors:
            if e is not None:
                raise e
        if streams["intercom"]:
            run.write_json("intercom", "data_attributes.json", ctx.data_attributes())
            # The workspace's tags (read once per pull already), so rules can name a tag nobody carries this month.
            run.write_json("intercom", "tags.json", [{"id": k, "name": v} for k, v in sorted(ctx.tags().items())])
        elif run.base is not None and (run.base.path / "intercom" / "data_attributes.json").is_file():
            import json

            run.write_json(
                "intercom",
                "data_attributes.json",
                json.loads((run.base.path / "intercom" / "data_attributes.json").read_text()),
            )
        if not streams["intercom"] and run.base is not None and (run.base.path / "intercom" / "tags.json").is_file():
            import json

            run.write_json("intercom", "tags.json", json.loads((run.base.path / "intercom" / "tags.json").read_text()))
        runner.carry_over({s.stream_id for s in streams["salesforce"] + streams["intercom"]})
        from syncaudit.own_writes import copy_own_writes
        from syncaudit.workspace import DataDir

        copy_own_writes(DataDir(cfg).journal, run.table_path("syncaudit", "own_writes"))
        if run.base is not None:  # removals found earlier stay on record
            for system in ("salesforce", "intercom"):
                old, new = run.base.table_path(system, "tombstones"), run.table_path(system, "tombstones")
                if old.is_file() and not new.exists():
                    new.parent.mkdir(parents=True, exist_ok=True)
                    os.link(old, new)
        stream_calls = {
            system: sum(v["api_calls"] for k, v in run.progress["streams"].items() if k.startswith(system + "/"))
            for system in ("salesforce", "intercom")
        }
        snap = run.complete(
            extra={
                "api_calls": {s: stream_calls[s] + pre_calls[s] for s in stream_calls},
                "preflight_api_calls": pre_calls,
                "api_versions": {"salesforce": clients.salesforce.api_version, "intercom": clients.intercom.version},
                "sandbox": cfg.sandbox is not None,
                "config_name": cfg.name,
                "salesforce_api_usage": list(clients.salesforce.usage) if clients.salesforce.usage else None,
                "salesforce_relogins": clients.salesforce.relogins,
                "intercom_rate_limited": clients.intercom.rate_limited,
            }
        )
    finally:
        run.release()
    calls = snap.manifest["api_calls"]
    print(
        f"snapshot {snap.id} complete ({snap.manifest['mode']}): {calls['salesforce']:,} Salesforce and "
        f"{calls['intercom']:,} Intercom API calls in {snap.manifest['duration_s']:.1f} s",
        file=out,
    )
    return snap


def cli_pull(args: argparse.Namespace) -> int:
    """`syncaudit pull --config F [--full] [--objects ...]`: prints the snapshot path."""
    snap = run_pull(args.cfg, full=bool(args.full), objects=getattr(args, "objects", None))
    print(snap.path)
    return 0
