"""plotly.js in self-contained pages: inlined once per page that has charts, in the smallest bundle that draws them.

A kernel inlines the full plotly.js (4.8 MB) with the first figure of a notebook, so charts also show live in
JupyterLab. A stakeholder page needs the library once, and only when it has a chart: :func:`inline_library`
removes every inlined copy from a page and puts one back in its head. The figures' trace types are read from
the page's ``Plotly.newPlot`` calls; when they are all in plotly's official *basic* partial bundle (bar, pie,
scatter: 1.2 MB, fetched at `make setup` from the npm package ``plotly.js-basic-dist-min``, MIT: see assets.py),
that bundle is used,
provided it is the very plotly.js version the installed plotly writes figures for. Anything else (other trace
types, a figure that cannot be read, another version) gets the full bundle, so a chart is never left undrawn.
"""

from __future__ import annotations

import json
import re
from functools import cache

from syncaudit.report.assets import assets_dir

BASIC_BUNDLE = assets_dir() / "plotly-basic.min.js"
BASIC_TRACES = frozenset({"bar", "pie", "scatter"})

# plotly.py writes the library as one <script> whose text starts with the bundle's licence header.
_LIBRARY = re.compile(r"<script\b[^>]*>\s*/\*\*\s*\*\s*plotly\.js\b.*?</script>", re.DOTALL)
_NEWPLOT = re.compile(r"Plotly\.newPlot\(\s*")
_VERSION = re.compile(r"plotly\.js\b[^\n]*?\bv(\d+\.\d+\.\d+)")
_CONFIG = "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"


def strip_library(fragment: str) -> str:
    """``fragment`` without any inlined plotly.js bundle (figure calls are left as they are)."""
    return _LIBRARY.sub("", fragment) if "plotly.js" in fragment else fragment


def has_figures(page: str) -> bool:
    return _NEWPLOT.search(page) is not None


def trace_types(page: str) -> set[str] | None:
    """The trace types of every ``Plotly.newPlot`` call in ``page``; None when one cannot be read."""
    decoder = json.JSONDecoder()
    found: set[str] = set()
    for m in _NEWPLOT.finditer(page):
        try:
            _div, pos = decoder.raw_decode(page, m.end())
            pos = page.index(",", pos) + 1
            while page[pos].isspace():
                pos += 1
            traces, _ = decoder.raw_decode(page, pos)
        except (ValueError, IndexError):
            return None
        if not isinstance(traces, list) or not all(isinstance(t, dict) for t in traces):
            return None
        found.update(str(t.get("type", "scatter")) for t in traces)
    return found


@cache
def _basic_bundle() -> str | None:
    """The shipped basic bundle when it matches the installed plotly's plotly.js version, else None."""
    from plotly.offline import get_plotlyjs_version

    try:
        text = BASIC_BUNDLE.read_text(encoding="utf-8")
    except OSError:
        return None
    m = _VERSION.search(text[:300])
    return text if m and m.group(1) == get_plotlyjs_version() else None


def library_for(page: str) -> tuple[str, str] | None:
    """(bundle name, JavaScript) that draws every chart of ``page``; None when it has no chart."""
    if not has_figures(page):
        return None
    types = trace_types(page)
    basic = _basic_bundle()
    if types is not None and types <= BASIC_TRACES and basic is not None:
        return "basic", basic
    from plotly.offline import get_plotlyjs

    return "full", get_plotlyjs()


def inline_library(page: str) -> str:
    """``page`` with exactly one inlined plotly.js, in its head, when it has charts; none otherwise."""
    page = strip_library(page)
    chosen = library_for(page)
    if chosen is None:
        return page
    # "</script" cannot occur in the bundle (a browser would end the script there), but make sure.
    script = chosen[1].replace("</script", "<\\/script")
    block = f'{_CONFIG}\n<script type="text/javascript" data-plotlyjs="{chosen[0]}">{script}</script>\n'
    head_end = page.find("</head>")
    if head_end < 0:
        return block + page
    return page[:head_end] + block + page[head_end:]
