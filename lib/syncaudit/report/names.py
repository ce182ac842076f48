"""Plain words for what the reports show: finding kinds, pages, systems, durations, record links.

Stakeholders read "Missing counterpart", not ``orphan``; "35 days", not "3024000 s"; and a record id they
can click. Record links follow the vendors' own URL shapes:

- Salesforce Lightning: ``https://<instance>/lightning/r/<Object>/<Id>/view`` (the instance URL of the org);
- Intercom: ``https://app.intercom.com/a/apps/<app_id>/users/<id>/all`` for a contact and
  ``.../companies/<id>`` for a company (``app.eu.intercom.com`` / ``app.au.intercom.com`` for the EU and
  Australian regions, read from the API base URL). The app id is the workspace id (``id_code``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

KIND_LABELS: dict[str, str] = {
    "duplicate": "Duplicate records",
    "orphan": "Missing counterpart",
    "identity_gap": "Link key missing or different",
    "ambiguous_link": "Key matches several records",
    "stale_link": "Link points at a converted or merged record",
    "field_drift": "Values that disagree",
    "schema_conflict": "Incompatible field definitions",
    "quality": "Data-quality rule failed",
    "conversation_unlogged": "Conversation not logged in Salesforce",
    "conversation_misfiled": "Conversation logged on the wrong record",
    "rule_violation": "Business rule broken",
}

PAGE_TITLES: dict[str, str] = {
    "00_pull": "Data pulled",
    "10_schema_mapping": "Schema and mapping",
    "20_identity_links": "Identity links",
    "30_field_drift": "Values that disagree",
    "40_duplicates": "Duplicates",
    "50_data_quality": "Data quality",
    "60_fixup_plan": "Fix-up plan",
    "70_apply": "Apply (rehearsal)",
    "80_rollback": "Rollback",
    "90_monthly_summary": "Monthly summary",
}

# The page that explains a kind and carries its worklist.
KIND_PAGES: dict[str, str] = {
    "duplicate": "40_duplicates",
    "orphan": "20_identity_links",
    "identity_gap": "20_identity_links",
    "ambiguous_link": "20_identity_links",
    "stale_link": "20_identity_links",
    "field_drift": "30_field_drift",
    "schema_conflict": "10_schema_mapping",
    "quality": "50_data_quality",
    "conversation_unlogged": "20_identity_links",
    "conversation_misfiled": "20_identity_links",
    "rule_violation": "90_monthly_summary",
}

SYSTEM_LABELS = {"salesforce": "Salesforce", "intercom": "Intercom", "both": "both systems"}

# Intercom object names as the API spells them -> one label; Salesforce objects keep their API names.
_OBJECT_LABELS = {"contact": "Intercom contact", "contacts": "Intercom contact", "company": "Intercom company",
                  "companies": "Intercom company", "conversation": "Intercom conversation",
                  "conversations": "Intercom conversation"}  # fmt: skip


def kind_label(kind: object) -> str:
    """``orphan`` -> "Missing counterpart"; an unknown kind is shown with spaces for underscores."""
    k = str(kind or "")
    return KIND_LABELS.get(k, k.replace("_", " ").capitalize() or "(unknown)")


def page_title(name: str) -> str:
    """``40_duplicates`` -> "Duplicates" (a team's own notebook: its name without the number)."""
    return PAGE_TITLES.get(name, re.sub(r"^\d+_", "", name).replace("_", " ").capitalize())


def system_label(system: object) -> str:
    return SYSTEM_LABELS.get(str(system or ""), str(system or "—"))


def object_label(obj: object, system: object = None) -> str:
    """One name per object whatever its case: Intercom's ``contact`` and Salesforce's ``Contact`` stay apart."""
    o = str(obj or "").strip()
    if not o:
        return "—"
    if o.lower() in _OBJECT_LABELS and (system in (None, "intercom") or o.islower()):
        return _OBJECT_LABELS[o.lower()]
    return o[:1].upper() + o[1:]


def human_duration(seconds: object) -> str:
    """37883339 -> "438 days"; 95 -> "1.6 minutes"; None -> "—"."""
    try:
        s = float(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if s != s:  # NaN
        return "—"
    a = abs(s)
    for limit, unit, size in ((60, "second", 1), (3600, "minute", 60), (86400 * 2, "hour", 3600)):
        if a < limit:
            v = s / size
            text = f"{v:.0f}" if unit == "second" or v >= 10 or v == round(v) else f"{v:.1f}"
            return f"{text} {unit}{'' if text == '1' else 's'}"
    days = round(s / 86400)
    return f"{days:,} day{'' if days == 1 else 's'}"


# ---------------------------------------------------------------- record links

_SF_PREFIX = {"001": "Account", "003": "Contact", "00Q": "Lead", "005": "User", "00T": "Task", "500": "Case",
              "006": "Opportunity", "00U": "Event"}  # fmt: skip
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def salesforce_object_of(record_id: str) -> str | None:
    """The object a Salesforce id belongs to, from its key prefix (None when unknown)."""
    return _SF_PREFIX.get(record_id[:3]) if _SF_ID.match(record_id) else None


def intercom_app_base(api_base_url: str | None, app_id: str | None) -> str | None:
    """``https://app.intercom.com/a/apps/<app_id>`` (regional host from the API base URL), or None."""
    if not app_id:
        return None
    host = "app.intercom.com"
    for region in ("eu", "au"):
        if api_base_url and f"api.{region}.intercom.io" in api_base_url:
            host = f"app.{region}.intercom.com"
    return f"https://{host}/a/apps/{app_id}"


def record_url(record_id: str, links: Mapping[str, Any], obj: str | None = None) -> str | None:
    """The URL of a record in its system's app, or None when the base is unknown.

    ``links``: ``{"salesforce": instance URL, "intercom": intercom_app_base(...)}``.
    """
    rid = str(record_id)
    sf_obj = salesforce_object_of(rid)
    if sf_obj or (obj and obj[:1].isupper() and _SF_ID.match(rid)):
        base = links.get("salesforce")
        return f"{base.rstrip('/')}/lightning/r/{sf_obj or obj}/{rid}/view" if base else None
    base = links.get("intercom")
    # Intercom ids: 24 hex characters (contacts, companies) or digits (conversations); anything else is no id.
    if not base or not re.match(r"^(?:[0-9a-f]{24}|\d{1,20})$", rid):
        return None
    if obj and obj.lower() in {"company", "companies", "account"}:
        return f"{base}/companies/{rid}"
    if rid.isdigit() or (obj and obj.lower() in {"conversation", "conversations"}):
        return f"{base.replace('/a/apps/', '/a/inbox/')}/inbox/conversation/{rid}"
    return f"{base}/users/{rid}/all"


def record_links_html(records: object, links: Mapping[str, Any], obj: str | None = None, keep: int = 3) -> str:
    """Escaped HTML: the first ``keep`` record ids, each a link when its system's base URL is known."""
    ids = [str(r) for r in (records if isinstance(records, list | tuple) else [])]
    parts = []
    for rid in ids[:keep]:
        url = record_url(rid, links, obj if not salesforce_object_of(rid) else None)
        text = html.escape(rid)
        parts.append(f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{text}</a>' if url else text)
    more = f" … (+{len(ids) - keep})" if len(ids) > keep else ""
    return ", ".join(parts) + more
