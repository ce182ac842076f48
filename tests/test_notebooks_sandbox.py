"""Every notebook, run by papermill in the batch chain against the HTTPS sandbox (in-process, port 0).

One chain run (module fixture) on a small generated org pair with a hostile contact planted in it;
the tests then read the report folder: executed notebooks, HTML pages without code, charts,
no network references, and no personal value of the snapshot left unmasked in any page.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from syncaudit.config import load_config
from syncaudit.report.batch import run_batch
from syncaudit.report.export import external_references

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "<script>alert(1)</script>"
# The library part each notebook needs; a notebook whose part is not built must fail loudly.
NEEDS = {"60_fixup_plan": "syncaudit.changes.plan", "80_rollback": "syncaudit.changes.journal"}
WITH_CHARTS = ("00_pull", "20_identity_links", "30_field_drift", "35_rules", "40_duplicates", "90_monthly_summary")


def _hostile_load_dir(tmp: Path) -> Path:
    from crmsandbox.testing import generated_load_dir

    load = tmp / "load"
    shutil.copytree(generated_load_dir(120, 5), load)
    contacts = load / "salesforce" / "Contact.csv"
    rows = list(csv.DictReader(contacts.open(encoding="utf-8", newline="")))
    rows[0]["LastName"] = HOSTILE
    with contacts.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), quoting=csv.QUOTE_NONNUMERIC)
        w.writeheader()
        w.writerows(rows)
    ic = load / "intercom" / "contacts.jsonl"
    lines = ic.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["name"] = f"Eve {HOSTILE}"
    lines[0] = json.dumps(first)
    ic.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from crmsandbox.testing import running_sandbox

    tmp = tmp_path_factory.mktemp("nb-sandbox")
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    raw["report"]["out_dir"] = str(tmp / "reports")
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(raw))
    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT)  # notebooks and expectations/ of this checkout
    try:
        with running_sandbox(load_dir=_hostile_load_dir(tmp), state_dir=tmp / "sandbox"):
            mp.setenv("SYNCAUDIT_SANDBOX_DIR", str(tmp / "sandbox"))
            result = run_batch(load_config(tmp / "cfg.yaml"), period="2026-11", progress=lambda _line: None)
    finally:
        mp.undo()
    return result


def _text(page: str) -> str:
    """The page without plotly.js and styles (what a reader can see, plus figure data)."""
    parts = re.split(r"(<script\b.*?</script>|<style\b.*?</style>)", page, flags=re.S | re.I)
    return "".join(p for p in parts if not (p.startswith("<style") or (p.startswith("<script") and len(p) > 200_000)))


def test_every_notebook_ran_or_failed_loudly(report) -> None:
    statuses = {r.name: (r.status, r.error) for r in report.runs}
    assert len(statuses) == 11
    for name, (status, error) in statuses.items():
        missing = name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None
        if missing:
            assert status == "failed" and "NotBuiltError" in (error or ""), (name, error)
        else:
            assert status == "ok", (name, error)
        assert (report.out_dir / "executed" / f"{name}.ipynb").is_file()
        assert (report.out_dir / f"{name}.html").is_file()


def test_report_folder_contents(report) -> None:
    out = report.out_dir
    for name in ("index.html", "metrics.json", "findings.jsonl", "manifest.json", "quality/index.html"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["findings"]["total"] > 0
    assert metrics["snapshot_id"] == json.loads((out / "snapshot.json").read_text())["snapshot_id"]
    assert metrics["api_calls"]["salesforce"] > 0 and metrics["api_calls"]["intercom"] > 0
    assert metrics["quality"]["pass_rate"] is not None
    index = (out / "index.html").read_text()
    for r in report.runs:
        assert f'href="{r.name}.html"' in index


def test_pages_have_no_code_have_charts_and_stay_offline(report) -> None:
    for r in report.runs:
        page = (report.out_dir / f"{r.name}.html").read_text(encoding="utf-8")
        body = _text(page)
        assert "open_context" not in body and "hl-ipython3" not in body, r.name
        assert external_references(page) == [], r.name
        if r.name in WITH_CHARTS:
            assert "Plotly.newPlot" in page, r.name


def _personal_values(report) -> set[str]:
    """Every email, phone and person's name of the snapshot (6 characters or more)."""
    snap = Path(json.loads((report.out_dir / "snapshot.json").read_text())["path"])
    con = duckdb.connect()
    values: set[str] = set()
    for sql in (
        f"select Email, Phone, FirstName || ' ' || LastName from '{snap}/salesforce/Contact.parquet'",
        f"select Email, Phone, FirstName || ' ' || LastName from '{snap}/salesforce/Lead.parquet'",
        f"select email, phone, name from '{snap}/intercom/contacts.parquet'",
    ):
        for row in con.execute(sql).fetchall():
            values.update(v for v in row if isinstance(v, str) and len(v) >= 6)
    assert len(values) > 100
    return values


def test_no_personal_data_in_any_file_of_the_report_folder(report) -> None:
    """HTML, CSV, JSON, JSON lines, Parquet, executed notebooks: no email, phone or name of the snapshot."""
    values = _personal_values(report)
    # As written raw, JSON-escaped (ASCII or not) and HTML-escaped.
    forms = {v: {v, json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1], html.escape(v)} for v in values}
    files = [f for f in report.out_dir.rglob("*") if f.is_file()]
    kinds = {f.suffix for f in files}
    assert {".html", ".ipynb", ".json", ".jsonl", ".csv", ".parquet"} <= kinds, kinds
    con = duckdb.connect()
    for f in files:
        if f.suffix == ".parquet":
            text = json.dumps(con.execute(f"select * from '{f}'").fetchall(), ensure_ascii=False, default=str)
        else:
            text = f.read_text(encoding="utf-8", errors="replace")
        leaked = [v for v, variants in forms.items() if any(x in text for x in variants)]
        assert not leaked, f"{f.relative_to(report.out_dir)}: unmasked personal data {leaked[:5]}"
    # The analysts' copy keeps them: the raw findings of the run's work folder do name people.
    raw = (report.work_dir / "findings.jsonl").read_text(encoding="utf-8")
    assert any(v in raw or json.dumps(v)[1:-1] in raw for v in values)


def test_no_personal_data_and_no_live_markup_in_any_page(report) -> None:
    values = _personal_values(report)
    pages = {r.name: _text((report.out_dir / f"{r.name}.html").read_text(encoding="utf-8")) for r in report.runs}
    pages["index"] = (report.out_dir / "index.html").read_text(encoding="utf-8")
    for name, page in pages.items():
        leaked = [v for v in values if v in page]
        assert not leaked, f"{name}: unmasked personal data {leaked[:5]}"
        assert HOSTILE not in page, name


def test_a_notebook_runs_by_hand_with_its_defaults(report) -> None:
    """Opened in JupyterLab with only the config chosen: the latest snapshot, a work folder of its own."""
    from syncaudit.report.runner import run_notebook

    tmp = report.out_dir.parents[1]
    sid = json.loads((report.out_dir / "snapshot.json").read_text())["snapshot_id"]
    mp = pytest.MonkeyPatch()
    mp.chdir(ROOT / "notebooks")  # where JupyterLab starts the kernel
    try:
        run = run_notebook(
            ROOT / "notebooks" / "30_field_drift.ipynb", tmp / "by-hand.ipynb", {"config_path": str(tmp / "cfg.yaml")}
        )
    finally:
        mp.undo()
    assert run.status == "ok", run.error
    work = tmp / "data" / "work" / sid
    assert (work / "findings.jsonl").is_file() and (work / "audit_metrics.json").is_file()
