"""Executed notebook -> stakeholder HTML: no code cells, self-contained, offline, discreet.

nbconvert's lab template is used with the input cells and prompts removed, and
the blocks that reach the internet (require.js, MathJax and mermaid from a CDN)
emptied, so the file displays the same with no network. plotly.js is inlined
once per page that has charts (see plotlyjs.py). As a last line of defence against personal data in an
output we did not format ourselves (a traceback, a print), emails and phone
numbers in the page text are masked when masking is on.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from syncaudit.fsutil import written_over
from syncaudit.report.masking import EMAIL_RE, PHONE_RE, mask_phone_match
from syncaudit.report.plotlyjs import inline_library
from syncaudit.report.sanitize import clean_for_stakeholders, strip_paths_in_html

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style>
.sa-banner{font-family:system-ui,sans-serif;border-bottom:1px solid #d0d7de;padding:8px 16px;color:#57606a;font-size:13px}
.sa-banner a{color:#0969da}
</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
<div class="sa-banner">{{ resources.syncaudit_banner | e }}{% if resources.syncaudit_index %} · <a href="{{ resources.syncaudit_index | e }}">back to the report index</a>{% endif %}</div>
{%- endblock body_header -%}
"""

_TEMPLATE_NAME = "syncaudit_report.html.j2"


def build_exporter() -> HTMLExporter:
    """An HTMLExporter that drops code cells and every CDN reference."""
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    exporter.template_file = _TEMPLATE_NAME
    return exporter


def export_html(
    notebook_path: str | os.PathLike[str],
    html_path: str | os.PathLike[str],
    *,
    mask: bool = True,
    banner: str | None = None,
    index_href: str | None = "index.html",
    removed: list[str] | None = None,
) -> Path:
    """Write the stakeholder HTML of an executed notebook (atomically) and return its path.

    Tracebacks become one sentence and stderr streams are dropped (see sanitize.py); what was removed is
    appended to ``removed`` when given, for the run's log.
    """
    nb = nbformat.read(str(notebook_path), as_version=4)
    _drop_parameter_cells(nb)
    taken = clean_for_stakeholders(nb)
    if removed is not None:
        removed.extend(taken)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    resources = {
        "metadata": {"name": Path(notebook_path).stem},
        "syncaudit_banner": banner or f"syncaudit report · generated {stamp}",
        "syncaudit_index": index_href,
    }
    body, _ = build_exporter().from_notebook_node(nb, resources=resources)
    if mask:
        body = sweep_personal_data(body)
    body = strip_paths_in_html(body)
    body = inline_library(body)  # once per page with charts, the smallest bundle that draws them
    target = Path(html_path)
    with written_over(target) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return target


def _drop_parameter_cells(nb: nbformat.NotebookNode) -> None:
    """Parameter cells (and papermill's injected copy) have no output worth showing; hide them."""
    nb.cells = [
        c
        for c in nb.cells
        if not (
            {"parameters", "injected-parameters"} & set(c.get("metadata", {}).get("tags", [])) and not c.get("outputs")
        )
    ]


_BLOCK = re.compile(r"(<script\b.*?</script>|<style\b.*?</style>)", re.DOTALL | re.IGNORECASE)
# plotly.js itself and other libraries are large; figure payloads are small JSON.
_LIBRARY_SIZE = 200_000


def sweep_personal_data(page: str) -> str:
    """Mask emails and phone numbers in the page text, and emails in small scripts (figure data)."""
    out = []
    for i, part in enumerate(_BLOCK.split(page)):
        if i % 2 == 0:  # text between scripts and styles
            part = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", part)
            part = PHONE_RE.sub(mask_phone_match, part)
        elif part[:7].lower() == "<script" and len(part) < _LIBRARY_SIZE:
            part = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", part)
        out.append(part)
    return "".join(out)


_EXTERNAL = re.compile(
    r"""<(?:script|img|iframe|link|source|video|audio|embed)\b[^>]*?\b(?:src|href)\s*=\s*["']?(?:https?:)?//"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//|\bimport\s*\(\s*["'](?:https?:)?//""",
    re.IGNORECASE,
)


def external_references(page: str) -> list[str]:
    """Resources a page would fetch from the network (scripts, styles, images, imports); empty when offline-safe."""
    return [m.group(0) for m in _EXTERNAL.finditer(page)]
