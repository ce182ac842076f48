"""Duplicates within one system: deterministic keys, then Splink, then clusters.

Groups: Salesforce people (Contacts and open Leads together, so Lead↔Contact
duplicates are found), Intercom contacts, Accounts, Intercom companies. Edges come
from equal identity keys (product user id, AccountNumber / company_id), equal
normalized emails and website domains that are not shared (a role mailbox, a domain
of a parent and its subsidiaries), never between two different identity keys, and
from Splink pairs above ``mapping.matching.duplicate_threshold``. Clusters join the
edges strongest first and never put two different identity keys together
(audit.evidence.constrained_clusters); each shows its weakest link. Each
cluster gets its evidence pair by pair, a suggested survivor (configurable rules) and
a field-by-field merge proposal.
"""

from __future__ import annotations

from syncaudit.audit import findings
from syncaudit.audit.comparisons import Model
from syncaudit.audit.context import AuditContext
from syncaudit.audit.evidence import (
    constrained_clusters,
    key_evidence_sql,
    name_agrees_sql,
    role_mailbox_sql,
    weakest_links,
)
from syncaudit.audit.match_fields import columns
from syncaudit.audit.matching import input_sql, predict_pairs, train
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


def _deterministic(ctx: AuditContext, key: str) -> None:
    """Pairs of ``sa_dup_in`` sharing ``key`` (not a shared value, no conflicting identity keys)."""
    con = ctx.con
    if key == "email_n":
        usable = f"NOT {role_mailbox_sql('email_n')}"
        has_first = "mf_first_name" in ctx.columns("sa_dup_in")
        det = name_agrees_sql("a", "b", has_first) if "mf_last_name" in ctx.columns("sa_dup_in") else "false"
        field, level = "email", "same address"
    elif key == "domain":
        # A domain shared by a parent and its subsidiaries (ParentId inside the group) is no duplicate key.
        usable = "domain NOT IN (SELECT domain FROM sa_dup_in WHERE parent_id IS NOT NULL AND domain IS NOT NULL)"
        det, field, level = "true", "domain", "same domain"
    else:
        usable, det, field, level = "true", "true", "identity key", "same identity key"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE sa_dup_k AS SELECT *, count(*) OVER (PARTITION BY {key}) AS n_key,
            min(uid) OVER (PARTITION BY {key}) AS first_uid
        FROM sa_dup_in WHERE {key} IS NOT NULL AND {usable} QUALIFY n_key > 1"""
    )
    # Every pair of a key group, or for a group too large to merge (reported as such) each record with the
    # group's first, so the pairs stay linear in the data.
    big = ctx.mapping.matching.max_cluster_size
    con.execute(
        f"""INSERT INTO sa_dup_pairs
        SELECT a.uid, b.uid, 1.0, {lit("same_" + key)}, {det}, {key_evidence_sql(field, "a." + key, "b." + key, level)}
        FROM sa_dup_k a JOIN sa_dup_k b ON a.{key} = b.{key} AND a.uid < b.uid
            AND (a.n_key <= {big} OR a.uid = a.first_uid)
        WHERE NOT coalesce(a.id_key <> b.id_key, false)"""
    )


def find_duplicates(ctx: AuditContext) -> None:
    con, mo = ctx.con, ctx.mapping.matching
    con.execute("CREATE OR REPLACE TABLE sa_dup_members(rid VARCHAR, cluster VARCHAR)")
    con.execute(
        "CREATE OR REPLACE TABLE sa_dup_pairs(a VARCHAR, b VARCHAR, p DOUBLE, rule VARCHAR, deterministic BOOLEAN, "
        "evidence JSON)"
    )
    con.execute("CREATE OR REPLACE TABLE sa_dup_keys(rid VARCHAR, id_key VARCHAR)")
    for g in _groups(ctx):
        src, rid = g["src"], g["id"]
        con.execute(f"CREATE OR REPLACE TABLE sa_dup_in AS SELECT *, {rid} AS uid FROM {src}")
        con.execute("INSERT INTO sa_dup_keys SELECT uid, id_key FROM sa_dup_in WHERE id_key IS NOT NULL")
        for key in g["keys"]:
            _deterministic(ctx, key)
        # m and u from this system's own records: within one system a copy often carries another address or
        # number, which pairs the sync keeps equal across the systems would not show.
        base = Model(str(g["kind"]), columns(ctx.mapping, str(g["kind"])))
        con.execute(f"CREATE OR REPLACE TABLE sa_dup_model AS {input_sql(base, 'sa_dup_in', 'uid')}")
        model = train(con, base, ["sa_dup_model"])
        stats: dict[str, object] = {"columns": [c.name for c in model.columns]}
        ctx.metrics.setdefault("matching", {})[str(g["group"])] = stats
        predict_pairs(con, model, ["sa_dup_model"], threshold=mo.duplicate_threshold, out_table="sa_dp", stats=stats)
        # A key pair the model also scored keeps the model's field-by-field evidence (and its probability,
        # unless the key decides it: an equal email whose names disagree is fuzzy evidence).
        con.execute(
            """UPDATE sa_dup_pairs SET evidence = d.evidence,
                p = CASE WHEN sa_dup_pairs.deterministic THEN sa_dup_pairs.p ELSE d.p END FROM sa_dp d
            WHERE least(d.uid_l, d.uid_r) = sa_dup_pairs.a AND greatest(d.uid_l, d.uid_r) = sa_dup_pairs.b"""
        )
        con.execute(
            """INSERT INTO sa_dup_pairs SELECT least(uid_l, uid_r), greatest(uid_l, uid_r), p, 'probabilistic', false,
            evidence FROM sa_dp"""
        )
    con.execute(
        """CREATE OR REPLACE TABLE sa_dup_edge_best AS
        SELECT a, b, max(p) AS p, bool_or(deterministic) AS deterministic,
               string_agg(DISTINCT rule, ', ' ORDER BY rule) AS rules,
               arg_max(evidence, CASE WHEN rule = 'probabilistic' THEN 1 ELSE 0 END) AS evidence
        FROM sa_dup_pairs GROUP BY a, b"""
    )
    constrained_clusters(con, "sa_dup_edge_best", "sa_dup_keys", "sa_dup_cc")
    con.execute("INSERT INTO sa_dup_members SELECT rid, cluster FROM sa_dup_cc")
    # Edges the constraint cut (between two clusters) are no part of either cluster's evidence.
    con.execute(
        """DELETE FROM sa_dup_edge_best WHERE NOT EXISTS (SELECT 1 FROM sa_dup_cc x JOIN sa_dup_cc y
           ON x.cluster = y.cluster WHERE x.rid = sa_dup_edge_best.a AND y.rid = sa_dup_edge_best.b)"""
    )
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
    weakest_links(con, "sa_dup_edge_best", "sa_dup_members", "sa_dup_weak")
    con.execute(
        """CREATE OR REPLACE TABLE sa_dup_why AS
        SELECT m.cluster, string_agg(DISTINCT e.rules, ', ' ORDER BY e.rules) AS rules, max(e.p) AS pmax,
               any_value(w.p) AS pmin, bool_and(e.deterministic) AS deterministic,
               json_object('deterministic', bool_and(e.deterministic), 'match_probability', any_value(w.p),
                   'weakest_link', json_object('records', [any_value(w.a), any_value(w.b)], 'match_probability',
                                               any_value(w.p)),
                   'pairs', json_group_array(json_object('records', [e.a, e.b], 'match_probability', e.p,
                       'deterministic', e.deterministic, 'rule', e.rules, 'fields', e.evidence))) AS evidence
        FROM sa_dup_edge_best e JOIN sa_dup_members m ON m.rid = e.a JOIN sa_dup_weak w ON w.cluster = m.cluster
        GROUP BY m.cluster"""
    )
    _merge_proposals(ctx)
    findings.insert(
        con,
        f"""SELECT 'duplicate', c.system, c.object, c.records, NULL,
            CASE WHEN c.n > {mo.max_cluster_size} THEN 'high' ELSE 'medium' END,
            c.n || ' ' || c.system || ' ' || c.object || ' records are the same ' ||
            CASE WHEN c.object IN ('Account', 'company') THEN 'company' ELSE 'person' END ||
            ' (' || w.rules || CASE WHEN NOT w.deterministic THEN ', fuzzy, weakest link ' || printf('%.2f', w.pmin) ELSE ', deterministic' END ||
            '): ' || array_to_string(c.records, ', ') || '; suggested survivor ' || c.ranked[1] ||
            ' (' || {lit(", ".join(mo.survivor_rules))} || ')',
            CASE WHEN c.n > {mo.max_cluster_size} THEN 'cluster too large to merge automatically: review the matching keys'
                 ELSE 'merge into ' || c.ranked[1] || ' with the field-by-field proposal' END,
            NULL, NULL, w.pmin, 'duplicate_' || replace(w.rules, ', ', '+'),
            c.ranked[1], json_object('merge', coalesce(mp.merge, '{{}}'::JSON), 'deterministic', w.deterministic,
                                'evidence', w.evidence)
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
        SELECT cluster, json_group_object(field, json_object('value', "value", 'from', src)) AS merge
        FROM per WHERE nv > 1 OR value IS NOT NULL GROUP BY cluster"""
    )
