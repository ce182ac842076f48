"""Schema check: both systems' metadata against the mapping spec.

Missing fields, incompatible types, identifier type rules, Intercom values longer
than the Salesforce field, Intercom values a restricted Salesforce picklist would
reject (after the mapping's picklist map), and fields synced in both directions
(a governance risk: two sources of truth). Value checks are set-based over the
Intercom views.
"""

from __future__ import annotations

import json

from syncaudit.audit import findings
from syncaudit.audit.context import AuditContext
from syncaudit.loadfolder import lit, q
from syncaudit.lookups import missing_target
from syncaudit.mapping import IDENTIFIER_SF, NUMERIC_SF, TEXT_SF, ic_model, normalizer_sql

# Which Intercom data types can carry each Salesforce type family.
_COMPATIBLE = {
    "text": {"string"},
    "numeric": {"integer", "float"},
    "boolean": {"boolean"},
    "date": {"date"},
}


def _family(sf_type: str) -> str:
    if sf_type in NUMERIC_SF:
        return "numeric"
    if sf_type == "boolean":
        return "boolean"
    if sf_type in {"date", "datetime"}:
        return "date"
    return "text"


def _emit(
    ctx: AuditContext,
    system: str,
    obj: str,
    field: str | None,
    severity: str,
    detail: str,
    fix: str,
    rule: str,
    sf_value: str | None = None,
    ic_value: str | None = None,
    records_sql: str = "[]::VARCHAR[]",
    from_sql: str = "",
) -> None:
    findings.insert(
        ctx.con,
        f"""SELECT 'schema_conflict', {lit(system)}, {lit(obj)}, {records_sql}, {lit(field) if field else "NULL"},
            {lit(severity)}, {detail if from_sql else lit(detail)}, {lit(fix)}, {lit(sf_value) if sf_value else "NULL"},
            {lit(ic_value) if ic_value else "NULL"}, NULL, {lit(rule)}, NULL, NULL {from_sql}""",
    )


def check_schema(ctx: AuditContext) -> None:
    m, md = ctx.mapping, ctx.md
    _identifiers(ctx)
    risks: list[dict[str, str]] = []
    ctx.metrics["schema"] = {"governance_risks": risks}
    for f in m.fields:
        for obj in f.objects:
            if not md.salesforce.get(obj):
                continue
            model = ic_model(obj)
            sf = md.sf_field(obj, f.salesforce)
            ic = md.ic_attr(model, f.intercom)
            if sf is None:
                _emit(
                    ctx,
                    "salesforce",
                    obj,
                    f.name,
                    "high",
                    f"mapped field {obj}.{f.salesforce} does not exist in Salesforce",
                    f"create {f.salesforce} on {obj} or correct mapping field '{f.name}'",
                    "missing_field",
                )
            if ic is None:
                _emit(
                    ctx,
                    "intercom",
                    obj,
                    f.name,
                    "high",
                    f"mapped attribute '{f.intercom}' does not exist on the Intercom {model} model",
                    f"create the data attribute or correct mapping field '{f.name}'",
                    "missing_field",
                )
            if sf is None or ic is None:
                continue
            if f.lookup is not None:
                # References compare through their targets: the ids' own types say nothing; the targets must exist.
                for system in ("salesforce", "intercom"):
                    why = missing_target(f.lookup, system, ctx.columns)
                    if why:
                        fix = f"pull the {system} lookup target or correct mapping field '{f.name}' lookup"
                        _emit(ctx, system, obj, f.name, "high", why, fix, "missing_lookup_target")
            sf_type, ic_type = sf.get("type", "string"), ic.get("data_type", "string")
            if f.lookup is None and ic_type not in _COMPATIBLE[_family(sf_type)]:
                _emit(
                    ctx,
                    "both",
                    obj,
                    f.name,
                    "high",
                    f"incompatible types: Salesforce {obj}.{f.salesforce} is {sf_type}, Intercom '{f.intercom}' is "
                    f"{ic_type}",
                    "change one side's type so values convert without loss",
                    "type_mismatch",
                    sf_type,
                    ic_type,
                )
                continue
            if f.direction == "both":
                # A governance risk, not a defect of any record: reported in the metrics' schema section.
                risks.append(
                    {
                        "field": f.name,
                        "object": obj,
                        "salesforce": f.salesforce,
                        "intercom": f.intercom,
                        "risk": "synced in both directions: two sources of truth, the last writer wins",
                        "fix": f"make one side the only writer (owner is {f.owner})",
                    }
                )
            if f.lookup is None and f.direction in {"intercom_to_salesforce", "both"}:
                _values_fit(ctx, f, obj, sf)  # a reference's ids are not the values a Salesforce field takes


def _values_fit(ctx: AuditContext, f, obj: str, sf: dict) -> None:  # noqa: ANN001
    """Intercom values that Salesforce would reject: too long, or not in a restricted picklist."""
    view = "ic_companies" if obj == "Account" else "ic_contacts"
    if f.intercom not in ctx.columns(view):
        return
    scope = ""
    if view == "ic_contacts":
        roles = [p.role for p in ctx.mapping.objects if p.salesforce == obj and p.role]
        if roles:
            scope = f"AND role IN ({', '.join(lit(r) for r in roles)})"
    val = normalizer_sql(f"i.{q(f.intercom)}", [n for n in f.normalize if n != "phone_e164"], "intercom")
    length = int(sf.get("length") or 0)
    if sf.get("type") in TEXT_SF - {"picklist", "multipicklist", "id", "reference"} and length > 0:
        _emit(
            ctx,
            "both",
            obj,
            f.name,
            "high",
            f"""'Intercom ' || {lit(f.intercom)} || ' has ' || count(*) || ' value(s) longer than the ' || {length} ||
              ' characters of Salesforce ' || {lit(obj + "." + f.salesforce)} || ' (longest ' || max(length(v)) || ')'""",
            f"lengthen {obj}.{f.salesforce} or truncate the Intercom values",
            "length_exceeded",
            records_sql="list(DISTINCT id ORDER BY id)",
            from_sql=f"FROM (SELECT i.id, {val} AS v FROM {q(view)} i WHERE true {scope}) "
            f"WHERE length(v) > {length} HAVING count(*) > 0",
        )
    if sf.get("type") in {"picklist", "multipicklist"} and sf.get("restrictedPicklist"):
        allowed = [p.get("value") for p in sf.get("picklistValues", []) if p.get("active", True)]
        ctx.con.execute("CREATE OR REPLACE TEMP TABLE sa_allowed(v VARCHAR)")
        if allowed:
            ctx.con.executemany("INSERT INTO sa_allowed VALUES (?)", [(a,) for a in allowed])
        _emit(
            ctx,
            "both",
            obj,
            f.name,
            "high",
            f"""'Intercom ' || {lit(f.intercom)} || ' holds value(s) the restricted picklist ' ||
              {lit(obj + "." + f.salesforce)} || ' rejects: ' || string_agg(DISTINCT '''' || v || '''', ', ' ORDER BY '''' || v || '''') ||
              ' (' || count(*) || ' records); allowed: ' || {lit(json.dumps(allowed, ensure_ascii=False))}""",
            f"add the values to the picklist, or map them with a picklist normalizer on '{f.name}'",
            "picklist_value_rejected",
            records_sql="list(DISTINCT id ORDER BY id)",
            from_sql=f"FROM (SELECT i.id, {val} AS v FROM {q(view)} i WHERE true {scope}) "
            "WHERE v IS NOT NULL AND v NOT IN (SELECT v FROM sa_allowed) HAVING count(*) > 0",
        )


def _identifiers(ctx: AuditContext) -> None:
    """Salesforce allows only email or text fields as the identifier of the link."""
    m, md = ctx.mapping, ctx.md
    checks = [
        (p.salesforce, key)
        for p in m.objects
        if p.intercom == "contact" and (key := m.identity.people.key_for(p.salesforce))
    ]
    if any(p.salesforce == "Account" for p in m.objects):
        checks.append(("Account", m.identity.companies.salesforce_key))
    for obj, key in checks:
        sf = md.sf_field(obj, key)
        if sf is None:
            continue
        t = sf.get("type", "string")
        if t not in IDENTIFIER_SF:
            _emit(
                ctx,
                "salesforce",
                obj,
                "identity_key",
                "high",
                f"identifier field {obj}.{key} is of type {t}; Salesforce allows only email or text identifiers",
                f"use a text (ideally external id, unique) field as {obj}'s identifier",
                "identifier_type",
                t,
                None,
            )
