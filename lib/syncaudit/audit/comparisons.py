"""The comparisons of the matching model: levels per comparison type, blocking and training rules.

One Splink comparison per matching field, from its comparison type, levels ordered strongest first:
names (exact with term frequencies, nicknames many-to-many, swapped first/last, an initial, one edit,
similar; a whole name that agrees is one level of its own, below), emails, phones and domains (a shared value has its own, weak level), one address comparison
for all address parts (they are not independent evidence), dates (exact, one digit or day/month
swapped), free text and exact identifiers. A field empty on either record is Splink's null level: no
evidence. Blocking keeps candidate pairs linear in the data: an own (unshared) email, phone or domain,
or name parts narrowed by a company, postal code, date or city (or two of those together, but never two address
parts: a postal code and its city are one place), or a street address with its postal code or city.

First and last names are not independent: both follow the same language, family and region, so a common
first name goes with a common surname of its population more often than chance. Term frequencies counted
per part and multiplied would call a frequent full name (a common given name with the common surname of the
same population) rarer than it is. So when both records have a first and a last name and both agree, the
first-name comparison gives no evidence of its own and the last-name comparison's top level, "same first and
last name", weighs the pair by the term frequency of the whole name (``FULL_NAME``, the two normalized parts
together, as Splink's forename-surname comparison does). Partial agreements (one part exact, the other a
nickname, a typo or different) keep each part's own levels and frequencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncaudit.audit.match_fields import Column

# Mailbox names that belong to a role or a team, not a person (compared on the local part, lower case).
ROLE_MAILBOXES = (
    "info", "support", "sales", "admin", "administrator", "contact", "contacts", "hello", "office", "billing",
    "accounts", "accounting", "finance", "team", "help", "helpdesk", "service", "marketing", "hr", "jobs",
    "careers", "noreply", "no-reply", "enquiries", "inquiries", "mail", "post", "reception", "webmaster",
    "security", "legal", "press", "media", "orders", "purchasing", "it", "ops", "operations", "customerservice",
)  # fmt: skip
# A value held by more records than this (in the data at hand) is a shared value, not a personal one.
SHARED_MIN = 3
NAME_TYPES = ("first_name", "last_name", "company_name")
# The derived input column of the whole name (first and last, normalized, one space between): its own term
# frequencies (matching.input_sql builds it when the model compares both parts).
FULL_NAME = "full_name_n"
JOINT_NAME_LABEL = "same first and last name"
ADDRESS_TYPES = ("street", "city", "postal_code", "state", "country")


@dataclass
class Model:
    """The comparison columns of a model and the parameters trained for them (Splink settings dict)."""

    kind: str
    columns: list[Column]
    trained: dict[str, Any] | None = None
    labels: dict[str, dict[int, str]] = field(default_factory=dict)

    def has(self, compare: str) -> list[str]:
        return [c.name for c in self.columns if c.compare == compare]


def comparisons(model: Model) -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def custom(name: str, levels: list[Any]) -> Any:
        return cl.CustomComparison(output_column_name=name, comparison_levels=levels)

    def lab(level: Any, label: str, tf: str | None = None) -> Any:
        return level.configure(label_for_charts=label, **({"tf_adjustment_column": tf} if tf else {}))

    first, last = model.has("first_name"), model.has("last_name")
    out = []
    for c in model.columns:
        col = f"mf_{c.name}"
        if c.compare in ADDRESS_TYPES:
            continue
        lv: list[Any] = [cll.NullLevel(col)]
        if c.compare == "first_name":
            if last:  # the whole name agreeing is weighed once, by the last-name comparison's joint level
                lv[0] = cll.CustomLevel(
                    f"{col}_l IS NULL OR {col}_r IS NULL OR {FULL_NAME}_l = {FULL_NAME}_r"
                ).configure(is_null_level=True, label_for_charts="no evidence of its own")
            lv.append(lab(cll.ExactMatchLevel(col), "same first name", col))
            lv.append(lab(cll.CustomLevel(f"list_has_any({col}_groups_l, {col}_groups_r)"), "nickname"))
            if last:
                lv.append(
                    lab(cll.CustomLevel(f"{col}_l = mf_{last[0]}_r AND mf_{last[0]}_l = {col}_r"), "swapped with last")
                )
            lv.append(
                lab(
                    cll.CustomLevel(
                        f"(length({col}_l) = 1 OR length({col}_r) = 1) AND left({col}_l, 1) = left({col}_r, 1)"
                    ),
                    "initial agrees",
                )
            )
            lv.append(lab(cll.CustomLevel(f"damerau_levenshtein({col}_l, {col}_r) <= 1"), "one edit apart"))
            lv.append(lab(cll.JaroWinklerLevel(col, 0.88), "similar"))
        elif c.compare in ("last_name", "company_name"):
            what = "last name" if c.compare == "last_name" else "company"
            if c.compare == "last_name" and first:
                lv.append(lab(cll.ExactMatchLevel(FULL_NAME), JOINT_NAME_LABEL, FULL_NAME))
            lv.append(lab(cll.ExactMatchLevel(col), f"same {what}", col))
            if c.compare == "last_name" and first:
                lv.append(
                    lab(
                        cll.CustomLevel(f"{col}_l = mf_{first[0]}_r AND mf_{first[0]}_l = {col}_r"),
                        "swapped with first",
                    )
                )
            if c.compare == "last_name":  # (edit distance on long company names costs more than it tells)
                lv.append(lab(cll.CustomLevel(f"damerau_levenshtein({col}_l, {col}_r) <= 1"), "one edit apart"))
            lv.append(lab(cll.JaroWinklerLevel(col, 0.9), "similar"))
        elif c.compare in ("email", "phone", "domain"):
            what = {"email": "mailbox", "phone": "number", "domain": "domain"}[c.compare]
            if c.compare == "email" and last:
                lv[0] = name_made_mailbox_null(col, f"mf_{first[0]}" if first else None, f"mf_{last[0]}")
            lv.append(
                lab(cll.CustomLevel(f"{col}_l = {col}_r AND ({col}_shared_l OR {col}_shared_r)"), f"same shared {what}")
            )
            lv.append(lab(cll.ExactMatchLevel(col), f"same {what}"))
            if c.compare == "email":
                lv.append(
                    lab(
                        cll.CustomLevel(f"split_part({col}_l, '@', 1) = split_part({col}_r, '@', 1)"),
                        "same mailbox name, other domain",
                    )
                )
        elif c.compare == "date":
            lv.append(lab(cll.ExactMatchLevel(col), "same date"))
            lv.append(
                lab(
                    cll.CustomLevel(
                        f"damerau_levenshtein({col}_l, {col}_r) <= 1 OR (left({col}_l, 4) = left({col}_r, 4) AND "
                        f"substr({col}_l, 6, 2) = substr({col}_r, 9, 2) AND substr({col}_l, 9, 2) = substr({col}_r, 6, 2))"
                    ),
                    "one digit or day/month swapped",
                )
            )
        elif c.compare == "text":
            lv.append(lab(cll.ExactMatchLevel(col), "same text"))
            lv.append(lab(cll.JaroWinklerLevel(col, 0.9), "similar"))
        else:  # identifier
            lv.append(lab(cll.ExactMatchLevel(col), "same identifier"))
        lv.append(lab(cll.ElseLevel(), "different"))
        out.append(custom(c.name, lv))
    parts = [f"mf_{c.name}" for c in model.columns if c.compare in ADDRESS_TYPES]
    if parts:
        out.append(custom("address", address_levels(model)))
    return out


def name_made_mailbox_null(col: str, first: str | None, last: str) -> Any:
    """The email comparison's no-evidence level: an empty email, or one mailbox name at two domains when the
    two records' names agree and the mailbox name is spelled from them (jane.smith@a.com, jane.smith@b.org,
    or the same name in a script the mailbox transliterates). Such a mailbox name repeats the name
    comparisons' evidence: namesakes at two companies get it as readily as one person with two addresses,
    and random pairs (which give u) almost never share a name, so as a level of its own it would count the
    names a second time."""
    import splink.comparison_level_library as cll

    def letters(x: str) -> str:
        return f"regexp_replace({x}, '[^a-z]', '', 'g')"

    local = f"split_part({col}_l, '@', 1)"
    same_last = f"{last}_l = {last}_r"
    spelled = f"(length({letters(f'{last}_l')}) >= 2 AND contains({letters(local)}, {letters(f'{last}_l')}))"
    if first:  # the whole name agrees: whatever the mailbox name is made of, the names already said it
        spelled = f"({spelled} OR {first}_l = {first}_r)"
    made = f"{local} = split_part({col}_r, '@', 1) AND {col}_l <> {col}_r AND {same_last} AND {spelled}"
    null = f"{col}_l IS NULL OR {col}_r IS NULL OR ({made})"
    return cll.CustomLevel(null).configure(is_null_level=True, label_for_charts="no evidence")


def address_levels(model: Model) -> list[Any]:
    """One comparison for the address parts (they are not independent evidence: a postal code implies a city)."""
    import splink.comparison_level_library as cll

    def col(t: str) -> str | None:
        names = model.has(t)
        return f"mf_{names[0]}" if names else None

    street, city, postal, state, country = (col(t) for t in ADDRESS_TYPES)
    parts = [p for p in (street, city, postal, state, country) if p]
    null = " OR ".join(f"({' AND '.join(f'{p}_{s} IS NULL' for p in parts)})" for s in ("l", "r"))
    place = " OR ".join(f"({p}_l = {p}_r)" for p in (postal, city) if p) or "false"
    levels = [cll.CustomLevel(null).configure(is_null_level=True)]

    def add(sql: str, label: str) -> None:
        levels.append(cll.CustomLevel(sql).configure(label_for_charts=label))

    if street:
        add(f"{street}_l = {street}_r AND ({place})", "same street address")
        add(f"jaro_winkler_similarity({street}_l, {street}_r) >= 0.9 AND ({place})", "similar street, same place")
    if postal:
        add(f"{postal}_l = {postal}_r", "same postal code")
    if city:
        add(f"{city}_l = {city}_r", "same city")
    region = " OR ".join(f"({p}_l = {p}_r)" for p in (state, country) if p)
    if region:
        add(region, "same region")
    levels.append(cll.ElseLevel().configure(label_for_charts="different"))
    return levels


def blocking(model: Model) -> list[Any]:
    """Candidate pairs: an own (unshared) email or phone, an identifier, or one of the composite keys of
    ``block_keys`` (name parts with a narrowing field, two narrowing fields, a household), each a column the
    audit adds to its inputs and empties where the key is too common (matching._capped_blocks)."""
    from splink import block_on

    rules: list[Any] = []
    for c in model.columns:
        if c.compare in ("email", "phone", "domain"):
            rules.append(block_on(f"mf_{c.name}_own"))
        if c.compare == "identifier":
            rules.append(block_on(f"mf_{c.name}"))
    for column, _parts in block_keys(model):
        rules.append(block_on(column))
    return rules


def block_keys(model: Model) -> list[tuple[str, list[str]]]:
    """(column, the expressions it joins) of the composite blocking keys, each capped by matching._capped_blocks
    (a key held by too many records, or too many pairs for the data's size, is no block).

    - the full name (first-name key and last name);
    - a last name with a narrowing field (company, postal code, date, city) and the first initial, and the
      first-name key with a narrowing field and the last initial (one part misspelled);
    - two narrowing fields together (a record whose names are both misspelled), but not two address parts: a
      postal code implies its city, so together they are one place, which thousands of people share;
    - a last name with one narrowing field (a first name missing or unrelated), not with a city where first
      names exist (too wide: the rules above cover it);
    - a street address with its postal code (or city): a household;
    - for companies, the company name.
    """
    first, last = model.has("first_name"), model.has("last_name")
    out: list[tuple[str, list[str]]] = []
    narrow = [f"mf_{c.name}" for c in model.columns if c.compare in ("company_name", "postal_code", "date", "city")]
    place = {f"mf_{c.name}" for c in model.columns if c.compare in ADDRESS_TYPES}
    if first and last:
        f, ln = f"mf_{first[0]}", f"mf_{last[0]}"
        out.append(("mf_name_block", ["mf_first_name_key", ln]))
        for n in narrow:
            out.append((f"mf_blk_{ln[3:]}__{n[3:]}__{f[3:]}1", [ln, n, f"left({f}, 1)"]))
            out.append((f"mf_blk_first_name_key__{n[3:]}__{ln[3:]}1", ["mf_first_name_key", n, f"left({ln}, 1)"]))
    for i, a in enumerate(narrow):
        for b in narrow[i + 1 :]:
            if not (a in place and b in place):
                out.append((f"mf_blk_{a[3:]}__{b[3:]}", [a, b]))
    if last:
        city = {f"mf_{c.name}" for c in model.columns if c.compare == "city"}
        ln = f"mf_{last[0]}"
        out += [(f"mf_blk_{ln[3:]}__{n[3:]}", [ln, n]) for n in narrow if not (first and n in city)]
    street = model.has("street")
    area = model.has("postal_code") or model.has("city")
    if street and area:
        out.append((f"mf_blk_{street[0]}__{area[0]}", [f"mf_{street[0]}", f"mf_{area[0]}"]))
    if model.kind == "company":
        out += [(f"mf_blk_{c.name}", [f"mf_{c.name}"]) for c in model.columns if c.compare == "company_name"]
    return out


def training_rules(model: Model) -> list[list[str]]:
    """EM blocking rules (column lists): each leaves the other fields free to be estimated (Splink skips the
    blocked ones)."""
    rules: list[list[str]] = []
    email = [c.name for c in model.columns if c.compare == "email"]
    first, last = model.has("first_name"), model.has("last_name")
    if email:
        rules.append([f"mf_{email[0]}_own"])
    if first and last:
        rules.append([f"mf_{first[0]}", f"mf_{last[0]}"])
    for c in model.columns:
        if c.compare in ("company_name", "domain", "phone", "postal_code", "date") and len(rules) < 2:
            rules.append([f"mf_{c.name}_own" if c.compare in ("domain", "phone") else f"mf_{c.name}"])
    return rules


def key_sql(cols: list[str]) -> str:
    return f"CASE WHEN {' AND '.join(f'{c} IS NOT NULL' for c in cols)} THEN concat_ws('|', {', '.join(cols)}) END"
