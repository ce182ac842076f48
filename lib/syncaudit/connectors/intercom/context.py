"""Shared pieces of the Intercom streams: page size, day-aligned date filters, the per-pull context."""

from __future__ import annotations

from typing import Any

from syncaudit.connectors.intercom.client import IntercomClient

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


def _flat(f: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The single filters of an AND group (search allows nesting two deep, so keep groups flat)."""
    if f is None:
        return []
    return list(f["value"]) if f.get("operator") == "AND" else [f]


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
