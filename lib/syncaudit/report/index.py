"""index.html of a report folder: the executive summary of a run.

What a stakeholder reads first, top to bottom: whether the run completed (and where it stopped), the
health score and its trend, the top actions (in plain words, who fixes each, the worklist behind it), what
changed since the previous run by stable finding id, the planned changes, the quality pass rate and its
trend, the gates as they are (none configured / passed / failed / not evaluated), the connector permission
review, then the findings by kind and the pages. Every figure comes from metrics.json (one source of truth).

Rendered with Jinja2 with autoescaping on, so every value (error texts included) is escaped. Charts are
plotly with the library inlined once, so the page is one self-contained file that displays offline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, select_autoescape

from syncaudit.fsutil import written_over
from syncaudit.report.charts import bar_chart, line_chart
from syncaudit.report.display import figure_html
from syncaudit.report.findings import KINDS
from syncaudit.report.names import human_duration, kind_label, page_title
from syncaudit.report.plotlyjs import inline_library

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>syncaudit report {{ m.period }} — {{ m.config }}</title>
<style>
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;overflow-wrap:break-word}
header{background:#0d1117;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;color:#c9d1d9;font-size:13px}
main{padding:18px 28px;max-width:1200px}
h2{font-size:18px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:10px 16px;min-width:150px;max-width:280px;background:#f6f8fa}
.card .v{font-size:24px;font-weight:600}.card .l{color:#57606a;font-size:13px}.card .s{font-size:12px;color:#57606a}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:14px}th{white-space:nowrap}th,td{border-bottom:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}
td.wrap{max-width:34em}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.up{color:#cf222e}.down{color:#1a7f37}.failed{color:#cf222e;font-weight:600}.skipped{color:#9a6700;font-weight:600}.ok{color:#1a7f37}
.sev-high,.sev-medium,.sev-low{white-space:nowrap}.sev-high{color:#cf222e;font-weight:600}.sev-medium{color:#9a6700}.sev-low{color:#57606a}
.bad{background:#ffebe9;border:1px solid #cf222e;border-radius:6px;padding:8px 14px}
.good{background:#dafbe1;border:1px solid #1a7f37;border-radius:6px;padding:8px 14px}
.neutral{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px 14px}
.muted{color:#57606a;font-size:13px}
</style></head><body>
<header><h1>syncaudit report · {{ m.period }}</h1>
<p>config {{ m.config }} · snapshot {{ m.snapshot_id or "none" }} · generated {{ m.generated_at }}{% if masked %} · personal data masked{% endif %}</p></header>
<main>
<section id="status">
{% if run.failed %}<p class="bad"><strong>{{ run.sentence }}</strong> The figures below are incomplete.</p>
{% else %}<p class="good">{{ run.sentence }}</p>{% endif %}
</section>

<section id="health"><h2>Health</h2><div class="cards">
<div class="card"><div class="v">{{ health_text }}</div><div class="l">health score (0–100)</div>
<div class="s">{{ health_note }}</div></div>
<div class="card"><div class="v">{{ total_text }}</div><div class="l">open findings</div>{% if changes %}<div class="s">{{ "{:,}".format(changes.new) }} new · {{ "{:,}".format(changes.resolved) }} resolved since the previous run</div>{% endif %}</div>
<div class="card"><div class="v">{{ quality_text }}</div><div class="l">quality rules passed</div><div class="s">{{ quality_note }}</div></div>
{% if planned %}<div class="card"><div class="v">{{ "{:,}".format(planned.writes) }}</div><div class="l">planned writes</div><div class="s">{{ "{:,}".format(planned.reviews) }} for review · {{ "{:,}".format(planned.irreversible) }} irreversible</div></div>{% endif %}
</div>
<p class="muted">The health score is the share of in-scope records with no open finding, a record with a medium finding counting half and a low one a quarter (see docs/reports.md).</p>
{% if trend %}{{ trend|safe }}{% endif %}
</section>

<section id="actions"><h2>Top actions</h2>
{% if actions %}<div class="scroll"><table><tr><th class="n">#</th><th>what to do</th><th>who fixes it</th><th>severity</th><th class="n">records</th><th>worklist</th></tr>
{% for a in actions %}<tr><td class="n">{{ loop.index }}</td><td class="wrap">{{ a.action }}</td><td class="wrap">{{ a.who }}</td><td class="sev-{{ a.severity }}">{{ a.severity }}</td><td class="n">{{ "{:,}".format(a.records) }}</td>
<td>{% if a.page_ok %}<a href="{{ a.page }}">{{ a.label }}</a>{% else %}{{ a.label }}{% endif %}{% if a.worklist_ok %} · <a href="{{ a.worklist }}">CSV</a>{% endif %}</td></tr>{% endfor %}
</table></div><p class="muted">Ranked by severity × records (high 1, medium ½, low ¼ per record).</p>
{% else %}<p class="neutral">{{ "No findings were measured: the run did not complete." if run.failed else "Nothing to do: no open finding." }}</p>{% endif %}
</section>

<section id="changes"><h2>Change since the previous run</h2>
{% if changes %}<div class="cards">
<div class="card"><div class="v up">{{ "{:,}".format(changes.new) }}</div><div class="l">new</div></div>
<div class="card"><div class="v down">{{ "{:,}".format(changes.resolved) }}</div><div class="l">resolved</div></div>
<div class="card"><div class="v">{{ "{:,}".format(changes.still_open) }}</div><div class="l">still open</div></div></div>
{% if change_rows %}<div class="scroll"><table><tr><th>kind</th><th class="n">new</th><th class="n">resolved</th><th class="n">still open</th></tr>
{% for r in change_rows %}<tr><td>{{ r.label }}</td><td class="n up">{{ "{:,}".format(r.new) }}</td><td class="n down">{{ "{:,}".format(r.resolved) }}</td><td class="n">{{ "{:,}".format(r.still_open) }}</td></tr>{% endfor %}</table></div>{% endif %}
<p class="muted">Compared with {{ previous_label }} by stable finding id.</p>
{% else %}<p class="neutral">No earlier run to compare with{% if not m.findings.total is none %} yet: the comparison starts with the next run{% endif %}.</p>{% endif %}
</section>

<section id="plan"><h2>Planned changes</h2>
{% if planned %}<p>The fix-up plan (hash {{ planned.hash }}) holds {{ "{:,}".format(planned.operations) }} operations: {{ "{:,}".format(planned.writes) }} writes and {{ "{:,}".format(planned.reviews) }} items for a person to review. Nothing is written until someone applies it.</p>
{% if planned.irreversible %}<p class="bad"><strong>{{ "{:,}".format(planned.irreversible) }} operations cannot be undone</strong> ({% for k, v in planned.irreversible_by_target.items() %}{{ "{:,}".format(v) }} {{ k }}{{ ", " if not loop.last }}{% endfor %}): an Intercom merge deletes the merged lead; rollback cannot restore it.</p>{% endif %}
{% else %}<p class="neutral">No plan was built in this run.</p>{% endif %}
</section>

<section id="gates"><h2>Gates</h2>
{% if gates.state == "failed" %}<div class="bad"><strong>{{ gates.failures|length }} gate{{ "s" if gates.failures|length != 1 }} failed</strong><ul>{% for f in gates.failures %}<li>{{ f }}</li>{% endfor %}</ul></div>
{% elif gates.state == "not_evaluated" %}<p class="bad">Gates not evaluated: the run did not complete.</p>
{% elif gates.state == "none" %}<p class="neutral">No gates are configured (set <code>gates:</code> in the config to make the monthly run alert).</p>
{% else %}<p class="good">{{ gates.configured|length }} gate{{ "s" if gates.configured|length != 1 }} checked, all passed: {{ gates.configured|join("; ") }}.</p>{% endif %}
</section>

<section id="permissions"><h2>Connector permission review</h2>
{% if permissions.available and permissions.rows %}<div class="scroll"><table><tr><th>check</th><th>system</th><th>status</th><th>detail</th></tr>
{% for r in permissions.rows %}<tr><td>{{ r.check }}</td><td>{{ r.system }}</td><td>{{ r.status }}</td><td class="wrap">{{ r.detail }}</td></tr>{% endfor %}</table></div>
{% else %}<p class="neutral">Connector permission review: {{ permissions.note }}.</p>{% endif %}
</section>

<section id="kinds"><h2>Findings by kind</h2>
{% if kinds_chart %}{{ kinds_chart|safe }}{% endif %}
<div class="scroll"><table><tr><th>kind</th><th class="n">this run</th>{% if previous %}<th class="n">{{ previous_label }}</th><th class="n">change</th>{% endif %}<th>page</th></tr>
{% for row in kinds %}<tr><td>{{ row.label }}</td><td class="n">{{ row.n_text }}</td>{% if previous %}<td class="n">{{ row.prev_text }}</td><td class="n {{ row.cls }}">{{ row.delta_text }}</td>{% endif %}<td>{% if row.page %}<a href="{{ row.page }}">{{ row.page_title }}</a>{% endif %}</td></tr>{% endfor %}
</table></div></section>

<section id="pages"><h2>Pages</h2><div class="scroll"><table><tr><th>page</th><th>status</th><th class="n">time</th><th>note</th></tr>
{% for r in runs %}<tr><td>{% if r.html %}<a href="{{ r.html }}">{{ r.title }}</a>{% else %}{{ r.title }}{% endif %}</td><td class="{{ r.status }}">{{ r.status }}</td><td class="n">{{ r.time }}</td><td class="wrap muted">{{ r.note }}</td></tr>{% endfor %}
</table></div></section>

<section id="files"><h2>Files for analysts</h2><ul>{% for name in files %}<li><a href="{{ name }}">{{ name }}</a></li>{% endfor %}</ul></section>
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


def kind_rows(
    metrics: Mapping[str, Any], prev: Mapping[str, Any] | None, out: Path | None = None
) -> list[dict[str, Any]]:
    """One row per finding kind (plain name) with the change against the previous run."""
    from syncaudit.report.names import KIND_PAGES

    measured = (metrics.get("findings") or {}).get("total") is not None
    now = (metrics.get("findings") or {}).get("by_kind") or {}
    before = ((prev or {}).get("findings") or {}).get("by_kind") or {}
    names = list(KINDS) + sorted(set(now) - set(KINDS))
    rows = []
    for kind in names:
        n = int(now.get(kind, 0))
        p = before.get(kind)
        page = f"{KIND_PAGES.get(kind, '90_monthly_summary')}.html"
        row: dict[str, Any] = {
            "kind": kind,
            "label": kind_label(kind),
            "n": n,
            "n_text": f"{n:,}" if measured else "not measured",
            "prev_text": _fmt(p),
            "delta_text": "",
            "cls": "",
            "page": page if out is None or (out / page).is_file() else None,
            "page_title": page_title(page.removesuffix(".html")),
        }
        if isinstance(p, int) and measured:
            d = n - p
            row["delta_text"] = f"{d:+,}"
            row["cls"] = "up" if d > 0 else ("down" if d < 0 else "")
        rows.append(row)
    return rows


def _label(m: Mapping[str, Any]) -> str:
    stamp = str(m.get("generated_at") or "")[:16].replace("T", " ")
    return f"{m.get('period')} ({stamp})" if stamp else str(m.get("period"))


def trend_figure(history: Sequence[Mapping[str, Any]], metrics: Mapping[str, Any]) -> Any | None:
    """Health score and quality pass rate (both 0–100) over the last runs (None without an earlier run)."""
    if not history:
        return None
    rows = []
    for m in [*history, metrics]:
        h = (m.get("health") or {}).get("score")
        q = (m.get("quality") or {}).get("pass_rate")
        if isinstance(h, int | float):
            rows.append({"run": _label(m), "measure": "health score", "value": float(h)})
        if isinstance(q, int | float):
            rows.append({"run": _label(m), "measure": "quality rules passed (%)", "value": round(100 * float(q), 1)})
    if len({r["run"] for r in rows}) < 2:
        return None
    fig = line_chart(pd.DataFrame(rows), "run", "value", color="measure", title="Health and quality over the last runs")
    fig.update_yaxes(range=[0, 100], title="0–100")
    return fig


def kinds_figure(rows: Sequence[Mapping[str, Any]]) -> Any | None:
    """Open findings per kind, sorted, plain names, counts labelled on the bars."""
    data = pd.DataFrame([{"kind": r["label"], "findings": r["n"]} for r in rows if r["n"]])
    if data.empty:
        return None
    fig = bar_chart(data.sort_values("findings"), "kind", "findings", title="Open findings by kind", horizontal=True)
    fig.update_traces(texttemplate="%{x:,}", textposition="outside", cliponaxis=False)
    fig.update_layout(height=max(240, 34 * len(data) + 90), showlegend=False, margin={"l": 300})
    fig.update_xaxes(title="findings")
    fig.update_yaxes(title="")
    return fig


def _figure(fig: Any, height: int | None = None) -> str | None:
    return figure_html(fig, include_plotlyjs=False) if fig is not None else None


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
    from syncaudit.report.status import run_status

    out = Path(out_dir)
    files = sorted(
        p.relative_to(out).as_posix()
        for p in [*out.glob("*.csv"), *out.glob("worklists/*.csv"), out / "quality" / "index.html"]
        if p.is_file()
    )
    previous = history[-1] if history else None
    kinds = kind_rows(metrics, previous, out)
    run = metrics.get("run") or run_status(runs)
    gates = dict(metrics.get("gates") or {})
    if "state" not in gates:  # metrics written by an older version
        gates = {"state": "failed" if gate_failures else "passed", "failures": list(gate_failures), "configured": []}
    elif gate_failures and not gates.get("failures"):
        gates.update(state="failed", failures=list(gate_failures))
    health = metrics.get("health") or {}
    quality = metrics.get("quality") or {}
    prev_q = ((previous or {}).get("quality") or {}).get("pass_rate")
    q = quality.get("pass_rate")
    actions = []
    for a in metrics.get("actions") or []:
        actions.append({**a, "page_ok": (out / a["page"]).is_file(), "worklist_ok": (out / a["worklist"]).is_file()})
    total = (metrics.get("findings") or {}).get("total")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    page = env.from_string(_TEMPLATE).render(
        m=metrics,
        masked=masked,
        run=run,
        health_text=_fmt(health.get("score")) if health.get("score") is not None else "—",
        health_note=_health_note(health, previous),
        total_text=_fmt(total) if total is not None else "not measured",
        quality_text=_fmt(q) if q is not None else "not measured",
        quality_note=(
            f"{quality.get('failed') or 0:,} of {quality.get('expectations') or 0:,} rules failed"
            + (f" · {_fmt(prev_q)} in the previous run" if isinstance(prev_q, int | float) else "")
            if q is not None
            else "the quality checks did not run"
        ),
        planned=metrics.get("planned"),
        changes=metrics.get("changes"),
        change_rows=[
            {"label": kind_label(k), **v}
            for k, v in sorted(
                ((metrics.get("changes") or {}).get("by_kind") or {}).items(), key=lambda kv: -kv[1]["new"]
            )
        ],
        actions=actions,
        gates=gates,
        permissions=metrics.get("permissions") or {"available": False, "rows": [], "note": "not available"},
        previous=previous,
        previous_label=_label(previous) if previous else None,
        kinds=kinds,
        kinds_chart=_figure(kinds_figure(kinds)),
        trend=_figure(trend_figure(history, metrics)),
        runs=[_page_row(r, out) for r in runs],
        files=files,
    )
    target = out / "index.html"
    with written_over(target) as tmp:
        tmp.write_text(inline_library(page), encoding="utf-8")
    return target


def _health_note(health: Mapping[str, Any], previous: Mapping[str, Any] | None) -> str:
    if health.get("score") is None:
        return "not measured in this run"
    note = f"{health.get('affected') or 0:,} of {health.get('in_scope') or 0:,} records affected"
    before = ((previous or {}).get("health") or {}).get("score")
    if isinstance(before, int | float):
        note += f" · {before:.0f} in the previous run"
    return note


def _page_row(run: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """A page of the run: its title linked to its HTML (relative, so the folder can be moved or mailed)."""
    p = run.get("html")
    html = Path(os.path.relpath(p, out)).as_posix() if p and Path(p).is_file() else None
    status = str(run.get("status"))
    note = ""
    if status == "failed":
        from syncaudit.report.sanitize import error_sentence

        raw = str(run.get("error") or "")
        ename, _, evalue = raw.partition(": ")
        note = error_sentence(ename, evalue) if raw else ""
    elif status == "skipped":
        note = f"skipped: {run.get('error') or ''}"
    return {
        "html": html,
        "title": page_title(str(run["name"])),
        "status": status,
        "time": human_duration(run.get("duration_s")) if status != "skipped" else "—",
        "note": note,
    }
