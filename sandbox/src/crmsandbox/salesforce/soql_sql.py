"""Compile a parsed SOQL query to SQLite SQL against the sandbox's tables.

Names resolve case-insensitively against the schema (INVALID_FIELD / INVALID_TYPE otherwise); parent paths
(``Account.Owner.Email``) become LEFT JOINs; polymorphic lookups (``Who.Name``) COALESCE over their targets.
Literals are type-checked against the field as Salesforce does and always passed as parameters.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from . import soql
from .exceptions import InvalidField, InvalidType, MalformedQuery
from .ids import KEY_PREFIXES, is_id, to18
from .schema import NUMBER_TYPES, TEXT_TYPES, Field, SObject

PREFIX_TO_OBJECT = {v: k for k, v in KEY_PREFIXES.items()}
MAX_DEPTH = 5


def q(name: str) -> str:
    """Quote an identifier for SQLite."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class RelStep:
    """One parent relationship on a column's path: its name, where its foreign key is, its target type."""

    name: str
    fk_index: int
    target: str | None  # None when polymorphic: the type comes from the id's key prefix


@dataclass
class Column:
    header: str  # canonical dotted path, e.g. Account.AccountNumber
    name: str  # last segment, canonical
    field: Field | None
    rels: list[RelStep]
    json_sql: str
    csv_sql: str
    child: CompiledQuery | None = None  # a parent-to-child subquery: the row holds the parent Id
    display: str | None = None  # an aggregate's call as written, e.g. COUNT(Id)


@dataclass
class CompiledQuery:
    """What the query engine needs: SQL pieces, parameters and how to shape records."""

    sobject: SObject
    columns: list[Column]
    hidden: list[str]  # extra SELECT expressions (foreign keys, the root Id) after the visible columns
    from_sql: str
    where_sql: str
    params: list
    order_sql: str | None
    group_sql: str | None
    limit: int | None
    offset: int
    count_only: bool
    aggregate: bool
    id_index: int  # index of the root Id in a row
    root: str = "t1"  # SQL alias of the queried object's table
    having_sql: str | None = None

    def select_sql(self, mode: str) -> str:
        cols = [c.json_sql if mode == "json" else c.csv_sql for c in self.columns]
        return ", ".join(cols + self.hidden)


@dataclass
class _Ctx:
    objs: dict[str, SObject]
    now: datetime
    text: str = ""  # the whole query, for errors that point at a row and column
    counter: list[int] = field(default_factory=lambda: [0])

    def alias(self) -> str:
        self.counter[0] += 1
        return f"t{self.counter[0]}"


def find_object(objs: dict[str, SObject], name: str, text: str = "", pos: int = 0) -> SObject:
    """The object named ``name`` (case-insensitive); INVALID_TYPE when it does not exist."""
    low = name.lower()
    for o in objs.values():
        if o.name.lower() == low:
            return o
    line = (text or name).replace("\n", " ")
    raise InvalidType(
        f"\n{line}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\nsObject type '{name}' is not supported. If you are attempting to use a "
        "custom object, be sure to append the '__c' after the entity name."
    )


class _Scope:
    """One FROM clause: its root alias and the joins made so far."""

    def __init__(self, ctx: _Ctx, obj: SObject, alias: str | None) -> None:
        self.ctx = ctx
        self.obj = obj
        self.user_alias = alias
        self.root = ctx.alias()
        self.joins: list[str] = []
        self.join_alias: dict[tuple, str] = {}

    def _join(self, key: tuple, parent_alias: str, fk: str, target: str) -> str:
        if key not in self.join_alias:
            a = self.ctx.alias()
            self.join_alias[key] = a
            self.joins.append(f'LEFT JOIN {q(target)} {a} ON {a}."Id" = {parent_alias}.{q(fk)}')
        return self.join_alias[key]

    def where(self, pos: int | None) -> str:
        """The ``ERROR at Row:Column`` preamble Salesforce puts before a message about a name."""
        if pos is None:
            return ""
        line = self.ctx.text.replace("\n", " ")
        return f"\n{line}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n"

    def resolve(self, path: str, pos: int | None = None) -> tuple[str, Field, list[tuple[str, str, str | None]], str]:
        """(SQL expression, field, [(relationship name, fk SQL, target or None)], canonical header)."""
        parts = path.split(".")
        if len(parts) > 1 and parts[0].lower() in (self.obj.name.lower(), (self.user_alias or "").lower()):
            parts = parts[1:]
        if len(parts) > MAX_DEPTH + 1:
            raise InvalidField(f"relationship path {path} is deeper than {MAX_DEPTH} levels")
        obj, alias = self.obj, self.root
        rels: list[tuple[str, str, str | None]] = []
        key: tuple = ()
        for i, rel_name in enumerate(parts[:-1]):
            ref = obj.relationship(rel_name)
            if ref is None:
                raise InvalidField(
                    f"{self.where(pos)}Didn't understand relationship '{rel_name}' in field path. "
                    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
                    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
                )
            fk_sql = f"{alias}.{q(ref.name)}"
            key = key + (ref.relationship_name,)
            targets = [t for t in ref.reference_to if t in self.ctx.objs]
            if len(targets) == 1:
                rels.append((ref.relationship_name, fk_sql, targets[0]))
                obj = self.ctx.objs[targets[0]]
                alias = self._join(key, alias, ref.name, obj.name)
                continue
            # Polymorphic: only a leaf field may follow, COALESCEd over the targets that have it.
            if i != len(parts) - 2:
                raise InvalidField(f"polymorphic relationship {rel_name} can only be followed by a field: {path}")
            rels.append((ref.relationship_name, fk_sql, None))
            leaf = parts[-1]
            exprs, fmeta = [], None
            for t in targets:
                tf = self.ctx.objs[t].get(leaf)
                if tf is not None:
                    a = self._join(key + (t,), alias, ref.name, t)
                    exprs.append(f"{a}.{q(tf.name)}")
                    fmeta = fmeta or tf
            if fmeta is None:
                raise InvalidField(f"No such column '{leaf}' on entity 'Name'. {_hint()}")
            header = ".".join(r[0] for r in rels) + "." + fmeta.name
            sql = exprs[0] if len(exprs) == 1 else f"COALESCE({', '.join(exprs)})"
            return sql, fmeta, rels, header
        f = obj.get(parts[-1])
        if f is None:
            raise InvalidField(f"{self.where(pos)}No such column '{parts[-1]}' on entity '{obj.name}'. {_hint()}")
        header = ".".join([r[0] for r in rels] + [f.name])
        return f"{alias}.{q(f.name)}", f, rels, header

    def from_sql(self) -> str:
        return " ".join([f"{q(self.obj.name)} {self.root}"] + self.joins)


def _hint() -> str:
    return (
        "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
        "Please reference your WSDL or the describe call for the appropriate names."
    )


def _json_expr(sql: str, f: Field) -> str:
    if f.type == "datetime":
        return f"substr({sql}, 1, 23) || '+0000'"
    return sql


def _csv_expr(sql: str, f: Field) -> str:
    if f.type == "boolean":
        return f"CASE {sql} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"
    if f.type in ("double", "currency", "percent"):
        # Salesforce prints whole numbers without a trailing ".0"
        return f"CASE WHEN {sql} = CAST({sql} AS INTEGER) THEN CAST({sql} AS INTEGER) ELSE {sql} END"
    return sql


# --- literals ---------------------------------------------------------------------------------------------


def _fmt_dt(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def parse_datetime_literal(text: str) -> datetime:
    """An ISO datetime literal (Z or ±hh:mm offset) as an aware UTC datetime."""
    t = text.replace("Z", "+00:00")
    if len(t) >= 5 and t[-5] in "+-" and t[-3] != ":":  # +0000 form
        t = t[:-2] + ":" + t[-2:]
    return datetime.fromisoformat(t).astimezone(UTC)


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    y = d.year + m // 12
    m = m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _date_range(lit: soql.Literal, now: datetime) -> tuple[date, date]:
    """The [start, end) day range a date literal denotes, in UTC."""
    today = now.astimezone(UTC).date()
    name, n = str(lit.value), lit.n or 0
    week = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday
    month = today.replace(day=1)
    year = today.replace(month=1, day=1)
    ranges = {
        "TODAY": (today, today + timedelta(1)),
        "YESTERDAY": (today - timedelta(1), today),
        "TOMORROW": (today + timedelta(1), today + timedelta(2)),
        "THIS_WEEK": (week, week + timedelta(7)),
        "LAST_WEEK": (week - timedelta(7), week),
        "NEXT_WEEK": (week + timedelta(7), week + timedelta(14)),
        "THIS_MONTH": (month, _add_months(month, 1)),
        "LAST_MONTH": (_add_months(month, -1), month),
        "NEXT_MONTH": (_add_months(month, 1), _add_months(month, 2)),
        "THIS_YEAR": (year, year.replace(year=year.year + 1)),
        "LAST_YEAR": (year.replace(year=year.year - 1), year),
        "NEXT_YEAR": (year.replace(year=year.year + 1), year.replace(year=year.year + 2)),
        "LAST_90_DAYS": (today - timedelta(90), today + timedelta(1)),
        "NEXT_90_DAYS": (today + timedelta(1), today + timedelta(92)),
        "LAST_N_DAYS": (today - timedelta(n), today + timedelta(1)),
        "NEXT_N_DAYS": (today + timedelta(1), today + timedelta(n + 1)),
        "N_DAYS_AGO": (today - timedelta(n), today - timedelta(n - 1)),
        "LAST_N_MONTHS": (_add_months(month, -n), month),
        "NEXT_N_MONTHS": (_add_months(month, 1), _add_months(month, n + 1)),
    }
    return ranges[name]


def _type_error(f: Field, expected: str, quoted: bool) -> InvalidField:
    how = "should not be enclosed in quotes" if not quoted else "should be enclosed in quotes"
    return InvalidField(f"value of filter criterion for field '{f.name}' must be of type {expected} and {how}")


def literal_value(f: Field, lit: soql.Literal) -> object:
    """Convert one literal to the stored representation of ``f``; INVALID_FIELD when the types disagree."""
    if lit.kind == "null":
        return None
    t = f.type
    if t in ("id", "reference"):
        if lit.kind != "string":
            raise _type_error(f, "id", True)
        return to18(lit.value) if is_id(lit.value) else lit.value
    if t in TEXT_TYPES:
        if lit.kind != "string":
            raise _type_error(f, "string", True)
        return lit.value
    if t == "boolean":
        if lit.kind != "boolean":
            raise _type_error(f, "boolean", False)
        return 1 if lit.value else 0
    if t in NUMBER_TYPES:
        if lit.kind != "number":
            raise _type_error(f, "double" if t != "int" else "int", False)
        return lit.value
    if t == "date":
        if lit.kind != "date":
            raise _type_error(f, "date", False)
        return lit.value
    if t == "datetime":
        if lit.kind != "datetime":
            raise _type_error(f, "dateTime", False)
        return _fmt_dt(parse_datetime_literal(str(lit.value)))
    raise InvalidField(f"field '{f.name}' can not be filtered in a query call")


def _bound(f: Field, d: date) -> str:
    return d.isoformat() if f.type == "date" else d.isoformat() + "T00:00:00.000Z"


# --- conditions -------------------------------------------------------------------------------------------


def aggregate_sql(scope: _Scope, item: soql.Aggregate) -> tuple[str, Field]:
    """The SQL of one aggregate call and the field describing its result."""
    if item.func == "COUNT" and item.path.lower() == "id":
        sql, f = f'{scope.root}."Id"', scope.obj.get("Id")
    else:
        sql, f, _, _ = scope.resolve(item.path, item.pos + len(item.func) + 1)
    func = {"COUNT_DISTINCT": "COUNT(DISTINCT "}.get(item.func, item.func + "(")
    result = (
        f if item.func in ("MIN", "MAX") else Field(item.alias or "expr", "int" if "COUNT" in item.func else "double")
    )
    return f"{func}{sql})", result


class _Compiler:
    def __init__(self, ctx: _Ctx, scope: _Scope, *, having: bool = False) -> None:
        self.ctx = ctx
        self.scope = scope
        self.params: list = []
        self.having = having  # HAVING: aggregates allowed on the left of a comparison

    def cond(self, node) -> str:
        if isinstance(node, soql.BoolOp):
            if node.op == "NOT":
                return f"NOT ({self.cond(node.args[0])})"
            return "(" + f" {node.op} ".join(self.cond(a) for a in node.args) + ")"
        if isinstance(node.path, soql.Aggregate):
            if not self.having:
                raise MalformedQuery(
                    f"{self.scope.where(node.pos)}Aggregate functions are not allowed in a WHERE clause: use HAVING"
                )
            sql, f = aggregate_sql(self.scope, node.path)
        else:
            sql, f, _, _ = self.scope.resolve(node.path, node.pos)
        op, val = node.op, node.value
        if isinstance(val, soql.Query):
            return self.semi_join(sql, f, op, val)
        if op in ("IN", "NOT IN", "INCLUDES", "NOT INCLUDES", "EXCLUDES"):
            return self.in_list(sql, f, op, val)
        if val.kind == "date_literal":
            if f.type not in ("date", "datetime"):
                raise InvalidField(f"value of filter criterion for field '{f.name}' must be of type {f.type}")
            start, end = (_bound(f, d) for d in _date_range(val, self.ctx.now))
            cmp = {
                "=": (f"({sql} >= ? AND {sql} < ?)", [start, end]),
                "!=": (f"({sql} IS NULL OR {sql} < ? OR {sql} >= ?)", [start, end]),
                "<": (f"{sql} < ?", [start]),
                "<=": (f"{sql} < ?", [end]),
                ">": (f"{sql} >= ?", [end]),
                ">=": (f"{sql} >= ?", [start]),
            }
            if op not in cmp:
                raise MalformedQuery(f"invalid operator {op} for a date literal")
            text, ps = cmp[op]
            self.params.extend(ps)
            return text
        if op == "LIKE":
            if f.type not in TEXT_TYPES and f.type not in ("id", "reference"):
                raise InvalidField(f"invalid operator on field '{f.name}': LIKE needs a text field")
            if val.kind != "string":
                raise _type_error(f, "string", True)
            self.params.append(val.value)
            return f"{sql} LIKE ? ESCAPE '\\'"
        v = literal_value(f, val)
        if v is None:
            if op == "=":
                return f"{sql} IS NULL"
            if op == "!=":
                return f"{sql} IS NOT NULL"
            raise MalformedQuery(f"invalid operator {op} with null for field '{f.name}'")
        self.params.append(v)
        if op == "!=":
            return f"({sql} IS NULL OR {sql} != ?)"
        return f"{sql} {op} ?"

    def in_list(self, sql: str, f: Field, op: str, values: list) -> str:
        if op in ("INCLUDES", "EXCLUDES", "NOT INCLUDES"):
            if f.type != "multipicklist":
                raise InvalidField(f"INCLUDES and EXCLUDES need a multi-select picklist, not '{f.name}'")
            parts = []
            for lit in values:
                self.params.append(str(literal_value(f, lit)))
                parts.append(f"(';' || {sql} || ';') LIKE ('%;' || ? || ';%')")
            inc = "(" + " OR ".join(parts) + ")"
            return inc if op == "INCLUDES" else f"({sql} IS NULL OR NOT {inc})"
        vals = [literal_value(f, lit) for lit in values]
        non_null = [v for v in vals if v is not None]
        has_null = len(non_null) != len(vals)
        self.params.extend(non_null)
        marks = ", ".join("?" for _ in non_null) or "NULL"
        if op == "IN":
            return f"({sql} IN ({marks})" + (f" OR {sql} IS NULL)" if has_null else ")")
        return f"({sql} NOT IN ({marks})" + (f" AND {sql} IS NOT NULL)" if has_null else f" OR {sql} IS NULL)")

    def semi_join(self, sql: str, f: Field, op: str, sub: soql.Query) -> str:
        if f.type not in ("id", "reference"):
            raise InvalidField(f"semi-join subselects need an id field on the left, not '{f.name}'")
        obj = find_object(self.ctx.objs, sub.sobject, self.ctx.text, sub.sobject_pos)
        scope = _Scope(self.ctx, obj, sub.alias)
        if len(sub.select) != 1 or not isinstance(sub.select[0], soql.FieldRef):
            raise MalformedQuery("a semi-join subselect must select exactly one id field")
        col, cf, _, _ = scope.resolve(sub.select[0].path, sub.select[0].pos)
        if cf.type not in ("id", "reference"):
            raise InvalidField(f"a semi-join subselect must select an id field, not '{cf.name}'")
        inner = _Compiler(self.ctx, scope)
        where = f'{scope.root}."IsDeleted" = 0' if obj.get("IsDeleted") else "1"
        if sub.where is not None:
            where += " AND " + inner.cond(sub.where)
        self.params.extend(inner.params)
        neg = "NOT " if op == "NOT IN" else ""
        return f"{sql} {neg}IN (SELECT {col} FROM {scope.from_sql()} WHERE {where})"


# --- the whole query ---------------------------------------------------------------------------------------


def child_relationship(objs: dict[str, SObject], parent: SObject, name: str) -> tuple[SObject, Field]:
    """(child object, its lookup field) of the child relationship ``name`` (e.g. Account.Contacts)."""
    low = name.lower()
    for other in objs.values():
        for f in other.field_list():
            named = f.name in (parent.name + "Id", "WhoId", "WhatId")
            if parent.name in f.reference_to and named and other.label_plural.lower() == low:
                return other, f
    raise InvalidType(
        f"Didn't understand relationship '{name}' in FROM part of query call. If you are attempting to use a custom "
        "relationship, be sure to append the '__r' after the custom relationship name."
    )


def compile_query(text: str, objs: dict[str, SObject], now: datetime, *, include_deleted: bool) -> CompiledQuery:
    """Parse and compile one SOQL statement."""
    return _compile_ast(soql.parse(text), objs, now, include_deleted=include_deleted, text=text)


def _compile_ast(
    ast: soql.Query,
    objs: dict[str, SObject],
    now: datetime,
    *,
    include_deleted: bool,
    child_of: SObject | None = None,
    text: str = "",
) -> CompiledQuery:
    ctx = _Ctx(objs, now, text)
    link: Field | None = None
    if child_of is not None:
        obj, link = child_relationship(objs, child_of, ast.sobject)
    else:
        obj = find_object(objs, ast.sobject, text, ast.sobject_pos if text else 0)
    scope = _Scope(ctx, obj, ast.alias)
    comp = _Compiler(ctx, scope)

    items: list = []
    for item in ast.select:
        if isinstance(item, soql.FieldsMacro):
            if item.which in ("ALL", "CUSTOM") and (ast.limit is None or ast.limit > 200):
                raise MalformedQuery(
                    "The SOQL FIELDS function must have a LIMIT of at most 200 when it selects ALL or CUSTOM fields"
                )
            for f in obj.field_list():
                if item.which == "ALL" or (item.which == "CUSTOM") == f.custom:
                    items.append(soql.FieldRef(f.name))
        else:
            items.append(item)
    aggregate = any(isinstance(i, soql.Aggregate) for i in items) or bool(ast.group_by)
    if ast.count_only and len(items) > 1:
        raise MalformedQuery("COUNT() must be the only element in the SELECT list")

    columns: list[Column] = []
    hidden: list[str] = []
    seen: set[str] = set()
    fk_index: dict[str, int] = {}
    group_keys = {g.lower() for g in ast.group_by}
    expr_n = 0
    for item in items:
        if isinstance(item, soql.SubQuery):
            if aggregate:
                raise MalformedQuery("a parent-to-child subquery cannot be used with aggregates")
            sub = _compile_ast(item.query, objs, now, include_deleted=include_deleted, child_of=obj, text=text)
            if sub.aggregate or sub.count_only:
                raise MalformedQuery("aggregate functions are not supported in a parent-to-child subquery")
            key = item.query.sobject
            rel = sub.sobject.label_plural
            if rel.lower() in seen:
                raise MalformedQuery(f"duplicate relationship selected: {key}")
            seen.add(rel.lower())
            root_id = f'{scope.root}."Id"'
            columns.append(Column(rel, rel, None, [], root_id, root_id, child=sub))
            continue
        if isinstance(item, soql.Aggregate):
            if item.func == "COUNT()":
                continue
            out, ftype = aggregate_sql(scope, item)
            name = item.alias or f"expr{expr_n}"
            if not item.alias:
                expr_n += 1
            if name.lower() in seen:
                raise MalformedQuery(f"{scope.where(item.pos)}duplicate alias: {name}")
            seen.add(name.lower())
            display = f"{item.func}({item.path})"
            columns.append(Column(name, name, ftype, [], _json_expr(out, ftype), _csv_expr(out, ftype), None, display))
            continue
        sql, f, rels, header = scope.resolve(item.path, item.pos)
        if item.alias and not aggregate:
            raise MalformedQuery(f"{scope.where(item.pos)}Only aggregate expressions use field aliasing")
        if item.alias:
            header = item.alias
        if header.lower() in seen:
            raise MalformedQuery(f"duplicate field selected: {header}")
        seen.add(header.lower())
        if aggregate and item.path.lower() not in group_keys and f.name.lower() not in group_keys:
            raise MalformedQuery(f"{scope.where(item.pos)}Field must be grouped or aggregated: {f.name}")
        steps = []
        for rel_name, fk_sql, target in rels:
            if fk_sql not in fk_index:
                fk_index[fk_sql] = len(hidden)
                hidden.append(fk_sql)
            steps.append(RelStep(rel_name, fk_index[fk_sql], target))
        columns.append(Column(header, f.name, f, steps, _json_expr(sql, f), _csv_expr(sql, f)))
    n_visible = len(columns)
    for c in columns:
        for s in c.rels:
            s.fk_index += n_visible
    id_index = -1
    if not aggregate:
        id_index = n_visible + len(hidden)
        hidden.append(f'{scope.root}."Id"')

    where = [] if include_deleted or obj.get("IsDeleted") is None else [f'{scope.root}."IsDeleted" = 0']
    if ast.where is not None:
        where.append(comp.cond(ast.where))
    if link is not None:  # a child subquery: its parent's id is the last parameter
        where.append(f"{scope.root}.{q(link.name)} = ?")
        comp.params.append(None)
    order_parts = []
    for o in ast.order_by:
        if isinstance(o.path, soql.Aggregate):
            if not aggregate:
                raise MalformedQuery(f"{scope.where(o.pos)}Aggregate functions can only order an aggregate query")
            sql, f = aggregate_sql(scope, o.path)
        else:
            sql, f, _, _ = scope.resolve(o.path, o.pos)
        if f.type in ("textarea",) and f.length > 255:
            raise MalformedQuery(f"field '{f.name}' can not be sorted in a query call")
        part = f"{sql} {'DESC' if o.desc else 'ASC'}"
        if o.nulls_first is not None:
            part += " NULLS FIRST" if o.nulls_first else " NULLS LAST"
        order_parts.append(part)
    group_sql = having_sql = None
    if ast.group_by:
        group_sql = ", ".join(scope.resolve(g, p)[0] for g, p in zip(ast.group_by, ast.group_pos, strict=True))
    if ast.having is not None:
        having = _Compiler(ctx, scope, having=True)
        having_sql = having.cond(ast.having)
        comp.params.extend(having.params)
    if ast.offset is not None and ast.offset > 2000:
        raise MalformedQuery("Maximum SOQL offset allowed is 2000")
    return CompiledQuery(
        sobject=obj,
        columns=columns,
        hidden=hidden,
        from_sql=scope.from_sql(),
        where_sql=" AND ".join(where) if where else "1",
        params=comp.params,
        order_sql=", ".join(order_parts) or None,
        group_sql=group_sql,
        having_sql=having_sql,
        limit=ast.limit,
        offset=ast.offset or 0,
        count_only=ast.count_only,
        aggregate=aggregate and not ast.count_only,
        id_index=id_index,
        root=scope.root,
    )
