"""Snapshots: one run folder of Parquet tables plus a manifest, written atomically.

Layout (docs/contracts.md)::

    <data_dir>/snapshots/<id>.partial/   while a pull runs (progress.json records finished streams)
    <data_dir>/snapshots/<id>/           after completion; manifest.json is written last
    <data_dir>/snapshots/LATEST          id of the newest complete snapshot

A pull that dies leaves only the ``.partial`` folder: nothing is marked complete.
The next pull resumes it only when it is the same run — same config hash, same
mode and base, the same ``--full`` flag and the same ``--objects`` — keeping the
finished streams; anything else discards it, starts afresh and says why
(:attr:`SnapshotRun.discarded`).

Bookmarks live in the manifest of the complete snapshot, so they only advance
when a whole snapshot lands; an incremental run reads them from the base
snapshot (the newest complete one) and merges its deltas into a new folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from syncaudit import __version__
from syncaudit.config import Config
from syncaudit.errors import ConfigError, SyncAuditError
from syncaudit.fsutil import atomic_write
from syncaudit.snapshot_merge import delta_files, has_delta, table_rows, table_sql

MANIFEST = "manifest.json"
PROGRESS = "progress.json"
LATEST = "LATEST"
FORMAT_VERSION = 1
ID_FORMAT = "%Y%m%dT%H%M%SZ"
# Table folders of a snapshot and the DuckDB view prefix of each: sf_Contact, ic_contacts, sy_own_writes
# (syncaudit's own writes, copied from the apply journal by the pull: own_writes.py).
VIEW_PREFIX = {"salesforce": "sf", "intercom": "ic", "syncaudit": "sy"}


def snapshots_root(cfg: Config) -> Path:
    from syncaudit.workspace import DataDir

    return DataDir(cfg).snapshots


def _write_json_atomic(path: Path, obj: Any) -> None:
    """The JSON of ``obj``, on disk before it replaces ``path``: readers see the old or the new file, never half."""
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True, default=str), fsync=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Snapshot:
    """A complete snapshot folder."""

    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.manifest["id"])

    def table_path(self, system: str, name: str) -> Path:
        """The table's base file: the whole table unless :meth:`has_delta` (then read :meth:`table_sql`)."""
        return self.path / system / f"{name}.parquet"

    def has_delta(self, system: str, name: str) -> bool:
        """Whether an incremental pull left a delta layer over the base file (snapshot_merge)."""
        return has_delta(self.table_path(system, name))

    def table_sql(self, system: str, name: str) -> str:
        """A DuckDB query returning the whole table (base and delta layer)."""
        return table_sql(self.table_path(system, name))

    def tables(self) -> list[tuple[str, str]]:
        out = []
        for system in VIEW_PREFIX:
            d = self.path / system
            if d.is_dir():
                out += [(system, p.stem) for p in sorted(d.glob("*.parquet"))]
        return out

    def bookmark(self, stream: str) -> str | None:
        return (self.manifest.get("streams", {}).get(stream) or {}).get("bookmark")

    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per table: ``sf_<Object>``, ``ic_<name>``, ``sy_<name>``."""
        con = duckdb.connect()
        for system, name in self.tables():
            prefix = VIEW_PREFIX[system]
            con.execute(f'CREATE VIEW "{prefix}_{name}" AS {self.table_sql(system, name)}')
        return con


def _load_complete(path: Path) -> Snapshot | None:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if manifest.get("status") != "complete":
        return None
    return Snapshot(path=path, manifest=manifest)


def list_snapshots(root: Path) -> list[str]:
    """Ids of the complete snapshots under root, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / MANIFEST).is_file())


def latest_snapshot(root: Path) -> Snapshot | None:
    latest = root / LATEST
    if latest.is_file():
        snap = _load_complete(root / latest.read_text(encoding="utf-8").strip())
        if snap:
            return snap
    for sid in reversed(list_snapshots(root)):  # LATEST lost or stale: fall back to a scan
        snap = _load_complete(root / sid)
        if snap:
            return snap
    return None


def open_snapshot(cfg: Config, snapshot_id: str | None = None) -> Snapshot:
    """Open a complete snapshot by id or path (default: the newest complete one)."""
    root = snapshots_root(cfg)
    if snapshot_id is None:
        snap = latest_snapshot(root)
        if snap is None:
            raise ConfigError(
                f"no complete snapshot under {root}",
                hint=f"run `syncaudit pull --config {cfg.source_path or 'FILE'}` first",
            )
        return snap
    candidate = Path(snapshot_id)
    path = candidate if candidate.is_dir() else root / snapshot_id
    snap = _load_complete(path)
    if snap is None:
        known = ", ".join(list_snapshots(root)[-5:]) or "none"
        partial = path.with_name(path.name + ".partial").is_dir() or path.is_dir()
        state = "is incomplete (a pull died or is still running)" if partial else "was not found"
        raise ConfigError(
            f"snapshot {snapshot_id!r} {state}",
            hint=f"pass one of the complete snapshots ({known}) or omit it for the latest",
        )
    return snap


# ---------------------------------------------------------------- writing


class TableWriter:
    """Streams record batches of one table into Parquet; the file appears under its name only on close.

    API pages are small (150 Intercom records): they are gathered into row groups of ``ROW_GROUP_ROWS`` rows
    (at most that many rows held in memory), since a row group per page makes the file slow to write and read.
    """

    ROW_GROUP_ROWS = 65_536

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_name(path.name + ".tmp")
        self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def write(self, data: pa.Table | pa.RecordBatch) -> None:
        if data.num_rows == 0:
            return
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if data.schema != self.schema:
            data = data.select(self.schema.names).cast(self.schema)
        self.rows += data.num_rows
        if data.num_rows >= self.ROW_GROUP_ROWS and not self._pending:
            self._writer.write_table(data)
            return
        self._pending.append(data)
        self._pending_rows += data.num_rows
        if self._pending_rows >= self.ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=self.ROW_GROUP_ROWS)
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


@dataclass
class StreamResult:
    records: int
    api_calls: int
    duration_s: float
    bookmark: str | None
    mode: str  # "full" | "incremental"
    extra: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {
            "records": self.records,
            "api_calls": self.api_calls,
            "duration_s": round(self.duration_s, 3),
            "bookmark": self.bookmark,
            "mode": self.mode,
        }
        d.update(self.extra or {})
        return d


class SnapshotRun:
    """A snapshot being written. Use :meth:`begin`; finish with :meth:`complete`."""

    def __init__(self, root: Path, sid: str, started_at: datetime, base: Snapshot | None, progress: dict) -> None:
        self.root = root
        self.id = sid
        self.started_at = started_at
        self.base = base
        self.progress = progress
        self.partial = root / f"{sid}.partial"
        self.resumed = bool(progress.get("streams"))
        self.discarded: list[str] = []  # why unfinished runs were not resumed (one line each)
        self._lock_fd: int | None = None
        self._plock = threading.Lock()

    # -- lifecycle

    @classmethod
    def begin(
        cls, cfg: Config, *, full: bool, objects: list[str] | None = None, now: datetime | None = None
    ) -> SnapshotRun:
        """Start a run, or resume the unfinished one that is the same run: same configuration, mode, base,
        ``--full`` flag and ``--objects`` (compared case-insensitively, order aside)."""
        root = snapshots_root(cfg)
        root.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise SyncAuditError(
                f"another pull is writing under {root}", hint="wait for it to finish (or stop it) and run again"
            ) from None
        base = None if full else latest_snapshot(root)
        mode = "full" if base is None else "incremental"
        want = {
            "config_hash": cfg.config_hash(),
            "mode": mode,
            "base": base.id if base else None,
            "full_requested": bool(full),
            "objects": sorted({o.lower() for o in objects}) if objects else None,
        }
        run = None
        discarded: list[str] = []
        for partial in sorted(root.glob("*.partial")):
            try:
                prog = json.loads((partial / PROGRESS).read_text(encoding="utf-8"))
            except (FileNotFoundError, json.JSONDecodeError):
                prog = {}
            differs = [k for k, v in want.items() if prog.get(k) != v]
            if run is None and not differs:
                sid = partial.name.removesuffix(".partial")
                run = cls(root, sid, parse_iso(prog["started_at"]), base, prog)
            else:  # not the same run: another config, mode, base, --full or --objects, or unreadable
                discarded.append(f"{partial.name.removesuffix('.partial')}: {_why_not_resumed(prog, want, differs)}")
                shutil.rmtree(partial, ignore_errors=True)
        if run is None:
            started = (now or datetime.now(UTC)).replace(microsecond=0)
            sid = started.strftime(ID_FORMAT)
            while (root / sid).exists():  # two runs within one second
                started += timedelta(seconds=1)
                sid = started.strftime(ID_FORMAT)
            prog = {**want, "id": sid, "started_at": iso(started), "streams": {}}
            run = cls(root, sid, started, base, prog)
            run.partial.mkdir(parents=True)
            run._save_progress()
        run._lock_fd = lock_fd
        run.discarded = discarded
        return run

    @property
    def mode(self) -> str:
        return str(self.progress["mode"])

    def _save_progress(self) -> None:
        _write_json_atomic(self.partial / PROGRESS, self.progress)

    def release(self) -> None:
        """Drop the writer lock (the partial folder stays for the next run to resume)."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
            self._lock_fd = None

    # -- streams

    def is_done(self, stream: str) -> bool:
        return stream in self.progress["streams"]

    def base_bookmark(self, stream: str) -> str | None:
        return self.base.bookmark(stream) if self.base else None

    def table_path(self, system: str, name: str) -> Path:
        return self.partial / system / f"{name}.parquet"

    def staging_path(self, system: str, name: str) -> Path:
        """Where a delta is written before it is merged into the table."""
        return self.partial / "_staging" / system / f"{name}.parquet"

    def writer(self, system: str, name: str, schema: pa.Schema, *, staging: bool = False) -> TableWriter:
        path = self.staging_path(system, name) if staging else self.table_path(system, name)
        if not staging:  # a whole table: a delta layer left by an earlier attempt (resumed run) must not apply
            for stale in delta_files(path):
                stale.unlink(missing_ok=True)
        return TableWriter(path, schema)

    def write_json(self, system: str, relpath: str, obj: Any) -> None:
        path = self.partial / system / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(path, obj)

    def stream_done(self, stream: str, result: StreamResult) -> None:
        with self._plock:
            self.progress["streams"][stream] = result.as_dict()
            self._save_progress()

    # -- completion

    def complete(self, extra: dict[str, Any] | None = None) -> Snapshot:
        """Write the manifest last, rename the folder, then point LATEST at it."""
        shutil.rmtree(self.partial / "_staging", ignore_errors=True)
        finished = datetime.now(UTC)
        tables = {}
        known = {  # counted by the incremental merges already
            f"{sid.split('/', 1)[0]}/{name}": n
            for sid, st in self.progress["streams"].items()
            for name, n in (st.get("table_rows") or {}).items()
        }
        for system in ("salesforce", "intercom"):
            for p in sorted((self.partial / system).glob("*.parquet")):
                rows = known.get(f"{system}/{p.stem}")
                entry: dict[str, Any] = {"rows": rows if rows is not None else table_rows(p)}
                if has_delta(p):
                    entry["delta_rows"] = pq.ParquetFile(p.parent / "_delta" / p.name).metadata.num_rows
                tables[f"{system}/{p.stem}"] = entry
        manifest = {
            "format": FORMAT_VERSION,
            "id": self.id,
            "status": "complete",
            "mode": self.mode,
            "base": self.progress.get("base"),
            "resumed": self.resumed,
            "started_at": iso(self.started_at),
            "finished_at": iso(finished),
            "duration_s": round((finished - self.started_at).total_seconds(), 3),
            "config_hash": self.progress["config_hash"],
            "tool": {"name": "syncaudit", "version": __version__},
            "streams": self.progress["streams"],
            "tables": tables,
            "api_calls": {
                sys_: sum(v["api_calls"] for k, v in self.progress["streams"].items() if k.startswith(sys_ + "/"))
                for sys_ in ("salesforce", "intercom")
            },
        }
        manifest.update(extra or {})
        (self.partial / PROGRESS).unlink(missing_ok=True)
        _write_json_atomic(self.partial / MANIFEST, manifest)
        final = self.root / self.id
        os.replace(self.partial, final)
        _fsync_dir(self.root)
        (self.root / (LATEST + ".tmp")).write_text(self.id + "\n", encoding="utf-8")
        os.replace(self.root / (LATEST + ".tmp"), self.root / LATEST)
        self.release()
        return Snapshot(path=final, manifest=manifest)


def _describe_request(prog: dict[str, Any]) -> str:
    objects = prog.get("objects")
    what = f"--objects {' '.join(objects)}" if objects else "all objects"
    flag = "--full" if prog.get("full_requested") else "no --full"
    return f"{prog.get('mode', '?')} pull of {what} ({flag})"


def _why_not_resumed(prog: dict[str, Any], want: dict[str, Any], differs: list[str]) -> str:
    if not prog or "config_hash" not in prog:
        return "its progress file is unreadable"
    if not differs:
        return "another unfinished run was resumed"
    if "config_hash" in differs:
        return "the configuration changed since it started"
    if "base" in differs and not {"mode", "full_requested", "objects"} & set(differs):
        return "a newer snapshot completed since it started"
    return f"it was a {_describe_request(prog)}, this is a {_describe_request(want)}"


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    box = [time.monotonic()]
    yield box
    box[0] = time.monotonic() - box[0]
