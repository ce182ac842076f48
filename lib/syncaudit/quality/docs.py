"""Offline Data Docs: one self-contained HTML page rendered from the run's results.

GX's own Data Docs load Bootstrap, fonts and scripts from CDNs, so they break
in an offline report folder; this page has its styles inline, no script and
no external reference, and jinja2's autoescape escapes every value taken from
the data or the suite files.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, select_autoescape

from syncaudit.quality.run import QualityRun

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Data quality — snapshot {{ run.snapshot_id }}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f6f8fa}code{font-size:12px;word-break:break-all}
.ok{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.err{color:#9a6700;font-weight:600}
.gate{background:#ffebe9;color:#cf222e;border-radius:3px;padding:0 4px;font-size:12px}
.gen{color:#57606a;font-size:12px}.summary td{border:none;padding:2px 12px 2px 0}
</style></head><body>
<h1>Data quality — snapshot {{ run.snapshot_id }}</h1>
<table class="summary">
<tr><td>Expectations</td><td>{{ m.overall.expectations }}</td><td>passed</td><td class="ok">{{ m.overall.passed }}</td>
<td>failed</td><td class="fail">{{ m.overall.failed }}</td><td>not evaluated</td>
<td class="err">{{ m.overall.errors }}</td><td>pass rate</td><td>{{ pct(m.overall.pass_rate) }}</td></tr>
<tr><td>Timestamps checked against</td><td colspan="9">{{ run.now }}</td></tr>
</table>
{% if m.gate_failures %}<h2>Gates failed</h2><ul>{% for g in m.gate_failures %}<li class="fail">{{ g }}</li>{% endfor %}
</ul>{% endif %}
{% if m.problems %}<h2>Problems in suites</h2><ul>{% for p in m.problems %}<li class="err">{{ p }}</li>{% endfor %}
</ul>{% endif %}
<h2>Suites</h2>
<table><tr><th>Suite</th><th>Dataset</th><th>Rows</th><th>Passed</th><th>Failed</th><th>Errors</th>
<th>Expectations passed</th><th>Records passing (mean)</th><th>Seconds</th></tr>
{% for s in run.suites %}{% set sm = m.suites[s.name] %}<tr><td><a href="#s-{{ loop.index }}">{{ s.name }}</a></td>
<td>{{ s.dataset }}</td><td>{{ "{:,}".format(s.rows) }}</td><td>{{ sm.passed }}</td><td>{{ sm.failed }}</td>
<td>{{ sm.errors }}</td><td>{{ pct(sm.pass_rate) }}</td><td>{{ pct(sm.record_pass_rate) }}</td>
<td>{{ s.seconds }}</td></tr>{% endfor %}
</table>
{% for s in run.suites %}
<h2 id="s-{{ loop.index }}">{{ s.name }} <span class="gen">{{ s.file }} · {{ s.dataset }}</span></h2>
<table><tr><th>Status</th><th>Expectation</th><th>Arguments</th><th>Failing records</th><th>Record pass rate</th>
<th>Sample record ids</th></tr>
{% for o in s.outcomes %}<tr>
<td>{% if o.success is none %}<span class="err">error</span>{% elif o.success %}<span class="ok">pass</span>
{% else %}<span class="fail">fail</span>{% endif %}</td>
<td><code>{{ o.label }}</code>{% if o.critical %} <span class="gate">gate</span>{% endif %}
{% if o.generated %} <span class="gen">generated</span>{% endif %}</td>
<td><code>{{ args(o.kwargs) }}</code>{% if o.error %}<div class="err">{{ o.error }}</div>{% endif %}</td>
<td>{% if o.unexpected_count is not none %}{{ "{:,}".format(o.unexpected_count) }} of
{{ "{:,}".format(o.element_count or 0) }}{% elif o.observed_value is not none %}observed {{ o.observed_value }}
{% endif %}</td>
<td>{{ pct(o.pass_rate) }}</td>
<td><code>{{ ids(o.sample_ids) }}</code></td></tr>{% endfor %}
</table>{% endfor %}
<p class="gen">Rendered by syncaudit from Great Expectations results; self-contained, works offline.</p>
</body></html>
"""


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.2%}"


def _args(kwargs: dict[str, Any]) -> str:
    text = json.dumps(kwargs, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 600 else text[:600] + "…"


def _ids(rows: list[dict[str, Any]]) -> str:
    return ", ".join("/".join(str(v) for v in r.values() if v is not None) for r in rows[:20])


def render_data_docs(run: QualityRun, metrics: dict[str, Any], *, mask: bool = True) -> str:
    """The Data Docs page as a string. Only record ids are shown, never data values (``mask`` kept for callers)."""
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    tmpl = env.from_string(_TEMPLATE)
    return tmpl.render(run=run, m=metrics, pct=_pct, args=_args, ids=_ids, mask=mask)
