"""The set-based masking of a findings file (DuckDB) against the Python walk it replaces on the publish path.

The hostile corpus (tests/masking_corpus.py) mixes Unicode names and addresses, IDN domains, emails glued to
punctuation, display names before addresses, phone formats next to dates and ids that look like phones,
formula-injection prefixes, HTML, JSON in text and nested ``extra`` parts. Both paths must give the same
findings; where the set-based path deliberately differs, it masks more and no personal value leaks.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from masking_corpus import HOSTILE_TEXTS, PERSONAL, hostile_findings
from syncaudit.report import masking_parquet, masking_sql, publish
from syncaudit.report.masking import mask_finding, mask_json, mask_value, sweep_text
from syncaudit.report.masking_sql import mask_findings_jsonl, mask_kind_sql, sweep_sql


def _python(row: dict) -> dict:
    return mask_finding(row, PERSONAL) if "kind" in row and "records" in row else mask_json(row)  # type: ignore[return-value]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _same(old: dict, new: dict) -> bool:
    """Equal findings; an ``extra`` written as JSON text is compared by what it holds (its spacing differs)."""
    if isinstance(old.get("extra"), str) and isinstance(new.get("extra"), str) and old["extra"][:1] == "{":
        old, new = old | {"extra": json.loads(old["extra"])}, new | {"extra": json.loads(new["extra"])}
    return old == new


def test_the_sql_patterns_sweep_and_mask_exactly_like_python() -> None:
    con = masking_sql.connect(PERSONAL)
    swept = sweep_sql(con, HOSTILE_TEXTS)
    assert swept == [sweep_text(t) if t else t for t in HOSTILE_TEXTS]
    for kind in ("email", "phone", "name"):
        assert mask_kind_sql(con, HOSTILE_TEXTS, kind) == [mask_value(t, kind) for t in HOSTILE_TEXTS]
    by_text = dict(zip(HOSTILE_TEXTS, swept, strict=True))
    # What the equality rests on: the corpus holds what must change and what must not.
    assert by_text["tel: 555-123-4567/555-123-4568"] == "tel: ***67/***68"  # a look-ahead and look-behind share '/'
    assert by_text["555-123-4567/+49 151 2345 6789"] == "***67/***89"
    assert by_text["2026-11-26 12"] == "2026-11-26 12" and by_text["20261126"] == "20261126"
    assert by_text["münchen.müller@bücher.de, 山田太郎@例え.jp and ивaн.петров@почта.рф"] == (
        "m***@bücher.de, 山***@例え.jp and и***@почта.рф"
    )
    assert by_text["(Jane Doe <jane@x.com>), [Bob Stone <bob@corp.io>]: 'Ann Lee <ann.lee@a.b.co.uk>'"] == (
        "(J*** D*** <j***@x.com>), [B*** S*** <b***@corp.io>]: 'A*** L*** <a***@a.b.co.uk>'"
    )
    assert by_text["١٢٣ ٤٥٦ ٧٨٩٠ arabic-indic"] == "***٩٠ arabic-indic"  # Unicode digits are digits
    assert (
        by_text["ids 001Dn00003OgSUCIA3, 6594fbf51bb69f9f2200284c"]
        == "ids 001Dn00003OgSUCIA3, 6594fbf51bb69f9f2200284c"
    )


def test_set_based_findings_equal_the_python_walk(tmp_path) -> None:
    rows = hostile_findings()
    src = _write(tmp_path / "findings.jsonl", rows)
    # Rows json_replace cannot address (an empty key, a repeated key) go through the Python walk.
    with src.open("ab") as fh:
        fh.write(
            b'{"id":"e1","kind":"duplicate","records":["a"],"extra":{"":"jane@x.com","merge":{"email":"bo@x.io"}}}\n'
        )
        fh.write(b'{"id":"e2","kind":"duplicate","records":["a"],"detail":"x","detail":"Ann Lee <ann@x.io>"}\n')
    mask_findings_jsonl(src, tmp_path / "out.jsonl", PERSONAL)
    new = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    old = [_python(orjson.loads(line)) for line in src.read_bytes().splitlines()]
    assert len(new) == len(old) == len(rows) + 2
    differing = [(o, n) for o, n in zip(old, new, strict=True) if not _same(o, n)]
    assert differing == []
    assert [r.get("id") for r in new] == [r.get("id") for r in old]  # the file's order is kept
    out = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    for raw in ("jane.doe@", "zoë.ågren", "Bartholomew", "7946 0958", "555-0132", "jose.nunez", "ивaн.петров"):
        assert raw not in out


def test_deliberate_differences_mask_more(tmp_path) -> None:
    """An ``extra`` that is text but not a JSON object, or a list, was copied unmasked by the Python walk; the
    set-based path sweeps it. The marker noncharacters are dropped. Neither lets a personal value through."""
    rows = [
        {"id": "t", "kind": "orphan", "records": ["a"], "extra": "owner jane.doe@example.com, +44 20 7946 0958"},
        {
            "id": "l",
            "kind": "orphan",
            "records": ["a"],
            "extra": ["jane.doe@example.com", {"phone": "+1 415 555 0132"}],
        },
        {"id": "m", "kind": "orphan", "records": ["a"], "detail": "call\ufdd0 +1 415 555 0132\ufdd1 jane.doe@x.io"},
    ]
    mask_findings_jsonl(_write(tmp_path / "f.jsonl", rows), tmp_path / "o.jsonl", PERSONAL)
    new = [orjson.loads(line) for line in (tmp_path / "o.jsonl").read_bytes().splitlines()]
    old = [_python(r) for r in rows]
    assert old[0]["extra"] == rows[0]["extra"] and old[1]["extra"] == rows[1]["extra"]  # the gap that was there
    assert new[0]["extra"] == "owner j***@example.com, ***58"
    assert new[1]["extra"] == ["j***@example.com", {"phone": "***32"}]
    assert new[2]["detail"] == "call ***32 j***@x.io"
    text = (tmp_path / "o.jsonl").read_text(encoding="utf-8")
    assert not re.search(r"jane|7946|0132|415 555", text)


# Rows whose masking changes them, with no "@" and no phone number a sweep would find: each must go the whole way.
_NOT_PLAIN = [
    {"id": "merge", "kind": "duplicate", "records": ["a"], "extra": {"merge": {"full_name": {"value": "Ann Lee"}}}},
    {"id": "field", "kind": "field_drift", "records": ["a"], "field": "Alias", "values": {"salesforce": "Annie"}},
    {
        "id": "known",
        "kind": "field_drift",
        "records": ["a"],
        "field": "Alias",
        "detail": "Annie vs Anna",
        "values": {"salesforce": "Annie", "intercom": "Anna"},
    },
    {
        "id": "evidence",
        "kind": "duplicate",
        "records": ["a"],
        "extra": {"pairs": [{"fields": [{"field": "city", "left": "Springfield", "right": "Shelbyville"}]}]},
    },
    {"id": "mobile", "kind": "orphan", "records": ["a"], "extra": {"Mobile_Number": "0712345678"}},
    {"id": "leaf", "kind": "orphan", "records": ["a"], "extra": {"Owner.FirstName__c": "Ann"}},
    {"id": "case", "kind": "orphan", "records": ["a"], "extra": {"Alias": "Annie"}},
    {"id": "plus", "kind": "orphan", "records": ["a"], "detail": "call +4915112345678"},
    {"id": "groups", "kind": "orphan", "records": ["a"], "detail": "call (030) 123-4567"},
    {"id": "escaped", "kind": "orphan", "records": ["a"], "detail": "jane.doe\u0040example.com"},
    {"id": "marker", "kind": "orphan", "records": ["a"], "detail": "Ann\ufdd0"},
    {"id": "text", "kind": "orphan", "records": ["a"], "extra": '{"email": "bo"}'},
    {"id": "braces", "kind": "orphan", "records": ["a"], "extra": "{ }"},  # JSON text: written back compact
    {"note": "not a finding: call +4915112345678"},
]
# Rows no rule changes: copied as they came, never exploded.
_PLAIN = [
    {"id": "o", "kind": "orphan", "records": ["003A"], "detail": "Account 001B has no company", "confidence": 0.9999},
    {
        "id": "d",
        "kind": "field_drift",
        "records": ["a"],
        "field": "industry",
        "values": {"salesforce": "Retail"},
        "detail": "snapshot snap-200000-11, 6220951 s before",
        "extra": {"lag": [1.5, 2e-3], "ok": True},
    },
    {"id": "q", "kind": "quality", "records": [], "detail": "expectation failed: 12 of 4000 rows"},
]
_ALIAS = {**PERSONAL, "Alias": "name"}


def test_a_row_no_rule_can_change_is_copied_and_every_other_goes_the_whole_way(tmp_path) -> None:
    """The hard negatives first: a look-alike of a plain row that masking changes (a name under a personal key or
    field, a match's evidence, an escape, a phone without "@") must be masked as the Python walk masks it."""
    src = tmp_path / "f.jsonl"
    src.write_bytes(
        b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in _NOT_PLAIN + _PLAIN).replace(
            b"jane.doe@example.com", b"jane.doe\\u0040example.com"
        )
    )
    mask_findings_jsonl(src, tmp_path / "o.jsonl", _ALIAS)
    lines = src.read_bytes().splitlines()
    out = (tmp_path / "o.jsonl").read_bytes().splitlines()
    for line, masked in zip(lines, out, strict=True):
        row = orjson.loads(line)
        python = mask_finding(row, _ALIAS) if "kind" in row and "records" in row else mask_json(row)
        if row.get("id") == "marker":  # a deliberate difference: the set-based path drops the markers
            python = {**python, "detail": "Ann"}
        assert _same(python, orjson.loads(masked)), row
        assert (python == row) == (row in _PLAIN), row
    assert out[len(_NOT_PLAIN) :] == lines[len(_NOT_PLAIN) :]  # byte for byte
    con = masking_sql.connect(_ALIAS)
    con.execute(
        "CREATE TEMP TABLE sa_src AS SELECT row_number() OVER () AS n, json AS j "
        "FROM read_json_objects(?, format = 'newline_delimited')",
        [str(src)],
    )
    masking_sql.mask_loaded(con, _ALIAS)
    walked = {n for (n,) in con.execute("SELECT DISTINCT n FROM sa_roots").fetchall()}
    assert walked == set(range(1, len(_NOT_PLAIN) + 1))  # the plain rows were not exploded


def test_the_plain_test_never_passes_a_row_the_python_walk_changes() -> None:
    con = masking_sql.connect(PERSONAL)
    rows = hostile_findings() + [
        {"id": i, "kind": "orphan", "records": [], "detail": t} for i, t in enumerate(HOSTILE_TEXTS)
    ]
    texts = [orjson.dumps(r).decode() for r in rows]
    plain = [p for (p,) in con.execute("SELECT sa_plain(t) FROM unnest(?::VARCHAR[]) AS u(t)", [texts]).fetchall()]
    assert any(plain) and not all(plain)
    assert [r for r, p in zip(rows, plain, strict=True) if p and _python(r) != r] == []


def test_edits_are_text_replacements_only_where_each_occurrence_is_an_edit(tmp_path) -> None:
    """A masked string is written back by replacing its quoted text in the line (the rest keeps its bytes) when
    every occurrence of that quoted text is a string being masked the same way. The look-alikes: the same text
    as a key, as a string that stays, or masked two ways, or a mask that is itself a text being masked: those rows
    are written back node by node (``json_replace``, compact JSON)."""
    merge = {"full_name": {"value": "Ann Lee", "from": "003A"}}
    rows = [
        {"id": "simple", "kind": "duplicate", "records": ["a"], "extra": {"merge": merge}, "detail": "n/a"},
        {"id": "as_key", "kind": "duplicate", "records": ["a"], "extra": {"merge": merge, "Ann Lee": 1}},
        {"id": "kept", "kind": "duplicate", "records": ["Ann Lee"], "extra": {"merge": merge}},
        {"id": "two_ways", "kind": "duplicate", "records": ["a"], "extra": {"merge": merge, "email": "Ann Lee"}},
        {
            "id": "chain",
            "kind": "duplicate",
            "records": ["a"],
            "extra": {"merge": merge, "email": "A*** L***"},
        },
    ]
    src = tmp_path / "f.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    mask_findings_jsonl(src, tmp_path / "o.jsonl", PERSONAL)
    out = (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()
    for row, line in zip(rows, out, strict=True):
        assert _same(_python(row), orjson.loads(line)), row
    assert "Ann Lee" not in out[0] and "A*** L***" in out[0]
    assert out[0] == json.dumps(_python(rows[0]), ensure_ascii=False)  # the line's own spacing: by text
    assert [", " in line for line in out[1:]] == [False] * 4  # compact: node by node
    assert '"Ann Lee":1' in out[1] and '"records":["Ann Lee"]' in out[2]


def test_publishing_a_findings_file_makes_no_python_call_per_finding(tmp_path, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the publish path walked a finding in Python")

    monkeypatch.setattr(publish, "mask_finding", refuse)
    monkeypatch.setattr(masking_sql, "mask_finding", refuse)
    monkeypatch.setattr(publish, "mask_json", refuse)
    monkeypatch.setattr(masking_sql, "mask_json", refuse)
    rows = hostile_findings()
    (tmp_path / "work").mkdir()
    _write(tmp_path / "work" / "findings.jsonl", rows)
    done = publish.publish_folder(tmp_path / "work", tmp_path / "pub", mask=True, personal=PERSONAL)
    assert done.withheld == [] and done.files == ["findings.jsonl"]
    published = (tmp_path / "pub" / "findings.jsonl").read_text(encoding="utf-8")
    assert len(published.rstrip("\n").split("\n")) == len(rows)  # (\u2028 is not a line break here)
    assert "jane.doe@example.com" not in published and "j***@example.com" in published


def test_blocks_end_at_line_breaks_whatever_their_size(tmp_path, monkeypatch) -> None:
    src = _write(tmp_path / "f.jsonl", hostile_findings())
    mask_findings_jsonl(src, tmp_path / "one.jsonl", PERSONAL)
    longest = max(len(line) for line in src.read_bytes().splitlines())
    monkeypatch.setattr(masking_sql, "_BLOCK_BYTES", longest * 10)
    assert 10 < len(list(masking_sql._blocks(src))) < 40
    monkeypatch.setattr(masking_sql, "_BLOCK_BYTES", 200)  # shorter than every line: one line a block
    assert len(list(masking_sql._blocks(src))) == len(src.read_bytes().splitlines())
    monkeypatch.setattr(masking_sql, "_BLOCK_BYTES", longest * 10)
    mask_findings_jsonl(src, tmp_path / "many.jsonl", PERSONAL, workers=1)
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    # Blocks masked three at a time, of unequal cost, are written in the file's order.
    slow = masking_sql._mask_block
    order: list[int] = []

    def uneven(con, block, personal):  # noqa: ANN001, ANN202
        order.append(len(order))
        if len(order) % 3 == 1:
            time.sleep(0.2)  # the first of every three finishes last
        return slow(con, block, personal)

    monkeypatch.setattr(masking_sql, "_mask_block", uneven)
    n = mask_findings_jsonl(src, tmp_path / "parallel.jsonl", PERSONAL, workers=3)
    assert n == len(src.read_bytes().splitlines()) and len(order) > 10
    assert (tmp_path / "parallel.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


@pytest.mark.parametrize("content", [b"", b'{"a":1}\n\n  \n{"b":"jane@x.com"}\n'])
def test_empty_and_blank_lines(tmp_path, content) -> None:
    (tmp_path / "f.jsonl").write_bytes(content)
    n = mask_findings_jsonl(tmp_path / "f.jsonl", tmp_path / "o.jsonl", PERSONAL)
    lines = (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()
    assert n == len(lines) == content.count(b"{")
    assert "jane@" not in "".join(lines)


def test_a_line_that_is_not_json_withholds_the_file(tmp_path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "findings.jsonl").write_text('{"a": 1}\nnot json\n', encoding="utf-8")
    done = publish.publish_folder(tmp_path / "work", tmp_path / "pub", mask=True, personal=PERSONAL)
    assert done.withheld == ["findings.jsonl"]
    assert not list((tmp_path / "pub").glob("*.jsonl*"))


# findings.parquet: the audit's schema (extra as JSON text), and a table whose extra is nested Parquet structs.
AUDIT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("kind", pa.string()),
        ("system", pa.string()),
        ("object", pa.string()),
        ("records", pa.list_(pa.string())),
        ("field", pa.string()),
        ("severity", pa.string()),
        ("detail", pa.string()),
        ("suggested_fix", pa.string()),
        ("values", pa.struct([("salesforce", pa.string()), ("intercom", pa.string())])),
        ("confidence", pa.float64()),
        ("rule", pa.string()),
        ("suggested_survivor", pa.string()),
        ("extra", pa.string()),
        ("snapshot", pa.string()),
    ]
)


def _text(value: object) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _audit_rows() -> list[dict]:
    """The hostile findings in the audit's Parquet columns (nested values and non-text fixes as JSON text)."""
    rows = []
    for r in hostile_findings():
        if "records" not in r:
            continue
        values = r.get("values") or {}
        row = {name: _text(r.get(name)) for name in AUDIT_SCHEMA.names} | {
            "records": r["records"],
            "confidence": r.get("confidence"),
            "values": {side: _text(values.get(side)) for side in ("salesforce", "intercom")},
        }
        rows.append(row)
    rows[3] |= {"records": [], "values": None, "extra": None, "detail": None}  # empty list, nulls
    rows[4] |= {"extra": "{}", "values": {"salesforce": None, "intercom": None}}
    return rows


def _struct_rows() -> list[dict]:
    """Findings whose extra is a Parquet struct: nested structs and lists of structs, nulls, empty lists, plus
    columns without text (a timestamp, an integer) that must pass through untouched."""
    rows = []
    for i, text in enumerate(HOSTILE_TEXTS):
        nxt = HOSTILE_TEXTS[(i + 5) % len(HOSTILE_TEXTS)]
        fields = [
            {"field": "email", "left": text, "right": nxt, "level": "exact"},
            {"field": "company", "left": text, "right": nxt, "level": "same"},
            {"field": "birthdate", "left": "1980-02-03", "right": text, "level": None},
            {"field": None, "left": text, "right": None, "level": "x"},
        ]
        extra = {
            "newer": "salesforce",
            "normalized": {"salesforce": text.lower(), "intercom": nxt} if i % 3 else None,
            "owner": {"changed_by": text, "email": nxt},
            "evidence": {
                "match_probability": 0.97,
                "pairs": [{"records": ["003a"], "fields": fields}] if i % 4 else [],
            },
            "merge": {
                "full_name": {"value": text, "from": "003a", "candidates": [text, None, nxt]},
                "email": {"value": nxt, "records": [], "alternatives": [{"value": text, "id": text}]},
                "notes": text,
            },
        }
        rows.append(
            {
                "id": f"s{i}",
                "kind": "duplicate" if i % 2 else "field_drift",
                "records": [f"003{i:05d}"] if i % 5 else [],
                "field": ("email", "full_name", "phone", None, "website")[i % 5],
                "severity": ("high", "low")[i % 2],
                "values": {"salesforce": text, "intercom": None if i % 6 == 0 else nxt},
                "detail": f"{text} vs {nxt}",
                "extra": None if i % 11 == 0 else extra,
                "custom": {"note": nxt, "list": [text, None]},
                "seen": i * 1_000_000,
                "n": i,
            }
        )
    table = pa.Table.from_pylist(rows)
    seen = table.schema.get_field_index("seen")
    table = table.set_column(seen, "seen", table.column("seen").cast(pa.timestamp("us")))
    severity = table.schema.get_field_index("severity")
    return table.set_column(severity, "severity", table.column("severity").dictionary_encode())


def _python_parquet(src: Path) -> list[dict]:
    """What the publish path gave before it was set-based: each row walked by mask_finding, same schema."""
    table = pq.read_table(src)
    rows = [mask_finding(r, PERSONAL) for r in table.to_pylist()]
    return pa.Table.from_pylist(rows, schema=table.schema).to_pylist()


def _parquet_corpora(tmp_path: Path) -> list[Path]:
    audit = tmp_path / "audit.parquet"
    pq.write_table(pa.Table.from_pylist(_audit_rows(), schema=AUDIT_SCHEMA), audit)
    struct = tmp_path / "struct.parquet"
    pq.write_table(_struct_rows(), struct)
    return [audit, struct]


def test_set_based_parquet_findings_equal_the_python_walk(tmp_path, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the publish path walked a finding in Python")

    for src in _parquet_corpora(tmp_path):
        expected = _python_parquet(src)
        work, pub = tmp_path / f"work-{src.stem}", tmp_path / f"pub-{src.stem}"
        (work / "audit").mkdir(parents=True)
        shutil.copyfile(src, work / "audit" / "findings.parquet")
        with monkeypatch.context() as m:
            for module in (publish, masking_sql):
                m.setattr(module, "mask_finding", refuse)
            done = publish.publish_folder(work, pub, mask=True, personal=PERSONAL)
        assert done.withheld == [] and done.files == ["audit/findings.parquet"]
        out = pub / "audit" / "findings.parquet"
        assert pq.read_schema(out) == pq.read_schema(src)
        assert pq.read_schema(out).metadata == pq.read_schema(src).metadata
        got = pq.read_table(out).to_pylist()
        assert len(got) == len(expected) > 60
        differing = [(o, n) for o, n in zip(expected, got, strict=True) if not _same(o, n)]
        assert differing == []
        text = json.dumps(got, ensure_ascii=False, default=str)
        for raw in ("jane.doe@", "zoë.ågren", "7946 0958", "555-0132", "jose.nunez", "ивaн.петров"):
            assert raw not in text
        # What the equality rests on: values masked, and record ids and columns without text kept.
        assert "j***@example.com" in text and "J*** D***" in text
        source = pq.read_table(src)
        for name in ("id", "records", "confidence", "seen", "n"):
            if name in source.column_names:
                assert pq.read_table(out).column(name).equals(source.column(name))


def test_parquet_batches_keep_the_order(tmp_path) -> None:
    src = _parquet_corpora(tmp_path)[1]
    one = masking_parquet.mask_findings_parquet(src, tmp_path / "one.parquet", PERSONAL)
    many = masking_parquet.mask_findings_parquet(src, tmp_path / "many.parquet", PERSONAL, batch_rows=7)
    assert one == many == pq.read_metadata(src).num_rows
    assert pq.read_table(tmp_path / "many.parquet").to_pylist() == pq.read_table(tmp_path / "one.parquet").to_pylist()
    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(src).slice(0, 0), empty)
    assert masking_parquet.mask_findings_parquet(empty, tmp_path / "e.parquet", PERSONAL) == 0
    assert pq.read_schema(tmp_path / "e.parquet") == pq.read_schema(src)


def test_a_parquet_column_without_a_json_form_is_walked_in_python(tmp_path) -> None:
    """A map of texts cannot make the JSON round trip: that file goes through the Python walk, still masked."""
    table = pa.table(
        {
            "kind": ["orphan"],
            "records": [["003a"]],
            "detail": ["mail jane.doe@example.com"],
            "tags": pa.array([[("owner", "jane.doe@example.com")]], pa.map_(pa.string(), pa.string())),
        }
    )
    assert not masking_parquet.supported(table.schema)
    (tmp_path / "work").mkdir()
    pq.write_table(table, tmp_path / "work" / "findings.parquet")
    done = publish.publish_folder(tmp_path / "work", tmp_path / "pub", mask=True, personal=PERSONAL)
    assert done.files == ["findings.parquet"]
    got = pq.read_table(tmp_path / "pub" / "findings.parquet")
    assert got.schema == table.schema
    assert got.column("detail").to_pylist() == ["mail j***@example.com"]


def test_parquet_types_nullability_and_metadata_are_kept(tmp_path) -> None:
    """Large and view string types, required fields, list item names and schema metadata survive the round trip."""
    item = pa.field("item", pa.string(), nullable=False)
    schema = pa.schema(
        [
            pa.field("kind", pa.string(), nullable=False),
            pa.field("records", pa.large_list(item), nullable=False),
            ("field", pa.string()),
            (
                "values",
                pa.struct([pa.field("salesforce", pa.large_string(), nullable=False), ("intercom", pa.string())]),
            ),
            ("detail", pa.string_view()),
            ("extra", pa.large_string()),
        ],
        metadata={b"origin": b"test"},
    )
    rows = [
        {
            "kind": "duplicate",
            "records": ["003a", "003b"],
            "field": "email",
            "values": {"salesforce": HOSTILE_TEXTS[i], "intercom": None},
            "detail": HOSTILE_TEXTS[-i - 1],
            "extra": json.dumps({"email": {"value": HOSTILE_TEXTS[i]}, "notes": [HOSTILE_TEXTS[i + 1]]}),
        }
        for i in range(20)
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "f.parquet")
    masking_parquet.mask_findings_parquet(tmp_path / "f.parquet", tmp_path / "o.parquet", PERSONAL)
    assert (
        pq.read_schema(tmp_path / "o.parquet") == schema
        and pq.read_schema(tmp_path / "o.parquet").metadata == schema.metadata
    )
    got = pq.read_table(tmp_path / "o.parquet").to_pylist()
    expected = _python_parquet(tmp_path / "f.parquet")
    assert [_same(o, n) for o, n in zip(expected, got, strict=True)] == [True] * len(rows)
    assert got[0]["values"]["salesforce"] != rows[0]["values"]["salesforce"]


# --- a findings Parquet file written from the masked lines of its findings.jsonl twin (mask each finding once) ---


def _twin_lines(src: Path, dst: Path, quality: int = 5) -> list[dict]:
    """The Parquet rows as the audit writes its findings.jsonl (DuckDB COPY, ``extra`` text as its object), in
    reverse order, with quality findings (only in the lines) among them, as ``combine_findings`` leaves them."""
    import duckdb

    con = duckdb.connect()
    names = pq.read_schema(src).names
    extra = (
        "CASE WHEN starts_with(extra, '{') AND json_valid(extra) THEN extra::JSON ELSE to_json(extra) END"
        if pq.read_schema(src).field("extra").type == pa.string()
        else "extra"
    )
    cols = ", ".join(extra + " AS extra" if n == "extra" else f'"{n}"' for n in names)
    con.execute(f"COPY (SELECT {cols} FROM read_parquet('{src}')) TO '{dst}' (FORMAT json)")
    con.close()
    rows = [orjson.loads(line) for line in dst.read_bytes().splitlines()][::-1]
    for i in range(quality):
        rows.insert(i * 7, {"id": f"q{i}", "kind": "quality", "records": [], "detail": HOSTILE_TEXTS[i]})
    _write(dst, rows)
    return rows


def _report_folder(tmp_path: Path, src: Path, lines: list[dict] | None = None) -> Path:
    """A report work folder: findings.jsonl at the top, the audit's findings.parquet under audit/."""
    work = tmp_path / f"work-{src.stem}"
    (work / "audit").mkdir(parents=True)
    shutil.copyfile(src, work / "audit" / "findings.parquet")
    twin = _twin_lines(src, work / "findings.jsonl")
    if lines is not None:
        _write(work / "findings.jsonl", lines)
    (work / "metrics.json").write_text('{"contact": "jane.doe@example.com"}', encoding="utf-8")
    return work if lines is not None else (work, twin)  # type: ignore[return-value]


def _alone(tmp_path: Path, src: Path) -> bytes:
    """The Parquet file masked on its own: what the publish must write byte for byte."""
    out = tmp_path / f"alone-{src.stem}.parquet"
    masking_parquet.mask_findings_parquet(src, out, PERSONAL)
    return out.read_bytes()


def test_a_findings_parquet_is_written_from_its_masked_jsonl_twin(tmp_path, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the Parquet findings were masked a second time")

    for src in _parquet_corpora(tmp_path):
        expected = _alone(tmp_path, src)
        work, _ = _report_folder(tmp_path, src)
        pub = tmp_path / f"pub-{src.stem}"
        with monkeypatch.context() as m:
            m.setattr(masking_parquet, "mask_findings_parquet", refuse)
            done = publish.publish_folder(work, pub, mask=True, personal=PERSONAL)
        assert done.withheld == []
        assert done.files == ["audit/findings.parquet", "findings.jsonl", "metrics.json"]
        out = pub / "audit" / "findings.parquet"
        assert pq.read_schema(out).metadata == pq.read_schema(src).metadata
        assert pq.read_table(out).equals(pq.read_table(tmp_path / f"alone-{src.stem}.parquet"), check_metadata=True)
        assert out.read_bytes() == expected
        # What the equality rests on: the rows were masked (and the quality lines were not in the Parquet).
        assert b"jane.doe@" in src.read_bytes() and b"jane.doe@" not in out.read_bytes()
        assert pq.read_metadata(out).num_rows == pq.read_metadata(src).num_rows > 60


def _differ_text(lines: list[dict]) -> None:
    row = next(r for r in lines if r["kind"] != "quality" and isinstance(r.get("detail"), str))
    row["detail"] += " call 555-0132"


def _differ_absent(lines: list[dict]) -> None:
    row = next(r for r in lines if r["kind"] != "quality" and r.get("values"))
    del row["records"]  # absent is not null: a row without records is not a finding, its values not personal


def _differ_nested(lines: list[dict]) -> None:
    row = next(r for r in lines if r["kind"] != "quality" and isinstance(r.get("extra"), dict) and r["extra"])
    row["extra"] = {**row["extra"], "email": "jane.doe@example.com"}


def _missing(lines: list[dict]) -> None:
    gone = next(r for r in lines if r["kind"] != "quality")["id"]
    lines[:] = [r for r in lines if r["id"] != gone]


def _duplicate(lines: list[dict]) -> None:
    lines.append(dict(next(r for r in lines if r["kind"] != "quality")))


@pytest.mark.parametrize("change", [_differ_text, _differ_absent, _differ_nested, _missing, _duplicate])
def test_without_an_identical_twin_for_every_row_the_parquet_is_masked_itself(
    tmp_path, monkeypatch, caplog, change
) -> None:
    calls = []
    real = masking_parquet.mask_findings_parquet

    def spy(*args: object, **kwargs: object) -> int:
        calls.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    for src in _parquet_corpora(tmp_path):
        expected = _alone(tmp_path, src)
        work, lines = _report_folder(tmp_path, src)
        before = orjson.dumps(lines)
        change(lines)
        assert orjson.dumps(lines) != before
        _write(work / "findings.jsonl", lines)
        pub = tmp_path / f"pub-{src.stem}"
        calls.clear()
        caplog.clear()
        with monkeypatch.context() as m, caplog.at_level(logging.INFO, logger="syncaudit.report.publish"):
            m.setattr(masking_parquet, "mask_findings_parquet", spy)
            done = publish.publish_folder(work, pub, mask=True, personal=PERSONAL)
        assert done.withheld == []
        assert calls == [work / "audit" / "findings.parquet"]
        # Said, so a run that takes twice the time says why.
        assert [r.getMessage() for r in caplog.records] == [
            f"audit/findings.parquet: not every row has an identical line in {work.name}/findings.jsonl; "
            "masked on its own"
        ]
        assert (pub / "audit" / "findings.parquet").read_bytes() == expected


def test_rows_that_are_not_findings_are_not_paired_by_id(tmp_path) -> None:
    """Lines pair with masked lines by id, which holds only for findings (their ids are never masked). A Parquet
    file without ``records`` holds other rows: masking may rewrite their ids (``sweep_text``), so no reuse."""
    rows = [
        {"id": "+44 20 7946 0132", "kind": "note", "detail": "call +44 20 7946 0132"},
        {"id": "n2", "kind": "note", "detail": None},
    ]
    src = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), src)
    lines, masked = tmp_path / "rows.jsonl", tmp_path / "masked.jsonl"
    _write(lines, rows)
    mask_findings_jsonl(lines, masked, PERSONAL)
    assert b"7946" not in masked.read_bytes()  # the first row's id was masked with its detail
    assert not masking_parquet.reuse_masked_jsonl(src, tmp_path / "x.parquet", lines, masked)
    assert not (tmp_path / "x.parquet").exists()
    with_records = [{**r, "records": [r["id"]]} for r in rows]  # findings: ids kept, and the reuse is taken
    pq.write_table(pa.Table.from_pylist(with_records), src)
    _write(lines, with_records)
    mask_findings_jsonl(lines, masked, PERSONAL)
    assert masking_parquet.reuse_masked_jsonl(src, tmp_path / "x.parquet", lines, masked)
    assert pq.read_table(tmp_path / "x.parquet").column("id").to_pylist() == ["+44 20 7946 0132", "n2"]


def _edit_line(text: bytes, edit) -> bytes:
    """``text`` with its first line that is a finding (not a quality line) passed through ``edit`` (bytes)."""
    lines = text.split(b"\n")
    i = next(i for i, ln in enumerate(lines) if ln.startswith(b"{") and b'"kind":"quality"' not in ln)
    lines[i] = edit(lines[i])
    return b"\n".join(lines)


def _other_key(key: bytes, value: bytes):
    return lambda line: line[:-1] + b"," + key + b":" + value + b"}"


_NOT_A_TWIN = {
    "another key holds an object": _other_key(b'"note"', b'{"email":"x"}'),
    "another key holds a list": _other_key(b'"note"', b'["x"]'),
    "a column without text holds a list": lambda line: re.sub(rb'"confidence":[^,}]*', b'"confidence":[1]', line),
    "another key's name has a quote": _other_key(b'"no\\"te"', b"1"),
    "another key's name has a backslash": _other_key(b'"no\\\\te"', b"1"),
    "an empty key": _other_key(b'""', b"1"),
    "a walked key twice": _other_key(b'"detail"', b'"call 555-0132"'),
    "another key twice": lambda line: _other_key(b'"note"', b"2")(_other_key(b'"note"', b"1")(line)),
    "a walked key missing": lambda line: re.sub(rb',"snapshot":("[^"]*"|null)', b"", line),
}


@pytest.mark.parametrize("edit", list(_NOT_A_TWIN.values()), ids=list(_NOT_A_TWIN))
def test_a_line_of_another_shape_is_no_twin(tmp_path, edit) -> None:
    """The twin's line must hold each walked key once and nothing else that masking could read: another key
    holding an object or a list, a key named with a quote or a backslash, an empty key or a repeated key makes
    the Parquet file masked on its own (hard negatives of the look-alike below, which is reused)."""
    src = _parquet_corpora(tmp_path)[0]
    work, _ = _report_folder(tmp_path, src)
    lines, masked = work / "findings.jsonl", tmp_path / "masked.jsonl"
    before = lines.read_bytes()
    lines.write_bytes(_edit_line(before, edit))
    assert lines.read_bytes() != before
    mask_findings_jsonl(lines, masked, PERSONAL)
    assert not masking_parquet.reuse_masked_jsonl(src, tmp_path / "x.parquet", lines, masked)
    assert not (tmp_path / "x.parquet").exists()


def test_other_keys_holding_scalars_keep_the_twin(tmp_path) -> None:
    """The look-alike: other keys holding a number, a text that starts like JSON, null and a boolean."""
    src = _parquet_corpora(tmp_path)[0]
    work, _ = _report_folder(tmp_path, src)
    lines, masked = work / "findings.jsonl", tmp_path / "masked.jsonl"
    edit = _other_key(b'"note"', b'"{\\"email\\":1}","n":2.5,"z":null,"b":true')
    lines.write_bytes(_edit_line(lines.read_bytes(), edit))
    mask_findings_jsonl(lines, masked, PERSONAL)
    assert masking_parquet.reuse_masked_jsonl(src, tmp_path / "x.parquet", lines, masked)
    assert (tmp_path / "x.parquet").read_bytes() == _alone(tmp_path, src)


@pytest.mark.parametrize("batch_rows", [7, 1_000])
def test_reuse_writes_the_rows_in_batches_of_any_size(tmp_path, batch_rows: int) -> None:
    """The masked rows stream out of DuckDB in batches of its own sizes; each Parquet batch takes as many."""
    for src in _parquet_corpora(tmp_path):
        work, _ = _report_folder(tmp_path, src)
        masked = tmp_path / f"masked-{src.stem}.jsonl"
        mask_findings_jsonl(work / "findings.jsonl", masked, PERSONAL)
        out, alone = tmp_path / f"x-{src.stem}.parquet", tmp_path / f"alone-{src.stem}.parquet"
        assert masking_parquet.reuse_masked_jsonl(src, out, work / "findings.jsonl", masked, batch_rows=batch_rows)
        masking_parquet.mask_findings_parquet(src, alone, PERSONAL, batch_rows=batch_rows)
        assert out.read_bytes() == alone.read_bytes()
        assert pq.ParquetFile(out).metadata.row_group(0).num_rows == min(batch_rows, pq.read_metadata(src).num_rows)


def test_reuse_needs_the_twin_published_first_and_masked(tmp_path, monkeypatch) -> None:
    """Masking off copies both files; a Parquet file without any JSON lines is masked on its own."""
    src = _parquet_corpora(tmp_path)[0]
    work, _ = _report_folder(tmp_path, src)
    plain = publish.publish_folder(work, tmp_path / "plain", mask=False, personal=PERSONAL)
    assert plain.withheld == [] and (tmp_path / "plain" / "audit" / "findings.parquet").read_bytes() == src.read_bytes()
    (work / "findings.jsonl").unlink()
    assert not masking_parquet.reuse_masked_jsonl(src, tmp_path / "x.parquet", src, src)  # not JSON lines
    assert not (tmp_path / "x.parquet").exists()
    done = publish.publish_folder(work, tmp_path / "pub", mask=True, personal=PERSONAL)
    assert done.files == ["audit/findings.parquet", "metrics.json"]
    assert (tmp_path / "pub" / "audit" / "findings.parquet").read_bytes() == _alone(tmp_path, src)


def _counting(monkeypatch, calls: list[Path]) -> None:
    real = publish.mask_findings_jsonl

    def counted(src: Path, *args: object, **kwargs: object) -> int:
        calls.append(src)
        return real(src, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(publish, "mask_findings_jsonl", counted)


@pytest.mark.parametrize("twin_differs", [False, True])
def test_a_report_folder_masks_each_finding_once(tmp_path, monkeypatch, caplog, twin_differs) -> None:
    """findings.jsonl (audit + quality), audit/findings.jsonl (its first part) and audit/findings.parquet (the same
    findings): only the first is masked; the others are written from its masked lines, the same bytes as masking
    each on its own. A line that differs from its twin by a space alone makes audit/findings.jsonl masked itself."""
    src = _parquet_corpora(tmp_path)[0]
    work, lines = _report_folder(tmp_path, src)
    audit = [r for r in lines if r["kind"] != "quality"]
    _write(work / "audit" / "findings.jsonl", audit)
    if twin_differs:
        text = (work / "audit" / "findings.jsonl").read_bytes()
        (work / "audit" / "findings.jsonl").write_bytes(text.replace(b'{"id"', b'{ "id"', 1))
    alone = tmp_path / "alone.jsonl"
    mask_findings_jsonl(work / "audit" / "findings.jsonl", alone, PERSONAL)
    expected = _alone(tmp_path, src)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the Parquet findings were masked a second time")

    calls: list[Path] = []
    _counting(monkeypatch, calls)
    monkeypatch.setattr(masking_parquet, "mask_findings_parquet", refuse)
    pub = tmp_path / "pub"
    with caplog.at_level(logging.INFO, logger="syncaudit.report.publish"):
        done = publish.publish_folder(work, pub, mask=True, personal=PERSONAL)
    said = [r.getMessage() for r in caplog.records]
    assert said == (
        [f"audit/findings.jsonl: not all lines are lines of {work.name}/findings.jsonl; masked on its own"]
        if twin_differs
        else []
    )
    assert done.withheld == []
    assert done.files == ["audit/findings.jsonl", "audit/findings.parquet", "findings.jsonl", "metrics.json"]
    masked_itself = [work / "findings.jsonl"] + ([work / "audit" / "findings.jsonl"] if twin_differs else [])
    assert calls == masked_itself
    assert (pub / "audit" / "findings.jsonl").read_bytes() == alone.read_bytes()
    assert (pub / "audit" / "findings.parquet").read_bytes() == expected
    assert b"jane.doe@" in (work / "findings.jsonl").read_bytes()
    assert b"jane.doe@" not in (pub / "audit" / "findings.jsonl").read_bytes()
    assert len(alone.read_bytes().splitlines()) == len(audit) > 60


def _ranges_taken(monkeypatch) -> list[bool]:
    """Record each answer of the byte-range copy (True: the part was written without the DuckDB twin matching)."""
    taken: list[bool] = []
    real = masking_sql._copy_line_range

    def spy(*args: object) -> bool:
        taken.append(real(*args))  # type: ignore[arg-type]
        return taken[-1]

    monkeypatch.setattr(masking_sql, "_copy_line_range", spy)
    return taken


def test_a_combined_findings_file_gives_its_parts_by_byte_range(tmp_path, monkeypatch) -> None:
    """combine_findings joins audit/findings.jsonl and quality/findings.jsonl byte for byte: each part is written
    from the masked lines at its place, with no line parsed; the same bytes as masking the part on its own."""
    from syncaudit.report.findings import combine_findings

    rows = hostile_findings()
    work = tmp_path / "work"
    (work / "audit").mkdir(parents=True)
    (work / "quality").mkdir()
    _write(work / "audit" / "findings.jsonl", rows)
    quality = [{"id": f"q{i}", "kind": "quality", "records": [], "detail": t} for i, t in enumerate(HOSTILE_TEXTS)]
    _write(work / "quality" / "findings.jsonl", quality)
    combine_findings(work)
    alone = {}
    for part in ("audit", "quality"):
        alone[part] = tmp_path / f"alone-{part}.jsonl"
        mask_findings_jsonl(work / part / "findings.jsonl", alone[part], PERSONAL)
    calls: list[Path] = []
    _counting(monkeypatch, calls)
    taken = _ranges_taken(monkeypatch)
    pub = tmp_path / "pub"
    done = publish.publish_folder(work, pub, mask=True, personal=PERSONAL)
    assert done.withheld == []
    assert calls == [work / "findings.jsonl"]
    assert taken == [True, True]  # audit/ then quality/: neither part matched line by line
    for part in ("audit", "quality"):
        assert (pub / part / "findings.jsonl").read_bytes() == alone[part].read_bytes()
    assert (
        b"jane.doe@"
        in (work / "quality" / "findings.jsonl").read_bytes() + (work / "audit" / "findings.jsonl").read_bytes()
    )
    assert b"jane.doe@" not in (pub / "audit" / "findings.jsonl").read_bytes()


@pytest.mark.parametrize("case", ["mid_line", "blank_line", "inner", "longer"])
def test_byte_ranges_that_are_not_whole_corresponding_lines_are_not_copied(tmp_path, case) -> None:
    rows = [{"id": f"f{i}", "kind": "orphan", "records": [f"r{i}"], "detail": f"mail ann{i}@x.io"} for i in range(9)]
    lines = _write(tmp_path / "lines.jsonl", rows)
    body = lines.read_bytes()
    if case == "blank_line":  # a blank line gives no masked line: positions after it do not correspond
        lines.write_bytes(b"\n" + body)
        body = lines.read_bytes()
    masked = tmp_path / "masked.jsonl"
    mask_findings_jsonl(lines, masked, PERSONAL)
    src = tmp_path / "src.jsonl"
    cut = body.index(b"\n", body.index(b"\n") + 1) + 1
    src.write_bytes(
        {
            "mid_line": body[5:],  # the last bytes of lines, but starting inside a line
            "blank_line": body[-(len(body) - cut) :],
            "inner": body[cut : body.index(b"\n", cut) + 1],  # a whole line, neither first nor last
            "longer": body + body[:cut],
        }[case]
    )
    assert not masking_sql._copy_line_range(src, tmp_path / "out.jsonl", lines, masked)
    assert not (tmp_path / "out.jsonl").exists()
    # The general path still gives the right lines where each line has a twin.
    if case in ("blank_line", "inner", "longer"):
        assert masking_sql.reuse_masked_lines(src, tmp_path / "out.jsonl", lines, masked)
        expected = tmp_path / "expected.jsonl"
        mask_findings_jsonl(src, expected, PERSONAL)
        assert (tmp_path / "out.jsonl").read_bytes() == expected.read_bytes()


def test_line_range_offsets_across_chunks(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(masking_sql, "_CHUNK", 7)
    rows = [
        {"id": f"f{i}", "kind": "orphan", "records": [f"r{i}"], "detail": f"call +44 20 7946 00{i:02d}"}
        for i in range(40)
    ]
    lines = _write(tmp_path / "lines.jsonl", rows)
    masked = tmp_path / "masked.jsonl"
    mask_findings_jsonl(lines, masked, PERSONAL)
    body = lines.read_bytes().splitlines(keepends=True)
    out_lines = masked.read_bytes().splitlines(keepends=True)
    for start, end in ((0, 17), (17, 40), (0, 40), (39, 40), (0, 1)):
        if start and end < 40:
            continue
        src = tmp_path / "src.jsonl"
        src.write_bytes(b"".join(body[start:end]))
        assert masking_sql._copy_line_range(src, tmp_path / "out.jsonl", lines, masked)
        assert (tmp_path / "out.jsonl").read_bytes() == b"".join(out_lines[start:end])


@pytest.mark.parametrize("kernel", ["whole", "partial", "refused"])
def test_a_byte_range_is_copied_whole_with_or_without_the_kernel_copy(tmp_path, monkeypatch, kernel) -> None:
    import os

    src = tmp_path / "src"
    src.write_bytes(bytes(range(256)) * 1000)
    real = os.copy_file_range

    def partial(fin: int, fout: int, count: int, offset: int | None = None) -> int:
        if os.fstat(fout).st_size:
            raise OSError(18, "Invalid cross-device link")  # the second call: the rest is the plain copy's
        return real(fin, fout, min(count, 1000), offset)

    def refused(*args: object) -> int:
        raise OSError(38, "Function not implemented")

    if kernel != "whole":
        monkeypatch.setattr(os, "copy_file_range", partial if kernel == "partial" else refused)
    with src.open("rb") as fin, (tmp_path / "dst").open("wb") as fout:
        masking_sql._copy_bytes(fin, fout, 300, 200_000)
    assert (tmp_path / "dst").read_bytes() == src.read_bytes()[300:200_300]
