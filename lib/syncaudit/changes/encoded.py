"""Operations computed and encoded by DuckDB: a policy that can touch every record (normalize_values) plans its
updates as one query per field and object, whose rows are spool rows (planfile.py) with the operation's
canonical text already built, so no Python code runs per operation.

The text must be byte for byte what :func:`syncaudit.changes.model.canonical` makes of ``Operation.to_dict()``
(the plan hash depends on it), so the query builds it from JSON pieces DuckDB encodes as Python's ``json``
does. Where that is not certain for a row (control characters, which DuckDB escapes in upper-case hex; two
texts that Python's ``same_value`` might read as the same number; a value Salesforce might refuse, whose
review note quotes it with Python's ``repr``), the row is left to the Python path (``fallback``), which is the
per-operation code the fast path is tested against. A whole query falls back where its types are not plain
text (numbers, typed Intercom attributes, versions of another type).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from syncaudit.changes.model import canonical

# Characters DuckDB's to_json escapes as \u00XX in upper case (Python writes lower case): left to Python.
_CONTROL = r"[\x00-\x1f]"
# A text Python's float() may accept (Unicode digits and spaces included): same_value compares such texts as
# numbers. Both sides numeric-looking: compared in SQL when both are plain ASCII decimals, else left to Python.
_WS = r"[\s\x0b\x1c-\x1f\x85\p{Z}]"
_D = r"\p{Nd}(?:_?\p{Nd})*"
_FLOATY = rf"^{_WS}*[+-]?(?:(?:{_D}(?:\.(?:{_D})?)?|\.{_D})(?:[eE][+-]?{_D})?|(?i:inf|infinity|nan)){_WS}*$"
_DECIMAL = r"^ *[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *$"


def sql_text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def json_sql(expr: str) -> str:
    """The JSON text of a VARCHAR expression (``null`` for NULL), as Python's json.dumps(ensure_ascii=False)
    writes it for text without control characters."""
    return f"coalesce(to_json({expr}), 'null')"


@dataclass(frozen=True)
class EncodedOps:
    """Spool rows made by a query on ``con`` (columns: :data:`syncaudit.changes.planfile.ROW_COLUMNS`)."""

    con: Any
    sql: str
    params: tuple[Any, ...] = ()


def column_types(con: Any, table: str) -> dict[str, str]:
    return {r[0]: str(r[1]).upper() for r in con.execute(f'DESCRIBE "{table}"').fetchall()}


def version_sql(con: Any, system: str, types: dict[str, str]) -> str | None:
    """JSON text of the record's version as :func:`syncaudit.changes.context._version` gives it, or None when
    the column's type has no exact SQL form here (the caller falls back to Python)."""
    column = "SystemModstamp" if system == "salesforce" else "updated_at"
    kind = types.get(column)
    ref = f't."{column}"'
    if kind is None:
        return "'null'"
    if kind == "VARCHAR":
        return json_sql(ref)
    if system == "intercom" and kind in {"BIGINT", "INTEGER", "SMALLINT", "HUGEINT", "UBIGINT", "UINTEGER"}:
        return f"coalesce(CAST({ref} AS VARCHAR), 'null')"
    utc = str(con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]) in {"UTC", "Etc/UTC", "GMT"}
    if kind == "TIMESTAMP WITH TIME ZONE" and utc:
        if system == "intercom":  # epoch_value: int(datetime.timestamp())
            return f"coalesce(CAST(epoch_us({ref}) // 1000000 AS VARCHAR), 'null')"
        # plain_value: datetime.isoformat() of an aware UTC datetime (microseconds only when not zero)
        naive = f"timezone('UTC', {ref})"
        frac = f"microsecond({naive}) % 1000000"
        text = (
            f"strftime({naive}, '%Y-%m-%dT%H:%M:%S') || CASE WHEN {frac} = 0 THEN '' "
            f"ELSE '.' || lpad(CAST({frac} AS VARCHAR), 6, '0') END || '+00:00'"
        )
        return f"coalesce('\"' || {text} || '\"', 'null')"
    return None


def update_rows_sql(
    *,
    system: str,
    obj: str,
    table: str,
    key: str,
    column: str,
    value_expr: str,
    where: str,
    version: str,
    policy: str,
    note: str,
    finding_prefix: str,
    refusal: str | None,
) -> tuple[str, str]:
    """(fast, fallback): the SELECT of spool rows for the updates ``column := value_expr`` of the rows of
    ``table`` matching ``where``, and the SELECT of the rows left to the Python path (every column of the
    table, and the new value as ``__sa_value``).

    ``finding_prefix`` is the text before the record key in the synthetic finding id (``"a|b|"`` + key + ``"|"``
    + column, hashed as :func:`syncaudit.changes.context.synthetic_finding_id` does); ``refusal`` a condition on
    ``__sa_a`` (the new value) under which Salesforce might refuse it."""
    a, b, k = "__sa_a", "__sa_b", "__sa_k"
    col = canonical(column)  # the field name as a JSON string
    fallback = [
        f"regexp_matches({a}, '{_CONTROL}')",
        f"regexp_matches({b}, '{_CONTROL}')",
        f"regexp_matches({k}, '{_CONTROL}')",
        # same_value reads both as numbers: Python decides, unless both are plain decimals (compared below)
        f"(regexp_matches({a}, '{_FLOATY}') AND regexp_matches({b}, '{_FLOATY}') "
        f"AND NOT (regexp_matches({a}, '{_DECIMAL}') AND regexp_matches({b}, '{_DECIMAL}')))",
    ]
    if refusal:
        fallback.append(f"({refusal})")
    cond = " OR ".join(fallback)
    same_number = (
        f"(regexp_matches({a}, '{_DECIMAL}') AND regexp_matches({b}, '{_DECIMAL}') "
        f"AND TRY_CAST(trim({a}) AS DOUBLE) = TRY_CAST(trim({b}) AS DOUBLE))"
    )
    after = f"'{{{col}:' || {json_sql(a)} || '}}'"
    head = " || ".join(
        [
            f'\'{{"after":\' || {after} || \',"also_resolves":[],"before":{{{col}:\' || {json_sql(b)}',
            '\'},"finding_id":"\' || left(sha256('
            + sql_text(finding_prefix)
            + f" || {k} || {sql_text('|' + column)}), 16)",
            '\'","idempotency_key":"\' || left(sha256('
            + sql_text(canonical([system, obj])[:-1] + ",")
            + f" || {json_sql(k)} || ',\"update\",' || {after} || ',{{}}]'), 32)",
            f'\'","key":\' || {json_sql(k)}',
            sql_text(',"match":{},"note":' + canonical(note) + ',"object":' + canonical(obj) + ',"op":"update"'),
            sql_text(',"policy":' + canonical(policy)),
        ]
    )
    tail = sql_text('"system":' + canonical(system) + ',"version":') + " || __sa_v || '}'"
    # The spool's tie-break within a policy and record: json.dumps(after) with its default separators and
    # ASCII escapes (the column name decides unless one column is written twice, which the caller avoids).
    after_sort = sql_text("{" + json.dumps(column) + ": ") + f" || to_json({a}) || '}}'"
    src = (
        f'SELECT t.*, CAST(t."{key}" AS VARCHAR) AS {k}, CAST(t."{column}" AS VARCHAR) AS {b}, '
        f'CAST({value_expr} AS VARCHAR) AS {a}, {version} AS __sa_v FROM "{table}" t {where}'
    )
    fast = (
        f"SELECT 0 AS kind, {sql_text(system)} AS system, {sql_text(obj)} AS object, {k} AS key, 'update' AS op, "
        f"{sql_text(policy)} AS policy, "
        f"[{sql_text(column)}] AS fields, {after_sort} AS after_sort, {head} AS head, {tail} AS tail "
        f"FROM ({src}) WHERE NOT ({cond}) AND NOT {same_number}"
    )
    slow = f"SELECT * EXCLUDE ({k}, {b}, {a}, __sa_v), {a} AS __sa_value FROM ({src}) WHERE {cond} ORDER BY {k}"
    return fast, slow
