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

from syncaudit.config import SyncTiming
from syncaudit.errors import ConfigError
from syncaudit.sandbox.generator import phones
from syncaudit.sandbox.generator.pools import INDUSTRIES, NICKNAMES, fold
from syncaudit.sandbox.generator.values import mixed_case_email, phone_text
from syncaudit.sandbox.generator.world import DAY, LEAD, REFERRAL_SF, USER, World, email_key

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
    # how drift splits (shares of the drifted pairs)
    "drift_within_lag": 0.2,
    "drift_non_owner": 0.3,
}
SHARES = {"drift_within_lag", "drift_non_owner"}

LAG = {
    "intercom_to_salesforce": SyncTiming().intercom_to_salesforce_s,
    "salesforce_to_intercom": SyncTiming().salesforce_to_intercom_s,
}

# mapping field name -> (owner system, direction, objects); mirrors config/demo.yaml
PEOPLE_FIELDS = {
    "email": ("salesforce", "salesforce_to_intercom", (USER,)),
    "full_name": ("salesforce", "salesforce_to_intercom", (USER, LEAD)),
    "phone": ("intercom", "intercom_to_salesforce", (USER, LEAD)),
    "plan_type": ("intercom", "intercom_to_salesforce", (USER,)),
    "trial_status": ("intercom", "intercom_to_salesforce", (USER,)),
    "referral_source": ("intercom", "intercom_to_salesforce", (USER, LEAD)),
    "lifecycle_stage": ("salesforce", "salesforce_to_intercom", (USER, LEAD)),
    "partner_code": ("intercom", "intercom_to_salesforce", (USER,)),
    "seats": ("intercom", "intercom_to_salesforce", (USER,)),
}
ACCOUNT_FIELDS = {
    "company_name": "salesforce",
    "website": "salesforce",
    "industry": "salesforce",
    "employees": "salesforce",
}

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
    co_delay: np.ndarray | None = None


def check_rates(rates: dict[str, float] | None) -> dict[str, float]:
    """Defaults overlaid with the caller's rates; unknown keys and bad values are refused."""
    out = dict(DEFAULT_RATES)
    for k, v in (rates or {}).items():
        if k not in DEFAULT_RATES:
            raise ConfigError(f"unknown defect rate '{k}'", hint=f"use one of: {', '.join(sorted(DEFAULT_RATES))}")
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 <= v <= (1 if k in SHARES else 0.2):
            top = 1 if k in SHARES else 0.2
            raise ConfigError(f"defect rate '{k}' must be a number from 0 to {top}, got {v!r}", hint="e.g. 0.02 for 2%")
        out[k] = float(v)
    people = [
        k
        for k in DEFAULT_RATES
        if k not in SHARES
        and not k.startswith(("account", "orphan_account", "orphan_company", "duplicate_account", "conversation"))
    ]
    if sum(out[k] for k in people) > 0.6:
        raise ConfigError("the people defect rates add up to more than 60%", hint="lower some rates")
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
    e.update(extra)
    return e


def sf_obj(role: int) -> str:
    return "Contact" if role == USER else "Lead"


class Planter:
    """Holds the world, the rng and the uniqueness sets while scenarios are planted."""

    def __init__(self, world: World, rates: dict[str, float], rng: np.random.Generator) -> None:
        self.w, self.r, self.rng = world, rates, rng
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
        rn = phones.region_numbers(self.w.regions[r])
        while True:
            a = int(self.rng.integers(0, len(rn.prefixes)))
            b = int(self.rng.integers(0, 10_000))
            if (r, a, b) not in self.w.phone_keys:
                self.w.phone_keys.add((r, a, b))
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
        return (fold(first), fold(last)) not in self.w.name_keys

    def claim_name(self, first: str, last: str) -> None:
        self.w.name_keys.add((fold(first), fold(last)))

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

    # ------------------------------------------------------------ companies
    def companies(self) -> np.ndarray:
        """Company scenarios; returns the companies whose people are all orphans."""
        co, pl, r = self.w.companies, self.plan, self.r
        pick = _Picker(self.rng, np.flatnonzero(co.users > 0))
        small = co.users <= 3
        orphan_acc = pick.take(r["orphan_account"], where=small)
        orphan_co = pick.take(r["orphan_company"], where=small)
        for c in orphan_acc:
            pl.co_ic[c] = False
            pl.truth.append(_entry("orphan", "salesforce", "Account", [("Account", ("c", int(c)))]))
        for c in orphan_co:
            pl.co_sf[c] = False
            pl.truth.append(_entry("orphan", "intercom", "company", [("ic_company", ("c", int(c)))]))
        for j, c in enumerate(pick.take(r["duplicate_account"])):
            self._dup_account(int(c), same_number=j % 2 == 0)
        for c in pick.take(r["account_drift"]):
            self._drift_account(int(c))
        for c in pick.take(r["account_quality"]):
            pl.acc_ov["industry"][int(c)] = None
            pl.co_ov["industry"][int(c)] = None
            pl.truth.append(
                _entry(
                    "quality", "salesforce", "Account", [("Account", ("c", int(c)))], "industry", expectation="not_null"
                )
            )
            pl.truth.append(
                _entry(
                    "quality",
                    "intercom",
                    "company",
                    [("ic_company", ("c", int(c)))],
                    "industry",
                    expectation="not_null",
                )
            )
        return np.concatenate([orphan_acc, orphan_co])

    def _dup_account(self, c: int, same_number: bool) -> None:
        co, pl = self.w.companies, self.plan
        name = str(co.name[c])
        core, _, legal = name.rpartition(" ")
        variant = int(self.rng.integers(0, 4))
        new_name = [name.upper(), core, f"{core}, {legal}.", f"{core}  {legal}"][variant]
        k = len(pl.extras["Account"])
        ov = {
            "name": new_name,
            "website_style": int((co.website_style[c] + 1) % 4),
            "created": self.later(co.created[c], 200),
        }
        if not same_number:
            ov["number"] = None
        pl.extras["Account"].append(Extra(c, ov, "duplicate"))
        recs: list[Ref] = [("Account", ("c", c)), ("Account", ("x", k))]
        pl.truth.append(
            _entry("duplicate", "salesforce", "Account", recs, variant="same_number" if same_number else "no_number")
        )
        if same_number:
            pl.truth.append(_entry("ambiguous_link", "both", "Account", [*recs, ("ic_company", ("c", c))]))

    def _drift_account(self, c: int) -> None:
        co, pl, rng = self.w.companies, self.plan, self.rng
        fld = list(ACCOUNT_FIELDS)[int(rng.integers(0, 4))]
        if fld == "company_name":
            core, _, legal = str(co.name[c]).rpartition(" ")
            new: Any = f"{core} Group {legal}"
        elif fld == "website":
            new = f"get{co.domain[c]}"
        elif fld == "industry":
            new = INDUSTRIES[(int(co.industry[c]) + 1 + int(rng.integers(0, len(INDUSTRIES) - 1))) % len(INDUSTRIES)]
        else:
            new = int(co.employees[c] * rng.uniform(1.3, 3.0)) + 5
        mode = self._mode()
        lag = LAG["salesforce_to_intercom"]
        created, as_of = int(co.created[c]), self.w.as_of
        window = as_of - created
        old_t = created + int(window * rng.uniform(0.05, 0.4))
        new_t = min(created + int(window * rng.uniform(0.6, 0.95)), as_of - 3 * 3600)
        key = {"company_name": "name", "website": "domain", "industry": "industry", "employees": "employees"}[fld]
        if mode == "within":
            new_t = as_of - int(lag * rng.uniform(0.1, 0.8))
        owner_ov, other_ov = pl.acc_ov, pl.co_ov  # Salesforce owns every Account field in the demo mapping
        if mode == "non_owner":
            other_ov[key][c], other_ov["updated"][c], owner_ov["updated"][c] = new, new_t, old_t
            newer = "intercom"
        else:
            owner_ov[key][c], owner_ov["updated"][c], other_ov["updated"][c] = new, new_t, old_t
            newer = "salesforce"
        pl.truth.append(
            _entry(
                "field_drift",
                "both",
                "Account",
                [("Account", ("c", c)), ("ic_company", ("c", c))],
                fld,
                expected=mode != "within",
                within_lag=mode == "within",
                newer=newer,
                changed_by="non_owner" if mode == "non_owner" else "owner",
            )
        )

    def _mode(self) -> str:
        u = self.rng.random()
        if u < self.r["drift_within_lag"]:
            return "within"
        if u < self.r["drift_within_lag"] + self.r["drift_non_owner"]:
            return "non_owner"
        return "owner"

    # ------------------------------------------------------------ people
    def people(self, orphan_companies: np.ndarray) -> None:
        p, pl, r = self.w.people, self.plan, self.r
        in_orphan_co = np.isin(p.company, orphan_companies) & (p.role == USER)
        for i in np.flatnonzero(in_orphan_co):
            c = int(p.company[i])
            if not pl.co_ic[c]:  # Salesforce-only account: prospects, no product id
                pl.ic_present[i] = False
                pl.sf_ov["puid"][int(i)] = None
                pl.converted[i] = False
                pl.truth.append(_entry("orphan", "salesforce", "Contact", [self.ref(USER, i, "salesforce")]))
            else:
                pl.sf_present[i] = False
                pl.truth.append(_entry("orphan", "intercom", "contact", [self.ref(USER, i, "intercom")]))
        users = np.flatnonzero((p.role == USER) & ~in_orphan_co)
        leads = np.flatnonzero(p.role == LEAD)
        up, lp = _Picker(self.rng, users), _Picker(self.rng, leads)

        for role, pick in ((USER, up), (LEAD, lp)):
            obj = sf_obj(role)
            for i in pick.take(r["orphan_salesforce"]):
                pl.ic_present[i] = False
                pl.truth.append(_entry("orphan", "salesforce", obj, [self.ref(role, i, "salesforce")]))
            for i in pick.take(r["orphan_intercom"]):
                pl.sf_present[i] = False
                pl.truth.append(_entry("orphan", "intercom", "contact", [self.ref(role, i, "intercom")]))
            for j, i in enumerate(pick.take(r["duplicate_intercom"] / 2)):
                self._dup_intercom(role, int(i), j)
            for j, i in enumerate(pick.take(r["duplicate_contact" if role == USER else "duplicate_lead"])):
                self._dup_salesforce(role, int(i), j)
            for i in pick.take(r["field_drift"]):
                self._drift_person(role, int(i))
            for j, i in enumerate(pick.take(r["quality"])):
                self._quality(role, int(i), j)

        for j, i in enumerate(up.take(r["identity_gap"])):
            self._identity_gap(int(i), j)
        for i in up.take(r["ambiguous_link"]):
            self._lead_contact(int(i), ambiguous=True)
        for i in up.take(r["duplicate_lead_contact"]):
            self._lead_contact(int(i), ambiguous=False)
        for i in up.take(r["stale_link"]):
            self._stale(int(i))
        schema = up.take(max(r["schema_conflict"], 3 / max(len(users), 1)) if r["schema_conflict"] > 0 else 0)
        self._schema(schema)

    def _dup_intercom(self, role: int, i: int, j: int) -> None:
        p, pl = self.w.people, self.plan
        pl.no_conversations[i] = True
        k = len(pl.extras["ic_contact"])
        named = j % 2 == 0
        ov = {"role": LEAD, "puid": None, "created": self.later(p.created[i], 100)}
        if not named:
            ov["first"], ov["last"] = None, None
        pl.extras["ic_contact"].append(Extra(i, ov, "duplicate"))
        recs: list[Ref] = [self.ref(role, i, "intercom"), ("ic_contact", ("x", k))]
        pl.truth.append(
            _entry("duplicate", "intercom", "contact", recs, variant="user_and_lead" if role == USER else "two_leads")
        )
        if role == LEAD:  # a Lead's identity is its email: one Salesforce Lead now matches two Intercom leads
            pl.truth.append(_entry("ambiguous_link", "both", "Lead", [self.ref(LEAD, i, "salesforce"), *recs]))

    def _name_variant(self, i: int, variant: str) -> tuple[str, dict[str, Any]]:
        """Returns the variant actually planted and the overrides of the duplicate row."""
        p = self.w.people
        first, last, email = str(p.first[i]), str(p.last[i]), str(p.email[i])
        if variant == "nickname":
            nick = NICKNAMES.get(first)
            if nick and self.name_free(nick, last):
                self.claim_name(nick, last)
                return variant, {"first": nick, "email": self.new_email(i) if self.rng.random() < 0.6 else email}
            variant = "typo"
        if variant == "typo":
            new_last = self.typo(last)
            if fold(new_last) != fold(last) and self.name_free(first, new_last):
                self.claim_name(first, new_last)
                return variant, {"last": new_last, "email": self.new_email(i) if self.rng.random() < 0.5 else email}
            variant = "transposed"
        if variant == "transposed":
            if self.name_free(last, first):
                self.claim_name(last, first)
                return variant, {"first": last, "last": first}
            variant = "case_whitespace"
        if variant == "case_whitespace":
            style = int(self.rng.integers(0, 3))
            if style == 0:
                return variant, {"first": first.upper(), "last": last.upper(), "email": email.upper()}
            if style == 1:
                return variant, {"first": first.lower(), "last": last.lower(), "email": mixed_case_email(email)}
            return variant, {"first": f" {first}", "last": f"{last}  ", "email": f" {email} ".rstrip()}
        return "exact", {}

    def _dup_salesforce(self, role: int, i: int, j: int) -> None:
        p, pl = self.w.people, self.plan
        pl.no_conversations[i] = True
        pl.converted[i] = False
        obj = sf_obj(role)
        variant, ov = self._name_variant(i, ("exact", "case_whitespace", "typo", "nickname", "transposed")[j % 5])
        ov.update(puid=None, created=self.later(p.created[i], 300))
        k = len(pl.extras[obj])
        pl.extras[obj].append(Extra(i, ov, "duplicate"))
        recs: list[Ref] = [self.ref(role, i, "salesforce"), (obj, ("x", k))]
        pl.truth.append(_entry("duplicate", "salesforce", obj, recs, variant=variant))
        same_email = email_key(ov.get("email", p.email[i])) == email_key(p.email[i])
        if role == LEAD and same_email:
            pl.truth.append(_entry("ambiguous_link", "both", "Lead", [*recs, self.ref(LEAD, i, "intercom")]))

    def _lead_contact(self, i: int, ambiguous: bool) -> None:
        """The same person as a Contact and an open Lead (with the product id too when ambiguous)."""
        p, pl = self.w.people, self.plan
        pl.no_conversations[i] = True
        pl.converted[i] = False
        ov: dict[str, Any] = {"created": self.later(p.created[i], 200), "lead_status": int(self.rng.integers(0, 2))}
        if not ambiguous:
            ov["puid"] = None
            if self.rng.random() < 0.5:
                ov["email"] = mixed_case_email(str(p.email[i]))
        k = len(pl.extras["Lead"])
        pl.extras["Lead"].append(Extra(i, ov, "lead_of_contact"))
        recs: list[Ref] = [self.ref(USER, i, "salesforce"), ("Lead", ("x", k))]
        pl.truth.append(_entry("duplicate", "salesforce", "Lead/Contact", recs, variant="lead_and_contact"))
        if ambiguous:
            pl.truth.append(_entry("ambiguous_link", "both", "Contact", [*recs, self.ref(USER, i, "intercom")]))

    def _identity_gap(self, i: int, j: int) -> None:
        p, pl = self.w.people, self.plan
        pl.converted[i] = False  # a converted Lead carrying the key would make this a stale link
        variant = ("salesforce_key_missing", "intercom_key_missing", "key_differs")[j % 3]
        if variant == "salesforce_key_missing":
            pl.sf_ov["puid"][i] = None
        elif variant == "intercom_key_missing":
            pl.ic_ov["puid"][i] = None
        else:
            key = str(p.puid[i])
            pos = int(self.rng.integers(4, len(key)))
            alt = "0123456789abcdefghijklmnopqrstuvwxyz"
            new = key[:pos] + alt[(alt.index(key[pos]) + 1 + int(self.rng.integers(0, 34))) % 36] + key[pos + 1 :]
            pl.sf_ov["puid"][i] = new
        recs = [self.ref(USER, i, "salesforce"), self.ref(USER, i, "intercom")]
        pl.truth.append(_entry("identity_gap", "both", "Contact", recs, variant=variant))

    def _stale(self, i: int) -> None:
        p, pl = self.w.people, self.plan
        pl.no_conversations[i] = True
        if not pl.converted[i]:
            pl.converted[i] = True
            p.lead_created[i] = p.created[i] - int(self.rng.integers(2 * DAY, 200 * DAY))
        pl.sf_ov["puid"][i] = None  # the key stayed on the converted Lead
        recs: list[Ref] = [("Lead", ("cl", i)), self.ref(USER, i, "salesforce"), self.ref(USER, i, "intercom")]
        pl.truth.append(_entry("stale_link", "both", "Lead", recs, variant="converted_lead"))

    # ------------------------------------------------------------ drift, quality, schema
    def _new_value(self, fld: str, i: int) -> tuple[str, Any, Any]:
        """(override key, Salesforce value, Intercom value) of a changed value for field `fld`."""
        from syncaudit.sandbox.generator.world import LIFECYCLE, PLANS, REFERRAL_IC, TRIALS

        p, rng = self.w.people, self.rng
        if fld == "email":
            e = self.new_email(i, str(p.email[i]).rsplit("@", 1)[1])
            return "email", e, e
        if fld == "full_name":
            pool = self.w.pools[p.loc[i]]
            for _ in range(200):
                new_last = pool.last[int(rng.integers(0, len(pool.last)))]
                if fold(new_last) != fold(p.last[i]) and self.name_free(p.first[i], new_last):
                    self.claim_name(p.first[i], new_last)
                    return "last", new_last, new_last
            new_last = f"{p.last[i]}-{pool.last[int(rng.integers(0, len(pool.last)))]}"
            self.claim_name(p.first[i], new_last)
            return "last", new_last, new_last
        if fld == "phone":
            r, a, b = self.new_phone(i)
            return (
                "phone",
                phone_text(self.w.regions, r, a, b, int(p.phone_fmt_sf[i])),
                phone_text(self.w.regions, r, a, b, int(p.phone_fmt_ic[i])),
            )
        if fld == "plan_type":
            v = PLANS[(int(p.plan[i]) + int(rng.integers(1, 4))) % 4]
            return "plan", v, v
        if fld == "trial_status":
            v = TRIALS[(int(p.trial[i]) + int(rng.integers(1, 4))) % 4]
            return "trial", v, v
        if fld == "referral_source":
            old_sf = REFERRAL_SF[int(p.referral[i])]
            choices = [k for k in range(len(REFERRAL_IC)) if REFERRAL_SF[k] != old_sf]
            k = choices[int(rng.integers(0, len(choices)))]
            return "referral", REFERRAL_SF[k], REFERRAL_IC[k]
        if fld == "lifecycle_stage":
            v = LIFECYCLE[(int(p.lifecycle[i]) + int(rng.integers(1, 6))) % 6]
            return "lifecycle", v, v
        if fld == "partner_code":
            chars = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
            v = "PTR-" + "".join(chars[int(x)] for x in rng.integers(0, len(chars), 6))
            return "partner", v, v
        if fld == "seats":
            v = int(p.seats[i]) + int(rng.integers(1, 20))
            return "seats", float(v), v
        raise ValueError(fld)

    def _drift_person(self, role: int, i: int) -> None:
        pl, rng = self.plan, self.rng
        fields = [f for f, (_, _, objs) in PEOPLE_FIELDS.items() if role in objs]
        if role == USER and self.w.people.phone_region[i] < 0:
            fields.remove("phone")
        fld = fields[int(rng.integers(0, len(fields)))]
        owner, direction, _ = PEOPLE_FIELDS[fld]
        key, sf_val, ic_val = self._new_value(fld, i)
        mode = self._mode()
        old_t, new_t = self.times(i)
        if mode == "within":
            new_t = self.w.as_of - int(LAG[direction] * rng.uniform(0.1, 0.8))
        changed = owner if mode != "non_owner" else ("intercom" if owner == "salesforce" else "salesforce")
        other = "intercom" if changed == "salesforce" else "salesforce"
        ov_changed, ov_other = (pl.sf_ov, pl.ic_ov) if changed == "salesforce" else (pl.ic_ov, pl.sf_ov)
        ov_changed[key][i] = sf_val if changed == "salesforce" else ic_val
        ov_changed["updated"][i] = new_t
        ov_other["updated"][i] = old_t
        recs = [self.ref(role, i, "salesforce"), self.ref(role, i, "intercom")]
        pl.truth.append(
            _entry(
                "field_drift",
                "both",
                sf_obj(role),
                recs,
                fld,
                expected=mode != "within",
                within_lag=mode == "within",
                newer=changed,
                changed_by="owner" if mode != "non_owner" else "non_owner",
                older=other,
            )
        )

    def _quality(self, role: int, i: int, j: int) -> None:
        p, pl = self.w.people, self.plan
        variants = ["invalid_email", "malformed_phone", "missing_email", "out_of_set"]
        variant = variants[j % 4]
        if variant == "missing_email" and role == LEAD:
            variant = "invalid_email"  # a Lead's identity is its email; keep the pair linkable
        if variant == "malformed_phone" and p.phone_region[i] < 0:
            variant = "out_of_set"
        if variant == "invalid_email":
            local, _, domain = str(p.email[i]).partition("@")
            style = int(self.rng.integers(0, 4))
            bad = [f"{local}{domain}", f"{local}@@{domain}", f"{local} @{domain}", f"{local}@{domain.split('.')[0]}"][
                style
            ]
            key, fld, expectation, value = "email", "email", "valid_email", bad
        elif variant == "missing_email":
            key, fld, expectation, value = "email", "email", "not_null", None
        elif variant == "malformed_phone":
            e164 = phone_text(self.w.regions, int(p.phone_region[i]), int(p.phone_prefix[i]), int(p.phone_suffix[i]), 0)
            style = int(self.rng.integers(0, 3))
            value = [e164[:-4], e164.replace("0", "O") if "0" in e164[3:] else e164 + "99999", e164 + " ext. 12 34"][
                style
            ]
            key, fld, expectation = "phone", "phone", "valid_phone"
        else:
            value = ["Churned", "Evangelist", "Former Customer"][int(self.rng.integers(0, 3))]
            key, fld, expectation = "lifecycle", "lifecycle_stage", "in_set"
        pl.sf_ov[key][i] = value
        pl.ic_ov[key][i] = value
        pl.truth.append(
            _entry(
                "quality",
                "salesforce",
                sf_obj(role),
                [self.ref(role, i, "salesforce")],
                fld,
                expectation=expectation,
                variant=variant,
            )
        )
        pl.truth.append(
            _entry(
                "quality",
                "intercom",
                "contact",
                [self.ref(role, i, "intercom")],
                fld,
                expectation=expectation,
                variant=variant,
            )
        )

    def _schema(self, people: np.ndarray) -> None:
        """Values Intercom holds that the Salesforce field cannot take: the sync failed, the pair drifted."""
        pl, rng = self.plan, self.rng
        groups: dict[str, list[int]] = defaultdict(list)
        for j, i in enumerate(people):
            i = int(i)
            variant = ("picklist_value", "too_long", "unmapped_value")[j % 3]
            if variant == "picklist_value":
                fld, key, value = "plan_type", "plan", ["Team", "Business", "Agency"][int(rng.integers(0, 3))]
            elif variant == "too_long":
                chars = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
                fld, key = "partner_code", "partner"
                value = "PTR-" + "".join(chars[int(x)] for x in rng.integers(0, len(chars), 20))
            else:
                fld, key, value = (
                    "referral_source",
                    "referral",
                    ["linkedin", "podcast", "g2", "capterra"][int(rng.integers(0, 4))],
                )
            old_t, new_t = self.times(i)
            pl.ic_ov[key][i] = value
            pl.ic_ov["updated"][i] = new_t
            pl.sf_ov["updated"][i] = old_t
            groups[f"{fld}|{variant}"].append(i)
            recs = [self.ref(USER, i, "salesforce"), self.ref(USER, i, "intercom")]
            pl.truth.append(
                _entry(
                    "field_drift",
                    "both",
                    "Contact",
                    recs,
                    fld,
                    within_lag=False,
                    newer="intercom",
                    older="salesforce",
                    changed_by="owner",
                    cause="schema_conflict",
                )
            )
        for gkey, members in groups.items():
            fld, variant = gkey.split("|")
            pl.truth.append(
                _entry(
                    "schema_conflict",
                    "both",
                    "Contact",
                    [self.ref(USER, i, "intercom") for i in members],
                    fld,
                    variant=variant,
                )
            )


def plant(world: World, rates: dict[str, float], seed: int) -> Plan:
    """Plant every scenario; the same world, rates and seed give the same plan."""
    rng = np.random.Generator(np.random.PCG64([seed, 1]))
    planter = Planter(world, rates, rng)
    orphan_companies = planter.companies()
    planter.people(orphan_companies)
    return planter.plan
