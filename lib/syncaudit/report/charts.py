"""Plotly figures for the notebooks and the index page.

plotly.js reads a subset of HTML in labels (``<b>``, ``<a href>``), so every
category label that may come from a CRM is HTML-escaped before it reaches a
figure: plotly then shows ``<script>`` as text. Figures take small, already
aggregated frames (DuckDB does the counting), never raw records.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

_PALETTE = ["#0969da", "#bf3989", "#1a7f37", "#bc4c00", "#8250df", "#57606a", "#cf222e", "#116329"]


def _escaped(df: pd.DataFrame, cols: list[str | None]) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        if c and c in out.columns and not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].map(lambda v: html.escape(str(v)) if v is not None and v is not pd.NA else "(none)")
    return out


def _layout(fig: Any, title: str) -> Any:
    fig.update_layout(
        title=html.escape(title),
        template="plotly_white",
        margin={"l": 40, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def bar_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    color: str | None = None,
    title: str = "",
    horizontal: bool = False,
) -> Any:
    """A bar chart of an aggregated frame; ``x`` (and ``color``) are categories, ``y`` a count."""
    import plotly.express as px

    data = _escaped(df, [x, color])
    if horizontal:
        fig = px.bar(data, x=y, y=x, color=color, orientation="h", color_discrete_sequence=_PALETTE)
        fig.update_yaxes(categoryorder="total ascending")
    else:
        fig = px.bar(data, x=x, y=y, color=color, color_discrete_sequence=_PALETTE)
    return _layout(fig, title)


def line_chart(df: pd.DataFrame, x: str, y: str, *, color: str | None = None, title: str = "") -> Any:
    """A line chart with markers (trends over report periods)."""
    import plotly.express as px

    data = _escaped(df, [x, color])
    fig = px.line(data, x=x, y=y, color=color, markers=True, color_discrete_sequence=_PALETTE)
    fig.update_xaxes(type="category")
    return _layout(fig, title)


def histogram_chart(df: pd.DataFrame, x: str, y: str, *, title: str = "") -> Any:
    """Counts per numeric bucket (e.g. duplicate cluster sizes), as bars on a category axis."""
    fig = bar_chart(df.assign(**{x: df[x].astype(str)}), x, y, title=title)
    fig.update_xaxes(type="category")
    return fig


def pie_chart(df: pd.DataFrame, names: str, values: str, *, title: str = "") -> Any:
    """Shares of a whole (e.g. link status of in-scope records)."""
    import plotly.express as px

    data = _escaped(df, [names])
    fig = px.pie(data, names=names, values=values, hole=0.45, color_discrete_sequence=_PALETTE)
    return _layout(fig, title)
