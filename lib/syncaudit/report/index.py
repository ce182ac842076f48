"""index.html of a report folder: headline figures, trends, gates, links, failed notebooks marked.

Rendered with Jinja2 with autoescaping on, so every value (error texts
included) is escaped. The trend chart is plotly with the library inlined once (the smallest bundle that draws it), so the
page is one self-contained file that displays offline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, select_autoescape

from syncaudit.report.charts import line_chart
from syncaudit.report.display import figure_html
from syncaudit.report.findings import KINDS
from syncaudit.report.plotlyjs import inline_library

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>syncaudit report {{ m.period }} — {{ m.config }}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328}
header{background:#0d1117;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#c9d1d9;font-size:13px}
main{padding:18px 28px;max-width:1200px}
h2{font-size:18px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:10px 16px;min-width:140px;background:#f6f8fa}
.card .v{font-size:24px;font-weight:600}.card .l{color:#57606a;font-size:13px}
table{border-collapse:collapse;font-size:14px}th,td{border-bottom:1px solid #d0d7de;padding:4px 10px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#cf222e}.down{color:#1a7f37}.failed{color:#cf222e;font-weight:600}.skipped{color:#9a6700}.ok{color:#1a7f37}
.gate-fail{background:#ffebe9;border:1px solid #cf222e;border-radius:6px;padding:8px 14px}
.gate-ok{background:#dafbe1;border:1px solid #1a7f37;border-radius:6px;padding:8px 14px}
.err{font-family:ui-monospace,monospace;font-size:12px;color:#57606a;white-space:pre-wrap}
</style></head><body>
<header><h1>syncaudit report · {{ m.period }}</h1>
<p>config {{ m.config }} · snapshot {{ m.snapshot_id or "none" }} · generated {{ m.generated_at }}{% if masked %} · personal data masked{% endif %}</p></header>
<main>
{% if failed %}<p class="gate-fail">{{ failed|length }} notebook{{ "s" if failed|length != 1 }} failed: {{ failed|join(", ") }}. Their pages show the error.</p>{% endif %}
<section><h2>Headline</h2><div class="cards">
{% for label, value in headline %}<div class="card"><div class="v">{{ value }}</div><div class="l">{{ label }}</div></div>{% endfor %}
</div></section>
<section><h2>Gates</h2>
{% if gates.failures %}<div class="gate-fail"><strong>{{ gates.failures|length }} gate{{ "s" if gates.failures|length != 1 }} failed</strong><ul>{% for f in gates.failures %}<li>{{ f }}</li>{% endfor %}</ul></div>
{% else %}<div class="gate-ok">All configured gates passed.</div>{% endif %}
</section>
<section><h2>Findings by kind</h2>
<table><tr><th>kind</th><th>this period</th>{% if previous %}<th>{{ previous }}</th><th>change</th>{% endif %}</tr>
{% for row in kinds %}<tr><td>{{ row.kind }}</td><td class="n">{{ "{:,}".format(row.n) }}</td>{% if previous %}<td class="n">{{ row.prev_text }}</td><td class="n {{ row.cls }}">{{ row.delta_text }}</td>{% endif %}</tr>{% endfor %}
</table></section>
{% if trend %}<section><h2>Trend</h2>{{ trend|safe }}</section>{% endif %}
<section><h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th><th>time</th><th>report</th><th>executed notebook</th></tr>
{% for r in runs %}<tr><td>{{ r.name }}</td><td class="{{ r.status }}">{{ r.status }}</td><td class="n">{{ "%.1f"|format(r.duration_s) }} s</td>
<td>{% if r.html %}<a href="{{ r.html }}">{{ r.html }}</a>{% endif %}</td><td>{% if r.output %}<a href="{{ r.output }}">{{ r.output }}</a>{% endif %}</td></tr>
{% if r.error %}<tr><td></td><td colspan="4" class="err">{{ r.error }}</td></tr>{% endif %}{% endfor %}
</table></section>
<section><h2>Files</h2><ul>{% for name in files %}<li><a href="{{ name }}">{{ name }}</a></li>{% endfor %}</ul></section>
</main></body></html>
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1%}" if 0 <= v <= 1 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def headline(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The headline cards of a period: findings, worst kinds, quality, API calls."""
    f = metrics.get("findings") or {}
    q = metrics.get("quality") or {}
    calls = metrics.get("api_calls") or {}
    cards = [("findings", _fmt(f.get("total")))]
    for kind in ("duplicate", "orphan", "field_drift", "identity_gap"):
        cards.append((kind.replace("_", " "), _fmt((f.get("by_kind") or {}).get(kind, 0 if f.get("total") else None))))
    cards.append(("quality pass rate", _fmt(q.get("pass_rate"))))
    used = [v for v in calls.values() if isinstance(v, int)]
    cards.append(("API calls", _fmt(sum(used)) if used else "—"))
    return cards


def kind_rows(metrics: Mapping[str, Any], prev: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per finding kind with the change against the previous period."""
    now = (metrics.get("findings") or {}).get("by_kind") or {}
    before = ((prev or {}).get("findings") or {}).get("by_kind") or {}
    names = list(KINDS) + sorted(set(now) - set(KINDS))
    rows = []
    for kind in names:
        n = int(now.get(kind, 0))
        p = before.get(kind)
        row: dict[str, Any] = {"kind": kind, "n": n, "prev_text": _fmt(p), "delta_text": "", "cls": ""}
        if isinstance(p, int):
            d = n - p
            row["delta_text"] = f"{d:+,}"
            row["cls"] = "up" if d > 0 else ("down" if d < 0 else "")
        rows.append(row)
    return rows


def trend_figure(history: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any]) -> Any | None:
    """Findings per kind over the periods (None when there is no earlier period)."""
    if not history:
        return None
    rows = []
    for m in [*history, metrics]:
        for kind, n in ((m.get("findings") or {}).get("by_kind") or {}).items():
            rows.append({"period": str(m.get("period")), "kind": kind, "findings": int(n)})
    if not rows:
        return None
    return line_chart(pd.DataFrame(rows), "period", "findings", color="kind", title="Findings per kind by period")


def write_index(
    out_dir: str | os.PathLike[str],
    metrics: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    gate_failures: Sequence[str],
    *,
    masked: bool,
) -> Path:
    """Render index.html into ``out_dir`` (atomically) and return its path."""
    out = Path(out_dir)
    fig = trend_figure(history, metrics)
    files = sorted(
        p.name + ("/" if p.is_dir() else "")
        for p in out.iterdir()
        if p.name not in {"index.html"} and not p.name.endswith((".tmp", ".html", ".ipynb"))
    )
    # Sub-reports with a page of their own (the quality part's offline Data Docs) are linked to that page.
    files = [f + "index.html" if f.endswith("/") and (out / f / "index.html").is_file() else f for f in files]
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    page = env.from_string(_TEMPLATE).render(
        m=metrics,
        masked=masked,
        headline=headline(metrics),
        gates={"failures": list(gate_failures)},
        previous=history[-1].get("period") if history else None,
        kinds=kind_rows(metrics, history[-1] if history else None),
        trend=figure_html(fig, include_plotlyjs=False) if fig is not None else None,
        runs=[_link_names(r, out) for r in runs],
        failed=[r["name"] for r in runs if r["status"] == "failed"],
        files=files,
    )
    target = out / "index.html"
    tmp = target.with_name("index.html.tmp")
    tmp.write_text(inline_library(page), encoding="utf-8")
    os.replace(tmp, target)
    return target


def _link_names(run: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """Links relative to the report folder, so the folder can be moved or mailed as a whole."""
    r = dict(run)
    for key in ("html", "output"):
        p = r.get(key)
        r[key] = Path(os.path.relpath(p, out)).as_posix() if p and Path(p).is_file() else None
    return r
