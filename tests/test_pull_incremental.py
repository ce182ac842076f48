"""Incremental pulls: deltas merged into a new snapshot equal a full pull taken after the same changes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from crmsandbox.testing import RunningSandbox, running_sandbox
from syncaudit.config import Config
from syncaudit.http import verified_session
from syncaudit.pull import run_pull
from syncaudit.snapshot import VIEW_PREFIX, Snapshot
from test_pull_fixture_data import make_load_dir


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    load = make_load_dir(tmp_path_factory.mktemp("load"), contacts=300)
    with running_sandbox(load_dir=load, state_dir=tmp_path_factory.mktemp("sd")) as sb:
        yield sb


def cfg_for(sb: RunningSandbox, data: Path, monkeypatch: pytest.MonkeyPatch, **pull: object) -> Config:
    monkeypatch.setenv("SYNCAUDIT_SANDBOX_DIR", sb["state_dir"])
    return Config.model_validate(
        {"name": "t", "sandbox": {}, "data_dir": str(data), "pull": {"bulk_threshold": 100, **pull}}
    )


def content(snap: Snapshot, skip: tuple[str, ...] = ("tombstones",)) -> dict[str, list[tuple]]:
    con = snap.duckdb()
    out = {}
    for system, name in snap.tables():
        if name in skip:
            continue
        view = f"{VIEW_PREFIX[system]}_{name}"
        out[f"{system}/{name}"] = con.execute(f'SELECT * FROM "{view}" ORDER BY ALL').fetchall()
    return out


def salesforce(sb: RunningSandbox) -> Salesforce:
    http = verified_session(sb["ca_cert"])
    tok = http.post(
        sb["salesforce"]["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(sb["salesforce"]["client_id"], sb["salesforce"]["client_secret"]),
        timeout=30,
    ).json()
    return Salesforce(instance_url=sb["salesforce"]["instance_url"], session_id=tok["access_token"], session=http)


def intercom(sb: RunningSandbox) -> Any:
    http = verified_session(sb["ca_cert"])
    http.headers.update({"Authorization": f"Bearer {sb['intercom']['token']}", "Intercom-Version": "2.16"})
    base = sb["intercom"]["base_url"]

    def call(method: str, path: str, **kw: Any) -> Any:
        r = http.request(method, f"{base}/{path}", timeout=30, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    return call


def change_both_systems(sb: RunningSandbox) -> dict[str, Any]:
    sf = salesforce(sb)
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 5")["records"]]
    for i in ids[:3]:
        sf.Contact.update(i, {"Email": f"changed-{i}@example.test", "Phone": "+1 555 0100"})
    sf.Contact.delete(ids[3])
    new = sf.Contact.create({"LastName": "Newcomer", "Email": "new@example.test"})["id"]
    sf.Account.update(sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"], {"Website": "https://new.test"})
    ic = intercom(sb)
    contacts = ic("GET", "contacts", params={"per_page": 6})["data"]
    for c in contacts[:2]:
        ic("PUT", f"contacts/{c['id']}", json={"name": "Renamed Person", "custom_attributes": {"seats": 99}})
    ic("DELETE", f"contacts/{contacts[2]['id']}")
    ic("POST", f"contacts/{contacts[3]['id']}/archive")
    created = ic("POST", "contacts", json={"role": "user", "external_id": "u-new", "email": "fresh@example.test"})
    return {
        "sf_touched": [*ids[:4], new],
        "sf_deleted": ids[3],
        "sf_new": new,
        "ic_deleted": contacts[2]["id"],
        "ic_archived": contacts[3]["id"],
        "ic_new": created["id"],
    }


def test_incremental_after_changes_equals_full(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.reset()
    inc_cfg = cfg_for(sandbox, tmp_path / "inc", monkeypatch)
    first = run_pull(inc_cfg, out=io.StringIO(), bars=False)
    changed = change_both_systems(sandbox)
    out = io.StringIO()
    second = run_pull(inc_cfg, out=out, bars=False)
    full = run_pull(cfg_for(sandbox, tmp_path / "full", monkeypatch), out=io.StringIO(), bars=False)

    m = second.manifest
    assert m["mode"] == "incremental" and m["base"] == first.id
    assert m["streams"]["salesforce/Contact"]["mode"] == "incremental"
    assert m["streams"]["intercom/contacts"]["mode"] == "incremental"
    # Only the changed rows travelled (the rest came from the base snapshot).
    # 3 updated, 1 deleted, 1 created, plus the rows inside the lookback window before the bookmark.
    in_lookback = (
        first.duckdb()
        .execute(
            "select Id from sf_Contact where SystemModstamp >= ?::TIMESTAMPTZ - to_seconds(?)",
            [first.manifest["streams"]["salesforce/Contact"]["bookmark"], inc_cfg.pull.lookback_s],
        )
        .fetchall()
    )
    assert 0 < len(in_lookback) < 20
    expected = set(changed["sf_touched"]) | {r[0] for r in in_lookback}
    assert m["streams"]["salesforce/Contact"]["changed"] == len(expected)
    # Intercom: 2 updated + 1 created, plus the bookmark's day and the lookback day (day-truncated search).
    assert 3 <= m["streams"]["intercom/contacts"]["changed"] <= 20
    assert m["api_calls"]["intercom"] < first.manifest["api_calls"]["intercom"]
    assert content(second) == content(full)
    # The base files were linked, not rewritten: the changes sit in a delta layer.
    for system, name in (("salesforce", "Contact"), ("intercom", "contacts"), ("intercom", "contact_companies")):
        assert second.has_delta(system, name), name
        assert second.table_path(system, name).samefile(first.table_path(system, name)), name
    assert not full.has_delta("salesforce", "Contact")
    assert m["tables"]["salesforce/Contact"]["rows"] == full.manifest["tables"]["salesforce/Contact"]["rows"]

    con = second.duckdb()
    assert con.execute("select IsDeleted from sf_Contact where Id = ?", [changed["sf_deleted"]]).fetchone() == (True,)
    assert con.execute("select count(*) from sf_Contact where Id = ?", [changed["sf_new"]]).fetchone() == (1,)
    assert con.execute("select count(*) from ic_contacts where id = ?", [changed["ic_new"]]).fetchone() == (1,)
    tomb = dict(con.execute("select id, reason from ic_tombstones").fetchall())
    assert tomb == {changed["ic_deleted"]: "deleted", changed["ic_archived"]: "archived"}
    assert con.execute(
        "select count(*) from ic_contact_companies where contact_id = ?", [changed["ic_deleted"]]
    ).fetchone() == (0,)
    # Bookmarks moved forward and never past the run's start.
    for k, v in m["streams"].items():
        before = first.manifest["streams"][k]["bookmark"]
        if v["bookmark"] and before:
            assert before <= v["bookmark"] <= m["started_at"], k

    # A third run with no changes re-reads only the lookback window and keeps the content.
    third = run_pull(inc_cfg, out=io.StringIO(), bars=False)
    assert third.manifest["streams"]["salesforce/Contact"]["changed"] == 5  # today's changes, inside the lookback
    assert content(third) == content(second)
    assert content(third, skip=()) == content(second, skip=())


def test_server_clock_ahead_never_pushes_bookmarks_past_the_run_start(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.reset()
    sandbox.control("POST", "clock", {"offset_s": 7200})  # the org's clock runs two hours ahead of ours
    try:
        sf = salesforce(sandbox)
        first_id = sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 1")["records"][0]["Id"]
        sf.Contact.update(first_id, {"Phone": "+1 555 0199"})  # SystemModstamp = our now + 2 h
        cfg = cfg_for(sandbox, tmp_path, monkeypatch, lookback_s=60)
        snap = run_pull(cfg, objects=["Contact"], out=io.StringIO(), bars=False)
        bookmark = snap.manifest["streams"]["salesforce/Contact"]["bookmark"]
        newest = snap.duckdb().execute("select max(SystemModstamp) from sf_Contact").fetchone()[0]
        assert bookmark == snap.manifest["started_at"]  # capped at our start, not the org's newest value
        assert newest.isoformat() > bookmark
        # A change the org stamps before its own "newest" (but after our start) is still seen next time.
        sandbox.control("POST", "clock", {"offset_s": 3600})
        other = sf.query("SELECT Id FROM Contact ORDER BY Id DESC LIMIT 1")["records"][0]["Id"]
        sf.Contact.update(other, {"Phone": "+1 555 0142"})
        again = run_pull(cfg, objects=["Contact"], out=io.StringIO(), bars=False)
        title = again.duckdb().execute("select Phone from sf_Contact where Id = ?", [other]).fetchone()
        assert title == ("+1 555 0142",)
    finally:
        sandbox.control("POST", "clock", {"offset_s": 0})


def test_a_new_field_makes_that_stream_pull_in_full(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.reset()
    cfg = cfg_for(sandbox, tmp_path / "inc", monkeypatch)
    run_pull(cfg, objects=["contacts"], out=io.StringIO(), bars=False)
    ic = intercom(sandbox)
    ic("POST", "data_attributes", json={"name": "region", "model": "contact", "data_type": "string"})
    someone = ic("GET", "contacts", params={"per_page": 1})["data"][0]["id"]
    ic("PUT", f"contacts/{someone}", json={"custom_attributes": {"region": "EMEA"}})
    out = io.StringIO()
    snap = run_pull(cfg, objects=["contacts"], out=out, bars=False)
    assert "new column(s) custom_attributes.region" in out.getvalue()
    assert snap.manifest["streams"]["intercom/contacts"]["mode"] == "full"
    full = run_pull(
        cfg_for(sandbox, tmp_path / "full", monkeypatch), objects=["contacts"], out=io.StringIO(), bars=False
    )
    assert content(snap) == content(full)
    assert snap.duckdb().execute(
        'select "custom_attributes.region" from ic_contacts where id = ?', [someone]
    ).fetchone() == ("EMEA",)


def test_intercom_incremental_skips_same_day_changes_before_the_lookback(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Intercom's date search is day-truncated, so `updated_at > day` alone would re-read every change
    # made earlier the same day; newest-first paging stops at the lookback point instead.
    sandbox.reset()
    cfg = cfg_for(sandbox, tmp_path, monkeypatch, lookback_s=10)
    run_pull(cfg, objects=["contacts"], out=io.StringIO(), bars=False)
    ic = intercom(sandbox)
    ids = [c["id"] for c in ic("GET", "contacts", params={"per_page": 3})["data"]]
    sandbox.control("POST", "clock", {"offset_s": -300})  # five minutes ago: the same day (unless just after 0:00)
    try:
        ic("PUT", f"contacts/{ids[0]}", json={"name": "Earlier Today"})
    finally:
        sandbox.control("POST", "clock", {"offset_s": 0})
    ic("PUT", f"contacts/{ids[1]}", json={"name": "Just Now"})
    second = run_pull(cfg, objects=["contacts"], out=io.StringIO(), bars=False)
    assert second.manifest["streams"]["intercom/contacts"]["changed"] >= 2  # + the base bookmark's second
    ic("PUT", f"contacts/{ids[2]}", json={"name": "Later Still"})
    third = run_pull(cfg, objects=["contacts"], out=io.StringIO(), bars=False)
    # The newest change and the bookmark's own second; not the change from five minutes ago.
    assert third.manifest["streams"]["intercom/contacts"]["changed"] == 2
    names = dict(third.duckdb().execute("select id, name from ic_contacts where id in ?", [ids]).fetchall())
    assert names == {ids[0]: "Earlier Today", ids[1]: "Just Now", ids[2]: "Later Still"}
    full = run_pull(
        cfg_for(sandbox, tmp_path / "full", monkeypatch), objects=["contacts"], out=io.StringIO(), bars=False
    )
    assert content(third) == content(full)


def hard_delete(sf: Salesforce, obj: str, ids: list[str]) -> None:
    """Bulk API 2.0 hardDelete: the records skip the recycle bin, so queryAll never shows them again."""
    h = {"Authorization": f"Bearer {sf.session_id}"}
    job = sf.session.post(f"{sf.base_url}jobs/ingest", json={"object": obj, "operation": "hardDelete"}, headers=h)
    jid = job.json()["id"]
    body = ("Id\n" + "\n".join(ids) + "\n").encode()
    sf.session.put(f"{sf.base_url}jobs/ingest/{jid}/batches", data=body, headers={**h, "Content-Type": "text/csv"})
    sf.session.patch(f"{sf.base_url}jobs/ingest/{jid}", json={"state": "UploadComplete"}, headers=h)
    info = sf.session.get(f"{sf.base_url}jobs/ingest/{jid}", headers=h).json()
    assert info["state"] == "JobComplete" and info["numberRecordsFailed"] == 0, info


def test_purged_salesforce_records_leave_the_incremental_snapshot(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.reset()
    checked = cfg_for(sandbox, tmp_path / "inc", monkeypatch)
    unchecked = cfg_for(sandbox, tmp_path / "off", monkeypatch, purge_check="off")
    listed = cfg_for(sandbox, tmp_path / "ids", monkeypatch, purge_check="ids")
    for cfg in (checked, unchecked, listed):
        run_pull(cfg, objects=["Contact"], out=io.StringIO(), bars=False)
    sf = salesforce(sandbox)
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 2")["records"]]
    hard_delete(sf, "Contact", ids)
    second = run_pull(checked, objects=["Contact"], out=io.StringIO(), bars=False)
    assert second.manifest["streams"]["salesforce/Contact"]["removed"] == 2
    con = second.duckdb()
    assert con.execute("select count(*) from sf_Contact where Id in ?", [ids]).fetchall() == [(0,)]
    assert dict(con.execute("select id, reason from sf_tombstones").fetchall()) == dict.fromkeys(ids, "purged")
    full = run_pull(
        cfg_for(sandbox, tmp_path / "full", monkeypatch), objects=["Contact"], out=io.StringIO(), bars=False
    )
    assert content(second) == content(full)
    by_ids = run_pull(listed, objects=["Contact"], out=io.StringIO(), bars=False)  # lists ids without counting
    assert content(by_ids) == content(full)
    # Without the check the purged rows linger (queryAll cannot show them gone).
    stale = run_pull(unchecked, objects=["Contact"], out=io.StringIO(), bars=False)
    assert stale.duckdb().execute("select count(*) from sf_Contact where Id in ?", [ids]).fetchall() == [(2,)]
    # Nothing purged since: one COUNT() settles it and the tombstones stay on record.
    third = run_pull(checked, objects=["Contact"], out=io.StringIO(), bars=False)
    assert third.manifest["streams"]["salesforce/Contact"]["removed"] == 0
    assert third.duckdb().execute("select count(*) from sf_tombstones").fetchall() == [(2,)]
