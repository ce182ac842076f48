"""The schema check on hand-made metadata: identifier types, type conflicts, missing fields, governance."""

from __future__ import annotations

import duckdb

from audit_fixtures import ROOT
from syncaudit.audit import findings
from syncaudit.audit.context import AuditContext
from syncaudit.audit.schema import check_schema
from syncaudit.config import load_config
from syncaudit.mapping import Metadata, load_metadata


def _metadata(key_type: str, seats_type: str) -> Metadata:
    md = load_metadata(ROOT / "nonexistent")  # the Intercom standard attributes only
    sf = {
        "Contact": {
            "Product_User_Id__c": {"name": "Product_User_Id__c", "type": key_type},
            "Email": {"name": "Email", "type": "email"},
            "Seats__c": {"name": "Seats__c", "type": "double"},
        }
    }
    md.salesforce.update(sf)
    md.intercom["contact"]["custom_attributes.seats"] = {"data_type": seats_type}
    return md


def _run(md: Metadata) -> list[tuple]:
    cfg = load_config(ROOT / "config" / "demo.yaml")
    fields = [f for f in cfg.mapping.fields if f.name in {"email", "seats"}]
    mapping = cfg.mapping.model_copy(update={"fields": fields, "objects": cfg.mapping.objects[:1]})
    cfg = cfg.model_copy(update={"mapping": mapping})
    con = duckdb.connect()
    findings.create_table(con)
    ctx = AuditContext(con=con, cfg=cfg, md=md, snapshot_id="t")
    check_schema(ctx)
    rows = con.execute("SELECT system, object, field, rule, sf_value, ic_value FROM findings ORDER BY rule").fetchall()
    return rows, ctx.metrics["schema"]


def test_compatible_schema_has_no_conflicts_but_reports_two_way_sync() -> None:
    rows, schema = _run(_metadata("string", "integer"))
    assert rows == []
    assert [r["field"] for r in schema["governance_risks"]] == ["email"]


def test_identifier_and_type_conflicts() -> None:
    rows, _ = _run(_metadata("double", "string"))
    assert ("salesforce", "Contact", "identity_key", "identifier_type", "double", None) in rows
    assert ("both", "Contact", "seats", "type_mismatch", "double", "string") in rows


def test_missing_attribute_is_a_conflict_on_its_side() -> None:
    md = _metadata("string", "integer")
    del md.intercom["contact"]["custom_attributes.seats"]
    rows, _ = _run(md)
    assert rows == [("intercom", "Contact", "seats", "missing_field", None, None)]
