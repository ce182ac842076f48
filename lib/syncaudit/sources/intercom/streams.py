"""Intercom streams: contacts (partitioned parallel search), companies (scroll),
conversations with parts, admins, data attributes.

Contacts: a full pull splits the ``created_at`` range into day-aligned
partitions (Intercom truncates date filters to whole days) and pages through
them with ``POST /contacts/search`` in parallel, 150 a page, within the shared
rate limit; an incremental pull searches ``updated_at`` from the bookmark's day
minus the lookback. Every page is converted to Arrow and streamed to Parquet.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from syncaudit.errors import FatalAPIError
from syncaudit.sources.intercom import convert
from syncaudit.sources.intercom.client import IntercomClient, IntercomNotFound
from syncaudit.sources.salesforce.streams import PullOutcome, Writer

PER_PAGE = 150
DAY = 86_400
_DONE = object()


def _day(ts: int) -> int:
    return ts - ts % DAY


def day_partitions(first: int, last: int, parts: int) -> list[tuple[int | None, int | None]]:
    """Split [first, last] (Unix seconds) into up to ``parts`` day-aligned [start, end) ranges.

    The first range is open below and the last open above, so nothing falls outside.
    """
    d0, d1 = _day(first), _day(last)
    days = (d1 - d0) // DAY + 1
    n = max(1, min(parts, days))
    bounds = [d0 + DAY * ((days * i) // n) for i in range(1, n)]
    starts: list[int | None] = [None, *bounds]
    ends: list[int | None] = [*bounds, None]
    return list(zip(starts, ends, strict=True))


def date_range_filter(field: str, start: int | None, end: int | None) -> dict[str, Any] | None:
    """A search filter for ``start <= field < end`` at whole-day granularity.

    Intercom's ``>`` matches from the start of the day after the value's day, and
    ``<`` before the start of the value's day.
    """
    parts = []
    if start is not None:
        parts.append({"field": field, "operator": ">", "value": start - DAY})
    if end is not None:
        parts.append({"field": field, "operator": "<", "value": end})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"operator": "AND", "value": parts}


class IntercomContext:
    """What several streams share: tags and data attributes (read once per pull)."""

    def __init__(self, client: IntercomClient) -> None:
        self.client = client
        self._tags: dict[str, str] | None = None
        self._attrs: list[dict[str, Any]] | None = None

    def tags(self) -> dict[str, str]:
        if self._tags is None:
            body = self.client.request("GET", "tags", "tags")
            self._tags = {str(t.get("id")): str(t.get("name")) for t in body.get("data", [])}
        return self._tags

    def data_attributes(self) -> list[dict[str, Any]]:
        if self._attrs is None:
            self._attrs = self.client.request("GET", "data_attributes", "data_attributes").get("data", [])
        return self._attrs


class _Base:
    system = "intercom"
    key = "id"
    children: dict[str, str] = {}
    name = ""

    def __init__(self, ctx: IntercomContext) -> None:
        self.ctx = ctx
        self.client = ctx.client

    @property
    def stream_id(self) -> str:
        return f"intercom/{self.name}"


class ContactsStream(_Base):
    name = "contacts"
    children = {"contact_companies": "contact_id"}
    incremental = True

    def __init__(self, ctx: IntercomContext, partitions: int = 4) -> None:
        super().__init__(ctx)
        self.partitions = partitions

    def _search(
        self, query: dict[str, Any], cursor: str | None, per_page: int = PER_PAGE, sort: str | None = None
    ) -> dict:
        body: dict[str, Any] = {"query": query, "pagination": {"per_page": per_page}}
        if cursor:
            body["pagination"]["starting_after"] = cursor
        if sort:
            body["sort"] = {"field": sort, "order": "ascending"}
        return self.client.request("POST", "contacts/search", "search contacts", json=body)

    def _edge(self, order: str) -> tuple[int | None, int]:
        body = {
            "query": {"field": "created_at", "operator": ">", "value": 0},
            "pagination": {"per_page": 1},
            "sort": {"field": "created_at", "order": order},
        }
        res = self.client.request("POST", "contacts/search", "search contacts", json=body)
        data = res.get("data") or []
        return (int(data[0]["created_at"]) if data else None), int(res.get("total_count") or 0)

    def plan(self, since: datetime | None) -> tuple[list[dict[str, Any] | None], int | None]:
        """The partition filters (``None`` = everything) and the expected total if known."""
        if since is not None:
            value = int(since.timestamp())
            return [{"field": "updated_at", "operator": ">", "value": value - DAY}], None
        if self.partitions <= 1:
            return [None], None
        first, total = self._edge("ascending")
        if first is None:
            return [], 0
        last, _ = self._edge("descending")
        ranges = day_partitions(first, last or first, self.partitions * 4)
        return [date_range_filter("created_at", s, e) for s, e in ranges], total

    def _pages(self, query: dict[str, Any] | None) -> Iterator[list[dict[str, Any]]]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            if query is None:
                params: dict[str, Any] = {"per_page": PER_PAGE}
                if cursor:
                    params["starting_after"] = cursor
                res = self.client.request("GET", "contacts", "list contacts", params=params)
            else:
                res = self._search(query, cursor)
            yield res.get("data") or []
            nxt = (res.get("pages") or {}).get("next")
            cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
            if not cursor:
                return
            if cursor in seen:  # a paginator must never loop on a repeated cursor
                raise FatalAPIError("Intercom returned the same page cursor twice", system="intercom")
            seen.add(cursor)

    def _extra_companies(self, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
        """Contacts with more than 10 companies: the embedded list is cut short, fetch the rest."""
        out = {}
        for r in rows:
            comp = r.get("companies") or {}
            if isinstance(comp, dict) and comp.get("has_more"):
                ids: list[str] = []
                page = 1
                while True:
                    res = self.client.request(
                        "GET",
                        f"contacts/{r['id']}/companies",
                        "contact companies",
                        params={"page": page, "per_page": PER_PAGE},
                    )
                    batch = res.get("companies") or res.get("data") or []
                    ids += [str(c["id"]) for c in batch]
                    if not batch or len(batch) < PER_PAGE:
                        break
                    page += 1
                out[str(r["id"])] = ids
        return out

    # -- removals: search shows neither deleted nor archived contacts, so count and bisect

    def _server_count(self, start: int | None, end: int | None) -> int:
        q = date_range_filter("created_at", start, end) or {"field": "created_at", "operator": ">", "value": 0}
        res = self.client.request(
            "POST", "contacts/search", "search contacts", json={"query": q, "pagination": {"per_page": 1}}
        )
        return int(res.get("total_count") or 0)

    def _server_ids(self, start: int | None, end: int | None) -> set[str]:
        ids: set[str] = set()
        for page in self._pages(date_range_filter("created_at", start, end)):
            ids.update(str(r["id"]) for r in page)
        return ids

    def find_removed(self, con: Any, local: str) -> dict[str, str]:
        """Ids in the local view ``local`` (id, created_at) that Intercom no longer lists: {id: reason}.

        One search call proves nothing was removed (the usual case). Otherwise the
        created_at range is bisected by day, comparing server counts with local
        counts, and only mismatching small ranges are listed id by id.
        """

        def local_count(start: int | None, end: int | None) -> int:
            cond = ["true"]
            if start is not None:
                cond.append(f"epoch(created_at) >= {start}")
            if end is not None:
                cond.append(f"epoch(created_at) < {end}")
            return int(con.execute(f"SELECT count(*) FROM {local} WHERE {' AND '.join(cond)}").fetchone()[0])

        if local_count(None, None) == self._server_count(None, None):
            return {}
        row = con.execute(f"SELECT min(epoch(created_at)), max(epoch(created_at)) FROM {local}").fetchone()
        lo, hi = int(row[0]) - int(row[0]) % DAY, int(row[1]) - int(row[1]) % DAY + DAY
        missing: set[str] = set()
        stack: list[tuple[int | None, int | None]] = [(None, lo), (lo, hi), (hi, None)]
        while stack:
            s, e = stack.pop()
            n_local = local_count(s, e)
            if n_local == 0 or n_local == self._server_count(s, e):
                continue
            if s is None or e is None or e - s <= DAY or n_local <= 4 * PER_PAGE:
                cond = []
                if s is not None:
                    cond.append(f"epoch(created_at) >= {s}")
                if e is not None:
                    cond.append(f"epoch(created_at) < {e}")
                where = " AND ".join(cond) or "true"
                mine = {r[0] for r in con.execute(f"SELECT id FROM {local} WHERE {where}").fetchall()}
                missing |= mine - self._server_ids(s, e)
                continue
            mid = s + ((e - s) // DAY // 2) * DAY
            stack += [(s, mid), (mid, e)]
        reasons = {}
        for cid in sorted(missing):
            try:
                self.client.request("GET", f"contacts/{cid}", "contact")
                # Retrievable by id yet absent from search: archived (the one documented reason).
                reasons[cid] = "archived"
            except IntercomNotFound:
                reasons[cid] = "deleted"
            except FatalAPIError as exc:
                if exc.status != 410:
                    raise
                reasons[cid] = "merged"
        return reasons

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        schema = convert.contact_schema(self.ctx.data_attributes())
        tags = self.ctx.tags()
        queries, expected = self.plan(since)
        pages: queue.Queue[Any] = queue.Queue(maxsize=8 * max(1, self.partitions))
        stop = threading.Event()

        def worker(q: dict[str, Any] | None) -> None:
            for page in self._pages(q):
                if stop.is_set():
                    return
                pages.put(page)

        contacts_w = open_writer("contacts", schema)
        links_w = open_writer("contact_companies", convert.CONTACT_COMPANY_SCHEMA)
        out = PullOutcome(extra={"partitions": len(queries), "expected": expected})
        latest = None
        ids_seen = 0
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.partitions, len(queries) or 1)))
        try:
            futures = [pool.submit(worker, q) for q in queries]

            def closer() -> None:
                for f in futures:
                    try:
                        f.result()
                    except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
                        pages.put(exc)
                        return
                pages.put(_DONE)

            threading.Thread(target=closer, daemon=True).start()
            buf: list[dict[str, Any]] = []
            while True:
                item = pages.get()
                if isinstance(item, BaseException):
                    raise item
                if item is not _DONE:
                    buf += item
                if buf and (item is _DONE or len(buf) >= 20 * PER_PAGE):
                    table, links = convert.contacts_table(buf, schema, tags, self._extra_companies(buf))
                    contacts_w.write(table)
                    links_w.write(links)
                    m = pc.max(table["updated_at"]).as_py()
                    latest = m if latest is None or (m is not None and m > latest) else latest
                    ids_seen += table.num_rows
                    progress(table.num_rows)
                    buf = []
                if item is _DONE:
                    break
        except BaseException:
            stop.set()
            contacts_w.abort()
            links_w.abort()
            raise
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
        contacts_w.close()
        links_w.close()
        out.records = ids_seen
        out.bookmark = latest.isoformat() if latest is not None else None
        return out


class CompaniesStream(_Base):
    """All companies through the scroll API (the list endpoints stop at 10,000)."""

    name = "companies"
    incremental = False

    def pull(self, open_writer: Writer, since: datetime | None, progress: Callable[[int], None]) -> PullOutcome:
        schema = convert.company_schema(self.ctx.data_attributes())
        for attempt in range(5):
            writer = open_writer("companies", schema)
            try:
                n = self._scroll(writer, schema, progress)
            except FatalAPIError as exc:
                writer.abort()
                restartable = exc.status == 500 or exc.code in {"scroll_exists", "not_found"}
                if not restartable or attempt == 4:
                    raise
                if exc.code == "scroll_exists":
                    import time

                    time.sleep(min(60.0, 5.0 * (attempt + 1)))  # another scroll is open; it expires after 1 min
                continue
            except BaseException:
                writer.abort()
                raise
            writer.close()
            return PullOutcome(records=n)
        raise AssertionError("unreachable")

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
