"""Matching at ten million people: a common name alone is no block (its pairs grow with the square of the
records), a rare one still is."""

from __future__ import annotations

from pathlib import Path

import duckdb

from audit_fixtures import ROOT
from crmsandbox.generator import generate
from syncaudit.audit import matching
from syncaudit.audit.comparisons import Model, blocking
from syncaudit.audit.match_fields import Column
from syncaudit.audit.matching import NAME_BLOCK_MAX, _capped_blocks
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config

MODEL = Model("people", [Column("first_name", "first_name"), Column("last_name", "last_name"),
                         Column("company", "company_name"), Column("email", "email"),
                         Column("city", "city"), Column("postal_code", "postal_code")])  # fmt: skip


def _table(con: duckdb.DuckDBPyConnection, name: str, rows: list[tuple]) -> None:
    con.execute(
        f"CREATE TABLE {name}(uid VARCHAR, mf_first_name_key VARCHAR, mf_last_name VARCHAR, mf_company VARCHAR, "
        "mf_city VARCHAR, mf_postal_code VARCHAR, mf_first_name VARCHAR)"
    )
    con.executemany(f"INSERT INTO {name} VALUES (?, ?, ?, ?, 'Springfield', ?, ?)", [(*r, r[1]) for r in rows])


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
    assert blocks["r1"] == blocks["r2"] is not None and blocks["n1"] is None
    # the same for two narrowing fields: 101 people of one company in one city are no block; 2 are
    places = dict(
        con.execute(
            "SELECT uid, mf_blk_company__city FROM l UNION ALL SELECT uid, mf_blk_company__city FROM r"
        ).fetchall()
    )
    assert all(places[u] is None for u in places if u.startswith("c"))
    assert places["r1"] == places["n1"] is not None and places["r2"] is None


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
    assert any("mf_blk_last_name__company" in r for r in rules)
    assert any("mf_blk_company__city" in r for r in rules)
    assert not any('"mf_company"' in r and '"mf_city"' in r for r in rules)


def test_the_pair_budget_drops_the_largest_blocks_first(monkeypatch) -> None:
    """Dense data: every block is under NAME_BLOCK_MAX, yet the big ones give most pairs. Within a budget of one
    pair per record the twelve John Smiths (66 pairs) are no block; the ten rare pairs still are."""
    monkeypatch.setattr(matching, "PAIRS_FLOOR", 0)
    rows = [(f"c{i}", "john", "smith", f"co{i}", "1") for i in range(12)]
    rows += [(f"p{i}{s}", f"ann{i}", f"rare{i}", f"co{i}{s}", "2") for i in range(10) for s in "ab"]
    rows += [(f"s{i}", f"solo{i}", f"one{i}", "x", "3") for i in range(8)]  # 40 records: a budget of 40 pairs

    def name_blocks(per_record: float) -> tuple[dict[str, str | None], dict]:
        monkeypatch.setattr(matching, "PAIRS_PER_RECORD", per_record)
        con = duckdb.connect()
        _table(con, "t", rows)
        _capped_blocks(con, MODEL, ["t"])
        stats = {b["key"]: b for b in matching.blocking_stats(con, ["t"])}["mf_name_block"]
        return dict(con.execute("SELECT uid, mf_name_block FROM t").fetchall()), stats

    blocks, stats = name_blocks(1.0)
    assert all(blocks[f"c{i}"] is None for i in range(12))
    assert all(blocks[f"p{i}a"] == blocks[f"p{i}b"] is not None for i in range(10))
    assert len({blocks[f"p{i}a"] for i in range(10)}) == 10
    assert (stats["pairs"], stats["kept_pairs"], stats["kept_blocks"], stats["max_pairs_per_block"]) == (76, 10, 10, 1)
    # with room for two pairs per record (80) the common name is a block again: the budget, not a fixed size
    blocks, stats = name_blocks(2.0)
    assert len({blocks[f"c{i}"] for i in range(12)} - {None}) == 1 and stats["kept_pairs"] == 76


def test_the_budget_counts_pairs_across_the_two_sides_when_linking(monkeypatch) -> None:
    """Linking counts left x right pairs per key: 6 John Smiths on one side and none on the other give no pair,
    so they cost nothing and stay; 4 x 4 on both sides (16 pairs) exceed a budget of half a pair per record."""
    monkeypatch.setattr(matching, "PAIRS_FLOOR", 0)
    monkeypatch.setattr(matching, "PAIRS_PER_RECORD", 0.5)
    con = duckdb.connect()
    left = [(f"j{i}", "john", "smith", "a", "1") for i in range(6)] + [
        (f"m{i}", "mary", "major", "a", "1") for i in range(4)
    ]
    left += [(f"l{i}", f"first{i}", f"last{i}", "a", "1") for i in range(10)]
    right = [(f"n{i}", "mary", "major", "a", "1") for i in range(4)]
    right += [(f"r{i}", f"first{i}", f"last{i}", "a", "1") for i in range(6)]
    _table(con, "l", left)
    _table(con, "r", right)
    _capped_blocks(con, MODEL, ["l", "r"])  # 30 records, a budget of 15 pairs: the 6 unique pairs fit, 16 do not
    got = dict(con.execute("SELECT uid, mf_name_block FROM l UNION ALL SELECT uid, mf_name_block FROM r").fetchall())
    assert got["l3"] == got["r3"] is not None
    assert got["m0"] is None and got["n0"] is None
    assert got["j0"] is not None  # one side only: no pairs to budget


def test_scoring_in_chunks_gives_the_findings_of_one_pass(tmp_path: Path, monkeypatch) -> None:
    """Above PAIRS_PER_CHUNK candidate pairs, predict_pairs scores a slice of the left records at a time: the same
    pairs, so the same findings by the same ids, as one pass."""
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp_path / "data")})
    load = tmp_path / "load"
    generate(load, 1500, 7)

    def audit(name: str) -> tuple[set, dict]:
        res = run_audit(cfg, str(load), tmp_path / name)
        rows = res.con.execute("SELECT id, kind, list_sort(records) FROM findings_final").fetchall()
        return {(i, k, tuple(r)) for i, k, r in rows}, res.metrics["matching"]

    one, m1 = audit("one")
    monkeypatch.setattr(matching, "PAIRS_PER_CHUNK", 40)  # the link pool: 83 records
    chunked, m2 = audit("chunked")
    assert m1["sf_people"]["chunks"] == 1 and m2["sf_people"]["chunks"] >= 3 and m2["link_people"]["chunks"] >= 2
    assert len({k for _, k, _ in one} & {"duplicate", "identity_gap"}) == 2
    assert sorted(one - chunked) == [] and sorted(chunked - one) == []


def test_the_pools_prior_comes_from_their_sizes_not_from_training() -> None:
    """Linking the pools (records no key linked) with no key pairs among them: EM's share of matches, carried back
    from its sampled blocks, grew with the org (2e-2 at ten million a side, where a namesake in another company
    and city then scored 0.998); the prior is a fifth of the smaller pool matched, whatever training said."""
    con = duckdb.connect()
    for name, n in (("l", 400), ("r", 1000)):
        con.execute(f"CREATE TABLE {name} AS SELECT 'u' || range AS uid, NULL::VARCHAR AS id_key FROM range({n})")
    assert matching._prior(con, MODEL, ["l", "r"], [400, 1000], trained=0.02) == 0.2 * 400 / (400 * 1000)
    # with key pairs among them the keys still set it (60 % of the true matches)
    con.execute("UPDATE l SET id_key = 'k' || uid WHERE uid IN ('u1', 'u2', 'u3')")
    con.execute("UPDATE r SET id_key = 'k' || uid WHERE uid IN ('u1', 'u2', 'u3')")
    assert matching._prior(con, MODEL, ["l", "r"], [400, 1000], trained=0.02) == 3 / 0.6 / (400 * 1000)
