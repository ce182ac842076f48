"""Intercom conversations from list and search pages, 150 a call, partitioned over workers.

A list or search page already holds what the audit reads (contacts, state, tags, timestamps, title,
assignee, source), so a full pull costs one call per 150 conversations instead of one per
conversation. A full pull splits the ``created_at`` range into day-aligned partitions searched in
parallel inside the shared rate limit; an incremental pull searches ``updated_at`` from the start of the
lookback day (Intercom's date filters are day-truncated: the upsert absorbs the re-read day). The conversation
search documents no ``sort``: the probes that place the partitions ask for one, and if it were ignored the
partitions would only be uneven (the first and last are open-ended, so nothing is missed); no result relies
on the order. Parts (``GET /conversations/{id}``)
are fetched only with ``pull.conversation_parts: changed``, and then only for the conversations this
pull read (in an incremental pull: those changed since the bookmark); no analysis needs them today.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pyarrow.compute as pc

from syncaudit.connectors.intercom import convert
from syncaudit.connectors.intercom.client import IntercomNotFound
from syncaudit.connectors.intercom.context import (
    DAY,
    PER_PAGE,
    IntercomContext,
    _Base,
    _flat,
    date_range_filter,
    day_partitions,
)
from syncaudit.connectors.intercom.pacing import feed_pages, rate_limited_workers, signal_when_done, timed
from syncaudit.connectors.intercom.pages import ConversationPage, parse_conversation_page
from syncaudit.connectors.stream import PullOutcome, Writer
from syncaudit.errors import FatalAPIError

_DONE = object()
PARTITIONS_PER_WORKER = 2  # a slow range does not hold up the end of the pull


class ConversationsStream(_Base):
    """Conversations (one row per conversation) and, when configured, their parts."""

    name = "conversations"
    children = {"conversation_parts": "conversation_id"}
    incremental = True

    def __init__(self, ctx: IntercomContext, workers: int = 4, *, parts: str = "off") -> None:
        super().__init__(ctx)
        self.workers = max(1, workers)
        self.parts = parts
        self.should_stop: Callable[[], bool] = lambda: False  # set by the pull runner (Ctrl-C)
        self.total: int | None = None  # conversations in a full pull, from the first probe

    # -- paging

    def _search(
        self,
        query: dict[str, Any],
        cursor: str | None,
        per_page: int,
        sort: tuple[str, str] | None,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        body: dict[str, Any] = {"query": query, "pagination": {"per_page": per_page}}
        if cursor:
            body["pagination"]["starting_after"] = cursor
        if sort:
            body["sort"] = {"field": sort[0], "order": sort[1]}
        return self.client.request("POST", "conversations/search", "search conversations", json=body, parse=parse)

    def _edge(self, order: str, query: dict[str, Any]) -> tuple[int | None, int]:
        res = self._search(query, None, 1, ("created_at", order))
        data = res.get("conversations") or []
        return (int(data[0]["created_at"]) if data else None), int(res.get("total_count") or 0)

    def plan(self, since: datetime | None) -> list[dict[str, Any] | None]:
        """Partition filters; ``None`` = the plain list (one partition: no probe calls spent)."""
        if since is not None:
            return [{"field": "updated_at", "operator": ">", "value": int(since.timestamp()) - DAY}]
        if self.workers <= 1:
            return [None]
        everything = {"field": "created_at", "operator": ">", "value": 0}
        (first, total), call_s = timed(lambda: self._edge("ascending", everything))
        self.total = total
        if first is None:
            return []
        self.workers = rate_limited_workers(self.client, self.workers, call_s, -(-total // PER_PAGE))
        # Each partition ends on a part-filled page: at least 8 pages each keeps that under 1/16 of the calls.
        n = min(self.workers * PARTITIONS_PER_WORKER, -(-total // PER_PAGE) // 8)
        if n <= 1:
            return [everything]
        last, _ = self._edge("descending", everything)
        ranges = day_partitions(first, last or first, n)
        return [date_range_filter("created_at", s, e) for s, e in ranges]

    def _pages(self, query: dict[str, Any] | None) -> Iterator[ConversationPage]:
        """The pages of one partition, each parsed in this reader thread (straight into Arrow when parts are off)."""
        keep_rows = self.parts == "changed"

        def parse(body: bytes) -> ConversationPage:
            return parse_conversation_page(body, keep_rows=keep_rows)

        cursor: str | None = None
        seen: set[str] = set()
        while not self.should_stop():
            if query is None:
                params: dict[str, Any] = {"per_page": PER_PAGE}
                if cursor:
                    params["starting_after"] = cursor
                page = self.client.request("GET", "conversations", "list conversations", params=params, parse=parse)
            else:
                flat = _flat(query)
                page = self._search(
                    flat[0] if len(flat) == 1 else {"operator": "AND", "value": flat}, cursor, PER_PAGE, None, parse
                )
            yield page
            cursor = page.next_cursor
            if not cursor:
                return
            if cursor in seen:
                raise FatalAPIError("Intercom returned the same conversation page cursor twice", system="intercom")
            seen.add(cursor)

    def _with_parts(self, pool: ThreadPoolExecutor, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.parts != "changed":
            return rows
        full = list(pool.map(self._fetch, [str(r["id"]) for r in rows]))
        return [f for f in full if f is not None]

    def _fetch(self, cid: str) -> dict[str, Any] | None:
        try:
            return self.client.request("GET", f"conversations/{cid}", "conversation")
        except IntercomNotFound:
            return None  # deleted between the page and the fetch

    # -- the stream

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        self.total = None
        queries = self.plan(since)
        getattr(progress, "set_total", lambda n: None)(self.total)
        pages: queue.Queue[Any] = queue.Queue(maxsize=4 * self.workers)
        stop = threading.Event()

        def worker(q: dict[str, Any] | None) -> None:
            feed_pages(pages, self._pages(q), stop)

        conv_w = open_writer("conversations", convert.CONVERSATION_SCHEMA)
        parts_w = open_writer("conversation_parts", convert.PART_SCHEMA)
        out = PullOutcome(extra={"partitions": len(queries), "parts": self.parts, "fast_pages": 0})
        latest = None
        readers = ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(queries) or 1)))
        fetchers = ThreadPoolExecutor(max_workers=self.workers)
        try:
            futures = [readers.submit(worker, q) for q in queries]

            signal_when_done(futures, pages, _DONE)
            while True:
                item = pages.get()
                if isinstance(item, BaseException):
                    raise item
                if item is _DONE:
                    break
                if item.table is not None:
                    conv = item.table
                    out.extra["fast_pages"] += item.fast
                else:
                    rows = self._with_parts(fetchers, item.rows or [])
                    if not rows:
                        continue
                    conv, parts = convert.conversations_table(rows)
                    parts_w.write(parts)
                if not conv.num_rows:
                    continue
                conv_w.write(conv)
                m = pc.max(conv["updated_at"]).as_py()
                latest = m if latest is None or (m is not None and m > latest) else latest
                out.records += conv.num_rows
                progress(conv.num_rows)
        except BaseException:
            stop.set()
            conv_w.abort()
            parts_w.abort()
            raise
        finally:
            stop.set()
            readers.shutdown(wait=False, cancel_futures=True)
            fetchers.shutdown(wait=False, cancel_futures=True)
        if self.should_stop():
            conv_w.abort()
            parts_w.abort()
            raise KeyboardInterrupt
        conv_w.close()
        parts_w.close()
        out.bookmark = latest.isoformat() if latest is not None else None
        return out
