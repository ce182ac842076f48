"""Contact list and search pages parsed straight into Arrow: no Python object per contact.

Arrow's JSON reader parses a page against the fields the snapshot keeps, typed as the 2.16 contact object
sends them; the custom attributes are declared from the workspace's data attributes (the same list that
makes the snapshot schema), so each workspace gets its own page schema. Unknown fields are skipped in C++.
The snapshot columns are then derived with compute kernels and the ordinary coercion of
:func:`syncaudit.connectors.arrow.table_from_columns`, in the reader threads and outside the GIL.

The fast path gives the table the per-row path (orjson + :func:`convert.contacts_table`) gives, or declines:
Arrow's reader refuses any value of another JSON type than declared (a number in a string attribute, a
string date, a tag list that is not a list object, a duplicated key...), and the few conversions whose
per-row result depends on the values (a float attribute holding integers beyond 2**53, null contacts)
are declined explicitly. A declined page is read the ordinary way. A body that is not JSON at all raises
``ValueError`` (a truncated transfer), which the connector retries.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from syncaudit.connectors.arrow import UTC_US, table_from_columns
from syncaudit.connectors.intercom import convert

log = logging.getLogger(__name__)

STR = pa.string()
_PREFIX = "custom_attributes."
# The JSON type each snapshot type is read from (dates are Unix seconds).
_JSON_TYPE = {STR: STR, pa.int64(): pa.int64(), pa.float64(): pa.float64(), pa.bool_(): pa.bool_(), UTC_US: pa.int64()}
_EXACT_FLOAT = 2.0**53  # an integer beyond this is cast (or refused) differently per row: declined
_REFS = pa.struct([("data", pa.list_(pa.struct([("id", STR)]))), ("has_more", pa.bool_())])


def blank(text: pa.Array) -> pa.Array:
    """Empty or whitespace only, as ``not v.strip()`` in Python (Arrow's Unicode whitespace is str.isspace)."""
    return pc.equal(pc.utf8_trim_whitespace(text), "")


def _row_type(schema: pa.Schema, owner_id: pa.DataType) -> pa.DataType | None:
    """The struct a contact is parsed as, or None when a snapshot column has a type the fast path cannot read."""
    custom = []
    for f in schema:
        if f.name.startswith(_PREFIX):
            json_type = _JSON_TYPE.get(f.type)
            if json_type is None:
                return None
            custom.append((f.name[len(_PREFIX) :], json_type))
    fields = [(n, STR) for n in ("id", "role", "external_id", "email", "phone", "name")]
    fields += [("owner_id", owner_id)]
    fields += [(n, pa.int64()) for n in ("created_at", "updated_at", "signed_up_at", "last_seen_at")]
    fields += [
        ("archived", pa.bool_()),
        ("location", pa.struct([(p, STR) for p in convert.LOCATION_PARTS])),
        ("custom_attributes", pa.struct(custom)),
        ("tags", _REFS),
        ("companies", _REFS),
    ]
    return pa.struct(fields)


def _page_options(row: pa.DataType) -> pj.ParseOptions:
    page = pa.schema(
        [
            ("data", pa.list_(row)),
            ("total_count", pa.int64()),
            ("pages", pa.struct([("next", pa.struct([("starting_after", STR)]))])),
        ]
    )
    return pj.ParseOptions(explicit_schema=page, unexpected_field_behavior="ignore", newlines_in_values=True)


@dataclass
class ContactPage:
    """One list or search page: contacts and contact_companies as tables (``rows`` kept on the ordinary path)."""

    table: pa.Table
    links: pa.Table
    next_cursor: Any
    total_count: Any
    rows: list[dict[str, Any]] | None = None
    fast: bool = False
    cut: bool = False  # an incremental page that reached rows older than the lookback point
    more_companies: list[str] = field(default_factory=list)  # contact ids whose embedded companies are cut short

    @property
    def num_rows(self) -> int:
        return self.table.num_rows


def _ref_ids(refs: pa.Array, tag_names: pa.Array | None = None, tag_ids: pa.Array | None = None) -> pa.ListArray:
    """Per row, the ids of an embedded list (tags mapped to their names), sorted in code point order (as Python
    sorts str); items that are null or have no id are no reference (as on the per-row path)."""
    lists = pc.struct_field(refs, "data")
    lists = pc.fill_null(lists, pa.scalar([], lists.type)) if lists.null_count else lists
    offsets = lists.offsets
    if lists.offset:  # a sliced array: offsets start past zero
        offsets = pc.subtract(offsets, offsets[0])
    ids = pc.struct_field(lists.flatten(), "id")
    if tag_ids is not None:
        ids = pc.coalesce(pc.take(tag_names, pc.index_in(ids, value_set=tag_ids)), ids)
    parents = pc.list_parent_indices(lists)
    keys = [("p", "ascending", "at_end"), ("v", "ascending", "at_end")]
    order = pc.sort_indices(pa.table({"p": parents, "v": ids}), sort_keys=keys)
    values = pc.take(ids, order)
    if ids.null_count:
        # Nulls sort last within their row: drop them and move each row's start back by the nulls before it.
        nulls = pc.cumulative_sum(pc.is_null(ids).cast(pa.int32()))
        before = pc.take(pa.concat_arrays([pa.array([0], pa.int32()), nulls]), offsets)
        offsets = pc.subtract(offsets, before)
        values = values.drop_null()
    return pa.ListArray.from_arrays(offsets, values)


class ContactPageParser:
    """Parses contact pages for one pull: the snapshot ``schema`` (custom attributes from the data attributes),
    the workspace's tag names, and for an incremental pull the lookback point ``newer_than`` (Unix seconds)."""

    def __init__(self, schema: pa.Schema, tag_names: dict[str, str], newer_than: int | None = None) -> None:
        self.schema = schema
        self.tag_names = tag_names
        self.newer_than = newer_than
        self._tag_ids = pa.array(list(tag_names), STR)
        self._tag_names = pa.array(list(tag_names.values()), STR)
        # 2.16 sends owner_id as a string, earlier versions as an integer: both are tried (string first).
        rows = [_row_type(schema, STR), _row_type(schema, pa.int64())]
        self._options = [_page_options(r) for r in rows if r is not None]

    # -- the fast path

    def _read(self, body: bytes) -> pa.Table | None:
        try:
            body.decode()  # Arrow's reader would keep invalid UTF-8 in the strings; orjson refuses it
        except UnicodeDecodeError:
            return None
        opts = pj.ReadOptions(use_threads=False, block_size=max(1 << 20, 2 * len(body)))
        for parse in self._options:
            try:
                return pj.read_json(io.BytesIO(body), read_options=opts, parse_options=parse)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                continue  # another shape: the next declaration, or the ordinary path
        return None

    def _fast(self, page: pa.Table) -> ContactPage | None:
        data = page.column("data").combine_chunks()
        if len(data) != 1:
            return None  # several JSON documents in one body: the ordinary parse refuses it
        rows = data.flatten() if data.null_count == 0 else pa.array([], data.type.value_type)
        if isinstance(rows, pa.ChunkedArray):
            rows = rows.combine_chunks()
        if rows.null_count:
            return None  # a null where a contact should be
        cut = False
        if self.newer_than is not None:
            fresh = pc.greater_equal(pc.fill_null(rows.field("updated_at"), 0), self.newer_than)
            cut = not pc.all(fresh).as_py() if len(rows) else False
            rows = rows.filter(fresh)
        f = rows.field
        custom = f("custom_attributes")
        cols: dict[str, Any] = {n: f(n) for n in ("id", "role", "external_id", "email", "phone", "name")}
        for n in ("created_at", "updated_at", "signed_up_at", "last_seen_at"):
            cols[n] = f(n)
        owner = f("owner_id").cast(STR)
        cols["owner_id"] = pc.if_else(pc.equal(owner, "0"), pa.scalar(None, STR), owner)  # "unassigned"
        cols["archived"] = pc.fill_null(f("archived"), False)
        for part in convert.LOCATION_PARTS:
            text = pc.struct_field(f("location"), part)
            cols[f"location.{part}"] = pc.if_else(blank(text), pa.scalar(None, STR), text)
        for col in self.schema:
            if col.name.startswith(_PREFIX):
                values = pc.struct_field(custom, col.name[len(_PREFIX) :])
                if col.type == pa.float64() and len(values) and (pc.max(pc.abs(values)).as_py() or 0) >= _EXACT_FLOAT:
                    return None
                cols[col.name] = values
        cols["tags"] = _ref_ids(f("tags"), self._tag_names, self._tag_ids)
        company_ids = _ref_ids(f("companies"))
        cols["company_ids"] = company_ids
        table = table_from_columns(cols, self.schema)
        links = _links(table.column("id").combine_chunks(), company_ids)
        more = pc.fill_null(pc.struct_field(f("companies"), "has_more"), False)
        more_ids = pc.fill_null(table.column("id"), "None").filter(more).to_pylist() if pc.any(more).as_py() else []
        nxt = page.column("pages")[0].as_py() or {}
        cursor = (nxt.get("next") or {}).get("starting_after")
        return ContactPage(table, links, cursor, page.column("total_count")[0].as_py(), fast=True, cut=cut,
                           more_companies=more_ids)  # fmt: skip

    # -- the ordinary path

    def rows_page(self, body: bytes) -> ContactPage:
        """The page read by orjson, rows kept (the per-row conversion happens in :meth:`convert_rows`)."""
        # ValueError on a truncated body (the connector retries it); a byte order mark is ignored, as Arrow's
        # reader ignores it (RFC 8259 allows either).
        doc = orjson.loads(body[3:] if body.startswith(b"\xef\xbb\xbf") else body)
        if not isinstance(doc, dict):
            raise ValueError("a contact page is a JSON object")
        data = doc.get("data") or []
        if not isinstance(data, list):
            raise ValueError("a contact page's data is a list")
        rows = [r for r in data if isinstance(r, dict)]
        if len(rows) < len(data):
            log.warning(
                "%d item(s) of a contact page were not contact objects and were left out", len(data) - len(rows)
            )
        cut = False
        if self.newer_than is not None:
            # Newest first: the rows older than the lookback point were read by an earlier run.
            fresh = [r for r in rows if int(r.get("updated_at") or 0) >= self.newer_than]
            cut = len(fresh) < len(rows)
            rows = fresh
        nxt = (doc.get("pages") or {}).get("next") if isinstance(doc.get("pages"), dict) else None
        cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
        more = [
            str(r.get("id")) for r in rows if isinstance(r.get("companies"), dict) and r["companies"].get("has_more")
        ]
        empty = self.schema.empty_table()
        page = ContactPage(empty, convert.CONTACT_COMPANY_SCHEMA.empty_table(), cursor, doc.get("total_count"),
                           rows=rows, cut=cut, more_companies=more)  # fmt: skip
        return page

    def convert_rows(self, page: ContactPage, extra_companies: dict[str, list[str]]) -> ContactPage:
        page.table, page.links = convert.contacts_table(page.rows or [], self.schema, self.tag_names, extra_companies)
        return page

    # -- either

    def parse(self, body: bytes, *, fast: bool = True) -> ContactPage:
        """A list or search page; its companies beyond the embedded ten are still to be added
        (:meth:`with_companies`)."""
        if fast and self._options:
            page = self._read(body)
            if page is not None:
                try:
                    out = self._fast(page)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    out = None  # a value the kernels refuse: the per-row path says what it makes of it
                if out is not None:
                    return out
        return self.convert_rows(self.rows_page(body), {})

    def with_companies(self, page: ContactPage, extra: dict[str, list[str]]) -> ContactPage:
        """The page with the full company lists of the contacts in ``extra`` (fetched by the caller)."""
        if not extra:
            return page
        if not page.fast:
            return self.convert_rows(page, extra)
        ids = pc.fill_null(page.table.column("id"), "None").combine_chunks()
        current = page.table.column("company_ids").combine_chunks()
        # Only the rows in ``extra`` are replaced (a few a page): the rest of the column is sliced, not rebuilt.
        where = pc.indices_nonzero(pc.is_in(ids, value_set=pa.array(list(extra), STR))).to_pylist()
        pieces, start = [], 0
        for i in where:
            pieces += [current[start:i], pa.array([sorted(extra[ids[i].as_py()])], convert.LIST_STR)]
            start = i + 1
        arr = pa.concat_arrays([*pieces, current[start:]])
        page.table = page.table.set_column(page.table.schema.get_field_index("company_ids"), "company_ids", arr)
        page.links = _links(page.table.column("id").combine_chunks(), arr)
        return page


def _links(contact_ids: pa.Array, company_ids: pa.ListArray) -> pa.Table:
    """contact_companies rows: one per company of each contact (a contact without id is "None", as per row)."""
    owners = pc.take(pc.fill_null(contact_ids, "None"), pc.list_parent_indices(company_ids))
    return pa.table({"contact_id": owners, "company_id": company_ids.flatten()}, schema=convert.CONTACT_COMPANY_SCHEMA)
