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
    mode: str  # json | csv | record (each row is one JSON record built by SQLite)
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
        return compile_query(soql_text, self.backend.api_objs, self.backend.now(), include_deleted=include_deleted)

    # -- cursors
    def open_rest(self, cq: CompiledQuery, page_size: int, version: str) -> Cursor:
        """A cursor for REST pages: records rendered to JSON inside SQLite when the query allows it."""
        sql = record_sql(cq, version)
        cur = self.open(cq, "json" if sql is None else "record", page_size, register=False)
        cur.record_sql = sql  # type: ignore[attr-defined]
        return cur

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

    def alive(self, cur: Cursor) -> bool:
        """False once the cursor has expired (its materialised order is gone)."""
        with self._lock:
            self._expire()
            found = self._cursors.get(cur.id) is cur
        if found:
            cur.last_used = self.backend.clock()
        return found

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
        if cq.having_sql:
            sql += f" HAVING {cq.having_sql}"
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
        fields = cur.record_sql if cur.mode == "record" else cq.select_sql(cur.mode)  # type: ignore[attr-defined]
        select = f"{fields}, {cq.root}.rowid"
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
        if cq.aggregate:
            return [
                {"attributes": {"type": "AggregateResult"}}
                | {c.header: render(c.field, r[i]) if c.field else r[i] for i, c in enumerate(cq.columns)}
                for r in rows
            ]
        shape = getattr(cq, "_shaper", None)
        if shape is None or getattr(cq, "_shaper_version", None) != version:
            run_child = lambda child, parent_id: self._child_records(child, parent_id, version)  # noqa: E731
            shape = cq._shaper = record_shaper(cq, version, run_child)  # type: ignore[attr-defined]
            cq._shaper_version = version  # type: ignore[attr-defined]
        return [shape(r) for r in rows]

    def _child_records(self, child: CompiledQuery, parent_id: str, version: str) -> dict | None:
        """A parent-to-child subquery for one parent: ``{totalSize, done, records}``, or None when empty."""
        sql = f"SELECT {child.select_sql('json')} FROM {child.from_sql} WHERE {child.where_sql}"
        if child.order_sql:
            sql += f" ORDER BY {child.order_sql}"
        if child.limit is not None or child.offset:
            sql += f" LIMIT {int(child.limit) if child.limit is not None else -1} OFFSET {int(child.offset)}"
        rows = self.backend.store.conn().execute(sql, [*child.params[:-1], parent_id]).fetchall()
        if not rows:
            return None
        records = self.records(child, rows, version)
        return {"totalSize": len(records), "done": True, "records": records}

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


def record_shaper(cq: CompiledQuery, version: str, run_child=None):
    """A function row -> REST record, generated once per query (a dict literal per row is the fast path).

    Parent relationships sit where their first field was selected; a null lookup renders as ``null``.
    Only canonical schema names and integer indexes reach the generated source (names through repr()).
    """
    tree: dict = {}
    children: list[CompiledQuery] = []
    for i, c in enumerate(cq.columns):
        level = tree
        for step in c.rels:
            node = level.setdefault(("rel", step.name), {"fk": step.fk_index, "target": step.target, "kids": {}})
            level = node["kids"]
        level[("field", c.name)] = i

    def value(i: int, f) -> str:
        if f is not None and f.type == "boolean":
            return f"(None if r[{i}] is None else r[{i}] == 1)"
        return f"r[{i}]"

    def body(level: dict) -> str:
        parts = []
        for (kind, name), item in level.items():
            if kind == "field" and cq.columns[item].child is not None:
                children.append(cq.columns[item].child)
                parts.append(f"{name!r}: C({len(children) - 1}, r[{item}])")
            elif kind == "field":
                parts.append(f"{name!r}: {value(item, cq.columns[item].field)}")
            else:
                fk = f"r[{item['fk']}]"
                typ = repr(item["target"]) if item["target"] else f"T.get({fk}[:3], 'Name')"
                inner = f"{{'attributes': {{'type': {typ}, 'url': B + {typ} + '/' + {fk}}}, {body(item['kids'])}}}"
                parts.append(f"{name!r}: (None if {fk} is None else {inner})")
        return ", ".join(parts)

    obj = cq.sobject.name
    base = f"/services/data/v{version}/sobjects/{obj}/"
    src = (
        "def shape(r):\n"
        f"    return {{'attributes': {{'type': {obj!r}, 'url': {base!r} + r[{cq.id_index}]}}, {body(tree)}}}\n"
    )
    scope = {
        "B": f"/services/data/v{version}/sobjects/",
        "T": PREFIX_TO_OBJECT,
        "C": lambda k, parent_id: run_child(children[k], parent_id),
    }
    exec(compile(src, f"<soql shaper {obj}>", "exec"), scope)  # noqa: S102 - source built from schema names only
    return scope["shape"]


# SQLite functions take at most 127 arguments; wider records go through the Python shaper.
_MAX_JSON_ARGS = 126


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def record_sql(cq: CompiledQuery, version: str) -> str | None:
    """One SQL expression rendering a whole REST record as JSON text (SQLite's json_object), or None.

    The same shape as :func:`record_shaper`: attributes first, parents nested where first selected, a null
    lookup as ``null``, booleans as true/false, datetimes already in the ``+0000`` form.
    """
    if cq.aggregate or cq.count_only or any(c.child is not None for c in cq.columns):
        return None
    n_visible = len(cq.columns)
    base = f"/services/data/v{version}/sobjects/"
    tree: dict = {}
    for c in cq.columns:
        level = tree
        for step in c.rels:
            fk_sql = cq.hidden[step.fk_index - n_visible]
            node = level.setdefault(("rel", step.name), {"fk": fk_sql, "target": step.target, "kids": {}})
            level = node["kids"]
        level[("field", c.name)] = c

    def type_sql(fk: str) -> str:
        whens = " ".join(f"WHEN {_sql_text(p)} THEN {_sql_text(o)}" for p, o in PREFIX_TO_OBJECT.items())
        return f"(CASE substr({fk}, 1, 3) {whens} ELSE 'Name' END)"

    def obj(attrs_type: str, url: str, level: dict) -> str | None:
        args = [f"'attributes', json_object('type', {attrs_type}, 'url', {url})"]
        for (kind, name), item in level.items():
            if kind == "field":
                value = item.json_sql
                if item.field is not None and item.field.type == "boolean":
                    value = f"json(CASE {value} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)"
                args.append(f"{_sql_text(name)}, {value}")
                continue
            fk = item["fk"]
            if item["target"]:
                typ, url_sql = _sql_text(item["target"]), f"{_sql_text(base + item['target'] + '/')} || {fk}"
            else:
                typ = type_sql(fk)
                url_sql = f"{_sql_text(base)} || {typ} || '/' || {fk}"
            inner = obj(typ, url_sql, item["kids"])
            if inner is None:
                return None
            args.append(f"{_sql_text(name)}, CASE WHEN {fk} IS NULL THEN NULL ELSE {inner} END")
        if 2 * len(args) > _MAX_JSON_ARGS:
            return None
        return f"json_object({', '.join(args)})"

    root_id = cq.hidden[cq.id_index - n_visible]
    name = cq.sobject.name
    return obj(_sql_text(name), f"{_sql_text(base + name + '/')} || {root_id}", tree)
