"""Evidence of a match, as the findings carry it (docs/contracts.md, "Findings").

A pair's evidence is ``{records: [a, b], match_probability, deterministic, rule, fields: [{field, left,
right, level, weight}]}``: ``weight`` is the comparison's match weight (log2 Bayes factor, term-frequency
adjusted) and ``level`` the comparison level the values reached. Deterministic evidence is an equal
identity key, or an equal normalized email (not a role or shared mailbox) with an agreeing name.
A cluster's weakest link is the lowest-probability edge of its maximum spanning tree: the threshold at
which the cluster would fall apart.
"""

from __future__ import annotations

import duckdb

from syncaudit.audit.comparisons import ROLE_MAILBOXES
from syncaudit.audit.engine import insert_arrow
from syncaudit.loadfolder import lit


def role_mailbox_sql(email: str) -> str:
    """True when ``email`` (normalized) is a role or team mailbox (info@, support@, ...)."""
    return f"(split_part({email}, '@', 1) IN ({', '.join(lit(r) for r in ROLE_MAILBOXES)}))"


def name_agrees_sql(a: str, b: str, has_first: bool = True) -> str:
    """Two people rows (aliases ``a``, ``b``) agree on their name: the same last name, and first names
    equal, nicknames of each other or an initial of the other."""
    last = f"({a}.mf_last_name IS NOT NULL AND {a}.mf_last_name = {b}.mf_last_name)"
    if not has_first:
        return last
    first = (
        f"({a}.mf_first_name = {b}.mf_first_name OR list_has_any({a}.mf_first_name_groups, {b}.mf_first_name_groups) "
        f"OR ((length({a}.mf_first_name) = 1 OR length({b}.mf_first_name) = 1) "
        f"AND left({a}.mf_first_name, 1) = left({b}.mf_first_name, 1)))"
    )
    return f"({last} AND coalesce({first}, false))"


def key_evidence_sql(field: str, a: str, b: str, level: str) -> str:
    """Evidence fields of a deterministic pair that the model did not score: the key itself."""
    return f"to_json([json_object('field', {lit(field)}, 'left', {a}, 'right', {b}, 'level', {lit(level)}, 'weight', NULL)])"


def weakest_links(con: duckdb.DuckDBPyConnection, edges: str, members: str, out: str) -> None:
    """``out(cluster, a, b, p)``: per cluster of ``members(rid, cluster)``, the weakest edge of the maximum
    spanning tree of ``edges(a, b, p)`` (Kruskal, strongest first; clusters are small)."""
    rows = con.execute(
        f"""SELECT m.cluster, e.a, e.b, e.p FROM {edges} e JOIN {members} m ON m.rid = e.a
        ORDER BY e.p DESC, e.a, e.b"""
    ).fetchall()
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    weakest: dict[str, tuple[str, str, float]] = {}
    for cluster, a, b, p in rows:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
            weakest[cluster] = (a, b, p)  # edges come strongest first: the last joining edge is the weakest
    con.execute(f"CREATE OR REPLACE TABLE {out}(cluster VARCHAR, a VARCHAR, b VARCHAR, p DOUBLE)")
    if weakest:
        import pyarrow as pa

        # one Arrow insert: executemany costs a statement per cluster (minutes at ten million people)
        tbl = pa.table(
            {
                "cluster": list(weakest),
                "a": [v[0] for v in weakest.values()],
                "b": [v[1] for v in weakest.values()],
                "p": pa.array([v[2] for v in weakest.values()], pa.float64()),
            }
        )
        insert_arrow(con, out, tbl)


def constrained_clusters(con: duckdb.DuckDBPyConnection, edges: str, keys: str, out: str) -> None:
    """Clusters of ``edges(a, b, p)`` into ``out(rid, cluster)``, joined strongest edge first (Kruskal), where
    a join that would put two different identity keys (``keys(rid, id_key)``) into one cluster is skipped:
    two keys are two people, so a keyless record between two namesakes goes with the one it matches best.
    The cluster id is its smallest record id."""
    rows = con.execute(f"SELECT a, b, p FROM {edges} ORDER BY p DESC, a, b").fetchall()
    key_of = dict(
        con.execute(
            f"SELECT rid, any_value(id_key) FROM {keys} WHERE id_key IS NOT NULL AND rid IN "
            f"(SELECT a FROM {edges} UNION SELECT b FROM {edges}) GROUP BY rid"
        ).fetchall()
    )
    parent: dict[str, str] = {}
    ckeys: dict[str, frozenset[str]] = {}

    def find(x: str) -> str:
        if x not in parent:
            parent[x] = x
            ckeys[x] = frozenset([key_of[x]]) if x in key_of else frozenset()
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _p in rows:
        ra, rb = find(a), find(b)
        if ra == rb or len(ckeys[ra] | ckeys[rb]) > 1:
            continue
        parent[ra] = rb
        ckeys[rb] = ckeys[ra] | ckeys[rb]
    groups: dict[str, list[str]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    pairs = [(r, min(members)) for members in groups.values() if len(members) > 1 for r in members]
    con.execute(f"CREATE OR REPLACE TABLE {out}(rid VARCHAR, cluster VARCHAR)")
    if pairs:
        import pyarrow as pa

        insert_arrow(con, out, pa.table({"rid": [p[0] for p in pairs], "cluster": [p[1] for p in pairs]}))
