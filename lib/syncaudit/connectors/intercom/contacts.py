"""Intercom contacts: partitioned parallel search (full and incremental) and removal detection.

A full pull splits the ``created_at`` range into day-aligned partitions (Intercom
truncates date filters to whole days) and pages through them with
``POST /contacts/search`` in parallel, 150 a page, inside the shared rate limit;
an incremental pull searches ``updated_at`` from the start of the lookback day,
newest first, and stops each partition at the first row older than the exact
lookback point (the day filter alone would re-read the whole day). Pages are
parsed into Arrow in the reader threads (:mod:`.contact_pages`: straight from the JSON bytes where the page
has the declared shape, per row otherwise) and streamed to Parquet as they arrive.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pyarrow.compute as pc

from syncaudit.connectors.intercom import context as _ctx
from syncaudit.connectors.intercom import convert
from syncaudit.connectors.intercom.client import IntercomNotFound
from syncaudit.connectors.intercom.contact_pages import ContactPage, ContactPageParser
from syncaudit.connectors.intercom.context import DAY, IntercomContext, _Base, _flat, date_range_filter, day_partitions
from syncaudit.connectors.intercom.pacing import feed_pages, rate_limited_workers, signal_when_done, timed
from syncaudit.connectors.stream import PullOutcome, Writer
from syncaudit.errors import FatalAPIError

_DONE = object()


class ContactsStream(_Base):
    name = "contacts"
    children = {"contact_companies": "contact_id"}
    incremental = True
    fast = True  # pages parsed straight into Arrow where they can be (False: the per-row path only, a baseline)

    def __init__(self, ctx: IntercomContext, partitions: int = 4) -> None:
        super().__init__(ctx)
        self.partitions = partitions

    def _search(
        self,
        query: dict[str, Any],
        cursor: str | None,
        parse: Callable[[bytes], ContactPage],
        sort: str | None = None,
        order: str = "ascending",
    ) -> ContactPage:
        body: dict[str, Any] = {"query": query, "pagination": {"per_page": _ctx.PER_PAGE}}
        if cursor:
            body["pagination"]["starting_after"] = cursor
        if sort:
            body["sort"] = {"field": sort, "order": order}
        return self.client.request("POST", "contacts/search", "search contacts", json=body, parse=parse)

    def _edge(self, order: str, query: dict[str, Any] | None = None, per_page: int = 1) -> tuple[int | None, int]:
        body = {
            "query": query or {"field": "created_at", "operator": ">", "value": 0},
            "pagination": {"per_page": per_page},
            "sort": {"field": "created_at", "order": order},
        }
        res = self.client.request("POST", "contacts/search", "search contacts", json=body)
        data = res.get("data") or []
        return (int(data[0]["created_at"]) if data else None), int(res.get("total_count") or 0)

    def plan(self, since: datetime | None) -> tuple[list[dict[str, Any] | None], int | None]:
        """The partition filters (``None`` = everything) and the expected total if known.

        Full: day ranges of created_at (4 per worker, so a slow range does not hold up the end).
        Incremental: ``updated_at`` from the start of the lookback day, split by created_at ranges
        too when the delta is big enough to be worth the two extra probe calls.
        """
        if since is None and self.partitions <= 1:
            return [None], None
        changed = None
        if since is not None:
            changed = {"field": "updated_at", "operator": ">", "value": int(since.timestamp()) - DAY}
        # A full pull times its first probe on a whole page: the workers needed follow from what a page costs.
        probe_page = _ctx.PER_PAGE if changed is None else 1
        (first, total), call_s = timed(lambda: self._edge("ascending", changed, probe_page))
        if first is None:
            return [], 0
        pages = -(-total // _ctx.PER_PAGE)
        n = self.partitions * 4 if changed is None else min(self.partitions, pages // 4)
        if changed is None:
            workers = rate_limited_workers(self.client, self.partitions, call_s, pages)
            if workers > self.partitions:
                # More workers for the rate limit, but each partition ends on a part-filled page:
                # at least 8 pages each keeps those extra calls under 1/16.
                self.partitions = workers
                n = min(workers * 4, pages // 8)
        if n <= 1:
            return [changed], total
        last, _ = self._edge("descending", changed)
        ranges = day_partitions(first, last or first, n)
        filters = [date_range_filter("created_at", s, e) for s, e in ranges]
        if changed is not None:
            filters = [{"operator": "AND", "value": [changed, *_flat(f)]} for f in filters]
        return filters, total

    def _pages(self, query: dict[str, Any] | None, parser: ContactPageParser) -> Iterator[ContactPage]:
        """Pages of one list or search, each parsed in this reader thread. With the parser's ``newer_than`` the
        search runs newest ``updated_at`` first and ends at the first row updated before it (that row and the
        rest are left out: an earlier run read them, the bookmark never passes a change)."""
        fast = self.fast

        def parse(body: bytes) -> ContactPage:
            return parser.parse(body, fast=fast)

        cursor: str | None = None
        seen: set[str] = set()
        while True:
            if query is None:
                params: dict[str, Any] = {"per_page": _ctx.PER_PAGE}
                if cursor:
                    params["starting_after"] = cursor
                page = self.client.request("GET", "contacts", "list contacts", params=params, parse=parse)
            elif parser.newer_than is not None:
                page = self._search(query, cursor, parse, sort="updated_at", order="descending")
            else:
                page = self._search(query, cursor, parse)
            yield page
            if page.cut:
                return
            cursor = page.next_cursor
            if not cursor:
                return
            if cursor in seen:  # a paginator must never loop on a repeated cursor
                raise FatalAPIError("Intercom returned the same page cursor twice", system="intercom")
            seen.add(cursor)

    def _complete(self, pages: Iterator[ContactPage], parser: ContactPageParser) -> Iterator[ContactPage]:
        """Each page with the companies of contacts that have more than the ten embedded (fetched here)."""
        for page in pages:
            yield parser.with_companies(page, self._extra_companies(page.more_companies))

    def _extra_companies(self, contact_ids: list[str]) -> dict[str, list[str]]:
        """Contacts with more than 10 companies: the embedded list is cut short, fetch the rest."""
        out = {}
        for cid in contact_ids:
            ids: list[str] = []
            page = 1
            while True:
                res = self.client.request(
                    "GET",
                    f"contacts/{cid}/companies",
                    "contact companies",
                    params={"page": page, "per_page": _ctx.PER_PAGE},
                )
                batch = res.get("companies") or res.get("data") or []
                ids += [str(c["id"]) for c in batch]
                if not batch or len(batch) < _ctx.PER_PAGE:
                    break
                page += 1
            out[cid] = ids
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
        parser = ContactPageParser(convert.contact_schema([]), {})
        for page in self._pages(date_range_filter("created_at", start, end), parser):
            ids.update(str(i) for i in page.table.column("id").to_pylist())
        return ids

    def find_removed(self, con: Any, local: str) -> dict[str, str]:
        """Ids in the local view ``local`` (id, created_at) that Intercom no longer lists: {id: reason}.

        One search call proves nothing was removed (the usual case). Otherwise the
        created_at range is bisected by day, comparing server counts with local
        counts, and only mismatching small ranges are listed id by id.
        """

        def local_count(start: int | None, end: int | None) -> int:
            cond = []
            if start is not None:
                cond.append(f"epoch(created_at) >= {start}")
            if end is not None:
                cond.append(f"epoch(created_at) < {end}")
            where = f" WHERE {' AND '.join(cond)}" if cond else ""  # a bare count is read from Parquet metadata
            return int(con.execute(f"SELECT count(*) FROM {local}{where}").fetchone()[0])

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
            if s is None or e is None or e - s <= DAY or n_local <= 4 * _ctx.PER_PAGE:
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
        newer_than = int(since.timestamp()) if since is not None else None
        parser = ContactPageParser(schema, self.ctx.tags(), newer_than)
        queries, expected = self.plan(since)
        getattr(progress, "set_total", lambda n: None)(expected)
        pages: queue.Queue[Any] = queue.Queue(maxsize=8 * max(1, self.partitions))
        stop = threading.Event()

        def worker(q: dict[str, Any] | None) -> None:
            feed_pages(pages, self._complete(self._pages(q, parser), parser), stop)

        contacts_w = open_writer("contacts", schema)
        links_w = open_writer("contact_companies", convert.CONTACT_COMPANY_SCHEMA)
        out = PullOutcome(extra={"partitions": len(queries), "expected": expected, "pages": 0, "fast_pages": 0})
        latest = None
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.partitions, len(queries) or 1)))
        try:
            futures = [pool.submit(worker, q) for q in queries]

            signal_when_done(futures, pages, _DONE)
            while True:
                item = pages.get()
                if isinstance(item, BaseException):
                    raise item
                if item is _DONE:
                    break
                out.extra["pages"] += 1
                out.extra["fast_pages"] += item.fast
                if not item.num_rows:
                    continue
                contacts_w.write(item.table)
                links_w.write(item.links)
                m = pc.max(item.table["updated_at"]).as_py()
                latest = m if latest is None or (m is not None and m > latest) else latest
                out.records += item.num_rows
                progress(item.num_rows)
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
        out.bookmark = latest.isoformat() if latest is not None else None
        return out
