"""REST endpoints beyond records and queries: discovery, composite batch, JWT bearer, the CLI's login calls."""

from __future__ import annotations

import base64
import json
import time

import pytest

from sf_https import ANN, https_session, serve_https, write_load_dir
from syncaudit.sandbox.salesforce import SalesforceService

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
