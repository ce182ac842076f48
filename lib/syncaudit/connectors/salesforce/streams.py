"""Salesforce streams: one per object, REST query or Bulk API 2.0 chosen from COUNT().

Field lists come from describe: the mapped fields plus keys and audit fields
(``pull.fields: mapped``) or every queryable scalar field (``all``). Both paths
read through ``queryAll`` so soft-deleted and merged-away rows arrive as
tombstones (``IsDeleted = true``), in full and incremental pulls alike, which
keeps a full pull and an incremental one comparable row for row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from syncaudit.config import Config
from syncaudit.connectors.arrow import UTC_US, coerce
from syncaudit.connectors.salesforce.bulk_csv import BulkQuery
from syncaudit.connectors.salesforce.client import SalesforceClient
from syncaudit.connectors.salesforce.scope import scope_condition
from syncaudit.connectors.stream import PullOutcome, Writer
from syncaudit.errors import FatalAPIError
from syncaudit.rulespec import salesforce_fields

OBJECTS = ("Account", "Contact", "Lead", "Task", "Case", "User")
# Field history, where tracking is on: one row per change of a tracked field (pull.field_history).
HISTORY_OBJECTS = ("AccountHistory", "ContactHistory", "LeadHistory")
HISTORY_FIELDS = ("Field", "OldValue", "NewValue", "DataType", "CreatedById", "CreatedDate")
REPLICATION_KEYS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")

AUDIT_FIELDS = (
    "Id",
    "IsDeleted",
    "MasterRecordId",
    "OwnerId",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
# Keys and relationship fields the audit needs whatever the mapping says.
# Person-account fields (IsPersonAccount, PersonContactId, PersonEmail) exist only in orgs that enabled them;
# a field the org lacks is simply not selected.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "Account": (
        "Name",
        "AccountNumber",
        "ParentId",
        "Website",
        "Industry",
        "NumberOfEmployees",
        "IsPersonAccount",
        "PersonContactId",
        "PersonEmail",
    ),
    "Contact": ("AccountId", "FirstName", "LastName", "Name", "Email", "Phone", "IsPersonAccount"),
    "Lead": (
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Phone",
        "Company",
        "Status",
        "IsConverted",
        "ConvertedDate",
        "ConvertedAccountId",
        "ConvertedContactId",
    ),
    "Task": (
        "WhoId",
        "WhatId",
        "Subject",
        "Status",
        "Priority",
        "IsClosed",
        "ActivityDate",
        "TaskSubtype",
        "Type",
        "Description",
    ),
    "Case": (
        "CaseNumber",
        "AccountId",
        "ContactId",
        "Subject",
        "Status",
        "IsClosed",
        "ClosedDate",
        "Origin",
        "SuppliedEmail",
        "Description",
    ),
    "User": ("Username", "Email", "Name", "FirstName", "LastName", "IsActive", "UserType"),
    **{h: (h[: -len("History")] + "Id", *HISTORY_FIELDS) for h in HISTORY_OBJECTS},
}
# Compound and binary fields cannot be read by Bulk API 2.0 and add nothing the audit reads.
SKIPPED_TYPES = frozenset({"address", "location", "base64", "complexvalue"})


def arrow_type(sf_type: str) -> pa.DataType:
    """Column types of docs/contracts.md: datetimes UTC, dates date32, numbers double, booleans bool."""
    if sf_type == "datetime":
        return UTC_US
    if sf_type == "date":
        return pa.date32()
    if sf_type in {"double", "currency", "percent", "int", "long"}:
        return pa.float64()
    if sf_type == "boolean":
        return pa.bool_()
    return pa.string()


def wanted_fields(cfg: Config, obj: str) -> set[str]:
    m = cfg.mapping
    want = set(AUDIT_FIELDS) | set(KEY_FIELDS.get(obj, ()))
    if obj in HISTORY_OBJECTS:
        return want
    want |= {f.salesforce for f in m.fields if obj in f.objects}
    # The matching fields of the object's pairs (Account.Name through AccountId is read from the Account).
    for pair in m.objects:
        if pair.salesforce == obj:
            want |= {f.salesforce for f in pair.effective_match_fields() if f.salesforce and "." not in f.salesforce}
    if obj in {"Contact", "Lead"}:
        key = m.identity.people.key_for(obj)
        if key:
            want.add(key)
    if obj == "Account":
        want.add(m.identity.companies.salesforce_key)
    if obj in {"Task", "Case"}:
        want.add(m.conversations.conversation_id_field)
    want |= salesforce_fields(cfg.rules, obj)
    return want


def select_fields(cfg: Config, obj: str, describe: dict[str, Any]) -> list[dict[str, Any]]:
    """The describe entries to read, in describe order."""
    fields = [f for f in describe.get("fields", []) if f.get("type") not in SKIPPED_TYPES]
    if cfg.pull.fields == "all" and obj not in HISTORY_OBJECTS:
        return fields
    want = {w.lower() for w in wanted_fields(cfg, obj)}
    chosen = [f for f in fields if f["name"].lower() in want]
    if any(f.get("type") == "currency" for f in chosen):
        # A multi-currency org: an amount means nothing without its currency, so the ISO code travels with it.
        chosen += [f for f in fields if f["name"] == "CurrencyIsoCode" and f not in chosen]
    return chosen


def soql_datetime(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceObjectStream:
    """Reads one sObject into ``salesforce/<Object>.parquet``."""

    system = "salesforce"
    key = "Id"
    children: dict[str, str] = {}

    def __init__(self, client: SalesforceClient, cfg: Config, obj: str, *, bulk_page: int = 100_000) -> None:
        self.client = client
        self.cfg = cfg
        self.name = obj
        self.bulk_page = bulk_page
        self.describe: dict[str, Any] | None = None
        self.should_stop: Callable[[], bool] = lambda: False  # set by the pull runner (Ctrl-C)

    @property
    def stream_id(self) -> str:
        return f"salesforce/{self.name}"

    def load_describe(self) -> dict[str, Any]:
        if self.describe is None:
            # The connector keeps each describe for the run: preflight already read it.
            self.describe = self.client.describe_object(self.name)
        return self.describe

    def scope(self) -> str | None:
        """The object's scope condition (``pull.activities`` for Task and Case), from describe's field names."""
        names = {f["name"].lower() for f in self.load_describe().get("fields", [])}
        return scope_condition(self.cfg, self.name, names)

    def replication_key(self, fields: list[dict[str, Any]]) -> str | None:
        names = {f["name"] for f in fields}
        return next((k for k in REPLICATION_KEYS if k in names), None)

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        describe = self.load_describe()
        fields = select_fields(self.cfg, self.name, describe)
        if not fields:
            raise FatalAPIError(f"no readable fields on {self.name}", system="salesforce")
        repl = self.replication_key(fields)
        schema = pa.schema([(f["name"], arrow_type(f["type"])) for f in fields])
        soql = f"SELECT {', '.join(f['name'] for f in fields)} FROM {self.name}"
        conds = [
            c for c in (self.scope(), f"{repl} >= {soql_datetime(since)}" if since is not None and repl else None) if c
        ]
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        count = self.client.call(
            lambda sf: sf.query(f"SELECT COUNT() FROM {self.name}{where}", include_deleted=True),
            f"count {self.name}",
        )["totalSize"]
        getattr(progress, "set_total", lambda n: None)(count)
        use_bulk = count > self.cfg.pull.bulk_threshold
        pages = self._bulk(soql + where, schema) if use_bulk else self._rest(soql + where, schema)
        writer = open_writer(self.name, schema)
        out = PullOutcome(extra={"method": "bulk2" if use_bulk else "rest", "expected": count})
        latest = None
        try:
            for table in pages:
                writer.write(table)
                out.records += table.num_rows
                if repl and table.num_rows:
                    m = pc.max(table[repl]).as_py()
                    latest = m if latest is None or (m is not None and m > latest) else latest
                progress(table.num_rows)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        out.bookmark = latest.isoformat() if latest is not None else None
        out.extra["deleted"] = None
        return out

    # -- REST: queryAll paged by nextRecordsUrl

    def _rest(self, soql: str, schema: pa.Schema) -> Iterator[pa.Table]:
        headers = {"Sforce-Query-Options": "batchSize=2000"}
        res = self.client.call(lambda sf: sf.query(soql, include_deleted=True, headers=headers), f"query {self.name}")
        while True:
            recs = res.get("records", [])
            if recs:
                cols = {f.name: [r.get(f.name) for r in recs] for f in schema}
                yield pa.Table.from_arrays(
                    [coerce(cols[f.name], f.type, name=f"{self.name}.{f.name}") for f in schema], schema=schema
                )
            nxt = res.get("nextRecordsUrl")
            if res.get("done", True) or not nxt:
                return
            res = self.client.call(
                lambda sf, nxt=nxt: sf.query_more(nxt, identifier_is_url=True, include_deleted=True, headers=headers),
                f"query {self.name} (next page)",
            )

    # -- Bulk API 2.0: one queryAll job, results paged by locator

    def _bulk(self, soql: str, schema: pa.Schema) -> Iterator[pa.Table]:
        """Bulk API 2.0: one queryAll job, result pages streamed to disk and read in blocks (bulk_csv)."""
        query = BulkQuery(self.client, self.name, page_size=self.bulk_page, should_stop=self.should_stop)
        yield from query.tables(soql, schema)

    def find_removed(self, con: Any, local: str) -> dict[str, str]:
        """Ids in the local view ``local`` that Salesforce no longer has: {id: "purged"}.

        Records purged from the recycle bin (or hard-deleted) vanish from queryAll, so
        no delta shows them. One ``COUNT()`` over queryAll is compared with the local
        row count (``pull.purge_check: count``); only on a mismatch (or always, with
        ``ids``) are the ids listed (Bulk API 2.0 above the threshold) and anti-joined
        with the local table in DuckDB. A purge masked by as many creations within the
        same run shows up as a mismatch in the next one.
        """
        mode = self.cfg.pull.purge_check
        if mode == "off":
            return {}
        scope = self.scope()
        where = f" WHERE {scope}" if scope else ""
        count = self.client.call(
            lambda sf: sf.query(f"SELECT COUNT() FROM {self.name}{where}", include_deleted=True), f"count {self.name}"
        )["totalSize"]
        if mode == "count" and count == con.execute(f"SELECT count(*) FROM {local}").fetchall()[0][0]:
            return {}
        schema = pa.schema([("Id", pa.string())])
        soql = f"SELECT Id FROM {self.name}{where}"
        pages = self._bulk(soql, schema) if count > self.cfg.pull.bulk_threshold else self._rest(soql, schema)
        server = pa.concat_tables([schema.empty_table(), *pages])
        con.register("server_ids", server)
        gone = con.execute(
            f'SELECT l."Id" FROM {local} l ANTI JOIN server_ids s ON l."Id" = s."Id" WHERE l."Id" IS NOT NULL'
        ).fetchall()
        con.unregister("server_ids")
        return {r[0]: "purged" for r in gone}


def since_with_lookback(bookmark: str | None, lookback_s: int) -> datetime | None:
    if not bookmark:
        return None
    return datetime.fromisoformat(bookmark.replace("Z", "+00:00")) - timedelta(seconds=lookback_s)


class SalesforceHistoryStream(SalesforceObjectStream):
    """Reads one field history object (ContactHistory, ...) into ``salesforce/<Object>History.parquet``.

    Append-only rows keyed by Id; incremental pulls read ``CreatedDate >= bookmark``. An org or user that cannot
    see the object (NOT_FOUND, INVALID_TYPE, no access) gives an empty table and a note instead of failing the
    pull: the audit then says "newer side unknown" for that object's fields.
    """

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        try:
            self.load_describe()
        except FatalAPIError as exc:
            if exc.status not in (400, 403, 404):
                raise
            parent = self.name[: -len("History")]
            schema = pa.schema(
                [
                    ("Id", pa.string()),
                    ("IsDeleted", pa.bool_()),
                    (f"{parent}Id", pa.string()),
                    *[(f, UTC_US if f == "CreatedDate" else pa.string()) for f in HISTORY_FIELDS],
                ]
            )
            writer = open_writer(self.name, schema)
            writer.close()
            self.describe = None
            return PullOutcome(extra={"unavailable": f"{exc.code or exc.status}: field history not readable"})
        return super().pull(open_writer, since, progress)
