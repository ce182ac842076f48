"""The mapping change log: each audit stores its mapping and rules; a later run tells which findings moved because
of a mapping change (a field's direction, a new rule) and which because of the data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from audit_fixtures import ROOT
from crmsandbox.generator import generate
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config
from syncaudit.mapping_log import attribute_findings, diff_specs
from syncaudit.report.rules_page import change_log, rules_table, rules_trend, worst_accounts


def _cfg(tmp: Path, edit) -> object:  # noqa: ANN001
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    edit(raw)
    p = tmp / f"cfg-{len(list(tmp.glob('cfg-*')))}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(p)


def test_diff_names_each_kind_of_change() -> None:
    prev = {"fields": [{"name": "phone", "direction": "both", "owner": "salesforce", "normalize": []},
                       {"name": "gone", "direction": "both", "owner": "salesforce"}],
            "rules": [], "identity": {"a": 1}, "objects": [], "conversations": {}}  # fmt: skip
    cur = {"fields": [{"name": "phone", "direction": "intercom_to_salesforce", "owner": "intercom", "normalize": ["phone_e164"]},
                      {"name": "new", "direction": "both", "owner": "salesforce"}],
           "rules": [{"name": "r1", "when": {}}], "identity": {"a": 1}, "objects": [], "conversations": {}}  # fmt: skip
    got = {(c["scope"], c["name"], c["change"]) for c in diff_specs(prev, cur)}
    assert got == {
        ("field", "phone", "direction"),
        ("field", "phone", "owner"),
        ("field", "phone", "normalize"),
        ("field", "gone", "removed"),
        ("field", "new", "added"),
        ("rule", "r1", "added"),
    }
    assert diff_specs(None, cur) == [] and diff_specs(cur, cur) == []


def test_findings_are_credited_to_the_change_that_explains_them() -> None:
    changes = [{"scope": "rule", "name": "r1", "change": "added", "before": None, "after": {}}]
    prev = [{"id": "a", "kind": "orphan", "field": None}, {"id": "b", "kind": "field_drift", "field": "phone"}]
    cur = [{"id": "b", "kind": "field_drift", "field": "phone"}, {"id": "c", "kind": "rule_violation", "field": "r1"},
           {"id": "d", "kind": "field_drift", "field": "email"}]  # fmt: skip
    res = attribute_findings(changes, prev, cur)
    assert res["by_change"][0]["appeared"] == 1 and res["by_change"][0]["examples"][0]["id"] == "c"
    assert res["data"] == {"appeared": 1, "disappeared": 1}  # d appeared and a disappeared with the data


@pytest.mark.slow
def test_a_direction_change_and_a_new_rule_explain_what_moved(tmp_path: Path) -> None:
    load = generate(tmp_path / "load", 400, 8)
    out_root = tmp_path / "reports"

    def before(raw: dict) -> None:
        raw["rules"] = raw["rules"][1:]  # churn_risk_case not yet written
        for f in raw["mapping"]["fields"]:
            if f["name"] == "phone":
                f["normalize"] = []  # phone formats differ between the systems: drift everywhere

    first = run_audit(_cfg(tmp_path, before), str(load), tmp_path / "a")
    prev_dir = out_root / "2026-10"
    prev_dir.mkdir(parents=True)
    (prev_dir / "findings.jsonl").write_bytes(Path(first.paths["jsonl"]).read_bytes())
    (prev_dir / "metrics.json").write_text(
        json.dumps({"period": "2026-10", "snapshot_id": "older", "audit": first.metrics}, default=str)
    )

    second = run_audit(_cfg(tmp_path, lambda raw: None), str(load), tmp_path / "b")
    table, by_data, previous = change_log(second.metrics, second.paths["jsonl"], out_root, "this")
    assert previous == "2026-10"
    rows = {r["change"]: r for r in table.to_dict("records")}
    phone = rows["field phone: normalize [] -> ['phone_e164']"]
    assert phone["disappeared"] > 0 and phone["appeared"] == 0
    churn = rows["rule churn_risk_case added"]
    assert churn["appeared"] == second.metrics["rules"]["churn_risk_case"]["violations"] > 0
    assert by_data == {"appeared": 0, "disappeared": 0}  # the same data: every move is the mapping's

    per_rule = rules_table(second.metrics)
    assert set(per_rule["rule"]) == {"churn_risk_case", "customer_company_plan", "plan_means_customer"}
    trend = rules_trend([{"period": "2026-10", "audit": first.metrics}], second.metrics)
    assert set(trend["period"]) == {"2026-10", "this run"}
    worst = worst_accounts(second.paths["jsonl"])
    assert len(worst) and worst["account"].str.startswith("001").all()
