"""A SOQL parser: a tokenizer and a recursive-descent parser producing a small AST.

Grammar (the subset clients send; keywords are case-insensitive):

    query     := SELECT select_list FROM ident [ident] [WHERE cond] [GROUP BY paths [HAVING cond]]
                 [ORDER BY order (, order)*] [LIMIT int] [OFFSET int]
    select    := path [alias] | COUNT() | agg '(' [path] ')' [alias] | FIELDS '(' ALL|STANDARD|CUSTOM ')'
               | '(' query ')'                       -- parent-to-child, by relationship name
    order     := (path | agg '(' path ')') [ASC|DESC] [NULLS FIRST|LAST]
    cond      := and_expr (OR and_expr)*
    and_expr  := not_expr (AND not_expr)*
    not_expr  := NOT not_expr | '(' cond ')' | operand op value | operand [NOT] IN '(' values | query ')'
    operand   := path | agg '(' path ')'             -- an aggregate only in HAVING
    value     := 'string' | number | true | false | null | date | datetime | DATE_LITERAL[:n]

The compiler (soql_sql.py) resolves names against the schema and emits SQLite SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .exceptions import MalformedQuery

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
  | (?P<number>[+-]?\d+(?:\.\d+)?)(?![\w])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
# LIKE keeps \_ and \% as escaped wildcards; the compiler passes them to SQLite with ESCAPE '\'.
_LIKE_ESCAPES = {"_", "%"}
MAX_NESTING = 100
AGGREGATES = {"COUNT", "COUNT_DISTINCT", "MIN", "MAX", "SUM", "AVG"}
DATE_LITERALS_N = {"LAST_N_DAYS", "NEXT_N_DAYS", "LAST_N_MONTHS", "NEXT_N_MONTHS", "N_DAYS_AGO"}
DATE_LITERALS = {
    "TODAY",
    "YESTERDAY",
    "TOMORROW",
    "THIS_WEEK",
    "LAST_WEEK",
    "NEXT_WEEK",
    "THIS_MONTH",
    "LAST_MONTH",
    "NEXT_MONTH",
    "THIS_YEAR",
    "LAST_YEAR",
    "NEXT_YEAR",
    "LAST_90_DAYS",
    "NEXT_90_DAYS",
}
_RESERVED = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET", "GROUP"}
_RESERVED |= {"ASC", "DESC", "NULLS", "FIRST", "LAST", "NULL", "TRUE", "FALSE", "INCLUDES", "EXCLUDES", "HAVING"}


@dataclass(frozen=True)
class Token:
    kind: str  # string, datetime, date, number, ident, op, punct, eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class Literal:
    """A value in a condition. kind: string, number, boolean, null, date, datetime, date_literal."""

    kind: str
    value: object
    n: int | None = None  # for LAST_N_DAYS:n and friends


@dataclass
class FieldRef:
    path: str  # dotted, as written
    alias: str | None = None  # only aggregate queries may alias a field (a grouped one)
    pos: int = field(default=0, compare=False)  # offset in the query text, for the error's Row:Column


@dataclass
class Aggregate:
    func: str  # COUNT, MAX, ...
    path: str | None
    alias: str | None = None
    pos: int = field(default=0, compare=False)


@dataclass
class FieldsMacro:
    which: str  # ALL, STANDARD, CUSTOM


@dataclass
class SubQuery:
    """A parent-to-child subquery in the SELECT list: ``(SELECT Id FROM Contacts)``."""

    query: Query


@dataclass
class Condition:
    path: str | Aggregate  # an Aggregate only in HAVING
    op: str  # = != < <= > >= LIKE IN NOT IN INCLUDES EXCLUDES
    value: Literal | list[Literal] | Query
    pos: int = field(default=0, compare=False)


@dataclass
class BoolOp:
    op: str  # AND, OR, NOT
    args: list


@dataclass
class OrderItem:
    path: str | Aggregate
    desc: bool = False
    nulls_first: bool | None = None
    pos: int = field(default=0, compare=False)


@dataclass
class Query:
    select: list = field(default_factory=list)
    sobject: str = ""
    sobject_pos: int = 0
    alias: str | None = None
    where: object | None = None
    group_by: list[str] = field(default_factory=list)
    group_pos: list[int] = field(default_factory=list)
    having: object | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    count_only: bool = False


def tokenize(text: str) -> list[Token]:
    """Split SOQL into tokens; MALFORMED_QUERY at the first character that starts no token."""
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            snippet = text[pos : pos + 20]
            raise MalformedQuery(f"line 1:{pos} no viable alternative at character '{snippet[:1]}' near '{snippet}'")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Token(kind, m.group(), pos))
        pos = m.end()
    out.append(Token("eof", "", len(text)))
    return out


def _unquote(raw: str, pos: int) -> str:
    body = raw[1:-1]
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            if i + 1 >= len(body):
                raise MalformedQuery(f"line 1:{pos} invalid escape sequence at end of string")
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in _LIKE_ESCAPES:
                out.append("\\" + nxt)
            elif nxt == "u" and re.match(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 4
            else:
                raise MalformedQuery(
                    f"line 1:{pos} Invalid string literal '{raw}'. Illegal character sequence '\\{nxt}'"
                )
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        self.nested = False

    # -- token helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.upper in words

    def error(self, expected: str | None = None) -> MalformedQuery:
        t = self.tok
        if t.kind == "eof":
            return MalformedQuery(f"unexpected end of query{'; expecting ' + expected if expected else ''}")
        near = self.text[max(0, t.pos - 30) : t.pos + len(t.text)].strip()
        return MalformedQuery(
            f"\n{near}\n{' ' * max(0, len(near) - len(t.text))}^\nERROR at Row:1:Column:{t.pos + 1}\nunexpected token: '{t.text}'"
        )

    def expect_kw(self, word: str) -> None:
        if not self.at_kw(word):
            raise self.error(word)
        self.next()

    def expect_punct(self, ch: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != ch:
            raise self.error(f"'{ch}'")
        self.next()

    def ident(self) -> str:
        t = self.tok
        if t.kind != "ident" or (t.upper in _RESERVED and "." not in t.text):
            raise self.error("an identifier")
        self.next()
        return t.text

    def integer(self) -> int:
        t = self.tok
        if t.kind != "number" or not t.text.lstrip("+").isdigit():
            raise self.error("an integer")
        self.next()
        return int(t.text)

    # -- grammar
    def query(self, nested: bool = False) -> Query:
        q = Query()
        self.expect_kw("SELECT")
        q.select = self.select_list()
        self.expect_kw("FROM")
        q.sobject_pos = self.tok.pos
        q.sobject = self.ident()
        if self.tok.kind == "ident" and self.tok.upper not in _RESERVED and "." not in self.tok.text:
            q.alias = self.next().text
        if self.at_kw("WHERE"):
            self.next()
            q.where = self.condition()
        if self.at_kw("GROUP"):
            self.next()
            self.expect_kw("BY")
            q.group_pos.append(self.tok.pos)
            q.group_by.append(self.ident())
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.next()
                q.group_pos.append(self.tok.pos)
                q.group_by.append(self.ident())
            if self.at_kw("HAVING"):
                self.next()
                q.having = self.condition()
        if self.at_kw("ORDER"):
            self.next()
            self.expect_kw("BY")
            q.order_by.append(self.order_item())
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.next()
                q.order_by.append(self.order_item())
        if self.at_kw("LIMIT"):
            self.next()
            q.limit = self.integer()
        if self.at_kw("OFFSET"):
            self.next()
            q.offset = self.integer()
        if not nested and self.tok.kind != "eof":
            raise self.error()
        q.count_only = len(q.select) == 1 and isinstance(q.select[0], Aggregate) and q.select[0].func == "COUNT()"
        return q

    def select_list(self) -> list:
        items = [self.select_item()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.next()
            items.append(self.select_item())
        return items

    def select_item(self):
        t = self.tok
        if t.kind == "punct" and t.text == "(":
            if self.nested:
                raise MalformedQuery("a subquery cannot contain another parent-to-child subquery")
            self.next()
            self.nested = True
            try:
                sub = self.query(nested=True)
            finally:
                self.nested = False
            self.expect_punct(")")
            return SubQuery(sub)
        after = self.toks[min(self.i + 1, len(self.toks) - 1)]
        is_call = after.kind == "punct" and after.text == "("
        if t.kind == "ident" and is_call and t.upper == "FIELDS":
            self.next()
            self.expect_punct("(")
            which = self.ident().upper() if not self.at_kw("ALL") else self.next().upper
            if which not in ("ALL", "STANDARD", "CUSTOM"):
                raise MalformedQuery(f"FIELDS() takes ALL, STANDARD or CUSTOM, not {which}")
            self.expect_punct(")")
            return FieldsMacro(which)
        if t.kind == "ident" and is_call and t.upper in AGGREGATES:
            agg = self.aggregate(allow_count_all=True)
            if agg.func != "COUNT()":
                agg.alias = self.alias()
            return agg
        return FieldRef(self.ident(), self.alias(), t.pos)

    def alias(self) -> str | None:
        if self.tok.kind == "ident" and self.tok.upper not in _RESERVED and "." not in self.tok.text:
            return self.next().text
        return None

    def at_aggregate(self) -> bool:
        after = self.toks[min(self.i + 1, len(self.toks) - 1)]
        return self.tok.kind == "ident" and self.tok.upper in AGGREGATES and after.text == "(" and after.kind == "punct"

    def aggregate(self, allow_count_all: bool = False) -> Aggregate:
        t = self.next()
        self.expect_punct("(")
        if t.upper == "COUNT" and self.tok.kind == "punct" and self.tok.text == ")":
            if not allow_count_all:
                raise self.error("a field")
            self.next()
            return Aggregate("COUNT()", None, pos=t.pos)
        path = self.ident()
        self.expect_punct(")")
        return Aggregate(t.upper, path, pos=t.pos)

    def order_item(self) -> OrderItem:
        pos = self.tok.pos
        item = OrderItem(self.aggregate() if self.at_aggregate() else self.ident(), pos=pos)
        if self.at_kw("ASC", "DESC"):
            item.desc = self.next().upper == "DESC"
        if self.at_kw("NULLS"):
            self.next()
            if not self.at_kw("FIRST", "LAST"):
                raise self.error("FIRST or LAST")
            item.nulls_first = self.next().upper == "FIRST"
        return item

    def condition(self):
        args = [self.and_expr()]
        while self.at_kw("OR"):
            self.next()
            args.append(self.and_expr())
        return args[0] if len(args) == 1 else BoolOp("OR", args)

    def and_expr(self):
        args = [self.not_expr()]
        while self.at_kw("AND"):
            self.next()
            args.append(self.not_expr())
        return args[0] if len(args) == 1 else BoolOp("AND", args)

    def not_expr(self):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise MalformedQuery(f"the WHERE clause nests more than {MAX_NESTING} levels")
        try:
            return self._not_expr()
        finally:
            self.depth -= 1

    def _not_expr(self):
        if self.at_kw("NOT"):
            self.next()
            return BoolOp("NOT", [self.not_expr()])
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.next()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        pos = self.tok.pos
        path = self.aggregate() if self.at_aggregate() else self.ident()
        t = self.tok
        if t.kind == "op":
            self.next()
            op = "!=" if t.text == "<>" else t.text
            return Condition(path, op, self.value(), pos)
        if self.at_kw("LIKE"):
            self.next()
            return Condition(path, "LIKE", self.value(), pos)
        negate = False
        if self.at_kw("NOT"):
            self.next()
            negate = True
            if not self.at_kw("IN"):
                raise self.error("IN")
        if self.at_kw("IN", "INCLUDES", "EXCLUDES"):
            op = self.next().upper
            self.expect_punct("(")
            if self.at_kw("SELECT"):
                if op != "IN":
                    raise self.error()
                sub = self.query(nested=True)
                self.expect_punct(")")
                return Condition(path, "NOT IN" if negate else "IN", sub, pos)
            values = [self.value()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.next()
                values.append(self.value())
            self.expect_punct(")")
            return Condition(path, ("NOT " if negate else "") + op, values, pos)
        raise self.error("an operator")

    def value(self) -> Literal:
        t = self.tok
        if t.kind == "string":
            self.next()
            return Literal("string", _unquote(t.text, t.pos))
        if t.kind == "number":
            self.next()
            return Literal("number", float(t.text) if "." in t.text else int(t.text))
        if t.kind == "date":
            self.next()
            return Literal("date", t.text)
        if t.kind == "datetime":
            self.next()
            return Literal("datetime", t.text)
        if t.kind == "ident":
            up = t.upper
            if up in ("TRUE", "FALSE"):
                self.next()
                return Literal("boolean", up == "TRUE")
            if up == "NULL":
                self.next()
                return Literal("null", None)
            if up in DATE_LITERALS:
                self.next()
                return Literal("date_literal", up)
            if up in DATE_LITERALS_N:
                self.next()
                self.expect_punct(":")
                return Literal("date_literal", up, self.integer())
        raise self.error("a value")


def parse(text: str) -> Query:
    """Parse one SOQL statement; raises MalformedQuery (errorCode MALFORMED_QUERY) with the position."""
    if not isinstance(text, str) or not text.strip():
        raise MalformedQuery("a SOQL query is required: pass it as the q parameter")
    return _Parser(text).query()
