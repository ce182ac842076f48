"""The stakeholder folder published from a run's work folder: masked by file type, plotly.js once per page.

Small files written here stand in for what the notebooks leave in a work folder; the full chain on the
sandbox is checked file by file in test_notebooks_sandbox.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from syncaudit.config import load_config
from syncaudit.report import plotlyjs
from syncaudit.report.charts import bar_chart, line_chart, pie_chart
from syncaudit.report.display import figure_html
from syncaudit.report.masking import mask_finding, personal_fields
from syncaudit.report.publish import publish_folder
from test_report_html import _executed_notebook

ROOT = Path(__file__).resolve().parents[1]
PERSONAL = personal_fields(load_config(ROOT / "config" / "demo.yaml").mapping.fields)
RAW = ["rodrigo.barbosa@horizondata.fi", "Rodrigo Barbosa", "+5511961001773", "Nicola Anichini", "bob.smith@corp.io"]
DUPLICATE = {
    "id": "d8e6a2ef7c27d1ed",
    "kind": "duplicate",
    "system": "intercom",
    "object": "contact",
    "records": ["6a22863f1bb69f9f2100004a", "6a85cf191bb69f9f21000073"],
    "field": None,
    "severity": "medium",
    "detail": "2 intercom contact records are the same person: Rodrigo Barbosa",
    "suggested_fix": "merge into 6a22863f1bb69f9f2100004a",
    "values": {"salesforce": None, "intercom": None},
    "extra": {
        "merge": {
            "email": {"value": "rodrigo.barbosa@horizondata.fi", "from": "6a22863f1bb69f9f2100004a"},
            "full_name": {"value": "Rodrigo Barbosa", "from": "6a22863f1bb69f9f2100004a"},
            "phone": {"value": "+5511961001773", "from": "6a85cf191bb69f9f21000073"},
            "company_name": {"value": "Horizon Data Oy", "from": "6a22863f1bb69f9f2100004a"},
            "plan_type": {"value": "Free", "from": "6a22863f1bb69f9f2100004a"},
        }
    },
}
DRIFT = {
    "id": "413b192a3bc25065",
    "kind": "field_drift",
    "system": "both",
    "object": "Contact",
    "records": ["003Dn00002fAaw0IAC", "659768d51bb69f9f21000021"],
    "field": "full_name",
    "severity": "high",
    "detail": "disagree on full_name: Salesforce 'Nicola Anichini' vs Intercom 'Nicola Papetti'",
    "suggested_fix": "copy the owner's value back",
    "values": {"salesforce": "Nicola Anichini", "intercom": "Nicola Papetti"},
    "extra": {"newer": "intercom", "owner": "salesforce", "normalized": {"salesforce": "nicola anichini", "intercom": "nicola papetti"}},
}  # fmt: skip


def test_mask_finding_masks_values_merge_proposals_and_texts_but_keeps_ids() -> None:
    dup = mask_finding(DUPLICATE, PERSONAL)
    text = json.dumps(dup, ensure_ascii=False)
    for raw in ("rodrigo.barbosa@", "Rodrigo Barbosa", "5511961001773"):
        assert raw not in text, raw
    merge = dup["extra"]["merge"]
    assert merge["email"] == {"value": "r***@horizondata.fi", "from": "6a22863f1bb69f9f2100004a"}
    assert merge["full_name"]["value"] == "R*** B***" and merge["phone"]["value"] == "***73"
    assert merge["company_name"]["value"] == "Horizon Data Oy"  # a company is business data
    assert merge["plan_type"]["value"] == "Free"
    assert dup["records"] == DUPLICATE["records"] and dup["id"] == DUPLICATE["id"]
    drift = mask_finding(DRIFT, PERSONAL)
    text = json.dumps(drift, ensure_ascii=False).lower()
    assert "anichini" not in text and "papetti" not in text
    assert drift["values"] == {"salesforce": "N*** A***", "intercom": "N*** P***"}
    assert drift["extra"]["newer"] == "intercom" and drift["extra"]["owner"] == "salesforce"
    # extra as the Parquet copy stores it: a JSON string
    as_string = mask_finding({**DRIFT, "extra": json.dumps(DRIFT["extra"])}, PERSONAL)
    assert "anichini" not in as_string["extra"] and json.loads(as_string["extra"])["newer"] == "intercom"


def _work_folder(d: Path) -> Path:
    work = d / "work"
    (work / "executed").mkdir(parents=True)
    (work / "audit").mkdir()
    _executed_notebook(work / "executed" / "40_duplicates.ipynb", mask=True)
    nb = nbformat.read(str(work / "executed" / "40_duplicates.ipynb"), as_version=4)
    nb.cells[2].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="Rodrigo at +55 11 96100-1773\n"))
    nbformat.write(nb, str(work / "executed" / "40_duplicates.ipynb"))
    lines = [DUPLICATE, DRIFT, {"note": "ask bob.smith@corp.io"}]
    (work / "findings.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    rows = [{**f, "extra": json.dumps(f["extra"])} for f in (DUPLICATE, DRIFT)]
    pq.write_table(pa.Table.from_pylist(rows), work / "audit" / "findings.parquet")
    pd.DataFrame({"Id": ["0031"], "Name": ["Rodrigo Barbosa"], "Email": ["rodrigo.barbosa@horizondata.fi"], "detail": ["=1+1"]}).to_csv(
        work / "duplicates_worklist.csv", index=False
    )  # fmt: skip
    (work / "manifest.json").write_text(json.dumps({"id": "S1", "owner": "bob.smith@corp.io"}), encoding="utf-8")
    (work / "scratch.bin").write_bytes(b"Rodrigo Barbosa")
    (work / ".findings.jsonl.tmp").write_text("Rodrigo Barbosa")
    return work


def _all_text(folder: Path) -> dict[str, str]:
    texts = {}
    for f in folder.rglob("*"):
        if f.is_file():
            if f.suffix == ".parquet":
                texts[f.name] = json.dumps(pq.read_table(f).to_pylist(), ensure_ascii=False)
            else:
                texts[f.name] = f.read_text(encoding="utf-8", errors="replace")
    return texts


def test_published_folder_is_masked_file_by_file(tmp_path) -> None:
    work = _work_folder(tmp_path)
    out = tmp_path / "report"
    published = publish_folder(work, out, mask=True, personal=PERSONAL)
    assert published.withheld == ["scratch.bin"]  # cannot be checked, so not copied
    assert sorted(published.files) == [
        "audit/findings.parquet", "duplicates_worklist.csv", "executed/40_duplicates.ipynb", "findings.jsonl", "manifest.json"
    ]  # fmt: skip
    texts = _all_text(out)
    for name, text in texts.items():
        leaked = [raw for raw in RAW if raw in text or json.dumps(raw)[1:-1] in text]
        assert not leaked, f"{name}: {leaked}"
    findings = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    assert [f["records"] for f in findings[:2]] == [DUPLICATE["records"], DRIFT["records"]]
    parquet = pq.read_table(out / "audit" / "findings.parquet")
    assert parquet.schema == pq.read_table(work / "audit" / "findings.parquet").schema
    assert parquet.column("values").to_pylist()[1] == {"salesforce": "N*** A***", "intercom": "N*** P***"}
    worklist = (out / "duplicates_worklist.csv").read_text(encoding="utf-8-sig")
    assert "R*** B***" in worklist and "'=1+1" in worklist  # masked and still spreadsheet-safe
    nb = nbformat.read(str(out / "executed" / "40_duplicates.ipynb"), as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert any(o.output_type == "error" and "b***@corp.io" in o.evalue for o in outputs)  # the error is still shown
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "Plotly.newPlot" in html and "plotly.js v" not in html  # the figure stays, the 4.8 MB library goes
    assert (out / "executed" / "40_duplicates.ipynb").stat().st_size < 200_000
    # the work folder keeps the raw outputs for analysts
    assert "bob.smith@corp.io" in (work / "executed" / "40_duplicates.ipynb").read_text()


def test_a_file_that_cannot_be_read_is_withheld_not_copied(tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "findings.jsonl").write_text('{"kind": "orphan", "records": ["1"]}\n{"detail": "bob.smith@corp.io", \n')
    (work / "metrics.json").write_text("{not json: bob.smith@corp.io")
    published = publish_folder(work, tmp_path / "out", mask=True, personal=PERSONAL)
    assert published.withheld == ["findings.jsonl", "metrics.json"] and published.files == []
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_unmasked_when_the_config_turns_masking_off(tmp_path) -> None:
    work = _work_folder(tmp_path)
    out = tmp_path / "report"
    published = publish_folder(work, out, mask=False, personal=PERSONAL)
    assert published.withheld == [] and (out / "scratch.bin").read_bytes() == b"Rodrigo Barbosa"
    assert "Rodrigo Barbosa" in (out / "findings.jsonl").read_text()
    nb_text = (out / "executed" / "40_duplicates.ipynb").read_text()
    assert "bob.smith@corp.io" in nb_text and "plotly.js v" not in nb_text


# ---------------------------------------------------------------- plotly.js once per page


def _page(*figures: object) -> str:
    parts = [figure_html(f, include_plotlyjs=i == 0) for i, f in enumerate(figures)]
    return "<html><head><title>t</title></head><body>" + "".join(parts) + "</body></html>"


COUNTS = pd.DataFrame({"kind": ["duplicate", "orphan"], "n": [3, 5]})


def test_the_fetched_basic_bundle_is_the_plotly_js_version_plotly_writes_for() -> None:
    from plotly.offline import get_plotlyjs_version

    assert plotlyjs.BASIC_BUNDLE.is_file(), "run `make setup`: it fetches the pinned bundle (report/assets.py)"
    head = plotlyjs.BASIC_BUNDLE.read_text(encoding="utf-8")[:200]
    assert f"v{get_plotlyjs_version()}" in head, "pin the plotly.js-basic-dist-min matching plotly in report/assets.py"


def test_pages_of_bar_line_and_pie_charts_get_the_basic_bundle_once() -> None:
    page = plotlyjs.inline_library(
        _page(bar_chart(COUNTS, "kind", "n"), line_chart(COUNTS, "kind", "n"), pie_chart(COUNTS, "kind", "n"))
    )
    assert plotlyjs.trace_types(page) == {"bar", "scatter", "pie"}
    assert page.count("/**\n* plotly.js") == 1 and "plotly.js (basic - minified)" in page
    assert page.index('data-plotlyjs="basic"') < page.index("</head>") < page.index("Plotly.newPlot")
    assert page.count("Plotly.newPlot") == 3
    assert len(page) < 1_400_000


def test_other_trace_types_or_unreadable_figures_get_the_full_bundle() -> None:
    import plotly.graph_objects as go

    heat = go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))
    page = plotlyjs.inline_library(_page(bar_chart(COUNTS, "kind", "n"), heat))
    assert 'data-plotlyjs="full"' in page and page.count("/**\n* plotly.js v") == 1
    broken = "<html><head></head><body><script>Plotly.newPlot('x', oops)</script></body></html>"
    assert plotlyjs.trace_types(broken) is None
    assert 'data-plotlyjs="full"' in plotlyjs.inline_library(broken)


def test_pages_without_charts_carry_no_library() -> None:
    page = "<html><head></head><body><p>no chart</p></body></html>"
    assert plotlyjs.inline_library(page) == page
    with_lib = _page(bar_chart(COUNTS, "kind", "n")).replace("Plotly.newPlot", "Plotly.removed")
    assert "plotly.js v" not in plotlyjs.inline_library(with_lib)


@pytest.mark.parametrize("version", ["0.0.1"])
def test_a_bundle_of_another_version_is_not_used(monkeypatch, version) -> None:
    monkeypatch.setattr("plotly.offline.get_plotlyjs_version", lambda: version)
    plotlyjs._basic_bundle.cache_clear()
    try:
        assert 'data-plotlyjs="full"' in plotlyjs.inline_library(_page(bar_chart(COUNTS, "kind", "n")))
    finally:
        plotlyjs._basic_bundle.cache_clear()
