"""Contract tests: unmodified simple-salesforce 1.12.x against the Salesforce sandbox over real HTTPS."""

from __future__ import annotations

import csv
import io

import pytest
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from crmsandbox.salesforce import SalesforceService
from sf_https import ACME, ANN, LEAD_CONV, https_session, serve_https, write_load_dir


class Clock:
    def __init__(self) -> None:
        import time

        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("sfc")
    write_load_dir(root / "load")
    clock = Clock()
    service = SalesforceService(root / "state", root / "load", clock=clock, token_lifetime_s=600)
    with serve_https(service, root) as facts:
        facts["clock"] = clock
        facts["service"] = service
        yield facts
    service.close()


@pytest.fixture
def http(sandbox):
    return https_session(sandbox["ca_cert"])


@pytest.fixture
def sf(sandbox, http):
    return Salesforce(
        instance_url=sandbox["instance_url"], session_id=sandbox["session_id"], session=http, version="59.0"
    )


def test_query_all_returns_records_with_parents(sf):
    res = sf.query_all(
        "SELECT Id, Email, Account.AccountNumber, Owner.Email FROM Contact WHERE Email != null ORDER BY Email"
    )
    assert res["totalSize"] == res["totalSize"] and res["done"] is True
    ann = next(r for r in res["records"] if r["Id"] == ANN)
    assert ann["Account"]["AccountNumber"] == "ACME-001"
    assert ann["attributes"]["type"] == "Contact"
    assert ann["Owner"]["Email"] == "admin@sandbox.example"
    assert [r["Email"] for r in res["records"]] == sorted(r["Email"] for r in res["records"])
    assert sf.api_usage["api-usage"].used >= 1


def test_query_all_iter_pages_with_next_records_url(sf, http, sandbox):
    created = []
    for chunk in (range(0, 150), range(150, 300)):
        created += sf.restful(
            "composite/sobjects",
            method="POST",
            json={
                "allOrNone": True,
                "records": [{"attributes": {"type": "Account"}, "Name": f"Paging {i:03d}"} for i in chunk],
            },
        )
    assert len(created) == 300 and all(r["success"] for r in created)
    # batchSize 150 is clamped to the smallest page, 200; the client must follow nextRecordsUrl.
    first = http.get(
        f"{sandbox['instance_url']}/services/data/v59.0/query",
        params={"q": "SELECT Id, Name FROM Account WHERE Name LIKE 'Paging%' ORDER BY Name DESC"},
        headers={"Authorization": f"Bearer {sandbox['session_id']}", "Sforce-Query-Options": "batchSize=150"},
    ).json()
    assert first["done"] is False and len(first["records"]) == 200 and first["totalSize"] == 300
    assert first["records"][0]["Name"] == "Paging 299"
    rows = list(sf.query_all_iter("SELECT Id, Name FROM Account WHERE Name LIKE 'paging%'"))
    assert len(rows) == 300 and len({r["Id"] for r in rows}) == 300
    for chunk in (created[:150], created[150:]):
        sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(r["id"] for r in chunk)})
    assert sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Paging%'")["totalSize"] == 0
    assert (
        sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Paging%' AND IsDeleted = true", include_deleted=True)[
            "totalSize"
        ]
        == 300
    )


def test_query_paging_over_more_than_one_page(sandbox, http):
    service = sandbox["service"]
    with service.backend.store.write() as c:
        for i in range(2300):
            service.backend.insert(c, "Lead", {"LastName": f"Bulk{i}", "Company": "Paging Co"})
    h = {"Authorization": f"Bearer {sandbox['session_id']}"}
    url = f"{sandbox['instance_url']}/services/data/v59.0/query/"
    page = http.get(url, params={"q": "SELECT Id FROM Lead WHERE Company = 'paging co'"}, headers=h).json()
    seen = [r["Id"] for r in page["records"]]
    assert len(seen) == 2000 and page["totalSize"] == 2300
    nxt = http.get(sandbox["instance_url"] + page["nextRecordsUrl"], headers=h).json()
    seen += [r["Id"] for r in nxt["records"]]
    assert nxt["done"] is True and "nextRecordsUrl" not in nxt
    assert len(set(seen)) == 2300
    # ordered results bigger than a page are materialised once and paged in order
    q = "SELECT LastName FROM Lead WHERE Company = 'Paging Co' ORDER BY LastName DESC"
    page = http.get(url, params={"q": q}, headers=h).json()
    names = [r["LastName"] for r in page["records"]]
    names += [
        r["LastName"] for r in http.get(sandbox["instance_url"] + page["nextRecordsUrl"], headers=h).json()["records"]
    ]
    assert names == sorted((f"Bulk{i}" for i in range(2300)), reverse=True)
    with service.backend.store.write() as c:
        c.execute("DELETE FROM \"Lead\" WHERE Company = 'Paging Co'")


def test_describe_has_custom_fields_and_metadata(sf):
    d = sf.Contact.describe()
    fields = {f["name"]: f for f in d["fields"]}
    ext = fields["Product_User_Id__c"]
    assert ext["externalId"] and ext["unique"] and ext["custom"] and ext["length"] == 64 and ext["byteLength"] == 192
    plan = fields["Plan_Type__c"]
    assert plan["type"] == "picklist" and plan["restrictedPicklist"]
    assert [p["value"] for p in plan["picklistValues"]] == ["Free", "Starter", "Pro", "Enterprise"]
    assert fields["AccountId"]["referenceTo"] == ["Account"] and fields["AccountId"]["relationshipName"] == "Account"
    assert fields["LastName"]["nillable"] is False and fields["Name"]["createable"] is False
    assert d["keyPrefix"] == "003"
    assert {"Lead", "Contact", "Account", "Task", "Case", "User"} <= {o["name"] for o in sf.describe()["sobjects"]}
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope__c.describe()


def test_upsert_by_external_id_creates_then_updates(sf):
    status = sf.Contact.upsert("Product_User_Id__c/u-100", {"LastName": "Upsert", "Email": "up@x.example"})
    assert status == 201
    rec = sf.Contact.get_by_custom_id("Product_User_Id__c", "u-100")
    assert rec["LastName"] == "Upsert"
    status = sf.Contact.upsert("Product_User_Id__c/u-100", {"Plan_Type__c": "Pro"})
    assert status == 200
    again = sf.Contact.get(rec["Id"])
    assert again["Plan_Type__c"] == "Pro" and again["LastModifiedDate"] >= rec["LastModifiedDate"]
    assert again["CreatedDate"] == rec["CreatedDate"]


def test_get_by_external_id_with_several_matches_is_300(sf):
    sf.Contact.create({"LastName": "Twin", "Email": "twin@x.example"})
    sf.Contact.create({"LastName": "Twin", "Email": "twin@x.example"})
    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf.Contact.get_by_custom_id("Email", "twin@x.example")
    assert len(err.value.content) == 2 and all("/sobjects/Contact/003" in u for u in err.value.content)


def test_crud_and_recycle_bin(sf):
    res = sf.Account.create({"Name": "Temp", "Website": "https://temp.example"})
    rid = res["id"]
    assert len(rid) == 18 and rid.startswith("001")
    assert sf.Account.update(rid, {"Name": "Temp 2"}) == 204
    assert sf.Account.get(rid)["Name"] == "Temp 2"
    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(rid)
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Account WHERE Id = '{rid}'", include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Id = '{rid[:15]}'")["totalSize"] == 0


def test_converted_lead_cannot_be_edited(sf):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(LEAD_CONV, {"FirstName": "X"})
    assert err.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    lead = sf.Lead.get(LEAD_CONV)
    assert lead["IsConverted"] is True and lead["ConvertedContactId"] == ANN and lead["ConvertedAccountId"] == ACME


def test_composite_collections_per_record_errors_and_all_or_none(sf):
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Contact"}, "LastName": "Ok"},
            {"attributes": {"type": "Contact"}, "FirstName": "NoLast"},
            {"attributes": {"type": "Contact"}, "LastName": "BadPlan", "Plan_Type__c": "Gold"},
        ],
    }
    res = sf.restful("composite/sobjects", method="POST", json=body)
    assert [r["success"] for r in res] == [True, False, False]
    assert res[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert res[1]["errors"][0]["fields"] == ["LastName"]
    assert res[2]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    before = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    res = sf.restful("composite/sobjects", method="POST", json=dict(body, allOrNone=True))
    assert [r["errors"][0]["statusCode"] for r in res] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "REQUIRED_FIELD_MISSING",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == before
    # upsert collection by external id
    res = sf.restful(
        "composite/sobjects/Contact/Product_User_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "Product_User_Id__c": "u-1", "Partner_Code__c": "P1"},
                {"attributes": {"type": "Contact"}, "Product_User_Id__c": "u-500", "LastName": "New"},
            ],
        },
    )
    assert [(r["success"], r["created"]) for r in res] == [(True, False), (True, True)]
    assert sf.Contact.get(ANN)["Partner_Code__c"] == "P1"
    retrieved = sf.restful("composite/sobjects/Contact", params={"ids": f"{ANN},003000000000099AAA", "fields": "Email"})
    assert retrieved[0]["Email"] == "ann@acme.example" and retrieved[1] is None
    too_many = {"records": [{"attributes": {"type": "Contact"}, "LastName": "x"}] * 201}
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.restful("composite/sobjects", method="POST", json=too_many)
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_bulk2_query_streams_csv_pages(sf):
    pages = list(
        sf.bulk2.Contact.query(
            "SELECT Id, Email, Account.Name, HasOptedOutOfEmail, Seats__c FROM Contact", max_records=2, wait=0
        )
    )
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    assert len(pages) >= 2
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    assert len(rows) == total
    ann = next(r for r in rows if r["Id"] == ANN)
    assert ann["Account.Name"] == "Acme Corp" and ann["HasOptedOutOfEmail"] == "false" and ann["Seats__c"] == "5"
    assert list(rows[0]) == ["Id", "Email", "Account.Name", "HasOptedOutOfEmail", "Seats__c"]


def test_bulk2_upsert_and_results(sf):
    records = [
        {"Product_User_Id__c": "u-1", "Partner_Code__c": "BULK"},
        {"Product_User_Id__c": "u-700", "LastName": "Bulk", "Email": "bulk@x.example"},
        {"Product_User_Id__c": "u-701", "LastName": "Bad", "Email": "not-an-email"},
    ]
    res = sf.bulk2.Contact.upsert(records=records, external_id_field="Product_User_Id__c", wait=0)
    assert res[0]["numberRecordsProcessed"] == 3 and res[0]["numberRecordsFailed"] == 1
    job = res[0]["job_id"]
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(job))))
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(job))))
    assert sorted(r["sf__Created"] for r in ok) == ["false", "true"]
    assert failed[0]["sf__Error"].startswith("INVALID_EMAIL_ADDRESS:")
    assert sf.Contact.get(ANN)["Partner_Code__c"] == "BULK"
    assert '"Product_User_Id__c"' in sf.bulk2.Contact.get_unprocessed_records(job).splitlines()[0]


def test_expired_token_is_401_invalid_session(sandbox, http):
    service, clock = sandbox["service"], sandbox["clock"]
    token = service.auth.mint("access")
    sf = Salesforce(instance_url=sandbox["instance_url"], session_id=token, session=http, version="59.0")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] >= 2
    clock.t += 601
    try:
        with pytest.raises(SalesforceExpiredSession) as err:
            sf.query("SELECT Id FROM Account")
        assert err.value.status == 401 and err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    finally:
        clock.t -= 601


def test_oauth_grants_userinfo_and_soap_login(sandbox, http):
    token_url = sandbox["token_url"]
    base = {"client_id": sandbox["client_id"], "client_secret": sandbox["client_secret"]}
    r = http.post(
        token_url,
        data={
            **base,
            "grant_type": "password",
            "username": sandbox["username"],
            "password": sandbox["password"] + sandbox["security_token"],
        },
    )
    assert r.status_code == 200
    tok = r.json()
    assert tok["instance_url"] == sandbox["instance_url"] and tok["issued_at"].isdigit()
    assert tok["access_token"].startswith("00D") and "!" in tok["access_token"]
    r = http.post(
        token_url, data={"grant_type": "client_credentials"}, auth=(sandbox["client_id"], sandbox["client_secret"])
    )
    assert r.status_code == 200
    r = http.post(token_url, data={**base, "grant_type": "refresh_token", "refresh_token": sandbox["refresh_token"]})
    assert r.status_code == 200
    fresh = r.json()["access_token"]
    r = http.post(token_url, data={**base, "grant_type": "password", "username": sandbox["username"], "password": "x"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = http.post(token_url, data={**base, "grant_type": "refresh_token", "refresh_token": "nope"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    info = http.get(f"{sandbox['instance_url']}/services/oauth2/userinfo", headers={"Authorization": f"Bearer {fresh}"})
    assert info.json()["organization_id"].startswith("00D") and info.json()["user_id"].startswith("005")
    session_id, instance = SalesforceLogin(
        username=sandbox["username"],
        password=sandbox["password"],
        security_token=sandbox["security_token"],
        scratch_url=sandbox["instance_url"],
        session=http,
    )
    assert instance == sandbox["instance_url"].split("//")[1]
    sf = Salesforce(instance_url=sandbox["instance_url"], session_id=session_id, session=http, version="59.0")
    assert sf.query("SELECT COUNT() FROM Organization")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed):
        SalesforceLogin(
            username=sandbox["username"],
            password="wrong",
            security_token="",
            scratch_url=sandbox["instance_url"],
            session=http,
        )
    http.post(f"{sandbox['instance_url']}/services/oauth2/revoke", data={"token": fresh})
    r = http.get(f"{sandbox['instance_url']}/services/data/v59.0/limits", headers={"Authorization": f"Bearer {fresh}"})
    assert r.status_code == 401


def test_injected_per_record_failures_in_collections_and_bulk(sandbox, sf):
    sb = sandbox["sandbox"]
    sb.control("POST", "faults", {"profile": "none", "seed": 5, "rates": {"record_failure": 0.5}})
    try:
        body = {"records": [{"attributes": {"type": "Account"}, "Name": f"Fault {i}"} for i in range(40)]}
        res = sf.restful("composite/sobjects", method="POST", json=body)
        codes = {e["statusCode"] for r in res for e in r["errors"]}
        failed = sum(not r["success"] for r in res)
        assert 0 < failed < 40 and codes <= {"UNABLE_TO_LOCK_ROW", "DUPLICATE_VALUE"}
        assert sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Fault %'")["totalSize"] == 40 - failed
        out = sf.bulk2.Account.insert(records=[{"Name": f"BulkFault {i}"} for i in range(40)], wait=0)
        assert 0 < out[0]["numberRecordsFailed"] < 40
    finally:
        sb.control("POST", "faults", {"profile": "none", "seed": 0})
