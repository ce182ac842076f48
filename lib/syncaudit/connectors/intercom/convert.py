"""Intercom JSON objects -> typed Arrow tables in the docs/contracts.md column layout."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from syncaudit.connectors.arrow import UTC_US, table_from_columns

STR = pa.string()
LIST_STR = pa.list_(pa.string())

CONTACT_BASE = [
    ("id", STR),
    ("role", STR),
    ("external_id", STR),
    ("email", STR),
    ("phone", STR),
    ("name", STR),
    ("owner_id", STR),
    ("created_at", UTC_US),
    ("updated_at", UTC_US),
    ("signed_up_at", UTC_US),
    ("last_seen_at", UTC_US),
    ("archived", pa.bool_()),
    # The contact's location object (Intercom's geo-IP guess), one column per part: matching evidence.
    ("location.city", STR),
    ("location.region", STR),
    ("location.country", STR),
]
LOCATION_PARTS = ("city", "region", "country")
COMPANY_BASE = [
    ("id", STR),
    ("company_id", STR),
    ("name", STR),
    ("website", STR),
    ("industry", STR),
    ("size", pa.int64()),
    ("user_count", pa.int64()),
    ("monthly_spend", pa.float64()),
    ("plan", STR),
    ("created_at", UTC_US),
    ("updated_at", UTC_US),
    ("remote_created_at", UTC_US),
]
CONVERSATION_SCHEMA = pa.schema(
    [
        ("id", STR),
        ("state", STR),
        ("open", pa.bool_()),
        ("created_at", UTC_US),
        ("updated_at", UTC_US),
        ("title", STR),
        ("admin_assignee_id", STR),
        ("contact_ids", LIST_STR),
        ("tags", LIST_STR),
        ("source_type", STR),
        ("parts_count", pa.int64()),
    ]
)
PART_SCHEMA = pa.schema(
    [
        ("conversation_id", STR),
        ("id", STR),
        ("part_type", STR),
        ("created_at", UTC_US),
        ("author_type", STR),
        ("author_id", STR),
        ("assigned_to_id", STR),
    ]
)
CONTACT_COMPANY_SCHEMA = pa.schema([("contact_id", STR), ("company_id", STR)])
ADMIN_SCHEMA = pa.schema(
    [
        ("id", STR),
        ("name", STR),
        ("email", STR),
        ("job_title", STR),
        ("away_mode_enabled", pa.bool_()),
        ("has_inbox_seat", pa.bool_()),
        ("role", STR),
        ("team_ids", LIST_STR),
    ]
)

_ATTR_TYPES = {
    "string": STR,
    "integer": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "date": UTC_US,
    "datetime": UTC_US,
}


def custom_attribute_fields(data_attributes: list[dict[str, Any]], model: str) -> list[tuple[str, pa.DataType]]:
    """``custom_attributes.<name>`` columns typed by their data attribute, sorted by name."""
    out = {}
    for a in data_attributes:
        if a.get("model") == model and a.get("custom") and not a.get("archived"):
            out[f"custom_attributes.{a['name']}"] = _ATTR_TYPES.get(str(a.get("data_type")), STR)
    return sorted(out.items())


def contact_schema(data_attributes: list[dict[str, Any]]) -> pa.Schema:
    return pa.schema(
        CONTACT_BASE
        + custom_attribute_fields(data_attributes, "contact")
        + [("tags", LIST_STR), ("company_ids", LIST_STR)]
    )


def company_schema(data_attributes: list[dict[str, Any]]) -> pa.Schema:
    return pa.schema(COMPANY_BASE + custom_attribute_fields(data_attributes, "company"))


def _str_id(v: Any) -> str | None:
    if v is None or v == 0 or v == "0":  # 2.16 reports "unassigned" as 0
        return None
    return str(v)


def _text(v: Any) -> str | None:
    """A location part as text: None for a missing or empty one."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    return str(v)


def _sublist(obj: Any, key: str = "data") -> list[dict[str, Any]]:
    if isinstance(obj, dict):
        items = obj.get(key)
        return items if isinstance(items, list) else []
    return obj if isinstance(obj, list) else []


def _ref_ids(obj: Any) -> list[str]:
    return [str(i["id"]) for i in _sublist(obj) if isinstance(i, dict) and i.get("id") is not None]


def _custom(rows: list[dict[str, Any]], schema: pa.Schema) -> dict[str, list[Any]]:
    cas = [r.get("custom_attributes") or {} for r in rows]
    cas = [c if isinstance(c, dict) else {} for c in cas]
    prefix = "custom_attributes."
    return {f.name: [c.get(f.name[len(prefix) :]) for c in cas] for f in schema if f.name.startswith(prefix)}


def contacts_table(
    rows: list[dict[str, Any]], schema: pa.Schema, tag_names: dict[str, str], extra_companies: dict[str, list[str]]
) -> tuple[pa.Table, pa.Table]:
    """The contacts page as (contacts, contact_companies)."""
    cols: dict[str, Any] = {name: [r.get(name) for r in rows] for name, _ in CONTACT_BASE}
    locations = [r.get("location") if isinstance(r.get("location"), dict) else {} for r in rows]
    for part in LOCATION_PARTS:
        cols[f"location.{part}"] = [_text(loc.get(part)) for loc in locations]
    cols["owner_id"] = [_str_id(v) for v in cols["owner_id"]]
    cols["archived"] = [bool(v) for v in cols["archived"]]
    cols.update(_custom(rows, schema))
    # Lists are sorted so that two pulls of the same data give identical rows whatever order the API used.
    # An item that is not an object or has no id is no reference.
    cols["tags"] = [sorted(tag_names.get(t, t) for t in _ref_ids(r.get("tags"))) for r in rows]
    company_ids = []
    for r in rows:
        ids = _ref_ids(r.get("companies"))
        more = extra_companies.get(str(r.get("id")))
        company_ids.append(sorted(more if more is not None else ids))
    cols["company_ids"] = company_ids
    contacts = table_from_columns(cols, schema)
    pairs_c = [str(r.get("id")) for r, ids in zip(rows, company_ids, strict=True) for _ in ids]
    pairs_k = [c for ids in company_ids for c in ids]
    links = pa.table({"contact_id": pa.array(pairs_c, STR), "company_id": pa.array(pairs_k, STR)})
    return contacts, links


def companies_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    cols: dict[str, Any] = {name: [r.get(name) for r in rows] for name, _ in COMPANY_BASE}
    cols["plan"] = [(p.get("name") if isinstance(p, dict) else p) for p in cols["plan"]]
    cols.update(_custom(rows, schema))
    return table_from_columns(cols, schema)


def _parts_count(row: dict[str, Any], parts: list[dict[str, Any]]) -> int | None:
    """From the parts when fetched, else from the list page's statistics (null when neither says)."""
    cp = row.get("conversation_parts")
    if isinstance(cp, dict):
        return cp.get("total_count", len(parts))
    stats = row.get("statistics")
    return stats.get("count_conversation_parts") if isinstance(stats, dict) else None


def conversations_table(rows: list[dict[str, Any]]) -> tuple[pa.Table, pa.Table]:
    """Conversations (from list/search pages, or fetched with parts) as (conversations, conversation_parts)."""
    cols: dict[str, Any] = {
        n: [r.get(n) for r in rows] for n in ("id", "state", "open", "created_at", "updated_at", "title")
    }
    cols["id"] = [str(v) for v in cols["id"]]
    cols["admin_assignee_id"] = [_str_id(r.get("admin_assignee_id")) for r in rows]
    cols["contact_ids"] = [sorted(str(c.get("id")) for c in _sublist(r.get("contacts"), "contacts")) for r in rows]
    cols["tags"] = [sorted(str(t.get("name")) for t in _sublist(r.get("tags"), "tags")) for r in rows]
    cols["source_type"] = [(r.get("source") or {}).get("type") for r in rows]
    parts_lists = [_sublist(r.get("conversation_parts"), "conversation_parts") for r in rows]
    cols["parts_count"] = [_parts_count(r, p) for r, p in zip(rows, parts_lists, strict=True)]
    conversations = table_from_columns(cols, CONVERSATION_SCHEMA)
    flat = [(str(r.get("id")), p) for r, ps in zip(rows, parts_lists, strict=True) for p in ps]
    parts = table_from_columns(
        {
            "conversation_id": [c for c, _ in flat],
            "id": [str(p.get("id")) for _, p in flat],
            "part_type": [p.get("part_type") for _, p in flat],
            "created_at": [p.get("created_at") for _, p in flat],
            "author_type": [(p.get("author") or {}).get("type") for _, p in flat],
            "author_id": [_str_id((p.get("author") or {}).get("id")) for _, p in flat],
            "assigned_to_id": [
                _str_id((p.get("assigned_to") or {}).get("id"))
                if isinstance(p.get("assigned_to"), dict)
                else _str_id(p.get("assigned_to"))
                for _, p in flat
            ],
        },
        PART_SCHEMA,
    )
    return conversations, parts


def admins_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols = {f.name: [r.get(f.name) for r in rows] for f in ADMIN_SCHEMA}
    cols["id"] = [str(v) for v in cols["id"]]
    cols["team_ids"] = [[str(t) for t in (v or [])] for v in cols["team_ids"]]
    return table_from_columns(cols, ADMIN_SCHEMA)
