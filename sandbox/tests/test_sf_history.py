"""Field history (ContactHistory, LeadHistory, AccountHistory): written by the org on tracked changes, read by SOQL."""

from __future__ import annotations

import json

import pytest
from simple_salesforce import Salesforce

from crmsandbox.salesforce import SalesforceService
from sf_https import ANN, BOB, https_session, serve_https, write_load_dir

V = "/services/data/v59.0"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    root = tmp_path_factory.mktemp("sfhist")
    load = write_load_dir(root / "load")
    # Title and Email tracked on Contact, tracking off on Lead; a history row loaded from the folder.
    (load / "salesforce" / "field_history.json").write_text(
        json.dumps({"Contact": ["Email", "Title", "OwnerId"], "Lead": []})
    )
    (load / "salesforce" / "ContactHistory.csv").write_text(
        f"ContactId,Field,OldValue,NewValue,CreatedDate\n{BOB},Email,,bob@old.example,2024-03-01T10:00:00Z\n"
    )
    service = SalesforceService(None, load)
    with serve_https(service, root) as facts:
        http = https_session(facts["ca_cert"])
        sf = Salesforce(
            instance_url=facts["instance_url"], session_id=facts["session_id"], session=http, version="59.0"
        )
        yield {**facts, "sf": sf}


def test_tracked_change_writes_history_and_untracked_does_not(sb):
    sf = sb["sf"]
    sf.Contact.update(ANN, {"Title": "CTO", "Department": "Engineering"})
    rows = sf.query(
        f"SELECT ContactId, Field, OldValue, NewValue, CreatedById, CreatedDate FROM ContactHistory WHERE ContactId = '{ANN}'"
    )["records"]
    assert [(r["Field"], r["NewValue"]) for r in rows] == [("Title", "CTO")]
    assert rows[0]["CreatedById"] == sb["user_id"] and rows[0]["CreatedDate"].endswith("+0000")
    sf.Contact.update(ANN, {"Title": "CTO"})  # no change, no row
    assert sf.query(f"SELECT COUNT() FROM ContactHistory WHERE ContactId = '{ANN}'")["totalSize"] == 1


def test_loaded_history_and_created_rows(sb):
    sf = sb["sf"]
    loaded = sf.query(f"SELECT Field, NewValue, CreatedDate FROM ContactHistory WHERE ContactId = '{BOB}'")["records"]
    assert [(r["Field"], r["NewValue"], r["CreatedDate"][:19]) for r in loaded] == [
        ("Email", "bob@old.example", "2024-03-01T10:00:00")
    ]
    new = sf.Contact.create({"LastName": "Newman", "Email": "n@example.com"})["id"]
    (created,) = sf.query(f"SELECT Field FROM ContactHistory WHERE ContactId = '{new}'")["records"]
    assert created["Field"] == "created"
    sf.Contact.update(new, {"OwnerId": sb["user_id"], "Email": "n2@example.com"})
    fields = {r["Field"] for r in sf.query(f"SELECT Field FROM ContactHistory WHERE ContactId = '{new}'")["records"]}
    assert fields == {"created", "Email"}  # the owner did not change: no Owner row
    ids = [r["Id"] for r in sf.query("SELECT Id FROM ContactHistory")["records"]]
    assert len(ids) == len(set(ids)) and all(i.startswith("017") for i in ids)


def test_tracking_off_and_read_only(sb):
    sf = sb["sf"]
    lead = sf.Lead.create({"LastName": "Quiet", "Company": "Q Inc"})["id"]
    sf.Lead.update(lead, {"Title": "VP"})
    assert sf.query(f"SELECT COUNT() FROM LeadHistory WHERE LeadId = '{lead}'")["totalSize"] == 0
    d = sf.ContactHistory.describe()
    assert not d["createable"] and not d["updateable"] and d["keyPrefix"] == "017"
    assert {f["name"] for f in d["fields"]} >= {
        "ContactId",
        "Field",
        "OldValue",
        "NewValue",
        "CreatedById",
        "CreatedDate",
    }
    http, base = https_session(sb["ca_cert"]), sb["instance_url"]
    res = http.post(
        f"{base}{V}/sobjects/ContactHistory",
        json={"ContactId": ANN, "Field": "Email"},
        headers={"Authorization": f"Bearer {sb['session_id']}"},
    )
    assert res.status_code == 400 and res.json()[0]["errorCode"] in ("INVALID_TYPE", "INVALID_FIELD_FOR_INSERT_UPDATE")
