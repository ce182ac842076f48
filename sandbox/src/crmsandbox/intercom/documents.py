"""Record documents: normalizing stored JSON and rendering it in an API version's shape.

Stored documents hold every standard field (null when absent) except the
embedded sub-lists (tags, companies, notes, subscriptions), which live in join
tables and are rendered per request. Rendering applies the version
differences the emulator honours (owner_id type, unassigned ids, priority).
Keys that the official schema declares non-nullable are omitted rather than
sent as null, which the spec allows (no key is required) and clients accept.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import orjson

CONTACT_FIELDS: dict[str, object] = {
    "type": "contact",
    "id": None,
    "workspace_id": None,
    "external_id": None,
    "role": "user",
    "email": None,
    "email_domain": None,
    "phone": None,
    "name": None,
    "avatar": None,
    "owner_id": None,
    "social_profiles": None,
    "has_hard_bounced": False,
    "marked_email_as_spam": False,
    "unsubscribed_from_emails": False,
    "created_at": None,
    "updated_at": None,
    "signed_up_at": None,
    "last_seen_at": None,
    "last_replied_at": None,
    "last_contacted_at": None,
    "last_email_opened_at": None,
    "last_email_clicked_at": None,
    "language_override": None,
    "browser": None,
    "browser_version": None,
    "browser_language": None,
    "os": None,
    "location": None,
    "android_app_name": None,
    "android_app_version": None,
    "android_device": None,
    "android_os_version": None,
    "android_sdk_version": None,
    "android_last_seen_at": None,
    "ios_app_name": None,
    "ios_app_version": None,
    "ios_device": None,
    "ios_os_version": None,
    "ios_sdk_version": None,
    "ios_last_seen_at": None,
    "custom_attributes": None,
    "utm_campaign": None,
    "utm_content": None,
    "utm_medium": None,
    "utm_source": None,
    "utm_term": None,
    "referrer": None,
    "enabled_push_messaging": None,
}
CONTACT_EMBEDDED = ("tags", "notes", "companies", "opted_out_subscription_types", "opted_in_subscription_types")
CONTACT_NON_NULLABLE = ("email", "email_domain")
CONTACT_WRITABLE = {
    "role",
    "external_id",
    "email",
    "phone",
    "name",
    "avatar",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
    "custom_attributes",
    "language_override",
    "email_verified",
}

COMPANY_FIELDS: dict[str, object] = {
    "type": "company",
    "id": None,
    "company_id": None,
    "app_id": None,
    "name": None,
    "remote_created_at": None,
    "created_at": None,
    "updated_at": None,
    "last_request_at": None,
    "monthly_spend": 0,
    "session_count": 0,
    "user_count": 0,
    "size": None,
    "website": None,
    "industry": None,
    "plan": None,
    "custom_attributes": None,
}
COMPANY_WRITABLE = {
    "company_id",
    "name",
    "plan",
    "size",
    "website",
    "industry",
    "custom_attributes",
    "remote_created_at",
    "monthly_spend",
    "update_last_request_at",
    "id",
}


class RawJSON(str):
    """A response body that is already JSON text (pages assembled from stored documents)."""


# orjson writes the same compact UTF-8 JSON as json.dumps(separators=(",", ":"), ensure_ascii=False) several
# times faster (a page of 150 records is most of a list call's server time). Whatever orjson would write
# differently or refuse (datetimes, dataclasses, integers beyond 64 bits, NaN) goes to json.dumps, which
# answers as before.
_ORJSON_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(obj: object) -> str:
    """Compact JSON, as stored and as sent; RawJSON passes through."""
    if isinstance(obj, RawJSON):
        return obj
    try:
        return orjson.dumps(obj, option=_ORJSON_OPTS).decode()
    except TypeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes) -> object:
    """A stored document (json.loads, faster; a document orjson refuses is read by json.loads)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


NEW_VERSIONS = frozenset({"2.16"})  # versions with the 2.16 contact shape (string owner_id, merge_history)


def version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def avatar_object(value: object) -> dict | None:
    """The contact's avatar as Intercom sends it: ``{"type": "avatar", "image_url": ...}`` (writes send a URL)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return {"type": "avatar", "image_url": value.get("image_url")}
    return {"type": "avatar", "image_url": str(value)}


def normalize_contact(obj: dict, app_id: str) -> dict:
    """A complete stored contact document from an API-shaped object (embedded lists dropped)."""
    doc = {k: obj.get(k, v) for k, v in CONTACT_FIELDS.items()}
    doc["type"] = "contact"
    doc["avatar"] = avatar_object(doc["avatar"])
    doc["workspace_id"] = obj.get("workspace_id") or app_id
    if doc["owner_id"] is not None:
        doc["owner_id"] = str(doc["owner_id"])
    if doc["email"] and not doc.get("email_domain"):
        doc["email_domain"] = str(doc["email"]).rpartition("@")[2] or None
    if not doc["social_profiles"]:
        doc["social_profiles"] = {"type": "list", "data": []}
    if not doc["location"]:
        doc["location"] = {
            "type": "location",
            "country": None,
            "region": None,
            "city": None,
            "country_code": None,
            "continent_code": None,
        }
    doc["custom_attributes"] = dict(doc["custom_attributes"] or {})
    for k in ("merge_history",):
        if k in obj:
            doc[k] = obj[k]
    return doc


def contact_text(doc: dict) -> str:
    """The stored JSON text of a contact: keys in CONTACT_FIELDS order (``type`` then ``id`` first), no
    embedded lists, no ``archived`` flag, and non-nullable keys left out when null, so that rendering a
    page is string assembly rather than a parse and a dump per contact."""
    return dumps(
        {
            k: v
            for k, v in doc.items()
            if k not in CONTACT_EMBEDDED and k != "archived" and not (v is None and k in CONTACT_NON_NULLABLE)
        }
    )


def contact_from_text(text: str) -> dict:
    """The contact document (every standard key present) from its stored text."""
    doc = json.loads(text)
    for k in CONTACT_NON_NULLABLE:
        doc.setdefault(k, None)
    return doc


def _embedded(url: str, items: str, shown: int, total: int) -> str:
    more = "true" if total > shown else "false"
    return f'{{"type":"list","data":[{items}],"url":{url},"total_count":{total},"has_more":{more}}}'


EMBED_LIMIT = 10


def render_contact_text(
    text: str, cid: str, version: str, embedded: dict[str, list[str]], *, merge_history: bool = False
) -> str:
    """The contact as the given API version sends it (JSON text), with its embedded tag, note and company
    lists (``embedded``: all ids of each; at most 10 are sent, ``has_more`` beyond). ``merge_history``:
    the 2.16 ``include_merge_history=true`` flag (users only; otherwise the key is not sent). Plain string
    assembly: this runs for every listed contact."""
    if version not in NEW_VERSIONS:
        text = _old_version_contact(text)
    elif merge_history or '"merge_history"' in text:
        text = _merge_history(text, merge_history)
    # an open JSON string literal, completed per list (Intercom ids are hex: no escaping needed)
    base = f'"/contacts/{cid}' if cid.isalnum() else _q(f"/contacts/{cid}")[:-1]
    tags_list = _ref_list(base, "tags", embedded.get("tags"), _tag_item)
    notes_list = _ref_list(base, "notes", embedded.get("notes"), _note_item)
    companies_list = _ref_list(base, "companies", embedded.get("companies"), _company_item)
    subs = f'{{"type":"list","data":[],"url":{base}/subscriptions","total_count":0,"has_more":false}}'
    return (
        f'{text[:-1]},"tags":{tags_list},"notes":{notes_list}'
        f',"companies":{companies_list},"opted_out_subscription_types":{subs},"opted_in_subscription_types":{subs}}}'
    )


def _ref_list(base: str, what: str, ids: list[str] | None, item: Callable[[str], str]) -> str:
    """An embedded list of references (at most EMBED_LIMIT shown); ``base`` is an open JSON string literal."""
    if not ids:
        return f'{{"type":"list","data":[],"url":{base}/{what}","total_count":0,"has_more":false}}'
    shown = ids[:EMBED_LIMIT]
    return _embedded(f'{base}/{what}"', ",".join([item(i) for i in shown]), len(shown), len(ids))


def _tag_item(tag_id: str) -> str:
    return f'{{"type":"tag","id":"{tag_id}","url":"/tags/{tag_id}"}}'  # numeric ids


def _note_item(note_id: str) -> str:
    return f'{{"type":"note","id":"{note_id}","url":"/notes/{note_id}"}}'  # numeric ids


@functools.lru_cache(maxsize=65536)
def _company_item(company_id: str) -> str:
    """An embedded company reference (cached: a company is embedded in many contacts)."""
    return f'{{"type":"company","id":{_q(company_id)},"url":{_q("/companies/" + company_id)}}}'


def _q(value: str) -> str:
    """A JSON string literal; plain ids skip the encoder."""
    return f'"{value}"' if value.replace("-", "").replace("_", "").replace("/", "").isalnum() else dumps(value)


def _old_version_contact(text: str) -> str:
    """Before 2.16: owner_id is an integer and merge_history is not sent."""
    doc = json.loads(text)
    doc.pop("merge_history", None)
    owner = doc.get("owner_id")
    if isinstance(owner, str) and owner.isdigit():
        doc["owner_id"] = int(owner)
    return dumps(doc)


def _merge_history(text: str, wanted: bool) -> str:
    """2.16: ``merge_history`` (the contacts merged into this one) only when asked for, and only on users."""
    doc = json.loads(text)
    history = doc.pop("merge_history", None) or []
    if wanted and doc.get("role") == "user":
        doc["merge_history"] = history
    return dumps(doc)


def merge_history_item(source: dict, merged_at: int) -> dict:
    """One ``merge_history`` entry (schema merge_history_item) for a contact merged into another."""
    return {
        "type": "merge_history",
        "source_contact_id": source["id"],
        "source_contact_role": source["role"],
        "merged_at": merged_at,
    }


def normalize_company(obj: dict, app_id: str) -> dict:
    """A complete stored company document (tags and segments rendered per request)."""
    doc = {k: obj.get(k, v) for k, v in COMPANY_FIELDS.items()}
    doc["type"] = "company"
    doc["app_id"] = obj.get("app_id") or app_id
    doc["custom_attributes"] = dict(doc["custom_attributes"] or {})
    plan = doc["plan"]
    if isinstance(plan, str):
        doc["plan"] = {"type": "plan", "id": plan, "name": plan}
    elif not plan:
        doc["plan"] = {}
    if doc["company_id"] is not None:
        doc["company_id"] = str(doc["company_id"])
    return doc


def render_company(
    doc: dict,
    version: str,
    user_count: int,
    tags: list[tuple[str, str]],
    segments: list[dict] | None = None,
    notes: list[dict] | None = None,
    notes_total: int = 0,
) -> dict:
    """The company as sent: non-nullable fields omitted when unknown, live user_count, tags, segments and
    (2.16) its most recent notes."""
    out = {k: v for k, v in doc.items() if v is not None}
    out["user_count"] = user_count
    out["tags"] = {"type": "tag.list", "tags": [{"type": "tag", "id": i, "name": n} for i, n in tags]}
    out["segments"] = {"type": "segment.list", "segments": segments or []}
    if version_tuple(version) >= (2, 16):
        url = f"/companies/{doc['id']}/notes"
        out["notes"] = {"type": "note.list", "notes": notes or [], "url": url, "total_count": notes_total}
    return out


def _blank_email_is_null(author: object) -> None:
    """An author without an email has ``"email": null`` on the wire (the description: an email or null)."""
    if isinstance(author, dict) and author.get("email") == "":
        author["email"] = None


def normalize_conversation(obj: dict) -> tuple[dict, list[dict]]:
    """Split an API-shaped conversation into its stored document and its parts."""
    doc = dict(obj)
    doc["type"] = "conversation"
    doc["id"] = str(doc["id"])
    parts_obj = doc.pop("conversation_parts", None) or {}
    parts = parts_obj.get("conversation_parts", []) if isinstance(parts_obj, dict) else list(parts_obj)
    for p in parts:
        p.setdefault("type", "conversation_part")
        p["id"] = str(p.get("id"))
        _blank_email_is_null(p.get("author"))
    _blank_email_is_null((doc.get("source") or {}).get("author"))
    doc.setdefault("state", "open")
    doc.setdefault("open", doc["state"] == "open")
    doc.setdefault("read", False)
    doc.setdefault("title", None)
    doc.setdefault("waiting_since", None)
    doc.setdefault("snoozed_until", None)
    doc.setdefault("admin_assignee_id", None)
    doc.setdefault("team_assignee_id", None)
    doc.setdefault("tags", {"type": "tag.list", "tags": []})
    doc.setdefault("contacts", {"type": "contact.list", "contacts": []})
    doc.setdefault("teammates", {"type": "admin.list", "teammates": []})
    doc.setdefault("custom_attributes", {})
    doc.setdefault("source", {"type": "conversation", "id": doc["id"], "delivered_as": "customer_initiated"})
    return doc, parts


_PRIORITY_2_16 = {"priority": "high", "not_priority": "none"}
_PRIORITY_OLD = {"none": "not_priority", "low": "not_priority", "medium": "priority", "high": "priority"}


def render_conversation(doc: dict, version: str, parts: list[dict] | None) -> dict:
    """The conversation as the version sends it; with parts (the 500 most recent) when ``parts`` is given."""
    out = dict(doc)
    new = version_tuple(version) >= (2, 16)
    for key in ("admin_assignee_id", "team_assignee_id"):
        v = out.get(key)
        if v is not None:
            try:
                out[key] = int(v)
            except (TypeError, ValueError):
                out[key] = 0
        if new and out.get(key) is None:
            out[key] = 0
    prio = out.get("priority")
    if prio is not None:
        out["priority"] = _PRIORITY_2_16.get(prio, prio) if new else _PRIORITY_OLD.get(prio, prio)
    if not new:
        for k in ("channel", "company", "external_references"):
            out.pop(k, None)
    elif out.get("priority") is None:
        out["priority"] = "none"
    if out.get("title") is None:
        out["title"] = None
    if parts is not None:
        # assigned_to is a non-nullable reference in the schema: unassigned parts omit it
        recent = [{k: v for k, v in p.items() if not (k == "assigned_to" and v is None)} for p in parts[-500:]]
        out["conversation_parts"] = {
            "type": "conversation_part.list",
            "conversation_parts": recent,
            "total_count": len(recent),
        }
    return out
