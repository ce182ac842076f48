"""The rule_fixups policy: what it plans for each violation, and when a person decides instead."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from audit_fixtures import ROOT
from syncaudit.changes.context import PlanContext
from syncaudit.changes.rule_fixups import rule_fixups, rule_record_key
from syncaudit.config import load_config
from syncaudit.rulespec import validate_rules

ACC, ACC2, LEAD, CONV = "001Dn0000000001AAA", "001Dn0000000002AAA", "00QDn0000000001AAA", "100000001"


def _finding(rule: str, anchors: list[str], conf: float = 1.0, fid: str = "f1") -> dict[str, Any]:
    return {
        "id": fid,
        "kind": "rule_violation",
        "system": "both",
        "object": "conversation",
        "field": rule,
        "records": [*anchors, CONV],
        "extra": {"rule": rule, "anchors": anchors, "missing": "a Case", "link_confidence": conf},
    }


def _plan(findings: list[dict[str, Any]], rules: list[dict[str, Any]] | None = None) -> list:
    cfg = load_config(ROOT / "config" / "demo.yaml")
    if rules is not None:
        cfg = cfg.model_copy(update={"rules": validate_rules(rules)})
    return rule_fixups(PlanContext(cfg, duckdb.connect(), findings), {})


def test_one_keyed_create_per_rule_and_account() -> None:
    ops = _plan([_finding("churn_risk_case", [ACC], fid="a"), _finding("churn_risk_case", [ACC], fid="b")])
    assert len(ops) == 1  # two conversations on one Account: one Case
    op = ops[0]
    key = rule_record_key("churn_risk_case", ACC)
    assert (
        op.op == "upsert" and op.object == "Case" and op.key == key and op.match == {"Intercom_Conversation_Id__c": key}
    )
    assert op.after == {
        "AccountId": ACC,
        "Subject": "Churn risk flagged in Intercom",
        "Priority": "High",
        "Status": "New",
        "Origin": "Web",
        "Intercom_Conversation_Id__c": key,
    }
    assert key == rule_record_key("churn_risk_case", ACC) != rule_record_key("other_rule", ACC)


def test_a_person_decides_when_the_evidence_is_not_exact() -> None:
    ops = _plan(
        [
            _finding("churn_risk_case", [ACC, ACC2], fid="several"),
            _finding("churn_risk_case", [ACC], conf=0.93, fid="fuzzy"),
            _finding("customer_company_plan", ["6641d4f91bb69f9f22000008"], fid="nofix"),
            _finding("gone_rule", [ACC], fid="gone"),
        ]
    )
    notes = {op.finding_id: (op.op, op.note) for op in ops}
    assert all(kind == "review" for kind, _ in notes.values())
    assert "reaches 2 records" in notes["several"][1]
    assert "probabilistic link (0.93)" in notes["fuzzy"][1]
    assert "has no fix" in notes["nofix"][1]
    assert "no longer in the config" in notes["gone"][1]


def test_a_case_is_never_created_on_a_lead() -> None:
    rules = [
        {
            "name": "ask_case",
            "when": {"object": "conversation", "tags": ["billing"]},
            "expect": {"exists": "Case", "on": "person"},
            "fix": {"create": {"Subject": "Billing"}},
        }
    ]
    ops = _plan([_finding("ask_case", [LEAD])], rules)
    assert [op.op for op in ops] == ["review"] and "takes a Contact" in ops[0].note


@pytest.mark.parametrize("n", [3, 12])
def test_set_fixes_read_their_records_in_one_query_per_object(n: int, monkeypatch) -> None:
    """A look-up per violation scanned the whole Account table each time (hours at ten million a side)."""
    con = duckdb.connect()
    ids = [f"001{i:012d}AAA" for i in range(n)]
    con.execute(
        "CREATE TABLE sf_Account AS SELECT unnest(?::VARCHAR[]) AS Id, 'Prospect' AS Type, "
        "TIMESTAMP '2026-01-01' AS SystemModstamp",
        [ids],
    )
    queries: list[str] = []
    real = PlanContext.prefetch

    def spy(self, system, obj, want):  # noqa: ANN001, ANN202
        want = list(want)
        if any((system, obj, i) not in self._cache for i in want):
            queries.append(obj)
        real(self, system, obj, want)

    monkeypatch.setattr(PlanContext, "prefetch", spy)
    cfg = load_config(ROOT / "config" / "demo.yaml")
    findings = [_finding("plan_means_customer", [a], fid=f"f{i:02d}") for i, a in enumerate(ids)]
    ops = rule_fixups(PlanContext(cfg, con, findings), {})
    assert [o.key for o in ops if o.op == "update"] == ids
    assert all(o.after == {"Type": "Customer"} for o in ops)
    assert queries == ["Account"]
