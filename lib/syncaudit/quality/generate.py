"""Generated expectations, derived from the mapping spec and the systems' metadata.

What is generated (every expectation carries ``meta.generated: true``):
identity keys present and unique, record ids unique, picklist values in the
set Salesforce's describe allows, email format, Intercom custom attribute
types as their data attributes declare, timestamps ordered and not in the
future (``$PARAMETER: now`` = snapshot time), canonical values for mapped
fields (Intercom free text mapped through a picklist map), value lengths that
fit the Salesforce field they sync into, and linked pairs that are one-to-one.

:func:`regenerate_suite` replaces the generated part of a suite file and keeps
every hand-written expectation exactly as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncaudit.config import Config, PicklistMap
from syncaudit.errors import ConfigError
from syncaudit.quality.suites import Suite, expectation_columns, is_generated, load_suite, save_suite

# Loose on purpose: it catches what breaks a sync (spaces, no @, no dot in the domain), not RFC 5322 corner cases.
EMAIL_REGEX = r"^[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+\.[^@ \t\n\r\f\v]+$"
# 9 to 15 digits with the usual separators, an optional leading +: what an E.164 normaliser can work with.
PHONE_REGEX = r"^\+?[ .()-]*(?:[0-9][ .()-]*){9,15}$"
SF_TIMESTAMPS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
IC_TIMESTAMPS = ("created_at", "updated_at", "signed_up_at", "last_seen_at", "remote_created_at")
# GX on pandas compares dtypes: nullable and plain forms both count (strings and timestamps have no reliable form).
IC_TYPE_LISTS = {
    "integer": ["Int64Dtype", "int64", "Int32Dtype", "int32"],
    "float": ["float64", "Float64Dtype"],
    "boolean": ["BooleanDtype", "bool"],
}
IC_DATASETS = {"contact": "ic_contacts", "company": "ic_companies"}


def _exp(type_: str, critical: bool = False, why: str = "", **kwargs: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"generated": True}
    if critical:
        meta["critical"] = True
    if why:
        meta["why"] = why
    return {"type": type_, "kwargs": kwargs, "meta": meta, "severity": "critical" if critical else "warning"}


def _not_null(col: str, critical: bool = False, why: str = "", **kw: Any) -> dict[str, Any]:
    return _exp("expect_column_values_to_not_be_null", critical, why, column=col, **kw)


def _unique(col: str, critical: bool = False, why: str = "") -> dict[str, Any]:
    return _exp("expect_column_values_to_be_unique", critical, why, column=col)


def _key_unique(col: str, why: str) -> dict[str, Any]:
    """Duplicate identity keys are serious (the sync picks one) but routine in real orgs: a high-severity
    finding, not a gate. Gates are for a broken snapshot (ids missing or repeated), or set by hand."""
    exp = _unique(col, False, why)
    exp["meta"]["severity"] = "high"
    return exp


def _in_set(col: str, values: list[Any], why: str = "") -> dict[str, Any]:
    return _exp("expect_column_values_to_be_in_set", False, why, column=col, value_set=values)


def _phone(col: str, name: str) -> dict[str, Any]:
    why = f"{name} can be normalised to E.164 (9-15 digits)"
    return _exp("expect_column_values_to_match_regex", column=col, regex=PHONE_REGEX, why=why)


def _timestamps(cols: list[str]) -> list[dict[str, Any]]:
    out = [
        _exp("expect_column_values_to_be_between", column=c, max_value={"$PARAMETER": "now"}, why="not in the future")
        for c in cols
    ]
    for a, b in zip(cols, cols[1:], strict=False):
        out.append(
            _exp(
                "expect_column_pair_values_a_to_be_greater_than_b",
                column_A=b,
                column_B=a,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                why=f"{b} is not before {a}",
            )
        )
    return out


def _governed(f: dict[str, Any]) -> bool:
    """A picklist whose values the org governs: restricted, or custom (ours). A standard unrestricted picklist
    such as Industry takes any value in Salesforce, so its describe set is a suggestion, not a rule."""
    return bool(f.get("restrictedPicklist") or f.get("custom"))


def _fields(describe: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in (describe or {}).get("fields", []) if isinstance(f, dict) and "name" in f}


def salesforce_expectations(cfg: Config, sobject: str, describe: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Generated expectations for one Salesforce object."""
    fields = _fields(describe)
    out = [_not_null("Id", True, "every record has an id"), _unique("Id", True, "ids are unique")]
    ident = cfg.mapping.identity
    pairs = {p.salesforce: p for p in cfg.mapping.objects}
    key = ident.companies.salesforce_key if sobject == "Account" else ident.people.key_for(sobject)
    if sobject in pairs and key:
        if pairs[sobject].role != "lead":
            out.append(_not_null(key, False, "identity key present: the record can be linked"))
        out.append(_key_unique(key, "identity key unique: upserts by external id need it"))
    for name, f in fields.items():
        if name in {"Id", key}:
            continue
        ftype = f.get("type")
        if ftype == "picklist" and _governed(f):
            values = [p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)]
            if values:
                out.append(_in_set(name, values, "picklist value allowed by describe"))
        elif ftype == "email":
            out.append(_exp("expect_column_values_to_match_regex", column=name, regex=EMAIL_REGEX, why="email format"))
    for fm in cfg.mapping.fields:
        if sobject in fm.objects and "phone_e164" in fm.normalize:
            out.append(_phone(fm.salesforce, fm.name))
    stamps = [c for c in SF_TIMESTAMPS if not fields or c in fields]
    out += _timestamps(stamps)
    return out


def _canonical(cfg: Config, obj: str, describes: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Intercom values of mapped fields: canonical (the Salesforce picklist or the picklist map), well-formed
    phones, and short enough for the Salesforce field when they flow into it."""
    out = []
    people = obj == "contact"
    for fm in cfg.mapping.fields:
        if people != bool({"Contact", "Lead"} & set(fm.objects)):
            continue
        into_salesforce = fm.direction != "salesforce_to_intercom"
        allowed: set[str] = set()
        length = None
        for sobject in fm.objects:
            sf = _fields(describes.get(sobject)).get(fm.salesforce) or {}
            if sf.get("type") == "picklist" and _governed(sf):
                allowed |= {p["value"] for p in sf.get("picklistValues") or [] if p.get("active", True)}
            if sf.get("type") in {"string", "textarea", "phone", "url"} and sf.get("length"):
                length = min(length or sf["length"], sf["length"])
        maps = [n for n in fm.normalize if isinstance(n, PicklistMap)]
        for m in maps:
            allowed |= set(m.picklist) | set(m.picklist.values())
        if allowed:
            why = f"canonical value for mapped field {fm.name} (Salesforce {fm.salesforce})"
            out.append(_in_set(fm.intercom, sorted(allowed), why))
        if "phone_e164" in fm.normalize:
            out.append(_phone(fm.intercom, fm.name))
        if length and into_salesforce:
            out.append(
                _exp(
                    "expect_column_value_lengths_to_be_between",
                    column=fm.intercom,
                    max_value=length,
                    why=f"fits Salesforce {fm.salesforce} (length {length})",
                )
            )
    return out


def intercom_expectations(
    cfg: Config, obj: str, attributes: list[dict[str, Any]], describes: dict[str, dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """Generated expectations for the Intercom contact or company table."""
    out = [_not_null("id", True, "every record has an id"), _unique("id", True, "ids are unique")]
    ident = cfg.mapping.identity
    if obj == "contact":
        key = ident.people.intercom_key
        if key != "id":
            cond = {"type": "comparison", "column": {"name": "role"}, "operator": "==", "parameter": "user"}
            out.append(_not_null(key, False, "users carry the identity key", row_condition=cond))
            out.append(_key_unique(key, "identity key unique: one product user, one contact"))
        out.append(_in_set("role", ["user", "lead"], "contacts are users or leads"))
        out.append(_exp("expect_column_values_to_match_regex", column="email", regex=EMAIL_REGEX, why="email format"))
    else:
        out.append(_not_null(ident.companies.intercom_key, False, "companies carry the identity key"))
        out.append(_key_unique(ident.companies.intercom_key, "identity key unique: one company id, one company"))
    for a in attributes:
        if a.get("model") != obj or not a.get("custom") or a.get("archived"):
            continue
        col = a.get("full_name") or f"custom_attributes.{a.get('name')}"
        dtype = a.get("data_type")
        if dtype in IC_TYPE_LISTS:
            out.append(
                _exp(
                    "expect_column_values_to_be_in_type_list",
                    column=col,
                    type_list=IC_TYPE_LISTS[dtype],
                    why=f"data attribute declared {dtype}",
                )
            )
        elif dtype in {"date", "datetime"}:
            out.append(
                _exp("expect_column_values_to_be_between", column=col, max_value={"$PARAMETER": "now"}, why="date")
            )
        options = [o.get("value") if isinstance(o, dict) else o for o in a.get("options") or []]
        if options:
            out.append(_in_set(col, options, "one of the data attribute's options"))
    out += _canonical(cfg, obj, describes)
    stamps = ["created_at", "updated_at"]
    out += _timestamps(stamps)
    out += [
        _exp("expect_column_values_to_be_between", column=c, max_value={"$PARAMETER": "now"}, why="not in the future")
        for c in IC_TIMESTAMPS
        if c not in stamps and (obj == "contact") == (c in {"signed_up_at", "last_seen_at"})
    ]
    return out


def generated_suites(
    cfg: Config,
    describes: dict[str, dict[str, Any] | None],
    attributes: list[dict[str, Any]],
    columns: dict[str, list[str]] | None = None,
) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    """dataset -> (id columns, generated expectations). With ``columns``, expectations on absent columns are dropped."""
    sobjects = [p.salesforce for p in cfg.mapping.objects]
    sobjects += [cfg.mapping.conversations.log_as, "Task", "Case"]  # the pull snapshots both
    out: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
    for so in dict.fromkeys(sobjects):
        out[f"sf_{so}"] = (["Id"], salesforce_expectations(cfg, so, describes.get(so)))
    for obj in dict.fromkeys(p.intercom for p in cfg.mapping.objects):
        out[IC_DATASETS[obj]] = (["id"], intercom_expectations(cfg, obj, attributes, describes))
    conv = [_not_null("id", True), _unique("id", True), _in_set("state", ["open", "closed", "snoozed"])]
    out["ic_conversations"] = (["id"], conv + _timestamps(["created_at", "updated_at"]))
    one_to_one = "one record on each side: otherwise the sync picks one of several"
    out["linked_people"] = (
        ["sf_id", "ic_id"],
        [
            _unique("sf_id", False, one_to_one),
            _unique("ic_id", False, one_to_one),
            _exp(
                "expect_column_pair_values_to_be_equal",
                column_A="expected_role",
                column_B="ic_role",
                ignore_row_if="either_value_is_missing",
                why="a Contact pairs with a user, a Lead with a lead",
            ),
        ],
    )
    if any(p.intercom == "company" for p in cfg.mapping.objects):
        out["linked_companies"] = (["sf_id", "ic_id"], [_unique("sf_id", False, one_to_one), _unique("ic_id")])
    if columns is not None:
        for ds, (ids, exps) in out.items():
            have = set(columns.get(ds, []))
            if ds in columns:
                out[ds] = (ids, [e for e in exps if set(expectation_columns(e)) <= have])
    return out


def _same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("type") == b.get("type") and expectation_columns(a) == expectation_columns(b)


def regenerate_suite(path: Path, dataset: str, id_columns: list[str], generated: list[dict[str, Any]]) -> Suite:
    """Rewrite a suite file's generated expectations; hand-written ones stay as written (and win over a twin)."""
    if path.exists():
        try:
            suite = load_suite(path)
        except ConfigError as exc:
            raise ConfigError(
                f"cannot regenerate: {exc.message}",
                file=str(path),
                hint="fix the file first (its hand-written expectations would be lost otherwise)",
            ) from None
    else:
        suite = Suite(path, path.stem, dataset, id_columns, {}, [])
    hand = [e for e in suite.expectations if not (isinstance(e, dict) and is_generated(e))]
    fresh = [g for g in generated if not any(isinstance(h, dict) and _same_rule(g, h) for h in hand)]
    suite.expectations = fresh + hand
    suite.dataset = suite.dataset or dataset
    suite.id_columns = suite.id_columns or id_columns
    save_suite(suite)
    return suite


def regenerate_all(
    cfg: Config,
    directory: Path,
    describes: dict[str, dict[str, Any] | None],
    attributes: list[dict[str, Any]],
    columns: dict[str, list[str]] | None = None,
) -> list[Path]:
    """Regenerate every dataset's suite file in ``directory`` (``<dataset>.json``); returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    by_dataset = {}
    for p in sorted(directory.glob("*.json")):
        try:
            ds = json.loads(p.read_text(encoding="utf-8")).get("meta", {}).get("dataset")
        except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
            ds = None
        by_dataset.setdefault(ds or p.stem, p)
    errors = []
    for ds, (ids, exps) in generated_suites(cfg, describes, attributes, columns).items():
        path = by_dataset.get(ds, directory / f"{ds}.json")
        try:
            regenerate_suite(path, ds, ids, exps)
        except ConfigError as exc:  # the other suites are still regenerated
            errors.append(str(exc))
            continue
        written.append(path)
    if errors:
        raise ConfigError(
            f"{len(errors)} suite file(s) left unchanged:\n  " + "\n  ".join(errors),
            hint=f"the other {len(written)} suite files were regenerated",
        )
    return written
