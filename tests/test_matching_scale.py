"""Matching at ten million people: a common name alone is no block (its pairs grow with the square of the
records), a rare one still is."""

from __future__ import annotations

import duckdb

from syncaudit.audit.comparisons import Model, blocking
from syncaudit.audit.match_fields import Column
from syncaudit.audit.matching import NAME_BLOCK_MAX, _capped_blocks

MODEL = Model("people", [Column("first_name", "first_name"), Column("last_name", "last_name"),
                         Column("company", "company_name"), Column("email", "email"),
                         Column("city", "city"), Column("postal_code", "postal_code")])  # fmt: skip


def _table(con: duckdb.DuckDBPyConnection, name: str, rows: list[tuple]) -> None:
    con.execute(
        f"CREATE TABLE {name}(uid VARCHAR, mf_first_name_key VARCHAR, mf_last_name VARCHAR, mf_company VARCHAR, "
        "mf_city VARCHAR, mf_postal_code VARCHAR)"
    )
    con.executemany(f"INSERT INTO {name} VALUES (?, ?, ?, ?, 'Springfield', ?)", rows)


def test_a_name_held_by_more_than_the_cap_gets_no_name_block() -> None:
    con = duckdb.connect()
    common = [(f"c{i}", "john", "smith", "bigco", "12345") for i in range(NAME_BLOCK_MAX)]
    _table(con, "l", [*common[:60], ("r1", "zed", "quux", "acme", "99999"), ("n1", None, "smith", "acme", "99999")])
    _table(con, "r", [*common[60:], ("c-extra", "john", "smith", "bigco", "1"), ("r2", "zed", "quux", None, None)])
    _capped_blocks(con, MODEL, ["l", "r"])
    blocks = dict(con.execute("SELECT uid, mf_name_block FROM l UNION ALL SELECT uid, mf_name_block FROM r").fetchall())
    # 101 John Smiths over both sides: none is blocked on the name alone; the rare pair is
    assert (
        all(blocks[u] is None for u in blocks if u.startswith("c")) and len([u for u in blocks if u[0] == "c"]) == 101
    )
    assert blocks["r1"] == blocks["r2"] == "zed|quux" and blocks["n1"] is None
    # the same for two narrowing fields: 101 people of one company in one city are no block; 2 are
    places = dict(
        con.execute(
            "SELECT uid, mf_blk_company__city FROM l UNION ALL SELECT uid, mf_blk_company__city FROM r"
        ).fetchall()
    )
    assert all(places[u] is None for u in places if u.startswith("c"))
    assert places["r1"] == places["n1"] == "acme|Springfield" and places["r2"] is None


def test_up_to_the_cap_a_common_name_is_still_a_block() -> None:
    con = duckdb.connect()
    _table(con, "t", [(f"c{i}", "john", "smith", f"co{i}", "1") for i in range(NAME_BLOCK_MAX)])
    _capped_blocks(con, MODEL, ["t"])
    assert con.execute("SELECT count(mf_name_block) FROM t").fetchone()[0] == NAME_BLOCK_MAX


def test_the_name_rules_block_on_the_capped_name_and_keep_the_narrowed_ones() -> None:
    rules = [r.get_blocking_rule("duckdb").blocking_rule_sql for r in blocking(MODEL)]
    assert any("mf_name_block" in r for r in rules)
    full_name = '(l."mf_first_name_key" = r."mf_first_name_key") AND (l."mf_last_name" = r."mf_last_name")'
    assert full_name not in rules
    assert any("mf_last_name" in r and "mf_company" in r for r in rules)
    assert any("mf_blk_company__city" in r for r in rules)
    assert not any('"mf_company"' in r and '"mf_city"' in r for r in rules)
