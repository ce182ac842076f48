"""Reference fields compared through the records they point to (``FieldMapping.lookup``).

An owner is a Salesforce User Id on one side and an Intercom admin id on the other: the ids never
match, the people behind them do. A lookup says which record each side's id points to and which of
its fields is compared (``User.Email`` ↔ ``admins.email``). Here each side becomes a small DuckDB
table ``(k, v, label)`` — the id, the normalized compared value, a display label — that the audit
joins to the linked pairs, and that a fix-up uses to translate the owner's reference into the other
system's id. Users and admins number in the hundreds, so these tables are tiny.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from syncaudit.config import FieldLookup, FieldMapping
from syncaudit.loadfolder import q
from syncaudit.mapping import normalizer_sql

KEY = {"salesforce": "Id", "intercom": "id"}
SYSTEM_NAME = {"salesforce": "Salesforce", "intercom": "Intercom"}

Columns = Callable[[str], list[str]]


def target_view(lookup: FieldLookup, system: str) -> str | None:
    """The snapshot view the ``system`` side points to (``sf_User``, ``ic_admins``), or None."""
    t = lookup.target(system)
    if t is None:
        return None
    return f"sf_{t[0]}" if system == "salesforce" else f"ic_{t[0]}"


def describe_target(lookup: FieldLookup, system: str) -> str:
    """How a side's reference is named in messages: 'User', 'admin' (Intercom tables are plural)."""
    t = lookup.target(system)
    if t is None:
        return "value"
    return t[0] if system == "salesforce" else t[0].removesuffix("s")


def missing_target(lookup: FieldLookup, system: str, columns: Columns) -> str | None:
    """Why the ``system`` side's lookup cannot be resolved in this snapshot, or None when it can."""
    t = lookup.target(system)
    if t is None:
        return None
    view = target_view(lookup, system)
    cols = columns(view or "")
    if not cols:
        return f"the snapshot has no {SYSTEM_NAME[system]} {t[0]} table to resolve the lookup {t[0]}.{t[1]}"
    if KEY[system] not in cols or t[1] not in cols:
        return f"{SYSTEM_NAME[system]} {t[0]} has no column '{t[1]}' (lookup {t[0]}.{t[1]})"
    return None


def build_reference_table(
    con: duckdb.DuckDBPyConnection, lookup: FieldLookup, system: str, name: str, columns: Columns, region: str = "US"
) -> bool:
    """``CREATE TEMP TABLE name(k, v, label)`` for the ``system`` side; False when the side has no lookup or
    its target is missing from the snapshot. ``v`` is the compared value after ``lookup.normalize``;
    ``label`` is e.g. ``Jane Doe <jane@acme.com>``."""
    t = lookup.target(system)
    if t is None or missing_target(lookup, system, columns):
        return False
    view = target_view(lookup, system)
    cols = columns(view or "")
    key, fld = q(KEY[system]), q(t[1])
    name_col = next((c for c in ("Name", "name") if c in cols and c != t[1]), None)
    raw = f"CAST({fld} AS VARCHAR)"
    label = f"coalesce({q(name_col)} || ' <' || {raw} || '>', {raw}, {q(name_col)})" if name_col else raw
    # Only a fix-up's target must be active (Salesforce refuses an inactive owner); the audit resolves any.
    active = (
        " AND coalesce(TRY_CAST(IsActive AS BOOLEAN), true)" if system == "salesforce" and "IsActive" in cols else ""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {q(name)} AS
        SELECT CAST({key} AS VARCHAR) AS k, {normalizer_sql(raw, lookup.normalize, system, region)} AS v,
               {label} AS label, true{active} AS active
        FROM {q(view or "")} WHERE {key} IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY CAST({key} AS VARCHAR) ORDER BY {raw}) = 1"""
    )
    return True


def reference_resolver(
    con: duckdb.DuckDBPyConnection, fm: FieldMapping, source: str, columns: Columns, region: str = "US"
) -> Callable[[str | None], tuple[str | None, str]]:
    """A function: the ``source`` side's reference -> (the other side's id with the same compared value, note).

    One query builds the whole translation (an owner's User Id -> the admin id with that email); the id is
    None when no record, or more than one, matches (the note says which), so a caller plans a review.
    Salesforce targets must be active records (a write to an inactive User's id fails).
    """
    assert fm.lookup is not None
    target = "intercom" if source == "salesforce" else "salesforce"
    lk = fm.lookup
    if lk.target(source) is None or lk.target(target) is None:
        reason = f"lookup '{fm.name}' does not resolve both sides"
        return lambda _ref: (None, reason)
    missing = missing_target(lk, source, columns) or missing_target(lk, target, columns)
    if missing:
        return lambda _ref: (None, missing)
    build_reference_table(con, lk, source, "sa_lk_src", columns, region)
    build_reference_table(con, lk, target, "sa_lk_dst", columns, region)
    rows = con.execute(
        """SELECT s.k, s.v, s.label, count(d.k) FILTER (WHERE d.active), min(d.k) FILTER (WHERE d.active),
                  count(d.k) FILTER (WHERE NOT d.active)
           FROM sa_lk_src s LEFT JOIN sa_lk_dst d ON d.v = s.v GROUP BY ALL"""
    ).fetchall()
    table = {k: (v, label, n, hit, inactive) for k, v, label, n, hit, inactive in rows}
    src_name, dst_name = describe_target(lk, source), describe_target(lk, target)
    dst_system = SYSTEM_NAME[target]

    def resolve(ref: str | None) -> tuple[str | None, str]:
        if ref is None or str(ref).strip() == "":
            return None, f"the {SYSTEM_NAME[source]} side of '{fm.name}' is empty"
        got = table.get(str(ref))
        if got is None:
            return None, f"{SYSTEM_NAME[source]} {src_name} {ref} is not in the snapshot"
        v, label, n, hit, inactive = got
        if v is None:
            return None, f"{SYSTEM_NAME[source]} {src_name} {label} has no {lk.target(source)[1]}"
        if n == 1:
            return hit, f"{SYSTEM_NAME[source]} {src_name} {label} is {dst_system} {dst_name} {hit}"
        if n > 1:
            return None, f"{n} {dst_system} {dst_name} records match {SYSTEM_NAME[source]} {src_name} {label}"
        if inactive:
            return None, f"the {dst_system} {dst_name} matching {SYSTEM_NAME[source]} {src_name} {label} is inactive"
        return None, f"no {dst_system} {dst_name} matches {SYSTEM_NAME[source]} {src_name} {label}"

    return resolve
