"""Intercom writes typed by the data attribute's data_type, whatever the attribute is called."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from syncaudit.changes.context import PlanContext, update_op
from syncaudit.changes.intercom_values import attribute_types, to_intercom
from syncaudit.config import Config

ATTRS = [
    {"name": "size", "model": "company", "data_type": "integer", "custom": False},
    {"name": "licences", "model": "contact", "data_type": "integer", "custom": True},
    {"name": "arr", "model": "contact", "data_type": "float", "custom": True},
    {"name": "beta", "model": "contact", "data_type": "boolean", "custom": True},
    {"name": "renews", "model": "contact", "data_type": "date", "custom": True},
    {"name": "code", "model": "contact", "data_type": "string", "custom": True},
]


@pytest.mark.parametrize(
    ("value", "data_type", "expected"),
    [
        (12.0, "integer", 12),
        ("7", "integer", 7),
        (12.5, "integer", 12.5),  # does not fit: left for Intercom to refuse, by name
        (3, "float", 3.0),
        ("TRUE", "boolean", True),
        ("no", "boolean", False),
        ("2026-03-01T00:00:00Z", "date", 1772323200),
        (datetime(2026, 3, 1, tzinfo=UTC), "date", 1772323200),
        (4711.0, "string", "4711"),
        (True, "string", "true"),
        (None, "integer", None),
        ("x", None, "x"),
    ],
)
def test_values_take_the_attribute_type(value: object, data_type: str | None, expected: object) -> None:
    got = to_intercom(value, data_type)
    assert got == expected and type(got) is type(expected)


def test_types_are_keyed_by_model_and_mapping_path() -> None:
    types = attribute_types(ATTRS)
    assert types[("company", "size")] == "integer"
    assert types[("contact", "custom_attributes.licences")] == "integer"
    assert ("contact", "licences") not in types


def test_planned_intercom_updates_are_typed_from_the_snapshot(tmp_path: Path) -> None:
    (tmp_path / "intercom").mkdir()
    (tmp_path / "intercom" / "data_attributes.json").write_text(json.dumps(ATTRS))
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE ic_contacts AS SELECT 'c1' AS id, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS updated_at,
           3 AS "custom_attributes.licences", false AS "custom_attributes.beta", 'A' AS "custom_attributes.code" """
    )
    ctx = PlanContext(
        Config.model_validate({"name": "t", "sandbox": {}}), con, [], snapshot=SimpleNamespace(path=tmp_path)
    )
    after = {"custom_attributes.licences": 12.0, "custom_attributes.beta": "true", "custom_attributes.code": 4711.0}
    op = update_op(ctx, "intercom", "contact", "c1", after, None, "push_owner_value")
    assert op is not None
    assert op.after == {
        "custom_attributes.licences": 12,
        "custom_attributes.beta": True,
        "custom_attributes.code": "4711",
    }
    assert type(op.after["custom_attributes.licences"]) is int


def test_standard_references_keep_their_id_form() -> None:
    from syncaudit.changes.intercom_values import typed_for_write

    assert typed_for_write("owner_id", "991", "integer") == "991"
    assert typed_for_write("size", 250.0, "integer") == 250
    assert typed_for_write("custom_attributes.licences", "12", "integer") == 12
