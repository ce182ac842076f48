"""Cross-system rules (config ``rules:``) evaluated set-based in DuckDB: one ``rule_violation`` per record
that meets a rule's condition and whose linked record breaks its expectation.

For each rule: the records meeting the condition (``sa_rule_cond``), the records they reach on the other
side through the identity links (``sa_rule_anchor``: a conversation's contacts, their Salesforce
counterparts, those Contacts' Accounts, the contacts' companies and their Accounts), then the expectation.
A condition record that reaches nothing is *unresolved* (counted, not a finding: the identity findings
cover a missing link); one that reaches several is satisfied when any of them meets the expectation.

Finding: kind ``rule_violation``, system ``both``, object = the condition's object, field = the rule's
name (so two rules broken by one record are two findings), records = Salesforce ids, then Intercom ids.
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from syncaudit.audit import findings
from syncaudit.audit.context import AuditContext
from syncaudit.audit.drift import snapshot_time
from syncaudit.errors import ConfigError
from syncaudit.loadfolder import lit, q
from syncaudit.rulespec import Condition, Rule, system_of

# The record a condition object is, as a node of the link graph, and its table.
NODE_OF = {
    "conversation": "conversation",
    "contact": "contact",
    "company": "company",
    "Account": "account",
    "Contact": "person",
    "Lead": "person",
}
VIEW_OF = {
    "conversation": "ic_conversations",
    "contact": "ic_contacts",
    "company": "ic_companies",
    "Account": "sf_Account",
    "Contact": "sf_Contact",
    "Lead": "sf_Lead",
    "Case": "sf_Case",
    "Task": "sf_Task",
}
KEY_OF = {"intercom": "id", "salesforce": "Id"}
DEFAULT_TIME = {"intercom": "created_at", "salesforce": "CreatedDate"}
# Shortest paths between nodes of the link graph; every path of a pair is followed and the results united.
PATHS: dict[tuple[str, str], list[list[str]]] = {
    ("conversation", "conversation"): [["conversation"]],
    ("conversation", "contact"): [["conversation", "contact"]],
    ("conversation", "person"): [["conversation", "contact", "person"]],
    ("conversation", "company"): [["conversation", "contact", "company"]],
    ("conversation", "account"): [
        ["conversation", "contact", "person", "account"],
        ["conversation", "contact", "company", "account"],
    ],
    ("contact", "person"): [["contact", "person"]],
    ("contact", "company"): [["contact", "company"]],
    ("contact", "account"): [["contact", "person", "account"], ["contact", "company", "account"]],
    ("company", "account"): [["company", "account"]],
    ("account", "account"): [["account"]],
    ("account", "company"): [["account", "company"]],
    ("person", "person"): [["person"]],
    ("person", "contact"): [["person", "contact"]],
    ("person", "account"): [["person", "account"]],
    ("person", "company"): [["person", "account", "company"], ["person", "contact", "company"]],
}
# Where a Case/Task points at its anchor.
RELATION = {("Case", "account"): "AccountId", ("Case", "person"): "ContactId", ("Task", "account"): "WhatId"}
RELATION[("Task", "person")] = "WhoId"


def _edge(node_from: str, node_to: str, inner: str) -> str:
    """SQL of one step along a link: ``inner`` yields (rid, id, conf); so does the result."""
    if (node_from, node_to) == ("conversation", "contact"):
        return (
            f"SELECT t.rid, unnest(v.contact_ids) AS id, t.conf FROM ({inner}) t JOIN ic_conversations v ON v.id = t.id"
        )
    if (node_from, node_to) == ("contact", "person"):
        return (
            f"SELECT t.rid, l.sf_id AS id, least(t.conf, l.confidence) AS conf FROM ({inner}) t "
            "JOIN sa_links l ON l.ic_id = t.id AND l.sf_object <> 'Account'"
        )
    if (node_from, node_to) == ("person", "contact"):
        return (
            f"SELECT t.rid, l.ic_id AS id, least(t.conf, l.confidence) AS conf FROM ({inner}) t "
            "JOIN sa_links l ON l.sf_id = t.id AND l.sf_object <> 'Account'"
        )
    if (node_from, node_to) == ("person", "account"):
        return f"SELECT t.rid, s.AccountId AS id, t.conf FROM ({inner}) t JOIN sa_rule_contact_account s ON s.Id = t.id"
    if (node_from, node_to) == ("contact", "company"):
        return f"SELECT t.rid, unnest(c.company_ids) AS id, t.conf FROM ({inner}) t JOIN sa_rule_contact_companies c ON c.id = t.id"
    if (node_from, node_to) == ("company", "account"):
        return (
            f"SELECT t.rid, l.sf_id AS id, least(t.conf, l.confidence) AS conf FROM ({inner}) t "
            "JOIN sa_links l ON l.ic_id = t.id AND l.sf_object = 'Account'"
        )
    if (node_from, node_to) == ("account", "company"):
        return (
            f"SELECT t.rid, l.ic_id AS id, least(t.conf, l.confidence) AS conf FROM ({inner}) t "
            "JOIN sa_links l ON l.sf_id = t.id AND l.sf_object = 'Account'"
        )
    raise AssertionError(f"no edge {node_from} -> {node_to}")  # pragma: no cover - PATHS uses only the edges above


def _target_node(rule: Rule) -> str:
    e = rule.expect
    return NODE_OF[e.linked] if e.linked else str(e.on)


def _target_view(rule: Rule) -> str:
    return VIEW_OF[rule.expect.target]


# ---------------------------------------------------------------- checks against the snapshot


def _fields_of(rule: Rule) -> list[tuple[str, str, str]]:
    """(where in the rule, view, column) of every field name the rule uses."""
    w, e = rule.when, rule.expect
    out = [("when.where", VIEW_OF[w.object], c.field) for c in w.where]
    if w.time_field:
        out.append(("when.time_field", VIEW_OF[w.object], w.time_field))
    out += [("expect.where", _target_view(rule), c.field) for c in e.where]
    if rule.fix is not None and rule.fix.set:
        out += [("fix.set", _target_view(rule), f) for f in rule.fix.set]
    return out


def check_rules_against(ctx: AuditContext, rules: list[Rule], snapshot_path: Path | None = None) -> None:
    """Refuse (exit 2) rules naming fields the snapshot's tables lack, or tags the workspace does not have (the
    snapshot's ``intercom/tags.json``; a snapshot without one is checked against the tags its records carry)."""
    problems: list[str] = []
    tags: set[str] | None = None
    for rule in rules:
        for where, view, col in _fields_of(rule):
            cols = ctx.columns(view)
            if cols and col not in cols and ctx.count(view) > 0:  # an empty table tells nothing (as check_mapping)
                close = difflib.get_close_matches(col, cols, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                obj = view.split("_", 1)[1]
                problems.append(f"rule '{rule.name}' {where}: {obj} has no field '{col}'{hint}")
        if rule.when.tags:
            if tags is None:
                tags = _known_tags(ctx, snapshot_path)
            if tags:
                for t in rule.when.tags:
                    if t not in tags:
                        close = difflib.get_close_matches(t, sorted(tags), n=1, cutoff=0.6)
                        hint = f" (did you mean '{close[0]}'?)" if close else ""
                        problems.append(f"rule '{rule.name}' when.tags: no Intercom tag '{t}' in the snapshot{hint}")
    if problems:
        raise ConfigError(
            "the rules name fields or tags the snapshot does not have:\n" + "\n".join(f"  - {p}" for p in problems),
            key="rules",
            hint="correct the names (Salesforce API names are case-sensitive; Intercom custom attributes are written "
            "custom_attributes.<name>; tags exactly as in Intercom)",
        )


def _known_tags(ctx: AuditContext, snapshot_path: Path | None) -> set[str]:
    listed = Path(snapshot_path) / "intercom" / "tags.json" if snapshot_path else None
    if listed is not None and listed.is_file():
        try:
            return {str(t["name"]) for t in json.loads(listed.read_text(encoding="utf-8")) if t.get("name")}
        except (ValueError, TypeError, KeyError):
            pass
    parts = [
        f"SELECT unnest(tags) AS t FROM {v}" for v in ("ic_conversations", "ic_contacts") if "tags" in ctx.columns(v)
    ]
    if not parts:
        return set()
    return {r[0] for r in ctx.con.execute(" UNION ".join(parts)).fetchall() if r[0] is not None}


# ---------------------------------------------------------------- SQL of conditions


def condition_sql(ctx: AuditContext, view: str, c: Condition, alias: str = "") -> str:
    """One condition as a SQL predicate, comparing in the column's own type."""
    # DESCRIBE's first two columns are the name and the type, on either engine (a statement, not a subquery:
    # Spark has no DESCRIBE in FROM)
    types = {r[0]: r[1] for r in ctx.con.execute(f"DESCRIBE {q(view)}").fetchall()}
    typ = types.get(c.field, "VARCHAR")
    if c.field not in types:  # only in an empty table (check_rules_against refuses it elsewhere): no value
        col = "CAST(NULL AS VARCHAR)"
    else:
        col = f"{alias}.{q(c.field)}" if alias else q(c.field)

    def val(v: Any) -> str:
        text = str(v).lower() if isinstance(v, bool) else str(v)
        return lit(text) if typ == "VARCHAR" else f"TRY_CAST({lit(text)} AS {typ})"

    if c.op == "exists":
        present = f"({col} IS NOT NULL AND trim(CAST({col} AS VARCHAR)) NOT IN ('', '[]', '{{}}'))"
        return present if c.value else f"NOT {present}"
    if c.op == "equals":
        return f"coalesce({col} = {val(c.value)}, false)"
    if c.op == "not_equals":
        return f"coalesce({col} <> {val(c.value)}, true)"
    values = ", ".join(val(v) for v in c.value) or "NULL"
    if c.op == "in":
        return f"coalesce({col} IN ({values}), false)"
    return f"coalesce({col} NOT IN ({values}), true)"


def _live(ctx: AuditContext, view: str, alias: str = "") -> list[str]:
    """Predicates that leave out deleted, converted and archived records."""
    a = f"{alias}." if alias else ""
    cols = ctx.columns(view)
    out = []
    if "IsDeleted" in cols:
        out.append(f"NOT coalesce({a}IsDeleted, false)")
    if "IsConverted" in cols:
        out.append(f"NOT coalesce({a}IsConverted, false)")
    if "archived" in cols:
        out.append(f"NOT coalesce({a}archived, false)")
    return out


def describe_condition(c: Condition) -> str:
    if c.op == "exists":
        return f"{c.field} {'set' if c.value else 'empty'}"
    if c.op in ("in", "not_in"):
        return f"{c.field} {'in' if c.op == 'in' else 'not in'} ({', '.join(map(str, c.value))})"
    return f"{c.field} {'=' if c.op == 'equals' else '<>'} {c.value}"


def describe_expectation(rule: Rule) -> str:
    e = rule.expect
    cond = " and ".join(describe_condition(c) for c in e.where)
    if e.linked:
        return f"a linked {e.linked}" + (f" with {cond}" if cond else "")
    what = f"a {e.target}" + (f" with {cond}" if cond else "")
    return f"{what} on the {e.on}" if e.exists else f"no {what[2:]} on the {e.on}"


def describe_when(rule: Rule) -> str:
    w = rule.when
    parts = []
    if w.tags:
        parts.append("tagged " + " or ".join(w.tags))
    parts += [describe_condition(c) for c in w.where]
    if w.within:
        parts.append(f"in the last {w.within}")
    return ", ".join(parts) or "any"


# ---------------------------------------------------------------- evaluation


def _helpers(ctx: AuditContext) -> None:
    """Small tables the link steps join: each Contact's Account, each Intercom contact's companies."""
    con = ctx.con
    if {"Id", "AccountId"} <= set(ctx.columns("sf_Contact")):
        live = " AND ".join(["AccountId IS NOT NULL", *_live(ctx, "sf_Contact")])
        con.execute(
            f"CREATE OR REPLACE TABLE sa_rule_contact_account AS SELECT Id, AccountId FROM sf_Contact WHERE {live}"
        )
    else:
        con.execute("CREATE OR REPLACE TABLE sa_rule_contact_account(Id VARCHAR, AccountId VARCHAR)")
    if {"id", "company_ids"} <= set(ctx.columns("ic_contacts")):
        con.execute(
            "CREATE OR REPLACE TABLE sa_rule_contact_companies AS SELECT id, company_ids FROM ic_contacts "
            "WHERE array_length(company_ids) > 0"
        )
    else:
        con.execute("CREATE OR REPLACE TABLE sa_rule_contact_companies(id VARCHAR, company_ids VARCHAR[])")


def _conditions(ctx: AuditContext, rule: Rule, now: datetime) -> bool:
    """``sa_rule_cond(rid)``: the live records meeting the condition; False when the object is not in the snapshot."""
    w = rule.when
    view = VIEW_OF[w.object]
    if not ctx.has(view):
        return False
    system = system_of(w.object)
    preds = _live(ctx, view)
    if w.tags:
        preds.append(f"list_has_any(coalesce(tags, []::VARCHAR[]), [{', '.join(lit(t) for t in w.tags)}])")
    preds += [condition_sql(ctx, view, c) for c in w.where]
    seconds = w.within_seconds()
    if seconds is not None:
        tcol = w.time_field or DEFAULT_TIME[system]
        since = (now - timedelta(seconds=seconds)).isoformat()
        tsql = q(tcol) if tcol in ctx.columns(view) else "NULL"
        preds.append(f"CAST({tsql} AS TIMESTAMPTZ) >= TIMESTAMPTZ {lit(since)}")
    where = " AND ".join(preds) or "true"
    ctx.con.execute(
        f"CREATE OR REPLACE TABLE sa_rule_cond AS SELECT DISTINCT {q(KEY_OF[system])} AS rid FROM {q(view)} WHERE {where}"
    )
    return True


def _anchors(ctx: AuditContext, rule: Rule) -> None:
    """``sa_rule_anchor(rid, aid, conf)``: what each condition record reaches on the expectation's side."""
    start, goal = NODE_OF[rule.when.object], _target_node(rule)
    parts = []
    for path in PATHS[(start, goal)]:
        sql = "SELECT rid, rid AS id, 1.0::DOUBLE AS conf FROM sa_rule_cond"
        for a, b in zip(path, path[1:], strict=False):
            sql = _edge(a, b, sql)
        parts.append(sql)
    union = " UNION ALL ".join(f"SELECT * FROM ({p})" for p in parts)
    target = rule.expect.linked
    keep = "aid IS NOT NULL"
    if goal == "account":
        keep += f" AND aid IN (SELECT Id FROM sf_Account WHERE {' AND '.join(_live(ctx, 'sf_Account')) or 'true'})"
    if target in ("Contact", "Lead"):
        keep += f" AND aid IN (SELECT Id FROM {q(VIEW_OF[target])})" if ctx.has(VIEW_OF[target]) else " AND false"
    if goal == "account" and not ctx.has("sf_Account"):
        keep = "false"
    ctx.con.execute(
        f"CREATE OR REPLACE TABLE sa_rule_anchor AS SELECT rid, aid, max(conf) AS conf FROM "
        f"(SELECT rid, id AS aid, conf FROM ({union})) WHERE {keep} GROUP BY rid, aid"
    )


def _matches(ctx: AuditContext, rule: Rule) -> None:
    """``sa_rule_match(rid)``: condition records with at least one reached record matching the expectation."""
    e = rule.expect
    view = _target_view(rule)
    con = ctx.con
    if not ctx.has(view):
        con.execute("CREATE OR REPLACE TABLE sa_rule_match AS SELECT NULL::VARCHAR rid WHERE false")
        return
    preds = _live(ctx, view, "x") + [condition_sql(ctx, view, c, "x") for c in e.where]
    where = " AND ".join(preds) or "true"
    if e.linked:
        key = KEY_OF[system_of(e.linked)]
        con.execute(
            f"""CREATE OR REPLACE TABLE sa_rule_match AS SELECT DISTINCT a.rid FROM sa_rule_anchor a
            JOIN {q(view)} x ON x.{q(key)} = a.aid WHERE {where}"""
        )
        return
    if e.on == "conversation":
        cv = ctx.mapping.conversations
        cols = ctx.columns(view)
        refs = []
        if cv.conversation_id_field in cols:
            ref = f"CAST(x.{q(cv.conversation_id_field)} AS VARCHAR)"
            refs.append(
                f"coalesce(nullif(regexp_extract({ref}, 'conversations?/([A-Za-z0-9_-]+)', 1), ''), "
                f"nullif(regexp_extract(trim({ref}), '^([0-9]+)$', 1), ''))"
            )
        if cv.external_id_field in cols:
            refs.append(f"nullif(trim(CAST(x.{q(cv.external_id_field)} AS VARCHAR)), '')")
        rel = f"coalesce({', '.join(refs)})" if refs else "CAST(NULL AS VARCHAR)"
    else:
        col = RELATION[(e.target, str(e.on))]
        rel = f"x.{q(col)}" if col in ctx.columns(view) else "CAST(NULL AS VARCHAR)"
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_rule_match AS SELECT DISTINCT a.rid FROM sa_rule_anchor a
        JOIN (SELECT {rel} AS aid FROM {q(view)} x WHERE {where}) r ON r.aid = a.aid"""
    )


def _outcome(rule: Rule) -> str:
    e = rule.expect
    if e.linked:
        return f"the linked {e.linked} does not match: "
    return "there is one on " if e.not_exists else "there is none on "


def evaluate_rule(ctx: AuditContext, rule: Rule, now: datetime) -> dict[str, int]:
    """Insert the rule's violations into ``findings``; returns its counts."""
    if not _conditions(ctx, rule, now):
        return {"matched": 0, "unresolved": 0, "satisfied": 0, "violations": 0}
    _anchors(ctx, rule)
    _matches(ctx, rule)
    con = ctx.con
    bad = (
        "r.rid NOT IN (SELECT rid FROM sa_rule_match)"
        if not rule.expect.not_exists
        else ("r.rid IN (SELECT rid FROM sa_rule_match)")
    )
    src_sys, dst_sys = (
        system_of(rule.when.object),
        "intercom" if _target_node(rule) in ("company", "contact", "conversation") else "salesforce",
    )
    sf_part = "[r.rid]" if src_sys == "salesforce" else "[]::VARCHAR[]"
    ic_part = "[r.rid]" if src_sys == "intercom" else "[]::VARCHAR[]"
    if dst_sys == "salesforce":
        sf_part = f"list_distinct({sf_part} || r.aids)"
    else:
        ic_part = f"list_distinct({ic_part} || r.aids)"
    expectation = describe_expectation(rule)
    fix = rule.fix
    if fix is not None and fix.create is not None:
        suggested = f"create {expectation[2:] if expectation.startswith('a ') else expectation}"
    elif fix is not None and fix.set is not None:
        suggested = (
            "set " + ", ".join(f"{k} = {v}" for k, v in fix.set.items()) + f" on the linked {rule.expect.linked}"
        )
    else:
        suggested = f"route the record as the rule says: {expectation}"
    n = findings.insert(
        con,
        f"""SELECT 'rule_violation', 'both', {lit(rule.when.object)},
            list_sort({sf_part}) || list_sort({ic_part}), {lit(rule.name)}, {lit(rule.severity)},
            {lit(rule.when.object)} || ' ' || r.rid || ' is ' || {lit(describe_when(rule))} || ', so rule ' ||
            {lit(rule.name)} || ' expects ' || {lit(expectation)} || '; ' ||
            {lit(_outcome(rule))} ||
            array_to_string(r.aids, ', '),
            {lit(suggested)}, NULL, NULL, r.conf, {lit("rule:" + rule.name)}, NULL,
            json_object('rule', {lit(rule.name)}, 'anchors', r.aids, 'missing', {lit(expectation)},
                        'link_confidence', r.conf)
        FROM (SELECT rid, list(aid ORDER BY aid) AS aids, min(conf) AS conf FROM sa_rule_anchor GROUP BY rid) r
        WHERE {bad}""",
    )
    matched, resolved = con.execute(
        "SELECT (SELECT count(*) FROM sa_rule_cond), (SELECT count(DISTINCT rid) FROM sa_rule_anchor)"
    ).fetchall()[0]
    return {"matched": matched, "unresolved": matched - resolved, "satisfied": resolved - n, "violations": n}


def check_rules(ctx: AuditContext, manifest: dict[str, Any], snapshot_path: Path | None = None) -> None:
    """Evaluate every configured rule; counts per rule go to ``metrics.rules``."""
    rules = list(ctx.cfg.rules)
    ctx.metrics["rules"] = {}
    if not rules:
        return
    check_rules_against(ctx, rules, snapshot_path)
    now = snapshot_time(ctx, manifest)
    _helpers(ctx)
    for rule in rules:
        ctx.metrics["rules"][rule.name] = evaluate_rule(ctx, rule, now)
