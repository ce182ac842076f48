"""Field history: ContactHistory, LeadHistory and AccountHistory, as Salesforce keeps them when field tracking is on.

A history object is read-only through the API (queryable, not createable): a row is written by the org itself
when a record is created (``Field = 'created'``) and when an update changes a tracked field (one row per field,
``OldValue``, ``NewValue``, ``CreatedById`` = the user who made the change, ``CreatedDate`` = when). OwnerId is
recorded as ``Owner`` and AccountId as ``Account``, as Salesforce does.

Which fields are tracked: ``salesforce/field_history.json`` in the load folder, ``{"Contact": ["Email", ...]}``
(an empty list turns tracking off for that object; an object left out keeps the default). The default tracks
every updateable field of the object except long text areas. Where it differs from Salesforce: no limit of 20
tracked fields per object, no retention horizon (18/24 months), values are kept as text, and the tracked set
is not exposed by describe (real orgs show it in Setup and the Tooling API's FieldDefinition).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from crmsandbox.errors import SandboxInputError

from .schema import Field, SObject

TRACKED_PARENTS = ("Account", "Contact", "Lead")
HISTORY_OBJECTS = tuple(f"{p}History" for p in TRACKED_PARENTS)
# One id sequence for the three objects: they share the key prefix 017, as in Salesforce.
HISTORY_SEQUENCE = "FieldHistory"
FIELD_NAME = {"OwnerId": "Owner", "AccountId": "Account"}
CONFIG_FILE = "field_history.json"

_RO = {"createable": False, "updateable": False}


def history_objects() -> dict[str, SObject]:
    """The three history objects (fields as Salesforce describes them; OldValue/NewValue as text)."""
    out = {}
    for parent in TRACKED_PARENTS:
        o = SObject(f"{parent}History", f"{parent} History", "Histories")
        for f in (
            Field("Id", "id", nillable=False, defaulted=True, **_RO),
            Field("IsDeleted", "boolean", nillable=False, defaulted=True, **_RO),
            Field(
                f"{parent}Id",
                "reference",
                reference_to=(parent,),
                relationship_name=parent,
                nillable=False,
                **_RO,
            ),
            Field(
                "CreatedById", "reference", reference_to=("User",), relationship_name="CreatedBy", nillable=False, **_RO
            ),
            Field("CreatedDate", "datetime", nillable=False, defaulted=True, **_RO),
            Field("Field", "picklist", length=255, nillable=False, **_RO),
            Field("DataType", "string", length=40, **_RO),
            Field("OldValue", "string", length=255, **_RO),
            Field("NewValue", "string", length=255, **_RO),
        ):
            o.add(f)
        out[o.name] = o
    return out


def read_tracking(load_dir: Path | None) -> str | None:
    """The text of the load folder's field_history.json (checked), or None."""
    path = load_dir / "salesforce" / CONFIG_FILE if load_dir else None
    if path is None or not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise SandboxInputError(
            f"cannot read the field tracking: {exc}", file=str(path), hint="write valid JSON"
        ) from None
    if not isinstance(raw, dict) or any(
        k not in TRACKED_PARENTS or not isinstance(v, list) or not all(isinstance(x, str) for x in v)
        for k, v in raw.items()
    ):
        raise SandboxInputError(
            "field_history.json must map Account, Contact or Lead to a list of field names",
            file=str(path),
            hint='e.g. {"Contact": ["Email", "Phone"], "Lead": []}',
        )
    return text


def tracked_fields(objs: dict[str, SObject], text: str | None) -> dict[str, frozenset[str]]:
    """Tracked field names per parent object (canonical API names)."""
    given = json.loads(text) if text else {}
    out: dict[str, frozenset[str]] = {}
    for parent in TRACKED_PARENTS:
        o = objs[parent]
        if parent in given:
            names = set()
            for n in given[parent]:
                f = o.get(n)
                if f is None:
                    raise SandboxInputError(
                        f"field_history.json names {parent}.{n}, which does not exist",
                        hint="name standard fields or custom fields declared in schema.json",
                    )
                names.add(f.name)
            out[parent] = frozenset(names)
        else:
            out[parent] = frozenset(f.name for f in o.field_list() if f.updateable and f.type != "textarea")
    return out


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)[:255]


def record_changes(
    c: sqlite3.Connection,
    store,  # noqa: ANN001 - Store (a cycle with store.py otherwise)
    o: SObject,
    tracked: frozenset[str],
    record_id: str,
    old: dict | None,
    new: dict,
    user_id: str,
    now: str,
) -> int:
    """Write the history rows of one create (``old`` None) or update inside the caller's transaction."""
    name = f"{o.name}History"
    rows = []
    if old is None:
        rows.append(("created", None, None, None))
    else:
        for fname in sorted(tracked):
            if fname not in new:
                continue
            before, after = old.get(fname), new.get(fname)
            if before == after or (isinstance(before, str) and isinstance(after, str) and before == after):
                continue
            f = o.get(fname)
            rows.append((FIELD_NAME.get(fname, fname), f.type if f else None, _text(before), _text(after)))
    if not rows:
        return 0
    from .ids import make_id

    first = store.next_seq(c, HISTORY_SEQUENCE, len(rows))
    c.executemany(
        f'INSERT INTO "{name}" ("Id", "IsDeleted", "{o.name}Id", "CreatedById", "CreatedDate", "Field", "DataType", '
        '"OldValue", "NewValue") VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?)',
        [
            (make_id("017", first + k), record_id, user_id, now, fld, dtype, ov, nv)
            for k, (fld, dtype, ov, nv) in enumerate(rows)
        ],
    )
    return len(rows)
