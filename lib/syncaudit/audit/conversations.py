"""Conversation logging: closed conversations that should have a Task/Case and have
none, and logs filed on the wrong record or as the wrong object.

The conversation id is read from the configured field of Task/Case
(``mapping.conversations.conversation_id_field``), as an Intercom inbox URL
(``.../conversation/<id>``) or a bare id. Transcripts become Cases only with
automatic case creation; without it a Case is not expected (and a Task is, when
``log_as`` is Task).
"""

from __future__ import annotations

from syncaudit.audit import findings
from syncaudit.audit.context import AuditContext
from syncaudit.loadfolder import lit, q

_TARGET = {"Task": "WhoId", "Case": "ContactId"}


def check_conversations(ctx: AuditContext) -> None:
    con, cv = ctx.con, ctx.mapping.conversations
    if not ctx.has("ic_conversations"):
        return
    parts = []
    for obj, target in _TARGET.items():
        view = f"sf_{obj}"
        cols = ctx.columns(view)
        if not cols or cv.conversation_id_field not in cols:
            continue
        ref = q(cv.conversation_id_field)
        deleted = "AND NOT coalesce(IsDeleted, false)" if "IsDeleted" in cols else ""
        parts.append(
            f"""SELECT {lit(obj)} AS log_object, Id AS log_id, {ctx.col(view, target)} AS target,
                coalesce(nullif(regexp_extract(CAST({ref} AS VARCHAR), 'conversations?/([A-Za-z0-9_-]+)', 1), ''),
                         nullif(regexp_extract(trim(CAST({ref} AS VARCHAR)), '^([0-9]+)$', 1), '')) AS conv_id
            FROM {q(view)} WHERE {ref} IS NOT NULL {deleted}"""
        )
    if parts:
        con.execute(
            "CREATE OR REPLACE TABLE sa_conv_logs AS SELECT * FROM ("
            + " UNION ALL ".join(parts)
            + ") WHERE conv_id IS NOT NULL"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TABLE sa_conv_logs(log_object VARCHAR, log_id VARCHAR, target VARCHAR, conv_id VARCHAR)"
        )
    closed = "c.state = 'closed'" if cv.only_closed else "true"
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_conv AS
        SELECT c.id AS conv_id, c.state, c.contact_ids, {closed} AS in_scope,
               list(DISTINCT l.sf_id ORDER BY l.sf_id) FILTER (WHERE l.sf_id IS NOT NULL) AS counterparts
        FROM (SELECT id, state, contact_ids FROM ic_conversations) c
        LEFT JOIN (SELECT id AS cid, unnest(contact_ids) AS ic_id FROM ic_conversations) u ON u.cid = c.id
        LEFT JOIN sa_links l ON l.ic_id = u.ic_id AND l.sf_object <> 'Account'
        GROUP BY c.id, c.state, c.contact_ids"""
    )
    expected = cv.log_as
    expects_logs = expected == "Task" or cv.automatic_case_creation
    if expects_logs:
        findings.insert(
            con,
            f"""SELECT 'conversation_unlogged', 'both', 'conversation', [c.conv_id], NULL, 'low',
                'closed conversation ' || c.conv_id || ' of Intercom contact ' || array_to_string(c.contact_ids, ', ') ||
                ' (Salesforce ' || array_to_string(c.counterparts, ', ') || ') has no {expected} in Salesforce',
                'log the transcript as a {expected} on ' || c.counterparts[1],
                NULL, NULL, NULL, 'conversation_unlogged', NULL, NULL
            FROM sa_conv c WHERE c.in_scope AND array_length(coalesce(c.counterparts, [])) > 0
              AND c.conv_id NOT IN (SELECT conv_id FROM sa_conv_logs)""",
        )
    findings.insert(
        con,
        f"""SELECT 'conversation_misfiled', 'both', 'conversation', [g.log_id, g.conv_id], NULL, 'medium',
            g.log_object || ' ' || g.log_id || ' logs conversation ' || g.conv_id ||
            CASE WHEN g.log_object <> {lit(expected)}
                 THEN ' as a ' || g.log_object || ', but the mapping logs conversations as ' || {lit(expected)}
                 ELSE ' on ' || coalesce(g.target, 'no record') || ', which is not the counterpart of its contact (' ||
                      coalesce(array_to_string(c.counterparts, ', '), 'none linked') || ')' END,
            CASE WHEN array_length(coalesce(c.counterparts, [])) > 0 THEN 're-parent the ' || g.log_object || ' to ' || c.counterparts[1]
                 ELSE 'link the conversation''s contact first, then re-parent the log' END,
            g.target, array_to_string(x.contact_ids, ','), NULL,
            CASE WHEN g.log_object <> {lit(expected)} THEN 'conversation_wrong_object' ELSE 'conversation_wrong_record' END,
            NULL, NULL
        FROM sa_conv_logs g JOIN (SELECT id AS conv_id, contact_ids FROM ic_conversations) x USING (conv_id)
        LEFT JOIN sa_conv c USING (conv_id)
        WHERE g.log_object <> {lit(expected)}
           OR g.target IS NULL OR NOT list_contains(coalesce(c.counterparts, []), g.target)""",
    )
