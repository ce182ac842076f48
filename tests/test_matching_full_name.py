"""A common full name is weak evidence even where each part looks rare: names correlate within a population.

A small population (as a minority language or region in an org's records) draws its first and last names
from short lists of its own, so among all records each part is rare, while the same whole names repeat.
Term frequencies per part, multiplied, would make two different people of that population who share a whole
name look like one person; the whole name's own frequency does not. True copies (the same phone, or the
same mailbox) in the same population are still found, so the test does not pass by finding nothing.
"""

from __future__ import annotations

import json
import random

import duckdb
import pytest

from syncaudit.audit.comparisons import Model
from syncaudit.audit.match_fields import Column
from syncaudit.audit.matching import input_sql, predict_pairs, train

BIG_FIRST = [f"{a}{b}" for a in ("al", "be", "co", "da", "el", "fa", "go", "ha", "ir", "jo") for b in
             ("bert", "mina", "ran", "vid", "lia", "nor", "sten", "rika", "mon", "dora", "las", "ven")]  # fmt: skip
BIG_LAST = [f"{a}{b}" for a in ("berg", "holm", "strand", "wood", "field", "brook", "stone", "moor", "dale", "ford",
                                "well", "ridge", "hurst", "ley", "ton") for b in
            ("er", "man", "son", "by", "ham", "ling", "wick", "ott", "ard", "ell", "ins", "ey", "ock", "us", "en")]  # fmt: skip
SMALL_FIRST = ["katrine", "mette", "soren", "jens"]
SMALL_LAST = ["nielsen", "jensen", "hansen"]


def _people() -> tuple[list[tuple], list[frozenset[str]], list[frozenset[str]]]:
    """Rows (uid, first, last, email, phone, country), the namesake pairs of the small population, the copies."""
    rng = random.Random(7)
    rows: list[tuple] = []
    names = rng.sample([(f, ln) for f in BIG_FIRST for ln in BIG_LAST], 4000)
    for n, (f, ln) in enumerate(names):
        country = ("us", "gb", "de", "fr", "es", "it", "br", "in", "jp", "mx")[n % 10]
        rows.append((f"b{n:05d}", f, ln, f"{f}.{ln}@mail{n % 50}.example", f"+1 415 {n:07d}", country))
    copies = []
    for n in range(0, 400, 2):  # copies in the big population: the same mailbox, no phone
        _, f, ln, email, _, country = rows[n]
        rows.append((f"bc{n:05d}", f, ln, email, None, country))
        copies.append(frozenset({f"b{n:05d}", f"bc{n:05d}"}))
    small: dict[tuple[str, str], list[str]] = {}
    for n in range(48):  # 48 people, 12 whole names: each repeats 4 times, every part looks rare overall
        f, ln = SMALL_FIRST[n % 4], SMALL_LAST[n % 3]
        uid = f"s{n:03d}"
        # Leads from a list: names and country only, a third with a phone of their own.
        rows.append((uid, f, ln, None, f"+45 {n:08d}" if n % 3 == 0 else None, "dk"))
        small.setdefault((f, ln), []).append(uid)
    namesakes = [frozenset({a, b}) for ids in small.values() for i, a in enumerate(ids) for b in ids[i + 1 :]]
    for n in range(0, 48, 3):  # copies in the small population: the same phone
        _, f, ln, _, phone, _ = next(r for r in rows if r[0] == f"s{n:03d}")
        rows.append((f"sc{n:03d}", f, ln, None, phone, "dk"))
        copies.append(frozenset({f"s{n:03d}", f"sc{n:03d}"}))
    return rows, namesakes, copies


@pytest.fixture(scope="module")
def pairs() -> tuple[set[frozenset[str]], list[frozenset[str]], list[frozenset[str]], list[dict]]:
    rows, namesakes, copies = _people()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE src(uid VARCHAR, mf_first_name VARCHAR, mf_last_name VARCHAR, mf_email VARCHAR, "
        "mf_phone VARCHAR, mf_country VARCHAR)"
    )
    con.executemany("INSERT INTO src VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        "CREATE TABLE people AS SELECT *, NULL::VARCHAR AS id_key, [mf_first_name] AS mf_first_name_groups, "
        "mf_first_name AS mf_first_name_key FROM src"
    )
    cols = [Column("first_name", "first_name"), Column("last_name", "last_name"), Column("email", "email"),
            Column("phone", "phone"), Column("country", "country")]  # fmt: skip
    model = Model("people", cols)
    con.execute(f"CREATE TABLE model_in AS {input_sql(model, 'people', 'uid')}")
    model = train(con, model, ["model_in"])
    predict_pairs(con, model, ["model_in"], threshold=0.9, out_table="found")
    found = {frozenset(r) for r in con.execute("SELECT uid_l, uid_r FROM found").fetchall()}
    evidence = con.execute("SELECT evidence FROM found WHERE 'sc000' IN (uid_l, uid_r)").fetchall()[0][0]
    return found, namesakes, copies, json.loads(evidence)


def test_namesakes_of_a_small_population_are_not_duplicates(pairs) -> None:
    found, namesakes, _, _ = pairs
    assert len(namesakes) == 72
    assert [p for p in namesakes if p in found] == []


def test_copies_with_a_common_full_name_are_still_found(pairs) -> None:
    found, _, copies, _ = pairs
    small = [c for c in copies if any(x.startswith("s") for x in c)]
    assert len(small) == 16 and all(c in found for c in small), sorted(set(small) - found)
    assert sum(c in found for c in copies) >= 0.98 * len(copies)


def test_the_whole_name_is_one_piece_of_evidence(pairs) -> None:
    *_, evidence = pairs
    fields = {f["field"]: f for f in evidence}
    assert "first_name" not in fields  # counted once, in the whole name
    name = fields["last_name"]
    assert name["level"] == "same first and last name" and name["left"] == name["right"] == "katrine nielsen"
    assert name["weight"] > 0 and fields["phone"]["level"] == "same number"
