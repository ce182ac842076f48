"""The notebook API on the emulators: Workspace, snapshot SQL (delta layers applied), findings, person and company
cards (escaped HTML and a plain-text form), and the review widgets driven by their own buttons without a browser."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_support import demo_sandbox
from syncaudit.changes.review import Review, ReviewItem
from syncaudit.cli import main
from syncaudit.errors import SyncAuditError
from syncaudit.explore.records import RecordCard
from syncaudit.explore.review_ui import ReviewWidget

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_sandbox(tmp_path_factory.mktemp("explore"), size=100, seed=5) as env:
        cfg = str(env["cfg_file"])
        for argv in (["pull", "--config", cfg, "--full"], ["findings", "--config", cfg], ["plan", "--config", cfg]):
            assert main(argv) == 0
        yield env


@pytest.fixture(scope="module")
def ws(env: dict[str, Any]) -> Any:
    from syncaudit import Workspace

    return Workspace.open(env["cfg_file"])


def test_import_is_lazy_and_exports_workspace() -> None:
    code = "import sys, syncaudit; assert 'syncaudit.explore.workspace' not in sys.modules; from syncaudit import Workspace; print(Workspace.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "syncaudit.explore.workspace"


def test_snapshot_sql_sees_every_table_and_the_delta_layers_and_history(ws: Any, env: dict[str, Any]) -> None:
    snap = ws.snapshot()
    assert ws.snapshots() == [snap.id]
    assert {"sf_Contact", "sf_Lead", "ic_contacts", "ic_companies", "findings"} <= set(snap.tables())
    n = snap.sql("SELECT count(*) AS n FROM sf_Contact")["n"][0]
    assert n == len(snap.sql('SELECT "Id" FROM sf_Contact'))
    # A change in Salesforce, then an incremental pull: the newest snapshot's view shows it through its delta layer.
    cid = snap.sql('SELECT "Id" FROM sf_Contact WHERE "Email" IS NOT NULL ORDER BY "Id" LIMIT 1')["Id"][0]
    _salesforce(env["sb"]).Contact.update(cid, {"Phone": "+44 20 7946 0958"})
    assert main(["pull", "--config", str(env["cfg_file"])]) == 0
    newer = ws.snapshot()
    assert newer.id != snap.id and newer.snapshot.has_delta("salesforce", "Contact")
    rows = newer.sql('SELECT "Phone" FROM sf_Contact WHERE "Id" = ?', [cid])
    assert list(rows["Phone"]) == ["+44 20 7946 0958"]  # replaced, never a second row
    assert ws.snapshot(snap.id).sql('SELECT "Phone" FROM sf_Contact WHERE "Id" = ?', [cid])["Phone"][0] != (
        "+44 20 7946 0958"
    )
    # The person's history names the mapped field that changed after the earlier snapshot.
    card = newer.person(cid)
    assert {"when": snap.id, "record": cid, "event": "changed after this snapshot: phone"} in card.history
    assert not newer.has_findings and "no findings yet" in card._repr_html_()
    with pytest.raises(SyncAuditError, match="has no findings yet"):
        newer.findings()
    with pytest.raises(SyncAuditError, match="the query failed") as err:
        snap.sql("SELECT * FROM no_such_table")
    assert "sf_Contact" in err.value.hint
    assert main(["findings", "--config", str(env["cfg_file"])]) == 0  # the later tests read the newest snapshot


def _salesforce(sb: Any) -> Any:
    from simple_salesforce import Salesforce

    from syncaudit.http import verified_session

    http = verified_session(sb["ca_cert"])
    tok = http.post(
        sb["salesforce"]["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(sb["salesforce"]["client_id"], sb["salesforce"]["client_secret"]),
        timeout=30,
    ).json()
    return Salesforce(instance_url=sb["salesforce"]["instance_url"], session_id=tok["access_token"], session=http)


def test_findings_filters(ws: Any) -> None:
    snap = ws.snapshot()
    every = snap.findings()
    assert len(every) > 0
    dup = snap.findings(kind="duplicate")
    assert len(dup) and set(dup["kind"]) == {"duplicate"}
    high = snap.findings(severity="high")
    assert set(high["severity"]) <= {"high"}
    rid = dup["records"][0][0]
    mine = snap.findings(record=rid)
    assert len(mine) >= 1 and all(rid in list(r) for r in mine["records"])
    assert len(snap.findings(kind="duplicate", record="nope")) == 0


def test_person_shows_both_systems_links_and_findings(ws: Any) -> None:
    snap = ws.snapshot()
    row = snap.sql(
        'SELECT s."Id", s."Email", c.id AS ic FROM sf_Contact s JOIN ic_contacts c '
        'ON s."Product_User_Id__c" = c.external_id WHERE s."Email" IS NOT NULL ORDER BY 1 LIMIT 1'
    ).iloc[0]
    card = snap.person(row["Email"].upper())  # emails match case-insensitively
    assert row["Id"] in card.record_ids and row["ic"] in card.record_ids
    assert {"salesforce": row["Id"], "intercom": row["ic"], "how": "identity key"} in card.links
    rows = dict(card.rows)
    assert rows["email"][card.record_ids.index(row["Id"])] == row["Email"]
    by_ic = snap.person(row["ic"])  # the same person from the Intercom side
    assert set(by_ic.record_ids) == set(card.record_ids)
    text = repr(card)
    assert row["Id"] in text and "links:" in text and "<td>" not in text
    html = card._repr_html_()
    assert "<h4>Links</h4>" in html and row["ic"] in html
    with pytest.raises(SyncAuditError, match="no person matches 'nobody@nowhere.invalid'"):
        snap.person("nobody@nowhere.invalid")


def test_company_by_domain_and_its_findings(ws: Any) -> None:
    snap = ws.snapshot()
    acc = snap.sql('SELECT "Id", "Website" FROM sf_Account WHERE "Website" IS NOT NULL ORDER BY 1 LIMIT 1').iloc[0]
    domain = acc["Website"].split("//")[-1].removeprefix("www.").strip("/")
    card = snap.company(domain)
    assert acc["Id"] in card.record_ids
    assert all(set(r) & set(card.record_ids) for r in card.findings["records"])


def test_card_html_is_escaped() -> None:
    import pandas as pd

    evil = '<script>alert("x")</script> & Ω 🙂'
    card = RecordCard(
        "person: " + evil,
        "s1",
        ["003A", "66b"],
        [("id", ["003A", "66b"]), ("full_name", [evil, "Ann"])],
        [{"salesforce": "003A", "intercom": "66b", "how": "identity key"}],
        pd.DataFrame([{"kind": "duplicate", "severity": "high", "field": None, "detail": evil, "id": "f1"}]),
        [{"when": "s0", "record": "003A", "event": evil}],
    )
    html = card._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Ω 🙂" in html
    assert repr(card).splitlines()[0] == f"person: {evil} (snapshot s1)"  # the plain form is text, not HTML


# ------------------------------------------------------------------ the review widgets, without a browser


def test_review_widgets_decide_through_the_plain_review(env: dict[str, Any], ws: Any) -> None:
    review = ws.review()
    ui = ReviewWidget(review, page_size=3)
    try:
        assert "page 1 of" in ui.page_label.value and len(ui.list.options) == 3
        first = ui.current
        assert first is not None and first.id == ui.list.options[0][1]
        assert first.records[0] in ui.detail.value and "Records side by side" in ui.detail.value
        ui.approve.click()
        assert Review(env["cfg"], review.plan.path).item(first.id).status == "approve"
        second = ui.current
        assert second.id != first.id  # moved on
        ui.keys.value = "r"  # the keyboard box: r rejects
        assert ui.keys.value == ""
        assert review.item(second.id).status == "reject"
        ui.keys.value = "n"
        assert "page 2 of" in ui.page_label.value
        ui.status.value = "reject"
        assert [v for _, v in ui.list.options] == [second.id]
        ui.status.value = "all"
        ui.kind.value = "duplicate"
        assert all(review.item(v).kind == "duplicate" for _, v in ui.list.options)
        # An approval with an edited survivor
        ui.status.value = "pending"
        item = ui.current
        if item is not None and len(item.records) > 1:
            other = next(r for r in item.records if r != item.suggested_survivor)
            ui.survivor.value = other
            ui.approve.click()
            assert review.item(item.id).survivor == other
        ui.build.click()
        decided_hash = review.build_plan().hash
        assert decided_hash in ui.plan_info.value and "--confirm " + decided_hash in ui.plan_info.value
        log = [json.loads(x) for x in review.log.path.read_text().splitlines()]
        assert [x["decision"] for x in log[:2]] == ["approve", "reject"]
    finally:
        review.log.path.unlink(missing_ok=True)


def test_item_html_escapes_the_audit_text(ws: Any) -> None:
    from syncaudit.explore.review_ui import item_html

    review = ws.review()
    base = review.page(0)[0]
    evil = ReviewItem(**{**base.__dict__, "detail": "<img src=x onerror=alert(1)>", "note": "<b>n</b>"})
    html = item_html(review, evil)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;n&lt;/b&gt;" in html


def test_waterfall_chart_from_recorded_evidence_is_offline() -> None:
    from types import SimpleNamespace

    from syncaudit.changes.review import normalize_evidence
    from syncaudit.explore.splink_charts import m_u_parameters, match_weights, waterfall

    ev = normalize_evidence(
        [
            {"field": "email", "left": "a@x.io", "right": "a@x.io", "level": "exact", "weight": 9.0, "m_probability": 0.9, "u_probability": 0.002},
            {"field": "name", "left": "Ann", "right": "Anne", "level": "jaro-winkler > 0.92", "weight": 3.0, "m_probability": 0.1, "u_probability": 0.0125},
        ]
    )  # fmt: skip
    item = SimpleNamespace(id="i1", evidence=ev)
    chart = waterfall(item)
    bundle = chart._repr_mimebundle_()
    spec = bundle["application/vnd.vegalite.v5+json"]
    bars = [(v["column_name"], v["log2_bayes_factor"]) for v in spec["data"]["values"]]
    assert bars == [("Prior", 0.0), ("email", 9.0), ("name", 3.0), ("Final score", 12.0)]
    assert "http" not in json.dumps({k: v for k, v in spec.items() if k != "$schema"})  # nothing to fetch
    svg = bundle["image/svg+xml"]
    assert svg.startswith("<svg") and "Final score" in svg and "email" in svg
    assert match_weights([item]) is not None and m_u_parameters([item]) is not None
    assert waterfall(SimpleNamespace(id="i2", evidence=[{"field": "email", "weight": None}])) is None
