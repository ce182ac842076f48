"""SOQL: the parser (valid and invalid statements) and the semantics of compiled queries run in SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmsandbox.salesforce import SalesforceService
from crmsandbox.salesforce.exceptions import InvalidField, MalformedQuery
from crmsandbox.salesforce.soql import Aggregate, BoolOp, Condition, FieldRef, Literal, parse
from sf_https import ACME, ANN, BOB, CARL, write_load_dir

NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT Id FROM Contact",
        "select id, account.name from contact c where c.email != null",
        "SELECT Id FROM Contact WHERE (A = 1 OR B = 2) AND NOT C = 'x'",
        "SELECT Id FROM Contact WHERE Email IN ('a', 'b') AND Name NOT IN ('c')",
        "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-02T00:00:00Z AND Birthdate < 2000-01-01",
        "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-02T00:00:00.000+01:00",
        "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:30 OR CreatedDate = TODAY",
        "SELECT Id FROM Contact ORDER BY Name DESC NULLS LAST, Id ASC LIMIT 10 OFFSET 20",
        "SELECT COUNT() FROM Contact",
        "SELECT AccountId, COUNT(Id) total FROM Contact GROUP BY AccountId",
        "SELECT FIELDS(STANDARD) FROM Contact",
        "SELECT Id FROM Lead WHERE ConvertedContactId IN (SELECT Id FROM Contact WHERE Email LIKE '%@x.com')",
        "SELECT Id FROM Contact WHERE Name = 'O\\'Neil'",
        "SELECT Id FROM Contact WHERE Seats__c >= -1.5",
    ],
)
def test_parser_accepts(text):
    q = parse(text)
    assert q.sobject.lower() in ("contact", "lead")


def test_parser_builds_the_tree():
    q = parse("SELECT Id, COUNT() FROM Contact WHERE (Email LIKE 'a%' OR NOT Name = null) AND Seats__c IN (1, 2.5)")
    assert isinstance(q.select[0], FieldRef) and isinstance(q.select[1], Aggregate)
    assert isinstance(q.where, BoolOp) and q.where.op == "AND"
    left, right = q.where.args
    assert left.op == "OR" and left.args[1].op == "NOT"
    assert right == Condition("Seats__c", "IN", [Literal("number", 1), Literal("number", 2.5)])
    assert parse("SELECT Id FROM Contact WHERE Name = 'O\\'Neil\\n'").where.value.value == "O'Neil\n"
    assert parse("SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS:7").where.value == Literal(
        "date_literal", "LAST_N_DAYS", 7
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SELECT",
        "SELECT Id",
        "SELECT Id FROM",
        "FROM Contact",
        "SELECT Id FROM Contact WHERE",
        "SELECT Id FROM Contact WHERE Email",
        "SELECT Id FROM Contact WHERE Email = ",
        "SELECT Id FROM Contact WHERE (Email = 'a'",
        "SELECT Id FROM Contact WHERE Email = 'a')",
        "SELECT Id FROM Contact LIMIT",
        "SELECT Id FROM Contact LIMIT -1",
        "SELECT Id FROM Contact ORDER Name",
        "SELECT Id FROM Contact ORDER BY Name NULLS",
        "SELECT Id FROM Contact WHERE Email = 'bad \\q escape'",
        "SELECT Id FROM Contact WHERE CreatedDate = LAST_N_DAYS",
        "SELECT Id FROM Contact WHERE Email NOT = 'a'",
        "SELECT Id FROM Contact extra tokens",
        "SELECT Id FROM Contact WHERE Email = 'a' #",
        "SELECT FIELDS(SOME) FROM Contact",
    ],
)
def test_parser_rejects(text):
    with pytest.raises(MalformedQuery):
        parse(text)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("soql")
    write_load_dir(root / "load")
    service = SalesforceService(None, root / "load", clock=lambda: NOW.timestamp())
    engine = service.engine

    def query(text: str, include_deleted: bool = False):
        cq = engine.compile(text, include_deleted)
        cur = engine.open(cq, "json", 2000, register=False)
        if cq.count_only:
            return cur.total
        return engine.records(cq, engine.fetch(cur, 0, 2000), "59.0")

    query.service = service
    yield query
    service.close()


def ids(records):
    return [r["Id"] for r in records]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Email = 'ANN@ACME.EXAMPLE'", [ANN]),  # text comparison is case-insensitive
        ("Email = null", [CARL]),
        ("Email != null", [ANN, BOB]),
        ("Email != 'ann@acme.example'", [BOB, CARL]),  # != keeps nulls, as in SOQL
        ("Email LIKE '%@acme%'", [ANN, BOB]),
        ("LastName LIKE 'o\\'n%'", [BOB]),
        ("FirstName IN ('Ann', 'Bob')", [ANN, BOB]),
        ("FirstName NOT IN ('Ann')", [BOB, CARL]),
        ("Seats__c > 2", [ANN]),
        ("Seats__c <= 1.5", [CARL]),
        ("HasOptedOutOfEmail = true", [BOB]),
        ("NOT HasOptedOutOfEmail = true", [ANN, CARL]),
        ("(Plan_Type__c = 'Pro' OR Plan_Type__c = 'Free') AND Email LIKE 'a%'", [ANN]),
        ("Account.AccountNumber = 'ACME-001'", [ANN, BOB]),
        ("Account.Name = null", [CARL]),
        (f"AccountId = '{ACME[:15]}'", [ANN, BOB]),
        ("CreatedDate > 2024-01-03T00:00:00Z", [BOB, CARL]),
        ("CreatedDate >= 2024-01-03T08:00:00+02:00", [BOB, CARL]),
        ("CreatedDate < 2024-01-03T06:00:00.001Z", [ANN, BOB]),
        ("SystemModstamp > 2024-01-03T06:00:00.000+0000", [ANN, CARL]),  # Salesforce's own +0000 form
        ("SystemModstamp >= 2024-02-01T01:00:00+01:00 AND SystemModstamp <= 2024-02-01T00:00:00Z", [ANN]),
        ("Id IN (SELECT WhoId FROM Task WHERE Status = 'Completed')", [ANN]),
        ("Id NOT IN (SELECT ConvertedContactId FROM Lead WHERE IsConverted = true)", [BOB, CARL]),
    ],
)
def test_where_semantics(run, where, expected):
    assert ids(run(f"SELECT Id FROM Contact WHERE {where} ORDER BY Id")) == expected


def test_date_literals_follow_the_clock(run):
    svc = run.service
    with svc.backend.store.write() as c:
        today = svc.backend.insert(c, "Account", {"Name": "Today Inc"})
    assert ids(run("SELECT Id FROM Account WHERE CreatedDate = TODAY")) == [today]
    assert ids(run("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:3")) == [today]
    assert ids(run("SELECT Id FROM Account WHERE CreatedDate = THIS_MONTH")) == [today]
    assert run("SELECT COUNT() FROM Account WHERE CreatedDate = YESTERDAY") == 0
    assert run("SELECT COUNT() FROM Account WHERE CreatedDate < TODAY") == 2
    assert run("SELECT COUNT() FROM Account WHERE CreatedDate > TODAY") == 0
    assert run("SELECT COUNT() FROM Account WHERE CreatedDate = LAST_N_DAYS:365") == 3
    with svc.backend.store.write() as c:
        svc.backend.delete(c, "Account", today)


def test_order_limit_offset_and_nulls(run):
    assert [r["FirstName"] for r in run("SELECT FirstName FROM Contact ORDER BY FirstName")] == [None, "Ann", "Bob"]
    assert [r["FirstName"] for r in run("SELECT FirstName FROM Contact ORDER BY FirstName NULLS LAST")] == [
        "Ann",
        "Bob",
        None,
    ]
    assert [r["FirstName"] for r in run("SELECT FirstName FROM Contact ORDER BY FirstName DESC")] == [
        "Bob",
        "Ann",
        None,
    ]
    assert ids(run("SELECT Id FROM Contact ORDER BY Id LIMIT 2")) == [ANN, BOB]
    assert ids(run("SELECT Id FROM Contact ORDER BY Id LIMIT 1 OFFSET 1")) == [BOB]
    assert ids(run("SELECT Id FROM Contact LIMIT 1 OFFSET 2")) == [CARL]


def test_record_shape_nested_parents_and_types(run):
    (ann,) = run(
        f"SELECT Id, Account.Name, Account.Owner.Email, HasOptedOutOfEmail, Seats__c, CreatedDate FROM Contact WHERE Id = '{ANN}'"
    )
    assert ann["attributes"] == {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{ANN}"}
    assert ann["Account"]["attributes"]["type"] == "Account" and ann["Account"]["Name"] == "Acme Corp"
    assert ann["Account"]["Owner"]["Email"] == "admin@sandbox.example"
    assert ann["HasOptedOutOfEmail"] is False and ann["Seats__c"] == 5.0
    assert ann["CreatedDate"] == "2024-01-02T17:38:59.000+0000"
    (carl,) = run(f"SELECT Account.Name, Account.Owner.Email FROM Contact WHERE Id = '{CARL}'")
    assert carl["Account"] is None
    (task,) = run("SELECT Who.Name, Who.Email, What.Name FROM Task")
    assert task["Who"]["attributes"]["type"] == "Contact" and task["Who"]["Email"] == "ann@acme.example"
    assert task["What"]["attributes"]["type"] == "Account"


def test_count_aggregates_fields_macro(run):
    assert run("SELECT COUNT() FROM Contact") == 3
    rows = run("SELECT AccountId, COUNT(Id) n, MAX(Seats__c) FROM Contact GROUP BY AccountId ORDER BY AccountId")
    assert [(r["AccountId"], r["n"], r["expr0"]) for r in rows] == [(None, 1, 1.5), (ACME, 2, 5.0)]
    assert rows[0]["attributes"] == {"type": "AggregateResult"}
    (rec,) = run(f"SELECT FIELDS(CUSTOM) FROM Contact WHERE Id = '{ANN}' LIMIT 1")
    assert set(rec) - {"attributes"} == {
        "Product_User_Id__c",
        "Plan_Type__c",
        "Trial_Status__c",
        "Partner_Code__c",
        "Seats__c",
    }
    with pytest.raises(MalformedQuery):
        run("SELECT Email, COUNT(Id) FROM Contact GROUP BY AccountId")


def test_query_all_sees_the_recycle_bin(run):
    svc = run.service
    with svc.backend.store.write() as c:
        gone = svc.backend.insert(c, "Contact", {"LastName": "Gone"})
        svc.backend.delete(c, "Contact", gone)
    assert gone not in ids(run("SELECT Id FROM Contact"))
    (rec,) = run(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{gone}'", include_deleted=True)
    assert rec["IsDeleted"] is True


@pytest.mark.parametrize(
    "text",
    [
        "SELECT Id FROM Contact WHERE CreatedDate = 2024-01-02",
        "SELECT Id FROM Contact WHERE Birthdate = 2024-01-02T00:00:00Z",
        "SELECT Id FROM Contact WHERE Seats__c = '5'",
        "SELECT Id FROM Contact WHERE Seats__c LIKE '5%'",
        "SELECT Id FROM Contact WHERE LastName = TODAY",
        "SELECT Who.Account.Name FROM Task",
    ],
)
def test_type_errors(run, text):
    with pytest.raises(InvalidField):
        run(text)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT Id, Name, Email, HasOptedOutOfEmail, Seats__c, CreatedDate, Birthdate FROM Contact",
        "SELECT Id, Account.Name, Account.Owner.Email, Account.NumberOfEmployees, LastName FROM Contact",
        "SELECT Subject, Who.Name, What.Name, Who.Email, Owner.Alias FROM Task",
        "SELECT Id, IsConverted, ConvertedContact.Email, ConvertedAccount.AccountNumber FROM Lead ORDER BY Id",
        "SELECT FIELDS(ALL) FROM Contact LIMIT 5",
    ],
)
def test_sqlite_rendered_records_equal_the_python_shaper(run, text):
    """REST pages are rendered to JSON inside SQLite; they must be exactly what the Python shaper builds."""
    import json

    from crmsandbox.salesforce.query import record_sql

    engine = run.service.engine
    cq = engine.compile(text, False)
    sql = record_sql(cq, "59.0")
    python = engine.records(cq, engine.fetch(engine.open(cq, "json", 2000, register=False), 0, 2000), "59.0")
    if sql is None:  # too wide for one json_object(): the Python shaper serves it
        assert text.startswith("SELECT FIELDS(ALL)")
        return
    cur = engine.open_rest(cq, 2000, "59.0")
    assert cur.mode == "record"
    rendered = [json.loads(r[0]) for r in engine.fetch(cur, 0, 2000)]
    assert rendered == python and len(rendered) > 0
    assert [list(r) for r in rendered] == [list(r) for r in python]  # same key order too


def test_random_token_soup_only_raises_salesforce_errors(run):
    """Whatever a client sends, compiling and running it raises a Salesforce error or works: never a crash."""
    import random

    from crmsandbox.salesforce.exceptions import SalesforceError

    pool = (
        "SELECT FROM WHERE AND OR NOT IN LIKE ORDER BY LIMIT OFFSET GROUP ASC DESC NULLS FIRST LAST COUNT ( ) , = != "
        "< > <= >= Id Email Name Account.Name Who.Name Seats__c CreatedDate Contact Lead Task 'x' '%a%' 5 2.5 -1 "
        "null true false TODAY LAST_N_DAYS : 3 2024-01-02 2024-01-02T00:00:00Z FIELDS ALL MAX INCLUDES"
    ).split()
    rng = random.Random(20261126)
    ok = failed = 0
    for _ in range(250):
        words = ["SELECT", rng.choice(["Id", "Name", "COUNT()", "Id, Email"]), "FROM", rng.choice(["Contact", "Lead"])]
        words += [rng.choice(pool) for _ in range(rng.randint(0, 12))]
        try:
            run(" ".join(words))
            ok += 1
        except SalesforceError:
            failed += 1
    assert ok + failed == 250 and failed > 0


def test_parent_to_child_subqueries(run):
    recs = run(
        "SELECT Name, (SELECT LastName FROM Contacts WHERE Email != null ORDER BY LastName DESC), "
        "(SELECT Subject FROM Tasks) FROM Account ORDER BY Name"
    )
    acme, globex = recs
    assert list(acme) == ["attributes", "Name", "Contacts", "Tasks"]
    assert acme["Contacts"]["totalSize"] == 2 and acme["Contacts"]["done"] is True
    assert [c["LastName"] for c in acme["Contacts"]["records"]] == ["O'Neil", "Lee"]
    assert acme["Contacts"]["records"][0]["attributes"]["type"] == "Contact"
    assert acme["Tasks"]["records"][0]["Subject"] == "Intercom conversation"
    assert globex["Contacts"] is None and globex["Tasks"] is None
    (ann,) = run(
        f"SELECT Id, (SELECT Id FROM Tasks WHERE Status = 'Completed' LIMIT 1) FROM Contact WHERE Id = '{ANN}'"
    )
    assert ann["Tasks"]["totalSize"] == 1


def test_grouped_field_alias_having_and_order_by_an_aggregate(run):
    """Valid SOQL that simple-salesforce users send: aliases on grouped fields, HAVING, ORDER BY COUNT()."""
    rows = run("SELECT AccountId acct, COUNT(Id) cnt FROM Contact GROUP BY AccountId ORDER BY COUNT(Id) DESC")
    assert [(r["acct"], r["cnt"]) for r in rows] == [(ACME, 2), (None, 1)]
    assert "AccountId" not in rows[0]
    rows = run("SELECT AccountId, COUNT(Id) FROM Contact GROUP BY AccountId HAVING COUNT(Id) > 1")
    assert [(r["AccountId"], r["expr0"]) for r in rows] == [(ACME, 2)]
    rows = run("SELECT AccountId FROM Contact GROUP BY AccountId HAVING COUNT(Id) > 5 OR AccountId = null")
    assert [r["AccountId"] for r in rows] == [None]
    rows = run("SELECT AccountId, MAX(Seats__c) top FROM Contact GROUP BY AccountId ORDER BY MAX(Seats__c) ASC")
    assert [r["top"] for r in rows] == [1.5, 5.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT Email e FROM Contact", "Only aggregate expressions use field aliasing"),
        ("SELECT Id FROM Contact WHERE COUNT(Id) > 1", "HAVING"),
        ("SELECT Id FROM Contact ORDER BY COUNT(Id)", "aggregate query"),
        ("SELECT AccountId, COUNT(Id) n, MAX(Seats__c) n FROM Contact GROUP BY AccountId", "duplicate alias"),
    ],
)
def test_aliases_and_aggregates_where_salesforce_refuses_them(run, text, message):
    with pytest.raises(MalformedQuery, match=message):
        run(text)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("SELECT Id, Nope FROM Contact", 12),
        ("SELECT Id FROM Contact WHERE Email = 'a' AND Nope__c = 1", 46),
        ("SELECT Id FROM Contact ORDER BY Bogus", 33),
        ("SELECT Id, Account.Nope FROM Contact", 12),
        ("SELECT Id, Bogus.Name FROM Contact", 12),
        ("SELECT AccountId, COUNT(Nope) FROM Contact GROUP BY AccountId", 25),
    ],
)
def test_invalid_field_names_the_row_and_column(run, text, column):
    with pytest.raises(InvalidField) as info:
        run(text)
    message = info.value.message
    assert f"ERROR at Row:1:Column:{column}\n" in message
    snippet, caret = message.split("\n")[1:3]
    assert snippet == text and caret == " " * (column - 1) + "^"


def test_unknown_object_names_its_column(run):
    from crmsandbox.salesforce.exceptions import InvalidType

    with pytest.raises(InvalidType, match="Row:1:Column:16\n"):
        run("SELECT Id FROM Contactz")
