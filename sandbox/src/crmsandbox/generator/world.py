"""The clean org pair: people, companies and owners, before any defect is planted.

Everything is drawn with one numpy Generator (PCG64) in a fixed order, so the same seed and size
give the same world. Uniqueness that the audit relies on (names, emails, phones, keys, company
names and domains) is enforced here, so nothing unplanted looks like a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from crmsandbox.generator import phones
from crmsandbox.generator.pools import (
    BRANDS,
    FREE_PATTERNS,
    INDUSTRIES,
    INDUSTRY_WEIGHTS,
    NOUNS,
    WORK_PATTERNS,
    LocalePool,
    fold,
    locale_pools,
)

if TYPE_CHECKING:
    from crmsandbox.generator.partition import Part

AS_OF = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
DAY = 86_400

PLANS = ["Free", "Starter", "Pro", "Enterprise"]
TRIALS = ["Not Started", "Active", "Expired", "Converted"]
REFERRAL_IC = ["organic", "google", "adwords", "partner", "referral", "event", "outbound"]
REFERRAL_SF = ["Organic", "Paid Search", "Paid Search", "Partner", "Referral", "Event", "Outbound"]
LIFECYCLE = ["Subscriber", "Lead", "MQL", "SQL", "Opportunity", "Customer"]
TITLES = [
    "CEO",
    "CTO",
    "Founder",
    "VP Sales",
    "Head of Marketing",
    "Product Manager",
    "Software Engineer",
    "Data Analyst",
    "Customer Success Manager",
    "Operations Manager",
    "Designer",
    "Account Executive",
    "Marketing Manager",
    "IT Director",
    "Finance Manager",
    "HR Manager",
    "Sales Manager",
    "Developer",
]
PLUS_TAGS = ["intercom", "trial", "news", "work", "saas", "2024"]

USER, LEAD = 0, 1


class NameKeys:
    """The set of (first, last) names in use, compared folded (accents and case ignored), kept compact."""

    def __init__(self, ids: dict[str, int], keys: np.ndarray, earlier: np.ndarray | None = None) -> None:
        self._ids = ids  # folded name part -> id
        self._keys: set[int] = set(keys.tolist())  # id(first) << 32 | id(last)
        # the names of earlier partitions (partition.py), sorted; ids of pool names are the same in every one
        self._earlier = earlier if earlier is not None else np.empty(0, dtype=np.int64)

    def _key(self, first: str, last: str) -> int:
        ids = self._ids
        a = ids.setdefault(fold(first), len(ids))
        b = ids.setdefault(fold(last), len(ids))
        return a << 32 | b

    def add(self, first: str, last: str) -> None:
        self._keys.add(self._key(first, last))

    def __contains__(self, name: tuple[str, str]) -> bool:
        key = self._key(*name)
        if key in self._keys:
            return True
        return in_sorted(self._earlier, key)

    def own_keys(self) -> np.ndarray:
        return np.fromiter(self._keys, dtype=np.int64)


def in_sorted(arr: np.ndarray, value: int) -> bool:
    """Whether ``value`` is in the sorted ``arr`` (one binary search; called per name or email, so scalar)."""
    if not len(arr):
        return False
    v = arr.dtype.type(value)  # of the array's type: a Python int would make numpy convert the whole array
    i = int(arr.searchsorted(v))
    return i < len(arr) and arr[i] == v


def members_sorted(arr: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which ``values`` are in the sorted ``arr`` (binary search: no pass over ``arr``, unlike np.isin)."""
    if not len(arr):
        return np.zeros(len(values), dtype=bool)
    values = np.asarray(values).astype(arr.dtype)
    i = np.minimum(arr.searchsorted(values), len(arr) - 1)
    return arr[i] == values


@dataclass
class Owners:
    """Salesforce Users and Intercom admins; index i < n_shared are the same person in both."""

    first: list[str]
    last: list[str]
    email: list[str]
    has_sf: np.ndarray
    has_ic: np.ndarray
    created: np.ndarray

    @property
    def n(self) -> int:
        return len(self.first)


@dataclass
class Companies:
    name: np.ndarray
    domain: np.ndarray
    number: np.ndarray
    industry: np.ndarray
    employees: np.ndarray
    locale: np.ndarray
    created: np.ndarray
    updated: np.ndarray
    owner: np.ndarray
    users: np.ndarray  # count of user-role people
    website_style: np.ndarray  # how Salesforce spells the website (0..3)

    @property
    def n(self) -> int:
        return len(self.name)


@dataclass
class People:
    loc: np.ndarray
    first: np.ndarray
    last: np.ndarray
    email: np.ndarray
    phone_region: np.ndarray  # index into REGIONS, -1 = no phone
    phone_prefix: np.ndarray
    phone_suffix: np.ndarray
    phone_fmt_sf: np.ndarray
    phone_fmt_ic: np.ndarray
    company: np.ndarray
    role: np.ndarray
    puid: np.ndarray
    plan: np.ndarray
    trial: np.ndarray
    referral: np.ndarray
    lifecycle: np.ndarray
    partner: np.ndarray
    seats: np.ndarray
    title: np.ndarray
    created: np.ndarray  # first seen (Intercom sign-up or lead capture)
    updated: np.ndarray  # last change, already synced to both sides
    owner: np.ndarray
    converted: np.ndarray  # user who came from a converted Salesforce Lead
    lead_created: np.ndarray
    lead_status: np.ndarray
    email_case_sf: np.ndarray  # Salesforce keeps the address as typed (mixed case)

    @property
    def n(self) -> int:
        return len(self.first)


@dataclass
class World:
    seed: int
    size: int
    as_of: int
    app_id: str
    pools: list[LocalePool]
    regions: list[str]
    owners: Owners
    companies: Companies
    people: People
    name_keys: NameKeys
    email_keys: set[str]
    phone_keys: set[int]  # phone_key() of every number in use
    phone_prefixes: list[int]  # prefixes in use per region (the only ones new numbers may use)


def phone_key(region: np.ndarray | int, prefix: np.ndarray | int, suffix: np.ndarray | int) -> np.ndarray | int:
    """One int per (region, prefix, suffix): compact members for the uniqueness set."""
    return (np.asarray(region, dtype=np.int64) * 1_000 + prefix) * 10_000 + suffix


def base36(values: np.ndarray, width: int) -> list[str]:
    """Fixed-width lower-case base-36 strings of non-negative ints, vectorised."""
    digits = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    v = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((len(v), width), dtype=np.uint8)
    for pos in range(width - 1, -1, -1):
        out[:, pos] = digits[v % 36]
        v //= 36
    return out.view(f"S{width}").ravel().astype(str).tolist()


def email_key(email: str) -> str:
    """Canonical form for uniqueness: lower case, no +tag, no dots for Gmail."""
    e = email.strip().lower()
    local, _, domain = e.partition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}"


def name_room(pools: list[LocalePool]) -> int:
    """How many people the pools give unique names to (30% of each locale's first x last names)."""
    return sum(int(p.capacity * 0.3) for p in pools)


def _locale_counts(rng: np.random.Generator, pools: list[LocalePool], n: int, share: float = 1.0) -> np.ndarray:
    w = np.array([p.weight for p in pools])
    counts = rng.multinomial(n, w / w.sum())
    cap = np.array([int(p.capacity * 0.3 * share) for p in pools])
    over = np.maximum(counts - cap, 0)
    counts -= over
    spare = np.maximum(cap - counts, 0).astype(float)
    extra = over.sum()
    if extra:
        if spare.sum() < extra:
            raise ValueError(f"size {n} exceeds the name pools' room for unique people")
        add = np.floor(spare / spare.sum() * extra).astype(np.int64)
        add[np.argmax(spare - add)] += extra - add.sum()
        counts += add
    return counts


def _draw_names(
    rng: np.random.Generator,
    pools: list[LocalePool],
    n: int,
    name_frequency: float = 0.0,
    earlier: np.ndarray | None = None,
    share: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, NameKeys]:
    """Locale and first/last name indexes of ``n`` people.

    ``name_frequency`` 0: every (first, last) name is unique, drawn uniformly from the pools. Above 0: names
    are drawn by how common they are (pools.name_weights, blended with the uniform law by this share), as
    in a real population: common names repeat and different people share a full name (namesakes).
    """
    counts = _locale_counts(rng, pools, n, share)
    loc = np.repeat(np.arange(len(pools), dtype=np.int16), counts)
    loc = loc[rng.permutation(n)]
    fi = np.zeros(n, dtype=np.int32)
    li = np.zeros(n, dtype=np.int32)
    # global ids of folded names, so "Jose" (es) and "José" (es_MX) count as the same name
    gid: dict[str, int] = {}
    fgid = [np.array([gid.setdefault(fold(x), len(gid)) for x in p.first], dtype=np.int64) for p in pools]
    lgid = [np.array([gid.setdefault(fold(x), len(gid)) for x in p.last], dtype=np.int64) for p in pools]

    def keys() -> np.ndarray:
        key = np.empty(n, dtype=np.int64)
        for k in range(len(pools)):
            m = loc == k
            key[m] = (fgid[k][fi[m]] << 32) | lgid[k][li[m]]
        return key

    if name_frequency > 0:
        for k, p in enumerate(pools):
            sel = np.flatnonzero(loc == k)
            pf = name_frequency * np.asarray(p.first_weight) + (1 - name_frequency) / len(p.first)
            pl = name_frequency * np.asarray(p.last_weight) + (1 - name_frequency) / len(p.last)
            fi[sel] = rng.choice(len(p.first), size=len(sel), p=pf / pf.sum())
            li[sel] = rng.choice(len(p.last), size=len(sel), p=pl / pl.sum())
        return loc, fi, li, NameKeys(gid, keys())
    todo = np.arange(n)
    for _ in range(60):
        for k, p in enumerate(pools):
            sel = todo[loc[todo] == k]
            fi[sel] = rng.integers(0, len(p.first), size=len(sel))
            li[sel] = rng.integers(0, len(p.last), size=len(sel))
        key = keys()
        _, first_idx = np.unique(key, return_index=True)
        keep = np.zeros(n, dtype=bool)
        keep[first_idx] = True
        if earlier is not None:  # a partition: also unique against the partitions before it
            keep &= ~members_sorted(earlier, key)
        todo = np.flatnonzero(~keep)
        if len(todo) == 0:
            return loc, fi, li, NameKeys(gid, key, earlier)
    raise RuntimeError("could not draw unique names; lower the size")  # pragma: no cover


def _company_names(
    rng: np.random.Generator, pools: list[LocalePool], k: int, loc: np.ndarray, part: Part | None = None
) -> tuple[list, list]:
    """``k`` company names and website domains whose keys (the domain's name, [a-z]+) are unique.

    One partition of a large org pair (``part``) also draws two-brand names ("Cedar Harbor Labs") and avoids
    the keys of the partitions before it, so the names never run out and never repeat across partitions."""
    names: list[str] = []
    domains: list[str] = []
    seen: set[str] = part.taken.company_keys() if part else set()
    latin = [i for i, p in enumerate(pools) if p.last_ascii and all(p.last_ascii[:5])]
    n_styles = 4 if part else 3
    style = rng.integers(0, n_styles, size=k * 3)
    picks = rng.integers(0, 1 << 30, size=(k * 3, 3))
    i = tries = 0
    for c in range(k):
        p = pools[loc[c]]
        while True:
            tries += 1
            if tries > k * 3 + 10_000_000:
                raise RuntimeError("company name space exhausted")
            if i == len(picks) and part:  # a fresh batch: cycling would only repeat rejected keys
                style = rng.integers(0, n_styles, size=k * 3)
                picks = rng.integers(0, 1 << 30, size=(k * 3, 3))
                i = 0
            s, (a, b, d) = style[i % len(style)], picks[i % len(picks)]
            i += 1
            noun = NOUNS[b % len(NOUNS)]
            if s == 3:
                head, second = BRANDS[a % len(BRANDS)], BRANDS[(a >> 10) % len(BRANDS)]
                core, key = f"{head} {second} {noun}", (head + second + noun).lower()
                key = key if head != second else ""
            elif s == 1:
                lp = pools[latin[d % len(latin)]] if not all(p.last_ascii[:5]) else p
                head = lp.last[a % len(lp.last)]
                core, key = f"{head} {noun}", lp.last_ascii[a % len(lp.last)] + noun.lower()
                key = key if lp.last_ascii[a % len(lp.last)] else ""
            else:
                head = BRANDS[a % len(BRANDS)]
                core = f"{head} {noun}" if s == 0 else f"{head}{noun.lower()}"
                key = head.lower() + noun.lower()
            # key is already [a-z]+: brands and nouns are ASCII, last_ascii is transliterated
            if key and key not in seen:
                break
        seen.add(key)
        names.append(f"{core} {p.legal[(a + b) % len(p.legal)]}")
        domains.append(f"{key}.{p.tld}" if d % 4 else f"{key}.com")
    return names, domains


def _separate_lookalikes(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, company: np.ndarray, k: int
) -> None:
    """Move people whose name nearly equals a colleague's to another company (in place).

    Distinct names alone do not stop 'Jon Smith' and 'John Smith' at one account from looking
    like a typo duplicate; nothing unplanted may look like one, so such colleagues are split up.
    Look-alike = same initials, Jaro-Winkler >= 0.83 on first and >= 0.88 on last names (folded),
    or the same with first and last swapped.
    """
    import duckdb
    import pyarrow as pa

    f = pa.array([fold(x) for x in first], pa.string())
    la = pa.array([fold(x) for x in last], pa.string())
    db = duckdb.connect()
    db.execute("set enable_progress_bar = false; set threads = 2")
    everyone = np.arange(len(company))
    scope = everyone
    for _ in range(5):
        # after the first pass only the companies that received someone need checking again
        people = pa.table({"i": scope, "c": company[scope], "f": f.take(scope), "l": la.take(scope)})  # noqa: F841
        moved = db.sql(
            """
            with p as (select i, c, f, l, left(l, 1) as l1, left(f, 1) as f1 from people),
            same as (
              select x.i as a, y.i as b from p x join p y on x.c = y.c and x.l1 = y.l1 and x.f1 = y.f1 and x.i < y.i
              where jaro_winkler_similarity(x.l, y.l) >= 0.88 and jaro_winkler_similarity(x.f, y.f) >= 0.83
            ),
            swapped as (
              select x.i as a, y.i as b from p x join p y on x.c = y.c and x.l1 = y.f1 and x.f1 = y.l1 and x.i <> y.i
              where jaro_winkler_similarity(x.f, y.l) >= 0.88 and jaro_winkler_similarity(x.l, y.f) >= 0.88
            )
            select distinct greatest(a, b) as i from (select * from same union all select * from swapped)
            order by i
            """
        ).fetchnumpy()["i"]
        if len(moved) == 0:
            break
        company[moved] = (company[moved] + rng.integers(1, k, size=len(moved))) % k
        scope = everyone[np.isin(company, company[moved])]
    db.close()


def _owners(rng: np.random.Generator, pools: list[LocalePool], n_people: int) -> Owners:
    n = int(np.clip(n_people // 2500, 6, 400))
    n_support = max(2, n // 3)
    en = pools[0]
    first, last, email = [], [], []
    used: set[str] = set()
    for _ in range(n + n_support):
        while True:
            f, lname = en.first[rng.integers(len(en.first))], en.last[rng.integers(len(en.last))]
            e = f"{f}.{lname}@northwind-saas.com".lower().replace(" ", "")
            if e not in used:
                break
        used.add(e)
        first.append(f)
        last.append(lname)
        email.append(e)
    has_sf = np.zeros(n + n_support, dtype=bool)
    has_sf[:n] = True
    has_ic = np.ones(n + n_support, dtype=bool)
    has_ic[: n // 8] = False  # a few sales reps without an Intercom seat
    created = AS_OF - rng.integers(400 * DAY, 1500 * DAY, size=n + n_support)
    return Owners(first, last, email, has_sf, has_ic, created)


def build_world(seed: int, size: int, name_frequency: float = 0.0, part: Part | None = None) -> World:
    """Draw the clean org pair: `size` people, their companies and the owners (``name_frequency``: see
    _draw_names). ``part``: this world is one partition of a larger org pair (partition.py): the owners and
    the Intercom app are the whole pair's, and emails, phones, company names, keys and account numbers avoid
    those of the partitions before it."""
    rng = np.random.Generator(np.random.PCG64(seed))
    pools = locale_pools()
    regions = sorted({p.region for p in pools})
    n = size
    owners = part.owners if part else _owners(rng, pools, n)

    # ---- people: names, roles, companies
    if part and name_frequency <= 0 and part.total <= name_room(pools):
        # names unique across partitions too, while the pools have room (beyond about 2.2 million people a
        # side they cannot: names then repeat across partitions, as they do with name_frequency)
        loc, fi, li, name_keys = _draw_names(rng, pools, n, name_frequency, part.taken.names, n / part.total)
    else:
        loc, fi, li, name_keys = _draw_names(rng, pools, n, name_frequency)
    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    for k, p in enumerate(pools):
        m = loc == k
        first[m] = np.asarray(p.first, dtype=object)[fi[m]]
        last[m] = np.asarray(p.last, dtype=object)[li[m]]
    role = (rng.random(n) < 0.4).astype(np.int8)  # 40% leads

    k_companies = max(8, n // 8)
    c_loc = loc[rng.integers(0, n, size=k_companies)]
    c_names, c_domains = _company_names(rng, pools, k_companies, c_loc, part)
    weight = rng.pareto(1.1, size=k_companies) + 1.0
    company = rng.choice(k_companies, size=n, p=weight / weight.sum()).astype(np.int32)
    _separate_lookalikes(rng, first, last, company, k_companies)
    users_per_company = np.bincount(company[role == USER], minlength=k_companies)
    employees = np.maximum(users_per_company * rng.integers(2, 30, size=k_companies), rng.integers(3, 60, k_companies))
    employees = np.minimum(employees, 400_000)

    # ---- timestamps
    span = 3 * 365 * DAY
    created = AS_OF - 2 * DAY - (span * rng.random(n) ** 0.6).astype(np.int64)
    updated = created + ((AS_OF - 3600 - created) * rng.random(n) ** 2).astype(np.int64)
    converted = (role == USER) & (rng.random(n) < 0.25)
    lead_created = np.where(converted, created - rng.integers(2 * DAY, 200 * DAY, size=n), 0)
    lead_status = rng.choice(3, size=n, p=[0.4, 0.4, 0.2]).astype(np.int8)

    # ---- attributes
    plan = rng.choice(4, size=n, p=[0.45, 0.25, 0.2, 0.1]).astype(np.int8)
    trial = np.where(plan == 0, rng.choice(3, size=n, p=[0.3, 0.3, 0.4]), np.where(rng.random(n) < 0.9, 3, 2))
    referral = rng.choice(7, size=n, p=[0.35, 0.2, 0.05, 0.1, 0.15, 0.08, 0.07]).astype(np.int8)
    lifecycle = np.where(
        role == USER,
        rng.choice([5, 4, 3, 2], size=n, p=[0.7, 0.1, 0.1, 0.1]),
        rng.choice(4, size=n, p=[0.3, 0.4, 0.2, 0.1]),
    ).astype(np.int8)
    seat_hi = np.array([3, 10, 50, 500])[plan]
    seats = np.minimum(np.ceil(rng.lognormal(1.0, 1.0, size=n)).astype(np.int64), seat_hi)
    has_partner = (role == USER) & (rng.random(n) < 0.08)
    partner = np.full(n, None, dtype=object)
    pc_chars = np.frombuffer(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789", dtype=np.uint8)
    codes = pc_chars[rng.integers(0, len(pc_chars), size=(int(has_partner.sum()), 6))].view("S6").ravel().astype(str)
    partner[has_partner] = [f"PTR-{c}" for c in codes]
    title = np.asarray(TITLES, dtype=object)[rng.integers(0, len(TITLES), size=n)]
    owner = rng.integers(0, int(owners.has_sf.sum()), size=n).astype(np.int32)

    # ---- product user ids (users only), unique
    puid = np.full(n, None, dtype=object)
    hi = 36**12 // part.count if part else 36**12
    raw = rng.integers(0, hi, size=n, dtype=np.int64)
    while len(np.unique(raw)) < n:
        raw = rng.integers(0, hi, size=n, dtype=np.int64)
    if part:  # the residue modulo the partition count names the partition: unique across partitions
        raw = raw * part.count + part.index
    puid[role == USER] = [f"usr_{v}" for v in base36(raw[role == USER], 12)]

    # ---- emails, unique by canonical key
    free = rng.random(n) < np.where(role == USER, 0.25, 0.4)
    pat = rng.integers(0, 6, size=n)
    digits = rng.integers(0, 10_000, size=n)
    plus = rng.random(n) < 0.03
    free_dom = rng.integers(0, 1 << 20, size=n)
    alias = rng.integers(0, 1 << 20, size=n)
    email = np.empty(n, dtype=object)
    email_keys: set[str] = part.taken.email_keys() if part else set()
    for i in range(n):
        p = pools[loc[i]]
        f, lname = p.first_ascii[fi[i]], p.last_ascii[li[i]]
        if not f or not lname:  # scripts without a transliteration here: a romanised handle
            f, lname = p.aliases[alias[i] % len(p.aliases)], p.aliases[(alias[i] >> 7) % len(p.aliases)]
        f, lname = f.replace(" ", ""), lname.replace(" ", "")
        if free[i]:
            domain = p.free_domains[free_dom[i] % len(p.free_domains)]
            local = FREE_PATTERNS[pat[i]].format(f=f, l=lname, fi=f[:1], n2=digits[i] % 100, n4=1960 + digits[i] % 50)
        else:
            domain = c_domains[company[i]]
            local = WORK_PATTERNS[pat[i]].format(f=f, l=lname, fi=f[:1])
        base = local
        bump = 0
        gmail = domain == "gmail.com"
        while True:
            key = (
                f"{local.replace('.', '') if gmail else local}@{domain}"  # = email_key() for these lower-case addresses
            )
            if key not in email_keys:
                break
            bump += 1
            local = f"{base}{bump + 1}"
        email_keys.add(key)
        if plus[i]:
            local = f"{local}+{PLUS_TAGS[digits[i] % len(PLUS_TAGS)]}"
        email[i] = f"{local}@{domain}"
    email_case_sf = rng.random(n) < 0.15

    # ---- phones: 80% have one, unique per region
    region_of_loc = np.array([regions.index(p.region) for p in pools], dtype=np.int16)
    phone_region = np.where(rng.random(n) < 0.8, region_of_loc[loc], -1).astype(np.int16)
    phone_prefix = np.zeros(n, dtype=np.int32)
    phone_suffix = np.zeros(n, dtype=np.int32)
    phone_prefixes = []
    for r, name in enumerate(regions):
        m = np.flatnonzero(phone_region == r)
        # a partition sizes the number space for the whole org pair's people of this region
        # (at most 999: phone_key keeps three digits for the prefix index)
        k = phones.prefixes_needed(len(m) * part.total // n, cap=999) if part else phones.prefixes_needed(len(m))
        phone_prefixes.append(min(k, len(phones.region_numbers(name, k).prefixes)))
        pi, su = phones.draw_numbers(rng, name, len(m), phone_prefixes[-1])
        if part:
            pi, su = part.taken.redraw_phones(rng, r, name, pi, su, phone_prefixes[-1])
        phone_prefix[m], phone_suffix[m] = pi, su
    phone_fmt_sf = rng.choice(5, size=n, p=[0.3, 0.3, 0.1, 0.2, 0.1]).astype(np.int8)
    phone_fmt_ic = rng.choice(5, size=n, p=[0.6, 0.3, 0.05, 0.0, 0.05]).astype(np.int8)
    has_phone = phone_region >= 0
    phone_keys = set(phone_key(phone_region[has_phone], phone_prefix[has_phone], phone_suffix[has_phone]).tolist())
    if part:
        phone_keys = part.taken.phone_keys(phone_keys)

    # ---- companies
    c_first_user = np.full(k_companies, AS_OF, dtype=np.int64)
    np.minimum.at(c_first_user, company[role == USER], created[role == USER])
    c_created = np.minimum(c_first_user, AS_OF - 30 * DAY) - rng.integers(DAY, 90 * DAY, size=k_companies)
    c_updated = c_created + ((AS_OF - 3600 - c_created) * rng.random(k_companies) ** 2).astype(np.int64)
    num_raw = rng.permutation(k_companies) + rng.integers(10_000, 90_000)
    if part:  # the residue modulo the partition count names the partition: unique across partitions
        num_raw = num_raw * part.count + part.index
    companies = Companies(
        name=np.asarray(c_names, dtype=object),
        domain=np.asarray(c_domains, dtype=object),
        number=np.asarray([f"ACC-{v:07d}" for v in num_raw], dtype=object),
        industry=rng.choice(len(INDUSTRIES), size=k_companies, p=np.array(INDUSTRY_WEIGHTS) / sum(INDUSTRY_WEIGHTS)),
        employees=employees,
        locale=c_loc,
        created=c_created,
        updated=c_updated,
        owner=rng.integers(0, int(owners.has_sf.sum()), size=k_companies).astype(np.int32),
        users=users_per_company,
        website_style=rng.integers(0, 4, size=k_companies).astype(np.int8),
    )
    people = People(
        loc=loc,
        first=first,
        last=last,
        email=email,
        phone_region=phone_region,
        phone_prefix=phone_prefix,
        phone_suffix=phone_suffix,
        phone_fmt_sf=phone_fmt_sf,
        phone_fmt_ic=phone_fmt_ic,
        company=company,
        role=role,
        puid=puid,
        plan=plan,
        trial=trial.astype(np.int8),
        referral=referral,
        lifecycle=lifecycle,
        partner=partner,
        seats=seats,
        title=title,
        created=created,
        updated=updated,
        owner=owner,
        converted=converted,
        lead_created=lead_created,
        lead_status=lead_status,
        email_case_sf=email_case_sf,
    )
    app_id = "".join(np.asarray(list("abcdefghijklmnopqrstuvwxyz0123456789"))[rng.integers(0, 36, size=8)])
    app_id = part.app_id if part else app_id
    return World(
        seed,
        size,
        AS_OF,
        app_id,
        pools,
        regions,
        owners,
        companies,
        people,
        name_keys,
        email_keys,
        phone_keys,
        phone_prefixes,
    )
