"""The matching fields of the mapping at work: checked against a snapshot, turned into SQL columns.

Every object pair declares the fields the probabilistic matching compares (``ObjectPair.match_fields``,
defaults in :data:`syncaudit.config.DEFAULT_MATCH_FIELDS`). A default field the org does not have gives
no evidence; a field the user declared that the snapshot lacks, or whose type cannot hold what its
comparison compares, is rejected before any work (exit 2) by :func:`check_match_fields`.

Each comparison column is built per record by :func:`column_sql`, already normalized for its type:
names folded (lower case, no accents or punctuation), emails and domains canonical, phones as their
last 9 digits (equal for every formatting of one number), dates as ISO dates, free text folded.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncaudit.config import Mapping, MatchField
from syncaudit.errors import ConfigError
from syncaudit.loadfolder import q
from syncaudit.mapping import Metadata, domain_sql, email_sql

TEXTUAL = {"string", "textarea", "picklist", "combobox", "multipicklist", "email", "phone", "url"}
# Salesforce field types each comparison can read.
SF_TYPES: dict[str, set[str]] = {
    "first_name": TEXTUAL,
    "last_name": TEXTUAL,
    "text": TEXTUAL,
    "street": TEXTUAL,
    "city": TEXTUAL,
    "state": TEXTUAL,
    "country": TEXTUAL,
    "company_name": TEXTUAL,
    "postal_code": TEXTUAL | {"int", "double"},
    "email": {"email", "string", "textarea"},
    "phone": {"phone", "string"},
    "domain": {"url", "string", "email"},
    "date": {"date", "datetime", "string"},
    "identifier": TEXTUAL | {"id", "reference", "int", "long", "double"},
}
# Intercom data types each comparison can read (dates are unix times or ISO strings).
IC_TYPES: dict[str, set[str]] = {k: {"string"} for k in SF_TYPES}
IC_TYPES["date"] = {"date", "integer", "string"}
IC_TYPES["identifier"] = {"string", "integer"}
IC_TYPES["postal_code"] = {"string", "integer"}
# Intercom columns that are not attributes: the split full name, the location parts, the first company.
IC_DERIVED = {"contact": {"location.city", "location.region", "location.country", "companies.name"}, "company": set()}
# Lower case without accents, and the letters that have no accent to strip (ł ø ß ı đ æ þ ...: letters of
# their own, which strip_accents keeps) folded the way an ASCII-only system writes them.
FOLD_SQL = (
    "replace(replace(replace(replace(translate(lower(strip_accents(nfc_normalize(coalesce({x}, '')))), "
    "'łøđðħıŀŧŋ', 'loddhiltn'), 'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'þ', 'th')"
)
NAME_SQL = (
    "nullif(trim(regexp_replace(regexp_replace(" + FOLD_SQL + ", '[^\\pL\\s''-]', ' ', 'g'), '\\s+', ' ', 'g')), '')"
)
TEXT_SQL = "nullif(trim(regexp_replace(" + FOLD_SQL + ", '[^\\pL\\pN]+', ' ', 'g')), '')"


def name_sql(x: str) -> str:
    """A person or company name for matching: lower case, no accents, punctuation and digits removed."""
    return NAME_SQL.format(x=x)


def text_sql(x: str) -> str:
    """Free text for matching (a street, a city, a title): folded like names, anything but letters and
    digits a single space."""
    return TEXT_SQL.format(x=x)


def phone_key_sql(x: str) -> str:
    """The last 9 digits of a phone number: equal for most formattings of one number, without parsing."""
    return f"nullif(right(regexp_replace(coalesce({x}, ''), '[^0-9]', '', 'g'), 9), '')"


@dataclass(frozen=True)
class Column:
    """One comparison column of a model: its name and comparison type."""

    name: str
    compare: str


def pair_fields(m: Mapping, kind: str) -> dict[str, list[MatchField]]:
    """Salesforce object -> its matching fields, for the people pairs (kind people) or the Account pair."""
    out: dict[str, list[MatchField]] = {}
    for p in m.objects:
        if (p.salesforce == "Account") == (kind == "company"):
            out.setdefault(p.salesforce, p.effective_match_fields())
    return out


def columns(m: Mapping, kind: str) -> list[Column]:
    """The comparison columns of the model, in declared order (one per field name)."""
    seen: dict[str, str] = {}
    for fields in pair_fields(m, kind).values():
        for f in fields:
            seen.setdefault(f.name, f.compare)
    return [Column(n, c) for n, c in seen.items()]


def _declared(m: Mapping, obj: str) -> bool:
    return any(p.salesforce == obj and p.match_fields is not None for p in m.objects)


def check_match_fields(m: Mapping, md: Metadata) -> None:
    """Reject declared matching fields the snapshot lacks or whose type does not fit the comparison,
    and a pair none of whose fields exists (nothing to compare). Defaults the org lacks are skipped."""
    problems: list[str] = []
    for kind in ("people", "company"):
        compares: dict[str, str] = {}
        for obj, fields in pair_fields(m, kind).items():
            declared = _declared(m, obj)
            model = "company" if obj == "Account" else "contact"
            usable = 0
            for f in fields:
                if compares.setdefault(f.name, f.compare) != f.compare:
                    problems.append(
                        f"match field '{f.name}' of {obj} is compared as {f.compare} but as {compares[f.name]} in "
                        "another pair: one name means one comparison, rename one of them"
                    )
                for system, ref in (("salesforce", f.salesforce), ("intercom", f.intercom)):
                    if ref is None:
                        continue
                    found, ftype = _lookup(md, obj, model, system, ref)
                    known = md.salesforce.get(obj) if system == "salesforce" else True
                    if found:
                        usable += 1
                        allowed = (SF_TYPES if system == "salesforce" else IC_TYPES)[f.compare]
                        if ftype is not None and ftype not in allowed:
                            problems.append(
                                f"match field '{f.name}' of {obj}: {system} field {ref} is of type {ftype}, which a "
                                f"{f.compare} comparison cannot read (it reads {', '.join(sorted(allowed))}); "
                                "choose another comparison or field"
                            )
                    elif declared and known:
                        where = f"Salesforce {obj}" if system == "salesforce" else f"Intercom {model}s"
                        problems.append(
                            f"match field '{f.name}' of {obj}: {where} have no field {ref} in the snapshot; "
                            "correct the name (API names are case-sensitive) or remove the field from match_fields"
                        )
            if declared and usable == 0 and md.salesforce.get(obj):
                problems.append(
                    f"match_fields of the {obj} pair: none of the fields exists in the snapshot, so nothing can be "
                    "compared; list fields the org has, or leave match_fields out for the defaults"
                )
    if problems:
        raise ConfigError(
            "the matching fields do not fit the snapshot:\n" + "\n".join(f"  - {p}" for p in problems),
            key="mapping.objects[].match_fields",
            hint="fix the fields named above in the config's mapping.objects",
        )


def _lookup(md: Metadata, obj: str, model: str, system: str, ref: str) -> tuple[bool, str | None]:
    """(exists, type) of a matching field reference in the snapshot's metadata."""
    if system == "salesforce":
        target, _, fld = ref.partition(".")
        if fld:
            if target != "Account" or obj == "Account":
                return False, None
            d = md.sf_field("Account", fld)
            return (d is not None and md.sf_field(obj, "AccountId") is not None), (d or {}).get("type")
        d = md.sf_field(obj, ref)
        return d is not None, (d or {}).get("type")
    if ref in IC_DERIVED[model] or (ref == "name"):
        return True, None
    a = md.ic_attr(model, ref)
    return a is not None, (a or {}).get("data_type")


def column_sql(compare: str, raw: str) -> str:
    """The normalized comparison value of ``raw`` (a SQL expression) for a comparison type."""
    v = f"CAST({raw} AS VARCHAR)"
    if compare in ("first_name", "last_name", "company_name"):
        return name_sql(v)
    if compare == "email":
        return email_sql(v)
    if compare == "phone":
        return phone_key_sql(v)
    if compare == "domain":
        return domain_sql(v)
    if compare == "date":
        return f"CAST(TRY_CAST(left(trim({v}), 10) AS DATE) AS VARCHAR)"
    if compare == "postal_code":
        return f"nullif(upper(regexp_replace(coalesce({v}, ''), '[^0-9A-Za-z]', '', 'g')), '')"
    if compare == "identifier":
        return f"nullif(trim({v}), '')"
    return text_sql(v)


def sf_source_sql(view: str, cols: list[str], ref: str | None, obj: str) -> str:
    """The raw SQL value of a Salesforce matching field on ``view`` (NULL when the org lacks it)."""
    if ref is None:
        return "CAST(NULL AS VARCHAR)"
    target, _, fld = ref.partition(".")
    if fld:
        if target == "Account" and obj != "Account" and "AccountId" in cols:
            return f"(SELECT CAST(a.{q(fld)} AS VARCHAR) FROM sf_Account a WHERE a.Id = {q(view)}.AccountId)"
        return "CAST(NULL AS VARCHAR)"
    return q(ref) if ref in cols else "CAST(NULL AS VARCHAR)"


def ic_source_sql(view: str, cols: list[str], ref: str | None, has_companies: bool) -> str:
    """The raw SQL value of an Intercom matching field on ``view``."""
    if ref is None:
        return "CAST(NULL AS VARCHAR)"
    if ref == "companies.name":
        if has_companies and "company_ids" in cols:
            return f"(SELECT c.name FROM ic_companies c WHERE c.id = {q(view)}.company_ids[1])"
        return "CAST(NULL AS VARCHAR)"
    return q(ref) if ref in cols else "CAST(NULL AS VARCHAR)"


def split_name_sql(compare: str, full: str) -> str:
    """The first or last word of a full name (Intercom's ``name``), for a first/last name comparison."""
    n = name_sql(full)
    if compare == "first_name":
        return f"nullif(split_part({n}, ' ', 1), '')"
    return f"CASE WHEN {n} LIKE '% %' THEN regexp_extract({n}, '([^ ]+)$', 1) END"
