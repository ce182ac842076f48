"""Workspace catalog: admins and data attributes (standard and custom, with their data types)."""

from __future__ import annotations

import json
import re
import sqlite3

from crmsandbox.intercom.documents import dumps
from crmsandbox.intercom.exceptions import ParameterInvalid

# (name, data_type, label) of the standard attributes listed by GET /data_attributes.
STANDARD_ATTRIBUTES: dict[str, list[tuple[str, str]]] = {
    "contact": [
        ("name", "string"),
        ("email", "string"),
        ("phone", "string"),
        ("external_id", "string"),
        ("role", "string"),
        ("owner_id", "integer"),
        ("created_at", "date"),
        ("updated_at", "date"),
        ("signed_up_at", "date"),
        ("last_seen_at", "date"),
        ("last_contacted_at", "date"),
        ("last_replied_at", "date"),
        ("last_email_opened_at", "date"),
        ("last_email_clicked_at", "date"),
        ("unsubscribed_from_emails", "boolean"),
        ("marked_email_as_spam", "boolean"),
        ("has_hard_bounced", "boolean"),
        ("language_override", "string"),
        ("location.country", "string"),
        ("location.region", "string"),
        ("location.city", "string"),
    ],
    "company": [
        ("name", "string"),
        ("company_id", "string"),
        ("last_request_at", "date"),
        ("remote_created_at", "date"),
        ("user_count", "integer"),
        ("session_count", "integer"),
        ("monthly_spend", "float"),
        ("plan.name", "string"),
        ("size", "integer"),
        ("website", "string"),
        ("industry", "string"),
    ],
}
DATA_TYPES = {"string", "integer", "float", "boolean", "date"}
CREATE_DATA_TYPES = DATA_TYPES | {"datetime", "options"}
NAME_RE = re.compile(r"^[\w\-$€£¥]+$")


def default_admin() -> dict:
    return {"id": "991267001", "name": "Sandbox Admin", "email": "admin@sandbox.example"}


def normalize_admin(a: dict) -> dict:
    """An admin document with every field the admin schema lists."""
    doc = {
        "type": "admin",
        "id": str(a["id"]),
        "name": a.get("name") or "",
        "email": a.get("email") or "",
        "job_title": a.get("job_title") or "",
        "away_mode_enabled": bool(a.get("away_mode_enabled", False)),
        "away_mode_reassign": bool(a.get("away_mode_reassign", False)),
        "has_inbox_seat": bool(a.get("has_inbox_seat", True)),
        "team_ids": list(a.get("team_ids") or []),
        "avatar": a.get("avatar"),
    }
    return doc


def attribute_doc(model: str, name: str, data_type: str, *, custom: bool, now: int, extra: dict | None = None) -> dict:
    """A data_attribute document (``id`` is filled in for custom attributes from the row's seq)."""
    doc = {
        "type": "data_attribute",
        "model": model,
        "name": name,
        "full_name": f"custom_attributes.{name}" if custom else name,
        "label": name,
        "description": "",
        "data_type": data_type,
        "api_writable": True,
        "ui_writable": True,
        "messenger_writable": False,
        "custom": custom,
        "archived": False,
        "created_at": now,
        "updated_at": now,
    }
    doc.update(extra or {})
    return doc


def insert_data_attributes(db: sqlite3.Connection, loaded: list[dict], now: int) -> None:
    """Store loaded attributes, then add the standard ones the file did not list."""
    seen = set()
    for a in loaded:
        model = a.get("model", "contact")
        custom = bool(a.get("custom", str(a.get("full_name", "")).startswith("custom_attributes.")))
        data_type = a.get("data_type", "string")
        if data_type not in DATA_TYPES:
            data_type = "date" if data_type == "datetime" else "string"
        doc = attribute_doc(model, a["name"], data_type, custom=custom, now=a.get("created_at") or now)
        doc.update({k: v for k, v in a.items() if k in doc or k in ("options", "admin_id", "description")})
        doc["data_type"] = data_type
        seq = a.get("id") if custom else None
        db.execute(
            "INSERT OR REPLACE INTO data_attributes(seq, model, name, custom, doc) VALUES (?, ?, ?, ?, ?)",
            (seq, model, a["name"], int(custom), dumps(doc)),
        )
        seen.add((model, a["name"], custom))
    for model, attrs in STANDARD_ATTRIBUTES.items():
        for name, data_type in attrs:
            if (model, name, False) not in seen:
                db.execute(
                    "INSERT OR IGNORE INTO data_attributes(model, name, custom, doc) VALUES (?, ?, 0, ?)",
                    (model, name, dumps(attribute_doc(model, name, data_type, custom=False, now=now))),
                )


def render_attribute(seq: int, custom: int, doc_json: str) -> dict:
    doc = json.loads(doc_json)
    if custom:
        doc["id"] = seq
    else:
        doc.pop("id", None)
    return doc


def custom_attribute_types(db: sqlite3.Connection, model: str) -> dict[str, str]:
    """name -> data_type of the model's custom attributes."""
    out = {}
    for name, doc in db.execute("SELECT name, doc FROM data_attributes WHERE model = ? AND custom = 1", (model,)):
        out[name] = json.loads(doc)["data_type"]
    return out


def check_custom_attributes(values: object, types: dict[str, str]) -> dict:
    """Validate a custom_attributes payload against the model's attribute types (400 parameter_invalid)."""
    if not isinstance(values, dict):
        raise ParameterInvalid("custom_attributes must be an object", field="custom_attributes")
    for key, value in values.items():
        if key not in types:
            raise ParameterInvalid(
                f"Custom attribute '{key}' does not exist; create it with POST /data_attributes first",
                field=f"custom_attributes.{key}",
            )
        if value is None:
            continue
        t = types[key]
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "date": isinstance(value, int) and not isinstance(value, bool),
        }.get(t, True)
        if ok and isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) < 2**62:
            ok = False
        if not ok:
            raise ParameterInvalid(
                f"Custom attribute '{key}' expects a {t} value, got {json.dumps(value)}",
                field=f"custom_attributes.{key}",
            )
    return values
