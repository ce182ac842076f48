"""Duplicate clusters: strongest edges first, never two identity keys in one cluster, weakest link shown."""

from __future__ import annotations

import duckdb

from syncaudit.audit.evidence import constrained_clusters, weakest_links


def _con(edges: list[tuple[str, str, float]], keys: dict[str, str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE e(a VARCHAR, b VARCHAR, p DOUBLE)")
    con.executemany("INSERT INTO e VALUES (?, ?, ?)", edges)
    con.execute("CREATE TABLE k(rid VARCHAR, id_key VARCHAR)")
    if keys:
        con.executemany("INSERT INTO k VALUES (?, ?)", list(keys.items()))
    return con


def test_a_keyless_record_between_two_keyed_namesakes_joins_the_one_it_matches_best() -> None:
    # b (no key) matches a (key k1) at 0.99 and d (key k2) at 0.97; c hangs on b.
    con = _con([("a", "b", 0.99), ("b", "c", 0.95), ("b", "d", 0.97), ("d", "e", 0.93)], {"a": "k1", "d": "k2"})
    constrained_clusters(con, "e", "k", "m")
    clusters = dict(con.execute("SELECT cluster, list(rid ORDER BY rid) FROM m GROUP BY cluster").fetchall())
    assert sorted(clusters.values()) == [["a", "b", "c"], ["d", "e"]]
    weakest_links(con, "e", "m", "w")
    weak = {c: (a, b, p) for c, a, b, p in con.execute("SELECT * FROM w").fetchall()}
    assert weak["a"] == ("b", "c", 0.95) and weak["d"] == ("d", "e", 0.93)


def test_without_keys_clusters_are_connected_components() -> None:
    con = _con([("x", "y", 0.91), ("y", "z", 0.99), ("p", "q", 0.95)], {})
    constrained_clusters(con, "e", "k", "m")
    clusters = sorted(r[0] for r in con.execute("SELECT list(rid ORDER BY rid) FROM m GROUP BY cluster").fetchall())
    assert clusters == [["p", "q"], ["x", "y", "z"]]
    weakest_links(con, "e", "m", "w")
    assert ("x", "y", 0.91) in [tuple(r[1:]) for r in con.execute("SELECT * FROM w").fetchall()]
