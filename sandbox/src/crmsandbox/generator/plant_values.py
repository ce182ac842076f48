"""Value scenarios on linked pairs: field drift (owner/non-owner, within/beyond the lag), quality, schema conflicts."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from crmsandbox.generator.plant import (
    PlanterBase,
    _entry,
    _valid_phone,
    sf_obj,
)
from crmsandbox.generator.pools import fold
from crmsandbox.generator.values import phone_text
from crmsandbox.generator.world import LEAD, REFERRAL_SF, USER


class ValueScenarios(PlanterBase):
    def _new_value(self, fld: str, i: int) -> tuple[str, Any, Any]:
        """(override key, Salesforce value, Intercom value) of a changed value for field `fld`."""
        from crmsandbox.generator.world import LIFECYCLE, PLANS, REFERRAL_IC, TRIALS

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
        if fld == "owner":
            # Salesforce: another sales rep with an Intercom seat (so the sync could carry it over);
            # Intercom: any other admin, support agents included (an agent who assigned themselves).
            o, cur = self.w.owners, int(p.owner[i])
            reps = np.flatnonzero(o.has_ic[: int(o.has_sf.sum())])
            admins = np.flatnonzero(o.has_ic)
            return "owner", self._other(reps, cur), self._other(admins, cur)
        if fld == "seats":
            v = int(p.seats[i]) + int(rng.integers(1, 20))
            return "seats", float(v), v
        raise ValueError(fld)

    def _other(self, pool: np.ndarray, cur: int) -> int:
        """A member of `pool` other than `cur` (pools hold at least two owners)."""
        while True:
            k = int(pool[int(self.rng.integers(0, len(pool)))])
            if k != cur:
                return k

    def _drift_person(self, role: int, i: int, fld: str | None = None) -> None:
        """A linked pair that disagrees on `fld` (a random mapped value field when None)."""
        pl, rng = self.plan, self.rng
        mapped = {**self.m.people_fields, **self.m.reference_fields}
        if fld is None:
            fields = [f for f, (_, _, objs) in self.m.people_fields.items() if role in objs]
            if role == USER and self.w.people.phone_region[i] < 0 and "phone" in fields:
                fields.remove("phone")
            if not fields:
                return  # nothing of this role is mapped: drift here would be invisible to the audit
            fld = fields[int(rng.integers(0, len(fields)))]
        if fld not in mapped or role not in mapped[fld][2]:
            return
        owner, direction, _ = mapped[fld]
        key, sf_val, ic_val = self._new_value(fld, i)
        mode = self._mode()
        old_t, new_t = self.times(i)
        if mode == "within":
            new_t = self.w.as_of - int(self.m.lag(direction) * rng.uniform(0.1, 0.8))
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
            # each variant keeps every digit, so two people never share a malformed number
            style = int(self.rng.integers(0, 3))
            cc, rest = e164[:3], e164[3:]
            candidates = [
                cc + rest.replace("0", "O").replace("1", "l"),
                e164 + "99999",
                f"{cc} {rest[:3]}--{rest[3:]}#",
                e164 + "99999",
            ]
            value = next(v for v in candidates[style:] if v != e164 and not _valid_phone(v))
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
