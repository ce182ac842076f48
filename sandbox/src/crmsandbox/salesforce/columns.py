"""The ``columns=true`` answer of the query resource: the SELECT list's metadata instead of records.

The Salesforce CLI (``sf data query``) asks for it to lay out its table. A parent path (``Account.Name``)
becomes a column ``Account`` with ``joinColumns``; a parent-to-child subquery an aggregate column whose
``joinColumns`` are the subquery's; an aggregate function a column named by its alias (or ``exprN``) whose
``displayName`` is the call.
"""

from __future__ import annotations

from .schema import NUMBER_TYPES, TEXT_TYPES, Field
from .soql_sql import Column, CompiledQuery

_APEX = {"id": "Id", "reference": "Id", "boolean": "Boolean", "int": "Integer", "double": "Double"}
_APEX |= {"currency": "Decimal", "percent": "Double", "date": "Date", "datetime": "Datetime"}


def _leaf(name: str, f: Field | None, *, aggregate: bool = False, display: str | None = None) -> dict:
    ftype = f.type if f is not None else "string"
    return {
        "aggregate": aggregate,
        "apexType": _APEX.get(ftype, "String") if f is not None else None,
        "booleanType": ftype == "boolean",
        "columnName": name,
        "custom": bool(f is not None and f.custom),
        "displayName": display or name,
        "foreignKeyName": None,
        "insertable": bool(f is not None and f.createable and not aggregate),
        "joinColumns": [],
        "numberType": ftype in NUMBER_TYPES,
        "textType": ftype in TEXT_TYPES,
        "updatable": bool(f is not None and f.updateable and not aggregate),
    }


def _merge(into: list[dict], path: list[str], leaf: dict) -> None:
    """Put ``leaf`` under the relationship columns named by ``path``, sharing columns already there."""
    if not path:
        into.append(leaf)
        return
    head = next((c for c in into if c["columnName"] == path[0] and c.get("_relationship")), None)
    if head is None:
        head = _leaf(path[0], None) | {"_relationship": True}
        into.append(head)
    _merge(head["joinColumns"], path[1:], leaf)


def _strip(cols: list[dict]) -> list[dict]:
    for c in cols:
        c.pop("_relationship", None)
        _strip(c["joinColumns"])
    return cols


def _columns(cq: CompiledQuery) -> list[dict]:
    out: list[dict] = []
    for c in cq.columns:
        out_col = _column(c)
        if c.rels:
            _merge(out, [r.name for r in c.rels], out_col)
        else:
            out.append(out_col)
    return _strip(out)


def _column(c: Column) -> dict:
    if c.child is not None:
        return _leaf(c.header, None, aggregate=True) | {"joinColumns": _columns(c.child)}
    if c.display is not None:
        return _leaf(c.header, c.field, aggregate=True, display=c.display)
    if c.rels:
        return _leaf(c.name, c.field)
    return _leaf(c.header, c.field, display=c.name)  # the header is the alias of an aliased grouped field


def column_metadata(cq: CompiledQuery) -> dict:
    """The whole ``columns=true`` body for one compiled query."""
    selected = {c.header.lower() for c in cq.columns}
    return {
        "columnMetadata": _columns(cq),
        "entityName": cq.sobject.name,
        "groupBy": bool(cq.group_sql),
        "idSelected": "id" in selected,
        "keyPrefix": getattr(cq.sobject, "key_prefix", None),
    }
