"""Whether a link or a duplicate is proven (deterministic) or only likely (fuzzy), and its evidence field by field.

syncaudit writes identity keys and merges records on its own only on deterministic evidence: an identity key,
or an exact normalized email with an agreeing name. Anything else becomes a review item showing the evidence,
and a person decides. :func:`is_deterministic` is the one place that decides; when the audit's finding carries
its own verdict (``extra.deterministic`` and ``extra.evidence``, from the matching step), that verdict is used.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from syncaudit.changes.context import PlanContext, sf_object, split_records

# Rules of findings whose link rests on an exact normalized email (audit/linking.py, audit/duplicates.py).
EMAIL_RULES = ("email_fallback",)


def finding_extra(finding: dict[str, Any]) -> dict[str, Any]:
    extra = finding.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return {}
    return extra if isinstance(extra, dict) else {}


def name_key(value: Any) -> str:
    """A name compared as people read it: accents, case, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKD", str(value or ""))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def email_key(value: Any) -> str:
    return str(value or "").strip().lower()


def _sf_name(rec: dict[str, Any]) -> str:
    name = rec.get("Name") or " ".join(str(rec.get(k) or "") for k in ("FirstName", "LastName"))
    return name_key(name)


def _row(field: str, sf: Any, ic: Any, agrees: bool | None) -> dict[str, Any]:
    return {"field": field, "salesforce": sf, "intercom": ic, "agrees": agrees}


def _agree(a: str, b: str) -> bool | None:
    return None if not a or not b else a == b


def link_evidence(ctx: PlanContext, finding: dict[str, Any]) -> list[dict[str, Any]]:
    """Field-by-field evidence of a cross-system link: the finding's own, else name, email, phone and keys."""
    extra = finding_extra(finding)
    if isinstance(extra.get("evidence"), list):
        return extra["evidence"]
    sf_ids, ic_ids = split_records(finding.get("records") or [])
    if len(sf_ids) != 1 or len(ic_ids) != 1:
        return []
    obj = sf_object(sf_ids[0]) or ""
    people = obj in ("Contact", "Lead")
    sf = ctx.record("salesforce", obj, sf_ids[0]) or {}
    ic = ctx.record("intercom", "contact" if people else "company", ic_ids[0]) or {}
    ident = ctx.cfg.mapping.identity
    out = []
    if people:
        out.append(_row("name", sf.get("Name"), ic.get("name"), _agree(_sf_name(sf), name_key(ic.get("name")))))
        out.append(
            _row(
                "email",
                sf.get("Email"),
                ic.get("email"),
                _agree(email_key(sf.get("Email")), email_key(ic.get("email"))),
            )
        )
        out.append(_row("phone", sf.get("Phone"), ic.get("phone"), None))
        sk, ik = ident.people.salesforce_key, ident.people.intercom_key
    else:
        out.append(
            _row("name", sf.get("Name"), ic.get("name"), _agree(name_key(sf.get("Name")), name_key(ic.get("name"))))
        )
        out.append(_row("website", sf.get("Website"), ic.get("website"), None))
        sk, ik = ident.companies.salesforce_key, ident.companies.intercom_key
    sv, iv = sf.get(sk), ic.get(ik)
    out.append(_row(f"identity key ({sk} / {ik})", sv, iv, _agree(str(sv or ""), str(iv or ""))))
    if finding.get("confidence") is not None:
        out.append(_row("match probability", None, None, None) | {"value": finding.get("confidence")})
    return out


def matching_verdict(finding: dict[str, Any]) -> bool | None:
    """The audit's own verdict on a link or duplicate (``extra.deterministic``), or None when it gives none.
    The one place that reads it: if the matching step names its flag differently, this is the edit."""
    verdict = finding_extra(finding).get("deterministic")
    return verdict if isinstance(verdict, bool) else None


def is_deterministic(ctx: PlanContext, finding: dict[str, Any], evidence: list[dict[str, Any]]) -> bool:
    """True when the link is proven: the matching step's verdict when it gives one; else (what the finding says
    today: audit/linking.py finds gaps by the email fallback or a fuzzy match) an exact normalized email and an
    agreeing name. Fuzzy matches, domain or name fallbacks are never proven."""
    verdict = matching_verdict(finding)
    if verdict is not None:
        return verdict
    if finding.get("rule") not in EMAIL_RULES:
        return False
    by = {e.get("field"): e for e in evidence}
    return bool((by.get("email") or {}).get("agrees")) and bool((by.get("name") or {}).get("agrees"))


def duplicate_is_deterministic(ctx: PlanContext, finding: dict[str, Any], records: list[dict[str, Any]]) -> bool:
    """An Intercom duplicate group merged only when proven: the matching step's verdict, else one exact
    normalized email shared by every record and one agreeing name."""
    verdict = matching_verdict(finding)
    if verdict is not None:
        return verdict
    emails = {email_key(r.get("email")) for r in records}
    names = {name_key(r.get("name")) for r in records}
    return len(emails) == 1 and "" not in emails and len(names) == 1 and "" not in names


def duplicate_evidence(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per field, the values of the records of a duplicate group (Intercom side) and whether they agree."""
    out = []
    for fld in ("name", "email", "phone", "external_id", "role"):
        values = [r.get(fld) for r in records]
        keys = {name_key(v) if fld == "name" else email_key(v) for v in values if v}
        out.append({"field": fld, "values": values, "agrees": None if not keys else len(keys) == 1})
    return out
