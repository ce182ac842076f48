"""Column values of people and company rows, chunk by chunk, with the planted overrides applied.

A frame is a dict of numpy object arrays keyed by logical names (first, last, email, phone, puid,
plan, ...), shared by the Salesforce and Intercom writers, which only rename and format.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from crmsandbox.generator.addresses import addresses
from crmsandbox.generator.plant import Extra
from crmsandbox.generator.pools import INDUSTRIES
from crmsandbox.generator.values import mixed_case_email, phone_text
from crmsandbox.generator.world import LIFECYCLE, PLANS, REFERRAL_IC, REFERRAL_SF, TRIALS, USER, World

CHUNK = 50_000
_PLANS = np.asarray(PLANS, dtype=object)
_TRIALS = np.asarray(TRIALS, dtype=object)
_REF_SF = np.asarray(REFERRAL_SF, dtype=object)
_REF_IC = np.asarray(REFERRAL_IC, dtype=object)
_LIFE = np.asarray(LIFECYCLE, dtype=object)
_INDUSTRY = np.asarray(INDUSTRIES, dtype=object)


def _obj(a: Any) -> np.ndarray:
    out = np.empty(len(a), dtype=object)
    out[:] = list(a) if not isinstance(a, np.ndarray) else a
    return out


def person_frame(w: World, pidx: np.ndarray, side: str, delay: np.ndarray) -> dict[str, np.ndarray]:
    """Clean values of persons `pidx` as system `side` ('sf' or 'ic') holds them."""
    p = w.people
    user = p.role[pidx] == USER
    email = p.email[pidx].copy()
    if side == "sf":
        mixed = p.email_case_sf[pidx]
        email[mixed] = [mixed_case_email(e) for e in email[mixed]]
    fmt = p.phone_fmt_sf if side == "sf" else p.phone_fmt_ic
    regions = w.regions
    phone = _obj(
        [
            phone_text(regions, r, a, b, f)
            for r, a, b, f in zip(
                p.phone_region[pidx], p.phone_prefix[pidx], p.phone_suffix[pidx], fmt[pidx], strict=True
            )
        ]
    )
    shift = delay[pidx] if side == "sf" else 0
    ref = _REF_SF if side == "sf" else _REF_IC
    partner = p.partner[pidx].copy()
    if side == "ic":  # Intercom holds codes as typed; the mapping trims and upper-cases them
        has = np.flatnonzero(partner != None)  # noqa: E711
        partner[has[::3]] = [v.lower() for v in partner[has[::3]]]
        partner[has[1::3]] = [v + " " for v in partner[has[1::3]]]
    return {
        "first": p.first[pidx].copy(),
        "last": p.last[pidx].copy(),
        "email": email,
        "phone": phone,
        "puid": p.puid[pidx].copy(),
        "plan": np.where(user, _PLANS[p.plan[pidx]], None),
        "trial": np.where(user, _TRIALS[p.trial[pidx]], None),
        "referral": ref[p.referral[pidx]],
        "lifecycle": _LIFE[p.lifecycle[pidx]],
        "partner": partner,
        "seats": np.where(user, p.seats[pidx].astype(object), None),
        "created": _obj(p.created[pidx] + shift),
        "updated": _obj(p.updated[pidx] + shift),
        "role": _obj(p.role[pidx]),
        "lead_status": _obj(p.lead_status[pidx]),
        "owner": _obj(p.owner[pidx]),
        "company": _obj(p.company[pidx]),
        "title": p.title[pidx].copy(),
        "loc": _obj(p.loc[pidx]),
        "addr": np.asarray(pidx, dtype=np.int64).copy(),  # whose address (addresses.py): the person's own
    }


def person_address(w: World, frame: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Street, city, state and postal code of a frame's rows (addresses.py), and the country."""
    out = addresses(w.seed, frame["addr"], [w.pools[lc].locale for lc in frame["loc"]])
    out["country_code"] = np.asarray([w.pools[lc].region for lc in frame["loc"]], dtype=object)
    return out


def company_frame(w: World, cidx: np.ndarray, side: str, delay: np.ndarray) -> dict[str, np.ndarray]:
    co = w.companies
    shift = delay[cidx] if side == "sf" else 0
    return {
        "name": co.name[cidx].copy(),
        "domain": co.domain[cidx].copy(),
        "number": co.number[cidx].copy(),
        "industry": _INDUSTRY[co.industry[cidx]],
        "employees": _obj(co.employees[cidx]),
        "created": _obj(co.created[cidx] + shift),
        "updated": _obj(co.updated[cidx] + shift),
        "owner": _obj(co.owner[cidx]),
        "website_style": _obj(co.website_style[cidx]),
        "users": _obj(co.users[cidx]),
        "loc": _obj(co.locale[cidx]),
    }


def apply_overrides(frame: dict[str, np.ndarray], idx: np.ndarray, ov: dict[str, dict[int, Any]]) -> None:
    """Overrides keyed by person/company index, for base rows."""
    for key, d in ov.items():
        if not d:
            continue
        keys = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
        pos = np.flatnonzero(np.isin(idx, keys))
        col = frame[key]
        for j in pos:
            col[j] = d[int(idx[j])]


def apply_extras(frame: dict[str, np.ndarray], extras: list[Extra]) -> None:
    for j, e in enumerate(extras):
        for key, v in e.ov.items():
            frame[key][j] = v
        if "created" in e.ov:
            frame["updated"][j] = max(frame["updated"][j], e.ov["created"] + 3600)


def chunks(n: int, size: int = CHUNK) -> Iterator[tuple[int, int]]:
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)
