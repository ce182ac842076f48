"""Company scenarios: orphan Accounts and companies, duplicate Accounts, Account drift and quality."""

from __future__ import annotations

from typing import Any

import numpy as np

from crmsandbox.generator.plant import Extra, PlanterBase, Ref, _entry, _Picker
from crmsandbox.generator.pools import INDUSTRIES


class CompanyScenarios(PlanterBase):
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
        fields = list(self.m.account_fields)
        if not fields:
            return  # no Account field is mapped
        fld = fields[int(rng.integers(0, len(fields)))]
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
        lag = self.m.lag(self.m.account_fields[fld][1])
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
