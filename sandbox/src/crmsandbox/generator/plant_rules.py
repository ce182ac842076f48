"""Rule violations for the demo config's cross-system rules, and the correctly routed look-alikes.

The rules (mirrors ``rules:`` of config/demo.yaml; the audit reads the config, the generator only plants):

* ``churn_risk_case``: an Intercom conversation tagged churn-risk, created in the last 30 days, needs an open
  (not closed) Case with Priority High on the Account (the contact's Account, or its company's Account).
* ``customer_company_plan``: an Account with Type = Customer needs its linked Intercom company's plan set.
* ``plan_means_customer``: an Intercom company on a plan needs its linked Account to be Type = Customer.

What is planted, from a random stream of its own (so every other table keeps its rows and ids):

* churn_risk_case: every churn-risk conversation of the last 32 days that the base data already holds gets its
  Case (the routing worked); new open conversations tagged churn-risk are added for clean customers: some
  routed (a Case; ``expected: false``), some not (``expected: true``, variants ``no_case``, ``closed_case`` —
  a closed High Case —, ``low_priority_case`` — an open Medium Case), and some older than the window without
  a Case (``outside_window``, ``expected: false``). Violations are created 1 to 28 days before ``as_of``,
  routed ones anywhere in the window, so a clock a day off cannot move them across the boundary.
* customer_company_plan / plan_means_customer: every Intercom company with an Account gets a plan, except
  the ``customer_company_plan`` violations; the ``plan_means_customer`` violations keep their plan and their
  Account becomes Type = Prospect. Look-alikes (a customer with a plan) are listed with ``expected: false``.

Records: [Account, conversation] and [Account, company]; ``field`` is the rule's name. Violations use only
people and companies that take part in no other scenario, so each truth entry has one root cause. With the
rate ``rule_violation`` at 0 nothing is planted and the folder is what it was without rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crmsandbox.generator.conversations import OPEN, TAGS, TITLES, Conversations
from crmsandbox.generator.ids import numeric_ids, sf_ids
from crmsandbox.generator.layout import Layout
from crmsandbox.generator.plant import Plan, _entry
from crmsandbox.generator.world import DAY, USER, World

CHURN_TAG = TAGS.index("churn-risk")
WINDOW_DAYS = 30
PLANS = ("Starter", "Pro", "Enterprise")
CASE_SUBJECT = "Churn risk flagged in Intercom"
_FIRST_NEW_CASE = 62**5 * 12  # beyond the base data's Case counters (which start below 8 * 62**5)
_FIRST_NEW_CONVERSATION = 900_000_000


def _unclean(pl: Plan, conv: Conversations) -> tuple[set[int], set[int]]:
    """People and companies that take part in another scenario."""
    people: set[int] = set()
    companies: set[int] = set()
    for e in [*pl.truth, *conv.truth]:
        for table, (kind, idx) in e["records"]:
            if kind in ("p", "cl"):
                people.add(int(idx))
            elif kind == "c":
                companies.add(int(idx))
            elif kind == "v":
                people.add(int(conv.p[idx]))
            elif table == "Account":
                companies.add(int(pl.extras["Account"][idx].src))
            elif table in pl.extras:
                people.add(int(pl.extras[table][idx].src))
    for table in ("Contact", "Lead", "ic_contact"):
        people |= {int(e.src) for e in pl.extras[table]}
    companies |= {int(e.src) for e in pl.extras["Account"]}
    return people, companies


def plant_rules(w: World, pl: Plan, lay: Layout, conv: Conversations, rate: float, seed: int) -> list[dict[str, Any]]:
    """Plant violations and look-alikes; returns their truth entries (symbolic records)."""
    if rate <= 0:
        return []
    rng = np.random.Generator(np.random.PCG64([seed, 9]))
    bad_people, bad_companies = _unclean(pl, conv)
    truth: list[dict[str, Any]] = []
    truth += _plant_plans(w, pl, lay, rng, rate, bad_companies)
    truth += _plant_churn(w, pl, lay, conv, rng, rate, bad_people, bad_companies)
    return truth


def _plant_plans(
    w: World, pl: Plan, lay: Layout, rng: np.random.Generator, rate: float, bad: set[int]
) -> list[dict[str, Any]]:
    both = np.flatnonzero(pl.co_sf & pl.co_ic)
    clean = rng.permutation(both[~np.isin(both, np.fromiter(bad, dtype=np.int64, count=len(bad)))])
    n = max(1, int(round(rate * 0.1 * len(clean)))) if len(clean) >= 6 else 0
    no_plan, prospect, alike = clean[:n], clean[n : 2 * n], clean[2 * n : 3 * n]
    on_plan = np.setdiff1d(np.flatnonzero(pl.co_ic), no_plan)
    names = rng.integers(0, len(PLANS), size=len(on_plan))
    pl.company_plan.update(zip(on_plan.tolist(), (PLANS[k] for k in names.tolist()), strict=True))
    for c in prospect:
        pl.account_type[int(c)] = "Prospect"
    out = []

    def rec(c: int) -> list:
        return [("Account", ("c", int(c))), ("ic_company", ("c", int(c)))]

    for c in no_plan:
        out.append(_entry("rule_violation", "both", "Account", rec(c), "customer_company_plan", variant="no_plan"))
    for c in prospect:
        out.append(_entry("rule_violation", "both", "company", rec(c), "plan_means_customer", variant="prospect"))
    for c in alike:
        for rule, obj in (("customer_company_plan", "Account"), ("plan_means_customer", "company")):
            out.append(_entry("rule_violation", "both", obj, rec(c), rule, expected=False, variant="routed"))
    return out


def _plant_churn(
    w: World,
    pl: Plan,
    lay: Layout,
    conv: Conversations,
    rng: np.random.Generator,
    rate: float,
    bad_people: set[int],
    bad_companies: set[int],
) -> list[dict[str, Any]]:
    p = w.people
    acc_row, contact_row = lay.row_of["Account"], lay.row_of["Contact"]
    # A Contact of each company, for the Case's ContactId: the first user of each company with one.
    users = np.flatnonzero((p.role == USER) & pl.sf_present)
    firsts, at = np.unique(p.company[users], return_index=True)
    by_company = dict(zip(firsts.tolist(), users[at].tolist(), strict=True))
    cases: list[tuple[int, int, str]] = []  # (company, person with a Contact, variant)
    # The base data's churn-risk conversations near or in the window: routed.
    recent = np.flatnonzero((conv.tag == CHURN_TAG) & (conv.created >= w.as_of - (WINDOW_DAYS + 2) * DAY))
    routed: set[int] = set()
    for c in recent:
        i = int(conv.p[c])
        company = int(p.company[i])
        if p.role[i] != USER or acc_row[company] < 0 or company in routed:
            continue
        who = i if pl.sf_present[i] else by_company.get(company)
        if who is None:
            continue
        routed.add(company)
        cases.append((company, who, "routed"))
    # Clean customers for the new conversations, one company each.
    ok = (p.role == USER) & pl.sf_present & pl.ic_present
    ok[np.fromiter(bad_people, dtype=np.int64, count=len(bad_people))] = False
    company = p.company
    ok &= (acc_row[company] >= 0) & pl.co_ic[company]
    ok &= ~np.isin(company, np.fromiter(bad_companies | routed, dtype=np.int64, count=len(bad_companies | routed)))
    cand = rng.permutation(np.flatnonzero(ok))
    _, first = np.unique(company[cand], return_index=True)  # one person per company, in the shuffled order
    people = cand[np.sort(first)].tolist()
    n = max(3, int(round(rate * 0.05 * len(people)))) if len(people) >= 12 else 0
    viol, ok_new, old = people[:n], people[n : 2 * n], people[2 * n : 2 * n + max(1, n // 2)] if n else []
    new_p, new_created = [], []
    truth = []

    def add(i: int, created: int) -> int:
        new_p.append(i)
        new_created.append(created)
        return len(conv.ids) + len(new_p) - 1

    def rec(i: int, v: int) -> list:
        return [("Account", ("c", int(p.company[i]))), ("conversation", ("v", v))]

    for k, i in enumerate(viol):
        v = add(i, w.as_of - int(rng.integers(DAY, 28 * DAY)))
        variant = ("no_case", "closed_case", "low_priority_case")[k % 3]
        if variant != "no_case":
            cases.append((int(p.company[i]), i, variant))
        truth.append(_entry("rule_violation", "both", "conversation", rec(i, v), "churn_risk_case", variant=variant))
    for i in ok_new:
        v = add(i, w.as_of - int(rng.integers(3600, WINDOW_DAYS * DAY - 3600)))
        cases.append((int(p.company[i]), i, "routed"))
        truth.append(
            _entry(
                "rule_violation", "both", "conversation", rec(i, v), "churn_risk_case", expected=False, variant="routed"
            )
        )
    for i in old:
        v = add(i, w.as_of - int(rng.integers(35 * DAY, 90 * DAY)))
        truth.append(
            _entry(
                "rule_violation", "both", "conversation", rec(i, v), "churn_risk_case", expected=False,
                variant="outside_window",
            )
        )  # fmt: skip
    new_people, new_times = np.array(new_p, dtype=np.int64), np.array(new_created, dtype=np.int64)
    _append_conversations(w, conv, rng, new_people, new_times, _FIRST_NEW_CONVERSATION + lay.num_offset)
    _append_cases(w, lay, conv, cases, contact_row, acc_row)
    return truth


def _append_conversations(
    w: World, conv: Conversations, rng: np.random.Generator, people: np.ndarray, created: np.ndarray, first_id: int
) -> None:
    """Open conversations tagged churn-risk (open ones are never logged, so no logging finding follows)."""
    n = len(people)
    if n == 0:
        return
    conv.p = np.concatenate([conv.p, people])
    conv.created = np.concatenate([conv.created, created])
    conv.updated = np.concatenate([conv.updated, np.minimum(created + 300, w.as_of - 60)])
    conv.state = np.concatenate([conv.state, np.full(n, OPEN, dtype=np.int8)])
    conv.admin = np.concatenate([conv.admin, np.full(n, -1, dtype=np.int32)])
    conv.title = np.concatenate([conv.title, np.full(n, TITLES.index("Cancel subscription"), dtype=np.int16)])
    conv.n_parts = np.concatenate([conv.n_parts, np.full(n, 2, dtype=np.int8)])
    conv.tag = np.concatenate([conv.tag, np.full(n, CHURN_TAG, dtype=np.int8)])
    conv.ids.extend(numeric_ids(first_id, n, rng))


def _append_cases(
    w: World,
    lay: Layout,
    conv: Conversations,
    cases: list[tuple[int, int, str]],
    contact_row: np.ndarray,
    acc_row: np.ndarray,
) -> None:
    cs = conv.cases
    p = w.people
    first = len(cs.ids)
    for company, i, variant in cases:
        closed = variant == "closed_case"
        cs.overrides[len(cs.who)] = {
            "Subject": CASE_SUBJECT,
            "Description": "Flagged churn-risk by the support team; retention call to schedule.",
            "Status": "Closed" if closed else "New",
            "Priority": "Medium" if variant == "low_priority_case" else "High",
            "IsClosed": closed,
            "ClosedDate": None if not closed else "__created__",
        }
        cs.who.append(lay.ids["Contact"][int(contact_row[i])])
        cs.what.append(lay.ids["Account"][int(acc_row[company])])
        cs.owner.append(int(p.owner[i]))
        cs.created.append(w.as_of - 2 * 3600 - len(cs.who))
        cs.conv.append(-1)
        cs.kind.append("web")
    cs.ids.extend(sf_ids("Case", _FIRST_NEW_CASE + np.arange(len(cs.who) - first, dtype=np.int64), lay.pod))
    lay.ids["Case"] = cs.ids
