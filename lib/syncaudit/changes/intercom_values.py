"""Values written to Intercom, converted by the data attribute's ``data_type`` (any attribute, any name).

A value read from Salesforce arrives as a float (every Salesforce number is a double in the snapshot), a
string, a boolean or an ISO datetime; Intercom refuses ``12.0`` for an integer attribute and wants Unix
seconds for dates. The types come from the snapshot's ``intercom/data_attributes.json`` (standard and
custom attributes alike), so no field name is special-cased.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

CUSTOM = "custom_attributes."
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def attribute_types(data_attributes: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """{(model, mapping path): data_type}; custom attributes under ``custom_attributes.<name>``."""
    out = {}
    for a in data_attributes:
        name, model, kind = a.get("name"), a.get("model"), a.get("data_type")
        if not name or not model or not kind:
            continue
        out[(str(model), f"{CUSTOM}{name}" if a.get("custom") else str(name))] = str(kind)
    return out


def read_attribute_types(snapshot_path: str | Path | None) -> dict[tuple[str, str], str]:
    if not snapshot_path:
        return {}
    path = Path(snapshot_path) / "intercom" / "data_attributes.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return attribute_types(data.get("data", []) if isinstance(data, dict) else data)


def to_intercom(value: Any, data_type: str | None) -> Any:
    """``value`` in the JSON type of ``data_type``; a value that does not fit is left as it is (Intercom
    then refuses it with a message naming the attribute, which the journal keeps)."""
    if value is None or data_type is None:
        return value
    try:
        if data_type == "integer":
            if isinstance(value, bool):
                return int(value)
            number = float(value)
            return int(number) if number.is_integer() else value
        if data_type == "float":
            return float(value) if not isinstance(value, bool) else value
        if data_type == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            return True if text in _TRUE else False if text in _FALSE else value
        if data_type in {"date", "datetime"}:
            if isinstance(value, datetime):
                return int(value.timestamp())
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
            return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
        if data_type == "string" and not isinstance(value, str):
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            return str(value).lower() if isinstance(value, bool) else str(value)
    except (TypeError, ValueError):
        return value
    return value


def typed_for_write(path: str, value: Any, data_type: str | None) -> Any:
    """A custom attribute takes its data_type; a standard one only loses Salesforce's float form (``size``
    12.0 -> 12): references such as ``owner_id`` keep the id form the snapshot and the verify step use."""
    if path.startswith(CUSTOM) or isinstance(value, float):
        return to_intercom(value, data_type)
    return value
