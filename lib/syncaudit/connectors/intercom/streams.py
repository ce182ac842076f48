"""Intercom streams: contacts (contacts.py), conversations (conversations.py), companies (scroll), admins."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from syncaudit.connectors.intercom import convert
from syncaudit.connectors.intercom.contacts import ContactsStream
from syncaudit.connectors.intercom.context import (
    DAY,
    IntercomContext,
    _Base,
    date_range_filter,
    day_partitions,
)
from syncaudit.connectors.intercom.conversations import ConversationsStream
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

    def __init__(self, ctx: IntercomContext) -> None:
        super().__init__(ctx)
        # Set by the pull runner: a sleep that ends on Ctrl-C, and where to say what a wait is for.
        self.sleep: Callable[[float], None] = time.sleep
        self.notify: Callable[[str], None] = lambda text: None

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        schema = convert.company_schema(self.ctx.data_attributes())
        restarts = 0
        # One scroll per app: one left open (by a killed run, another tool) expires a minute after its last use.
        busy_until = time.monotonic() + SCROLL_EXPIRY_WAIT_S
        told = False
        while True:
            writer = open_writer("companies", schema)
            try:
                n = self._scroll(writer, schema, progress)
            except FatalAPIError as exc:
                writer.abort()
                if exc.code == "scroll_exists" and time.monotonic() < busy_until:
                    if not told:
                        told = True
                        self.notify(
                            "Intercom companies: a scroll is still open (an earlier run, another tool); "
                            f"waiting up to {SCROLL_EXPIRY_WAIT_S:.0f} s for it to expire"
                        )
                    self.sleep(5.0)
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
