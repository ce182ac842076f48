"""Intercom streams: contacts (see contacts.py), companies (scroll), conversations with parts, admins."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from syncaudit.connectors.intercom import convert
from syncaudit.connectors.intercom.client import IntercomNotFound
from syncaudit.connectors.intercom.contacts import ContactsStream
from syncaudit.connectors.intercom.context import (
    DAY,
    PER_PAGE,
    IntercomContext,
    _Base,
    date_range_filter,
    day_partitions,
)
from syncaudit.connectors.stream import PullOutcome, Writer
from syncaudit.errors import FatalAPIError

SCROLL_EXPIRY_WAIT_S = 75.0

__all__ = [
    "AdminsStream",
    "CompaniesStream",
    "ContactsStream",
    "ConversationsStream",
    "IntercomContext",
    "date_range_filter",
    "day_partitions",
    "DAY",
]


class CompaniesStream(_Base):
    """All companies through the scroll API (the list endpoints stop at 10,000)."""

    name = "companies"
    incremental = False

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        schema = convert.company_schema(self.ctx.data_attributes())
        restarts = 0
        # One scroll per app: one left open (by a killed run, another tool) expires a minute after its last use.
        busy_until = time.monotonic() + SCROLL_EXPIRY_WAIT_S
        while True:
            writer = open_writer("companies", schema)
            try:
                n = self._scroll(writer, schema, progress)
            except FatalAPIError as exc:
                writer.abort()
                if exc.code == "scroll_exists" and time.monotonic() < busy_until:
                    time.sleep(5.0)
                    continue
                # A scroll that failed or expired cannot be resumed: start it again.
                if (exc.status == 500 or exc.code == "not_found") and restarts < 4:
                    restarts += 1
                    continue
                raise
            except BaseException:
                writer.abort()
                raise
            writer.close()
            return PullOutcome(records=n, extra={"restarts": restarts})

    def _scroll(self, writer: Any, schema: pa.Schema, progress: Callable[[int], None]) -> int:
        param: str | None = None
        n = 0
        while True:
            res = self.client.request(
                "GET", "companies/scroll", "scroll companies", params={"scroll_param": param} if param else None
            )
            data = res.get("data") or []
            if not data:
                return n
            table = convert.companies_table(data, schema)
            writer.write(table)
            n += table.num_rows
            progress(table.num_rows)
            param = res.get("scroll_param") or param
            if not param:
                return n


class ConversationsStream(_Base):
    """Conversations (list or updated_at search) and each one's parts (fetched in parallel)."""

    name = "conversations"
    children = {"conversation_parts": "conversation_id"}
    incremental = True

    def __init__(self, ctx: IntercomContext, workers: int = 4) -> None:
        super().__init__(ctx)
        self.workers = workers

    def _ids(self, since: datetime | None) -> Iterator[list[str]]:
        cursor = None
        while True:
            if since is None:
                params: dict[str, Any] = {"per_page": PER_PAGE}
                if cursor:
                    params["starting_after"] = cursor
                res = self.client.request("GET", "conversations", "list conversations", params=params)
            else:
                body: dict[str, Any] = {
                    "query": {"field": "updated_at", "operator": ">", "value": int(since.timestamp()) - DAY},
                    "pagination": {"per_page": PER_PAGE},
                }
                if cursor:
                    body["pagination"]["starting_after"] = cursor
                res = self.client.request("POST", "conversations/search", "search conversations", json=body)
            yield [str(c["id"]) for c in res.get("conversations") or []]
            nxt = (res.get("pages") or {}).get("next")
            cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
            if not cursor:
                return

    def _fetch(self, cid: str) -> dict[str, Any] | None:
        try:
            return self.client.request("GET", f"conversations/{cid}", "conversation")
        except IntercomNotFound:
            return None  # deleted between list and fetch

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        conv_w = open_writer("conversations", convert.CONVERSATION_SCHEMA)
        parts_w = open_writer("conversation_parts", convert.PART_SCHEMA)
        out = PullOutcome()
        latest = None
        try:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                for ids in self._ids(since):
                    rows = [r for r in pool.map(self._fetch, ids) if r is not None]
                    if not rows:
                        continue
                    conv, parts = convert.conversations_table(rows)
                    conv_w.write(conv)
                    parts_w.write(parts)
                    m = pc.max(conv["updated_at"]).as_py()
                    latest = m if latest is None or (m is not None and m > latest) else latest
                    out.records += conv.num_rows
                    progress(conv.num_rows)
        except BaseException:
            conv_w.abort()
            parts_w.abort()
            raise
        conv_w.close()
        parts_w.close()
        out.bookmark = latest.isoformat() if latest is not None else None
        return out


class AdminsStream(_Base):
    name = "admins"
    incremental = False

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        rows = self.client.request("GET", "admins", "admins").get("admins") or []
        w = open_writer("admins", convert.ADMIN_SCHEMA)
        w.write(convert.admins_table(rows))
        w.close()
        progress(len(rows))
        return PullOutcome(records=len(rows))
