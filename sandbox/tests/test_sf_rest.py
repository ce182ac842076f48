"""REST endpoints beyond records and queries: discovery, composite batch, JWT bearer, the CLI's login calls."""

from __future__ import annotations

import base64
import json
import time

import pytest

from crmsandbox.salesforce import SalesforceService
from sf_https import ANN, https_session, serve_https, write_load_dir

V = "/services/data/v59.0"


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    root = tmp_path_factory.mktemp("sfrest")
    write_load_dir(root / "load")
    service = SalesforceService(None, root / "load")
    with serve_https(service, root) as facts:
        http = https_session(facts["ca_cert"])
        facts["http"] = http
        facts["auth"] = {"Authorization": f"Bearer {facts['session_id']}"}
        yield facts


def test_discovery(sb):
    http, base = sb["http"], sb["instance_url"]
    versions = http.get(f"{base}/services/data").json()
    assert versions[-1]["version"] == "62.0" and {"label", "url", "version"} <= set(versions[0])
    assert any(v["version"] == "59.0" for v in versions)
    res = http.get(f"{base}{V}/", headers=sb["auth"]).json()
    assert res["query"] == f"{V}/query" and res["sobjects"] == f"{V}/sobjects"
    g = http.get(f"{base}{V}/sobjects", headers=sb["auth"]).json()
    lead = next(o for o in g["sobjects"] if o["name"] == "Lead")
    assert (
        lead["keyPrefix"] == "00Q" and lead["queryable"] and lead["urls"]["describe"] == f"{V}/sobjects/Lead/describe"
    )
    basic = http.get(f"{base}{V}/sobjects/contact", headers=sb["auth"]).json()
    assert basic["objectDescribe"]["name"] == "Contact" and basic["recentItems"] == []
    d = http.get(f"{base}{V}/sobjects/Account/describe", headers=sb["auth"]).json()
    assert {
        "childSObject": "Contact",
        "field": "AccountId",
        "relationshipName": "Contacts",
        "cascadeDelete": False,
    } in d["childRelationships"]
    f = next(x for x in d["fields"] if x["name"] == "AccountNumber")
    assert f["soapType"] == "xsd:string" and f["length"] == 40 and f["byteLength"] == 120
    assert all(isinstance(x["nillable"], bool) and isinstance(x["externalId"], bool) for x in d["fields"])


def test_composite_batch_runs_subrequests(sb):
    http, base = sb["http"], sb["instance_url"]
    body = {
        "batchRequests": [
            {"method": "GET", "url": "v59.0/sobjects/Lead/describe"},
            {"method": "GET", "url": f"v59.0/sobjects/Contact/{ANN}?fields=Email"},
            {"method": "PATCH", "url": f"v59.0/sobjects/Contact/{ANN}", "richInput": {"Title": "CTO"}},
            {"method": "GET", "url": "v59.0/query?q=SELECT+Title+FROM+Contact+WHERE+Email+=+'ann@acme.example'"},
            {"method": "GET", "url": "v59.0/sobjects/Nope/describe"},
        ]
    }
    out = http.post(f"{base}{V}/composite/batch", json=body, headers=sb["auth"]).json()
    codes = [r["statusCode"] for r in out["results"]]
    assert codes == [200, 200, 204, 200, 404] and out["hasErrors"] is True
    assert out["results"][1]["result"]["Email"] == "ann@acme.example"
    assert out["results"][3]["result"]["records"][0]["Title"] == "CTO"


def _jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.c2ln"


def test_jwt_bearer_grant(sb):
    http = sb["http"]
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = {"iss": sb["client_id"], "sub": sb["username"], "aud": sb["instance_url"], "exp": int(time.time()) + 300}
    r = http.post(sb["token_url"], data={"grant_type": grant, "assertion": _jwt(claims)})
    assert r.status_code == 200 and r.json()["access_token"].startswith("00D")
    r = http.post(sb["token_url"], data={"grant_type": grant, "assertion": _jwt(dict(claims, sub="eve@x"))})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = http.post(sb["token_url"], data={"grant_type": grant, "assertion": "garbage"})
    assert r.status_code == 400
    r = http.post(sb["token_url"], data={"grant_type": "authorization_code"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_salesforce_cli_login_sequence(sb):
    """What `sf org login access-token` calls: userinfo, the user record, the Dev Hub probe."""
    http, base = sb["http"], sb["instance_url"]
    info = http.get(f"{base}/services/oauth2/userinfo", headers=sb["auth"]).json()
    user = http.get(f"{base}/services/data/v51.0/sobjects/User/{info['user_id']}", headers=sb["auth"]).json()
    assert user["Username"] == info["preferred_username"]
    probe = http.get(
        f"{base}/services/data/v51.0/query", params={"q": "SELECT Id FROM ScratchOrgInfo limit 1"}, headers=sb["auth"]
    )
    assert probe.status_code == 400 and probe.json()[0]["errorCode"] == "INVALID_TYPE"
    org = http.get(f"{base}{V}/query", params={"q": "SELECT IsSandbox FROM Organization"}, headers=sb["auth"]).json()
    assert org["records"][0]["IsSandbox"] is True


def test_request_log_counts_records(sb):
    http, base = sb["http"], sb["instance_url"]
    handle = sb["sandbox"]
    since = handle.requests(system="salesforce")[-1]["seq"]
    http.get(f"{base}{V}/query", params={"q": "SELECT Id FROM Contact"}, headers=sb["auth"])
    http.post(f"{base}{V}/sobjects/Account", json={"Name": "Logged"}, headers=sb["auth"])
    log = [e for e in handle.requests(system="salesforce") if e["seq"] > since]
    assert [(e["method"], e["status"], e["records"]) for e in log] == [("GET", 200, 3), ("POST", 201, 1)]


def test_get_deleted_and_updated(sb):
    http, base, h = sb["http"], sb["instance_url"], sb["auth"]
    rid = http.post(f"{base}{V}/sobjects/Account", json={"Name": "Windowed"}, headers=h).json()["id"]
    window = {"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00+00:00"}
    updated = http.get(f"{base}{V}/sobjects/Account/updated/", params=window, headers=h).json()
    assert rid in updated["ids"] and "latestDateCovered" in updated
    assert http.delete(f"{base}{V}/sobjects/Account/{rid}", headers=h).status_code == 204
    deleted = http.get(f"{base}{V}/sobjects/Account/deleted/", params=window, headers=h).json()
    assert rid in [d["id"] for d in deleted["deletedRecords"]]
    assert deleted["deletedRecords"][-1]["deletedDate"].endswith("+0000")
    bad = http.get(f"{base}{V}/sobjects/Account/deleted/", params={"start": "yesterday", "end": "x"}, headers=h)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_bulk_ingest_insert_update_delete_hard_delete(sb):
    http, base, h = sb["http"], sb["instance_url"], sb["auth"]

    def run(operation: str, data: str, **extra) -> dict:
        job = http.post(
            f"{base}{V}/jobs/ingest", json={"object": "Account", "operation": operation, **extra}, headers=h
        )
        jid = job.json()["id"]
        assert job.json()["state"] == "Open"
        up = http.put(
            f"{base}{V}/jobs/ingest/{jid}/batches", data=data.encode(), headers={**h, "Content-Type": "text/csv"}
        )
        assert up.status_code == 201 and up.content == b""
        http.patch(f"{base}{V}/jobs/ingest/{jid}", json={"state": "UploadComplete"}, headers=h)
        info = http.get(f"{base}{V}/jobs/ingest/{jid}", headers=h).json()
        ok = http.get(f"{base}{V}/jobs/ingest/{jid}/successfulResults/", headers=h).text
        return {"info": info, "ok": ok}

    res = run("insert", "Name;AccountNumber\nIngest A;ING-1\nIngest B;ING-2\n", columnDelimiter="SEMICOLON")
    assert res["info"]["state"] == "JobComplete" and res["info"]["numberRecordsProcessed"] == 2
    ids = [line.split(",")[0].strip('"') for line in res["ok"].splitlines()[1:]]
    assert len(ids) == 2 and all(i.startswith("001") for i in ids)
    res = run("update", f"Id,Description,AccountNumber\r\n{ids[0]},updated,#N/A\r\n", lineEnding="CRLF")
    assert res["info"]["numberRecordsFailed"] == 0
    got = http.get(f"{base}{V}/sobjects/Account/{ids[0]}", headers=h).json()
    assert got["Description"] == "updated" and got["AccountNumber"] is None and got["Name"] == "Ingest A"
    assert run("delete", f"Id\n{ids[0]}\n")["info"]["numberRecordsFailed"] == 0
    assert run("hardDelete", f"Id\n{ids[1]}\n")["info"]["numberRecordsFailed"] == 0
    q = "SELECT Id FROM Account WHERE Name LIKE 'Ingest%'"
    all_rows = http.get(f"{base}{V}/queryAll", params={"q": q}, headers=h).json()["records"]
    assert [r["Id"] for r in all_rows] == [ids[0]]  # soft-deleted stays in the bin; hard-deleted is gone


def test_control_reset_restores_the_loaded_org(sb):
    http, base, h = sb["http"], sb["instance_url"], sb["auth"]
    rid = http.post(f"{base}{V}/sobjects/Account", json={"Name": "Before reset"}, headers=h).json()["id"]
    sb["sandbox"].reset()
    assert http.get(f"{base}{V}/sobjects/Account/{rid}", headers=h).status_code == 404
    state = sb["sandbox"].control("GET", "state")
    assert "salesforce" in json.dumps(state) and '"Contact"' in json.dumps(state)
    fresh = http.post(
        sb["token_url"], data={"grant_type": "client_credentials"}, auth=(sb["client_id"], sb["client_secret"])
    )
    h2 = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert (
        http.get(f"{base}{V}/query", params={"q": "SELECT COUNT() FROM Contact"}, headers=h2).json()["totalSize"] == 3
    )


def test_delete_by_external_id(sb):
    http, base, h = sb["http"], sb["instance_url"], sb["auth"]
    r = http.patch(f"{base}{V}/sobjects/Contact/Product_User_Id__c/u-del", json={"LastName": "Del"}, headers=h)
    assert r.status_code == 201 and r.json()["created"] is True
    assert http.delete(f"{base}{V}/sobjects/Contact/Product_User_Id__c/u-del", headers=h).status_code == 204
    assert http.get(f"{base}{V}/sobjects/Contact/Product_User_Id__c/u-del", headers=h).status_code == 404


def test_bulk_query_locator_headers(sb):
    http, base, h = sb["http"], sb["instance_url"], sb["auth"]
    job = http.post(
        f"{base}{V}/jobs/query",
        json={
            "operation": "query",
            "query": "SELECT Id, LastName FROM Contact ORDER BY LastName",
            "columnDelimiter": "PIPE",
        },
        headers=h,
    ).json()
    assert job["state"] == "UploadComplete" and job["jobType"] == "V2Query"
    assert http.get(f"{base}{V}/jobs/query/{job['id']}", headers=h).json()["state"] == "JobComplete"
    url = f"{base}{V}/jobs/query/{job['id']}/results"
    first = http.get(url, params={"maxRecords": 2}, headers=h)
    assert first.headers["Sforce-NumberOfRecords"] == "2" and first.headers["Sforce-Locator"] != "null"
    assert first.headers["Content-Type"].startswith("text/csv") and "Sforce-Limit-Info" in first.headers
    lines = first.text.splitlines()
    assert lines[0] == "Id|LastName" and len(lines) == 3
    names = [line.split("|")[1] for line in lines[1:]]
    locator = first.headers["Sforce-Locator"]
    while locator != "null":
        page = http.get(url, params={"maxRecords": 2, "locator": locator}, headers=h)
        names += [line.split("|")[1] for line in page.text.splitlines()[1:]]
        locator = page.headers["Sforce-Locator"]
    total = http.get(f"{base}{V}/query", params={"q": "SELECT COUNT() FROM Contact"}, headers=h).json()["totalSize"]
    assert len(names) == total and names == sorted(names, key=str.lower)
    bad = http.get(url, params={"locator": "!!"}, headers=h)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_version_labels_name_each_release():
    """v59.0 is Winter '24 (released autumn 2023): a Winter release carries the next year's number."""
    from crmsandbox.salesforce.responses import versions

    labels = {v["version"]: v["label"] for v in versions()}
    assert labels["31.0"] == "Summer '14" and labels["32.0"] == "Winter '15" and labels["33.0"] == "Spring '15"
    assert labels["58.0"] == "Summer '23" and labels["59.0"] == "Winter '24" and labels["60.0"] == "Spring '24"
    assert labels["61.0"] == "Summer '24" and labels["62.0"] == "Winter '25"
    assert all(v["url"] == f"/services/data/v{v['version']}" for v in versions())


def test_trailing_slash_instance_url_reaches_the_app(sb):
    """The Salesforce CLI keeps instance URLs with a trailing slash and asks for //services/data/..."""
    http, base = sb["http"], sb["instance_url"]
    r = http.get(f"{base}//services/data/v59.0/query", params={"q": "SELECT Id FROM Contact"}, headers=sb["auth"])
    assert r.status_code == 200, r.text
    assert r.json()["totalSize"] == 3
    r = http.get(f"{base}///services/data", headers=sb["auth"])
    assert r.status_code == 200 and r.json()[0]["version"] == "31.0"
    assert http.get(f"{base}//nowhere", headers=sb["auth"]).json()[0]["errorCode"] == "NOT_FOUND"


def test_identity_url_answers_in_the_identity_shape(sb):
    """jsforce identity(): the resources list names the identity URL, which takes ?oauth_token=."""
    http, base = sb["http"], sb["instance_url"]
    res = http.get(f"{base}{V}", headers=sb["auth"]).json()
    ident_url = res["identity"]
    assert ident_url.startswith(f"{base}/id/00D")
    anon = http.get(ident_url, params={"format": "json"})
    assert anon.status_code == 401 and anon.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    ident = http.get(ident_url, params={"format": "json", "oauth_token": sb["session_id"]}).json()
    assert ident["id"] == ident_url and ident["asserted_user"] is True
    assert ident["user_id"].startswith("005") and ident["organization_id"].startswith("00D")
    assert ident["username"] == sb["username"] and ident["display_name"] == "Sandbox Admin"
    assert ident["urls"]["rest"] == f"{base}/services/data/v{{version}}/"
    assert "sub" not in ident and "preferred_username" not in ident  # not the OpenID userinfo shape
    pinned = http.get(ident_url, params={"version": "59.0"}, headers=sb["auth"]).json()
    assert pinned["urls"]["query"] == f"{base}/services/data/v59.0/query/"
    wrong = http.get(f"{base}/id/00D000000000001AAA/005000000000001AAA", headers=sb["auth"])
    assert wrong.status_code == 404


def test_organization_has_the_fields_the_cli_probes(sb):
    http, base = sb["http"], sb["instance_url"]
    q = "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType FROM Organization"
    (org,) = http.get(f"{base}{V}/query", params={"q": q}, headers=sb["auth"]).json()["records"]
    assert org["IsSandbox"] is True and org["InstanceName"] and org["TrialExpirationDate"] is None
    assert org["NamespacePrefix"] is None and org["OrganizationType"] == "Developer Edition"


def test_query_columns_true_answers_column_metadata(sb):
    """`sf data query` asks for the SELECT list's metadata with columns=true."""
    http, base = sb["http"], sb["instance_url"]

    def columns(q: str) -> dict:
        r = http.get(f"{base}{V}/query", params={"q": q, "columns": "true"}, headers=sb["auth"])
        assert r.status_code == 200, r.text
        return r.json()

    body = columns("SELECT Id, Email, Account.Name, Account.Owner.Email, Account.AccountNumber FROM Contact")
    assert "records" not in body and body["entityName"] == "Contact" and body["idSelected"] is True
    cols = body["columnMetadata"]
    assert [c["columnName"] for c in cols] == ["Id", "Email", "Account"]
    account = cols[2]
    assert [c["columnName"] for c in account["joinColumns"]] == ["Name", "Owner", "AccountNumber"]
    assert account["joinColumns"][1]["joinColumns"][0]["columnName"] == "Email"
    assert cols[1]["textType"] is True and cols[1]["aggregate"] is False
    agg = columns("SELECT AccountId a, COUNT(Id) FROM Contact GROUP BY AccountId")
    assert agg["groupBy"] is True
    assert [(c["columnName"], c["displayName"], c["aggregate"]) for c in agg["columnMetadata"]] == [
        ("a", "AccountId", False),
        ("expr0", "COUNT(Id)", True),
    ]
    sub = columns("SELECT Name, (SELECT Email FROM Contacts) FROM Account")["columnMetadata"]
    assert sub[1]["columnName"] == "Contacts" and sub[1]["aggregate"] is True
    assert sub[1]["joinColumns"][0]["columnName"] == "Email"
