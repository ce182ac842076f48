"""Pagination helpers: opaque keyset cursors, page objects, parameter parsing, cached counts."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Hashable

from crmsandbox.intercom.exceptions import ParameterInvalid

MAX_PER_PAGE = 150


def encode_cursor(sort_value: object, seq: int, page: int) -> str:
    """An opaque cursor holding the last row's (sort value, seq) and the next page number."""
    raw = json.dumps([sort_value, seq, page], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[object, int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, seq, page = json.loads(raw)
        if not isinstance(seq, int) or not isinstance(page, int) or not 0 < page < 2**31 or abs(seq) > 2**62:
            raise ValueError
        if value is not None and not isinstance(value, (int, float, str)):
            raise ValueError
        if isinstance(value, int) and abs(value) > 2**62:
            raise ValueError
        return value, seq, page
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ParameterInvalid(
            "starting_after is not a cursor this API returned; pass pages.next.starting_after unchanged",
            field="starting_after",
        ) from None


def keyset_page_sql(columns: str, base: str, expr: str, ascending: bool, cursor: str | None) -> tuple[str, list, int]:
    """SELECT for one keyset page ordered by ``expr`` then ``t.seq``: (sql, cursor params, page number).

    The caller appends its own params, then the cursor params, then ``per_page + 1`` for the LIMIT.
    """
    page, keyset, kparams = 1, "", []
    if cursor:
        value, seq, page = decode_cursor(cursor)
        keyset = f" AND ({expr}, t.seq) {'>' if ascending else '<'} (?, ?)"
        kparams = [value, seq]
    direction = "ASC" if ascending else "DESC"
    sql = f"SELECT {columns}, {expr} {base}{keyset} ORDER BY {expr} {direction}, t.seq {direction} LIMIT ?"  # noqa: S608
    return sql, kparams, page


def int_param(value: object, name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer query/body parameter; values above ``maximum`` are clamped as Intercom does."""
    if value is None or value == "":
        return default
    try:
        n = int(value)
        if abs(n) > 2**31:
            raise ValueError
    except (TypeError, ValueError):
        raise ParameterInvalid(f"{name} must be an integer, got {value!r}", field=name) from None
    if n < minimum:
        raise ParameterInvalid(f"{name} must be at least {minimum}, got {n}", field=name)
    return min(n, maximum) if maximum else n


def cursor_pages(page: int, per_page: int, total: int, next_cursor: str | None) -> dict:
    pages = {"type": "pages", "page": page, "per_page": per_page, "total_pages": math.ceil(total / per_page)}
    if next_cursor:
        pages["next"] = {"page": page + 1, "starting_after": next_cursor}
    return pages


def offset_pages(page: int, per_page: int, total: int, next_url: str | None) -> dict:
    return {
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": math.ceil(total / per_page),
        "next": next_url,
    }


class CountCache:
    """Counts of list/search results, keyed by query and the store's write generation.

    A paginating client asks for total_count on every page; counting a million
    rows each time would dominate, so one count serves until the next write.
    """

    def __init__(self, size: int = 256) -> None:
        self._data: dict[Hashable, tuple[int, int]] = {}
        self._size = size

    def get(self, key: Hashable, generation: int) -> int | None:
        hit = self._data.get(key)
        return hit[1] if hit and hit[0] == generation else None

    def put(self, key: Hashable, generation: int, count: int) -> None:
        if len(self._data) >= self._size:
            self._data.clear()
        self._data[key] = (generation, count)
