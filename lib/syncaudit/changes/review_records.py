"""The records of a review item, read from the snapshot and laid side by side by mapping field.

Salesforce ids name their object by prefix; Intercom ids are looked up in contacts, companies and conversations.
Rows are labelled with the mapping's field names (email, phone, ...), so a Salesforce Contact and an Intercom
contact line up field by field, and so do the records of a duplicate cluster.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from syncaudit.changes.context import plain_value, sf_object

IC_TABLES = ("ic_contacts", "ic_companies", "ic_conversations")
_MAX_GENERIC = 14


def _views(con: Any) -> set[str]:
    return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def fetch_records(snapshot: Any, con: Any, ids: list[str], obj: str = "") -> dict[str, dict[str, Any] | None]:
    """Each id's row (plain values, plus ``_system`` and ``_table``), None where the snapshot lacks it."""
    views = _views(con)
    out: dict[str, dict[str, Any] | None] = {r: None for r in ids}
    by_table: dict[str, list[str]] = {}
    rest = []
    for r in ids:
        o = sf_object(r)
        if o and f"sf_{o}" in views:
            by_table.setdefault(f"sf_{o}", []).append(r)
        elif not o:
            rest.append(r)
    for table, want in by_table.items():
        out.update(_rows(con, table, "Id", want, "salesforce"))
    order = ("ic_companies", "ic_contacts", "ic_conversations") if obj in ("company", "Account") else IC_TABLES
    for table in order:
        if not rest or table not in views:
            continue
        found = _rows(con, table, "id", rest, "intercom")
        out.update(found)
        rest = [r for r in rest if r not in found]
    return out


def _rows(con: Any, table: str, key: str, ids: list[str], system: str) -> dict[str, dict[str, Any]]:
    cur = con.execute(f'SELECT * FROM "{table}" WHERE CAST("{key}" AS VARCHAR) IN (SELECT unnest(?))', [ids])
    cols = [d[0] for d in cur.description]
    out = {}
    for row in cur.fetchall():
        rec = {c: _plain(v) for c, v in zip(cols, row, strict=True)}
        rec["_system"], rec["_table"] = system, table
        out[str(rec[key])] = rec
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    return plain_value(v)


def _object_of(rec: dict[str, Any]) -> str:
    table = rec.get("_table", "")
    if table.startswith("sf_"):
        return table[3:]
    return {"ic_contacts": "Lead" if rec.get("role") == "lead" else "Contact", "ic_companies": "Account"}.get(table, "")


def side_by_side(cfg: Any, item: Any, recs: dict[str, dict[str, Any] | None]) -> list[tuple[str, list[Any]]]:
    """Rows of (field, one value per record in ``item.records`` order)."""
    present = [r for r in recs.values() if r]
    if not present:
        return [("id", list(item.records))]
    mapping = cfg.mapping
    objects = {_object_of(r) for r in present}
    people = bool(objects & {"Contact", "Lead"})
    ident = mapping.identity.people if people else mapping.identity.companies
    rows: list[tuple[str, list[Any]]] = [("id", list(item.records))]

    def column(rec: dict[str, Any] | None, sf: str, ic: str) -> Any:
        if rec is None:
            return None
        return rec.get(sf) if rec["_system"] == "salesforce" else rec.get(ic)

    rows.append(("object", [None if r is None else f"{r['_system']} {_object_of(r)}".strip() for r in recs.values()]))
    fields = [fm for fm in mapping.fields if set(fm.objects) & objects]
    for fm in fields:
        rows.append((fm.name, [column(r, fm.salesforce, fm.intercom) for r in recs.values()]))
    if fields:
        rows.append(("identity key", [column(r, ident.salesforce_key, ident.intercom_key) for r in recs.values()]))
        mapped = {fm.salesforce for fm in fields}
        if not people:
            rows += [
                (label, [column(r, sf, ic) for r in recs.values()])
                for label, sf, ic in (("name", "Name", "name"), ("website", "Website", "website"))
                if sf not in mapped
            ]
        rows.append(("modified", [column(r, "LastModifiedDate", "updated_at") for r in recs.values()]))
        return rows
    # No mapped field applies (conversations, tasks): the first columns that hold a value somewhere.
    seen: list[str] = []
    for r in present:
        seen += [c for c, v in r.items() if not c.startswith("_") and v not in (None, "", []) and c not in seen]
    for c in seen[:_MAX_GENERIC]:
        rows.append((c, [None if r is None else r.get(c) for r in recs.values()]))
    return rows


def _norm(v: Any) -> str:
    return re.sub(r"\s+", " ", str(v)).strip().lower()


def compare(rows: list[tuple[str, list[Any]]], records: list[str]) -> list[dict[str, Any]]:
    """Field-by-field evidence computed from the records (first record against the others), without weights."""
    if len(records) < 2:
        return []
    out = []
    for name, values in rows:
        if name in ("id", "object", "modified"):
            continue
        left, others = values[0], values[1:]
        right = others[0] if len(others) == 1 else " | ".join("" if v is None else str(v) for v in others)
        if left in (None, "") and all(v in (None, "") for v in others):
            level = "both empty"
        elif left in (None, "") or any(v in (None, "") for v in others):
            level = "one empty"
        elif all(v == left for v in others):
            level = "exact"
        elif all(_norm(v) == _norm(left) for v in others):
            level = "same after normalizing"
        else:
            level = "different"
        out.append({"field": name, "left": left, "right": right, "level": level, "weight": None})
    return out
