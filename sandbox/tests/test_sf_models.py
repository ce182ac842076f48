"""The Salesforce sandbox backend without HTTP: ids, loading, persistence, reset, write rules, load errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmsandbox.errors import SandboxInputError as ConfigError
from crmsandbox.salesforce import SalesforceService
from crmsandbox.salesforce import exceptions as exc
from crmsandbox.salesforce.ids import checksum, is_id, make_id, to18
from sf_https import ACME, ANN, BOB, LEAD_CONV, write_load_dir


@pytest.mark.parametrize(
    ("id15", "suffix"),
    [("0019000000B98de", "AAB"), ("001A0000006Vm9r", "IAC"), ("001A0000006VM9r", "IAG")],
)
def test_id_checksum_matches_salesforce(id15, suffix):
    assert checksum(id15) == suffix
    assert to18(id15) == id15 + suffix


def test_ids_validate_and_mint():
    assert is_id("0019000000B98deAAB") and not is_id("0019000000B98deAAA") and not is_id("short")
    with pytest.raises(exc.MalformedId):
        to18("0019000000B98deXYZ")
    minted = make_id("003", 12345)
    assert len(minted) == 18 and minted.startswith("003") and is_id(minted)
    assert make_id("003", 1) != make_id("003", 2)


@pytest.fixture
def load(tmp_path) -> Path:
    return write_load_dir(tmp_path / "load")


def rows(service, sql):
    return service.backend.store.conn().execute(sql).fetchall()


def test_load_keeps_ids_audit_dates_and_converted_leads(tmp_path, load):
    svc = SalesforceService(tmp_path / "state", load)
    (ann,) = rows(
        svc, f"SELECT CreatedDate, LastModifiedDate, SystemModstamp, Name, IsDeleted FROM Contact WHERE Id = '{ANN}'"
    )
    assert ann == ("2024-01-02T17:38:59.000Z", "2024-02-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z", "Ann Lee", 0)
    (bob,) = rows(
        svc, f"SELECT CreatedDate, LastModifiedDate, SystemModstamp, HasOptedOutOfEmail FROM Contact WHERE Id = '{BOB}'"
    )
    assert bob == ("2024-01-03T06:00:00.000Z",) * 3 + (
        1,
    )  # offset converted to UTC; missing dates default to CreatedDate
    (lead,) = rows(
        svc,
        f"SELECT IsConverted, ConvertedContactId, ConvertedAccountId, ConvertedDate FROM Lead WHERE Id = '{LEAD_CONV}'",
    )
    assert lead == (1, ANN, ACME, "2024-01-02")
    assert svc.dump()["objects"]["Contact"] == {"records": 3, "deleted": 0}
    svc.close()


def test_state_survives_a_restart_and_reset_restores_the_load(tmp_path, load):
    svc = SalesforceService(tmp_path / "state", load)
    with svc.backend.store.write() as c:
        new_id = svc.backend.insert(c, "Contact", {"LastName": "Persisted"})
        svc.backend.update(c, "Contact", ANN, {"FirstName": "Annie"})
    svc.close()
    again = SalesforceService(tmp_path / "state", load)  # the DB exists: not reloaded
    assert rows(again, f"SELECT LastName FROM Contact WHERE Id = '{new_id}'") == [("Persisted",)]
    assert rows(again, f"SELECT Name FROM Contact WHERE Id = '{ANN}'") == [("Annie Lee",)]
    with again.backend.store.write() as c:  # the id sequence also survived: no id is reused
        assert again.backend.insert(c, "Contact", {"LastName": "Next"}) != new_id
    again.close()
    bare = SalesforceService(tmp_path / "state", None)  # restarted without the folder: the schema was kept
    assert rows(bare, f"SELECT Product_User_Id__c FROM Contact WHERE Id = '{ANN}'") == [("u-1",)]
    assert bare.backend.sobject("Contact").get("Product_User_Id__c").external_id
    bare.close()
    again = SalesforceService(tmp_path / "state", load)
    again.reset()
    assert rows(again, f"SELECT COUNT(*) FROM Contact WHERE Id = '{new_id}'") == [(0,)]
    assert rows(again, f"SELECT Name FROM Contact WHERE Id = '{ANN}'") == [("Ann Lee",)]
    again.close()


def test_writes_keep_audit_fields_with_the_clock(tmp_path, load):
    now = [1_750_000_000.0]
    svc = SalesforceService(None, load, clock=lambda: now[0])
    b = svc.backend
    with b.store.write() as c:
        rid = b.insert(c, "Case", {"Subject": "Help", "Status": "New"})
    now[0] += 60
    with b.store.write() as c:
        b.update(c, "Case", rid, {"Status": "Closed"})
    (case,) = rows(
        svc,
        f"SELECT CreatedDate, LastModifiedDate, SystemModstamp, IsClosed, CaseNumber, OwnerId FROM \"Case\" WHERE Id = '{rid}'",
    )
    assert case[0] == "2025-06-15T15:06:40.000Z" and case[1] == case[2] == "2025-06-15T15:07:40.000Z"
    assert case[3] == 1 and case[4].isdigit() and case[5] == b.admin_id
    with b.store.write() as c:
        t = b.insert(c, "Task", {"Subject": "Call"})
    assert rows(svc, f"SELECT Status, Priority, IsClosed FROM Task WHERE Id = '{t}'") == [("Not Started", "Normal", 0)]
    svc.close()


def test_upsert_by_external_id_rules(tmp_path, load):
    svc = SalesforceService(None, load)
    b = svc.backend
    with b.store.write() as c:
        rid, created = b.upsert(c, "Contact", "product_user_id__c", "U-1", {"Partner_Code__c": "X"})
    assert (rid, created) == (ANN, False)  # external ids match case-insensitively
    with b.store.write() as c:
        rid, created = b.upsert(c, "Contact", "Product_User_Id__c", "u-77", {"LastName": "New"})
    assert created and rows(svc, f"SELECT Product_User_Id__c FROM Contact WHERE Id = '{rid}'") == [("u-77",)]
    with pytest.raises(exc.NotFound), b.store.write() as c:
        b.upsert(c, "Contact", "LastName", "Lee", {})
    svc.close()


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda d: (d / "salesforce" / "Contact.csv").write_text("Id,Shoe_Size__c\n,9\n"),
            "unknown column 'Shoe_Size__c'",
        ),
        (lambda d: (d / "salesforce" / "Widget.csv").write_text("Name\nx\n"), "no such Salesforce object 'Widget'"),
        (
            lambda d: (d / "salesforce" / "Contact.csv").write_text("LastName,CreatedDate\nx,yesterday\n"),
            "not a valid datetime",
        ),
        (
            lambda d: (d / "salesforce" / "Contact.csv").write_text("LastName,HasOptedOutOfEmail\nx,perhaps\n"),
            "not a valid boolean",
        ),
        (
            lambda d: (d / "salesforce" / "Contact.csv").write_text("Id,LastName\n003000000000001XXX,x\n"),
            "malformed Id",
        ),
        (lambda d: (d / "salesforce" / "Contact.csv").write_text("LastName,Email\nx\n"), "line 2 has 1 values"),
        (
            lambda d: (d / "salesforce" / "Contact.csv").write_text("LastName,Product_User_Id__c\na,u-1\nb,u-1\n"),
            "must be unique",
        ),
        (lambda d: (d / "salesforce" / "schema.json").write_text("{not json"), "cannot read the schema"),
        (
            lambda d: (d / "salesforce" / "schema.json").write_text(
                json.dumps({"Contact": [{"name": "X__c", "type": "blob"}]})
            ),
            "unsupported field type 'blob'",
        ),
        (
            lambda d: (d / "salesforce" / "schema.json").write_text(json.dumps({"Widget": []})),
            "unknown object 'Widget'",
        ),
    ],
)
def test_bad_load_folders_get_one_clear_error(tmp_path, load, mutate, fragment):
    mutate(load)
    with pytest.raises(ConfigError) as err:
        SalesforceService(tmp_path / "state", load)
    assert fragment in str(err.value)


def test_connection_facts_and_dump(tmp_path, load):
    svc = SalesforceService(None, load)
    facts = svc.connection_facts("https://127.0.0.1:8443/")
    assert facts["instance_url"] == "https://127.0.0.1:8443"
    assert facts["token_url"] == "https://127.0.0.1:8443/services/oauth2/token"
    assert facts["session_id"].startswith(svc.backend.org_id[:15] + "!")
    svc.auth.check(facts["session_id"])
    assert {"client_id", "client_secret", "username", "password", "refresh_token"} <= set(facts)
    dump = svc.dump()
    assert dump["objects"]["Lead"]["records"] == 2 and dump["api_usage"]["limit"] == 15000
    svc.close()


def test_query_locators_expire_after_15_idle_minutes(tmp_path, load):
    now = [1_750_000_000.0]
    svc = SalesforceService(None, load, clock=lambda: now[0])
    e = svc.engine
    cur = e.open(e.compile("SELECT Id FROM Contact ORDER BY LastName", False), "json", 2000)
    assert e.get(cur.id) is cur
    now[0] += 14 * 60
    assert e.get(cur.id) is cur  # using it resets the idle time
    now[0] += 16 * 60
    with pytest.raises(exc.InvalidQueryLocator):
        e.get(cur.id)
    svc.close()
