"""Error codes of the Salesforce sandbox, checked with plain requests over HTTPS as a client sees them."""

from __future__ import annotations

import pytest

from crmsandbox.salesforce import SalesforceService
from sf_https import ANN, LEAD_CONV, https_session, serve_https, write_load_dir

V = "/services/data/v59.0"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("sferr")
    write_load_dir(root / "load")
    service = SalesforceService(None, root / "load")
    with serve_https(service, root) as facts:
        http = https_session(facts["ca_cert"])
        http.headers["Authorization"] = f"Bearer {facts['session_id']}"
        base = facts["instance_url"]

        class Api:
            def __getattr__(self, method):
                return lambda path, **kw: http.request(method.upper(), base + path, **kw)

        yield Api()
    service.close()


def code(resp) -> str:
    body = resp.json()
    assert isinstance(body, list), body
    return body[0]["errorCode"]


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer 00D000000000001!expired"])
def test_missing_or_bad_token_is_401_json_array(api, header):
    r = api.get(f"{V}/limits", headers={"Authorization": header} if header else {"Authorization": ""})
    assert r.status_code == 401
    assert r.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_limit_info_header_and_limits_agree(api):
    r = api.get(f"{V}/limits")
    used, cap = map(int, r.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/"))
    assert cap == 15000 and r.json()["DailyApiRequests"]["Remaining"] == cap - used


def test_request_limit_exceeded(tmp_path):
    service = SalesforceService(None, None, daily_api_limit=3)
    with serve_https(service, tmp_path) as facts:
        http = https_session(facts["ca_cert"])
        h = {"Authorization": f"Bearer {facts['session_id']}"}
        statuses = [http.get(f"{facts['instance_url']}{V}/limits", headers=h).status_code for _ in range(4)]
        r = http.get(f"{facts['instance_url']}{V}/sobjects", headers=h)
    service.close()
    assert statuses == [200, 200, 200, 403]
    assert r.status_code == 403 and code(r) == "REQUEST_LIMIT_EXCEEDED"
    assert r.headers["Sforce-Limit-Info"] == "api-usage=3/3"


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("get", "/services/data/v20.0/limits", 404, "NOT_FOUND"),
        ("get", f"{V}/sobjects/Nope__c/describe", 404, "NOT_FOUND"),
        ("get", f"{V}/nothing/here", 404, "NOT_FOUND"),
        ("put", f"{V}/sobjects/Contact/{ANN}", 405, "METHOD_NOT_ALLOWED"),
        ("get", f"{V}/sobjects/Contact/003000000000099AAA", 404, "NOT_FOUND"),
        ("get", f"{V}/sobjects/Contact/Email/nobody@x.example", 404, "NOT_FOUND"),
        ("get", f"{V}/sobjects/Contact/LastName/Lee", 404, "NOT_FOUND"),
        ("get", f"{V}/query/01gXX0000000001-2000", 400, "INVALID_QUERY_LOCATOR"),
        ("get", f"{V}/query/garbage", 400, "INVALID_QUERY_LOCATOR"),
    ],
)
def test_routing_errors(api, method, path, status, error):
    r = getattr(api, method)(path)
    assert r.status_code == status and code(r) == error


@pytest.mark.parametrize(
    ("soql", "error", "fragment"),
    [
        ("SELECT Id FROM", "MALFORMED_QUERY", "unexpected end"),
        ("SELECT Id, FROM Contact", "MALFORMED_QUERY", "unexpected token: 'FROM'"),
        ("SELECT Id FROM Contact WHERE Email = 'x' AND", "MALFORMED_QUERY", ""),
        ("SELECT Id FROM Contact LIMIT ten", "MALFORMED_QUERY", "unexpected token: 'ten'"),
        ("SELECT Foo FROM Contact", "INVALID_FIELD", "No such column 'Foo' on entity 'Contact'"),
        ("SELECT Account.Foo FROM Contact", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'"),
        ("SELECT Boss.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Boss'"),
        ("SELECT Id FROM Widget__c", "INVALID_TYPE", "sObject type 'Widget__c' is not supported"),
        ("SELECT Id FROM Contact WHERE CreatedDate > '2024-01-01T00:00:00Z'", "INVALID_FIELD", "dateTime"),
        ("SELECT Id FROM Contact WHERE LastName = 5", "INVALID_FIELD", "must be of type string"),
        ("SELECT Id FROM Contact WHERE HasOptedOutOfEmail = 'yes'", "INVALID_FIELD", "boolean"),
        ("SELECT Id FROM Contact WHERE Email = 'unterminated", "MALFORMED_QUERY", ""),
        ("SELECT FIELDS(ALL) FROM Contact", "MALFORMED_QUERY", "LIMIT"),
        ("SELECT Id FROM Contact OFFSET 5000", "MALFORMED_QUERY", "offset"),
        (
            "SELECT Id, (SELECT Id FROM Widgets) FROM Account",
            "INVALID_TYPE",
            "Didn't understand relationship 'Widgets'",
        ),
        ("SELECT Id, (SELECT Id, (SELECT Id FROM Tasks) FROM Contacts) FROM Account", "MALFORMED_QUERY", "subquery"),
        ("SELECT Id, (SELECT Nope FROM Contacts) FROM Account", "INVALID_FIELD", "No such column 'Nope'"),
        ("SELECT Id, (SELECT COUNT() FROM Contacts) FROM Account", "MALFORMED_QUERY", "aggregate"),
    ],
)
def test_soql_errors(api, soql, error, fragment):
    r = api.get(f"{V}/query/", params={"q": soql})
    assert r.status_code == 400 and code(r) == error
    assert fragment.lower() in r.json()[0]["message"].lower()


def test_query_without_q_is_malformed(api):
    r = api.get(f"{V}/query/")
    assert r.status_code == 400 and code(r) == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    ("body", "error", "fields"),
    [
        ({"FirstName": "No last name"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ({"LastName": "x" * 81}, "STRING_TOO_LONG", ["LastName"]),
        ({"LastName": "x", "Email": "not an email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        ({"LastName": "x", "Plan_Type__c": "Gold"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Plan_Type__c"]),
        ({"LastName": "x", "Product_User_Id__c": "u-1"}, "DUPLICATE_VALUE", ["Product_User_Id__c"]),
        ({"LastName": "x", "Name": "Full Name"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Name"]),
        ({"LastName": "x", "CreatedDate": "2020-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["CreatedDate"]),
        ({"LastName": "x", "Shoe_Size__c": 9}, "INVALID_FIELD", ["Shoe_Size__c"]),
        ({"LastName": "x", "HasOptedOutOfEmail": "maybe"}, "JSON_PARSER_ERROR", ["HasOptedOutOfEmail"]),
        ({"LastName": "x", "Seats__c": "many"}, "JSON_PARSER_ERROR", ["Seats__c"]),
        ({"LastName": "x", "Birthdate": "31/12/1990"}, "JSON_PARSER_ERROR", ["Birthdate"]),
        ({"LastName": "x", "AccountId": "not-an-id"}, "MALFORMED_ID", ["AccountId"]),
        ({"LastName": "x", "AccountId": "001000000000099AAA"}, "INVALID_CROSS_REFERENCE_KEY", ["AccountId"]),
        ({"LastName": ["x"]}, "JSON_PARSER_ERROR", ["LastName"]),
    ],
)
def test_create_validation_errors(api, body, error, fields):
    r = api.post(f"{V}/sobjects/Contact/", json=body)
    assert r.status_code == 400, r.text
    assert code(r) == error
    assert r.json()[0].get("fields", []) == fields


def test_malformed_json_and_non_object_body(api):
    r = api.post(f"{V}/sobjects/Contact/", data=b'{"LastName": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and code(r) == "JSON_PARSER_ERROR"
    r = api.post(f"{V}/sobjects/Contact/", json=[1, 2])
    assert r.status_code == 400 and code(r) == "JSON_PARSER_ERROR"
    r = api.post(f"{V}/composite/sobjects", json={"records": "nope"})
    assert r.status_code == 400 and code(r) == "JSON_PARSER_ERROR"


def test_state_rules(api):
    r = api.patch(f"{V}/sobjects/Lead/{LEAD_CONV}", json={"Company": "Other"})
    assert r.status_code == 400 and code(r) == "CANNOT_UPDATE_CONVERTED_LEAD"
    r = api.patch(f"{V}/sobjects/Lead/{LEAD_CONV}", json={"IsConverted": False})
    assert code(r) in ("CANNOT_UPDATE_CONVERTED_LEAD", "INVALID_FIELD_FOR_INSERT_UPDATE")
    rid = api.post(f"{V}/sobjects/Account/", json={"Name": "Gone"}).json()["id"]
    assert api.delete(f"{V}/sobjects/Account/{rid}").status_code == 204
    r = api.patch(f"{V}/sobjects/Account/{rid}", json={"Name": "Back"})
    assert r.status_code == 400 and code(r) == "ENTITY_IS_DELETED"
    assert code(api.delete(f"{V}/sobjects/Account/{rid}")) == "ENTITY_IS_DELETED"
    r = api.patch(f"{V}/sobjects/Contact/{ANN}", json={"LastName": None})
    assert r.status_code == 400 and code(r) == "REQUIRED_FIELD_MISSING"
    r = api.get(f"{V}/sobjects/Contact/{ANN[:15]}")  # 15-character ids are accepted
    assert r.status_code == 200 and r.json()["Id"] == ANN
    r = api.get(f"{V}/sobjects/Contact/{ANN[:15]}ZZZ")  # wrong checksum
    assert r.status_code == 404


def test_upsert_errors(api):
    r = api.patch(f"{V}/sobjects/Contact/LastName/Lee", json={"FirstName": "x"})
    assert r.status_code == 404 and code(r) == "NOT_FOUND"
    r = api.patch(f"{V}/sobjects/Contact/Product_User_Id__c/u-new", json={"FirstName": "NoLast"})
    assert r.status_code == 400 and code(r) == "REQUIRED_FIELD_MISSING"
    r = api.patch(
        f"{V}/sobjects/Contact/Product_User_Id__c/u-none", params={"updateOnly": "true"}, json={"LastName": "x"}
    )
    assert r.status_code == 404


def test_bulk_errors(api):
    r = api.post(f"{V}/jobs/query", json={"operation": "query", "query": "SELECT Nope FROM Contact"})
    assert r.status_code == 400 and code(r) == "INVALID_FIELD"
    r = api.post(f"{V}/jobs/query", json={"operation": "query", "query": "SELECT COUNT() FROM Contact"})
    assert r.status_code == 400 and code(r) == "INVALIDJOB"
    r = api.post(
        f"{V}/jobs/query", json={"operation": "query", "query": "SELECT Id, (SELECT Id FROM Contacts) FROM Account"}
    )
    assert r.status_code == 400 and code(r) == "INVALIDJOB"
    r = api.post(f"{V}/jobs/ingest", json={"object": "Contact", "operation": "merge"})
    assert r.status_code == 400 and code(r) == "INVALIDJOB"
    r = api.post(f"{V}/jobs/ingest", json={"object": "Contact", "operation": "upsert", "externalIdFieldName": "Email"})
    assert r.status_code == 400 and code(r) == "INVALIDJOB"
    r = api.post(f"{V}/jobs/ingest", json={"object": "Nope", "operation": "insert"})
    assert r.status_code == 404
    job = api.post(f"{V}/jobs/ingest", json={"object": "Contact", "operation": "insert"}).json()
    r = api.put(
        f"{V}/jobs/ingest/{job['id']}/batches", data=b"LastName\nx\n", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    csv_body = b'LastName,Email\nGood,good@x.example\n"Unclosed,x\n'
    r = api.put(f"{V}/jobs/ingest/{job['id']}/batches", data=csv_body, headers={"Content-Type": "text/csv"})
    assert r.status_code == 201
    r = api.put(f"{V}/jobs/ingest/{job['id']}/batches", data=csv_body, headers={"Content-Type": "text/csv"})
    assert r.status_code == 400 and code(r) == "INVALIDJOBSTATE"
    api.patch(f"{V}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    info = api.get(f"{V}/jobs/ingest/{job['id']}").json()
    assert info["state"] == "Failed" and "InvalidBatch" in info["errorMessage"]
    assert (
        api.get(f"{V}/query/", params={"q": "SELECT COUNT() FROM Contact WHERE LastName = 'Good'"}).json()["totalSize"]
        == 0
    )
    r = api.get(f"{V}/jobs/query/{job['id']}/results")
    assert r.status_code == 404
    r = api.get(f"{V}/jobs/query/750000000000001AAA")
    assert r.status_code == 404 and code(r) == "NOT_FOUND"


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Contact WHERE Email = '\x00'",
        "SELECT Id FROM Contact WHERE Seats__c > 1e400",
        "SELECT Id FROM Contact WHERE Name LIKE '%\\'%' ORDER BY Name NULLS LAST LIMIT 99999999999",
        "SELECT " + ", ".join(["Id"] * 2) + " FROM Contact",
        "SELECT Id FROM Contact WHERE Email IN ()",
        ";DROP TABLE Contact;--",
        'SELECT Id FROM "Contact"',
        "SELECT Id FROM Contact WHERE " + "(" * 5000 + "Email = 'a'" + ")" * 5000,
        "SELECT Id FROM Contact WHERE " + " AND ".join(["NOT Email = 'a'"] * 300),
    ],
)
def test_hostile_queries_never_500(api, soql):
    r = api.get(f"{V}/query/", params={"q": soql})
    assert r.status_code in (200, 400), r.text
    assert "Traceback" not in r.text
    assert api.get(f"{V}/query/", params={"q": "SELECT COUNT() FROM Contact"}).json()["totalSize"] >= 3


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{V}/composite/batch", {"batchRequests": ["not an object"]}),
        (f"{V}/composite/batch", {"batchRequests": [{"method": "GET"}]}),
        (f"{V}/composite/sobjects", {"records": [1, 2]}),
        (f"{V}/composite/sobjects", {"records": [{"LastName": "no type"}]}),
        (f"{V}/jobs/query", ["not", "an", "object"]),
        (f"{V}/jobs/query", {"operation": "query", "query": 5}),
        (f"{V}/jobs/ingest", {"object": 5, "operation": "insert"}),
        (f"{V}/sobjects/Contact", {"LastName": {"nested": 1}}),
    ],
)
def test_hostile_bodies_never_500(api, path, body):
    r = api.post(path, json=body)
    assert 200 <= r.status_code < 500 and "Traceback" not in r.text, r.text


def test_random_write_bodies_never_500(tmp_path):
    """Random fields and hostile values on every write route: a Salesforce error or success, never a 500."""
    import random

    from werkzeug.test import Client

    write_load_dir(tmp_path / "load")
    service = SalesforceService(None, tmp_path / "load")
    client = Client(service.wsgi_app())
    h = {"Authorization": f"Bearer {service.connection_facts('https://x')['session_id']}"}
    values = [None, "", "x", "x" * 300, 5, -1.5, 1e308, True, [], {}, {"a": 1}, "2024-01-02", "2024-01-02T00:00:00Z"]
    values += [ANN, "001000000000001AAA", "bad-id", "a@b.co", "not email", "Pro", "Gold", "\x00", "é" * 100, 10**30]
    rng = random.Random(3)
    statuses = set()
    for _ in range(300):
        obj = rng.choice(["Contact", "Lead", "Account", "Task", "Case", "User", "Organization", "Nope"])
        names = [f.name for f in service.backend.objs.get(obj, service.backend.objs["Contact"]).field_list()]
        body = {rng.choice([*names, "Bogus__c", "attributes"]): rng.choice(values) for _ in range(rng.randint(0, 6))}
        target = rng.choice([ANN, "001000000000001AAA", "bad-id"])
        route = rng.randrange(5)
        if route == 0:
            r = client.post(f"{V}/sobjects/{obj}", json=body, headers=h)
        elif route == 1:
            r = client.patch(f"{V}/sobjects/{obj}/{target}", json=body, headers=h)
        elif route == 2:
            r = client.patch(f"{V}/sobjects/{obj}/Product_User_Id__c/u-{rng.randint(1, 4)}", json=body, headers=h)
        elif route == 3:
            records = [dict(body, attributes={"type": obj})] * 2
            r = client.post(
                f"{V}/composite/sobjects", json={"allOrNone": rng.random() < 0.5, "records": records}, headers=h
            )
        else:
            r = client.delete(f"{V}/sobjects/{obj}/{target}", headers=h)
        statuses.add(r.status_code)
        assert r.status_code < 500, r.get_data(as_text=True)
    service.close()
    assert {200, 400} <= statuses
