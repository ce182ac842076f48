"""Stakeholder HTML: no code, self-contained and offline, charts in, CRM strings escaped, personal data masked.

These tests build executed notebooks from the display helpers' real output (no kernel needed); the
papermill path is covered by test_report_batch.py and test_notebooks_sandbox.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from syncaudit.config import Gates
from syncaudit.errors import ConfigError
from syncaudit.report import charts
from syncaudit.report.display import figure_html, table_html
from syncaudit.report.export import export_html, external_references, sweep_personal_data
from syncaudit.report.findings import count_findings, sample_findings, write_findings
from syncaudit.report.index import write_index
from syncaudit.report.metrics import build_metrics, check_period, evaluate_gates, load_history, write_json

HOSTILE = "<script>alert(1)</script>"
HOSTILE_NAMES = [HOSTILE, '"><img src=x onerror=alert(2)>', "Zoë Ågren-Łukasz 🙂", '=HYPERLINK("http://evil")']
SECRET = "dG9rOsecretsecretsecretsecret"


def _contacts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Id": ["0031", "0032", "0033", "0034"],
            "Name": HOSTILE_NAMES,
            "Email": ["jane.doe@example.com", "bob.smith@corp.io", "zoe@example.org", "x@y.org"],
            "Phone": ["+1 415 555 0132", "+44 20 7946 0958", None, "(415) 555-0199"],
        }
    )


def _executed_notebook(path: Path, *, mask: bool) -> Path:
    """An executed notebook as papermill leaves it: parameters, code cells with outputs, an error."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(f'config_path: str = "config/demo.yaml"  # the config\ntoken = "{SECRET}"')
    params.metadata["tags"] = ["parameters"]
    table = nbformat.v4.new_code_cell("ctx.table(contacts)  # CODE-MARKER-1")
    table.outputs = [nbformat.v4.new_output("display_data", data={"text/html": table_html(_contacts(), mask=mask)})]
    counts = pd.DataFrame({"kind": [HOSTILE, "orphan"], "n": [3, 5]})
    chart = nbformat.v4.new_code_cell("ctx.figure(fig)  # CODE-MARKER-2")
    fig = charts.bar_chart(counts, "kind", "n", title=f"Findings {HOSTILE}")
    chart.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": figure_html(fig, include_plotlyjs=True)})
    ]
    err = nbformat.v4.new_code_cell("raise ValueError(name)  # CODE-MARKER-3")
    err.outputs = [
        nbformat.v4.new_output(
            "error",
            ename="ValueError",
            evalue="bad row for bob.smith@corp.io",
            traceback=["ValueError: bad row for bob.smith@corp.io"],
        )
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Duplicates\n\nWhat you see."), params, table, chart, err]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def masked_page(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("masked")
    out = export_html(_executed_notebook(d / "nb.ipynb", mask=True), d / "nb.html", mask=True)
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def unmasked_page(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("unmasked")
    out = export_html(_executed_notebook(d / "nb.ipynb", mask=False), d / "nb.html", mask=False)
    return out.read_text(encoding="utf-8")


def test_html_has_no_code_cells_and_no_parameters(masked_page: str) -> None:
    assert "CODE-MARKER" not in masked_page
    assert "config_path" not in masked_page
    assert SECRET not in masked_page
    body = re.sub(r"<style.*?</style>", "", masked_page, flags=re.S)
    assert "hl-ipython3" not in body and "jp-CodeMirrorEditor" not in body
    assert "What you see." in masked_page


def test_html_is_self_contained_and_offline(masked_page: str) -> None:
    assert external_references(masked_page) == []
    # (plotly.js itself mentions cdn.plot.ly for map topologies, which bar and line charts never load)
    assert "cdnjs.cloudflare.com" not in masked_page
    assert "require.js" not in masked_page and "MathJax.js" not in masked_page


def test_external_reference_detector_catches_cdn_scripts() -> None:
    page = '<html><script src="https://cdn.plot.ly/plotly.min.js"></script><link rel="stylesheet" href="//x.org/a.css"></html>'
    assert len(external_references(page)) == 2
    assert external_references('<a href="https://example.com">ok, a link is not fetched</a>') == []


def test_html_carries_the_chart(masked_page: str) -> None:
    assert "Plotly.newPlot" in masked_page
    assert len(masked_page) > 1_000_000  # plotly.js is inlined, not fetched


def test_crm_strings_are_escaped(unmasked_page: str) -> None:
    # Unmasked, so the hostile values reach the page: as text, never as markup.
    assert HOSTILE not in unmasked_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in unmasked_page
    assert "<img src=x onerror" not in unmasked_page
    assert "Zoë Ågren-Łukasz 🙂" in unmasked_page
    # In the chart payload, '<' is escaped as \u003c and the label is HTML-escaped for plotly's text renderer.
    assert "\\u003cscript\\u003e" not in unmasked_page or "&amp;lt;" not in unmasked_page
    assert re.search(r"&lt;script&gt;|\\u0026lt;script", unmasked_page)


def test_personal_data_is_masked(masked_page: str, unmasked_page: str) -> None:
    raw = ["jane.doe@example.com", "bob.smith@corp.io", "555 0132", "7946 0958", "555-0199", "Ågren-Łukasz"]
    for value in raw:
        assert value not in masked_page, value
    assert "j***@example.com" in masked_page
    # Masking can be turned off in the config: then the analyst sees the data.
    assert "jane.doe@example.com" in unmasked_page


def test_sweep_masks_text_but_not_the_library() -> None:
    lib = "<script>" + "var a='x@y.io';" + "0" * 250_000 + "</script>"
    page = f"<p>call +1 415 555 0132, mail a.b@c.io</p>{lib}<script>var d='e.f@g.io'</script>"
    out = sweep_personal_data(page)
    assert "555 0132" not in out and "a.b@c.io" not in out and "e.f@g.io" not in out
    assert lib in out  # large library scripts are left byte-for-byte intact


# ------------------------------------------------------------------ findings, metrics, gates, index

FINDINGS = [
    {
        "id": "a1",
        "kind": "duplicate",
        "system": "salesforce",
        "object": "Contact",
        "records": ["0031", "0032"],
        "severity": "high",
        "detail": HOSTILE,
        "suggested_fix": {"action": "review"},
        "confidence": 0.9,
    },
    {
        "id": "a2",
        "kind": "field_drift",
        "system": "both",
        "object": "Contact",
        "records": ["0031", "6501"],
        "field": "seats",
        "severity": "low",
        "detail": "d",
        "values": {"salesforce": 3, "intercom": "4"},
    },
    {
        "id": "a3",
        "kind": "field_drift",
        "system": "both",
        "object": "Contact",
        "records": ["0033", "6503"],
        "field": "email",
        "severity": "critical",
        "detail": "d",
        "values": {"salesforce": "a@b.io", "intercom": None},
    },
    {
        "id": "a4",
        "kind": "orphan",
        "system": "intercom",
        "object": "contact",
        "records": ["6504"],
        "severity": "low",
        "detail": "Zoë 🙂",
        "unknown_key": [1, 2],
    },
]


def test_findings_counts_and_samples(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"
    assert write_findings(FINDINGS, path) == 4
    counts = count_findings(path, by=("kind",))
    assert dict(zip(counts["kind"], counts["n"], strict=True)) == {"field_drift": 2, "duplicate": 1, "orphan": 1}
    drift = count_findings(path, by=("field",), kinds=("field_drift",))
    assert sorted(drift["field"]) == ["email", "seats"]
    sample = sample_findings(path, kinds=("field_drift",), limit=1)
    assert sample["id"].tolist() == ["a3"]  # worst severity first
    assert sample["values"][0] == {"salesforce": "a@b.io", "intercom": None}
    assert sample["records"][0] == ["0033", "6503"]


def test_findings_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="findings file not found"):
        count_findings(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        count_findings(bad)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert count_findings(empty).empty


def _metrics(tmp_path: Path, period: str, findings: list[dict]) -> dict:
    path = tmp_path / f"f-{period}.jsonl"
    write_findings(findings, path)
    runs = [
        {"name": "10_schema_mapping", "status": "ok", "duration_s": 1.5, "error": None},
        {"name": "40_duplicates", "status": "failed", "duration_s": 2.0, "error": f"ValueError: {HOSTILE}"},
    ]
    return build_metrics(
        period=period,
        config_name="demo",
        config_hash="h",
        snapshot_id="S1",
        findings_path=path,
        quality={
            "pass_rate": 0.8,
            "critical_failures": ["critical expectation #1 of suite sf_Contact failed (2 records)"],
        },
        manifest={"api_calls": {"salesforce": 12, "intercom": 30}},
        runs=runs,
    )


def test_metrics_and_gates(tmp_path: Path) -> None:
    m = _metrics(tmp_path, "2026-11", FINDINGS)
    assert m["findings"]["total"] == 4
    assert m["findings"]["by_kind"]["field_drift"] == 2
    assert m["findings"]["by_kind_system"]["duplicate/salesforce"] == 1
    assert m["api_calls"] == {"salesforce": 12, "intercom": 30}
    assert m["notebooks"]["40_duplicates"]["status"] == "failed"
    assert evaluate_gates(Gates(fail_on_critical_expectations=False), m) == []
    failures = evaluate_gates(Gates(max_findings={"field_drift": 1, "orphan": 5}, min_quality_pass_rate=0.9), m)
    assert len(failures) == 3
    assert "2 field_drift findings exceed the gate of 1" in failures[0]
    assert "80.0% is below the gate of 90.0%" in failures[1]
    assert "critical expectation #1" in failures[2]


def test_period_is_checked() -> None:
    assert re.match(r"^\d{4}-\d{2}$", check_period(None))
    assert check_period("2026-02") == "2026-02"
    for bad in ("2026-13", "26-01", "2026/01", "../x"):
        with pytest.raises(ConfigError, match="YYYY-MM"):
            check_period(bad)


def test_history_reads_earlier_periods_only(tmp_path: Path) -> None:
    for period, total in (("2026-09", 1), ("2026-10", 2), ("2026-11", 3), ("2026-12", 4)):
        (tmp_path / period).mkdir()
        write_json({"period": period, "findings": {"total": total}}, tmp_path / period / "metrics.json")
    (tmp_path / "2026-08").mkdir()
    (tmp_path / "2026-08" / "metrics.json").write_text("{broken")
    (tmp_path / "notes").mkdir()
    hist = load_history(tmp_path, before="2026-11")
    assert [h["period"] for h in hist] == ["2026-09", "2026-10"]


def test_index_page(tmp_path: Path) -> None:
    prev = _metrics(tmp_path, "2026-10", FINDINGS[:1])
    now = _metrics(tmp_path, "2026-11", FINDINGS)
    out = tmp_path / "report"
    out.mkdir()
    (out / "executed").mkdir()
    (out / "executed" / "40_duplicates.ipynb").write_text("{}")
    (out / "40_duplicates.html").write_text("<html></html>")
    (out / "findings.jsonl").write_text("")
    runs = [
        {"name": "10_schema_mapping", "status": "ok", "duration_s": 1.5, "error": None, "html": None, "output": None},
        {
            "name": "40_duplicates",
            "status": "failed",
            "duration_s": 2.0,
            "error": f"ValueError: {HOSTILE}",
            "html": str(out / "40_duplicates.html"),
            "output": str(out / "executed" / "40_duplicates.ipynb"),
        },
    ]
    page = write_index(out, now, runs, [prev], ["2 field_drift findings exceed the gate of 1"], masked=True).read_text()
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'class="failed"' in page and "The run FAILED at step 40_duplicates (Duplicates): ValueError:" in page
    assert 'href="40_duplicates.html"' in page
    assert ".ipynb" not in page and 'href="findings.jsonl"' not in page  # no links to raw files
    assert "1 gate failed" in page and "exceed the gate" in page
    assert "Plotly.newPlot" in page  # the findings-by-kind chart
    assert re.search(r"Values that disagree</td><td class=\"n\">2</td><td class=\"n\">—</td>", page)
    assert re.search(r"Duplicate records</td><td class=\"n\">1</td><td class=\"n\">1</td><td class=\"n \">\+0", page)
    assert external_references(page) == []
    assert json.loads((tmp_path / "report" / "findings.jsonl").read_text() or "{}") == {}
