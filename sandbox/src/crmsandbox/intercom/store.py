"""SQLite storage of the Intercom emulator: schema, connection pool, bulk load, reset.

Each record is kept as its JSON document plus indexed columns for the fields
that list, search and uniqueness rules need, so those are SQL (keyset cursors
over indexes), never Python scans. The loaded state is copied to a baseline
file with SQLite's backup API; ``reset`` copies it back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from crmsandbox.errors import SandboxInputError
from crmsandbox.intercom import buckets

SCHEMA_VERSION = "3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS write_counts(key TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contacts(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role TEXT NOT NULL COLLATE NOCASE,
  external_id TEXT COLLATE NOCASE,
  email TEXT COLLATE NOCASE,
  phone TEXT COLLATE NOCASE,
  name TEXT COLLATE NOCASE,
  owner_id TEXT COLLATE NOCASE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  signed_up_at INTEGER,
  last_seen_at INTEGER,
  archived INTEGER NOT NULL DEFAULT 0,
  merged_into TEXT,
  doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS companies(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  company_id TEXT NOT NULL,
  name TEXT COLLATE NOCASE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_request_at INTEGER,
  doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_companies(
  contact_seq INTEGER NOT NULL, company_seq INTEGER NOT NULL, PRIMARY KEY(contact_seq, company_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags(id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS contact_tags(
  contact_seq INTEGER NOT NULL, tag_id INTEGER NOT NULL, applied_at INTEGER, PRIMARY KEY(contact_seq, tag_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS company_tags(
  company_seq INTEGER NOT NULL, tag_id INTEGER NOT NULL, PRIMARY KEY(company_seq, tag_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conversations(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  state TEXT,
  doc TEXT NOT NULL,
  parts TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS conversation_contacts(
  conversation_seq INTEGER NOT NULL, contact_id TEXT NOT NULL, PRIMARY KEY(conversation_seq, contact_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS admins(id TEXT PRIMARY KEY, doc TEXT NOT NULL);
-- a note belongs to a contact or to a company (never both)
CREATE TABLE IF NOT EXISTS notes(
  id INTEGER PRIMARY KEY,
  contact_seq INTEGER,
  company_seq INTEGER,
  created_at INTEGER NOT NULL,
  admin_id TEXT,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segments(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  person_type TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS contact_segments(
  segment_id TEXT NOT NULL, contact_seq INTEGER NOT NULL, PRIMARY KEY(segment_id, contact_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS company_segments(
  segment_id TEXT NOT NULL, company_seq INTEGER NOT NULL, PRIMARY KEY(segment_id, company_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS data_attributes(
  seq INTEGER PRIMARY KEY,
  model TEXT NOT NULL,
  name TEXT NOT NULL,
  custom INTEGER NOT NULL,
  doc TEXT NOT NULL,
  UNIQUE(model, name)
);
"""

# Indexes of earlier schema versions, dropped by a reload.
LEGACY_INDEXES = (
    "ix_contacts_created",
    "ix_contacts_updated",
    "ix_contacts_created_role",
    "ix_contacts_updated_role",
    "ix_contact_buckets_field",
)

# Built after a bulk load (faster than maintaining them row by row).
INDEXES = """
-- the keyset orders, each carrying the other date and the role: a filter on one date sorted by the other
-- (the pull's incremental partitions: updated_at > X AND a created_at range) and the role are checked in
-- the index, so counts of such queries are index-only (single-date counts come from the count buckets)
CREATE INDEX IF NOT EXISTS ix_contacts_created_seq ON contacts(created_at, seq, updated_at, role)
  WHERE archived = 0 AND merged_into IS NULL;
CREATE INDEX IF NOT EXISTS ix_contacts_updated_seq ON contacts(updated_at, seq, created_at, role)
  WHERE archived = 0 AND merged_into IS NULL;
CREATE INDEX IF NOT EXISTS ix_contacts_email ON contacts(email);
CREATE INDEX IF NOT EXISTS ix_contacts_owner ON contacts(owner_id);
CREATE INDEX IF NOT EXISTS ix_contacts_external_id ON contacts(external_id);
CREATE INDEX IF NOT EXISTS ix_contacts_phone ON contacts(phone);
CREATE INDEX IF NOT EXISTS ix_contacts_name ON contacts(name);
CREATE INDEX IF NOT EXISTS ix_contacts_signed_up ON contacts(signed_up_at);
CREATE INDEX IF NOT EXISTS ix_contacts_last_seen ON contacts(last_seen_at);
CREATE INDEX IF NOT EXISTS ix_companies_company_id ON companies(company_id);
CREATE INDEX IF NOT EXISTS ix_companies_name ON companies(name);
CREATE INDEX IF NOT EXISTS ix_companies_last_request ON companies(last_request_at, seq);
CREATE INDEX IF NOT EXISTS ix_contact_companies_company ON contact_companies(company_seq, contact_seq);
CREATE INDEX IF NOT EXISTS ix_contact_tags_tag ON contact_tags(tag_id, contact_seq);
CREATE INDEX IF NOT EXISTS ix_conversations_created ON conversations(created_at, seq);
CREATE INDEX IF NOT EXISTS ix_conversations_updated ON conversations(updated_at, seq);
CREATE INDEX IF NOT EXISTS ix_conversation_contacts_contact ON conversation_contacts(contact_id);
CREATE INDEX IF NOT EXISTS ix_notes_contact ON notes(contact_seq, id);
CREATE INDEX IF NOT EXISTS ix_notes_company ON notes(company_seq, id);
CREATE INDEX IF NOT EXISTS ix_contact_segments_contact ON contact_segments(contact_seq);
CREATE INDEX IF NOT EXISTS ix_company_segments_company ON company_segments(company_seq);
"""


class Store:
    """The emulator's SQLite file, a small pool of connections and the write lock."""

    def __init__(self, state_dir: Path | None) -> None:
        self._tmp = None
        if state_dir is None:
            # No state dir: a throwaway file (an in-memory DB would hold a million documents in RAM).
            self._tmp = tempfile.mkdtemp(prefix="syncaudit-ic-")
            state_dir = Path(self._tmp)
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "intercom.sqlite"
        self.baseline = self.dir / "intercom.loaded.sqlite"
        self.write_lock = threading.RLock()
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self.generation = 0  # bumped on every write; keys the count caches
        with self.connection() as db:
            ensure_schema(db)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-65536")
        db.execute("PRAGMA mmap_size=1073741824")
        db.execute("PRAGMA temp_store=MEMORY")
        return db

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a pooled connection (autocommit; use ``transaction`` to write)."""
        try:
            db = self._pool.get_nowait()
        except queue.Empty:
            db = self._connect()
        try:
            yield db
        finally:
            if db.in_transaction:
                db.rollback()
            self._pool.put(db)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One serialized write transaction; bumps the generation on success."""
        with self.write_lock, self.connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()
            self.generation += 1

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self.connection() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def is_loaded(self) -> bool:
        return self.get_meta("schema_version") == SCHEMA_VERSION

    def save_baseline(self) -> None:
        """Copy the current (just loaded) state to the baseline file that ``reset`` restores."""
        with self.write_lock, self.connection() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            dest = sqlite3.connect(self.baseline)
            try:
                db.backup(dest)
            finally:
                dest.close()

    def restore_baseline(self) -> None:
        """Replace the live state by the baseline (the loaded state)."""
        if not self.baseline.exists():
            return
        with self.write_lock:
            src = sqlite3.connect(self.baseline)
            try:
                with self.connection() as db:
                    src.backup(db)
                    # A baseline saved by an older emulator lacks what was added since (write_counts):
                    # bring the restored state up to the current schema, as opening the store does.
                    ensure_schema(db)
            finally:
                src.close()
            self.generation += 1

    def wipe(self) -> None:
        """Empty every table (before a fresh load; the count buckets are rebuilt after it)."""
        with self.transaction() as db:
            buckets.drop_triggers(db)
            for table in (
                "meta contacts companies contact_companies tags contact_tags company_tags "
                "conversations conversation_contacts admins data_attributes contact_buckets notes segments "
                "contact_segments company_segments"
            ).split():
                db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)

    def close(self) -> None:
        """Close pooled connections; remove the throwaway directory if there was no state dir."""
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create whatever the current schema has and this database lacks (tables, and for a current
    ``schema_version`` its indexes and count triggers; an older one is reloaded, which builds them)."""
    db.executescript(SCHEMA)
    db.executescript(buckets.TABLE)
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or row[0] == SCHEMA_VERSION:
        db.executescript(INDEXES)
        buckets.create_triggers(db)


def load_folder_fingerprint(load_dir: Path) -> str:
    """A cheap identity of a load folder (names, sizes, mtimes) to decide whether a state dir is current."""
    folder = Path(load_dir) / "intercom"
    if not folder.is_dir():
        raise SandboxInputError(
            f"{folder} does not exist",
            hint="pass the folder written by `python -m crmsandbox generate` (or `syncaudit sandbox generate`) (it holds an intercom/ subfolder)",
        )
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:32]


def read_json_list(path: Path, *keys: str) -> list[dict]:
    """A JSON file holding a list, or an object with the list under one of ``keys`` (e.g. the API's list shape)."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SandboxInputError(f"{path}: not valid JSON ({exc})", hint="regenerate the load folder") from exc
    if isinstance(data, dict):
        for k in keys:
            if isinstance(data.get(k), list):
                return data[k]
        raise SandboxInputError(f"{path}: expected a list or an object with one of {list(keys)}")
    if not isinstance(data, list):
        raise SandboxInputError(f"{path}: expected a JSON list")
    return data


def iter_jsonl(path: Path) -> Iterator[dict]:
    """Objects of a JSON-lines file; a bad line is reported with its number."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SandboxInputError(
                    f"{path}:{n}: not valid JSON ({exc.msg})", hint="regenerate the load folder"
                ) from exc
            if not isinstance(obj, dict):
                raise SandboxInputError(f"{path}:{n}: expected a JSON object per line")
            yield obj


def new_hex_id() -> str:
    """A 24-hex id like Intercom's contact and company ids."""
    return os.urandom(12).hex()
