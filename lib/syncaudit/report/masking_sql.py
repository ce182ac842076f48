"""Set-based masking of a findings file in DuckDB: the bulk publish path of :mod:`syncaudit.report.masking`.

:func:`syncaudit.report.masking.mask_finding` walks one finding in Python; publishing a million findings that way
costs a Python call per string of every finding. Here the same rules run as DuckDB set operations over all the
findings of a file at once:

- a row that no rule can change (no ``@``, nothing like a phone number, no personal key or field, no escape:
  a test on its text, ``sa_plain``) is written as it came; about half of an audit's findings are;
- every other finding is exploded into its JSON nodes (``json_tree``); a recursive query gives each node the state the
  Python walk would reach it in (kept, masked as a personal kind, swept for emails and phones, a free text that
  also loses the finding's known personal values, a ``extra`` part still being walked);
- each string leaf is masked by the SQL twins of the Python maskers (``regexp_replace`` on RE2);
- the changed strings are written back into the line: a text replacement of each quoted string where every
  occurrence of it is a string being masked the same way and the line has no escape; otherwise node by node with
  ``json_replace`` at each node's path (those rows' JSON exploded again, with paths).

RE2 has no look-around and its ``\\w``, ``\\d`` and ``\\s`` are ASCII, so the patterns are rewritten: word
characters are ``[\\pL\\pN_]`` (Python's Unicode ``\\w``), digits ``\\p{Nd}``, whitespace Python's ``str.isspace``
set; a look-behind becomes a captured preceding character (provably the same matches for the email and display
name patterns, whose matches cannot end in that character). The phone pattern has a look-behind and a
look-ahead that can share one character, so each character that may precede a phone is first followed by a
marker (U+FDD2) and the pattern asks for that marker instead of looking behind. Spans to rewrite with a function
(display names, phone numbers) are bracketed with the noncharacters U+FDD0/U+FDD1 and rewritten part by part.

Where this path deliberately differs from the Python walk (each difference masks more, never less):

- the noncharacters U+FDD0 to U+FDD2 are removed from every masked string (they are the markers);
- an ``extra`` that is a string but not a JSON object, or a list, is swept for emails and phones (the Python walk
  copied it unmasked); an ``extra`` given as a JSON string is written back as compact JSON text;
- a match's evidence whose ``field`` is an object or a list (not a field's name) has its values masked as names
  (the Python walk took the kind from the object's text);
- a row whose JSON has an empty or a repeated key (which ``json_replace`` cannot address) is masked by the
  Python walk (those rare rows only), unless no rule can change it: then it is copied, its repeated keys too.

Character classes follow RE2's Unicode tables, which may be a version apart from Python's; a known value with
seven or more digits counted by ``str.isdigit`` but not decimal (superscripts) is guessed a name here, a phone in
Python (both mask it). The file goes through in blocks of whole lines, so memory does not grow with it. Cost: about
three times the CPU of the Python walk (bench/README.md, ``bench_publish.py``).
"""

from __future__ import annotations

import os
import queue
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import duckdb
import orjson

from syncaudit.fsutil import written_over
from syncaudit.report.masking import (
    _EVIDENCE_PLAIN,
    _NAME_COLUMNS,
    _STRUCTURAL_KEYS,
    PersonalKind,
    mask_finding,
    mask_json,
)

_W = r"\pL\pN_"  # Python's Unicode \w
_WS = r"\t\n\x0b\x0c\r\x1c-\x1f\x85\p{Z}"  # Python's Unicode \s (str.isspace)
_D = r"\p{Nd}"  # Python's Unicode \d
_OPEN, _CLOSE, _GAP = "\ufdd0", "\ufdd1", "\ufdd2"
_FINDING_SKIP = ("values", "extra", "records", "id", "kind", "system", "object", "field", "rule")
_BLOCK_BYTES = 32 << 20
MAX_WORKERS = 4  # blocks masked at once (one DuckDB connection and thread each), at most one per core


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in(values: object) -> str:
    return "(" + ", ".join(_lit(v) for v in sorted(values)) + ")"  # type: ignore[call-overload]


def _phone_pattern() -> str:
    """PHONE_RE over text where each character that may precede a phone is followed by the gap marker."""
    d, g = _D, _GAP
    sep = f"[ .-]{g}"
    plus = rf"\+{d}(?:{d}|[ ().-]{g}){{5,}}{d}"
    grouped = rf"(?:\({g})?{d}{{2,4}}(?:\){g})?{sep}{d}{{2,4}}{sep}{d}{{2,5}}(?:{sep}{d}{{1,5}})?"
    return rf"(^|{g})({plus}|{grouped})([^{_W}]|$)"


def _macros() -> list[str]:
    w, ws, d = _W, _WS, _D
    email = rf"(^|[^{w}.+-])([{w}.+-])[{w}.+-]*@+((?:[{w}-]+\.)*[{w}-]{{2,}})"
    named = rf"""([(\[,:'"])([{ws}]?)([^()\[\]<>,:'"@]{{1,80}}?) (<[^<>{ws}]*@[^<>{ws}]+>)"""
    lead_named = rf"""^([{ws}]?)([^()\[\]<>,:'"@]{{1,80}}?) (<[^<>{ws}]*@[^<>{ws}]+>)"""
    o, c = _OPEN, _CLOSE
    date_region = rf"{o}({d}{{4}}[-./]{d}{{1,2}}[-./]{d}{{1,2}}(?:[^{w}{c}][^{c}]*)?){c}"
    digits_region = rf"{o}(?:[^{c}]*?{d}){{2}}[^{c}]*?({d})[^{d}{c}]*({d})[^{d}{c}]*{c}"
    any_region = rf"{o}[^{c}]*{c}"
    names = _in(_NAME_COLUMNS)

    def regions(marked: str, fn: str) -> str:
        # The text split at each opening marker: every part after the first starts with a span to rewrite.
        return (
            f"array_to_string(list_transform(string_split({marked}, {_lit(_OPEN)}), lambda p, i: CASE WHEN i = 1 "
            f"THEN p ELSE {fn}(split_part(p, {_lit(_CLOSE)}, 1)) || substr(p, strpos(p, {_lit(_CLOSE)}) + 1) END), '')"
        )

    return [
        f"CREATE OR REPLACE TEMP MACRO sa_strip(x) AS regexp_replace(x, '^[{ws}]+|[{ws}]+$', '', 'g')",
        f"CREATE OR REPLACE TEMP MACRO sa_digits(x) AS regexp_replace(x, '[^{d}]', '', 'g')",
        "CREATE OR REPLACE TEMP MACRO sa_mask_name(x) AS CASE WHEN x IS NULL OR sa_strip(x) = '' THEN x "
        f"ELSE regexp_replace(regexp_replace(sa_strip(x), '[{ws}]+', ' ', 'g'), '([^{ws}])[^{ws}]*', '\\1***', 'g') END",
        "CREATE OR REPLACE TEMP MACRO sa_mask_phone(x) AS CASE WHEN length(sa_digits(x)) >= 4 "
        "THEN '***' || right(sa_digits(x), 2) ELSE '***' END",
        f"CREATE OR REPLACE TEMP MACRO sa_email_sub(x) AS regexp_replace(x, {_lit(email)}, '\\1\\2***@\\3', 'g')",
        # An address field's value with its addresses masked (a malformed one: first character and domain).
        "CREATE OR REPLACE TEMP MACRO sa_email_fallback(x) AS left(sa_strip(regexp_extract(x, '^([\\s\\S]*)@', 1)), 1) "
        "|| '***@' || sa_strip(regexp_extract(x, '@([^@]*)$', 1))",
        "CREATE OR REPLACE TEMP MACRO sa_named_sub(x) AS CASE "
        f"WHEN regexp_matches(x, {_lit(named)}) THEN "
        + regions(f"regexp_replace(x, {_lit(named)}, '\\1\\2{_OPEN}\\3{_CLOSE} \\4', 'g')", "sa_mask_name")
        + " ELSE x END",
        "CREATE OR REPLACE TEMP MACRO sa_lead_named(x) AS CASE "
        f"WHEN regexp_matches(x, {_lit(lead_named)}) THEN "
        + regions(f"regexp_replace(x, {_lit(lead_named)}, '\\1{_OPEN}\\2{_CLOSE} \\3')", "sa_mask_name")
        + " ELSE x END",
        # Phones found are bracketed, then each bracket rewritten: a date stays, 4+ digits keep the last two.
        "CREATE OR REPLACE TEMP MACRO sa_phone_mark(x) AS replace(regexp_replace(regexp_replace(x, "
        f"'([^{w}+])', '\\1{_GAP}', 'g'), {_lit(_phone_pattern())}, '\\1{_OPEN}\\2{_CLOSE}\\3', 'g'), {_lit(_GAP)}, '')",
        "CREATE OR REPLACE TEMP MACRO sa_phone_regions(m) AS regexp_replace(regexp_replace(regexp_replace(m, "
        f"{_lit(date_region)}, '\\1', 'g'), {_lit(digits_region)}, '***\\1\\2', 'g'), {_lit(any_region)}, '***', 'g')",
        "CREATE OR REPLACE TEMP MACRO sa_leaf(c) AS "
        "regexp_replace(lower(regexp_extract(c, '([^.]*)$', 1)), '__c$', '')",
        "CREATE OR REPLACE TEMP MACRO sa_personal_kind(c) AS CASE "
        "WHEN starts_with(sa_leaf(c), 'evidence_') THEN NULL WHEN contains(sa_leaf(c), 'email') THEN 'email' "
        "WHEN contains(sa_leaf(c), 'phone') OR contains(sa_leaf(c), 'mobile') "
        "OR sa_leaf(c) IN ('fax', 'tel', 'telephone') THEN 'phone' "
        f"WHEN sa_leaf(c) IN {names} THEN 'name' END",
    ]


def connect(
    personal: dict[str, PersonalKind],
    *,
    memory_limit: str = "1GB",
    spill: str | None = None,
    threads: int | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the masking macros and the personal mapping fields (``sa_personal``)."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = {_lit(memory_limit)}")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if spill:
        con.execute(f"SET temp_directory = {_lit(spill)}")
    con.execute("SET preserve_insertion_order = true")
    for sql in _macros():
        con.execute(sql)
    con.execute(f"CREATE OR REPLACE TEMP MACRO sa_plain(t) AS {_plain_condition(personal)}")
    con.execute("CREATE OR REPLACE TEMP TABLE sa_personal (field VARCHAR PRIMARY KEY, kind VARCHAR)")
    if personal:
        con.executemany("INSERT INTO sa_personal VALUES (?, ?)", sorted(personal.items()))
    return con


def _re_literal(text: str) -> str:
    """``text`` as an RE2 literal (each character but an ASCII letter, digit or underscore as ``\\x{..}``)."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else f"\\x{{{ord(c):x}}}" for c in text)


def _plain_condition(personal: dict[str, PersonalKind]) -> str:
    """SQL over ``t``, a row's JSON text: true when no rule can change the row, so it is written as it came.

    Each test is on the whole text, so it holds for every string in it whatever the string's place (key or value,
    walked or kept), and it asks less than the rule it stands for (it says "may change" more often, never less):

    - no backslash: every string is its own characters between two quotes (no escape hides an ``@``, a quote or a
      marker, and an ``extra`` given as JSON text, whose quotes are escaped, is not plain);
    - no ``@`` (emails, display names), no marker U+FDD0 to U+FDD2, no string value starting with ``{``;
    - nothing the phone pattern could match (a ``+`` before a digit, or three digit groups around separators:
      its necessary part, without the conditions on the characters around it);
    - no string that is a personal key or personal field: one containing email, phone or mobile, or whose last
      ``.`` part (less ``__c``) is a name column, fax, tel or telephone, or a personal mapping field, in any case
      (a finding's ``field`` and the keys under which strings are masked as a kind, and from which the known
      values masked in its texts come), or ``left`` / ``right`` (a match's evidence, masked as a name).
    """
    exact = sorted({*_NAME_COLUMNS, "fax", "tel", "telephone", "left", "right", *(k.lower() for k in personal)})
    token = r'"(?:[^"]*\.)?(?:' + "|".join(_re_literal(x) for x in exact) + r')(?:__c)?"'
    keyword = r'"[^"]*(?:email|phone|mobile)[^"]*"'
    phone = rf"\+{_D}|{_D}{{2}}\)?[ .-]{_D}{{2,4}}[ .-]{_D}{{2}}"
    object_text = rf':[{_WS}]*"\{{'
    # One pattern, one pass over the text (case folding changes none of the parts without letters).
    patterns = [_NONCHARACTERS, object_text, phone, token, keyword]
    return (
        "NOT contains(t, '\\') AND NOT contains(t, '@') AND NOT regexp_matches(t, "
        + _lit("(?i)" + "|".join(f"(?:{p})" for p in patterns))
        + ")"
    )


_NONCHARACTERS = f"[{_OPEN}{_CLOSE}{_GAP}]"
# Only a text with a +digit or digits around a separator can hold a phone (a necessary condition of the pattern).
_PHONE_HINT = rf"\+{_D}|{_D}\)?[ .-]\(?{_D}"


def _mask_stages(rel: str) -> str:
    """A query over ``rel`` (any columns, with ``x`` the text and ``mode`` one of email, phone, name, sweep)
    adding ``m``, the masked text: :func:`~syncaudit.report.masking.mask_value` for a kind, ``sweep_text`` for
    sweep. Each step is its own projection: nested macros would repeat their argument's whole expression."""
    return f"""
WITH a AS (SELECT *, CASE WHEN mode = 'email' AND contains(x, '@') THEN sa_email_sub(x) END AS es FROM {rel}),
b AS (SELECT *, CASE WHEN es IS NULL THEN NULL WHEN es <> x THEN es ELSE sa_email_fallback(x) END AS eb FROM a),
c AS (SELECT *, CASE WHEN mode = 'sweep' THEN x WHEN eb IS NOT NULL THEN sa_lead_named(eb) END AS w FROM b),
d AS (SELECT *, CASE WHEN regexp_matches(w, {_lit(_NONCHARACTERS)}) THEN regexp_replace(w, {_lit(_NONCHARACTERS)}, '', 'g')
    ELSE w END AS w1 FROM c),
e AS (SELECT *, CASE WHEN contains(w1, '@') THEN sa_email_sub(sa_named_sub(w1)) ELSE w1 END AS w2 FROM d),
f AS (SELECT *, CASE WHEN regexp_matches(w2, {_lit(_PHONE_HINT)}) THEN sa_phone_regions(sa_phone_mark(w2))
    ELSE w2 END AS w3 FROM e)
SELECT * EXCLUDE (es, eb, w, w1, w2, w3),
    CASE WHEN x IS NULL OR x = '' THEN x WHEN mode = 'sweep' THEN w3
        WHEN mode = 'email' THEN CASE WHEN w3 IS NULL THEN '***' ELSE w3 END
        WHEN mode = 'phone' THEN sa_mask_phone(x) ELSE sa_mask_name(x) END AS m
FROM f"""


def _masked(con: duckdb.DuckDBPyConnection, texts: list[str | None], mode: str) -> list[str | None]:
    rel = f"(SELECT o, t AS x, {_lit(mode)} AS mode FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(t, o))"
    return [r[0] for r in con.execute(f"SELECT m FROM ({_mask_stages(rel)}) ORDER BY o", [texts]).fetchall()]


def sweep_sql(con: duckdb.DuckDBPyConnection, texts: list[str | None]) -> list[str | None]:
    """The set-based twin of :func:`syncaudit.report.masking.sweep_text` over a list of texts (for tests)."""
    return _masked(con, texts, "sweep")


def mask_kind_sql(con: duckdb.DuckDBPyConnection, texts: list[str | None], kind: str) -> list[str | None]:
    """The set-based twin of :func:`syncaudit.report.masking.mask_value` (for tests)."""
    return _masked(con, texts, kind)


_STATES = f"""
CREATE OR REPLACE TEMP TABLE sa_fc AS
WITH src AS (SELECT n, j, sa_plain(j::VARCHAR) AS plain FROM sa_src WHERE n >= $lo AND n < $hi),
base AS (
    SELECT n, j, plain,
        NOT plain AND json_type(j) = 'OBJECT' AND json_exists(j, '$.kind') AND json_exists(j, '$.records') AS is_f,
        CASE WHEN NOT plain THEN json_extract_string(j, '$.extra') END AS extra_text,
        NOT plain AND json_type(j, '$.extra') = 'VARCHAR' AS extra_is_text
    FROM src
),
parsed AS (
    SELECT *, CASE WHEN is_f AND extra_is_text AND starts_with(extra_text, '{{') AND json_valid(extra_text)
        THEN extra_text END AS extra_json
    FROM base
)
SELECT n, is_f, plain, extra_json IS NOT NULL AS extra_str,
    CASE WHEN extra_json IS NOT NULL THEN json_replace(j, '$.extra', extra_json::JSON) ELSE j END AS j,
    CASE WHEN is_f THEN (SELECT kind FROM sa_personal p WHERE p.field = json_extract_string(parsed.j, '$.field')) END AS fk
FROM parsed;

-- Where each row's walk starts: a finding's top-level values (by key, as mask_finding treats them), or the whole
-- row (mask_json) for any other JSON row.
CREATE OR REPLACE TEMP TABLE sa_roots AS
SELECT f.n, e.key, e.type, e.fullkey AS path, e.value,
    CASE WHEN e.key = 'values' THEN CASE WHEN e.type = 'OBJECT' THEN 'V' ELSE 'P' END
        WHEN e.key = 'extra' THEN CASE WHEN e.type IN ('OBJECT', 'ARRAY') THEN 'X'
            WHEN e.type = 'VARCHAR' THEN 'M' ELSE 'P' END
        WHEN e.key IN {_in(_FINDING_SKIP)} THEN 'P'
        WHEN e.type = 'VARCHAR' THEN 'T' ELSE 'M' END AS s0
FROM sa_fc f, json_each(f.j) e WHERE f.is_f
UNION ALL
SELECT n, NULL, json_type(j), '$', j, 'M' FROM sa_fc WHERE NOT is_f AND NOT plain;

-- The nodes below each root that is walked (record ids and kept keys are never exploded). No node's path or
-- subtree as JSON: those are most of json_tree's cost, and only a row written back node by node needs paths.
CREATE OR REPLACE TEMP TABLE sa_nd AS
SELECT r.n, r.path AS root, r.s0, t.id, t.parent, t.key, t.type,
    CASE WHEN t.type = 'VARCHAR' THEN json_extract_string(t.atom, '$') END AS sval,
    CASE WHEN t.key = 'field' THEN CASE t.type WHEN 'VARCHAR' THEN json_extract_string(t.atom, '$')
        WHEN 'NULL' THEN 'None' ELSE t.atom::VARCHAR END END AS text
FROM (SELECT * FROM sa_roots WHERE s0 <> 'P' AND type IN ('OBJECT', 'ARRAY')) r, json_tree(r.value) t;

CREATE OR REPLACE TEMP TABLE sa_odd AS
SELECT DISTINCT n FROM (
    SELECT n FROM sa_roots WHERE key = ''
    UNION ALL SELECT n FROM sa_roots WHERE key IS NOT NULL GROUP BY n, key HAVING count(*) > 1
    UNION ALL SELECT n FROM sa_nd WHERE key = '' AND parent IS NOT NULL
    UNION ALL SELECT n FROM sa_nd WHERE parent IS NOT NULL GROUP BY n, root, parent, key HAVING count(*) > 1
);

CREATE OR REPLACE TEMP TABLE sa_keys AS
SELECT k.key, COALESCE(p.kind, CASE WHEN k.key NOT IN {_in(_STRUCTURAL_KEYS)} THEN sa_personal_kind(k.key) END) AS key_kind,
    k.key IN {_in(_STRUCTURAL_KEYS)} AS structural
FROM (SELECT DISTINCT key FROM sa_nd WHERE key IS NOT NULL) k LEFT JOIN sa_personal p ON p.field = k.key;

CREATE OR REPLACE TEMP TABLE sa_props AS
SELECT c.n, c.root, c.parent AS id,
    bool_and(c.key IN ('salesforce', 'intercom')) AS all_sides,
    bool_or(c.key = 'field') AND bool_or(c.key = 'left') AND bool_or(c.key = 'right') AS evidence,
    any_value(c.text) FILTER (WHERE c.key = 'field') AS fstr
FROM sa_nd c WHERE c.parent IS NOT NULL GROUP BY c.n, c.root, c.parent;

-- Each node with what its children need: its own shape (sides only, a match's evidence) and its key's kind.
CREATE OR REPLACE TEMP TABLE sa_ndx AS
SELECT d.n, d.root, d.s0, d.id, d.parent, d.key, d.type, d.sval,
    k.key_kind, COALESCE(k.structural, false) AS structural,
    COALESCE(pr.all_sides, false) AS all_sides, COALESCE(pr.evidence, false) AS evidence,
    CASE WHEN pr.fstr IN {_in(_EVIDENCE_PLAIN)} THEN NULL
        ELSE COALESCE(ek.kind, sa_personal_kind(pr.fstr), 'name') END AS ev_kind
FROM sa_nd d
LEFT JOIN sa_keys k ON k.key = d.key
LEFT JOIN sa_props pr ON pr.n = d.n AND pr.root = d.root AND pr.id = d.id
LEFT JOIN sa_personal ek ON ek.field = pr.fstr
WHERE d.n NOT IN (SELECT n FROM sa_odd);

CREATE OR REPLACE TEMP TABLE sa_st AS
WITH RECURSIVE st(n, root, id, type, s, kd, fk, all_sides, evidence, ev_kind, sval) AS (
    SELECT d.n, d.root, d.id, d.type, d.s0, NULL::VARCHAR, f.fk,
        d.all_sides, d.evidence, d.ev_kind, d.sval
    FROM sa_ndx d JOIN sa_fc f USING (n) WHERE d.parent IS NULL
    UNION ALL
    SELECT c.n, c.root, c.id, c.type,
        CASE
            WHEN p.s IN ('V', 'M') THEN 'M'
            WHEN p.type = 'ARRAY' THEN 'X'
            WHEN p.fk IS NOT NULL AND p.all_sides THEN 'M'
            WHEN p.evidence THEN CASE WHEN c.key IN ('left', 'right') THEN 'M' ELSE 'P' END
            WHEN c.key_kind IS NOT NULL THEN 'M'
            ELSE 'X'
        END,
        CASE
            WHEN p.s = 'V' THEN p.fk
            WHEN p.s = 'M' AND p.type = 'OBJECT' THEN CASE WHEN c.structural THEN NULL ELSE p.kd END
            WHEN p.s = 'M' THEN p.kd
            WHEN p.type = 'ARRAY' THEN NULL
            WHEN p.fk IS NOT NULL AND p.all_sides THEN p.fk
            WHEN p.evidence THEN CASE WHEN c.key IN ('left', 'right') THEN p.ev_kind END
            ELSE c.key_kind
        END,
        p.fk, c.all_sides, c.evidence, c.ev_kind, c.sval
    FROM st p JOIN sa_ndx c ON c.n = p.n AND c.root = p.root AND c.parent = p.id
    WHERE p.s IN ('V', 'M', 'X') AND p.type IN ('OBJECT', 'ARRAY')
)
SELECT n, root, id, sval, s, kd FROM st WHERE type = 'VARCHAR' AND s <> 'P' AND sval <> ''
UNION ALL  -- the top-level strings: texts (T), or an extra that is text (M)
SELECT n, path, NULL, json_extract_string(value, '$'), s0, NULL FROM sa_roots
WHERE type = 'VARCHAR' AND s0 IN ('T', 'M') AND json_extract_string(value, '$') <> ''
    AND n NOT IN (SELECT n FROM sa_odd);

CREATE OR REPLACE TEMP TABLE sa_known AS
WITH raw AS (
    SELECT DISTINCT n, sval AS x,
        CASE WHEN contains(sval, '@') THEN 'email' WHEN length(sa_digits(sval)) >= 7 THEN 'phone' ELSE 'name' END AS mode
    FROM sa_st WHERE s = 'M' AND kd IS NOT NULL AND length(sval) >= 3
)
SELECT n, list({{'raw': x, 'm': m}} ORDER BY length(x) DESC, x) AS known FROM ({{MASK:raw}}) GROUP BY n;

CREATE OR REPLACE TEMP TABLE sa_pre AS
SELECT st.n, st.root, st.id, st.sval,
    CASE WHEN st.s = 'T' THEN list_reduce(COALESCE(k.known, []), lambda acc, x: replace(acc, x.raw, x.m), st.sval)
        ELSE st.sval END AS x,
    CASE WHEN st.s = 'M' AND st.kd IS NOT NULL THEN st.kd ELSE 'sweep' END AS mode
FROM sa_st st LEFT JOIN sa_known k USING (n);

CREATE OR REPLACE TEMP TABLE sa_out AS
WITH masked AS ({{MASK:sa_pre}}),
ed AS MATERIALIZED (SELECT n, root, id, sval, m FROM masked WHERE m IS DISTINCT FROM sval),
-- Each text a row's edits change: what it becomes (one value, never itself a text edited), in how many strings.
subs AS (
    SELECT n, sval, count(*) AS c, count(DISTINCT m) = 1 AND count(m) = count(*) AS one, any_value(m) AS m
    FROM ed GROUP BY n, sval
),
by_row AS (
    SELECT n, list({{'s': '"' || sval || '"', 't': to_json(m)::VARCHAR, 'c': c}}) AS subs,
        bool_and(one) AND NOT list_has_any(list(sval), list(m)) AS simple
    FROM subs GROUP BY n
),
rows AS (
    SELECT f.n, f.extra_str, f.j, r.subs, r.n IS NOT NULL AS edited,
        CASE WHEN r.simple AND NOT f.extra_str THEN f.j::VARCHAR END AS t
    FROM sa_fc f LEFT JOIN by_row r USING (n) WHERE f.n NOT IN (SELECT n FROM sa_odd)
),
-- Without a backslash each string is its characters between two quotes: when a text's quoted form occurs exactly
-- as often as the strings edited from it, those are its only occurrences, and a text replacement is the edit.
exact AS MATERIALIZED (
    SELECT *, COALESCE(NOT contains(t, '\\') AND list_bool_and(list_transform(subs,
        lambda x: length(t) - length(replace(t, x.s, '')) = x.c * length(x.s))), false) AS by_text
    FROM rows
),
slow AS (SELECT n FROM exact WHERE edited AND NOT by_text),
-- The other rows' edits by path: their roots exploded again, with paths (the same tree, the same node ids).
paths AS (
    SELECT r.n, r.path AS root, t.id, r.path || substr(t.fullkey, 2) AS p
    FROM (SELECT * FROM sa_roots WHERE n IN (SELECT n FROM slow) AND s0 <> 'P' AND type IN ('OBJECT', 'ARRAY')) r,
        json_tree(r.value) t
),
edits AS (
    SELECT e.n, list({{'p': CASE WHEN e.id IS NULL THEN e.root ELSE p.p END, 'm': e.m}}) AS edits
    FROM ed e LEFT JOIN paths p ON p.n = e.n AND p.root = e.root AND p.id = e.id
    WHERE e.n IN (SELECT n FROM slow) GROUP BY e.n
),
done AS (
    SELECT x.n, x.extra_str,
        CASE WHEN x.by_text THEN list_reduce(x.subs, lambda acc, y: replace(acc, y.s, y.t), x.t) END AS text,
        CASE WHEN e.edits IS NULL THEN x.j
            ELSE list_reduce(e.edits, lambda acc, y: json_replace(acc, y.p, to_json(y.m)), x.j) END AS j
    FROM exact x LEFT JOIN edits e USING (n)
)
SELECT n, COALESCE(text, CASE WHEN extra_str THEN json_replace(j, '$.extra', to_json(json_extract(j, '$.extra')::VARCHAR))
    ELSE j END::VARCHAR) AS line
FROM done;
"""


_EXTRA_AS_TEXT = (
    "CASE WHEN extra_str THEN json_replace(j, '$.extra', to_json(json_extract(j, '$.extra')::VARCHAR))\n    ELSE j END"
)


def _statements(lo: int, hi: int, *, extra_as_text: bool = True) -> list[str]:
    sql = _STATES.replace("$lo", str(lo)).replace("$hi", str(hi))
    if not extra_as_text:  # the caller casts the line to columns: an extra object cast to VARCHAR is its JSON text
        assert _EXTRA_AS_TEXT in sql
        sql = sql.replace(_EXTRA_AS_TEXT, "j")
    for rel in ("raw", "sa_pre"):
        sql = sql.replace("{MASK:" + rel + "}", _mask_stages(rel))
    return [stmt for stmt in sql.split(";\n") if stmt.strip()]


def mask_findings_jsonl(src: Path, dst: Path, personal: dict[str, PersonalKind], *, workers: int | None = None) -> int:
    """Mask a JSON-lines file of findings (and other JSON rows) set-based into ``dst``; returns the rows written.

    The same rules as :func:`syncaudit.report.masking.mask_finding` for findings and ``mask_json`` for other
    rows; see the module docstring for the deliberate differences. The file goes through in blocks of whole
    lines (about 32 MB each), ``workers`` blocks at a time (default: one per core, at most :data:`MAX_WORKERS`),
    each on a DuckDB connection of its own (one thread, memory limit 1 GB spilling to a temporary folder), and
    the masked blocks are written in the file's order: memory is a few blocks' tables whatever the file's size.
    Many of the statements are small or run on one thread, so two blocks at once keep two cores busy where one
    block at a time kept about one and a half.
    """
    workers = max(1, workers or min(os.cpu_count() or 1, MAX_WORKERS))
    total = 0
    with written_over(dst) as tmp, tempfile.TemporaryDirectory(prefix="syncaudit-mask-") as spill:
        idle: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        opened = []
        try:
            for i in range(workers):
                opened.append(connect(personal, spill=str(Path(spill) / f"w{i}"), threads=1 if workers > 1 else None))
                idle.put(opened[-1])

            def masked(i: int, block: bytes) -> tuple[str, int]:
                con = idle.get()
                try:
                    block_file = Path(spill) / f"block-{i}.jsonl"
                    block_file.write_bytes(block)
                    try:
                        return _mask_block(con, block_file, personal)
                    finally:
                        block_file.unlink(missing_ok=True)
                finally:
                    idle.put(con)

            with tmp.open("w", encoding="utf-8") as fout, ThreadPoolExecutor(workers) as pool:
                pending: deque[Future[tuple[str, int]]] = deque()
                for i, block in enumerate(_blocks(src)):
                    pending.append(pool.submit(masked, i, block))
                    while len(pending) > workers or (pending and pending[0].done()):
                        text, rows = pending.popleft().result()
                        fout.write(text)
                        total += rows
                while pending:
                    text, rows = pending.popleft().result()
                    fout.write(text)
                    total += rows
        finally:
            for con in opened:
                con.close()
    return total


def _blocks(src: Path) -> Iterator[bytes]:
    """``src`` in blocks that end at a line break (a line longer than a block makes a longer block)."""
    size = _BLOCK_BYTES
    rest = b""
    with src.open("rb") as fh:
        while block := fh.read(size):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            if cut:
                yield block[:cut]
    if rest.strip():
        yield rest + b"\n"


def _mask_block(con: duckdb.DuckDBPyConnection, block: Path, personal: dict[str, PersonalKind]) -> tuple[str, int]:
    """One block's masked lines (each ending in a line break) and their count."""
    # Row numbers follow the file (a single scan keeps insertion order), so the output keeps the input's order.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sa_src AS SELECT row_number() OVER () AS n, json AS j "
        "FROM read_json_objects(?, format = 'newline_delimited')",
        [str(block)],
    )
    mask_loaded(con, personal)
    parts, written = [], 0
    for batch in con.sql("SELECT line FROM sa_out ORDER BY n").to_arrow_reader(50_000):
        if batch.num_rows:
            parts.append("\n".join(batch.column(0).to_pylist()) + "\n")
            written += batch.num_rows
    return "".join(parts), written


def mask_loaded(
    con: duckdb.DuckDBPyConnection, personal: dict[str, PersonalKind], *, extra_as_text: bool = True
) -> None:
    """Mask the rows of the temporary table ``sa_src`` (``n`` a row number, ``j`` the row as JSON) into ``sa_out``
    (``n``, ``line`` the masked row as JSON text); the connection comes from :func:`connect`. Without
    ``extra_as_text``, an ``extra`` that came as JSON text is left an object in ``line`` (for a caller that casts
    it back to text, which saves parsing each line twice more)."""
    for stmt in _statements(1, 1 << 62, extra_as_text=extra_as_text):
        con.execute(stmt)
    _python_fallback(con, personal)


def _python_fallback(con: duckdb.DuckDBPyConnection, personal: dict[str, PersonalKind]) -> None:
    """The rare rows the set-based path cannot address (see the module docstring): masked by the Python walk."""
    odd = con.execute("SELECT s.n, s.j::VARCHAR FROM sa_src s JOIN sa_odd o USING (n) ORDER BY s.n").fetchall()
    if not odd:
        return
    rows = []
    for n, text in odd:
        row = orjson.loads(text)
        is_f = isinstance(row, dict) and "kind" in row and "records" in row
        rows.append((n, orjson.dumps(mask_finding(row, personal) if is_f else mask_json(row)).decode("utf-8")))
    con.executemany("INSERT INTO sa_out VALUES (?, ?)", rows)


def reuse_masked_lines(src: Path, dst: Path, lines: Path, masked: Path) -> bool:
    """Write the masked ``src`` into ``dst`` from ``masked`` (``lines`` masked by :func:`mask_findings_jsonl`)
    instead of masking it again; False (and nothing written) unless each line of ``src`` is, byte for byte, a line
    of ``lines``.

    A line is masked from its own text alone, so the same text masks to the same line: the report's
    ``audit/findings.jsonl`` is the first part of its ``findings.jsonl`` and ``quality/findings.jsonl`` the last
    (``combine_findings`` joins the two files' bytes). That case is a byte comparison and a copy of the masked
    lines at the same place (:func:`_copy_line_range`); any other is set-based in DuckDB: lines matched by the
    MD5 of their text, the masked line taken at the twin's position, written in ``src``'s order.
    """
    if _copy_line_range(src, dst, lines, masked):
        return True
    read = (
        "SELECT row_number() OVER () AS n, json::VARCHAR AS t FROM read_json_objects(?, format = 'newline_delimited')"
    )
    with written_over(dst) as tmp, tempfile.TemporaryDirectory(prefix="syncaudit-reuse-") as spill:
        con = duckdb.connect()
        try:
            con.execute("SET memory_limit = '1GB'")
            con.execute(f"SET temp_directory = {_lit(spill)}")
            con.execute("SET preserve_insertion_order = true")
            try:  # lines DuckDB cannot read as JSON objects are no twin
                con.execute(f"CREATE TEMP TABLE sa_a AS SELECT n, md5(t) AS h FROM ({read})", [str(src)])
                con.execute(f"CREATE TEMP TABLE sa_b AS SELECT n, md5(t) AS h FROM ({read})", [str(lines)])
                con.execute(f"CREATE TEMP TABLE sa_m AS {read}", [str(masked)])
                con.execute(
                    "CREATE TEMP TABLE sa_twin AS SELECT b.h, any_value(m.t) AS t FROM sa_b b JOIN sa_m m USING (n) "
                    "GROUP BY b.h"
                )
                count, found, same_length = con.execute(
                    "SELECT count(*), count(w.t), (SELECT count(*) FROM sa_b) = (SELECT count(*) FROM sa_m) "
                    "FROM sa_a a LEFT JOIN sa_twin w USING (h)"
                ).fetchall()[0]
            except duckdb.Error:
                return False
            if not (count and found == count and same_length):
                return False
            with tmp.open("w", encoding="utf-8") as fout:
                out = con.sql("SELECT w.t FROM sa_a a JOIN sa_twin w USING (h) ORDER BY a.n")
                for batch in out.to_arrow_reader(50_000):
                    if batch.num_rows:
                        fout.write("\n".join(batch.column(0).to_pylist()) + "\n")
        finally:
            con.close()
    return True


_CHUNK = 8 << 20


def _copy_line_range(src: Path, dst: Path, lines: Path, masked: Path) -> bool:
    """``dst`` := the masked lines at ``src``'s place in ``lines``, when ``src`` is, byte for byte, the first or the
    last whole lines of ``lines`` (and each line of ``lines`` gave one masked line); else False, nothing written.
    Chunked byte comparisons and counts of line breaks: no line is parsed."""
    size, whole = src.stat().st_size, lines.stat().st_size
    if not size or size > whole or not _ends_with(src, b"\n") or not _ends_with(lines, b"\n"):
        return False
    for offset in dict.fromkeys((0, whole - size)):
        if offset and _byte_at(lines, offset - 1) != b"\n":
            continue
        count = _same_bytes(src, lines, offset)  # src's line breaks, or None
        if count is None:
            continue
        first = _count_breaks(lines, offset)
        in_lines = first + count + _count_breaks(lines, whole, start=offset + size)
        if not _ends_with(masked, b"\n"):
            return False
        offsets, in_masked = _break_offsets(masked, first, first + count)
        if in_masked != in_lines or len(offsets) != 2:
            return False  # a blank line, or a line that gave none: positions do not correspond
        start, end = offsets
        with written_over(dst) as tmp, masked.open("rb") as fin, tmp.open("wb") as fout:
            _copy_bytes(fin, fout, start, end - start)
        return True
    return False


def _copy_bytes(fin: BinaryIO, fout: BinaryIO, start: int, length: int) -> None:
    """``length`` bytes of ``fin`` from ``start`` into ``fout``: in the kernel where it can (no copy through Python)."""
    left = length
    if hasattr(os, "copy_file_range"):
        try:
            while left > 0 and (done := os.copy_file_range(fin.fileno(), fout.fileno(), left, start + length - left)):
                left -= done
        except OSError:  # a file system without it: the plain copy does the rest
            pass
    fout.seek(length - left)
    fin.seek(start + length - left)
    while left > 0 and (chunk := fin.read(min(_CHUNK, left))):
        fout.write(chunk)
        left -= len(chunk)


def _ends_with(path: Path, tail: bytes) -> bool:
    with path.open("rb") as fh:
        fh.seek(max(path.stat().st_size - len(tail), 0))
        return fh.read() == tail


def _byte_at(path: Path, offset: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(1)


def _same_bytes(src: Path, other: Path, offset: int) -> int | None:
    """The line breaks in ``src`` when ``other`` holds its bytes at ``offset``; else None."""
    count = 0
    with src.open("rb") as a, other.open("rb") as b:
        b.seek(offset)
        while chunk := a.read(_CHUNK):
            if b.read(len(chunk)) != chunk:
                return None
            count += chunk.count(b"\n")
    return count


def _count_breaks(path: Path, upto: int, *, start: int = 0) -> int:
    """Line breaks in bytes ``start`` to ``upto`` of ``path``."""
    count, left = 0, upto - start
    with path.open("rb") as fh:
        fh.seek(start)
        while left > 0 and (chunk := fh.read(min(_CHUNK, left))):
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


def _break_offsets(path: Path, *lines: int) -> tuple[list[int], int]:
    """The byte offset where line ``k`` (0-based) starts, for each ``k`` of ``lines`` (ascending) that the file
    holds, and the file's line breaks (one pass)."""
    out, seen, pos = [], 0, 0
    wanted = list(lines)
    with path.open("rb") as fh:
        while wanted and wanted[0] == 0:
            out.append(0)
            wanted.pop(0)
        while chunk := fh.read(_CHUNK):
            here = chunk.count(b"\n")
            while wanted and seen + here >= wanted[0]:
                at, need = -1, wanted[0] - seen
                for _ in range(need):
                    at = chunk.index(b"\n", at + 1)
                out.append(pos + at + 1)
                wanted.pop(0)
            seen += here
            pos += len(chunk)
    return out, seen
