"""Intercom conversations and their logging in Salesforce (Tasks, plus a few Cases).

A closed conversation whose contact has a Salesforce counterpart is logged as a Task on that
counterpart (WhoId), its Description carrying the conversation's inbox URL. Planted defects:
``conversation_unlogged`` (closed, loggable, no Task or Case anywhere) and
``conversation_misfiled`` (logged on another person, on the converted Lead instead of the
Contact, or as a Case instead of a Task). Open and snoozed conversations are never logged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crmsandbox.errors import SandboxInputError
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


# Activity volume (generator option ``activity``): the defaults are the laws the generator has always drawn.
DEFAULT_ACTIVITY: dict[str, float] = {
    # mean Intercom conversations per contact who can have conversations; geometric law (most have none)
    "conversations_per_person": 0.25,
    # mean calls and emails logged as Tasks per Salesforce person, not from Intercom: floor(m) each, one more
    # with probability m - floor(m)
    "calls_per_person": 0.08,
}
MAX_PER_PERSON = 10.0


def check_activity(activity: dict[str, Any] | None) -> dict[str, float]:
    """Defaults overlaid with the caller's activity volume; unknown keys and bad values are refused."""
    out = dict(DEFAULT_ACTIVITY)
    for k, v in (activity or {}).items():
        flag = "--" + str(k).replace("_", "-")
        if k not in DEFAULT_ACTIVITY:
            raise SandboxInputError(
                f"unknown activity option '{k}'", hint=f"use one of: {', '.join(sorted(DEFAULT_ACTIVITY))}"
            )
        if (
            not isinstance(v, int | float)
            or isinstance(v, bool)
            or not math.isfinite(v)
            or not 0 <= v <= MAX_PER_PERSON
        ):
            raise SandboxInputError(
                f"{flag} must be a number from 0 to {MAX_PER_PERSON:g} per person, got {v!r}",
                hint=f"e.g. {flag} {DEFAULT_ACTIVITY[k]:g} (the default)",
            )
        out[k] = float(v)
    return out


def non_default_activity(activity: dict[str, float]) -> dict[str, float]:
    """The options that differ from the defaults (truth.json records only those: default output is unchanged)."""
    return {k: v for k, v in activity.items() if v != DEFAULT_ACTIVITY[k]}


def _account_ids(w: World, lay: Layout, people: np.ndarray) -> np.ndarray:
    """The Account id (or None) of each person's company, as an object array."""
    acc = np.asarray(lay.ids["Account"] + [None], dtype=object)
    rows = lay.row_of["Account"][w.people.company[people]]
    return acc[np.where(rows >= 0, rows, len(acc) - 1)]


def _sf_row_ids(w: World, lay: Layout, people: np.ndarray) -> np.ndarray:
    """The Contact (users) or Lead (leads) id of each person present in Salesforce, as an object array."""
    user = w.people.role[people] == USER
    contact, lead = np.asarray(lay.ids["Contact"], dtype=object), np.asarray(lay.ids["Lead"], dtype=object)
    out = np.empty(len(people), dtype=object)
    out[user] = contact[lay.row_of["Contact"][people[user]]]
    out[~user] = lead[lay.row_of["Lead"][people[~user]]]
    return out


def _kinds_and_times(
    rng: np.random.Generator, start: np.ndarray, span: np.ndarray, names: tuple[str, str]
) -> tuple[list[int], list[str]]:
    """Per row ``start + span * rng.random()`` then ``names[rng.integers(0, 2)]``, drawn in that order row after row
    exactly as those scalar calls would draw them, without a Python call per row.

    A scalar ``random()`` takes one 64-bit output of the bit generator; ``integers(0, 2)`` takes the top bit of the
    next 32-bit output, which PCG64 serves as the low half of a fresh 64-bit output and then, on the next call,
    the high half it kept (the bit generator's ``has_uint32``/``uinteger`` state)."""
    n = len(start)
    if n == 0:
        return [], []
    bg = rng.bit_generator
    st = bg.state
    held = bool(st["has_uint32"])
    k = np.arange(n)
    # the 32-bit draw of row k takes a fresh 64-bit output when no half is held before it
    fresh = (k % 2 == 0) if not held else (k % 2 == 1)
    consumed = 1 + fresh.astype(np.int64)  # outputs consumed by row k: its double, and maybe a fresh one
    raw = bg.random_raw(int(consumed.sum()))
    end = np.cumsum(consumed)  # index after row k's outputs
    dbl_at = end - consumed  # the double comes first in each row
    doubles = (raw[dbl_at] >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    u32 = np.empty(n, dtype=np.uint64)
    u32[fresh] = raw[end[fresh] - 1] & np.uint64(0xFFFFFFFF)
    kept = ~fresh
    src = np.flatnonzero(fresh)
    # a row without a fresh output uses the high half of the previous row's fresh one (or the held half)
    prev = np.searchsorted(src, np.flatnonzero(kept)) - 1
    high = np.concatenate([np.asarray([st["uinteger"]], dtype=np.uint64), raw[end[src] - 1] >> np.uint64(32)])
    u32[kept] = high[prev + 1]
    last_fresh_unused = bool(fresh[-1])
    st = bg.state
    st["has_uint32"] = 1 if last_fresh_unused else 0
    st["uinteger"] = int(raw[end[-1] - 1] >> np.uint64(32)) if last_fresh_unused else 0
    bg.state = st
    times = (start + (span * doubles).astype(np.int64)).tolist()
    pick = np.asarray(names, dtype=object)[(u32 >> np.uint64(31)).astype(np.int64)]
    return times, pick.tolist()


def build_conversations(
    w: World, pl: Plan, lay: Layout, rates: dict[str, float], seed: int, activity: dict[str, float] | None = None
) -> Conversations:
    """The conversations and their Tasks and Cases. ``activity`` (check_activity) sets how many per person."""
    act = check_activity(activity)
    rng = np.random.Generator(np.random.PCG64([seed, 3]))
    p, o = w.people, w.owners
    eligible = np.flatnonzero(pl.ic_present & ~pl.no_conversations)
    # geometric law of mean m: negative_binomial(1, 1 / (1 + m)); m = 0.25 gives p = 0.8 exactly
    counts = rng.negative_binomial(1, 1.0 / (1.0 + act["conversations_per_person"]), size=len(eligible))
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
    variant = np.full(n, -1, dtype=np.int8)  # misfiling: 0 wrong person, 1 Case instead of Task, 2 converted Lead
    variant[misfiled] = np.arange(len(misfiled)) % 3
    variant[(variant == 2) & ~pl.converted[cp]] = 0
    variant[(variant == 1) & (p.role[cp] != USER)] = 0

    tasks, cases = conv.tasks, conv.cases
    # One pass over the logged conversations in order, as numpy columns: each draws rng.integers(5, 55) for its
    # delay, after the draws picking the wrong person of a variant-0 misfiling (few: those stay a Python loop, and
    # the delays between them are drawn as one array: the same 32-bit draws, in the same order, as one call each).
    logged = loggable[~is_unlogged[loggable]]
    who_p = cp[logged].copy()  # the person each is logged on
    v = variant[logged]
    delay = np.empty(len(logged), dtype=np.int64)
    by_role = {r: np.flatnonzero(pl.sf_present & (p.role == r)) for r in (0, 1)}
    pos = 0
    for k in np.flatnonzero(v == 0):
        delay[pos:k] = rng.integers(5, 55, size=k - pos)
        i = int(cp[logged[k]])
        pool = by_role[int(p.role[i])]
        j = int(pool[rng.integers(0, len(pool))])
        while j == i:
            j = int(pool[rng.integers(0, len(pool))])
        who_p[k] = j
        delay[k] = rng.integers(5, 55)
        pos = k + 1
    delay[pos:] = rng.integers(5, 55, size=len(logged) - pos)
    who = _sf_row_ids(w, lay, who_p)
    what = np.where(p.role[who_p] == USER, _account_ids(w, lay, who_p), None)
    conv_lead = v == 2  # logged on the converted Lead, with no Account
    if conv_lead.any():
        lead_ids = np.asarray(lay.ids["Lead"], dtype=object)
        who[conv_lead] = lead_ids[len(lay.lead_p) + lay.row_of["cl"][cp[logged[conv_lead]]]]
        what[conv_lead] = None
    when = updated[logged] + delay
    owner = p.owner[cp[logged]]
    to_case = v == 1
    for acts, sel in ((tasks, ~to_case), (cases, to_case)):
        acts.who.extend(who[sel].tolist())
        acts.what.extend(what[sel].tolist())
        acts.owner.extend(owner[sel].tolist())
        acts.created.extend(when[sel].tolist())
        acts.conv.extend(logged[sel].tolist())
        acts.kind.extend(["conversation"] * int(sel.sum()))
    row_in = {"Task": np.cumsum(~to_case) - 1, "Case": np.cumsum(to_case) - 1}  # each logged one's row in its table

    # truth, in the order of the conversations
    entries: list[tuple[int, dict[str, Any]]] = []
    unl = loggable[is_unlogged[loggable]]
    for c, cpt in zip(unl.tolist(), _sf_row_ids(w, lay, cp[unl]).tolist(), strict=True):
        entries.append(
            (c, _entry("conversation_unlogged", "both", "conversation", [("conversation", ("v", c))], counterpart=cpt))
        )
    mis = np.flatnonzero(v >= 0)
    counterparts = _sf_row_ids(w, lay, cp[logged[mis]]).tolist()
    for k, cpt in zip(mis.tolist(), counterparts, strict=True):
        c, kv = int(logged[k]), int(v[k])
        table = "Case" if kv == 1 else "Task"
        entries.append(
            (
                c,
                _entry(
                    "conversation_misfiled",
                    "both",
                    "conversation",
                    [(table, ("v", int(row_in[table][k]))), ("conversation", ("v", c))],
                    variant=("wrong_person", "case_instead_of_task", "converted_lead")[kv],
                    counterpart=cpt,
                ),
            )
        )
    entries.sort(key=lambda e: e[0])
    conv.truth.extend(e for _, e in entries)

    # activity that did not come from Intercom: calls and emails, and cases from other channels
    people_sf = np.flatnonzero(pl.sf_present)
    m = act["calls_per_person"]
    calls = np.floor(m) + (rng.random(len(people_sf)) < m - np.floor(m))
    callers = np.repeat(people_sf, calls.astype(np.int64))
    t, kinds = _kinds_and_times(rng, p.created[callers], w.as_of - 3600 - p.created[callers], ("call", "email"))
    tasks.who.extend(_sf_row_ids(w, lay, callers).tolist())
    tasks.what.extend(np.where(p.role[callers] == USER, _account_ids(w, lay, callers), None).tolist())
    tasks.owner.extend(p.owner[callers].tolist())
    tasks.created.extend(t)
    tasks.conv.extend([-1] * len(callers))
    tasks.kind.extend(kinds)
    contacts_sf = np.flatnonzero(pl.sf_present & (p.role == USER))
    filers = contacts_sf[rng.random(len(contacts_sf)) < 0.01]
    t, kinds = _kinds_and_times(rng, p.created[filers], w.as_of - 3600 - p.created[filers], ("phone", "web"))
    cases.who.extend(_sf_row_ids(w, lay, filers).tolist())
    cases.what.extend(_account_ids(w, lay, filers).tolist())
    cases.owner.extend(p.owner[filers].tolist())
    cases.created.extend(t)
    cases.conv.extend([-1] * len(filers))
    cases.kind.extend(kinds)

    for name, acts in (("Task", tasks), ("Case", cases)):
        created_arr = np.asarray(acts.created, dtype=np.int64)
        counters = sf_id_counters(rng, len(created_arr))
        ranked = np.empty(len(created_arr), dtype=np.int64)
        ranked[np.argsort(created_arr, kind="stable")] = counters
        acts.ids = sf_ids(name, ranked, lay.pod)
    lay.ids["Task"], lay.ids["Case"], lay.ids["conversation"] = tasks.ids, cases.ids, conv.ids
    return conv
