"""Mask personal data (emails, phones, names) before it reaches a stakeholder report.

Masking happens on the data, before display: a table column is masked by what it
holds (its name says email, phone or a person's name), a free-text value by
pattern (emails, phone numbers), and a finding's values by the mapping field it
concerns. Company names are business data and stay readable. Everything is
vectorised over pandas columns, so masking a large table costs no Python loop
per row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Literal

import pandas as pd

PersonalKind = Literal["email", "phone", "name"]

EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+-])[\w.+-]*@+((?:[\w-]+\.)*[\w-]{2,})", re.UNICODE)
# (also a malformed address: ann@@x.de, dave@icloud -- a failing quality rule shows exactly those)
# A phone in free text: a leading + and 7+ digits, or groups split by separators holding 9+ digits.
# Bare digit runs (ids, counts) and ISO dates (8 digits) are left alone.
PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+\d[\d ().-]{5,}\d|\(?\d{2,4}\)?[ .-]\d{2,4}[ .-]\d{2,5}(?:[ .-]\d{1,5})?)(?![\w])"
)

_NAME_COLUMNS = {
    "name",
    "firstname",
    "lastname",
    "middlename",
    "suffix",
    "full_name",
    "fullname",
    "first_name",
    "last_name",
    "contact_name",
    "person_name",
    "owner_name",
    "survivor_name",
    "record_name",
    "survivor_owner",
    "record_owner",
}
# Objects whose Name is a business, not a person.
_BUSINESS_OBJECTS = {"account", "company", "companies", "opportunity", "campaign"}


def personal_kind(column: str, obj: str | None = None) -> PersonalKind | None:
    """What personal data a column of that name holds (None: not personal)."""
    leaf = column.rsplit(".", 1)[-1].lower().removesuffix("__c")
    if leaf.startswith("evidence_"):  # a worklist's "same / differs" per field, not the field's value
        return None
    if "email" in leaf:
        return "email"
    if "phone" in leaf or "mobile" in leaf or leaf in {"fax", "tel", "telephone"}:
        return "phone"
    if leaf in _NAME_COLUMNS:
        if obj and obj.lower() in _BUSINESS_OBJECTS:
            return None
        return "name"
    return None


_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}\b")


def mask_phone_match(m: re.Match[str]) -> str:
    """Regex callback: mask a phone number found in text, but leave dates (2026-11-26 12) alone."""
    found = m.group(0)
    return found if _DATE_LIKE.match(found) else mask_phone(found)


def mask_email(value: str) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com`` (the domain stays: it is the company's).

    A malformed address (``dave@icloud``, ``ann@@x.de``, ``bo @x.io``) is masked too: its first character
    and what follows the last ``@``.
    """
    if "@" not in value:
        return _stars(value)
    masked = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)
    if masked == value:
        local, _, domain = value.rpartition("@")
        masked = f"{local.strip()[:1]}***@{domain.strip()}"
    # An address field can hold more than an address ("Jane Doe <jane@x.com>", a phone after it): those go too.
    return sweep_text(LEADING_NAMED_EMAIL_RE.sub(_mask_display_name, masked))


def mask_phone(value: str) -> str:
    """Keep only the last two digits: ``+1 415 555 0132`` -> ``***32``."""
    digits = re.sub(r"\D", "", value)
    return "***" + digits[-2:] if len(digits) >= 4 else "***"


def mask_name(value: str) -> str:
    """Initials only: ``Jane Doe`` -> ``J*** D***``."""
    parts = [p for p in re.split(r"\s+", value.strip()) if p]
    return " ".join(p[0] + "***" for p in parts) if parts else value


def _stars(value: str) -> str:
    return "***" if value else value


_MASKERS = {"email": mask_email, "phone": mask_phone, "name": mask_name}


def mask_value(value: object, kind: PersonalKind) -> object:
    """Mask one value of a known kind; non-strings (None, numbers) pass through."""
    if not isinstance(value, str) or not value:
        return value
    return _MASKERS[kind](value)


def mask_text(text: object, known: Iterable[str] = ()) -> object:
    """Mask emails and phone numbers found in free text, and any of the ``known`` personal values."""
    if not isinstance(text, str) or not text:
        return text
    return sweep_text(replace_known(text, known))


def replace_known(text: str, known: Iterable[str]) -> str:
    """``text`` with each of the ``known`` personal values (3 characters or more) masked, longest first."""
    for raw in sorted({k for k in known if isinstance(k, str) and len(k) >= 3 and k in text}, key=len, reverse=True):
        text = text.replace(raw, _mask_guess(raw))
    return text


# A display name before an address, as mail headers and owner lookups write it: "(Jane Doe <jane@x.com>)".
NAMED_EMAIL_RE = re.compile(r"(?<=[(\[,:'\"])(\s?)([^()\[\]<>,:'\"@]{1,80}?) (<[^<>\s]*@[^<>\s]+>)")


# The same at the start of a value that should be an address ("Jane Doe <jane@x.com>" in an email field).
LEADING_NAMED_EMAIL_RE = re.compile(r"^(\s?)([^()\[\]<>,:'\"@]{1,80}?) (<[^<>\s]*@[^<>\s]+>)")


def _mask_display_name(m: re.Match[str]) -> str:
    return f"{m.group(1)}{mask_name(m.group(2))} {m.group(3)}"


def sweep_text(text: str) -> str:
    """Emails, the display names before them, and phone numbers masked by pattern (ISO dates and bare digit
    runs such as ids stay).

    Safe on JSON text too: no pattern spans a quote or a backslash, and the masks add none.
    """
    if "@" in text:
        text = NAMED_EMAIL_RE.sub(_mask_display_name, text)
        text = EMAIL_RE.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return PHONE_RE.sub(mask_phone_match, text)


def _mask_guess(raw: str) -> str:
    if "@" in raw:
        return mask_email(raw)
    if sum(c.isdigit() for c in raw) >= 7:
        return mask_phone(raw)
    return mask_name(raw)


def _mask_series(s: pd.Series, kind: PersonalKind) -> pd.Series:
    if kind == "email":
        valid = s.str.replace(EMAIL_RE, lambda m: f"{m.group(1)}***@{m.group(2)}", regex=True)
        # A malformed address the pattern did not change: its first character and what follows the last @.
        malformed = s.str.replace(r"^\s*(\S?)[\s\S]*@([^@]*)$", r"\1***@\2", regex=True)
        masked = _mask_free_text(
            valid.where(valid != s, malformed).str.replace(LEADING_NAMED_EMAIL_RE, _mask_display_name, regex=True)
        )
        return masked.where(s.str.contains("@", regex=False, na=False), s.str.replace(r"^.+$", "***", regex=True))
    if kind == "phone":
        digits = s.str.replace(r"\D", "", regex=True)
        return ("***" + digits.str[-2:]).where(digits.str.len() >= 4, "***").where(s.notna() & (s != ""), s)
    # Names: every word reduced to its initial.
    return s.str.replace(r"(\w)\w*", r"\1***", regex=True)


def mask_frame(df: pd.DataFrame, obj: str | None = None, extra: dict[str, PersonalKind] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with personal columns masked and emails/phones masked in every other text column."""
    out = df.copy()
    kinds = {c: personal_kind(str(c), obj) for c in out.columns}
    kinds.update(extra or {})
    for col in out.columns:
        s = out[col]
        if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
            continue
        text = s.where(s.isna(), s.astype(str)).astype("string")
        kind = kinds.get(col)
        masked = _mask_series(text, kind) if kind else _mask_free_text(text)
        out[col] = masked.astype(object).where(s.notna(), None)
    return out


def _mask_free_text(s: pd.Series) -> pd.Series:
    s = s.str.replace(NAMED_EMAIL_RE, _mask_display_name, regex=True)
    s = s.str.replace(EMAIL_RE, lambda m: f"{m.group(1)}***@{m.group(2)}", regex=True)
    return s.str.replace(PHONE_RE, mask_phone_match, regex=True)


def personal_fields(mapping_fields: Iterable[object]) -> dict[str, PersonalKind]:
    """Mapping field name -> personal kind, for the mapped fields that hold personal data.

    ``mapping_fields`` are :class:`syncaudit.config.FieldMapping` objects; a field is personal when
    either side's column is (``Email``/``email``, ``Phone``, a person's ``Name``).
    """
    out: dict[str, PersonalKind] = {}
    for f in mapping_fields:
        objects = list(getattr(f, "objects", []) or [])
        obj = "Account" if objects and all(o == "Account" for o in objects) else "Contact"
        kind = personal_kind(f.salesforce, obj) or personal_kind(f.intercom, obj) or personal_kind(f.name, obj)
        if kind:
            out[f.name] = kind
    return out


def mask_findings(df: pd.DataFrame, personal: dict[str, PersonalKind]) -> pd.DataFrame:
    """Mask a findings frame: ``values`` of personal fields, and emails/phones/those values in ``detail``."""
    out = df.copy()
    if "values" in out.columns:
        kinds = out["field"].map(personal) if "field" in out.columns else pd.Series(None, index=out.index)
        known: list[list[str]] = []
        masked_values = []
        for vals, kind in zip(out["values"], kinds, strict=True):
            raw = [v for v in (vals or {}).values() if isinstance(v, str)] if isinstance(vals, dict) else []
            known.append(raw if isinstance(kind, str) else [])
            if isinstance(vals, dict) and isinstance(kind, str):
                masked_values.append({k: mask_value(v, kind) for k, v in vals.items()})  # type: ignore[arg-type]
            elif isinstance(vals, dict):
                masked_values.append({k: mask_text(v) for k, v in vals.items()})
            else:
                masked_values.append(vals)
        out["values"] = masked_values
        if "detail" in out.columns:
            out["detail"] = [mask_text(d, k) for d, k in zip(out["detail"], known, strict=True)]
    for col in ("detail", "suggested_fix"):
        if col in out.columns:
            out[col] = _mask_free_text(out[col].astype("string")).astype(object).where(out[col].notna(), None)
    return out


# Keys inside a personal field's part of a finding that hold record ids or names of things, not the person's data.
_STRUCTURAL_KEYS = {"from", "id", "ids", "record", "records", "source", "target", "field", "object", "system", "rule"}


def mask_json(node: object, kind: PersonalKind | None = None, known: set[str] | None = None) -> object:
    """A copy of a JSON value with every string masked: as ``kind`` when given, else emails/phones by pattern.

    Under a ``kind``, keys that hold record ids (``from``, ``records``...) keep their values. Strings masked as a
    kind are added to ``known``, so the caller can mask them in free text too.
    """
    if isinstance(node, str):
        if kind is None:
            return sweep_text(node) if node else node
        if known is not None and node:
            known.add(node)
        return mask_value(node, kind)
    if isinstance(node, list):
        return [mask_json(v, kind, known) for v in node]
    if isinstance(node, dict):
        return {k: mask_json(v, None if k in _STRUCTURAL_KEYS else kind, known) for k, v in node.items()}
    return node


def mask_finding(finding: dict, personal: dict[str, PersonalKind]) -> dict:
    """One finding (a findings.jsonl line) for a stakeholder: personal values masked wherever they sit.

    ``values`` are masked as the kind of the finding's ``field``; in ``extra``, every personal mapping field's part
    (a merge proposal is keyed by field) is masked as its kind, and so are the finding's own field's values found
    as ``{salesforce, intercom}`` (e.g. normalized); ``detail`` and ``suggested_fix`` lose those
    values and any email or phone number; record ids and the vocabulary keys stay as they are.
    """
    known: set[str] = set()
    out = dict(finding)
    kind = personal.get(str(finding.get("field")))
    values = finding.get("values")
    if isinstance(values, dict):
        out["values"] = {k: mask_json(v, kind, known) for k, v in values.items()}
    extra = finding.get("extra")
    parsed = _json_object(extra) if isinstance(extra, str) else extra
    if isinstance(parsed, dict):
        masked = _mask_extra(parsed, personal, known, kind)
        out["extra"] = json.dumps(masked, ensure_ascii=False) if isinstance(extra, str) else masked
    for key, value in finding.items():
        if key in {"values", "extra", "records", "id", "kind", "system", "object", "field", "rule"}:
            continue
        if isinstance(value, str):
            out[key] = mask_text(value, known)
        else:
            out[key] = mask_json(value, None, known)
    return out


_SIDES = {"salesforce", "intercom"}
# Evidence fields (extra.evidence.pairs[].fields) whose values are not personal; any other field's values (names,
# emails, phones, addresses, birth dates) are masked.
_EVIDENCE_PLAIN = {"company", "title", "country", "state", "domain", "identity key"}


def _mask_extra(
    node: object, personal: dict[str, PersonalKind], known: set[str], field_kind: PersonalKind | None
) -> object:
    if isinstance(node, dict):
        if field_kind and node and set(node) <= _SIDES:  # the finding's field on both sides (e.g. normalized values)
            return mask_json(node, field_kind, known)
        if {"field", "left", "right"} <= set(node):  # a match's evidence: the two records' values of one field
            f = str(node.get("field"))
            kind = None if f in _EVIDENCE_PLAIN else (personal.get(f) or personal_kind(f) or "name")
            return {k: mask_json(v, kind, known) if k in ("left", "right") else v for k, v in node.items()}
        out = {}
        for k, v in node.items():
            kind = personal.get(k) or (personal_kind(k) if k not in _STRUCTURAL_KEYS else None)
            out[k] = mask_json(v, kind, known) if kind else _mask_extra(v, personal, known, field_kind)
        return out
    if isinstance(node, list):
        return [_mask_extra(v, personal, known, field_kind) for v in node]
    return mask_json(node, None, known)


def _json_object(text: str) -> object:
    try:
        return json.loads(text) if text[:1] == "{" else None
    except ValueError:
        return None
