"""Conversation list and search pages parsed straight into Arrow: no Python object per conversation.

A page of 150 conversations is one JSON object. Arrow's JSON reader parses it against the few fields the
audit reads (unknown fields are skipped in C++), and the columns of ``CONVERSATION_SCHEMA`` are derived with
compute kernels, so the per-page cost stays a fraction of a millisecond and runs outside the GIL in the reader
threads. A page the fast path cannot type (a field of another type than the 2.16 shape, parts on the page) is
read the ordinary way (orjson + :func:`convert.conversations_table`): same table, slower. A body that is not
JSON at all raises ``ValueError`` (a truncated transfer), which the connector retries.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from syncaudit.connectors.arrow import UTC_US
from syncaudit.connectors.intercom import convert

STR = pa.string()
_ROW = pa.struct(
    [
        ("id", STR),
        ("state", STR),
        ("open", pa.bool_()),
        ("created_at", pa.int64()),
        ("updated_at", pa.int64()),
        ("title", STR),
        ("admin_assignee_id", pa.int64()),
        ("contacts", pa.struct([("contacts", pa.list_(pa.struct([("id", STR)])))])),
        ("tags", pa.struct([("tags", pa.list_(pa.struct([("name", STR)])))])),
        ("source", pa.struct([("type", STR)])),
        ("statistics", pa.struct([("count_conversation_parts", pa.int64())])),
        # Present only on a fetched conversation: such a page goes the ordinary way (it carries parts).
        ("conversation_parts", pa.struct([("total_count", pa.int64())])),
    ]
)
_PAGE = pa.schema(
    [
        ("conversations", pa.list_(_ROW)),
        ("total_count", pa.int64()),
        ("pages", pa.struct([("next", pa.struct([("starting_after", STR)]))])),
    ]
)
_PARSE = pj.ParseOptions(explicit_schema=_PAGE, unexpected_field_behavior="ignore", newlines_in_values=True)


@dataclass
class ConversationPage:
    """One list or search page: the conversations as a table, or as dicts when parts are still to be fetched."""

    table: pa.Table | None
    rows: list[dict[str, Any]] | None
    next_cursor: str | None
    total_count: int | None
    fast: bool = False

    @property
    def num_rows(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.rows or [])


def _read(body: bytes) -> pa.Table | None:
    try:
        body.decode()  # Arrow's reader would keep invalid UTF-8 in the strings; orjson refuses it
    except UnicodeDecodeError:
        return None
    try:
        opts = pj.ReadOptions(use_threads=False, block_size=max(1 << 20, 2 * len(body)))
        return pj.read_json(io.BytesIO(body), read_options=opts, parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None  # not of the shape the fast path types (or not JSON: the ordinary parse says which)


def _sorted_lists(lists: pa.ListArray, field: str) -> pa.Array:
    """``[[x.field for x in row] sorted]`` per row, as list<string>, by kernels (null rows become [])."""
    lists = pc.fill_null(lists, pa.scalar([], lists.type)) if lists.null_count else lists
    values = pc.struct_field(lists.flatten(), field)
    parents = pc.list_parent_indices(lists)
    order = pc.sort_indices(pa.table({"p": parents, "v": values}), sort_keys=[("p", "ascending"), ("v", "ascending")])
    offsets = lists.offsets
    if lists.offset:  # a sliced array: offsets start past zero
        offsets = pc.subtract(offsets, offsets[0])
    return pa.ListArray.from_arrays(offsets, pc.take(values, order).cast(STR))


def _seconds(arr: pa.Array) -> pa.Array:
    return pc.multiply(arr, 1_000_000).cast(pa.timestamp("us")).cast(UTC_US)


def fast_table(page: pa.Table) -> pa.Table | None:
    """The page's conversations in ``CONVERSATION_SCHEMA``, or None when they carry parts."""
    rows = page.column("conversations").combine_chunks()
    if len(rows) != 1:
        return None
    convs = rows.flatten() if rows.null_count == 0 else pa.array([], _ROW)
    if isinstance(convs, pa.ChunkedArray):
        convs = convs.combine_chunks()
    if len(convs) and convs.field("conversation_parts").null_count < len(convs):
        return None
    f = convs.field
    assignee = f("admin_assignee_id")
    cols = {
        "id": f("id"),
        "state": f("state"),
        "open": f("open"),
        "created_at": _seconds(f("created_at")),
        "updated_at": _seconds(f("updated_at")),
        "title": f("title"),
        # 2.16 reports "unassigned" as 0
        "admin_assignee_id": pc.if_else(pc.equal(assignee, 0), pa.scalar(None, STR), assignee.cast(STR)),
        "contact_ids": _sorted_lists(pc.struct_field(f("contacts"), "contacts"), "id"),
        "tags": _sorted_lists(pc.struct_field(f("tags"), "tags"), "name"),
        "source_type": pc.struct_field(f("source"), "type"),
        "parts_count": pc.struct_field(f("statistics"), "count_conversation_parts"),
    }
    return pa.Table.from_arrays(
        [cols[n] for n in convert.CONVERSATION_SCHEMA.names], schema=convert.CONVERSATION_SCHEMA
    )


def parse_conversation_page(body: bytes, *, keep_rows: bool = False) -> ConversationPage:
    """A list or search page; ``keep_rows`` keeps the dicts (their parts are fetched next)."""
    if not keep_rows:
        page = _read(body)
        table = fast_table(page) if page is not None else None
        if table is not None:
            nxt = page.column("pages")[0].as_py() or {}
            total = page.column("total_count")[0].as_py()
            cursor = (nxt.get("next") or {}).get("starting_after")
            return ConversationPage(table, None, cursor, total, fast=True)
    doc = orjson.loads(body)  # ValueError on a truncated body: the connector retries it
    if not isinstance(doc, dict):
        raise ValueError("a conversation page is a JSON object")
    rows = doc.get("conversations") or []
    nxt = (doc.get("pages") or {}).get("next")
    cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
    total = doc.get("total_count")
    if keep_rows:
        return ConversationPage(None, rows, cursor, total)
    return ConversationPage(convert.conversations_table(rows)[0], None, cursor, total)
