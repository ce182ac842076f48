"""Plant the defects into the clean world and record each one in the findings vocabulary.

Each person (and company) takes part in at most one scenario, so a truth entry describes one root
cause. Where one root cause shows as several findings by the definitions of ARCHITECTURE.md, each
is listed (e.g. two Accounts with one AccountNumber are a ``duplicate`` *and* an ``ambiguous_link``
for the Intercom company). Records are symbolic here (table, row key) and become ids when the
tables are laid out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import phonenumbers

from crmsandbox.errors import SandboxInputError
from crmsandbox.generator.mapping import (
    DEFAULT_ACCOUNT_FIELDS,
    DEFAULT_LAG,
    DEFAULT_PEOPLE_FIELDS,
    DEFAULT_REFERENCE_FIELDS,
    MappingInputs,
)
from crmsandbox.generator.pools import fold
from crmsandbox.generator.world import DAY, USER, World, email_key, phone_key

DEFAULT_RATES: dict[str, float] = {
    # people: share of the people of the eligible role
    "duplicate_contact": 0.02,
    "duplicate_lead": 0.01,
    "duplicate_lead_contact": 0.01,
    "duplicate_intercom": 0.01,
    "orphan_salesforce": 0.015,
    "orphan_intercom": 0.015,
    "identity_gap": 0.015,
    "ambiguous_link": 0.004,
    "stale_link": 0.004,
    "field_drift": 0.04,
    "owner_conflict": 0.006,  # the two systems' owners of a linked person differ (field_drift on `owner`)
    "quality": 0.015,
    "schema_conflict": 0.004,
    # companies: share of the companies that have customers
    "duplicate_account": 0.015,
    "orphan_account": 0.01,
    "orphan_company": 0.01,
    "account_drift": 0.03,
    "account_quality": 0.01,
    # conversations: share of the closed conversations that should be logged
    "conversation_unlogged": 0.03,
    "conversation_misfiled": 0.02,
    # cross-system rules of config/demo.yaml (plant_rules.py): the share of eligible records that break one
    "rule_violation": 0.2,
    # 1 = Intercom declares `seats` as a string attribute while Salesforce has a number (off by default)
    "schema_type_conflict": 0,
    # how drift splits (shares of the drifted pairs)
    "drift_within_lag": 0.2,
    "drift_non_owner": 0.3,
    # 1 = names drawn by how common they are (common names repeat, namesakes occur naturally and are listed
    # as hard negatives), as in real populations; 0 = every full name unique; between: a blend with the uniform law
    "name_frequency": 1.0,
    # hard negatives (share of the users): look-alikes that are not defects, listed with expected: false
    "namesake_colleague": 0.004,
    "namesake_elsewhere": 0.004,
    "lookalike_colleague": 0.004,
    "family_member": 0.004,
}
SHARES = {"drift_within_lag", "drift_non_owner", "schema_type_conflict", "rule_violation", "name_frequency"}
HARD_NEGATIVES = ("namesake_colleague", "namesake_elsewhere", "lookalike_colleague", "family_member")

# The mapped fields and sync lags are the generator's inputs (generator/mapping.py): these are the defaults,
# the demo mapping. truth.json records the ones used (``generator.mapping``, ``generator.sync_lag_s``).
LAG = DEFAULT_LAG
PEOPLE_FIELDS = DEFAULT_PEOPLE_FIELDS
REFERENCE_FIELDS = DEFAULT_REFERENCE_FIELDS  # compared through a lookup (User <-> admin, by email)
ACCOUNT_FIELDS = DEFAULT_ACCOUNT_FIELDS

Ref = tuple[str, tuple[str, int]]


@dataclass
class Extra:
    """An extra row in a table: a copy of person/company `src` with some values changed."""

    src: int
    ov: dict[str, Any]
    kind: str


@dataclass
class Plan:
    sf_present: np.ndarray
    ic_present: np.ndarray
    co_sf: np.ndarray
    co_ic: np.ndarray
    converted: np.ndarray
    no_conversations: np.ndarray
    sf_ov: dict[str, dict[int, Any]] = field(default_factory=lambda: defaultdict(dict))
    ic_ov: dict[str, dict[int, Any]] = field(default_factory=lambda: defaultdict(dict))
    cl_ov: dict[str, dict[int, Any]] = field(default_factory=lambda: defaultdict(dict))
    acc_ov: dict[str, dict[int, Any]] = field(default_factory=lambda: defaultdict(dict))
    co_ov: dict[str, dict[int, Any]] = field(default_factory=lambda: defaultdict(dict))
    extras: dict[str, list[Extra]] = field(default_factory=lambda: defaultdict(list))
    truth: list[dict[str, Any]] = field(default_factory=list)
    sync_delay: np.ndarray | None = None
    seats_as_string: bool = False  # Intercom's `seats` attribute is a string (schema_type_conflict)
    co_delay: np.ndarray | None = None
    company_plan: dict[int, str] = field(default_factory=dict)  # Intercom company plan names (plant_rules)
    account_type: dict[int, str] = field(default_factory=dict)  # Account Type other than Customer/Prospect by presence


def check_rates(rates: dict[str, float] | None) -> dict[str, float]:
    """Defaults overlaid with the caller's rates; unknown keys and bad values are refused."""
    out = dict(DEFAULT_RATES)
    for k, v in (rates or {}).items():
        if k not in DEFAULT_RATES:
            raise SandboxInputError(
                f"unknown defect rate '{k}'", hint=f"use one of: {', '.join(sorted(DEFAULT_RATES))}"
            )
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= (1 if k in SHARES else 0.2):
            top = 1 if k in SHARES else 0.2
            raise SandboxInputError(
                f"defect rate '{k}' must be a number from 0 to {top}, got {v!r}", hint="e.g. 0.02 for 2%"
            )
        out[k] = float(v)
    people = [
        k
        for k in DEFAULT_RATES
        if k not in SHARES
        and not k.startswith(("account", "orphan_account", "orphan_company", "duplicate_account", "conversation"))
        and k not in HARD_NEGATIVES
    ]
    if sum(out[k] for k in people) > 0.6:
        raise SandboxInputError("the people defect rates add up to more than 60%", hint="lower some rates")
    return out


class _Picker:
    """Hands out disjoint people (or companies) from a shuffled pool."""

    def __init__(self, rng: np.random.Generator, pool: np.ndarray) -> None:
        self.pool = rng.permutation(pool)
        self.pos = 0

    def take(self, rate: float, n_eligible: int | None = None, where: np.ndarray | None = None) -> np.ndarray:
        n_base = len(self.pool) if n_eligible is None else n_eligible
        n = 0 if rate <= 0 else max(1, int(round(rate * n_base)))
        rest = self.pool[self.pos :]
        if where is not None:
            ok = where[rest]
            chosen = rest[ok][:n]
            self.pool = np.concatenate([self.pool[: self.pos], chosen, rest[~np.isin(rest, chosen)]])
        else:
            chosen = rest[:n]
        self.pos += len(chosen)
        return chosen


def _entry(
    kind: str, system: str, obj: str, records: list[Ref], fld: str | None = None, **extra: Any
) -> dict[str, Any]:
    e = {"kind": kind, "system": system, "object": obj, "records": records, "field": fld, "expected": True}
    e.update(extra)  # expected=False marks a hard negative or decoy
    return e


def _valid_phone(v: str) -> bool:
    """Would a normaliser (default region US) accept this number? Planted malformed phones must not."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(v, "US"))
    except phonenumbers.NumberParseException:
        return False


def sf_obj(role: int) -> str:
    return "Contact" if role == USER else "Lead"


class PlanterBase:
    """Holds the world, the rng and the uniqueness sets while scenarios are planted."""

    def __init__(
        self, world: World, rates: dict[str, float], rng: np.random.Generator, mapping: MappingInputs | None = None
    ) -> None:
        self.w, self.r, self.rng = world, rates, rng
        self.m = mapping or MappingInputs()
        p = world.people
        n = p.n
        co = world.companies
        has_users = co.users > 0
        self.plan = Plan(
            sf_present=np.ones(n, dtype=bool),
            ic_present=np.ones(n, dtype=bool),
            co_sf=has_users.copy(),
            co_ic=has_users.copy(),
            converted=p.converted.copy(),
            no_conversations=np.zeros(n, dtype=bool),
        )
        self.plan.sync_delay = rng.integers(2, 45, size=n)
        self.plan.co_delay = rng.integers(2, 45, size=co.n)

    # ------------------------------------------------------------ helpers
    def ref(self, role: int, i: int, system: str) -> Ref:
        if system == "salesforce":
            return (sf_obj(role), ("p", int(i)))
        return ("ic_contact", ("p", int(i)))

    def new_email(self, i: int, free_domain: str = "gmail.com") -> str:
        p = self.w.people
        pool = self.w.pools[p.loc[i]]
        base = fold(p.email[i].split("@")[0].split("+")[0]).replace(".", "")
        if not base.isascii():
            base = pool.aliases[i % len(pool.aliases)]
        k = int(self.rng.integers(10, 99))
        while True:
            e = f"{base}{k}@{free_domain}"
            if email_key(e) not in self.w.email_keys:
                self.w.email_keys.add(email_key(e))
                return e
            k += 1

    def new_phone(self, i: int) -> tuple[int, int, int] | None:
        p = self.w.people
        r = int(p.phone_region[i])
        if r < 0:
            r = self.w.regions.index(self.w.pools[p.loc[i]].region)
        n_prefixes = self.w.phone_prefixes[r]
        while True:
            a = int(self.rng.integers(0, n_prefixes))
            b = int(self.rng.integers(0, 10_000))
            key = int(phone_key(r, a, b))
            if key not in self.w.phone_keys:
                self.w.phone_keys.add(key)
                return r, a, b

    def typo(self, s: str) -> str:
        if len(s) < 4:
            return s + s[-1]
        j = int(self.rng.integers(1, len(s) - 2))
        op = int(self.rng.integers(0, 3))
        if op == 0 and s[j] != s[j + 1]:
            return s[:j] + s[j + 1] + s[j] + s[j + 2 :]
        if op == 1:
            return s[:j] + s[j + 1 :]
        return s[:j] + s[j] + s[j:]

    def name_free(self, first: str, last: str) -> bool:
        return (first, last) not in self.w.name_keys

    def claim_name(self, first: str, last: str) -> None:
        self.w.name_keys.add(first, last)

    def later(self, t: int, max_days: int) -> int:
        """A creation time after `t` for a duplicate record, before the generation time."""
        return min(
            int(t) + int(self.rng.integers(DAY, max_days * DAY)), self.w.as_of - DAY + int(self.rng.integers(0, 3600))
        )

    def times(self, i: int) -> tuple[int, int]:
        """(old, new) times for a change on person i: old in the first 40% of its life, new late."""
        p = self.w.people
        c = int(p.created[i])
        window = self.w.as_of - c
        old = c + int(window * self.rng.uniform(0.05, 0.4))
        new = c + int(window * self.rng.uniform(0.6, 0.95))
        return old, min(new, self.w.as_of - 3 * 3600)

    def _mode(self) -> str:
        u = self.rng.random()
        if u < self.r["drift_within_lag"]:
            return "within"
        if u < self.r["drift_within_lag"] + self.r["drift_non_owner"]:
            return "non_owner"
        return "owner"


def plant(world: World, rates: dict[str, float], seed: int, mapping: MappingInputs | None = None) -> Plan:
    """Plant every scenario; the same world, rates and seed give the same plan."""
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    from crmsandbox.generator.plant_companies import CompanyScenarios
    from crmsandbox.generator.plant_people import PeopleScenarios
    from crmsandbox.generator.plant_values import ValueScenarios

    class Planter(CompanyScenarios, PeopleScenarios, ValueScenarios):
        """Every scenario, on one world and one rng."""

    planter = Planter(world, rates, rng, mapping)
    orphan_companies = planter.companies()
    planter.people(orphan_companies)
    from crmsandbox.generator.plant_hard import HardNegatives

    HardNegatives(planter, seed).plant()
    if rates["schema_type_conflict"] >= 0.5:
        planter.plan.seats_as_string = True
        planter.plan.truth.append(_entry("schema_conflict", "both", "Contact", [], "seats", variant="type"))
    return planter.plan
