"""Hard negatives: look-alike people who are not duplicates, as real orgs have them.

Each scenario adds a new, correctly linked person (a Contact and its Intercom user, with their own email,
phone and product user id) who resembles an existing clean person, and lists the pair in truth.json with
``expected: false`` (kind ``duplicate`` in each system, and ``identity_gap`` across), so an audit that
reports it is wrong:

* ``namesake_colleague``: the same first and last name at the same company;
* ``namesake_elsewhere``: the same first and last name at another company;
* ``lookalike_colleague``: a first name one letter from a colleague's (Maria / Marie), same last name;
* ``family_member``: the same last name, home phone and home address (a household), another first name,
  own email;
* ``natural_namesake``: with the rate ``name_frequency`` above 0 names are drawn by how common they are, so
  different people share a full name by chance; the clean, linked users sharing one are listed too, each
  group as a chain of pairs (nothing is added for it).

Every other look-alike lives at an address of its own (addresses.py: an index past the people's).
Planted after every other scenario with an rng of its own, from people no other scenario touched.
"""

from __future__ import annotations

import numpy as np

from crmsandbox.generator.plant import Extra, PlanterBase, Ref, _entry
from crmsandbox.generator.pools import fold
from crmsandbox.generator.values import phone_text
from crmsandbox.generator.world import USER

SCENARIOS = ("namesake_colleague", "namesake_elsewhere", "lookalike_colleague", "family_member")


def _one_edit(a: str, b: str) -> bool:
    """True when b is a or one substitution, insertion or deletion away (folded, not equal)."""
    a, b = fold(a), fold(b)
    if a == b or abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 3:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    s, t = (a, b) if len(a) < len(b) else (b, a)
    return any(t[:k] + t[k + 1 :] == s for k in range(len(t)))


class HardNegatives:
    """Plants the hard negatives into a planter's plan (after its other scenarios)."""

    def __init__(self, planter: PlanterBase, seed: int) -> None:
        self.pl = planter
        self.rng = np.random.Generator(np.random.PCG64([seed, 7]))

    def _untouched(self) -> np.ndarray:
        w, plan = self.pl.w, self.pl.plan
        p = w.people
        used: set[int] = set()
        for e in plan.truth:
            for table, (tag, v) in e["records"]:
                used.add(int(plan.extras[table][v].src) if tag == "x" else int(v))
        for ov in (plan.sf_ov, plan.ic_ov):
            for d in ov.values():
                used.update(int(i) for i in d)
        ok = (p.role == USER) & plan.sf_present & plan.ic_present & ~plan.no_conversations
        ok &= plan.co_sf[p.company] & plan.co_ic[p.company] & (p.phone_region >= 0)
        ok[list(used)] = False
        return np.flatnonzero(ok)

    def plant(self) -> None:
        r = self.pl.r
        untouched = self._untouched()
        if r.get("name_frequency", 0) > 0:
            self._natural_namesakes(untouched)
        pool = self.rng.permutation(untouched)
        pos = 0
        n_users = int((self.pl.w.people.role == USER).sum())
        puids = set(self.pl.w.people.puid[self.pl.w.people.role == USER].tolist())
        self._puids = puids
        for scenario in SCENARIOS:
            n = 0 if r[scenario] <= 0 else max(1, int(round(r[scenario] * n_users)))
            done = 0
            while done < n and pos < len(pool):
                i = int(pool[pos])
                pos += 1
                if getattr(self, f"_{scenario}")(i, pool):
                    done += 1

    # ------------------------------------------------------------ helpers
    def _puid(self) -> str:
        alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
        while True:
            v = "usr_" + "".join(alphabet[k] for k in self.rng.integers(0, 36, size=12))
            if v not in self._puids:
                self._puids.add(v)
                return v

    def _add(self, src: int, like: int, ov: dict, variant: str, phone: tuple[int, int, int] | None) -> None:
        """A new person copied from ``src`` with ``ov``, in both systems, and its truth entries against ``like``."""
        pl, w = self.pl, self.pl.w
        p = w.people
        if phone is None:
            phone = pl.new_phone(src)
        reg, a, b = phone
        k_sf, k_ic = len(pl.plan.extras["Contact"]), len(pl.plan.extras["ic_contact"])
        base = {
            "addr": p.n + k_sf,  # an address of its own (a household passes the one it shares)
            **ov,
            "puid": self._puid(),
            "created": pl.later(p.created[src], 200),
            "title": str(w.people.title[int(self.rng.integers(0, p.n))]),
        }
        sf_ov = {**base, "phone": phone_text(w.regions, reg, a, b, int(p.phone_fmt_sf[src]))}
        ic_ov = {**base, "phone": phone_text(w.regions, reg, a, b, int(p.phone_fmt_ic[src]))}
        pl.plan.extras["Contact"].append(Extra(src, sf_ov, "hard_negative"))
        pl.plan.extras["ic_contact"].append(Extra(src, ic_ov, "hard_negative"))
        sf_new: Ref = ("Contact", ("x", k_sf))
        ic_new: Ref = ("ic_contact", ("x", k_ic))
        sf_like, ic_like = pl.ref(USER, like, "salesforce"), pl.ref(USER, like, "intercom")
        self._truth(sf_like, sf_new, ic_like, ic_new, variant)

    def _truth(self, a: Ref, b: Ref, c: Ref, d: Ref, variant: str) -> None:
        """The four expected-false entries of a look-alike pair: (a, b) in Salesforce, (c, d) in Intercom."""
        truth = self.pl.plan.truth
        truth.append(_entry("duplicate", "salesforce", "Contact", [a, b], expected=False, variant=variant))
        truth.append(_entry("duplicate", "intercom", "contact", [c, d], expected=False, variant=variant))
        truth.append(_entry("identity_gap", "both", "Contact", [a, d], expected=False, variant=variant))
        truth.append(_entry("identity_gap", "both", "Contact", [b, c], expected=False, variant=variant))
        for e in truth[-4:]:
            e["hard_negative"] = True

    def _natural_namesakes(self, untouched: np.ndarray) -> None:
        """List the clean users (``untouched``) who share a full name (folded) as expected false: each group of
        namesakes as a chain of pairs (first with second, second with third, ...). Every pair of a group is a
        pair of namesakes, but listing them all grows with the square of a common name's count (hundreds of
        millions of entries at ten million people); the chain keeps truth.json linear in the people."""
        p, pl = self.pl.w.people, self.pl
        groups: dict[tuple[str, str], list[int]] = {}
        for i in untouched.tolist():
            groups.setdefault((fold(str(p.first[i])), fold(str(p.last[i]))), []).append(i)
        for members in groups.values():
            for i, j in zip(members, members[1:], strict=False):
                sf_i, sf_j = pl.ref(USER, i, "salesforce"), pl.ref(USER, j, "salesforce")
                ic_i, ic_j = pl.ref(USER, i, "intercom"), pl.ref(USER, j, "intercom")
                self._truth(sf_i, sf_j, ic_i, ic_j, "natural_namesake")

    def _work_email(self, src: int) -> str:
        domain = str(self.pl.w.companies.domain[self.pl.w.people.company[src]])
        return self.pl.new_email(src, domain)

    # ------------------------------------------------------------ scenarios
    def _namesake_colleague(self, i: int, pool: np.ndarray) -> bool:
        self._add(i, i, {"email": self._work_email(i)}, "namesake_colleague", None)
        return True

    def _namesake_elsewhere(self, i: int, pool: np.ndarray) -> bool:
        p = self.pl.w.people
        j = int(pool[int(self.rng.integers(0, len(pool)))])
        if p.company[j] == p.company[i] or p.loc[j] != p.loc[i]:
            return False
        ov = {"first": str(p.first[i]), "last": str(p.last[i]), "email": self._work_email(j)}
        self._add(j, i, ov, "namesake_elsewhere", None)
        return True

    def _lookalike_colleague(self, i: int, pool: np.ndarray) -> bool:
        p, w = self.pl.w.people, self.pl.w
        first, last = str(p.first[i]), str(p.last[i])
        names = [f for f in w.pools[p.loc[i]].first if _one_edit(first, f) and self.pl.name_free(f, last)]
        if not names:
            return False
        new = names[int(self.rng.integers(0, len(names)))]
        self.pl.claim_name(new, last)
        ov = {"first": new}
        ov["email"] = self._work_email(i)
        self._add(i, i, ov, "lookalike_colleague", None)
        return True

    def _family_member(self, i: int, pool: np.ndarray) -> bool:
        p, w = self.pl.w.people, self.pl.w
        last = str(p.last[i])
        firsts = [f for f in w.pools[p.loc[i]].first if fold(f) != fold(str(p.first[i])) and self.pl.name_free(f, last)]
        if not firsts:
            return False
        j = int(pool[int(self.rng.integers(0, len(pool)))])
        if p.loc[j] != p.loc[i] or p.company[j] == p.company[i]:  # works elsewhere (a colleague is another case)
            return False
        new = firsts[int(self.rng.integers(0, len(firsts)))]
        self.pl.claim_name(new, last)
        home = (int(p.phone_region[i]), int(p.phone_prefix[i]), int(p.phone_suffix[i]))
        ov = {"first": new, "last": last, "email": self._work_email(j), "addr": i}
        self._add(j, i, ov, "family_member", home)
        return True
