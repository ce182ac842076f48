"""The set-based masking of a findings file (DuckDB) against the Python walk it replaces on the publish path.

The hostile corpus (tests/masking_corpus.py) mixes Unicode names and addresses, IDN domains, emails glued to
punctuation, display names before addresses, phone formats next to dates and ids that look like phones,
formula-injection prefixes, HTML, JSON in text and nested ``extra`` parts. Both paths must give the same
findings; where the set-based path deliberately differs, it masks more and no personal value leaks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest

from masking_corpus import HOSTILE_TEXTS, PERSONAL, hostile_findings
from syncaudit.report import masking_sql, publish
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
    mask_findings_jsonl(src, tmp_path / "many.jsonl", PERSONAL)
    assert (tmp_path / "many.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


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
