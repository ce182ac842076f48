"""Which side is newer, per field: without field history the audit says "unknown" instead of guessing from record
timestamps; Intercom's updated_at is used only as the upper bound it is, and said so."""

from __future__ import annotations

import json
from pathlib import Path

from audit_fixtures import ROOT, con_, write_org_pair
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config


def demo_cfg(tmp: Path):  # noqa: ANN201
    # the hand-written org pair has no Case Priority, Account Type or tags: the demo's rules do not apply to it
    return load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp / "data"), "rules": []})


def _drift(res, sf_id: str, field: str) -> dict:  # noqa: ANN001
    rows = res.findings_df().to_dict("records")
    return next(f for f in rows if f["kind"] == "field_drift" and f["field"] == field and sf_id in f["records"])


def test_without_field_history_record_timestamps_are_not_taken_for_a_field(tmp_path: Path) -> None:
    write_org_pair(tmp_path / "load")
    (tmp_path / "load" / "salesforce" / "ContactHistory.csv").unlink()
    res = run_audit(demo_cfg(tmp_path), str(tmp_path / "load"), tmp_path / "out")
    # Contact 11's record changed after Intercom's and contact 2's before, but nothing says either change was
    # Plan_Type__c (LastModifiedDate moves on any field's edit): unknown, both.
    for n in (11, 2):
        f = _drift(res, con_(n), "plan_type")
        assert "which side is newer is unknown" in f["detail"] and "no field history of Plan_Type__c" in f["detail"]
        assert json.loads(f["extra"])["newer"] is None and f["severity"] == "medium"
    assert res.metrics["drift"]["newer_side"]["unknown"] >= 2


def test_with_field_history_salesforce_is_newer_exactly(tmp_path: Path) -> None:
    write_org_pair(tmp_path / "load")
    res = run_audit(demo_cfg(tmp_path), str(tmp_path / "load"), tmp_path / "out")
    f = _drift(res, con_(11), "plan_type")
    extra = json.loads(f["extra"])
    assert extra["newer"] == "salesforce" and extra["newer_basis"] == "field_history"
    assert extra["changed_by"] == "non_owner" and "Salesforce field history" in f["detail"]
    # Intercom's record changed after Salesforce last set contact 2's Plan_Type__c: Intercom newer, from Intercom's
    # record time, and the detail says that is the best Intercom offers.
    g = _drift(res, con_(2), "plan_type")
    assert json.loads(g["extra"])["newer_basis"] == "intercom_record_time"
    assert "Intercom keeps no per-field time" in g["detail"]
