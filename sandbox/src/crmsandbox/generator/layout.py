"""Row layout of every output table, record ids, and resolution of symbolic truth references.

Rows of a table: the base rows (one per person or company present in that system, in index
order), then the extra rows the planter added. Salesforce ids grow with creation time, as in a
real org; Intercom ids embed the creation time like the ObjectIds they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from crmsandbox.generator.ids import ic_hex_ids, numeric_ids, sf_id_counters, sf_ids
from crmsandbox.generator.plant import Plan
from crmsandbox.generator.world import LEAD, USER, World

if TYPE_CHECKING:
    from crmsandbox.generator.partition import Part


@dataclass
class Layout:
    contact_p: np.ndarray
    lead_p: np.ndarray
    cl_p: np.ndarray
    ic_p: np.ndarray
    acc_c: np.ndarray
    co_c: np.ndarray
    ids: dict[str, list[str]] = field(default_factory=dict)
    row_of: dict[str, np.ndarray] = field(default_factory=dict)
    user_ids: list[str] = field(default_factory=list)
    admin_ids: list[str | None] = field(default_factory=list)
    integration_user_id: str = ""
    # one partition of a large org pair (partition.py) keeps its record ids apart from the others': its own
    # Salesforce pod (characters 4-5 of an id), Intercom ObjectId constant and numeric id range
    pod: str = "Dn"
    ic_machine: int = 0
    num_offset: int = 0


def _rows(index: np.ndarray, n: int) -> np.ndarray:
    r = np.full(n, -1, dtype=np.int64)
    r[index] = np.arange(len(index))
    return r


def _sf_ids_by_time(obj: str, created: np.ndarray, rng: np.random.Generator, pod: str = "Dn") -> list[str]:
    counters = sf_id_counters(rng, len(created))
    order = np.argsort(created, kind="stable")
    out = np.empty(len(created), dtype=np.int64)
    out[order] = counters
    return sf_ids(obj, out, pod)


def build_layout(w: World, pl: Plan, seed: int, part: Part | None = None) -> Layout:
    rng = np.random.Generator(np.random.PCG64([seed, 2]))
    p, co = w.people, w.companies
    contact_p = np.flatnonzero((p.role == USER) & pl.sf_present)
    lead_p = np.flatnonzero((p.role == LEAD) & pl.sf_present)
    cl_p = np.flatnonzero((p.role == USER) & pl.sf_present & pl.converted)
    ic_p = np.flatnonzero(pl.ic_present)
    acc_c = np.flatnonzero(pl.co_sf)
    co_c = np.flatnonzero(pl.co_ic)
    lay = Layout(contact_p, lead_p, cl_p, ic_p, acc_c, co_c)
    if part:
        lay.pod, lay.ic_machine, lay.num_offset = part.pod, part.index << 8, part.index * 10**10
    pod = lay.pod
    lay.row_of = {
        "Contact": _rows(contact_p, p.n),
        "Lead": _rows(lead_p, p.n),
        "cl": _rows(cl_p, p.n),
        "ic_contact": _rows(ic_p, p.n),
        "Account": _rows(acc_c, co.n),
        "ic_company": _rows(co_c, co.n),
    }

    def created(base: np.ndarray, extras: list, src_created: np.ndarray) -> np.ndarray:
        ex = np.array([e.ov.get("created", src_created[e.src]) for e in extras], dtype=np.int64)
        return np.concatenate([src_created[base], ex]) if len(ex) else src_created[base]

    lay.ids["Contact"] = _sf_ids_by_time("Contact", created(contact_p, pl.extras["Contact"], p.created), rng, pod)
    lead_created = np.concatenate([p.created[lead_p], p.lead_created[cl_p]])
    ex = np.array([e.ov.get("created", p.created[e.src]) for e in pl.extras["Lead"]], dtype=np.int64)
    lay.ids["Lead"] = _sf_ids_by_time("Lead", np.concatenate([lead_created, ex]), rng, pod)
    lay.ids["Account"] = _sf_ids_by_time("Account", created(acc_c, pl.extras["Account"], co.created), rng, pod)
    ic_created = created(ic_p, pl.extras["ic_contact"], p.created)
    lay.ids["ic_contact"] = ic_hex_ids(ic_created, 0x1BB69F9F21 + lay.ic_machine)
    lay.ids["ic_company"] = ic_hex_ids(co.created[co_c], 0x1BB69F9F22 + lay.ic_machine)

    o = w.owners
    n_users = int(o.has_sf.sum())
    lay.user_ids = sf_ids("User", sf_id_counters(rng, n_users + 1))
    lay.integration_user_id = lay.user_ids[-1]
    admin_num = numeric_ids(991_267_400, o.n, rng)
    lay.admin_ids = [admin_num[k] if o.has_ic[k] else None for k in range(o.n)]
    if part:  # Users and admins are the whole org pair's
        lay.user_ids, lay.admin_ids = part.user_ids, part.admin_ids
        lay.integration_user_id = lay.user_ids[-1]
    return lay


def resolve(lay: Layout, ref: tuple[str, tuple[str, int]]) -> str:
    """Turn a symbolic reference (table, (kind, index)) into the record id."""
    table, (kind, idx) = ref
    if table in ("Task", "Case", "conversation"):
        return lay.ids[table][idx]
    ids = lay.ids[table]
    if kind in ("p", "c"):
        row = int(lay.row_of[table][idx])
        if row < 0:
            raise KeyError(f"{table} has no row for {kind}{idx}")
        return ids[row]
    if kind == "cl":
        return ids[len(lay.lead_p) + int(lay.row_of["cl"][idx])]
    base = {
        "Contact": len(lay.contact_p),
        "Lead": len(lay.lead_p) + len(lay.cl_p),
        "Account": len(lay.acc_c),
        "ic_contact": len(lay.ic_p),
    }[table]
    return ids[base + idx]
