"""The Salesforce sandbox backend: state and rules, no HTTP (moto style).

Record writes enforce what a real org enforces (required fields, lengths, email format, restricted
picklists, unique external ids, read-only fields, converted leads, the recycle bin) and keep the audit
fields. Time comes from an injectable clock so tests can move it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from . import duplicates, person_accounts
from . import exceptions as exc
from .history import HISTORY_OBJECTS, read_tracking, record_changes, tracked_fields
from .ids import is_id, make_id, to18
from .schema import PERSON_NAME_OBJECTS, SObject, build_schema
from .soql_sql import find_object
from .store import LOAD_ORDER, Store, default_value, q
from .values import check_reference, coerce, format_datetime, render

ADMIN_USERNAME = "admin@sandbox.example"


class SalesforceBackend:
    """One sandbox org: schema, SQLite store, record rules."""

    def __init__(self, db_path: Path, load_dir: Path | None, clock: Callable[[], float]) -> None:
        self.load_dir = load_dir
        self.clock = clock
        schema_path = load_dir / "salesforce" / "schema.json" if load_dir else None
        self.schema_text = schema_path.read_text(encoding="utf-8") if schema_path and schema_path.exists() else None
        self.store = Store(db_path, {})
        self.tracking_text = read_tracking(load_dir)
        if self.store.is_initialised():
            # A restart: the tables were made from the schema kept at load time, whatever folder is passed now.
            self.schema_text = self.store.get_meta("schema")
            self.tracking_text = self.store.get_meta("field_history")
        self.objs: dict[str, SObject] = build_schema(schema_path, self.schema_text)
        if person_accounts.enabled(self.objs):
            person_accounts.add_person_fields(self.objs)
        self.tracked = tracked_fields(self.objs, self.tracking_text)
        # Objects the API user may not read (no object permission): to the API they do not exist.
        self.hidden: set[str] = set()
        self.store.objs = self.objs
        self.org_id = make_id("00D", 1)
        self.admin_id = make_id("005", 1)
        self.duplicate_rules = duplicates.load_rules(
            load_dir / "salesforce" / "duplicate_rules.json" if load_dir else None
        )
        if not self.store.is_initialised():
            self.load()
        with self.store.write() as c:  # state written before the counters existed
            c.execute("CREATE TABLE IF NOT EXISTS _writes (key TEXT PRIMARY KEY, n INTEGER NOT NULL)")

    @staticmethod
    def count_write(c, obj: str, record_id: str) -> None:
        """One more write of this record, in the caller's transaction (rolled back with it)."""
        c.execute(
            "INSERT INTO _writes (key, n) VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET n = n + 1",
            (f"{obj}/{record_id}",),
        )

    def write_counts(self) -> dict[str, int]:
        return dict(self.store.conn().execute("SELECT key, n FROM _writes ORDER BY key").fetchall())

    # -- time
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def now_text(self) -> str:
        return format_datetime(self.now())

    # -- loading
    def load(self) -> dict[str, int]:
        """(Re)create the tables and load the load folder; returns the record count per object."""
        counts: dict[str, int] = {}
        now = self.now_text()
        # A load is all or nothing (the "loaded" mark is written last), so it can skip the per-commit fsync.
        self.store.conn().execute("PRAGMA synchronous=OFF")
        try:
            self._load(counts, now)
        finally:
            self.store.conn().execute("PRAGMA synchronous=NORMAL")
        return counts

    def _load(self, counts: dict[str, int], now: str) -> None:
        with self.store.write() as c:
            self.store.create_tables(c)
            sf_dir = self.load_dir / "salesforce" if self.load_dir else None
            known = {n.lower(): n for n in self.objs}
            files = sorted(sf_dir.glob("*.csv")) if sf_dir and sf_dir.is_dir() else []
            for path in files:
                if path.stem.lower() not in known or path.stem == "Organization":
                    from crmsandbox.errors import SandboxInputError

                    raise SandboxInputError(
                        f"no such Salesforce object {path.stem!r}",
                        file=str(path),
                        hint=f"name load files after one of {', '.join(LOAD_ORDER)}",
                    )
            files.sort(key=lambda p: LOAD_ORDER.index(known[p.stem.lower()]))
            for path in files:
                o = self.objs[known[path.stem.lower()]]
                counts[o.name] = self.store.load_csv(c, o, path, now, self.admin_id)
            if person_accounts.enabled(self.objs):
                counts["Contact"] = counts.get("Contact", 0) + person_accounts.create_person_contacts(
                    c, self.objs, self.store.next_seq
                )
            self._seed(c, now)
            self.store.create_indexes(c)
            if self.schema_text is not None:
                self.store.set_meta(c, "schema", self.schema_text)
            if self.tracking_text is not None:
                self.store.set_meta(c, "field_history", self.tracking_text)
            self.store.set_meta(c, "loaded", now)

    def _seed(self, c: sqlite3.Connection, now: str) -> None:
        if not c.execute('SELECT 1 FROM "User" WHERE "Id" = ?', (self.admin_id,)).fetchone():
            c.execute(
                'INSERT INTO "User" ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", '
                '"LastModifiedById", "SystemModstamp", "Username", "Email", "FirstName", "LastName", "Name", '
                '"Alias", "IsActive", "UserType", "TimeZoneSidKey") VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, '
                "'Standard', 'GMT')",
                (self.admin_id, now, self.admin_id, now, self.admin_id, now, ADMIN_USERNAME, ADMIN_USERNAME)
                + ("Sandbox", "Admin", "Sandbox Admin", "sadmin"),
            )
        c.execute(
            'INSERT INTO "Organization" ("Id", "Name", "IsSandbox", "OrganizationType", "InstanceName", '
            '"LanguageLocaleKey", "DefaultLocaleSidKey", "TimeZoneSidKey", "Country", "CreatedDate") '
            "VALUES (?, ?, 1, ?, 'CS1', 'en_US', 'en_US', 'GMT', 'US', ?)",
            (self.org_id, "syncaudit sandbox", "Developer Edition", now),
        )

    def counts(self) -> dict[str, int]:
        conn = self.store.conn()
        return {n: conn.execute(f"SELECT COUNT(*) FROM {q(n)}").fetchone()[0] for n in self.objs}

    # -- lookups
    @property
    def api_objs(self) -> dict[str, SObject]:
        """The objects the API user can see (all of them unless some were hidden)."""
        if not self.hidden:
            return self.objs
        return {n: o for n, o in self.objs.items() if n not in self.hidden}

    def sobject(self, name: str) -> SObject:
        """The object named ``name``; NOT_FOUND as the REST API answers for an unknown object (or one the user
        has no permission to read)."""
        try:
            return find_object(self.api_objs, name)
        except exc.InvalidType:
            raise exc.NotFound(
                f"The requested resource does not exist: sObject type '{name}' is not supported."
            ) from None

    def _row(self, o: SObject, record_id: str) -> sqlite3.Row | None:
        conn = self.store.conn()
        cur = conn.execute(f'SELECT * FROM {q(o.name)} WHERE "Id" = ?', (record_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def _existing(self, o: SObject, record_id: str) -> dict:
        try:
            rid = to18(record_id)
        except exc.MalformedId:
            raise exc.NotFound(f"Provided external ID field does not exist or is not accessible: {record_id}") from None
        row = self._row(o, rid)
        if row is None:
            raise exc.NotFound()
        return row

    def render_record(self, o: SObject, row: dict, version: str, fields: list[str] | None = None) -> dict:
        """A record as the REST API returns it, with attributes."""
        out: dict = {"attributes": {"type": o.name, "url": f"/services/data/v{version}/sobjects/{o.name}/{row['Id']}"}}
        names = fields or [f.name for f in o.field_list()]
        for name in names:
            f = o.get(name)
            if f is None:
                raise exc.InvalidField(f"No such column '{name}' on entity '{o.name}'")
            out[f.name] = render(f, row.get(f.name))
        return out

    def get(self, obj: str, record_id: str, version: str, fields: list[str] | None = None) -> dict:
        """One live record (deleted ones answer NOT_FOUND like the REST API)."""
        o = self.sobject(obj)
        row = self._existing(o, record_id)
        if row.get("IsDeleted"):
            raise exc.NotFound("The requested resource does not exist")
        return self.render_record(o, row, version, fields)

    def find_by_external(self, obj: str, field_name: str, value: str) -> tuple[SObject, str, list[str]]:
        """(object, canonical field name, ids of live records whose field equals value)."""
        o = self.sobject(obj)
        f = o.get(field_name)
        if f is None or not (f.external_id or f.type == "id" or f.name in ("Email", "Username")):
            raise exc.NotFound(f"Provided external ID field does not exist or is not accessible: {field_name}")
        if f.type == "id":
            if not is_id(value):
                raise exc.NotFound(f"Provided external ID field does not exist or is not accessible: {value}")
            value = to18(value)
        rows = (
            self.store.conn()
            .execute(f'SELECT "Id" FROM {q(o.name)} WHERE {q(f.name)} = ? AND "IsDeleted" = 0 LIMIT 50', (value,))
            .fetchall()
        )
        return o, f.name, [r[0] for r in rows]

    # -- writes
    def _prepare(self, c, o: SObject, values: dict, *, creating: bool) -> dict:
        if not isinstance(values, dict):
            raise exc.JsonParserError("Cannot deserialize instance of SObject from a non-object value")
        out: dict = {}
        for key, raw in values.items():
            if key == "attributes":
                continue
            f = o.get(key)
            if f is None:
                raise exc.InvalidField(f"No such column '{key}' on sobject of type {o.name}", [key])
            if (creating and not f.createable) or (not creating and not f.updateable):
                raise exc.InvalidFieldForInsertUpdate(
                    f"Unable to create/update fields: {f.name}. Please check the security settings of this field "
                    "and verify that it is read/write for your profile or permission set.",
                    [f.name],
                )
            val = coerce(f, raw)
            if val is not None and f.type == "reference":
                check_reference(c, self.objs, f, val)
            out[f.name] = val
        return out

    def _check_required(self, o: SObject, record: dict, touched: set[str] | None) -> None:
        missing = [
            f.name
            for f in o.field_list()
            if not f.nillable
            and f.createable
            and not f.defaulted
            and record.get(f.name) is None
            and (touched is None or f.name in touched)
        ]
        if missing:
            raise exc.RequiredFieldMissing(f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _derive(self, o: SObject, record: dict) -> None:
        if o.name in PERSON_NAME_OBJECTS:
            name = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
            record["Name"] = name or None
        if o.name in ("Task", "Case"):
            closed = "Completed" if o.name == "Task" else "Closed"
            record["IsClosed"] = 1 if record.get("Status") == closed else 0
        if o.name == "Case" and record.get("IsClosed") and not record.get("ClosedDate"):
            record["ClosedDate"] = self.now_text()

    def _write_row(self, c, o: SObject, record: dict, rowid: int | None) -> None:
        cols = list(record)
        try:
            if rowid is None:
                c.execute(
                    f"INSERT INTO {q(o.name)} ({', '.join(q(n) for n in cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [record[n] for n in cols],
                )
            else:
                c.execute(
                    f"UPDATE {q(o.name)} SET {', '.join(q(n) + ' = ?' for n in cols)} WHERE rowid = ?",
                    [record[n] for n in cols] + [rowid],
                )
        except sqlite3.IntegrityError:
            for f in o.field_list():
                if (f.unique or f.type == "id") and record.get(f.name) is not None:
                    other = c.execute(
                        f'SELECT "Id" FROM {q(o.name)} WHERE {q(f.name)} = ? AND "Id" != ?',
                        (record[f.name], record.get("Id") or ""),
                    ).fetchone()
                    if other:
                        raise exc.DuplicateValue(
                            f"duplicate value found: {f.name} duplicates value on record with id: {other[0]}", [f.name]
                        ) from None
            raise

    def insert(self, c, obj: str, values: dict) -> str:
        """Create one record inside the caller's transaction; returns its id."""
        o = self.sobject(obj)
        if o.name in ("Organization", "User", *HISTORY_OBJECTS):
            raise exc.InvalidType(f"entity type {o.name} does not support insert")
        vals = self._prepare(c, o, {k: v for k, v in values.items() if k.lower() != "id"}, creating=True)
        if any(k.lower() == "id" for k in values) and values.get("Id") is not None:
            raise exc.InvalidFieldForInsertUpdate("cannot specify Id in an insert call", ["Id"])
        record = {f.name: None for f in o.field_list()}
        for f in o.field_list():
            d = default_value(o, f)
            if d != "NULL":
                record[f.name] = int(d) if d.isdigit() else d.strip("'")
        record.update(vals)
        self._check_required(o, record, None)
        now = self.now_text()
        record.update(
            {
                "Id": make_id(o.key_prefix, self.store.next_seq(c, o.name)),
                "IsDeleted": 0,
                "CreatedDate": now,
                "CreatedById": self.admin_id,
                "LastModifiedDate": now,
                "LastModifiedById": self.admin_id,
                "SystemModstamp": now,
            }
        )
        if o.get("OwnerId") and record.get("OwnerId") is None:
            record["OwnerId"] = self.admin_id
        if o.name == "Case":
            record["CaseNumber"] = f"{self.store.next_seq(c, 'CaseNumber'):08d}"
        self._derive(o, record)
        duplicates.check(c, o, record, self.duplicate_rules)
        self._write_row(c, o, record, None)
        if self.tracked.get(o.name):
            record_changes(c, self.store, o, self.tracked[o.name], record["Id"], None, record, self.admin_id, now)
        self.count_write(c, o.name, record["Id"])
        return record["Id"]

    def update(self, c, obj: str, record_id: str, values: dict) -> str:
        """Update one record inside the caller's transaction; returns its id."""
        o = self.sobject(obj)
        row = self._existing(o, record_id)
        if row.get("IsDeleted"):
            raise exc.EntityIsDeleted("entity is deleted", [])
        if o.name == "Lead" and row.get("IsConverted"):
            raise exc.CannotUpdateConvertedLead("cannot reference converted lead", [])
        body = {k: v for k, v in values.items() if k.lower() != "id"}
        vals = self._prepare(c, o, body, creating=False)
        rowid = c.execute(f'SELECT rowid FROM {q(o.name)} WHERE "Id" = ?', (row["Id"],)).fetchone()[0]
        merged = dict(row)
        merged.update(vals)
        self._check_required(o, merged, set(vals))
        now = self.now_text()
        vals.update({"LastModifiedDate": now, "LastModifiedById": self.admin_id, "SystemModstamp": now})
        self._derive(o, merged)
        for derived in ("Name", "IsClosed", "ClosedDate"):
            if o.get(derived) is not None and derived in merged:
                vals[derived] = merged[derived]
        vals["Id"] = row["Id"]
        duplicates.check(c, o, merged, self.duplicate_rules)
        self._write_row(c, o, vals, rowid)
        if self.tracked.get(o.name):
            record_changes(c, self.store, o, self.tracked[o.name], row["Id"], row, vals, self.admin_id, now)
        self.count_write(c, o.name, row["Id"])
        return row["Id"]

    def delete(self, c, obj: str, record_id: str, *, hard: bool = False) -> str:
        """Soft-delete one record into the recycle bin (visible to queryAll with IsDeleted = true).

        ``hard`` (Bulk hardDelete) removes it for good, bypassing the recycle bin.
        """
        o = self.sobject(obj)
        if o.name in ("Organization", "User", *HISTORY_OBJECTS):
            raise exc.InvalidType(f"entity type {o.name} does not support delete")
        row = self._existing(o, record_id)
        self.count_write(c, o.name, row["Id"])
        if hard:
            c.execute(f'DELETE FROM {q(o.name)} WHERE "Id" = ?', (row["Id"],))
            return row["Id"]
        if row.get("IsDeleted"):
            raise exc.EntityIsDeleted("entity is deleted", [])
        now = self.now_text()
        c.execute(
            f'UPDATE {q(o.name)} SET "IsDeleted" = 1, "SystemModstamp" = ?, "LastModifiedDate" = ?, '
            '"LastModifiedById" = ? WHERE "Id" = ?',
            (now, now, self.admin_id, row["Id"]),
        )
        return row["Id"]

    def upsert(self, c, obj: str, field_name: str, value: str, values: dict) -> tuple[str, bool]:
        """Upsert by external id: (id, created). MULTIPLE_RECORDS (300) when the key matches several."""
        o, fname, ids = self.find_by_external(obj, field_name, value)
        if len(ids) > 1:
            raise exc.MultipleRecords(ids=ids)  # type: ignore[call-arg]
        body = {k: v for k, v in values.items() if k.lower() != fname.lower()}
        if ids:
            return self.update(c, o.name, ids[0], body), False
        if fname == "Id":
            raise exc.NotFound(f"Provided external ID field does not exist or is not accessible: {value}")
        body[fname] = value
        return self.insert(c, o.name, body), True

    def convert_lead(self, c, lead_id: str, contact_id: str | None, account_id: str | None) -> None:
        """Mark a lead converted (the REST API has no convert call; tests and the admin API use this)."""
        o = self.sobject("Lead")
        row = self._existing(o, lead_id)
        now = self.now_text()
        c.execute(
            'UPDATE "Lead" SET "IsConverted" = 1, "ConvertedDate" = ?, "ConvertedContactId" = ?, '
            '"ConvertedAccountId" = ?, "Status" = \'Closed - Converted\', "SystemModstamp" = ?, '
            '"LastModifiedDate" = ? WHERE "Id" = ?',
            (now[:10], contact_id and to18(contact_id), account_id and to18(account_id), now, now, row["Id"]),
        )

    def changed(self, obj: str, start: str, end: str, *, deleted: bool) -> dict:
        """The getDeleted / getUpdated answers for a time window (ISO datetimes)."""
        from .values import parse_datetime

        o = self.sobject(obj)
        bounds = []
        for name, raw in (("start", start), ("end", end)):
            d = parse_datetime(raw or "")
            if d is None:
                raise exc.InvalidField(f"{name} must be an ISO 8601 datetime, e.g. 2024-01-02T00:00:00Z", [name])
            bounds.append(format_datetime(d))
        if bounds[0] > bounds[1]:
            raise exc.InvalidField("start must be before end", ["start"])
        rows = (
            self.store.conn()
            .execute(
                f'SELECT "Id", "SystemModstamp" FROM {q(o.name)} WHERE "IsDeleted" = ? AND "SystemModstamp" >= ? '
                'AND "SystemModstamp" < ? ORDER BY "SystemModstamp" LIMIT 600000',
                (1 if deleted else 0, *bounds),
            )
            .fetchall()
        )
        latest = min(bounds[1], self.now_text())[:23] + "+0000"
        if deleted:
            earliest = self.store.get_meta("loaded") or self.now_text()
            return {
                "deletedRecords": [{"id": r[0], "deletedDate": r[1][:23] + "+0000"} for r in rows],
                "earliestDateAvailable": earliest[:23] + "+0000",
                "latestDateCovered": latest,
            }
        return {"ids": [r[0] for r in rows], "latestDateCovered": latest}
