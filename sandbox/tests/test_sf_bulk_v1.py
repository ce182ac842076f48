"""Bulk API 1.0 (/services/async/<version>/job) over HTTPS: jobs and batches, CSV, XML and JSON, query and
ingest, PK chunking, served from the same org state as REST."""

from __future__ import annotations

import csv
import io
import json
from xml.etree import ElementTree as ET

import pytest

from crmsandbox.salesforce import SalesforceService
from sf_https import ANN, BOB, CARL, https_session, serve_https, write_load_dir

NS = "{http://www.force.com/2009/06/asyncapi/dataload}"
A = "/services/async/59.0"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    root = tmp_path_factory.mktemp("bulkv1")
    write_load_dir(root / "load")
    service = SalesforceService(None, root / "load")
    with serve_https(service, root) as facts:
        facts["http"] = https_session(facts["ca_cert"])
        yield facts


def _xml(r) -> ET.Element:
    assert r.headers["Content-Type"].startswith("application/xml"), r.text
    return ET.fromstring(r.content)


def _field(el: ET.Element, name: str) -> str:
    return el.find(NS + name).text


def job_xml(operation: str, obj: str, content: str = "CSV", extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
        f"<operation>{operation}</operation><object>{obj}</object>{extra}<contentType>{content}</contentType></jobInfo>"
    ).encode()


def call(sb, method, path, data=None, ctype="application/xml; charset=UTF-8", **headers):
    h = {"X-SFDC-Session": sb["session_id"], "Content-Type": ctype, **headers}
    return sb["http"].request(method, sb["instance_url"] + A + path, data=data, headers=h)


def test_query_job_in_csv_with_batches_and_results(sb):
    r = call(sb, "POST", "/job", job_xml("query", "Contact"))
    assert r.status_code == 201
    job = _field(_xml(r), "id")
    assert _field(_xml(r), "state") == "Open" and _field(_xml(r), "contentType") == "CSV"
    r = call(sb, "POST", f"/job/{job}/batch", b"SELECT Id, Email FROM Contact ORDER BY Id", ctype="text/csv")
    assert r.status_code == 201 and _field(_xml(r), "state") == "Queued"
    batch = _field(_xml(r), "id")
    info = _xml(call(sb, "GET", f"/job/{job}/batch/{batch}"))
    assert _field(info, "state") == "Completed" and _field(info, "numberRecordsProcessed") == "3"
    results = _xml(call(sb, "GET", f"/job/{job}/batch/{batch}/result"))
    (result_id,) = [e.text for e in results.findall(NS + "result")]
    rows = list(csv.DictReader(io.StringIO(call(sb, "GET", f"/job/{job}/batch/{batch}/result/{result_id}").text)))
    assert [r["Id"] for r in rows] == [ANN, BOB, CARL] and rows[0]["Email"] == "ann@acme.example"
    closed = _xml(
        call(
            sb,
            "POST",
            f"/job/{job}",
            b'<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><state>Closed</state></jobInfo>',
        )
    )
    assert _field(closed, "state") == "Closed" and _field(closed, "numberBatchesCompleted") == "1"
    assert call(sb, "POST", f"/job/{job}/batch", b"SELECT Id FROM Contact", ctype="text/csv").status_code == 400


def test_query_job_in_xml_and_pk_chunking(sb):
    r = call(sb, "POST", "/job", job_xml("query", "Contact", "XML"), **{"Sforce-Enable-PKChunking": "chunkSize=2"})
    job = _field(_xml(r), "id")
    first = _field(_xml(call(sb, "POST", f"/job/{job}/batch", b"SELECT Id, Account.Name FROM Contact")), "id")
    batches = _xml(call(sb, "GET", f"/job/{job}/batch")).findall(NS + "batchInfo")
    states = {_field(b, "id"): _field(b, "state") for b in batches}
    assert states.pop(first) == "NotProcessed" and list(states.values()) == ["Completed", "Completed"]
    ids = []
    for bid in states:
        (rid,) = [e.text for e in _xml(call(sb, "GET", f"/job/{job}/batch/{bid}/result")).findall(NS + "result")]
        doc = _xml(call(sb, "GET", f"/job/{job}/batch/{bid}/result/{rid}"))
        recs = doc.findall(NS + "records")
        ids += [r.find(NS + "Id").text for r in recs]
    assert sorted(ids) == sorted([ANN, BOB, CARL])
    too_big = call(sb, "POST", "/job", job_xml("query", "Contact"), **{"Sforce-Enable-PKChunking": "chunkSize=999999"})
    assert too_big.status_code == 400 and _field(_xml(too_big), "exceptionCode") == "InvalidJob"


def test_ingest_jobs_in_csv_xml_and_json_write_the_org(sb):
    job = _field(_xml(call(sb, "POST", "/job", job_xml("insert", "Contact"))), "id")
    data = 'LastName,Email\nBulkOne,one@bulk.example\n"Two, Jr",two@bulk.example\n,bad@bulk.example\n'
    call(sb, "POST", f"/job/{job}/batch", data.encode(), ctype="text/csv")
    (batch,) = [_field(b, "id") for b in _xml(call(sb, "GET", f"/job/{job}/batch")).findall(NS + "batchInfo")]
    info = _xml(call(sb, "GET", f"/job/{job}/batch/{batch}"))
    assert _field(info, "numberRecordsProcessed") == "3" and _field(info, "numberRecordsFailed") == "1"
    rows = list(csv.DictReader(io.StringIO(call(sb, "GET", f"/job/{job}/batch/{batch}/result").text)))
    assert [r["Success"] for r in rows] == ["true", "true", "false"] and "REQUIRED_FIELD_MISSING" in rows[2]["Error"]
    rest = (
        sb["http"]
        .get(
            sb["instance_url"] + "/services/data/v59.0/query",
            params={"q": "SELECT LastName FROM Contact WHERE Email LIKE '%@bulk.example'"},
            headers={"Authorization": f"Bearer {sb['session_id']}"},
        )
        .json()
    )
    assert sorted(r["LastName"] for r in rest["records"]) == ["BulkOne", "Two, Jr"]

    xjob = _field(_xml(call(sb, "POST", "/job", job_xml("update", "Contact", "XML"))), "id")
    body = (
        '<sObjects xmlns="http://www.force.com/2009/06/asyncapi/dataload" xmlns:xsi="http://www.w3.org/2001/'
        f'XMLSchema-instance"><sObject><Id>{ANN}</Id><Title>Bulk title</Title><Phone xsi:nil="true"/></sObject>'
        "</sObjects>"
    )
    xb = _field(_xml(call(sb, "POST", f"/job/{xjob}/batch", body.encode())), "id")
    res = _xml(call(sb, "GET", f"/job/{xjob}/batch/{xb}/result")).findall(NS + "result")
    assert [_field(r, "success") for r in res] == ["true"] and _field(res[0], "id") == ANN

    jjob = json.loads(
        call(
            sb,
            "POST",
            "/job",
            json.dumps(
                {
                    "operation": "upsert",
                    "object": "Contact",
                    "externalIdFieldName": "Product_User_Id__c",
                    "contentType": "JSON",
                }
            ).encode(),
            ctype="application/json",
        ).text
    )["id"]
    recs = [{"Product_User_Id__c": "bulk-json-1", "LastName": "Jay"}]
    jb = json.loads(call(sb, "POST", f"/job/{jjob}/batch", json.dumps(recs).encode(), ctype="application/json").text)
    out = json.loads(call(sb, "GET", f"/job/{jjob}/batch/{jb['id']}/result", ctype="application/json").text)
    assert out[0]["success"] is True and out[0]["created"] is True
    got = (
        sb["http"]
        .get(
            sb["instance_url"] + f"/services/data/v59.0/sobjects/Contact/{ANN}",
            headers={"Authorization": f"Bearer {sb['session_id']}"},
        )
        .json()
    )
    assert got["Title"] == "Bulk title" and got["Phone"] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/job", b"<jobInfo", 400, "InvalidJob"),
        ("POST", "/job", job_xml("explode", "Contact"), 400, "InvalidJob"),
        ("POST", "/job", job_xml("insert", "Nope__c"), 400, "InvalidJob"),
        ("POST", "/job", job_xml("insert", "Contact", "PDF"), 400, "InvalidJob"),
        ("GET", "/job/750000000000000AAA", None, 400, "InvalidJob"),
        ("GET", "/nothing/here", None, 404, "InvalidUrl"),
    ],
)
def test_bad_requests_get_the_async_error_shape(sb, method, path, body, status, code):
    r = call(sb, method, path, body)
    assert r.status_code == status and _field(_xml(r), "exceptionCode") == code


def test_a_session_is_required(sb):
    r = sb["http"].post(
        sb["instance_url"] + A + "/job", data=job_xml("query", "Contact"), headers={"X-SFDC-Session": "nope"}
    )
    assert r.status_code == 400 and _field(_xml(r), "exceptionCode") == "InvalidSessionId"


def test_simple_salesforce_bulk_handler_speaks_bulk_v1(sb):
    """simple-salesforce's `sf.bulk` is a Bulk API 1.0 client (JSON jobs): query, insert, upsert, delete."""
    from simple_salesforce import Salesforce

    sf = Salesforce(instance_url=sb["instance_url"], session_id=sb["session_id"], session=sb["http"], version="59.0")
    rows = sf.bulk.Contact.query("SELECT Id, LastName FROM Contact WHERE LastName != null")
    rows = list(rows) if not isinstance(rows, list) else rows
    flat = [r for part in rows for r in (part if isinstance(part, list) else [part])]
    total = sf.query("SELECT COUNT() FROM Contact WHERE LastName != null")["totalSize"]
    assert len(flat) == total and {r["Id"] for r in flat} >= {ANN, BOB}
    made = sf.bulk.Contact.insert([{"LastName": "SS bulk 1"}, {"LastName": "SS bulk 2"}], batch_size=1)
    assert [m["success"] for m in made] == [True, True]
    gone = sf.bulk.Contact.delete([{"Id": made[0]["id"]}])
    assert gone[0]["success"] is True
    left = sf.query("SELECT LastName FROM Contact WHERE LastName LIKE 'SS bulk%'")["records"]
    assert [r["LastName"] for r in left] == ["SS bulk 2"]
