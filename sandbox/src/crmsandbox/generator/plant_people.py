"""People scenarios: orphans, duplicates, identity gaps, ambiguous and stale links."""

from __future__ import annotations

from typing import Any

import numpy as np

from crmsandbox.generator.plant import Extra, PlanterBase, Ref, _entry, _Picker, sf_obj
from crmsandbox.generator.pools import NICKNAMES, fold
from crmsandbox.generator.values import mixed_case_email
from crmsandbox.generator.world import DAY, LEAD, USER, email_key


class PeopleScenarios(PlanterBase):
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
            for i in pick.take(r["owner_conflict"]):
                self._drift_person(role, int(i), "owner")

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
