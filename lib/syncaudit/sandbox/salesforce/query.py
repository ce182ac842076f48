"""Query execution: SOQL pages for REST (nextRecordsUrl) and CSV pages for Bulk API 2.0 (locators).

Paging never rescans: unordered queries page by keyset on the table's rowid; ordered queries larger than
one page are materialised once (rowids in query order, inside SQLite) and paged by sequence number.
Cursors live server-side and expire after 15 idle minutes of the sandbox clock.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from .exceptions import InvalidQueryLocator
from .ids import make_id
from .soql_sql import PREFIX_TO_OBJECT, CompiledQuery, compile_query
from .values import render

CURSOR_IDLE_S = 15 * 60


@dataclass
class Cursor:
    """One running query: its compiled form, total size and the keyset positions handed out so far."""

    id: str
    cq: CompiledQuery
    mode: str  # json | csv
    total: int
    materialised: bool
    last_used: float
    positions: dict[int, int] = field(default_factory=lambda: {0: -(2**63)})


class QueryEngine:
    """Runs compiled queries against the store and keeps the cursors."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self._cursors: dict[str, Cursor] = {}
        self._lock = threading.Lock()
        self._seq = 0

    def compile(self, soql_text: str, include_deleted: bool) -> CompiledQuery:
        return compile_query(soql_text, self.backend.objs, self.backend.now(), include_deleted=include_deleted)

    # -- cursors
    def open(self, cq: CompiledQuery, mode: str, page_size: int, register: bool = True) -> Cursor:
        """Count the result and, when an ordered result spans pages, materialise its order.

        Unregistered cursors (a result that fits in one page) cost nothing to keep: they are simply dropped.
        """
        conn = self.backend.store.conn()
        with self._lock:
            self._seq += 1
            cid = make_id("01g", self._seq)[:15]
        if cq.aggregate:
            rows = conn.execute(self._aggregate_sql(cq, mode), cq.params).fetchall()
            cur = Cursor(cid, cq, mode, len(rows), False, self.backend.clock())
            cur.rows = rows  # type: ignore[attr-defined]
            return cur
        count = conn.execute(f"SELECT COUNT(*) FROM {cq.from_sql} WHERE {cq.where_sql}", cq.params).fetchone()[0]
        total = max(0, count - cq.offset)
        if cq.limit is not None:
            total = min(total, cq.limit)
        materialised = bool(cq.order_sql) and total > page_size and not cq.count_only
        register = register or materialised
        if materialised:
            with self.backend.store.write() as c:
                c.execute(
                    f"INSERT INTO _cursor_rows (cursor, seq, rid) SELECT ?, row_number() OVER (ORDER BY {cq.order_sql}), "
                    f"{cq.root}.rowid FROM {cq.from_sql} WHERE {cq.where_sql} ORDER BY {cq.order_sql} LIMIT ? OFFSET ?",
                    [cid, *cq.params, total, cq.offset],
                )
        cur = Cursor(cid, cq, mode, total, materialised, self.backend.clock())
        if register:
            self.register(cur)
        return cur

    def register(self, cur: Cursor) -> None:
        """Keep a cursor so that later pages can be fetched by its locator."""
        with self._lock:
            self._expire()
            self._cursors[cur.id] = cur

    def get(self, cid: str) -> Cursor:
        with self._lock:
            self._expire()
            cur = self._cursors.get(cid)
        if cur is None:
            raise InvalidQueryLocator("invalid query locator")
        cur.last_used = self.backend.clock()
        return cur

    def _expire(self) -> None:
        now = self.backend.clock()
        dead = [k for k, c in self._cursors.items() if now - c.last_used > CURSOR_IDLE_S]
        for k in dead:
            cur = self._cursors.pop(k)
            if cur.materialised:
                with self.backend.store.write() as c:
                    c.execute("DELETE FROM _cursor_rows WHERE cursor = ?", (cur.id,))

    def forget(self) -> None:
        """Drop every cursor (reset)."""
        with self._lock:
            self._cursors.clear()

    def _aggregate_sql(self, cq: CompiledQuery, mode: str) -> str:
        sql = f"SELECT {cq.select_sql(mode)} FROM {cq.from_sql} WHERE {cq.where_sql}"
        if cq.group_sql:
            sql += f" GROUP BY {cq.group_sql}"
        if cq.order_sql:
            sql += f" ORDER BY {cq.order_sql}"
        if cq.limit is not None:
            sql += f" LIMIT {int(cq.limit)}"
        return sql

    def fetch(self, cur: Cursor, offset: int, n: int) -> list[tuple]:
        """Rows ``offset`` .. ``offset + n`` of the cursor (keyset when the position is known)."""
        n = max(0, min(n, cur.total - offset))
        if n == 0 or cur.cq.count_only:
            return []
        if cur.cq.aggregate:
            return cur.rows[offset : offset + n]  # type: ignore[attr-defined]
        cq = cur.cq
        conn = self.backend.store.conn()
        select = f"{cq.select_sql(cur.mode)}, {cq.root}.rowid"
        key = cur.positions.get(offset)
        if cur.materialised:
            if key is None:
                key = offset
            sql = (
                f"SELECT {select}, cr.seq FROM _cursor_rows cr CROSS JOIN {cq.from_sql} "
                f"WHERE cr.cursor = ? AND cr.seq > ? AND {cq.root}.rowid = cr.rid ORDER BY cr.seq LIMIT ?"
            )
            rows = conn.execute(sql, [cur.id, key, n]).fetchall()
        elif cq.order_sql:  # the whole result fits in one page
            sql = f"SELECT {select}, 0 FROM {cq.from_sql} WHERE {cq.where_sql} ORDER BY {cq.order_sql} LIMIT ? OFFSET ?"
            rows = conn.execute(sql, [*cq.params, n, cq.offset + offset]).fetchall()
        elif key is not None and (offset > 0 or cq.offset == 0):
            sql = (
                f"SELECT {select}, {cq.root}.rowid FROM {cq.from_sql} WHERE ({cq.where_sql}) AND {cq.root}.rowid > ? "
                f"ORDER BY {cq.root}.rowid LIMIT ?"
            )
            rows = conn.execute(sql, [*cq.params, key, n]).fetchall()
        else:  # first page with OFFSET, or a position we never handed out: skip rows once
            sql = (
                f"SELECT {select}, {cq.root}.rowid FROM {cq.from_sql} WHERE {cq.where_sql} "
                f"ORDER BY {cq.root}.rowid LIMIT ? OFFSET ?"
            )
            rows = conn.execute(sql, [*cq.params, n, cq.offset + offset]).fetchall()
        if rows:
            cur.positions[offset + len(rows)] = rows[-1][-1]
        return rows

    # -- shaping
    def records(self, cq: CompiledQuery, rows: list[tuple], version: str) -> list[dict]:
        """REST records: nested parents with attributes, values rendered as JSON."""
        obj = cq.sobject.name
        base = f"/services/data/v{version}/sobjects/"
        if cq.aggregate:
            return [
                {"attributes": {"type": "AggregateResult"}}
                | {c.header: render(c.field, r[i]) if c.field else r[i] for i, c in enumerate(cq.columns)}
                for r in rows
            ]
        cols = [(i, c, c.rels, c.field) for i, c in enumerate(cq.columns)]
        idx = cq.id_index
        out = []
        for r in rows:
            rec: dict = {"attributes": {"type": obj, "url": base + obj + "/" + r[idx]}}
            for i, c, rels, f in cols:
                d = rec
                for step in rels:
                    sub = d.get(step.name, ...)
                    if sub is ...:
                        fk = r[step.fk_index]
                        if fk is None:
                            d[step.name] = None
                            d = None
                            break
                        typ = step.target or PREFIX_TO_OBJECT.get(fk[:3], "Name")
                        sub = {"attributes": {"type": typ, "url": base + typ + "/" + fk}}
                        d[step.name] = sub
                    elif sub is None:
                        d = None
                        break
                    d = sub
                if d is None:
                    continue
                v = r[i]
                if v is not None and f.type == "boolean":
                    v = bool(v)
                d[c.name] = v
            out.append(rec)
        return out

    def csv_chunks(self, cur: Cursor, offset: int, n: int, delimiter: str, line_ending: str) -> Iterator[bytes]:
        """A Bulk API 2.0 results page as CSV, streamed from the SQLite cursor in chunks."""
        width = len(cur.cq.columns)
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_MINIMAL)
        w.writerow([c.header for c in cur.cq.columns])
        done = 0
        while done < n:
            rows = self.fetch(cur, offset + done, min(5000, n - done))
            if not rows:
                break
            w.writerows(r[:width] for r in rows)
            done += len(rows)
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
        rest = buf.getvalue()
        if rest:
            yield rest.encode("utf-8")
