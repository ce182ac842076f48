"""The decided plan: a reviewed plan rebuilt with its decisions into a new plan (new folder, new hash).

* an approved item becomes the writes syncaudit can make for it: an Intercom duplicate whose survivor is a user
  becomes merges of its leads into that user; an identity link becomes the key backfill (the same policy
  ``syncaudit plan`` runs). Where no API write exists (Salesforce merges, values Salesforce refuses) the item
  stays a ``review`` operation marked approved: a worklist for a person, which apply never sends;
* a rejected item is left out; an undecided item stays a ``review`` operation (apply never sends those either).

So apply writes nothing from a review item that a person did not approve. The header names the base plan and a
digest of the decisions (item, decision, survivor), so the same decisions always give the same plan and hash.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from syncaudit.changes.context import PlanContext, epoch_value
from syncaudit.changes.finding_source import FindingSource
from syncaudit.changes.model import Operation, Plan, canonical, publish
from syncaudit.changes.planfile import KIND_ORDER, PlanFileWriter

IDENTITY_KINDS = ("identity_gap", "identity_link", "suggested_link")


def build_decided_plan(review: Any) -> Plan:
    base: Plan = review.plan
    standing = review.standing()
    by_seq = {d.seq: d for d in standing.values()}
    approved = [review.item(i) for i, d in standing.items() if d.decision == "approve"]
    writes: dict[int, list[Operation]] = {}
    reasons: dict[int, str] = {}
    if approved:
        ctx = PlanContext(review.cfg, review._con_snapshot(), [], review.snapshot)
        for item in approved:
            ops, why = decided_writes(ctx, item, standing[item.id].survivor)
            writes[item.seq] = ops
            reasons[item.seq] = why
    _drop_base_overlaps(base, writes)
    merged_away = {(o.system, o.object, o.key) for ops in writes.values() for o in ops if o.op == "merge"}
    digest = hashlib.sha256(
        canonical(sorted([d.item, d.decision, d.survivor] for d in standing.values())).encode()
    ).hexdigest()[:16]
    rejected = sum(d.decision == "reject" for d in standing.values())
    header = {
        **base.header,
        "base_plan": base.hash,
        "review": {
            "decisions": digest,
            "approved": len(approved),
            "rejected": rejected,
            "carried_rejections": sum(bool(d.carried_from) for d in standing.values()),
            "pending": review.count(status="pending"),
        },
    }
    pending_by_kind: dict[int, list[Operation]] = {}
    for ops in writes.values():
        for o in ops:
            pending_by_kind.setdefault(KIND_ORDER[o.op], []).append(o)
    root = Path(base.path).parent
    tmp = Path(tempfile.mkdtemp(prefix=".plan.", dir=root))
    with open(tmp / "plan.jsonl", "w", encoding="utf-8") as fh:
        w = PlanFileWriter(fh, header)
        flushed = current = -1  # decided writes of kinds <= flushed are written; base ops of kind current run

        def flush_through(kind: int) -> None:  # a kind's decided writes go right after its base operations
            nonlocal flushed
            while flushed < kind:
                flushed += 1
                w.write(sorted(pending_by_kind.pop(flushed, []), key=lambda o: (o.system, o.object, str(o.key))))

        for batch in base.iter_batches():
            out: list[Operation] = []
            for seq, op in batch:
                kind = KIND_ORDER[op.op]
                if kind > current:
                    w.write(out)
                    out = []
                    flush_through(kind - 1)
                    current = kind
                if op.op == "update" and (op.system, op.object, op.key) in merged_away:
                    continue  # the approved merge supersedes it
                if op.op != "review":
                    out.append(op)
                    continue
                d = by_seq.get(seq)
                if d is None:
                    out.append(op)
                elif d.decision == "approve" and not writes.get(seq):
                    after = {**op.after, "decided_survivor": d.survivor} if "records" in op.after else op.after
                    out.append(replace(op, after=after, note=f"approved ({reasons[seq]}): {op.note}".rstrip(": ")))
            w.write(out)
        flush_through(max(KIND_ORDER.values()))
    summary = w.summary(header)
    folder = publish(tmp, root, header, w.hash, summary)
    return Plan(header, None, folder, plan_hash=w.hash, summary=summary)


def _drop_base_overlaps(base: Plan, writes: dict[int, list[Operation]]) -> None:
    """A decided write that the base plan already makes (the same merge, or a field of a record the base plan
    updates) is dropped: the base plan's operation stands, once."""
    targets = {(o.system, o.object, o.key) for ops in writes.values() for o in ops}
    if not targets:
        return
    merges, fields = set(), set()
    for _, o in base.iter_writes():
        t = (o.system, o.object, o.key)
        if t in targets:
            if o.op == "merge":
                merges.add(t)
            fields.update((t, f) for f in o.after)
    for seq, ops in writes.items():
        writes[seq] = [
            o
            for o in ops
            if not (
                (o.system, o.object, o.key) in merges
                or any(((o.system, o.object, o.key), f) in fields for f in o.after)
            )
        ]


def decided_writes(ctx: PlanContext, item: Any, survivor: str | None) -> tuple[list[Operation], str]:
    """The writes an approval stands for, or none and the reason a person must carry it out by hand."""
    finding = {
        "id": item.id,
        "kind": item.kind,
        "system": item.system,
        "object": item.object,
        "records": list(item.records),
        "suggested_survivor": survivor,
    }
    duplicate = item.kind == "duplicate" or item.policy in ("merge_intercom_leads", "duplicate_worklist")
    if duplicate and item.system == "intercom" and item.object == "contact":
        return _intercom_merges(ctx, finding, survivor)
    if item.kind in IDENTITY_KINDS and len(item.records) == 2:
        from syncaudit.changes.policies import backfill_identity

        ctx.findings = FindingSource([{**finding, "kind": "identity_gap"}])
        ops = [o for o in backfill_identity(ctx, {"prefer": "review"}) if o.op != "review"]
        ctx.findings = FindingSource()
        if ops:
            return [replace(o, policy=f"review:{o.policy}") for o in ops], "identity key backfilled"
        return [], "the identity keys conflict or cannot be written: link by hand"
    if item.system == "salesforce" and duplicate:
        return [], f"merge by hand in Salesforce into {survivor}"
    return [], "no API write for this item: carry it out by hand"


def _intercom_merges(ctx: PlanContext, finding: dict[str, Any], survivor: str | None) -> tuple[list[Operation], str]:
    """Intercom merges a lead into a user; a user into anything, or into a lead, it cannot."""
    recs = {r: ctx.record("intercom", "contact", r) for r in finding["records"]}
    target = recs.get(survivor or "")
    if target is None or target.get("role") != "user":
        return [], f"the survivor {survivor} is not an Intercom user: Intercom merges leads into a user only"
    others = [r for r in finding["records"] if r != survivor]
    if any(recs[r] is None or recs[r].get("role") != "lead" for r in others):
        return [], "Intercom cannot merge one user into another: merge by hand"
    ops = [
        Operation(
            "intercom",
            "contact",
            r,
            "merge",
            {"into": str(survivor)},
            {"role": "lead"},
            epoch_value(recs[r].get("updated_at")),
            finding["id"],
            "review:merge_duplicate",
            note="approved in review; irreversible: Intercom cannot un-merge",
        )
        for r in sorted(others)
    ]
    return ops, "merged"
