"""Intercom conversations and their logging in Salesforce (Tasks, plus a few Cases).

A closed conversation whose contact has a Salesforce counterpart is logged as a Task on that
counterpart (WhoId), its Description carrying the conversation's inbox URL. Planted defects:
``conversation_unlogged`` (closed, loggable, no Task or Case anywhere) and
``conversation_misfiled`` (logged on another person, on the converted Lead instead of the
Contact, or as a Case instead of a Task). Open and snoozed conversations are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crmsandbox.generator.ids import numeric_ids, sf_id_counters, sf_ids
from crmsandbox.generator.layout import Layout
from crmsandbox.generator.plant import Plan, _entry
from crmsandbox.generator.world import DAY, USER, World

CLOSED, OPEN, SNOOZED = 0, 1, 2
TITLES = [
    "Billing question",
    "Cannot log in",
    "Invoice copy",
    "Upgrade to Pro",
    "Export to CSV fails",
    "SSO setup",
    "API rate limits",
    "Cancel subscription",
    "Add more seats",
    "Bug in dashboard",
    "Data import help",
    "Feature request: dark mode",
    "Refund request",
    "Integration with Slack",
    "Password reset",
    "GDPR data request",
    "Trial extension",
    "Webhook not firing",
]
TAGS = ["churn-risk", "billing", "bug", "feature-request", "vip", "onboarding"]
CONTACT_TAGS = ["vip", "beta", "churn-risk", "newsletter"]


def conversation_url(app_id: str, conv_id: str) -> str:
    return f"https://app.intercom.com/a/inbox/{app_id}/inbox/conversation/{conv_id}"


@dataclass
class Activities:
    """Task or Case rows."""

    who: list[str | None] = field(default_factory=list)  # WhoId (Task) / ContactId (Case)
    what: list[str | None] = field(default_factory=list)  # WhatId (Task) / AccountId (Case)
    owner: list[int] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    conv: list[int] = field(default_factory=list)  # conversation row, -1 when not from Intercom
    kind: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)  # row -> column values (plant_rules)


@dataclass
class Conversations:
    p: np.ndarray
    created: np.ndarray
    updated: np.ndarray
    state: np.ndarray
    admin: np.ndarray  # index into owners, -1 unassigned
    title: np.ndarray
    n_parts: np.ndarray
    tag: np.ndarray
    ids: list[str]
    tasks: Activities
    cases: Activities
    truth: list[dict[str, Any]]


def _account_id(w: World, lay: Layout, i: int) -> str | None:
    row = lay.row_of["Account"][w.people.company[i]]
    return lay.ids["Account"][row] if row >= 0 else None


def build_conversations(w: World, pl: Plan, lay: Layout, rates: dict[str, float], seed: int) -> Conversations:
    rng = np.random.Generator(np.random.PCG64([seed, 3]))
    p, o = w.people, w.owners
    eligible = np.flatnonzero(pl.ic_present & ~pl.no_conversations)
    counts = rng.negative_binomial(1, 0.8, size=len(eligible))
    cp = np.repeat(eligible, counts)
    n = len(cp)
    start = p.created[cp]
    created = start + ((w.as_of - 2 * 3600 - start) * rng.random(n) ** 0.5).astype(np.int64)
    order = np.argsort(created, kind="stable")
    cp, created = cp[order], created[order]
    state = rng.choice(3, size=n, p=[0.72, 0.18, 0.10]).astype(np.int8)
    duration = np.minimum(rng.lognormal(9.0, 1.5, size=n).astype(np.int64) + 120, 30 * DAY)
    updated = np.where(
        state == CLOSED, np.minimum(created + duration, w.as_of - 600), np.minimum(created + 300, w.as_of - 60)
    )
    admin_of_owner = np.array([k if o.has_ic[k] else -1 for k in range(int(o.has_sf.sum()))])
    support = np.flatnonzero(~o.has_sf & o.has_ic)
    admin = np.where(rng.random(n) < 0.5, admin_of_owner[p.owner[cp]], support[rng.integers(0, len(support), size=n)])
    admin = np.where(state == OPEN, np.where(rng.random(n) < 0.3, -1, admin), admin)
    conv = Conversations(
        p=cp,
        created=created,
        updated=updated,
        state=state,
        admin=admin.astype(np.int32),
        title=rng.integers(0, len(TITLES), size=n).astype(np.int16),
        n_parts=rng.integers(2, 7, size=n).astype(np.int8),
        tag=np.where(rng.random(n) < 0.15, rng.integers(0, len(TAGS), size=n), -1).astype(np.int8),
        ids=numeric_ids(100_000_000 + lay.num_offset, n, rng),
        tasks=Activities(),
        cases=Activities(),
        truth=[],
    )

    loggable = np.flatnonzero((state == CLOSED) & pl.sf_present[cp])
    perm = rng.permutation(loggable)

    def take(rate: float, pos: int) -> tuple[np.ndarray, int]:
        k = 0 if rate <= 0 or len(perm) == 0 else max(1, int(round(rate * len(loggable))))
        return perm[pos : pos + k], pos + k

    unlogged, pos = take(rates["conversation_unlogged"], 0)
    misfiled, pos = take(rates["conversation_misfiled"], pos)
    is_unlogged = np.zeros(n, dtype=bool)
    is_unlogged[unlogged] = True
    misfile_variant = {int(c): j % 3 for j, c in enumerate(misfiled)}

    def sf_row_id(i: int) -> str:
        table = "Contact" if p.role[i] == USER else "Lead"
        return lay.ids[table][lay.row_of[table][i]]

    tasks, cases = conv.tasks, conv.cases
    by_role = {r: np.flatnonzero(pl.sf_present & (p.role == r)) for r in (0, 1)}
    for c in loggable:
        c = int(c)
        if is_unlogged[c]:
            i = int(cp[c])
            conv.truth.append(
                _entry(
                    "conversation_unlogged",
                    "both",
                    "conversation",
                    [("conversation", ("v", c))],
                    counterpart=sf_row_id(i),
                )
            )
            continue
        i = int(cp[c])
        who, what = sf_row_id(i), (_account_id(w, lay, i) if p.role[i] == USER else None)
        variant = misfile_variant.get(c)
        target = tasks
        if variant == 2 and not pl.converted[i]:
            variant = 0
        if variant == 1 and p.role[i] != USER:
            variant = 0
        if variant == 0:  # logged on somebody else of the same kind
            pool = by_role[int(p.role[i])]
            j = int(pool[rng.integers(0, len(pool))])
            while j == i:
                j = int(pool[rng.integers(0, len(pool))])
            who, what = sf_row_id(j), (_account_id(w, lay, j) if p.role[j] == USER else None)
        elif variant == 1:
            target = cases
        elif variant == 2:
            who, what = lay.ids["Lead"][len(lay.lead_p) + lay.row_of["cl"][i]], None
        target.who.append(who)
        target.what.append(what)
        target.owner.append(int(p.owner[i]))
        target.created.append(int(updated[c]) + int(rng.integers(5, 55)))
        target.conv.append(c)
        target.kind.append("conversation")
        if variant is not None:
            kind_name = ("wrong_person", "case_instead_of_task", "converted_lead")[variant]
            table = "Task" if target is tasks else "Case"
            conv.truth.append(
                _entry(
                    "conversation_misfiled",
                    "both",
                    "conversation",
                    [(table, ("v", len(target.who) - 1)), ("conversation", ("v", c))],
                    variant=kind_name,
                    counterpart=sf_row_id(i),
                )
            )

    # activity that did not come from Intercom: calls and emails, and cases from other channels
    people_sf = np.flatnonzero(pl.sf_present)
    for i in people_sf[rng.random(len(people_sf)) < 0.08]:
        i = int(i)
        tasks.who.append(sf_row_id(i))
        tasks.what.append(_account_id(w, lay, i) if p.role[i] == USER else None)
        tasks.owner.append(int(p.owner[i]))
        tasks.created.append(int(p.created[i]) + int((w.as_of - 3600 - p.created[i]) * rng.random()))
        tasks.conv.append(-1)
        tasks.kind.append(("call", "email")[int(rng.integers(0, 2))])
    contacts_sf = np.flatnonzero(pl.sf_present & (p.role == USER))
    for i in contacts_sf[rng.random(len(contacts_sf)) < 0.01]:
        i = int(i)
        cases.who.append(sf_row_id(i))
        cases.what.append(_account_id(w, lay, i))
        cases.owner.append(int(p.owner[i]))
        cases.created.append(int(p.created[i]) + int((w.as_of - 3600 - p.created[i]) * rng.random()))
        cases.conv.append(-1)
        cases.kind.append(("phone", "web")[int(rng.integers(0, 2))])

    for name, acts in (("Task", tasks), ("Case", cases)):
        created_arr = np.asarray(acts.created, dtype=np.int64)
        counters = sf_id_counters(rng, len(created_arr))
        ranked = np.empty(len(created_arr), dtype=np.int64)
        ranked[np.argsort(created_arr, kind="stable")] = counters
        acts.ids = sf_ids(name, ranked, lay.pod)
    lay.ids["Task"], lay.ids["Case"], lay.ids["conversation"] = tasks.ids, cases.ids, conv.ids
    return conv
