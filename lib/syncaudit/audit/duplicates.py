"""Duplicates within one system: deterministic keys, then Splink, then clusters.

Groups: Salesforce people (Contacts and open Leads together, so Lead↔Contact
duplicates are found), Intercom contacts, Accounts, Intercom companies. Edges come
from equal normalized email / identity key / AccountNumber / website domain and
from Splink pairs above ``mapping.matching.duplicate_threshold``; clusters are the
connected components (label propagation in SQL). Each cluster gets a suggested
survivor (configurable rules) and a field-by-field merge proposal.
"""

from __future__ import annotations

from syncaudit.audit import findings
from syncaudit.audit.context import AuditContext
from syncaudit.audit.matching import COMPANY_COLUMNS, PEOPLE_COLUMNS, predict_pairs
from syncaudit.loadfolder import lit, q
from syncaudit.mapping import field_mappings

_RULE_ORDER = {
    "most_complete": "m.completeness DESC",
    "most_recent_activity": "m.activity_at DESC NULLS LAST",
    "oldest": "m.created_at ASC NULLS LAST",
    "newest": "m.created_at DESC NULLS LAST",
}


def _groups(ctx: AuditContext) -> list[dict[str, object]]:
    """(name, system, source table, id column, object expression, deterministic keys, model) per group."""
    return [
        {
            "group": "sf_people",
            "system": "salesforce",
            "src": "(SELECT * FROM sa_sf_people WHERE NOT is_deleted AND NOT is_converted)",
            "id": "sf_id",
            "object": "sf_object",
            "keys": ["email_n", "id_key"],
            "kind": "people",
        },
        {
            "group": "ic_people",
            "system": "intercom",
            "src": "(SELECT *, 'contact' AS obj FROM sa_ic_people WHERE NOT archived)",
            "id": "ic_id",
            "object": "obj",
            "keys": ["email_n", "id_key"],
            "kind": "people",
        },
        {
            "group": "sf_accounts",
            "system": "salesforce",
            "src": "(SELECT *, 'Account' AS obj FROM sa_sf_accounts WHERE NOT is_deleted)",
            "id": "sf_id",
            "object": "obj",
            "keys": ["id_key", "domain"],
            "kind": "company",
        },
        {
            "group": "ic_companies",
            "system": "intercom",
            "src": "(SELECT *, 'company' AS obj FROM sa_ic_companies)",
            "id": "ic_id",
            "object": "obj",
            "keys": ["id_key", "domain"],
            "kind": "company",
        },
    ]


def _components(con) -> None:  # noqa: ANN001
    """Connected components of ``sa_dup_edges(a, b)`` into ``sa_dup_members(rid, cluster)``."""
    con.execute(
        """CREATE OR REPLACE TABLE sa_cc_e AS
        SELECT a, b FROM sa_dup_edges UNION SELECT b, a FROM sa_dup_edges"""
    )
    con.execute("CREATE OR REPLACE TABLE sa_cc AS SELECT DISTINCT a AS rid, a AS label FROM sa_cc_e")
    for _ in range(64):
        con.execute(
            """CREATE OR REPLACE TABLE sa_cc_next AS
            SELECT c.rid, least(c.label, coalesce(min(n.label), c.label)) AS label
            FROM sa_cc c LEFT JOIN sa_cc_e e ON e.a = c.rid LEFT JOIN sa_cc n ON n.rid = e.b
            GROUP BY c.rid, c.label"""
        )
        changed = con.execute(
            "SELECT count(*) FROM sa_cc_next x JOIN sa_cc c USING (rid) WHERE x.label <> c.label"
        ).fetchall()[0][0]
        con.execute("CREATE OR REPLACE TABLE sa_cc AS SELECT * FROM sa_cc_next")
        if changed == 0:
            break
    con.execute("INSERT INTO sa_dup_members SELECT rid, label FROM sa_cc")


def find_duplicates(ctx: AuditContext) -> None:
    con, mo = ctx.con, ctx.mapping.matching
    con.execute("CREATE OR REPLACE TABLE sa_dup_members(rid VARCHAR, cluster VARCHAR)")
    con.execute("CREATE OR REPLACE TABLE sa_dup_pairs(a VARCHAR, b VARCHAR, p DOUBLE, rule VARCHAR)")
    for g in _groups(ctx):
        src, rid = g["src"], g["id"]
        con.execute(f"CREATE OR REPLACE TABLE sa_dup_in AS SELECT *, {rid} AS uid FROM {src}")
        # Deterministic keys: every record of a key group is joined to the group's smallest id.
        for key in g["keys"]:
            con.execute(
                f"""INSERT INTO sa_dup_pairs
                SELECT min(uid) OVER (PARTITION BY {key}) AS a, uid AS b, 1.0, {lit("same_" + key)}
                FROM sa_dup_in WHERE {key} IS NOT NULL
                QUALIFY count(*) OVER (PARTITION BY {key}) > 1 AND a <> b"""
            )
        cols = PEOPLE_COLUMNS if g["kind"] == "people" else COMPANY_COLUMNS
        con.execute(f"CREATE OR REPLACE TABLE sa_dup_model AS SELECT uid, {', '.join(cols)} FROM sa_dup_in")
        predict_pairs(con, ["sa_dup_model"], kind=str(g["kind"]), threshold=mo.duplicate_threshold, out_table="sa_dp")
        con.execute("INSERT INTO sa_dup_pairs SELECT uid_l, uid_r, p, 'probabilistic' FROM sa_dp")
    con.execute("CREATE OR REPLACE TABLE sa_dup_edges AS SELECT DISTINCT a, b FROM sa_dup_pairs")
    _components(con)
    _emit(ctx)


def _completeness_sql(ctx: AuditContext, system: str) -> str:
    """How many mapped fields a record fills, over the records' own views (for the survivor rule)."""
    parts = []
    for obj in ("Contact", "Lead", "Account"):
        view = f"sf_{obj}" if system == "salesforce" else ("ic_companies" if obj == "Account" else "ic_contacts")
        cols = ctx.columns(view)
        if not cols:
            continue
        names = sorted(
            {(f.salesforce if system == "salesforce" else f.intercom) for f in field_mappings(ctx.mapping, obj)}
        )
        names = [n for n in names if n in cols]
        filled = " + ".join(f"CASE WHEN {q(n)} IS NOT NULL THEN 1 ELSE 0 END" for n in names) or "0"
        idc = "Id" if system == "salesforce" else "id"
        parts.append(f"SELECT {q(idc)} AS rid, {filled} AS completeness FROM {q(view)}")
    if not parts:
        return "SELECT NULL::VARCHAR AS rid, 0 AS completeness WHERE false"
    return " UNION ALL BY NAME ".join(dict.fromkeys(parts))


def _emit(ctx: AuditContext) -> None:
    con, mo = ctx.con, ctx.mapping.matching
    order = ", ".join(_RULE_ORDER[r] for r in mo.survivor_rules) + ", m.rid"
    sf_comp = _completeness_sql(ctx, "salesforce")
    ic_comp = _completeness_sql(ctx, "intercom")
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_dup_info AS
        WITH attrs AS (
            SELECT sf_id AS rid, 'salesforce' AS system, sf_object AS obj, activity_at, created_at FROM sa_sf_people
            UNION ALL SELECT ic_id, 'intercom', 'contact', activity_at, created_at FROM sa_ic_people
            UNION ALL SELECT sf_id, 'salesforce', 'Account', activity_at, created_at FROM sa_sf_accounts
            UNION ALL SELECT ic_id, 'intercom', 'company', activity_at, created_at FROM sa_ic_companies
        ), comp AS ({sf_comp} UNION ALL {ic_comp})
        SELECT d.rid, d.cluster, a.system, a.obj, a.activity_at, a.created_at, coalesce(c.completeness, 0) AS completeness
        FROM sa_dup_members d JOIN attrs a ON a.rid = d.rid LEFT JOIN (SELECT rid, max(completeness) AS completeness
            FROM comp GROUP BY rid) c ON c.rid = d.rid"""
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_dup_clusters AS
        SELECT cluster, any_value(system) AS system,
               CASE WHEN count(DISTINCT obj) = 1 THEN any_value(obj) ELSE string_agg(DISTINCT obj, '/' ORDER BY obj DESC) END AS object,
               list(rid ORDER BY rid) AS records, count(*) AS n,
               list(rid ORDER BY {order}) AS ranked
        FROM sa_dup_info m GROUP BY cluster HAVING count(*) > 1"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE sa_dup_why AS
        SELECT m.cluster, string_agg(DISTINCT p.rule, ', ' ORDER BY p.rule) AS rules, max(p.p) AS pmax,
               min(p.p) AS pmin, bool_or(p.rule <> 'probabilistic') AS deterministic
        FROM sa_dup_pairs p JOIN sa_dup_members m ON m.rid = p.a GROUP BY m.cluster"""
    )
    _merge_proposals(ctx)
    findings.insert(
        con,
        f"""SELECT 'duplicate', c.system, c.object, c.records, NULL,
            CASE WHEN c.n > {mo.max_cluster_size} THEN 'high' ELSE 'medium' END,
            c.n || ' ' || c.system || ' ' || c.object || ' records are the same ' ||
            CASE WHEN c.object IN ('Account', 'company') THEN 'company' ELSE 'person' END ||
            ' (' || w.rules || CASE WHEN NOT w.deterministic THEN ', match probability ' || printf('%.2f', w.pmin) ELSE '' END ||
            '): ' || array_to_string(c.records, ', ') || '; suggested survivor ' || c.ranked[1] ||
            ' (' || {lit(", ".join(mo.survivor_rules))} || ')',
            CASE WHEN c.n > {mo.max_cluster_size} THEN 'cluster too large to merge automatically: review the matching keys'
                 ELSE 'merge into ' || c.ranked[1] || ' with the field-by-field proposal' END,
            NULL, NULL, CASE WHEN w.deterministic THEN 1.0 ELSE w.pmin END, 'duplicate_' || replace(w.rules, ', ', '+'),
            c.ranked[1], json_object('merge', coalesce(mp.merge, '{{}}'::JSON))
        FROM sa_dup_clusters c JOIN sa_dup_why w USING (cluster) LEFT JOIN sa_dup_merge mp USING (cluster)""",
    )


def _merge_proposals(ctx: AuditContext) -> None:
    """Per cluster, per mapped field that differs: the survivor's value, else the first non-null in rule order."""
    con = ctx.con
    con.execute(
        "CREATE OR REPLACE TABLE sa_dup_vals(cluster VARCHAR, field VARCHAR, rnk INTEGER, rid VARCHAR, v VARCHAR)"
    )
    for obj in ("Contact", "Lead", "Account"):
        for system in ("salesforce", "intercom"):
            view = f"sf_{obj}" if system == "salesforce" else ("ic_companies" if obj == "Account" else "ic_contacts")
            cols = ctx.columns(view)
            if not cols:
                continue
            idc = "Id" if system == "salesforce" else "id"
            for f in field_mappings(ctx.mapping, obj):
                col = f.salesforce if system == "salesforce" else f.intercom
                if col not in cols:
                    continue
                con.execute(
                    f"""INSERT INTO sa_dup_vals
                    SELECT c.cluster, {lit(f.name)}, list_position(c.ranked, v.{q(idc)}), v.{q(idc)},
                           CAST(v.{q(col)} AS VARCHAR)
                    FROM sa_dup_info m JOIN sa_dup_clusters c ON c.cluster = m.cluster
                    JOIN {q(view)} v ON v.{q(idc)} = m.rid
                    WHERE c.system = {lit(system)}"""
                )
    con.execute(
        """CREATE OR REPLACE TABLE sa_dup_merge AS
        WITH per AS (
            SELECT cluster, field, count(DISTINCT v) AS nv,
                   arg_min(v, rnk) FILTER (WHERE v IS NOT NULL) AS value,
                   arg_min(rid, rnk) FILTER (WHERE v IS NOT NULL) AS src
            FROM (SELECT DISTINCT * FROM sa_dup_vals) GROUP BY cluster, field
        )
        SELECT cluster, json_group_object(field, json_object('value', value, 'from', src)) AS merge
        FROM per WHERE nv > 1 OR value IS NOT NULL GROUP BY cluster"""
    )
