"""The mapping spec at work: metadata checks and normalizers.

The spec itself (identity keys, object pairs, field mappings) is validated by
:mod:`syncaudit.config`. Here it meets the two systems' metadata (Salesforce
describe results, Intercom data attributes): :func:`check_mapping` rejects a spec
that cannot be audited at all, and the normalizers become SQL expressions so the
analyses stay set-based in DuckDB. Phone numbers go through ``phonenumbers``
(E.164), registered as a DuckDB function and applied only where a cheap SQL form
is not enough.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import phonenumbers

from syncaudit.config import FieldMapping, Mapping, PicklistMap
from syncaudit.errors import ConfigError
from syncaudit.loadfolder import IC_STANDARD, lit

NUMERIC_SF = {"double", "currency", "percent", "int", "long"}
TEXT_SF = {"string", "email", "phone", "url", "textarea", "picklist", "multipicklist", "combobox", "id", "reference"}
# Salesforce allows only email or text fields as the identifier of the Intercom link.
IDENTIFIER_SF = {"string", "email"}
# Unicode spaces (NBSP, the U+2000 block, ideographic space) count as whitespace everywhere.
_WS = r"[\s\x{00A0}\x{1680}\x{2000}-\x{200B}\x{202F}\x{205F}\x{3000}\x{FEFF}]"


@dataclass
class Metadata:
    """Field metadata of both systems, as read from a snapshot."""

    salesforce: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # object -> field -> describe
    intercom: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # model -> name -> attribute

    def sf_field(self, obj: str, name: str) -> dict[str, Any] | None:
        return self.salesforce.get(obj, {}).get(name)

    def ic_attr(self, model: str, name: str) -> dict[str, Any] | None:
        return self.intercom.get(model, {}).get(name)


def load_metadata(snapshot_path: str | Path) -> Metadata:
    """Read ``salesforce/describe/*.json`` and ``intercom/data_attributes.json`` of a snapshot."""
    root = Path(snapshot_path)
    md = Metadata()
    for p in sorted((root / "salesforce" / "describe").glob("*.json")):
        d = json.loads(p.read_text(encoding="utf-8"))
        md.salesforce[d.get("name") or p.stem] = {f["name"]: f for f in d.get("fields", [])}
    for model, std in IC_STANDARD.items():
        md.intercom[model] = {n: {"name": n, "full_name": n, "data_type": t, "custom": False} for n, t in std.items()}
    da = root / "intercom" / "data_attributes.json"
    if da.is_file():
        raw = json.loads(da.read_text(encoding="utf-8"))
        items = raw.get("data", []) if isinstance(raw, dict) else raw
        for a in items:
            if a.get("archived"):
                continue
            model = a.get("model", "contact")
            full = a.get("full_name") or (f"custom_attributes.{a['name']}" if a.get("custom") else a["name"])
            md.intercom.setdefault(model, {})[full] = {**a, "full_name": full}
    return md


def ic_model(sf_object: str) -> str:
    return "company" if sf_object == "Account" else "contact"


def people_objects(m: Mapping) -> list[tuple[str, str | None]]:
    """(Salesforce object, Intercom role) of the people pairs, in configured order."""
    return [(p.salesforce, p.role) for p in m.objects if p.intercom == "contact"]


def has_companies(m: Mapping) -> bool:
    return any(p.salesforce == "Account" for p in m.objects)


def field_mappings(m: Mapping, sf_object: str) -> list[FieldMapping]:
    return [f for f in m.fields if sf_object in f.objects]


def check_mapping(m: Mapping, md: Metadata) -> None:
    """Reject a spec the audit cannot run: identity keys or field names unknown to both systems.

    A field missing on one side only is a ``schema_conflict`` finding (audit.schema), not an error:
    a field can be deleted in one system after the mapping was written.
    """
    problems: list[str] = []
    ppl = people_objects(m)
    for obj, _ in ppl:
        key = m.identity.people.key_for(obj)
        if key and md.salesforce.get(obj) and md.sf_field(obj, key) is None:
            setting = f"salesforce_keys.{obj}" if obj in m.identity.people.salesforce_keys else "salesforce_key"
            problems.append(
                f"identity.people.{setting}: {obj} has no field '{key}'" + _suggest(key, md.salesforce.get(obj, {}))
            )
    if has_companies(m) and md.salesforce.get("Account"):
        if md.sf_field("Account", m.identity.companies.salesforce_key) is None:
            problems.append(
                f"identity.companies.salesforce_key: Account has no field '{m.identity.companies.salesforce_key}'"
                + _suggest(m.identity.companies.salesforce_key, md.salesforce["Account"])
            )
        if md.ic_attr("company", m.identity.companies.intercom_key) is None:
            problems.append(
                f"identity.companies.intercom_key: Intercom companies have no attribute "
                f"'{m.identity.companies.intercom_key}'"
            )
    configured = {p.salesforce for p in m.objects}
    for f in m.fields:
        for obj in f.objects:
            if obj not in configured:
                problems.append(f"fields.{f.name}: object {obj} is not in mapping.objects; add the pair or drop it")
                continue
            if not md.salesforce.get(obj):
                continue  # nothing known about the object (empty system): nothing to check
            sf_ok = md.sf_field(obj, f.salesforce) is not None
            ic_ok = md.ic_attr(ic_model(obj), f.intercom) is not None
            if not sf_ok and not ic_ok:
                problems.append(
                    f"fields.{f.name}: neither Salesforce {obj}.{f.salesforce} nor Intercom "
                    f"{ic_model(obj)} attribute '{f.intercom}' exists" + _suggest(f.salesforce, md.salesforce[obj])
                )
    if problems:
        raise ConfigError(
            "the mapping names fields the systems do not have:\n" + "\n".join(f"  - {p}" for p in problems),
            key="mapping",
            hint="correct the names (Salesforce API names are case-sensitive; Intercom custom attributes are "
            "written custom_attributes.<name>)",
        )


def _suggest(name: str, fields: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# ---------------------------------------------------------------- normalizers as SQL


def _clean(x: str) -> str:
    return f"nullif(regexp_replace(nfc_normalize({x}), '^{_WS}+|{_WS}+$', '', 'g'), '')"


def domain_sql(x: str) -> str:
    """The registrable host of a URL or an email address, lower case, without www."""
    return (
        f"nullif(regexp_replace(regexp_replace(lower({_clean(x)}), '^([a-z][a-z0-9+.-]*://)?([^@/]*@)?(www\\.)?', ''), "
        "'[:/?#].*$', ''), '')"
    )


def email_sql(x: str) -> str:
    """An email for comparison: lower case, no blanks, no +tag, and no dots in a Gmail local part
    (Gmail ignores them, so both systems may hold either spelling of one mailbox)."""
    e = f"regexp_replace(regexp_replace(lower(nfc_normalize({x})), '{_WS}', '', 'g'), '\\+[^@]*@', '@')"
    return (
        f"nullif(CASE WHEN {e} SIMILAR TO '.*@(gmail|googlemail)\\.com' "
        f"THEN replace(split_part({e}, '@', 1), '.', '') || '@' || split_part({e}, '@', 2) ELSE {e} END, '')"
    )


def phone_fast_sql(x: str, region: str) -> str:
    """E.164 in SQL for the common shapes (+country, 00country, and NANP national numbers);
    NULL when only a real parse can tell, so ``phonenumbers`` runs on the few that remain."""
    d = f"regexp_replace({x}, '[^0-9]', '', 'g')"
    nanp = region in {"US", "CA"}
    parts = [
        f"WHEN regexp_matches({x}, '^[\\s(]*\\+') AND regexp_matches({x}, '^[0-9 ()+.\\-]+$') THEN '+' || {d}",
        f"WHEN regexp_matches({x}, '^\\s*00[1-9]') AND regexp_matches({x}, '^[0-9 ()+.\\-]+$') THEN '+' || substr({d}, 3)",
    ]
    if nanp:
        parts.append(f"WHEN regexp_matches({x}, '^[0-9 ().\\-]+$') AND length({d}) = 10 THEN '+1' || {d}")
        parts.append(
            f"WHEN regexp_matches({x}, '^[0-9 ().\\-]+$') AND length({d}) = 11 AND {d} LIKE '1%' THEN '+' || {d}"
        )
    return f"(CASE WHEN nullif(trim({x}), '') IS NULL THEN NULL {' '.join(parts)} END)"


def phone_digits_sql(x: str) -> str:
    """Digits of a phone number, with a leading + kept: a cheap canonical form."""
    return f"nullif(regexp_replace({x}, '[^0-9+]|(?:.)\\+', '', 'g'), '')"


def normalizer_sql(x: str, normalizers: list[Any], side: str, region: str = "US") -> str:
    """SQL for a value after the mapping's normalizers; picklist maps apply to the Intercom side only."""
    expr = f"CAST({x} AS VARCHAR)"
    for n in normalizers:
        if isinstance(n, PicklistMap):
            if side != "intercom":
                continue
            cases = " ".join(f"WHEN {lit(k.strip().lower())} THEN {lit(v)}" for k, v in n.picklist.items())
            expr = f"(CASE lower(trim({expr})) {cases} ELSE {expr} END)"
        elif n == "email":
            expr = email_sql(expr)
        elif n == "phone_e164":
            expr = f"coalesce({phone_fast_sql(expr, region)}, sa_phone_e164({expr}))"
        elif n == "trim":
            expr = _clean(expr)
        elif n == "whitespace":
            expr = f"nullif(regexp_replace({_clean(expr)}, '{_WS}+', ' ', 'g'), '')"
        elif n == "lower":
            expr = f"lower({expr})"
        elif n == "upper":
            expr = f"upper({expr})"
        elif n == "domain":
            expr = domain_sql(expr)
        elif n == "none":
            pass
        else:  # pragma: no cover - config validation admits only the names above
            raise ConfigError(f"unknown normalizer {n!r}", key="mapping.fields.normalize")
    return expr


def comparable_sql(x: str, sf_type: str | None, normalizers: list[Any], side: str, region: str = "US") -> str:
    """A VARCHAR value ready for comparison: normalized, then typed by the Salesforce field type."""
    v = normalizer_sql(x, normalizers, side, region)
    if sf_type in NUMERIC_SF:
        return f"CAST(TRY_CAST({v} AS DOUBLE) AS VARCHAR)"
    if sf_type == "boolean":
        return f"CAST(TRY_CAST({v} AS BOOLEAN) AS VARCHAR)"
    if sf_type in {"date", "datetime"}:
        cast = "DATE" if sf_type == "date" else "TIMESTAMPTZ"
        return f"CAST(TRY_CAST({v} AS {cast}) AS VARCHAR)"
    if not normalizers:
        # Unmapped text still compares without surrounding blanks and in one Unicode form.
        return _clean(v)
    return v


# ---------------------------------------------------------------- phones


@lru_cache(maxsize=200_000)
def phone_e164(value: str | None, region: str = "US") -> str | None:
    """A phone number in E.164, or the digits when it cannot be parsed (so it is still comparable)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits or None
    if not phonenumbers.is_possible_number(num):
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits or None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def register_functions(con: duckdb.DuckDBPyConnection, m: Mapping) -> None:
    """Register the Python-backed normalizers on a connection (idempotent)."""
    region = m.default_phone_region

    def _e164(v: str | None) -> str | None:
        return phone_e164(v, region)

    try:
        con.remove_function("sa_phone_e164")
    except (duckdb.InvalidInputException, duckdb.CatalogException):
        pass
    con.create_function(
        "sa_phone_e164", _e164, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"), null_handling="special"
    )
