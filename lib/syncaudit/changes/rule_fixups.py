"""The fix policy of cross-system rules (``fixes.rule_fixups``): a ``rule_violation`` becomes the write its rule's
``fix`` names, through the same plan -> review -> apply -> verify -> rollback path as every other policy.

* ``fix.create``: an upsert of the missing Case/Task on the record the rule reached (``AccountId``/``WhatId`` for
  ``on: account``, ``ContactId``/``WhoId`` for ``on: person``), keyed by an External ID whose value is derived
  from the rule and that record (``rule-<hash>``): a retried or re-planned create updates the same record
  instead of making a second one, and two violations reaching one Account plan one Case.
* ``fix.set``: an update of the linked counterpart's fields, with its before-image and version.

A person decides (a ``review`` item, never executed) when the rule has no fix, when the violation reached
several records or reached them through a probabilistic (fuzzy) link, or when Salesforce would refuse the values.
"""

from __future__ import annotations

import hashlib
from typing import Any

from syncaudit.changes.context import PlanContext, review_op, sf_object, update_op
from syncaudit.changes.model import Operation
from syncaudit.rulespec import Rule, system_of

RELATION = {("Case", "account"): "AccountId", ("Case", "person"): "ContactId"}
RELATION.update({("Task", "account"): "WhatId", ("Task", "person"): "WhoId"})
POLICY = "rule_fixups"


def rule_record_key(rule: str, record: str) -> str:
    """The External ID value of the record a rule's fix creates on ``record``: the same on every run."""
    return "rule-" + hashlib.sha256(f"{rule}|{record}".encode()).hexdigest()[:24]


def rule_fixups(ctx: PlanContext, opts: dict[str, Any]) -> list[Operation]:
    rules: dict[str, Rule] = {r.name: r for r in ctx.cfg.rules}
    out: list[Operation] = []
    planned: set[tuple[str, str]] = set()
    checked: set[tuple[str, str]] = set()
    # A batch at a time, its anchors' records read in one query per object (a look-up per violation scanned the
    # object's table each time); planned and checked span all batches: one create per rule and record.
    for batch in ctx.findings.batches("rule_violation"):
        _prefetch_anchors(ctx, rules, batch)
        out.extend(_batch_fixups(ctx, rules, batch, planned, checked))
        ctx.forget()
    return out


def _prefetch_anchors(ctx: PlanContext, rules: dict[str, Rule], batch: list[dict[str, Any]]) -> None:
    """The records the batch's set-fixes update, read in one query per object."""
    want: dict[tuple[str, str], list[str]] = {}
    for f in batch:
        rule = rules.get(str(f.get("field")))
        anchors = (f.get("extra") or {}).get("anchors") or []
        if rule is None or rule.fix is None or rule.fix.create is not None or len(anchors) != 1:
            continue
        target = str(rule.expect.linked)
        want.setdefault((system_of(target), target), []).append(str(anchors[0]))
    for (system, obj), ids in want.items():
        ctx.prefetch(system, obj, ids)


def _batch_fixups(
    ctx: PlanContext,
    rules: dict[str, Rule],
    batch: list[dict[str, Any]],
    planned: set[tuple[str, str]],
    checked: set[tuple[str, str]],
) -> list[Operation]:
    out: list[Operation] = []
    for f in batch:
        rule = rules.get(str(f.get("field")))
        if rule is None:
            out.append(review_op(f, POLICY, f"rule '{f.get('field')}' is no longer in the config"))
            continue
        extra = f.get("extra") or {}
        anchors = [str(a) for a in extra.get("anchors") or []]
        confidence = extra.get("link_confidence")
        missing = extra.get("missing") or "what the rule expects"
        if rule.fix is None:
            out.append(review_op(f, POLICY, f"rule {rule.name} has no fix: decide how to provide {missing}"))
            continue
        if len(anchors) != 1:
            out.append(review_op(f, POLICY, f"the violation reaches {len(anchors)} records ({', '.join(anchors)})"))
            continue
        if confidence is not None and float(confidence) < 1.0:
            out.append(review_op(f, POLICY, f"reached through a probabilistic link ({float(confidence):.2f})"))
            continue
        anchor = anchors[0]
        if rule.fix.create is not None:
            obj = str(rule.expect.exists)
            ext = rule.fix.external_id_field or ctx.cfg.mapping.conversations.external_id_field
            if (obj, ext) not in checked:
                from syncaudit.changes.policies import check_external_id_field

                check_external_id_field(ctx, obj, ext)
                checked.add((obj, ext))
            if obj == "Case" and rule.expect.on == "person" and sf_object(anchor) != "Contact":
                out.append(review_op(f, POLICY, f"a Case's ContactId takes a Contact, and {anchor} is not one"))
                continue
            key = rule_record_key(rule.name, anchor)
            if (obj, key) in planned:
                continue  # another violation of this rule on the same record: one create covers both
            planned.add((obj, key))
            after = {RELATION[(obj, str(rule.expect.on))]: anchor, **rule.fix.create, ext: key}
            refusal = ctx.sf_refusal(obj, after, create=True)
            if refusal:
                out.append(review_op(f, POLICY, f"not planned: {refusal}"))
                continue
            out.append(
                Operation(
                    "salesforce",
                    obj,
                    key,
                    "upsert",
                    after,
                    finding_id=f.get("id"),
                    policy=POLICY,
                    match={ext: key},
                    note=f"rule {rule.name}",
                )
            )
        else:
            target = str(rule.expect.linked)
            system = system_of(target)
            op = update_op(ctx, system, target, anchor, dict(rule.fix.set or {}), f, POLICY, note=f"rule {rule.name}")
            if op:
                out.append(op)
    return out
