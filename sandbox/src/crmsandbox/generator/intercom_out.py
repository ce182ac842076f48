"""Write the Intercom half of the load folder in the API's JSON shapes (version 2.16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson

from crmsandbox.generator.conversations import CONTACT_TAGS, TAGS, TITLES, Conversations
from crmsandbox.generator.frames import (
    apply_extras,
    apply_overrides,
    chunks,
    company_frame,
    person_address,
    person_frame,
)
from crmsandbox.generator.layout import Layout
from crmsandbox.generator.plant import Plan
from crmsandbox.generator.salesforce_out import COUNTRY
from crmsandbox.generator.values import full_name, website_ic
from crmsandbox.generator.world import USER, World
from crmsandbox.intercom.catalog import STANDARD_ATTRIBUTES

TAG_BASE = 81
CONTACT_ATTRIBUTES = [
    ("plan_type", "string", "Plan type"),
    ("trial_status", "string", "Trial status"),
    ("referral_source", "string", "Referral source"),
    ("lifecycle_stage", "string", "Lifecycle stage"),
    ("partner_code", "string", "Partner code"),
    ("seats", "integer", "Seats"),
]
# The standard attributes the load folder lists, in its order (the data the generator fills; the emulator adds the
# other standard ones itself). Their data types come from the emulator's catalog: one source of truth.
_LISTED_CONTACT = (
    "name",
    "email",
    "phone",
    "external_id",
    "role",
    "owner_id",
    "created_at",
    "signed_up_at",
    "last_seen_at",
    "updated_at",
    "unsubscribed_from_emails",
)


def _standard(model: str, names: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(name, data_type) of the catalog's standard attributes of ``model``: all of them, or ``names`` in that order."""
    catalog = STANDARD_ATTRIBUTES[model]
    if names is None:
        return list(catalog)
    types = dict(catalog)
    return [(n, types[n]) for n in names]


STANDARD_CONTACT = _standard("contact", _LISTED_CONTACT)
STANDARD_COMPANY = _standard("company")


def _lst(url: str, data: list | None = None) -> dict[str, Any]:
    data = data or []
    return {"type": "list", "data": data, "url": url, "total_count": len(data), "has_more": False}


class ContactValues(NamedTuple):
    id: str
    workspace_id: str
    external_id: str | None
    role: str
    email: str | None
    phone: str | None
    name: str | None
    owner_id: str | None
    created_at: int
    updated_at: int
    last_seen_at: int | None
    country_code: str
    custom_attributes: dict[str, Any]
    tag: str | None
    company: str | None
    city: str | None = None  # the location's city and region (Intercom's geolocation of the contact)
    region: str | None = None


def _email_domain(email: str | None) -> str | None:
    return email.rsplit("@", 1)[-1].lower() if email and "@" in email else None


# Keys every generated contact has with the same value: serialised once and spliced in.
_CONTACT_CONSTANT = orjson.dumps(
    {
        "avatar": None, "social_profiles": {"type": "list", "data": []}, "has_hard_bounced": False,
        "marked_email_as_spam": False, "unsubscribed_from_emails": False, "last_replied_at": None,
        "last_contacted_at": None, "last_email_opened_at": None, "last_email_clicked_at": None,
        "language_override": None, "browser": None, "browser_version": None, "browser_language": None, "os": None,
        "utm_campaign": None, "utm_content": None, "utm_medium": None, "utm_source": None, "utm_term": None,
        "referrer": None, "enabled_push_messaging": None,
    }
)[1:]  # fmt: skip
_LOCATION: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}


def contact_json(v: ContactValues) -> bytes:
    """One contact in the API's shape (2.16), as a JSON line without the newline."""
    cid = v.id
    user = v.role == "user"
    tags = [{"type": "tag", "id": v.tag, "url": f"/tags/{v.tag}"}] if v.tag else []
    companies = [{"type": "company", "id": v.company, "url": f"/companies/{v.company}"}] if v.company else []
    place = (v.country_code, v.city, v.region)
    location = _LOCATION.get(place)
    if location is None:  # one dict per place (a few thousand): orjson serialises it the same
        location = _LOCATION[place] = {
            "type": "location", "country": COUNTRY[v.country_code], "region": v.region, "city": v.city,
            "country_code": v.country_code, "continent_code": None,
        }  # fmt: skip
    subs = _lst(f"/contacts/{cid}/subscriptions")
    variable = {
        "type": "contact", "id": cid, "workspace_id": v.workspace_id, "external_id": v.external_id, "role": v.role,
        "email": v.email, "email_domain": _email_domain(v.email), "phone": v.phone, "name": v.name,
        "owner_id": v.owner_id, "created_at": v.created_at, "updated_at": v.updated_at,
        "signed_up_at": v.created_at if user else None, "last_seen_at": v.last_seen_at, "location": location,
        "custom_attributes": v.custom_attributes,
        "tags": _lst(f"/contacts/{cid}/tags", tags),
        "notes": _lst(f"/contacts/{cid}/notes"),
        "companies": _lst(f"/contacts/{cid}/companies", companies),
        "opted_out_subscription_types": subs,
        "opted_in_subscription_types": subs,
    }  # fmt: skip
    return orjson.dumps(variable)[:-1] + b"," + _CONTACT_CONSTANT


def tag_id(k: int) -> str:
    return str(TAG_BASE + k)


def write_contacts(out: Path, w: World, pl: Plan, lay: Layout, seed: int) -> int:
    rng = np.random.Generator(np.random.PCG64([seed, 4]))
    extras = pl.extras["ic_contact"]
    segments = [(lay.ic_p, None), (np.array([e.src for e in extras], dtype=np.int64), extras)]
    co_row = lay.row_of["ic_company"]
    admin_ids = lay.admin_ids
    seats_as_string = pl.seats_as_string
    row = 0
    with open(out / "contacts.jsonl", "wb") as fh:
        for pidx, ex in segments:
            for lo, hi in chunks(len(pidx)):
                idx = pidx[lo:hi]
                f = person_frame(w, idx, "ic", pl.sync_delay)
                if ex is None:
                    apply_overrides(f, idx, pl.ic_ov)
                else:
                    apply_extras(f, ex[lo:hi])
                tags = np.where(rng.random(len(idx)) < 0.1, rng.integers(0, len(CONTACT_TAGS), size=len(idx)), -1)
                seen = rng.random(len(idx))
                place = person_address(w, f)
                cols = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in f.items()}
                rows = zip(
                    lay.ids["ic_contact"][row : row + len(idx)], cols["role"], cols["email"], cols["created"], cols["updated"],
                    cols["first"], cols["last"], cols["loc"], cols["owner"], cols["company"], cols["puid"], cols["phone"],
                    cols["plan"], cols["trial"], cols["referral"], cols["lifecycle"], cols["partner"], cols["seats"],
                    tags.tolist(), seen.tolist(), place["city"].tolist(), place["state"].tolist(), strict=True,
                )  # fmt: skip
                buf = bytearray()
                for (
                    cid,
                    role_i,
                    email,
                    created,
                    updated,
                    first,
                    last,
                    loc,
                    owner,
                    company,
                    puid,
                    phone,
                    plan,
                    trial,
                    ref,
                    life,
                    partner,
                    seats,
                    t,
                    sn,
                    city,
                    region,
                ) in rows:
                    user = role_i == USER
                    updated = max(updated, created)
                    ca = (
                        {
                            "plan_type": plan,
                            "trial_status": trial,
                            "referral_source": ref,
                            "lifecycle_stage": life,
                            "partner_code": partner,
                            "seats": str(seats) if seats_as_string and seats is not None else seats,
                        }
                        if user
                        else {"referral_source": ref, "lifecycle_stage": life}
                    )
                    cr = int(co_row[company]) if user else -1
                    v = ContactValues(
                        cid, w.app_id, puid if user else None, "user" if user else "lead", email, phone,
                        full_name(first, last) if last is not None else None, admin_ids[owner], created, updated,
                        updated + int((w.as_of - updated) * sn) if user else None, w.pools[loc].region, ca,
                        tag_id(t) if t >= 0 else None, lay.ids["ic_company"][cr] if cr >= 0 else None, city, region,
                    )  # fmt: skip
                    buf += contact_json(v)  # appended at once: orjson's result over-allocates
                    buf += b"\n"
                fh.write(buf)
                row += len(idx)
    return row


def write_companies(out: Path, w: World, pl: Plan, lay: Layout) -> int:
    cidx = lay.co_c
    # user_count = Intercom users attached (base rows of present users)
    p = w.people
    users = np.bincount(p.company[pl.ic_present & (p.role == USER)], minlength=w.companies.n)
    with open(out / "companies.jsonl", "wb") as fh:
        for lo, hi in chunks(len(cidx)):
            idx = cidx[lo:hi]
            f = company_frame(w, idx, "ic", pl.co_delay)
            apply_overrides(f, idx, pl.co_ov)
            buf = bytearray()
            for j, c in enumerate(idx):
                created, updated = int(f["created"][j]), max(int(f["updated"][j]), int(f["created"][j]))
                buf += orjson.dumps(
                    {
                        "type": "company",
                        "id": lay.ids["ic_company"][lo + j],
                        "company_id": f["number"][j],
                        "app_id": w.app_id,
                        "name": f["name"][j],
                        "remote_created_at": created,
                        "created_at": created,
                        "updated_at": updated,
                        "last_request_at": updated,
                        "monthly_spend": int(users[c]) * 49,
                        "session_count": int(users[c]) * 17,
                        "user_count": int(users[c]),
                        "size": f["employees"][j],
                        "website": website_ic(f["domain"][j]),
                        "industry": f["industry"][j],
                        "plan": _plan(pl.company_plan.get(int(c))),
                        "custom_attributes": {},
                        "tags": {"type": "tag.list", "tags": []},
                        "segments": {"type": "segment.list", "segments": []},
                    }
                )
                buf += b"\n"
            fh.write(buf)
    return len(cidx)


def _plan(name: str | None) -> dict[str, Any]:
    """A company's plan as the API shows it; ``{}`` when none."""
    if name is None:
        return {}
    return {"type": "plan", "id": str(1000 + sum(map(ord, name))), "name": name}


def write_conversations(out: Path, w: World, lay: Layout, conv: Conversations) -> int:
    p, o = w.people, w.owners
    ic_row = lay.row_of["ic_contact"]
    part_id = 1_000_000_000 + lay.num_offset
    with open(out / "conversations.jsonl", "wb") as fh:
        for lo, hi in chunks(len(conv.ids)):
            buf = bytearray()
            for c in range(lo, hi):
                i = int(conv.p[c])
                cid = lay.ids["ic_contact"][ic_row[i]]
                role = "user" if p.role[i] == USER else "lead"
                created, updated, state = int(conv.created[c]), int(conv.updated[c]), int(conv.state[c])
                a = int(conv.admin[c])
                admin = (
                    {"type": "admin", "id": lay.admin_ids[a], "name": f"{o.first[a]} {o.last[a]}", "email": o.email[a]}
                    if a >= 0
                    else None
                )
                contact_name = f"{p.first[i]} {p.last[i]}"
                author = {"type": role, "id": cid, "name": contact_name, "email": p.email[i]}
                n_parts = int(conv.n_parts[c])
                step = max(1, (updated - created) // (n_parts + 1))
                parts = []
                for k in range(n_parts):
                    by_admin = k % 2 == 0 and admin is not None
                    last = k == n_parts - 1
                    kind = (
                        "close"
                        if last and state == 0 and admin
                        else ("snoozed" if last and state == 2 and admin else "comment")
                    )
                    t = created + step * (k + 1)
                    parts.append(
                        {
                            "type": "conversation_part",
                            "id": str(part_id),
                            "part_type": kind,
                            "body": None
                            if kind != "comment"
                            else ("<p>Thanks, looking into it.</p>" if by_admin else "<p>Any update on this?</p>"),
                            "created_at": t,
                            "updated_at": t,
                            "notified_at": t,
                            "assigned_to": None,
                            "author": admin if (by_admin or kind != "comment") else author,
                            "attachments": [],
                            "external_id": None,
                            "redacted": False,
                            "state": ("closed", "open", "snoozed")[state] if last else "open",
                            "tags": [],
                        }
                    )
                    part_id += 1
                tg = int(conv.tag[c])
                tags = (
                    [
                        {
                            "type": "tag",
                            "id": tag_id(len(CONTACT_TAGS) + tg),
                            "name": TAGS[tg],
                            "applied_at": created,
                            "applied_by": {"type": "admin", "id": admin["id"] if admin else lay.admin_ids[-1]},
                        }
                    ]
                    if tg >= 0
                    else []
                )
                title = TITLES[conv.title[c]]
                buf += orjson.dumps(
                    {
                        "type": "conversation",
                        "id": conv.ids[c],
                        "title": title,
                        "created_at": created,
                        "updated_at": updated,
                        "waiting_since": None if state == 0 else updated,
                        "snoozed_until": updated + 86_400 * 3 if state == 2 else None,
                        "open": state != 0,
                        "state": ("closed", "open", "snoozed")[state],
                        "read": True,
                        "priority": "none",
                        "admin_assignee_id": int(admin["id"]) if admin else None,
                        "team_assignee_id": None,
                        "tags": {"type": "tag.list", "tags": tags},
                        "source": {
                            "type": "conversation",
                            "id": str(part_id - n_parts - 1),
                            "delivered_as": "customer_initiated",
                            "subject": "",
                            "body": f"<p>{title}</p>",
                            "author": author,
                            "attachments": [],
                            "url": None,
                            "redacted": False,
                        },
                        "contacts": {
                            "type": "contact.list",
                            "contacts": [
                                {"type": "contact", "id": cid, "external_id": None if role == "lead" else p.puid[i]}
                            ],
                        },
                        "teammates": {
                            "type": "admin.list",
                            "admins": [{"type": "admin", "id": admin["id"]}] if admin else [],
                        },
                        "custom_attributes": {},
                        "first_contact_reply": {"created_at": created, "type": "conversation", "url": None},
                        "sla_applied": None,
                        "statistics": None,
                        "conversation_rating": None,
                        "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": False},
                        "conversation_parts": {
                            "type": "conversation_part.list",
                            "conversation_parts": parts,
                            "total_count": n_parts,
                        },
                    }
                )
                buf += b"\n"
            fh.write(buf)
    return len(conv.ids)


def _dump(path: Path, obj: Any) -> None:
    path.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n")


def write_reference(out: Path, w: World, lay: Layout, seats_as_string: bool = False) -> None:
    """admins.json, tags.json and data_attributes.json (list responses' shapes)."""
    o = w.owners
    admins = [
        {
            "type": "admin",
            "id": lay.admin_ids[k],
            "name": f"{o.first[k]} {o.last[k]}",
            "email": o.email[k],
            "job_title": "Account Executive" if o.has_sf[k] else "Support Specialist",
            "away_mode_enabled": False,
            "away_mode_reassign": False,
            "has_inbox_seat": True,
            "team_ids": [],
            "role": None,
        }
        for k in range(o.n)
        if o.has_ic[k]
    ]
    _dump(out / "admins.json", {"type": "admin.list", "admins": admins})
    names = [*CONTACT_TAGS, *TAGS]
    _dump(
        out / "tags.json",
        {"type": "list", "data": [{"type": "tag", "id": tag_id(k), "name": n} for k, n in enumerate(names)]},
    )
    created = w.as_of - 900 * 86_400
    attrs: list[dict[str, Any]] = []
    for model, std in (("contact", STANDARD_CONTACT), ("company", STANDARD_COMPANY)):
        for name, dtype in std:
            attrs.append(
                {
                    "type": "data_attribute",
                    "name": name,
                    "full_name": name,
                    "label": name.replace("_", " ").capitalize(),
                    "description": "",
                    "data_type": dtype,
                    "api_writable": name not in ("created_at", "updated_at"),
                    "ui_writable": False,
                    "messenger_writable": False,
                    "custom": False,
                    "archived": False,
                    "model": model,
                }
            )
    admin0 = next(a["id"] for a in admins)
    for k, (name, dtype, label) in enumerate(CONTACT_ATTRIBUTES):
        dtype = "string" if name == "seats" and seats_as_string else dtype
        attrs.append(
            {
                "id": 37 + k,
                "type": "data_attribute",
                "name": name,
                "full_name": f"custom_attributes.{name}",
                "label": label,
                "description": "",
                "data_type": dtype,
                "api_writable": True,
                "ui_writable": True,
                "messenger_writable": False,
                "custom": True,
                "archived": False,
                "admin_id": admin0,
                "created_at": created,
                "updated_at": created,
                "model": "contact",
            }
        )
    _dump(out / "data_attributes.json", {"type": "list", "data": attrs})
