"""Small HTML pieces for notebook displays: every value escaped, nothing fetched from anywhere."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

STYLE = (
    "<style>.sa-card{font-family:system-ui,sans-serif;font-size:13px}"
    ".sa-card table{border-collapse:collapse;margin:4px 0 10px}"
    ".sa-card th,.sa-card td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}"
    ".sa-card th{background:#f4f4f4}.sa-diff{background:#fff3cd}.sa-muted{color:#888}"
    ".sa-pos{color:#1a7f37}.sa-neg{color:#b42318}</style>"
)


def esc(value: Any) -> str:
    """A value as escaped text; None shows as an em dash."""
    if value is None or value == "":
        return '<span class="sa-muted">—</span>'
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return html.escape(str(value))


SAME_BY_NATURE = frozenset({"id", "object", "modified"})  # rows that differ between any two records


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, mark_diff: bool = False) -> str:
    """An HTML table; with ``mark_diff`` a row whose values (after the first cell) differ is highlighted."""
    out = ["<table><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr>"]
    n = 0
    for row in rows:
        n += 1
        values = list(row)
        differs = (
            mark_diff and values[0] not in SAME_BY_NATURE and len({str(v).strip().lower() for v in values[1:]}) > 1
        )
        out.append('<tr class="sa-diff">' if differs else "<tr>")
        out += [f"<td>{esc(v)}</td>" for v in values]
        out.append("</tr>")
    if n == 0:
        out.append(f'<tr><td colspan="{len(headers)}" class="sa-muted">none</td></tr>')
    out.append("</table>")
    return "".join(out)


def text_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], width: int = 28) -> str:
    """The same table as plain text, for a kernel without HTML display."""

    def cell(v: Any) -> str:
        s = "-" if v is None or v == "" else str(v)
        return (s[: width - 1] + "…") if len(s) > width else s

    lines = [" | ".join(cell(h) for h in headers)]
    lines += [" | ".join(cell(v) for v in row) for row in rows]
    return "\n".join(lines)
