"""Identity links between the systems: key match, fallback, fuzzy suggestions.

People: the configured Salesforce key field (Contact/Lead) against the Intercom
key (external_id), then the email fallback, then a probabilistic match (Splink)
of what is still unlinked. Companies: AccountNumber against company_id, then the
website domain and the exact normalized name. Produces the table ``sa_links``
(sf_id, sf_object, ic_id, how, confidence) the drift and conversation checks use,
the tables of still-unlinked records the orphan step reads, and the findings
``ambiguous_link``, ``stale_link`` and ``identity_gap``.
"""

from __future__ import annotations

from syncaudit.audit import findings
from syncaudit.audit.context import AuditContext
from syncaudit.audit.evidence import key_evidence_sql, name_agrees_sql, role_mailbox_sql
from syncaudit.audit.matching import input_sql, predict_pairs
from syncaudit.audit.models import model_for
from syncaudit.loadfolder import lit

# The Intercom connector prefers a Contact to a Lead, then the most recently updated record.
PEOPLE_PICK = "CASE s.sf_object WHEN 'Contact' THEN 0 ELSE 1 END, s.updated_at DESC NULLS LAST, s.sf_id"


def _in(col: str, values: list[str]) -> str:
    return f"{col} IN ({', '.join(lit(v) for v in values)})" if values else "false"


def link_people(ctx: AuditContext) -> None:
    con, m = ctx.con, ctx.mapping
    skey, ikey = m.identity.people.salesforce_key, m.identity.people.intercom_key
    pairs = [p for p in m.objects if p.intercom == "contact"]
    key_pairs = [p for p in pairs if p.effective_match_on() == "identity_key"]
    email_pairs = [p for p in pairs if p.effective_match_on() == "email"]
    key_roles = "true" if any(p.role is None for p in key_pairs) else _in("i.role", [p.role for p in key_pairs])
    # Key pass: the Intercom key against every Salesforce person carrying the key field (a Lead may carry it too).
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_key_hits AS
        SELECT i.ic_id, i.archived, s.sf_id, s.sf_object, s.updated_at, s.converted_contact_id, s.master_id,
               s.is_converted, s.is_deleted, (NOT s.is_deleted AND NOT s.is_converted) AS active
        FROM sa_ic_people i JOIN sa_sf_people s ON i.id_key = s.id_key
        WHERE {key_roles if key_pairs else "false"}"""
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_ic_hits AS
        SELECT s.ic_id, any_value(s.archived) AS archived,
               count(*) FILTER (WHERE s.active) AS n_active,
               list(s.sf_id ORDER BY {PEOPLE_PICK}) FILTER (WHERE s.active) AS actives,
               list(s.sf_id ORDER BY s.sf_id) FILTER (WHERE NOT s.active) AS stale,
               list(DISTINCT coalesce(s.converted_contact_id, s.master_id)) FILTER (WHERE NOT s.active) AS successors,
               list(s.sf_object ORDER BY s.sf_id) FILTER (WHERE NOT s.active) AS stale_objects
        FROM sa_key_hits s GROUP BY s.ic_id"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE sa_sf_hits AS
        SELECT sf_id, any_value(sf_object) AS sf_object, list(ic_id ORDER BY ic_id) AS ics, count(*) AS n
        FROM sa_key_hits WHERE active AND NOT archived GROUP BY sf_id"""
    )
    findings.insert(
        con,
        f"""SELECT 'ambiguous_link', 'both', s.sf_object, list_sort(h.actives) || [h.ic_id], NULL, 'high',
            'Intercom contact ' || h.ic_id || ' has ' || {lit(ikey)} || ' matching ' || h.n_active ||
            ' Salesforce records on ' || {lit(skey)} || ' (' || array_to_string(list_sort(h.actives), ', ') ||
            '); the connector will pick ' || h.actives[1] || ' (Contact before Lead, then the most recently updated)',
            'keep one record with this key: merge the duplicates into ' || h.actives[1] || ' or clear the key on the others',
            array_to_string(list_sort(h.actives), ','), h.ic_id, NULL, 'key_match_many', h.actives[1], NULL
        FROM sa_ic_hits h JOIN sa_sf_people s ON s.sf_id = h.actives[1]
        WHERE h.n_active > 1 AND NOT h.archived""",
    )
    findings.insert(
        con,
        f"""SELECT 'ambiguous_link', 'both', sf_object, [sf_id] || ics, NULL, 'high',
            'Salesforce ' || sf_object || ' ' || sf_id || ' is matched by ' || n || ' Intercom contacts on ' ||
            {lit(ikey)} || ' (' || array_to_string(ics, ', ') || '); the connector will sync only ' || ics[1],
            'merge the Intercom contacts or correct their ' || {lit(ikey)},
            sf_id, array_to_string(ics, ','), NULL, 'key_match_many_intercom', ics[1], NULL
        FROM sa_sf_hits WHERE n > 1""",
    )
    # Stale: the key is only on a converted Lead or a merged/deleted record; records name its successor too.
    findings.insert(
        con,
        f"""SELECT 'stale_link', 'both', h.stale_objects[1],
            h.stale || list_filter(h.successors, lambda x: x IS NOT NULL) || [h.ic_id], NULL, 'medium',
            'Intercom contact ' || h.ic_id || ' links (' || {lit(ikey)} || ') only to ' ||
            array_to_string(h.stale, ', ') || ', a ' ||
            CASE WHEN h.stale_objects[1] = 'Lead' THEN 'converted Lead' ELSE 'merged or deleted record' END ||
            coalesce('; its successor is ' || h.successors[1], ''),
            coalesce('move the key to ' || h.successors[1] || ' so the connector links the Intercom contact to it',
                     're-link the Intercom contact to the surviving record'),
            array_to_string(h.stale, ','), h.ic_id, NULL, 'key_match_stale', h.successors[1], NULL
        FROM sa_ic_hits h WHERE h.n_active = 0 AND NOT h.archived""",
    )
    findings.insert(
        con,
        """SELECT 'stale_link', 'both', s.sf_object, [s.sf_id, h.ic_id], NULL, 'medium',
            'Salesforce ' || s.sf_object || ' ' || s.sf_id || ' links to Intercom contact ' || h.ic_id ||
            ', which is archived', 'unarchive the Intercom contact or clear the key on the Salesforce record',
            s.sf_id, h.ic_id, NULL, 'key_match_archived', NULL, NULL
        FROM sa_ic_hits h JOIN sa_sf_people s ON s.sf_id = h.actives[1]
        WHERE h.archived AND h.n_active >= 1""",
    )
    con.execute(
        """CREATE OR REPLACE TABLE sa_links AS
        SELECT h.actives[1] AS sf_id, s.sf_object, h.ic_id, 'key' AS how, 1.0::DOUBLE AS confidence
        FROM sa_ic_hits h JOIN sa_sf_people s ON s.sf_id = h.actives[1]
        LEFT JOIN sa_sf_hits x ON x.sf_id = h.actives[1]
        WHERE h.n_active = 1 AND NOT h.archived AND coalesce(x.n, 1) = 1"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE sa_settled AS
        SELECT ic_id AS rid FROM sa_ic_hits UNION SELECT sf_id FROM sa_key_hits WHERE NOT archived"""
    )
    _email_identity(ctx, email_pairs)
    # Records the identity steps settled one way or another (linked, ambiguous, stale) leave the pool.
    con.execute(
        """CREATE OR REPLACE TABLE sa_ic_pool AS SELECT i.* FROM sa_ic_people i
        WHERE NOT i.archived AND i.ic_id NOT IN (SELECT rid FROM sa_settled)"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE sa_sf_pool AS SELECT s.* FROM sa_sf_people s
        WHERE NOT s.is_deleted AND NOT s.is_converted AND s.sf_id NOT IN (SELECT rid FROM sa_settled)"""
    )
    # The successor of a stale link (the converted Contact, the merge survivor) is named by the stale_link finding.
    con.execute(
        """DELETE FROM sa_sf_pool WHERE sf_id IN (
            SELECT unnest(successors) FROM sa_ic_hits WHERE n_active = 0 AND NOT archived)"""
    )
    if "email" in m.identity.people.fallback and key_pairs:
        _fallback_people(ctx, [p.salesforce for p in key_pairs], key_roles)
    _fuzzy_people(ctx)


def _email_identity(ctx: AuditContext, email_pairs: list) -> None:  # noqa: ANN001
    """Pairs identified by email (Intercom leads have no external_id): link, or ambiguous when one email
    is on several records of one side."""
    con = ctx.con
    if not email_pairs:
        return
    conds = " OR ".join(
        f"(s.sf_object = {lit(p.salesforce)} AND {('i.role = ' + lit(p.role)) if p.role else 'true'})"
        for p in email_pairs
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_em_hits AS
        SELECT i.ic_id, s.sf_id, s.sf_object, s.updated_at
        FROM sa_ic_people i JOIN sa_sf_people s ON i.email_n = s.email_n
        WHERE ({conds}) AND NOT i.archived AND NOT s.is_deleted AND NOT s.is_converted
          AND i.ic_id NOT IN (SELECT rid FROM sa_settled) AND s.sf_id NOT IN (SELECT rid FROM sa_settled)"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE sa_em_deg AS
        SELECT h.*, count(*) OVER (PARTITION BY ic_id) AS n_sf, count(*) OVER (PARTITION BY sf_id) AS n_ic,
               -- the connector's pick: the most recently updated; between two updated at the same instant (a
               -- copy made with its original), the later id, so the finding is the same on every run and engine
               row_number() OVER (PARTITION BY ic_id ORDER BY updated_at DESC NULLS LAST, sf_id DESC) AS recency
        FROM sa_em_hits h"""
    )
    findings.insert(
        con,
        """SELECT 'ambiguous_link', 'both', arg_min(sf_object, recency), list(sf_id ORDER BY sf_id) || [ic_id], NULL, 'high',
            'Intercom lead ' || ic_id || ' matches ' || count(*) || ' Salesforce records by email (' ||
            string_agg(sf_id, ', ' ORDER BY sf_id) || '); the connector will pick ' ||
            arg_min(sf_id, recency) || ', the most recently updated',
            'merge the Salesforce duplicates into ' || arg_min(sf_id, recency),
            string_agg(sf_id, ',' ORDER BY sf_id), ic_id, NULL, 'email_match_many', arg_min(sf_id, recency), NULL
        FROM sa_em_deg WHERE n_sf > 1 GROUP BY ic_id""",
    )
    findings.insert(
        con,
        """SELECT 'ambiguous_link', 'both', any_value(sf_object), [sf_id] || list(ic_id ORDER BY ic_id), NULL, 'high',
            'Salesforce ' || any_value(sf_object) || ' ' || sf_id || ' matches ' || count(*) ||
            ' Intercom leads by email (' || string_agg(ic_id, ', ' ORDER BY ic_id) || '); the connector will sync only '
            || min(ic_id), 'merge the Intercom leads', sf_id, string_agg(ic_id, ',' ORDER BY ic_id), NULL,
            'email_match_many_intercom', min(ic_id), NULL
        FROM sa_em_deg WHERE n_ic > 1 AND n_sf = 1 GROUP BY sf_id""",
    )
    con.execute(
        """INSERT INTO sa_links SELECT sf_id, sf_object, ic_id, 'email_identity', 1.0
        FROM sa_em_deg WHERE n_sf = 1 AND n_ic = 1"""
    )
    con.execute("INSERT INTO sa_settled SELECT ic_id FROM sa_em_hits UNION SELECT sf_id FROM sa_em_hits")


def _gap_detail(how: str) -> str:
    return (
        f"'Salesforce ' || s.sf_object || ' ' || s.sf_id || ' and Intercom contact ' || i.ic_id || ' are the same person ("
        f"{how}) but the identity key ' || CASE WHEN s.id_key IS NULL AND i.id_key IS NULL THEN 'is empty on both sides' "
        "WHEN s.id_key IS NULL THEN 'is empty in Salesforce (' || $skey || ')' "
        "WHEN i.id_key IS NULL THEN 'is empty in Intercom (' || $ikey || ')' "
        "ELSE 'differs: Salesforce ' || s.id_key || ' vs Intercom ' || i.id_key END"
    )


def _insert_gaps(ctx: AuditContext, pairs: str, how: str, rule: str) -> None:
    """identity_gap findings and links for ``pairs(sf_id, ic_id, p, deterministic, evidence)`` (one-to-one)."""
    m = ctx.mapping
    skey, ikey = m.identity.people.salesforce_key, m.identity.people.intercom_key
    detail = _gap_detail(how).replace("$skey", lit(skey)).replace("$ikey", lit(ikey))
    findings.insert(
        ctx.con,
        f"""SELECT 'identity_gap', 'both', s.sf_object, [s.sf_id, i.ic_id], NULL, 'medium',
            {detail} || CASE WHEN p.deterministic THEN ' (deterministic evidence)'
                             ELSE ' (fuzzy evidence, match probability ' || printf('%.2f', p.p) || ': review before writing)' END,
            CASE WHEN i.id_key IS NOT NULL THEN 'set ' || {lit(skey)} || ' on ' || s.sf_id || ' to ' || i.id_key
                 WHEN s.id_key IS NOT NULL THEN 'set ' || {lit(ikey)} || ' on Intercom contact ' || i.ic_id || ' to ' || s.id_key
                 ELSE 'give both records the product user id' END,
            s.id_key, i.id_key, p.p, {lit(rule)}, NULL,
            json_object('deterministic', p.deterministic, 'evidence', json_object('deterministic', p.deterministic, 'match_probability', p.p,
                'weakest_link', json_object('records', [s.sf_id, i.ic_id], 'match_probability', p.p),
                'pairs', [json_object('records', [s.sf_id, i.ic_id], 'match_probability', p.p,
                          'deterministic', p.deterministic, 'rule', {lit(rule)}, 'fields', p.evidence)]))
        FROM {pairs} p JOIN sa_sf_pool s ON s.sf_id = p.sf_id JOIN sa_ic_pool i ON i.ic_id = p.ic_id""",
    )
    ctx.con.execute(
        f"INSERT INTO sa_links SELECT p.sf_id, s.sf_object, p.ic_id, {lit(how)}, p.p FROM {pairs} p "
        "JOIN sa_sf_pool s ON s.sf_id = p.sf_id"
    )
    ctx.con.execute(f"DELETE FROM sa_sf_pool WHERE sf_id IN (SELECT sf_id FROM {pairs})")
    ctx.con.execute(f"DELETE FROM sa_ic_pool WHERE ic_id IN (SELECT ic_id FROM {pairs})")


def _one_to_one(con, candidates: str, out: str) -> None:  # noqa: ANN001
    """Keep mutual best pairs of ``candidates(sf_id, ic_id, p, pick, deterministic, evidence)`` (pick: lower is better)."""
    con.execute(
        f"""CREATE OR REPLACE TABLE {out} AS
        WITH r AS (SELECT *, row_number() OVER (PARTITION BY ic_id ORDER BY p DESC, pick, sf_id) AS ri,
                             row_number() OVER (PARTITION BY sf_id ORDER BY p DESC, ic_id) AS rs FROM {candidates})
        SELECT sf_id, ic_id, p, deterministic, evidence FROM r WHERE ri = 1 AND rs = 1"""
    )


def _fallback_people(ctx: AuditContext, objects: list[str], roles_sql: str) -> None:
    """Key-identified pairs whose key is missing or differs but whose email agrees: identity gaps.
    A role mailbox (info@, support@, ...) is no identity; the evidence is deterministic when the names agree
    and no two different keys are set (different keys need a person's review before either is written)."""
    con = ctx.con
    agree = name_agrees_sql("s", "i", "mf_first_name" in ctx.columns("sa_sf_pool"))
    if "mf_last_name" not in ctx.columns("sa_sf_pool"):
        agree = "false"
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_cand AS
        SELECT s.sf_id, i.ic_id, 1.0::DOUBLE AS p, row_number() OVER (PARTITION BY i.ic_id ORDER BY {PEOPLE_PICK}) AS pick,
               coalesce({agree}, false) AND NOT coalesce(s.id_key <> i.id_key, false) AS deterministic,
               {key_evidence_sql("email", "s.email_n", "i.email_n", "same address")} AS evidence
        FROM sa_ic_pool i JOIN sa_sf_pool s ON s.email_n = i.email_n
        WHERE {_in("s.sf_object", objects)} AND {roles_sql} AND NOT {role_mailbox_sql("s.email_n")}"""
    )
    _one_to_one(con, "sa_cand", "sa_pairs")
    _insert_gaps(ctx, "sa_pairs", "same email", "email_fallback")


def _fuzzy_people(ctx: AuditContext) -> None:
    con, mo = ctx.con, ctx.mapping.matching
    model = model_for(ctx, "people")
    con.execute(f"CREATE OR REPLACE TABLE sa_fz_l AS {input_sql(model, 'sa_sf_pool', 'sf_id')}")
    con.execute(f"CREATE OR REPLACE TABLE sa_fz_r AS {input_sql(model, 'sa_ic_pool', 'ic_id')}")
    stats: dict[str, object] = {}
    ctx.metrics.setdefault("matching", {})["link_people"] = stats
    predict_pairs(con, model, ["sa_fz_l", "sa_fz_r"], threshold=mo.suggest_threshold, out_table="sa_fz", stats=stats)
    # Splink orders a pair by source; keep (sf, ic) whichever side each id came from.
    con.execute(
        """CREATE OR REPLACE TABLE sa_cand AS
        SELECT CASE WHEN l.uid IS NOT NULL THEN f.uid_l ELSE f.uid_r END AS sf_id,
               CASE WHEN l.uid IS NOT NULL THEN f.uid_r ELSE f.uid_l END AS ic_id, f.p, 0 AS pick,
               false AS deterministic, f.evidence
        FROM sa_fz f LEFT JOIN sa_fz_l l ON l.uid = f.uid_l"""
    )
    _one_to_one(con, "sa_cand", "sa_pairs_all")
    con.execute(f"CREATE OR REPLACE TABLE sa_pairs AS SELECT * FROM sa_pairs_all WHERE p >= {mo.link_threshold}")
    con.execute(f"CREATE OR REPLACE TABLE sa_suggest AS SELECT * FROM sa_pairs_all WHERE p < {mo.link_threshold}")
    _insert_gaps(ctx, "sa_pairs", "probabilistic match", "fuzzy_match")


def link_companies(ctx: AuditContext) -> None:
    """Accounts to Intercom companies: key, ambiguous (the connector picks the newest), fallback."""
    con, m = ctx.con, ctx.mapping
    skey, ikey = m.identity.companies.salesforce_key, m.identity.companies.intercom_key
    con.execute(
        """CREATE OR REPLACE TABLE sa_co_hits AS
        SELECT i.ic_id, count(*) AS n,
               list(s.sf_id ORDER BY s.updated_at DESC NULLS LAST, s.sf_id) AS sfs
        FROM sa_ic_companies i JOIN sa_sf_accounts s ON s.id_key = i.id_key AND NOT s.is_deleted
        GROUP BY i.ic_id"""
    )
    findings.insert(
        con,
        f"""SELECT 'ambiguous_link', 'both', 'Account', list_sort(sfs) || [ic_id], NULL, 'high',
            'Intercom company ' || ic_id || ' (' || {lit(ikey)} || ') matches ' || n || ' Accounts on ' || {lit(skey)} ||
            ' (' || array_to_string(list_sort(sfs), ', ') || '); the connector will pick ' || sfs[1] ||
            ', the most recently updated',
            'merge the Accounts into ' || sfs[1] || ' or give the others their own ' || {lit(skey)},
            array_to_string(list_sort(sfs), ','), ic_id, NULL, 'key_match_many', sfs[1], NULL
        FROM sa_co_hits WHERE n > 1""",
    )
    con.execute("INSERT INTO sa_links SELECT sfs[1], 'Account', ic_id, 'key', 1.0 FROM sa_co_hits WHERE n = 1")
    con.execute(
        """CREATE OR REPLACE TABLE sa_co_ic_pool AS SELECT * FROM sa_ic_companies
        WHERE ic_id NOT IN (SELECT ic_id FROM sa_co_hits)"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE sa_co_sf_pool AS SELECT * FROM sa_sf_accounts s WHERE NOT s.is_deleted
        AND sf_id NOT IN (SELECT unnest(sfs) FROM sa_co_hits)"""
    )
    # Fallback: the same website domain, else the same normalized name.
    con.execute(
        """CREATE OR REPLACE TABLE sa_cand AS
        SELECT s.sf_id, i.ic_id, 1.0::DOUBLE AS p,
               row_number() OVER (PARTITION BY i.ic_id ORDER BY s.updated_at DESC NULLS LAST) AS pick,
               s.name_n = i.name_n AS deterministic,
               to_json([json_object('field', 'domain', 'left', s.domain, 'right', i.domain, 'level', 'same domain',
                                    'weight', NULL),
                        json_object('field', 'name', 'left', s.name_n, 'right', i.name_n, 'level',
                                    CASE WHEN s.name_n = i.name_n THEN 'same company' ELSE 'different' END,
                                    'weight', NULL)]) AS evidence
        FROM sa_co_ic_pool i JOIN sa_co_sf_pool s ON s.domain = i.domain
        UNION ALL
        SELECT s.sf_id, i.ic_id, 0.99::DOUBLE AS p,
               row_number() OVER (PARTITION BY i.ic_id ORDER BY s.updated_at DESC NULLS LAST) AS pick,
               false AS deterministic,
               to_json([json_object('field', 'name', 'left', s.name_n, 'right', i.name_n, 'level', 'same company',
                                    'weight', NULL)]) AS evidence
        FROM sa_co_ic_pool i JOIN sa_co_sf_pool s ON s.name_n = i.name_n"""
    )
    _one_to_one(con, "sa_cand", "sa_pairs")
    findings.insert(
        con,
        f"""SELECT 'identity_gap', 'both', 'Account', [s.sf_id, i.ic_id], NULL, 'medium',
            'Account ' || s.sf_id || ' and Intercom company ' || i.ic_id || ' are the same company (' ||
            CASE WHEN s.domain = i.domain THEN 'same website domain ' || s.domain ELSE 'same name' END ||
            ') but ' || CASE WHEN s.id_key IS NULL THEN {lit(skey)} || ' is empty in Salesforce'
                             WHEN i.id_key IS NULL THEN {lit(ikey)} || ' is empty in Intercom'
                             ELSE 'the keys differ: ' || s.id_key || ' vs ' || i.id_key END,
            CASE WHEN i.id_key IS NOT NULL THEN 'set ' || {lit(skey)} || ' on ' || s.sf_id || ' to ' || i.id_key
                 ELSE 'set ' || {lit(ikey)} || ' on the Intercom company to ' || coalesce(s.id_key, 'the AccountNumber') END,
            s.id_key, i.id_key, p.p, 'company_fallback', NULL,
            json_object('deterministic', p.deterministic, 'evidence', json_object('deterministic', p.deterministic, 'match_probability', p.p,
                'weakest_link', json_object('records', [s.sf_id, i.ic_id], 'match_probability', p.p),
                'pairs', [json_object('records', [s.sf_id, i.ic_id], 'match_probability', p.p,
                          'deterministic', p.deterministic, 'rule', 'company_fallback', 'fields', p.evidence)]))
        FROM sa_pairs p JOIN sa_co_sf_pool s ON s.sf_id = p.sf_id JOIN sa_co_ic_pool i ON i.ic_id = p.ic_id""",
    )
    con.execute("INSERT INTO sa_links SELECT sf_id, 'Account', ic_id, 'fallback', 1.0 FROM sa_pairs")
    con.execute("DELETE FROM sa_co_sf_pool WHERE sf_id IN (SELECT sf_id FROM sa_pairs)")
    con.execute("DELETE FROM sa_co_ic_pool WHERE ic_id IN (SELECT ic_id FROM sa_pairs)")


def emit_orphans(ctx: AuditContext) -> None:
    """Still-unlinked in-scope records, minus duplicates of a linked record (the duplicate finding covers them)."""
    con = ctx.con
    con.execute(
        """CREATE OR REPLACE TABLE sa_linked_ids AS
        SELECT sf_id AS rid FROM sa_links UNION SELECT ic_id FROM sa_links"""
    )
    # A record whose duplicate cluster holds a linked record is not an orphan: merging resolves it.
    con.execute(
        """CREATE OR REPLACE TABLE sa_covered AS
        SELECT DISTINCT c.rid FROM sa_dup_members c
        WHERE c.cluster IN (SELECT cluster FROM sa_dup_members WHERE rid IN (SELECT rid FROM sa_linked_ids))"""
    )
    findings.insert(
        con,
        """SELECT 'orphan', 'salesforce', s.sf_object, [s.sf_id], NULL, 'low',
            'Salesforce ' || s.sf_object || ' ' || s.sf_id || ' has no counterpart in Intercom' ||
            coalesce('; best candidate: Intercom contact ' || g.ic_id || ' (match probability ' ||
                     printf('%.2f', g.p) || ')', ''),
            CASE WHEN g.ic_id IS NOT NULL THEN 'review the candidate and copy the identity key to link them'
                 ELSE 'create the Intercom contact, or take the record out of the sync scope' END,
            NULL, NULL, g.p, 'orphan', NULL,
            CASE WHEN g.ic_id IS NOT NULL THEN json_object('suggested_counterpart', g.ic_id, 'confidence', g.p) END
        FROM sa_sf_pool s LEFT JOIN sa_suggest g ON g.sf_id = s.sf_id
        WHERE s.sf_id NOT IN (SELECT rid FROM sa_covered)""",
    )
    findings.insert(
        con,
        """SELECT 'orphan', 'intercom', 'contact', [i.ic_id], NULL, 'low',
            'Intercom ' || coalesce(i.role, 'contact') || ' ' || i.ic_id || ' has no counterpart in Salesforce' ||
            coalesce('; best candidate: Salesforce ' || g.sf_id || ' (match probability ' ||
                     printf('%.2f', g.p) || ')', ''),
            CASE WHEN g.sf_id IS NOT NULL THEN 'review the candidate and copy the identity key to link them'
                 ELSE 'let the connector create the Salesforce record, or archive the contact' END,
            NULL, NULL, g.p, 'orphan', NULL,
            CASE WHEN g.sf_id IS NOT NULL THEN json_object('suggested_counterpart', g.sf_id, 'confidence', g.p) END
        FROM sa_ic_pool i LEFT JOIN sa_suggest g ON g.ic_id = i.ic_id
        WHERE i.ic_id NOT IN (SELECT rid FROM sa_covered)""",
    )
    findings.insert(
        con,
        """SELECT 'orphan', 'salesforce', 'Account', [sf_id], NULL, 'low',
            'Account ' || sf_id || ' has no counterpart company in Intercom',
            'create the Intercom company, or take the Account out of the sync scope',
            NULL, NULL, NULL, 'orphan', NULL, NULL
        FROM sa_co_sf_pool WHERE sf_id NOT IN (SELECT rid FROM sa_covered)""",
    )
    findings.insert(
        con,
        """SELECT 'orphan', 'intercom', 'company', [ic_id], NULL, 'low',
            'Intercom company ' || ic_id || ' has no counterpart Account in Salesforce',
            'create the Account, or remove the company', NULL, NULL, NULL, 'orphan', NULL, NULL
        FROM sa_co_ic_pool WHERE ic_id NOT IN (SELECT rid FROM sa_covered)""",
    )
