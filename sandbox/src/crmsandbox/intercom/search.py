"""Intercom's search query grammar compiled to a SQL WHERE clause.

Grammar (POST /contacts/search, /conversations/search):
a filter ``{"field", "operator", "value"}`` or a group ``{"operator": "AND"|"OR",
"value": [...]}``; groups nest at most two levels and hold at most 15 items.
Operators are checked against the field's type; date values are truncated to
the calendar day in the workspace time zone, as the real API does (``=``
matches that whole day, ``>`` starts at the next day, ``<`` ends before it).

Differences from the real service: string matching is case-insensitive, ``!=``
and ``NIN`` also match absent values, and conversation ``>``/``<`` on integer
fields are inclusive as Intercom documents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from crmsandbox.intercom.buckets import FIELDS as BUCKET_FIELDS
from crmsandbox.intercom.buckets import BucketPlan
from crmsandbox.intercom.exceptions import BadRequest, ParameterInvalid

MAX_DEPTH = 2
MAX_ITEMS = 15

STRING_OPS = frozenset({"=", "!=", "IN", "NIN", "~", "!~", "^", "$"})
NUMBER_OPS = frozenset({"=", "!=", "IN", "NIN", "<", ">", "<=", ">="})
ALL_OPS = STRING_OPS | NUMBER_OPS


@dataclass(frozen=True)
class Field:
    """A searchable field: its SQL expression (over alias ``t``) and its type.

    ``kind``: string, integer, float, boolean, date, or ``exists`` (a membership
    test such as tag_id: ``expr`` is a SQL template with one ``{value}`` slot).
    """

    expr: str
    kind: str
    ops: frozenset[str] | None = None  # overrides the type's operators


CONTACT_OPS = {
    "string": STRING_OPS,
    "integer": NUMBER_OPS,
    "float": NUMBER_OPS,
    "boolean": frozenset({"=", "!=", "IN", "NIN"}),
    "date": frozenset({"=", "<", ">"}),
    "exists": frozenset({"=", "!="}),
}
CONVERSATION_OPS = {
    "string": STRING_OPS,
    "integer": frozenset({"=", "!=", "IN", "NIN", "<", ">"}),
    "float": frozenset({"=", "!=", "IN", "NIN", "<", ">"}),
    "boolean": frozenset({"=", "!=", "IN", "NIN"}),
    "date": frozenset({"=", "!=", "IN", "NIN", "<", ">"}),
    "exists": frozenset({"=", "!=", "IN", "NIN"}),
}


class QueryCompiler:
    """Compiles one search body's ``query`` into ``(sql, params)``.

    ``resolve(name)`` returns the Field for a field name or None when unknown.
    """

    def __init__(
        self,
        resolve: Callable[[str], Field | None],
        ops_by_kind: dict[str, frozenset[str]],
        timezone: str = "UTC",
        inclusive_ranges: bool = False,
    ) -> None:
        self.resolve = resolve
        self.ops_by_kind = ops_by_kind
        self.tz = ZoneInfo(timezone)
        self.inclusive = inclusive_ranges
        self.params: list = []

    def compile(self, query: object) -> tuple[str, list]:
        self.params = []
        if query is None or query == {}:
            return "1", []
        sql = self._node(query, depth=0, path="query")
        return sql, self.params

    def date_ranges(self, query: object) -> tuple[dict[str, tuple[int | None, int | None]], str | None] | None:
        """``({column: (lo, hi)}, role)`` when the (compiled, hence valid) query is no filter, one filter or a
        top-level AND of filters that are day comparisons (``=``, ``<``, ``>``) on bucketed date columns
        plus ``role = <value>``; None otherwise. The day bounds [lo, hi) are those ``_date`` compiles."""
        if query is None or query == {}:
            items: list = []
        elif isinstance(query, dict) and "field" in query:
            items = [query]
        elif isinstance(query, dict) and query.get("operator") == "AND" and isinstance(query.get("value"), list):
            items = query["value"]
        else:
            return None
        ranges: dict[str, tuple[int | None, int | None]] = {}
        role = None
        for item in items:
            if not isinstance(item, dict) or "field" not in item:
                return None
            name, op, value = item["field"], item.get("operator"), item.get("value")
            field = self.resolve(name) if isinstance(name, str) else None
            if field is None or isinstance(value, (list, dict)) or value is None:
                return None
            if field.expr == "t.role" and op == "=" and isinstance(value, str):
                if role not in (None, value.lower()):
                    return None
                role = value.lower()
                continue
            col = field.expr[2:] if field.expr.startswith("t.") else None
            if col not in BUCKET_FIELDS or op not in ("=", "<", ">"):
                return None
            start = self.day_start(self._coerce(field, value, name, "query"))
            end = self._next_day_start(start)
            low, high = {"=": (start, end), ">": (end, None), "<": (None, start)}[op]
            lo, hi = ranges.get(col, (None, None))
            if low is not None:
                lo = low if lo is None else max(lo, low)
            if high is not None:
                hi = high if hi is None else min(hi, high)
            ranges[col] = (lo, hi)
        return ranges, role

    def bucket_plan(self, query: object) -> BucketPlan | None:
        """The count of a (compiled, hence valid) query as a bucket sum, or None when buckets cannot answer
        it (more than one date column, other filters, or day bounds off the 15-minute grid)."""
        found = self.date_ranges(query)
        if found is None or len(found[0]) > 1:
            return None
        ranges, role = found
        column, (lo, hi) = next(iter(ranges.items()), ("created_at", (None, None)))
        plan = BucketPlan(column, role, lo, hi)
        return plan if plan.aligned() else None

    # -- structure -------------------------------------------------------------------------------
    def _node(self, node: object, depth: int, path: str) -> str:
        if not isinstance(node, dict):
            raise BadRequest(f"{path}: expected an object with field/operator/value or operator/value")
        op = node.get("operator")
        if not isinstance(op, str):
            raise BadRequest(f"{path}: 'operator' must be a string such as =, ~, IN, AND or OR, not {op!r}")
        if "field" not in node and op in ("AND", "OR"):
            return self._group(node, depth + 1, path)
        if "field" not in node:
            raise BadRequest(f"{path}: a filter needs 'field', 'operator' and 'value'; a group needs AND or OR")
        return self._filter(node, path)

    def _group(self, node: dict, depth: int, path: str) -> str:
        if depth > MAX_DEPTH:
            raise BadRequest(f"{path}: AND/OR groups nest at most {MAX_DEPTH} levels deep; flatten the query")
        items = node.get("value")
        if not isinstance(items, list) or not items:
            raise BadRequest(f"{path}: an {node['operator']} group needs a non-empty 'value' list")
        if len(items) > MAX_ITEMS:
            raise BadRequest(
                f"{path}: an {node['operator']} group holds at most {MAX_ITEMS} filters, got {len(items)}; "
                "split it into nested groups"
            )
        parts = [self._node(item, depth, f"{path}.value[{i}]") for i, item in enumerate(items)]
        return "(" + f" {node['operator']} ".join(parts) + ")"

    # -- filters ---------------------------------------------------------------------------------
    def _filter(self, node: dict, path: str) -> str:
        name, op = node.get("field"), node.get("operator")
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{path}: 'field' must be a field name")
        if op not in ALL_OPS:
            raise BadRequest(f"{path}: unknown operator {op!r}; use one of {', '.join(sorted(ALL_OPS))}")
        if "value" not in node:
            raise BadRequest(f"{path}: filter on {name!r} has no 'value'")
        field = self.resolve(name)
        if field is None:
            raise ParameterInvalid(f"{path}: {name!r} is not a searchable field", field=name)
        allowed = field.ops or self.ops_by_kind[field.kind]
        if op not in allowed:
            raise ParameterInvalid(
                f"{path}: operator {op!r} is not allowed on {name!r} ({field.kind}); allowed: {' '.join(sorted(allowed))}",
                field=name,
            )
        value = node["value"]
        if op in ("IN", "NIN"):
            if not isinstance(value, list) or not value:
                raise ParameterInvalid(f"{path}: {op} needs a non-empty list value", field=name)
            values = [self._coerce(field, v, name, path) for v in value]
            if field.kind == "date":  # a set of days (conversations only)
                days = " OR ".join(self._date(field.expr, "=", v) for v in values)
                return f"({days})" if op == "IN" else f"({field.expr} IS NULL OR NOT ({days}))"
            return self._membership(field, op, values)
        if isinstance(value, list):
            raise ParameterInvalid(f"{path}: operator {op!r} takes a single value, not a list", field=name)
        if value is None:
            if op not in ("=", "!="):
                raise ParameterInvalid(f"{path}: a null value works only with = and !=", field=name)
            if field.kind == "exists":
                raise ParameterInvalid(f"{path}: {name!r} needs a value", field=name)
            return f"({field.expr} IS {'NOT ' if op == '!=' else ''}NULL)"
        v = self._coerce(field, value, name, path)
        if field.kind == "exists":
            return self._membership(field, "IN" if op == "=" else "NIN", [v])
        if field.kind == "date":
            return self._date(field.expr, op, v)
        if field.kind == "string":
            return self._string(field.expr, op, v)
        return self._compare(field.expr, op, v)

    def _coerce(self, field: Field, value: object, name: str, path: str) -> object:
        kind = field.kind
        bad = ParameterInvalid(f"{path}: {value!r} is not a valid {kind} value for {name!r}", field=name)
        if kind in ("string", "exists"):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise bad
            return str(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return int(value)
            if value in ("true", "false"):
                return int(value == "true")
            raise bad
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):
            try:
                value = float(value) if kind == "float" else int(value)
            except ValueError:
                raise bad from None
        if not isinstance(value, (int, float)) or not -(2**62) < value < 2**62:
            raise bad
        if kind == "date" and not 0 <= value < 2**37:  # Unix seconds, well past year 6000
            raise bad
        return int(value) if kind in ("integer", "date") else value

    def _p(self, value: object) -> str:
        self.params.append(value)
        return "?"

    def _membership(self, field: Field, op: str, values: list) -> str:
        if field.kind == "exists":
            marks = ",".join(self._p(v) for v in values)
            sql = field.expr.format(value=f"IN ({marks})")
            return f"(NOT {sql})" if op == "NIN" else sql
        collate = " COLLATE NOCASE" if field.kind == "string" else ""
        marks = ",".join(self._p(v) for v in values)
        if op == "IN":
            return f"({field.expr}{collate} IN ({marks}))"
        return f"({field.expr} IS NULL OR {field.expr}{collate} NOT IN ({marks}))"

    def _string(self, expr: str, op: str, v: str) -> str:
        if op == "=":
            return f"({expr} = {self._p(v)} COLLATE NOCASE)"
        if op == "!=":
            return f"({expr} IS NULL OR {expr} != {self._p(v)} COLLATE NOCASE)"
        if op in ("<", ">"):  # only on id (tap-intercom sends id > "")
            return f"({expr} {op} {self._p(v)})"
        low = v.lower()
        if op == "~":
            return f"(instr(lower({expr}), {self._p(low)}) > 0)"
        if op == "!~":
            return f"({expr} IS NULL OR instr(lower({expr}), {self._p(low)}) = 0)"
        if op == "^":
            return f"(substr(lower({expr}), 1, {len(low)}) = {self._p(low)})"
        return f"(substr(lower({expr}), -{max(len(low), 1)}) = {self._p(low)})"  # "$"

    def _compare(self, expr: str, op: str, v: object) -> str:
        if op == "!=":
            return f"({expr} IS NULL OR {expr} != {self._p(v)})"
        if self.inclusive and op in ("<", ">"):
            op += "="
        return f"({expr} {op} {self._p(v)})"

    def day_start(self, ts: int) -> int:
        """Start of the calendar day (workspace time zone) holding ``ts``."""
        day = dt.datetime.fromtimestamp(ts, self.tz).date()
        return int(dt.datetime.combine(day, dt.time(), self.tz).timestamp())

    def _next_day_start(self, start: int) -> int:
        return self.day_start(start + 26 * 3600)  # 26 h clears DST-long days

    def _date(self, expr: str, op: str, ts: int) -> str:
        start = self.day_start(ts)
        end = self._next_day_start(start)
        if op == "=":
            return f"({expr} >= {self._p(start)} AND {expr} < {self._p(end)})"
        if op == ">":
            return f"({expr} >= {self._p(end)})"
        if op == "<":
            return f"({expr} < {self._p(start)})"
        if op == "!=":
            return f"({expr} IS NULL OR {expr} < {self._p(start)} OR {expr} >= {self._p(end)})"
        raise ParameterInvalid(f"operator {op} is not supported on dates")


# --- field tables ---------------------------------------------------------------------------------
def _json(path: str) -> str:
    return f"json_extract(t.doc, '$.{path}')"


CONTACT_FIELDS: dict[str, Field] = {
    **{n: Field(f"t.{n}", "string") for n in ("id", "role", "external_id", "email", "phone", "name", "owner_id")},
    **{n: Field(f"t.{n}", "date") for n in ("created_at", "updated_at", "signed_up_at", "last_seen_at")},
    **{
        n: Field(_json(n), "string")
        for n in (
            "email_domain avatar formatted_phone language_override browser browser_version browser_language os "
            "location.country location.region location.city location.country_code location.continent_code "
            "ios_app_name ios_app_version ios_device ios_os_version ios_sdk_version android_app_name "
            "android_app_version android_device android_os_version android_sdk_version"
        ).split()
    },
    **{
        n: Field(_json(n), "date")
        for n in (
            "last_contacted_at last_replied_at last_email_opened_at last_email_clicked_at ios_last_seen_at "
            "android_last_seen_at"
        ).split()
    },
    **{n: Field(_json(n), "boolean") for n in ("unsubscribed_from_emails", "marked_email_as_spam", "has_hard_bounced")},
    "tag_id": Field("(t.seq IN (SELECT contact_seq FROM contact_tags WHERE tag_id {value}))", "exists"),
    "segment_id": Field("(t.seq IN (SELECT contact_seq FROM contact_segments WHERE segment_id {value}))", "exists"),
}
# tap-intercom pages contacts with id > "" (string field, range operators).
CONTACT_FIELDS["id"] = Field("t.id", "string", STRING_OPS | {"<", ">"})

CONVERSATION_FIELDS: dict[str, Field] = {
    "id": Field("CAST(t.id AS INTEGER)", "integer"),
    "created_at": Field("t.created_at", "date"),
    "updated_at": Field("t.updated_at", "date"),
    "state": Field("t.state", "string"),
    "open": Field(_json("open"), "boolean"),
    "read": Field(_json("read"), "boolean"),
    "priority": Field(_json("priority"), "string"),
    "channel_initiated": Field(_json("channel_initiated"), "string"),
    "waiting_since": Field(_json("waiting_since"), "date"),
    "snoozed_until": Field(_json("snoozed_until"), "date"),
    "admin_assignee_id": Field(f"CAST({_json('admin_assignee_id')} AS INTEGER)", "integer"),
    "team_assignee_id": Field(f"CAST({_json('team_assignee_id')} AS INTEGER)", "integer"),
    "contact_ids": Field(
        "(t.seq IN (SELECT conversation_seq FROM conversation_contacts WHERE contact_id {value}))", "exists"
    ),
    "teammate_ids": Field(
        "(EXISTS (SELECT 1 FROM json_each(t.doc, '$.teammates.teammates') j"
        " WHERE CAST(json_extract(j.value, '$.id') AS TEXT) {value}))",
        "exists",
    ),
    "tag_ids": Field(
        "(EXISTS (SELECT 1 FROM json_each(t.doc, '$.tags.tags') j"
        " WHERE CAST(json_extract(j.value, '$.id') AS TEXT) {value}))",
        "exists",
    ),
    **{
        f"source.{n}": Field(_json(f"source.{n}"), "string")
        for n in "type id delivered_as subject body url author.id author.type author.name author.email".split()
    },
}


def resolve_conversation_field(name: str) -> Field | None:
    """Conversation fields, plus statistics.* and conversation_rating.* looked up in the document."""
    if name in CONVERSATION_FIELDS:
        return CONVERSATION_FIELDS[name]
    head, _, rest = name.partition(".")
    if head in ("statistics", "conversation_rating") and rest.replace("_", "").isalnum():
        kind = "string" if rest in ("remark",) else "integer"
        if rest.endswith("_at") or rest.startswith("first_") or rest.startswith("last_"):
            kind = "date"
        return Field(_json(name), kind)
    if head == "custom_attributes" and rest:
        return Field(f"json_extract(t.doc, '$.custom_attributes.\"{rest.replace(chr(34), '')}\"')", "string")
    return None


def contact_resolver(custom_types: dict[str, str]) -> Callable[[str], Field | None]:
    """Contact fields, with custom attributes typed by their data attribute."""

    def resolve(name: str) -> Field | None:
        if name in CONTACT_FIELDS:
            return CONTACT_FIELDS[name]
        if name.startswith("custom_attributes."):
            attr = name.split(".", 1)[1]
            if attr in custom_types:
                safe = attr.replace('"', "")
                return Field(f"json_extract(t.doc, '$.custom_attributes.\"{safe}\"')", custom_types[attr])
        return None

    return resolve


def sort_expression(field: Field) -> str:
    """The ORDER BY / keyset expression of a sort field; NULLs sort first as a sentinel value."""
    if field.expr in ("t.created_at", "t.updated_at"):  # NOT NULL columns, indexed
        return field.expr
    if field.kind == "string":
        return f"coalesce({field.expr}, '')"
    return f"coalesce({field.expr}, -9223372036854775807)"
