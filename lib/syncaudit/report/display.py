"""What the notebooks display: escaped tables, offline plotly charts, headline figures.

Every string shown here may come from a CRM, so every one is HTML-escaped
(``<script>`` in a contact name renders as text), and personal data is masked
first unless the config turns masking off. Charts are emitted as plain
``text/html`` with plotly.js inlined once per notebook and no CDN reference, so
they survive papermill and nbconvert and display with no network.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from syncaudit.report.masking import PersonalKind, mask_frame

_state = {"plotlyjs_sent": False}


def _display_html(fragment: str) -> None:
    from IPython.display import HTML, display

    display(HTML(fragment))


def _cell_text(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
        return ""
    if isinstance(v, list | tuple):
        return ", ".join(_cell_text(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_cell_text(x)}" for k, x in v.items())
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".") if v != int(v) else f"{int(v):,}"
    return str(v)


_TOKEN = "SA-LINKS-{}-SA"
RECORD_COLUMNS = ("records", "record", "survivor", "key")


def table_html(
    df: pd.DataFrame,
    *,
    mask: bool = True,
    obj: str | None = None,
    personal: dict[str, PersonalKind] | None = None,
    max_rows: int = 20,
    caption: str | None = None,
    links: Mapping[str, Any] | None = None,
) -> str:
    """An escaped HTML table of at most ``max_rows`` rows (personal data masked when ``mask``).

    With ``links`` (record URL bases, see names.record_url), record-id columns (``records``, ``record``,
    ``survivor``) become links to the records in their systems' apps.
    """
    from syncaudit.report.names import record_links_html

    total = len(df)
    shown = df.head(max_rows)
    linked: dict[str, str] = {}
    if links and len(shown):
        shown = shown.copy()
        objects = shown["object"].tolist() if "object" in shown.columns else [None] * len(shown)
        for col in [c for c in RECORD_COLUMNS if c in shown.columns]:
            cells = []
            for v, row_obj in zip(shown[col].tolist(), objects, strict=True):
                ids = list(v) if isinstance(v, list | tuple) else ([v] if isinstance(v, str) and v else [])
                token = _TOKEN.format(len(linked))
                linked[token] = record_links_html(ids, links, row_obj if isinstance(row_obj, str) else None)
                cells.append(token)
            shown[col] = cells
    if mask:
        shown = mask_frame(shown, obj=obj, extra=personal)
    shown = shown.map(_cell_text) if len(shown.columns) else shown
    body = shown.to_html(index=False, escape=True, border=0, classes="sa-table", na_rep="")
    for token, fragment in linked.items():
        body = body.replace(token, fragment)
    parts = [STYLE]
    if caption:
        parts.append(f"<p class='sa-caption'>{html.escape(caption)}</p>")
    parts.append(f"<div class='sa-scroll'>{body}</div>")
    if total > len(shown):
        parts.append(f"<p class='sa-note'>Showing {len(shown):,} of {total:,} rows.</p>")
    if total == 0:
        parts = [STYLE, f"<p class='sa-note'>{html.escape(caption or 'Table')}: nothing to show.</p>"]
    return "\n".join(parts)


def show_table(df: pd.DataFrame, **kwargs: Any) -> None:
    """Display :func:`table_html` in the notebook."""
    _display_html(table_html(df, **kwargs))


def figure_html(fig: Any, *, include_plotlyjs: bool) -> str:
    """A figure as a self-contained HTML fragment (no CDN, no MathJax)."""
    return fig.to_html(
        full_html=False,
        include_plotlyjs=include_plotlyjs,
        include_mathjax=False,
        config={"displaylogo": False, "responsive": True},
        default_width="100%",
        default_height=420,
        validate=False,
    )


def show_figure(fig: Any) -> None:
    """Display a plotly figure; the first one in a kernel carries plotly.js itself."""
    first = not _state["plotlyjs_sent"]
    _display_html(figure_html(fig, include_plotlyjs=first))
    _state["plotlyjs_sent"] = True


def headline_html(figures: Mapping[str, object]) -> str:
    """A row of headline figures (label -> value), escaped."""
    cards = []
    for label, value in figures.items():
        shown = f"{value:,}" if isinstance(value, int) else (f"{value:.1%}" if isinstance(value, float) else value)
        cards.append(
            "<div class='sa-card'><div class='sa-card-value'>"
            f"{html.escape(str(shown))}</div><div class='sa-card-label'>{html.escape(label)}</div></div>"
        )
    return f"<div class='sa-cards'>{''.join(cards)}</div>"


def show_headline(figures: Mapping[str, object]) -> None:
    _display_html(STYLE + headline_html(figures))


def show_link(href: str, text: str) -> None:
    """An escaped link (relative to the page)."""
    _display_html(f"<p class='sa-note'><a href='{html.escape(href)}'>{html.escape(text)}</a></p>")


def show_note(text: str, level: str = "info") -> None:
    """A short escaped message box (level: info, warn, error)."""
    _display_html(f"<div class='sa-note sa-{html.escape(level)}'>{html.escape(text)}</div>")


STYLE = """<style>
.sa-cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}
.sa-card{border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;min-width:120px;background:#f6f8fa}
.sa-card-value{font-size:1.5em;font-weight:600}
.sa-card-label{color:#57606a;font-size:.9em}
.sa-table{border-collapse:collapse;font-size:.9em}
.sa-table th,.sa-table td{border-bottom:1px solid #d0d7de;padding:3px 8px;text-align:left !important;vertical-align:top}
.sa-scroll{overflow-x:auto;max-width:100%}
.sa-table td{max-width:28em;overflow-wrap:break-word;white-space:normal}
.jp-OutputArea-output{max-width:100%;overflow-x:auto}
.sa-note{color:#57606a}.sa-warn{color:#9a6700}.sa-error{color:#cf222e;font-weight:600}
</style>"""
