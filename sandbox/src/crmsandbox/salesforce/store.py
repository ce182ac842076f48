"""SQLite storage for the Salesforce sandbox: one database, one table per object, bulk loading from CSV.

Values are stored as Salesforce means them: datetimes as ``YYYY-MM-DDTHH:MM:SS.fffZ`` text (so text order is time
order), dates ``YYYY-MM-DD``, booleans 0/1, numbers as numbers, text columns ``COLLATE NOCASE`` (SOQL compares
text case-insensitively). Each thread gets its own connection; writes are serialised by one lock.
"""

from __future__ import annotations

import csv
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crmsandbox.errors import SandboxInputError

from .ids import is_id, make_id, to18
from .schema import PERSON_NAME_OBJECTS, SObject

LOAD_ORDER = ["User", "Account", "Contact", "Lead", "Case", "Task", "AccountHistory", "ContactHistory", "LeadHistory"]
_STAGE_BATCH = 20_000
csv.field_size_limit(sys.maxsize)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Store:
    """The database file and its per-thread connections."""

    def __init__(self, path: Path, objs: dict[str, SObject]) -> None:
        self.path = path
        self.objs = objs
        self._local = threading.local()
        self.lock = threading.RLock()
        self._conns: list[sqlite3.Connection] = []

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            # Small per-connection cache: reads go through the shared mmap, and the server runs many threads.
            c.execute("PRAGMA cache_size=-8192")
            c.execute("PRAGMA temp_store=MEMORY")
            c.execute("PRAGMA mmap_size=1073741824")
            self._local.conn = c
            with self.lock:
                self._conns.append(c)
        return c

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised with every other writer; rolled back on any exception."""
        c = self.conn()
        with self.lock:
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            for c in self._conns:
                try:
                    c.close()
                except sqlite3.Error:
                    pass
            self._conns.clear()
        self._local = threading.local()

    # -- schema
    def is_initialised(self) -> bool:
        row = self.conn().execute("SELECT name FROM sqlite_master WHERE name = '_meta'").fetchone()
        if not row:
            return False
        return self.conn().execute("SELECT value FROM _meta WHERE key = 'loaded'").fetchone() is not None

    def create_tables(self, c: sqlite3.Connection) -> None:
        """Drop and create every object table plus the sandbox's own tables."""
        c.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
        c.execute("CREATE TABLE IF NOT EXISTS _tokens (token TEXT PRIMARY KEY, kind TEXT, expires_at REAL)")
        c.execute("DROP TABLE IF EXISTS _cursor_rows")
        c.execute("CREATE TABLE _cursor_rows (cursor TEXT, seq INTEGER, rid INTEGER, PRIMARY KEY (cursor, seq))")
        c.execute("DROP TABLE IF EXISTS _jobs")
        c.execute("CREATE TABLE _jobs (id TEXT PRIMARY KEY, info TEXT, data BLOB, results BLOB)")
        c.execute("DROP TABLE IF EXISTS _writes")
        c.execute("CREATE TABLE _writes (key TEXT PRIMARY KEY, n INTEGER NOT NULL)")
        c.execute("DROP TABLE IF EXISTS _v1_batches")
        c.execute(
            "CREATE TABLE _v1_batches (id TEXT PRIMARY KEY, job TEXT, seq INTEGER, info TEXT, data BLOB, results BLOB)"
        )
        c.execute("DELETE FROM _meta")
        for o in self.objs.values():
            c.execute(f"DROP TABLE IF EXISTS {q(o.name)}")
            cols = [f"{q(f.name)} {f.sqlite_type}" for f in o.field_list()]
            c.execute(f"CREATE TABLE {q(o.name)} ({', '.join(cols)})")

    def create_indexes(self, c: sqlite3.Connection) -> None:
        """Indexes after the bulk load (faster than maintaining them row by row); duplicates are a load error."""
        for o in self.objs.values():
            for f in o.field_list():
                kind = ""
                if f.type == "id" or f.unique:
                    kind = "UNIQUE "
                elif not (f.external_id or f.name == "SystemModstamp"):  # incremental pulls filter on it
                    continue
                name = q(f"ix_{o.name}_{f.name}")
                try:
                    c.execute(f"CREATE {kind}INDEX IF NOT EXISTS {name} ON {q(o.name)} ({q(f.name)})")
                except sqlite3.IntegrityError:
                    dup = c.execute(
                        f"SELECT {q(f.name)} FROM {q(o.name)} WHERE {q(f.name)} IS NOT NULL "
                        f"GROUP BY {q(f.name)} HAVING COUNT(*) > 1 LIMIT 1"
                    ).fetchone()
                    raise SandboxInputError(
                        f"{o.name}.{f.name} must be unique but the value {dup[0] if dup else '?'!r} repeats",
                        file=f"salesforce/{o.name}.csv",
                        hint="give every record its own value (Salesforce enforces unique fields)",
                    ) from None

    def get_meta(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, c: sqlite3.Connection, key: str, value: str) -> None:
        c.execute("INSERT OR REPLACE INTO _meta (key, value) VALUES (?, ?)", (key, value))

    def next_seq(self, c: sqlite3.Connection, name: str, n: int = 1) -> int:
        """Reserve ``n`` numbers of a named sequence; returns the first (inside a write transaction)."""
        row = c.execute("SELECT value FROM _meta WHERE key = ?", (f"seq:{name}",)).fetchone()
        first = int(row[0]) if row else 1
        self.set_meta(c, f"seq:{name}", str(first + n))
        return first

    # -- loading
    def load_csv(self, c: sqlite3.Connection, o: SObject, path: Path, now: str, admin_id: str) -> int:
        """Bulk-load one object's CSV through a staging table; conversions run in SQL."""
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                return 0
            except csv.Error as exc:
                raise SandboxInputError(f"invalid CSV: {exc}", file=str(path)) from None
            fields = []
            for col in header:
                f = o.get(col.strip())
                if f is None:
                    raise SandboxInputError(
                        f"unknown column {col!r} for {o.name}",
                        file=str(path),
                        hint=f"declare custom fields in salesforce/schema.json or fix the header of {path.name}",
                    )
                fields.append(f)
            if len({f.name for f in fields}) != len(fields):
                raise SandboxInputError("a column repeats in the header", file=str(path))
            names = [f.name for f in fields]
            c.execute("DROP TABLE IF EXISTS temp._stage")
            c.execute(f"CREATE TEMP TABLE _stage ({', '.join(f'c{i}' for i in range(len(names)))})")
            ins = f"INSERT INTO temp._stage VALUES ({', '.join('?' for _ in names)})"
            id_pos = names.index("Id") if "Id" in names else None
            batch: list[list[str]] = []
            total = 0
            try:
                for line_no, row in enumerate(reader, start=2):
                    if len(row) != len(names):
                        if not row:
                            continue
                        raise SandboxInputError(
                            f"line {line_no} has {len(row)} values but the header has {len(names)}", file=str(path)
                        )
                    # Full checksum validation on a sample (the first 1000 rows) and on every 15-character id.
                    if id_pos is not None and row[id_pos] and (len(row[id_pos]) != 18 or line_no <= 1001):
                        if not is_id(row[id_pos]):
                            raise SandboxInputError(f"line {line_no}: malformed Id {row[id_pos]!r}", file=str(path))
                        row[id_pos] = to18(row[id_pos])
                    batch.append(row)
                    if len(batch) >= _STAGE_BATCH:
                        c.executemany(ins, batch)
                        total += len(batch)
                        batch = []
            except csv.Error as exc:
                raise SandboxInputError(f"invalid CSV: {exc}", file=str(path)) from None
            if batch:
                c.executemany(ins, batch)
                total += len(batch)
        self._check_stage(c, o, fields, path)
        self._insert_stage(c, o, fields, now, admin_id)
        c.execute("DROP TABLE temp._stage")
        return total

    def _check_stage(self, c: sqlite3.Connection, o: SObject, fields: list, path: Path) -> None:
        """One scan for any value that does not convert; then name the first bad column of that row."""
        checks = []
        for i, f in enumerate(fields):
            col = f"NULLIF(c{i}, '')"
            expr = _convert_sql(col, f.type)
            if expr != col:
                checks.append((i, f, f"({col} IS NOT NULL AND ({expr}) IS NULL)"))
        if not checks:
            return
        bad = c.execute(
            f"SELECT rowid, {', '.join(cond for _, _, cond in checks)}, {', '.join(f'c{i}' for i, _, _ in checks)} "
            f"FROM temp._stage WHERE {' OR '.join(cond for _, _, cond in checks)} LIMIT 1"
        ).fetchone()
        if bad:
            k = next(k for k in range(len(checks)) if bad[1 + k])
            f = checks[k][1]
            raise SandboxInputError(
                f"data row {bad[0]}: {f.name} value {bad[1 + len(checks) + k]!r} is not a valid {f.type}",
                file=str(path),
                hint="write ISO 8601 dates/datetimes, true/false booleans and plain numbers",
            )

    def _insert_stage(self, c: sqlite3.Connection, o: SObject, fields: list, now: str, admin_id: str) -> None:
        given = {f.name: _convert_sql(f"NULLIF(c{i}, '')", f.type) for i, f in enumerate(fields)}
        exprs: dict[str, str] = {}
        for f in o.field_list():
            val = given.get(f.name)
            default = _default_sql(o, f, given, now, admin_id)
            if val is None:
                val = default
            elif default != "NULL":
                val = f"COALESCE({val}, {default})"
            exprs[f.name] = val
        cols = ", ".join(q(n) for n in exprs)
        c.execute(f"INSERT INTO {q(o.name)} ({cols}) SELECT {', '.join(exprs.values())} FROM temp._stage")
        missing = c.execute(f'SELECT rowid FROM {q(o.name)} WHERE "Id" IS NULL').fetchall()
        if missing:
            from .history import HISTORY_OBJECTS, HISTORY_SEQUENCE

            seq_name = HISTORY_SEQUENCE if o.name in HISTORY_OBJECTS else o.name
            first = self.next_seq(c, seq_name, len(missing))
            c.executemany(
                f'UPDATE {q(o.name)} SET "Id" = ? WHERE rowid = ?',
                [(make_id(o.key_prefix, first + k), r[0]) for k, r in enumerate(missing)],
            )
        if o.name == "Case":
            c.execute("UPDATE \"Case\" SET CaseNumber = printf('%08d', rowid) WHERE CaseNumber IS NULL")
            self.set_meta(
                c, "seq:CaseNumber", str(c.execute('SELECT COALESCE(MAX(rowid), 0) + 1 FROM "Case"').fetchone()[0])
            )


def _convert_sql(col: str, ftype: str) -> str:
    if ftype == "datetime":
        return f"strftime('%Y-%m-%dT%H:%M:%fZ', {col})"
    if ftype == "date":
        return f"date({col})"
    if ftype == "boolean":
        return f"CASE lower({col}) WHEN 'true' THEN 1 WHEN '1' THEN 1 WHEN 'false' THEN 0 WHEN '0' THEN 0 END"
    if ftype == "int":
        return (
            f"CASE WHEN {col} GLOB '*[0-9]*' AND CAST({col} AS INTEGER) || '' = {col} THEN CAST({col} AS INTEGER) END"
        )
    if ftype in ("double", "currency", "percent"):
        return f"CASE WHEN trim({col}) GLOB '[-+.0-9]*' AND NOT trim({col}) GLOB '*[^-+.0-9eE]*' THEN CAST({col} AS REAL) END"
    return col


def _default_sql(o: SObject, f, given: dict, now: str, admin_id: str) -> str:
    n = f.name
    lit = lambda v: "'" + v.replace("'", "''") + "'"  # noqa: E731
    if n == "IsDeleted":
        return "0"
    if n == "CreatedDate":
        return lit(now)
    if n in ("LastModifiedDate", "SystemModstamp"):
        return f"COALESCE({given.get('LastModifiedDate', 'NULL')}, {given.get('CreatedDate', 'NULL')}, {lit(now)})"
    if n in ("CreatedById", "LastModifiedById", "OwnerId"):
        return lit(admin_id)
    if n == "Name" and o.name in PERSON_NAME_OBJECTS:
        first, last = given.get("FirstName", "NULL"), given.get("LastName", "NULL")
        return f"NULLIF(trim(COALESCE({first}, '') || ' ' || COALESCE({last}, '')), '')"
    if n == "IsClosed" and o.name == "Task":
        return f"CASE WHEN {given.get('Status', 'NULL')} = 'Completed' THEN 1 ELSE 0 END"
    if n == "IsClosed" and o.name == "Case":
        return f"CASE WHEN {given.get('Status', 'NULL')} = 'Closed' THEN 1 ELSE 0 END"
    return default_value(o, f)


def default_value(o: SObject, f) -> str:
    """The SQL literal a field defaults to on create (``NULL`` when none)."""
    if f.type == "boolean":
        return "1" if f.name == "IsActive" else "0"
    defaults = {
        ("Lead", "Status"): "'Open - Not Contacted'",
        ("Task", "Status"): "'Not Started'",
        ("Task", "Priority"): "'Normal'",
        ("Case", "Status"): "'New'",
    }
    return defaults.get((o.name, f.name), "NULL")
