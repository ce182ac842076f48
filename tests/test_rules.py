"""Cross-system rules: the vocabulary refused at load with the rule's name and the fix, names checked against
the snapshot (exit 2), and the evaluation checked against an independent reading of the generated files."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from audit_fixtures import ROOT
from crmsandbox.generator import generate
from syncaudit.audit.run import run_audit
from syncaudit.cli import main
from syncaudit.config import load_config
from syncaudit.errors import ConfigError

GOOD = {
    "name": "billing_case",
    "when": {"object": "conversation", "tags": ["billing"], "where": [{"field": "state", "equals": "closed"}]},
    "expect": {"exists": "Case", "on": "conversation"},
}


def _config(tmp: Path, rules: list[dict[str, Any]]) -> Path:
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    raw["rules"] = rules
    p = tmp / "cfg.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def _with(**changes: Any) -> dict[str, Any]:
    rule = orjson.loads(orjson.dumps(GOOD))
    for path, value in changes.items():
        node = rule
        *parents, last = path.split("__")
        for k in parents:
            node = node[k]
        node[last] = value
    return rule


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (_with(when__object="ticket"), "unknown object 'ticket'"),
        (_with(when__where=[{"field": "state", "contains": "clo"}]), "unknown operator 'contains'"),
        (_with(when__within="30 days"), "within '30 days' is not a window"),
        (_with(expect={"exists": "Opportunity", "on": "account"}), "unknown object 'Opportunity'"),
        (_with(expect={"exists": "Case"}), "needs on:"),
        (_with(expect={"linked": "contact"}), "same system"),
        (_with(when__object="company", when__tags=[]), "cannot be reached from company"),
        (_with(when__object="company", when__tags=["vip"]), "tags apply to Intercom conversations and contacts"),
        (_with(fix={"set": {"Type": "Customer"}}), "fix.set goes with expect.linked"),
        (_with(when__where=[{"field": "state", "in": "closed"}]), "takes a list"),
    ],
)
def test_bad_rules_are_refused_at_load_naming_the_rule(tmp_path: Path, rule: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, [rule]))
    text = str(err.value)
    assert "rule 'billing_case'" in text and expected in text, text


def test_the_good_rule_and_the_demo_rules_load(tmp_path: Path) -> None:
    assert [r.name for r in load_config(_config(tmp_path, [GOOD])).rules] == ["billing_case"]
    assert {r.name for r in load_config(ROOT / "config" / "demo.yaml").rules} == {
        "churn_risk_case",
        "customer_company_plan",
        "plan_means_customer",
    }


def test_two_rules_with_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="used twice: billing_case"):
        load_config(_config(tmp_path, [GOOD, GOOD]))


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A seed whose vip-tagged users include Customers and others (neither rule of the tag test is vacuous).
    return generate(tmp_path_factory.mktemp("rules-org") / "load", 500, 24)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (_with(when__where=[{"field": "stat", "equals": "closed"}]), "conversations has no field 'stat' (did you mean 'state'?)"),
        (_with(when__tags=["biling"]), "no Intercom tag 'biling' in the snapshot (did you mean 'billing'?)"),
        (_with(expect={"exists": "Case", "on": "conversation", "where": [{"field": "Priorty", "equals": "High"}]}),
         "Case has no field 'Priorty' (did you mean 'Priority'?)"),
    ],
)  # fmt: skip
def test_names_unknown_to_the_snapshot_exit_2(
    org: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: dict, expected: str
) -> None:
    cfg = _config(tmp_path, [rule])
    code = main(["findings", "--config", str(cfg), "--snapshot", str(org)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "billing_case" in err and "Traceback" not in err, err


def _conversation_logs(org: Path) -> tuple[dict[str, dict], dict[str, set[str]]]:
    """An independent reading of the files: conversations, and which conversation ids each object logs."""
    convs = {
        c["id"]: c for c in map(orjson.loads, (org / "intercom" / "conversations.jsonl").read_bytes().splitlines())
    }
    logs: dict[str, set[str]] = {}
    for obj in ("Task", "Case"):
        with open(org / "salesforce" / f"{obj}.csv", encoding="utf-8") as fh:
            logs[obj] = {
                m.group(1)
                for r in csv.DictReader(fh)
                for m in [re.search(r"conversation/(\d+)", r["Description"])]
                if m
            }
    return convs, logs


def test_exists_and_not_exists_on_the_conversation_match_an_independent_count(org: Path, tmp_path: Path) -> None:
    rules = [
        GOOD,  # closed billing conversations must be logged as a Case
        {**GOOD, "name": "billing_not_task", "expect": {"not_exists": "Task", "on": "conversation"}},
    ]
    cfg = load_config(_config(tmp_path, rules))
    res = run_audit(cfg, str(org), tmp_path / "out")
    got: dict[str, set[str]] = {"billing_case": set(), "billing_not_task": set()}
    for field, records in res.con.execute(
        "SELECT field, records FROM findings_final WHERE kind = 'rule_violation'"
    ).fetchall():
        got[field].add(records[-1])
    convs, logs = _conversation_logs(org)
    billing = {
        cid
        for cid, c in convs.items()
        if c["state"] == "closed" and any(t["name"] == "billing" for t in c["tags"]["tags"])
    }
    assert billing, "the generated org has closed billing conversations"
    assert got["billing_case"] == billing - logs["Case"]
    assert got["billing_not_task"] == billing & logs["Task"]
    m = res.metrics["rules"]["billing_case"]
    assert m["matched"] == len(billing) and m["violations"] == len(got["billing_case"])


def test_the_demo_rules_report_no_routed_look_alike(org: Path, tmp_path: Path) -> None:
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp_path / "data")})
    res = run_audit(cfg, str(org), tmp_path / "out")
    truth = orjson.loads((org / "truth.json").read_bytes())["findings"]
    found = {r[0] for r in res.con.execute("SELECT id FROM findings_final WHERE kind = 'rule_violation'").fetchall()}
    decoys = {f["id"] for f in truth if f["kind"] == "rule_violation" and not f["expected"]}
    planted = {f["id"] for f in truth if f["kind"] == "rule_violation" and f["expected"]}
    assert decoys and planted
    assert not decoys & found  # the hard negatives: routed correctly, or outside the window
    assert planted <= found and found == planted  # ids are computed the same way on both sides
    detail = res.con.execute(
        "SELECT detail, extra FROM findings_final WHERE field = 'churn_risk_case' LIMIT 1"
    ).fetchall()[0]
    assert "expects a Case with IsClosed = False and Priority = High on the account" in detail[0]


def test_a_bad_rule_stops_any_command_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, [_with(when__where=[{"field": "state", "like": "clo%"}])])
    code = main(["findings", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "rule 'billing_case'" in err and "unknown operator 'like'" in err and "equals, not_equals" in err, err


def test_operators_compare_in_the_column_type_and_treat_empty_as_absent() -> None:
    import duckdb

    from syncaudit.audit.context import AuditContext
    from syncaudit.audit.rules import condition_sql
    from syncaudit.rulespec import Condition

    con = duckdb.connect()
    con.execute(
        "CREATE VIEW sf_Case AS SELECT * FROM (VALUES ('a', 'High', false, 2.0), ('b', 'Medium', true, 12.0), "
        "('c', NULL, NULL, NULL), ('d', '  ', false, 3.0)) t(Id, Priority, IsClosed, Seats)"
    )
    ctx = AuditContext(con=con, cfg=load_config(ROOT / "config" / "demo.yaml"), md=None, snapshot_id="x")  # type: ignore[arg-type]

    def ids(cond: dict) -> list[str]:
        sql = condition_sql(ctx, "sf_Case", Condition.model_validate(cond))
        return [r[0] for r in con.execute(f"SELECT Id FROM sf_Case WHERE {sql} ORDER BY Id").fetchall()]

    assert ids({"field": "Priority", "equals": "High"}) == ["a"]
    assert ids({"field": "Priority", "not_equals": "High"}) == ["b", "c", "d"]  # an empty value is not High
    assert ids({"field": "IsClosed", "equals": False}) == ["a", "d"]  # a boolean, not the text 'False'
    assert ids({"field": "Seats", "equals": 12}) == ["b"]  # 12 = 12.0 as numbers
    assert ids({"field": "Priority", "in": ["High", "Medium"]}) == ["a", "b"]
    assert ids({"field": "Priority", "not_in": ["High"]}) == ["b", "c", "d"]
    assert ids({"field": "Priority", "exists": True}) == ["a", "b"]  # blanks are not a value
    assert ids({"field": "Priority", "exists": False}) == ["c", "d"]


def test_a_tagged_contact_reaches_its_linked_person_and_account(org: Path, tmp_path: Path) -> None:
    """contact tags -> a Task on the linked person, and -> the linked Contact's field; checked in Python against
    the raw files and the audit's links (sa_links, tested with the identity findings)."""
    rules = [
        {
            "name": "vip_task",
            "when": {"object": "contact", "tags": ["vip"]},
            "expect": {"exists": "Task", "on": "person"},
        },
        {
            "name": "vip_customer",
            "when": {"object": "contact", "tags": ["vip"]},
            "expect": {"linked": "Contact", "where": [{"field": "Lifecycle_Stage__c", "equals": "Customer"}]},
        },
    ]
    res = run_audit(load_config(_config(tmp_path, rules)), str(org), tmp_path / "out")
    got: dict[str, set[tuple[str, ...]]] = {"vip_task": set(), "vip_customer": set()}
    for field, records in res.con.execute(
        "SELECT field, records FROM findings_final WHERE kind = 'rule_violation'"
    ).fetchall():
        got[field].add(tuple(records))
    links = res.con.execute("SELECT ic_id, sf_id FROM sa_links WHERE sf_object <> 'Account'").fetchall()
    person = dict(links)
    contacts = [orjson.loads(x) for x in (org / "intercom" / "contacts.jsonl").read_bytes().splitlines()]
    tags = {t["id"]: t["name"] for t in orjson.loads((org / "intercom" / "tags.json").read_bytes())["data"]}
    vip = {c["id"] for c in contacts if any(tags.get(t["id"]) == "vip" for t in c["tags"]["data"])}
    with open(org / "salesforce" / "Task.csv", encoding="utf-8") as fh:
        has_task = {r["WhoId"] for r in csv.DictReader(fh)}
    with open(org / "salesforce" / "Contact.csv", encoding="utf-8") as fh:
        stage = {r["Id"]: r["Lifecycle_Stage__c"] for r in csv.DictReader(fh)}
    reached = {c: person[c] for c in vip if c in person}
    assert reached  # some vip contacts are linked
    assert got["vip_task"] == {(sf, ic) for ic, sf in reached.items() if sf not in has_task}
    assert got["vip_customer"] == {(sf, ic) for ic, sf in reached.items() if sf in stage and stage[sf] != "Customer"}
    assert got["vip_task"] and got["vip_customer"]  # neither comparison is vacuous
    m = res.metrics["rules"]["vip_task"]
    assert m["matched"] == len(vip) and m["unresolved"] == len(vip) - len(reached)
