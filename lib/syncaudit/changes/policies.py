"""The fix policies: each turns findings (or, for normalizations and migrations, snapshot rows) into operations.

Every policy reads the snapshot through DuckDB for its before-images and versions, and never plans a write it
cannot justify: an ambiguous case becomes a ``review`` item, which apply never executes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from syncaudit.changes.context import (
    SF_READ_ONLY,
    TEXT_NORMALIZERS,
    PlanContext,
    epoch_value,
    normalize_text,
    plain_value,
    review_op,
    sf_object,
    split_records,
    synthetic_finding_id,
    update_op,
)
from syncaudit.changes.encoded import EncodedOps, column_types, sql_text, update_rows_sql, version_sql
from syncaudit.changes.evidence import (
    duplicate_evidence,
    duplicate_is_deterministic,
    finding_extra,
    is_deterministic,
    link_evidence,
)
from syncaudit.changes.finding_source import FindingSource
from syncaudit.changes.model import Operation
from syncaudit.changes.rule_fixups import rule_fixups
from syncaudit.config import FieldMapping, PicklistMap
from syncaudit.errors import ConfigError
from syncaudit.lookups import reference_resolver
from syncaudit.mapping import phone_fast_sql, register_functions

# ---------------------------------------------------------------- policies


def push_owner_value(ctx: PlanContext, opts: dict[str, Any]) -> list[Operation]:
    maps = {m.name: m for m in ctx.cfg.mapping.fields}
    out = []
    findings = [f for f in ctx.findings.of_kind("field_drift") if f.get("field") in maps]
    _prefetch_pairs(ctx, findings)
    resolvers: dict[str, Any] = {}
    for f in findings:
        fm: FieldMapping = maps[f["field"]]
        if fm.direction == "display_only":
            continue
        sf_ids, ic_ids = split_records(f.get("records") or [])
        if len(sf_ids) != 1 or len(ic_ids) != 1:
            out.append(review_op(f, "push_owner_value", "not a single linked pair"))
            continue
        out.extend(owner_value_ops(ctx, fm, f, sf_ids[0], ic_ids[0], resolvers, "push_owner_value"))
    return out


def owner_value_ops(
    ctx: PlanContext, fm: FieldMapping, f: dict, sf_id: str, ic_id: str, resolvers: dict, policy: str
) -> list[Operation]:
    """The write that copies the owner's value of ``fm`` to the other side of the pair (sf_id, ic_id), or a
    review when the target cannot take it; empty when a record is missing or the values already agree."""
    obj = sf_object(sf_id)
    ic_obj = "company" if obj == "Account" else "contact"
    sf_rec, ic_rec = ctx.record("salesforce", obj, sf_id), ctx.record("intercom", ic_obj, ic_id)
    if obj not in fm.objects or sf_rec is None or ic_rec is None:
        return []
    if fm.lookup is not None:  # a reference (owner): write the other system's id of the same user, by email
        return _push_reference(ctx, fm, f, (obj, sf_id, sf_rec), (ic_obj, ic_id, ic_rec), resolvers, policy)
    if fm.owner == "salesforce":
        value = plain_value(sf_rec.get(fm.salesforce))
        value = _reverse_picklist(value, fm.normalize)
        op = update_op(ctx, "intercom", ic_obj, ic_id, {fm.intercom: value}, f, policy)
    else:
        if (obj, fm.salesforce) in SF_READ_ONLY:
            return [review_op(f, policy, f"{obj}.{fm.salesforce} cannot be written through the API")]
        value = plain_value(ic_rec.get(fm.intercom))
        pick = [n for n in fm.normalize if isinstance(n, PicklistMap)]
        value = normalize_text(value, pick) if pick else value
        op = update_op(ctx, "salesforce", obj, sf_id, {fm.salesforce: value}, f, policy)
    return [op] if op else []


def _push_reference(
    ctx: PlanContext, fm: FieldMapping, f: dict, sf: tuple, ic: tuple, resolvers: dict, policy: str
) -> list:
    """The owner's reference translated through the lookup (User Id -> admin id with that email, or back);
    a review when nothing, or more than one record, matches: an id of the wrong system is never written."""
    src, dst = (sf, ic) if fm.owner == "salesforce" else (ic, sf)
    dst_system = "intercom" if fm.owner == "salesforce" else "salesforce"
    if fm.name not in resolvers:

        def cols(table: str) -> list[str]:
            return ctx.columns(table) if table in ctx.tables else []

        resolvers[fm.name] = reference_resolver(ctx.con, fm, fm.owner, cols, ctx.cfg.mapping.default_phone_region)
    column = fm.salesforce if fm.owner == "salesforce" else fm.intercom
    target, note = resolvers[fm.name](plain_value(src[2].get(column)))
    if target is None:
        return [review_op(f, policy, f"{fm.name}: {note}")]
    dst_column = fm.intercom if dst_system == "intercom" else fm.salesforce
    op = update_op(ctx, dst_system, dst[0], dst[1], {dst_column: target}, f, policy, note=note)
    return [op] if op else []


def _reverse_picklist(value: Any, normalizers: list[Any]) -> Any:
    for n in normalizers:
        if isinstance(n, PicklistMap):
            for k, v in n.picklist.items():
                if v == value:
                    return k
    return value


def _prefetch_pairs(ctx: PlanContext, findings: list[dict[str, Any]]) -> None:
    by_obj: dict[tuple[str, str], list[str]] = {}
    for f in findings:
        sf_ids, ic_ids = split_records(f.get("records") or [])
        for r in sf_ids:
            by_obj.setdefault(("salesforce", sf_object(r) or ""), []).append(r)
        ic_obj = "company" if f.get("object") in ("Account", "company") else "contact"
        by_obj.setdefault(("intercom", ic_obj), []).extend(ic_ids)
    for (system, obj), ids in by_obj.items():
        ctx.prefetch(system, obj, ids)


def backfill_identity(ctx: PlanContext, opts: dict[str, Any]) -> list[Operation]:
    """Identity keys for identity gaps, written only on deterministic evidence (evidence.py); a fuzzy link is
    a review item showing its evidence field by field. A pair this plan links also gets its mapped fields synced
    by the owner rules (the finding's ``unsynced_fields``), so linking it does not surface new drift."""
    ident = ctx.cfg.mapping.identity
    prefer = opts.get("prefer", "review")  # when both keys are set and differ: intercom | salesforce | review
    maps = {m.name: m for m in ctx.cfg.mapping.fields}
    out: list[Operation] = []
    resolvers: dict[str, Any] = {}
    findings = list(ctx.findings.of_kind("identity_gap"))
    _prefetch_pairs(ctx, findings)
    taken = _keys_taken(ctx, findings)
    for f in findings:
        sf_ids, ic_ids = split_records(f.get("records") or [])
        if len(sf_ids) != 1 or len(ic_ids) != 1:
            out.append(review_op(f, "backfill_identity", "not a single pair"))
            continue
        obj = sf_object(sf_ids[0]) or ""
        people = obj in ("Contact", "Lead")
        sf_key = ident.people.key_for(obj) if people else ident.companies.salesforce_key
        ic_key = ident.people.intercom_key if people else ident.companies.intercom_key
        ic_obj = "contact" if people else "company"
        if sf_key is None:  # identity.people.salesforce_keys says this object carries no key
            out.append(review_op(f, "backfill_identity", f"{obj} has no identity field in the mapping"))
            continue
        sf_rec, ic_rec = ctx.record("salesforce", obj, sf_ids[0]), ctx.record("intercom", ic_obj, ic_ids[0])
        if sf_rec is None or ic_rec is None:
            continue
        sv, iv = sf_rec.get(sf_key), ic_rec.get(ic_key)
        write: tuple[str, str, str, dict[str, Any]] | None = None
        refusal = ""
        if iv and not sv:
            if (f"sf_{obj}", sf_key, str(iv)) in taken:
                refusal = f"{sf_key}={iv} is already used by another {obj}"
            else:
                write = ("salesforce", obj, sf_ids[0], {sf_key: iv})
        elif sv and not iv and ic_key == "external_id":
            if ("ic_contacts", "external_id", str(sv)) in taken:
                refusal = f"external_id={sv} is already used by another contact"
            else:
                write = ("intercom", ic_obj, ic_ids[0], {"external_id": sv})
        elif sv and iv and sv != iv and prefer == "intercom":
            write = ("salesforce", obj, sf_ids[0], {sf_key: iv})
        elif sv and iv and sv != iv and prefer == "salesforce" and ic_key == "external_id":
            write = ("intercom", ic_obj, ic_ids[0], {"external_id": sv})
        else:
            refusal = "keys conflict or cannot be written; decide by hand"
        evidence = link_evidence(ctx, f)
        action = (
            {"write": {"system": write[0], "object": write[1], "record": write[2], "values": write[3]}}
            if write
            else None
        )
        if refusal or write is None:
            out.append(review_op(f, "backfill_identity", refusal, evidence=evidence, action=action))
            continue
        if not is_deterministic(ctx, f, evidence):
            note = "a probable match, not a proven one: link it only after a person checks the evidence"
            out.append(review_op(f, "backfill_identity", note, evidence=evidence, action=action))
            continue
        op = update_op(ctx, write[0], write[1], write[2], write[3], f, "backfill_identity")
        if op:
            out.append(op)
        # The pair is linked from now on: copy each field it disagrees on from its owner.
        for name in finding_extra(f).get("unsynced_fields") or []:
            fm = maps.get(name)
            if fm is not None and fm.direction != "display_only":
                out.extend(owner_value_ops(ctx, fm, f, sf_ids[0], ic_ids[0], resolvers, "backfill_identity"))
    return out


def _keys_taken(ctx: PlanContext, findings: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """The identity keys the gaps would write that some record already carries, as (table, column, value):
    one semi-join per table for all the gaps (a COUNT per gap scanned the table once per gap)."""
    ident = ctx.cfg.mapping.identity
    wanted: dict[tuple[str, str], set[Any]] = {}
    for f in findings:
        sf_ids, ic_ids = split_records(f.get("records") or [])
        if len(sf_ids) != 1 or len(ic_ids) != 1:
            continue
        obj = sf_object(sf_ids[0]) or ""
        people = obj in ("Contact", "Lead")
        sf_key = ident.people.key_for(obj) if people else ident.companies.salesforce_key
        ic_key = ident.people.intercom_key if people else ident.companies.intercom_key
        if sf_key is None:
            continue
        sf_rec = ctx.record("salesforce", obj, sf_ids[0])
        ic_rec = ctx.record("intercom", "contact" if people else "company", ic_ids[0])
        if sf_rec is None or ic_rec is None:
            continue
        sv, iv = sf_rec.get(sf_key), ic_rec.get(ic_key)
        if iv and not sv:
            wanted.setdefault((f"sf_{obj}", sf_key), set()).add(iv)
        elif sv and not iv and ic_key == "external_id":
            wanted.setdefault(("ic_contacts", "external_id"), set()).add(sv)
    out: set[tuple[str, str, str]] = set()
    for (table, column), values in sorted(wanted.items()):
        if table not in ctx.tables or column not in ctx.columns(table):
            continue
        rows = ctx.con.execute(
            f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{table}" WHERE "{column}" IN (SELECT UNNEST(?))',
            [sorted(values, key=str)],
        ).fetchall()
        out.update((table, column, str(r[0])) for r in rows)
    return out


def relink_stale(ctx: PlanContext, opts: dict[str, Any]) -> list[Operation]:
    """The key moved from a converted Lead to its Contact; the newly linked pair's disagreeing fields synced."""
    key = ctx.cfg.mapping.identity.people.key_for("Contact")
    maps = {m.name: m for m in ctx.cfg.mapping.fields}
    resolvers: dict[str, Any] = {}
    out = []
    findings = list(ctx.findings.of_kind("stale_link"))
    _prefetch_pairs(ctx, findings)  # one query per object: a look-up per finding scans the table each time
    leads = [r for f in findings for r in split_records(f.get("records") or [])[0] if sf_object(r) == "Lead"]
    ctx.prefetch(
        "salesforce",
        "Contact",
        [str((ctx.record("salesforce", "Lead", r) or {}).get("ConvertedContactId") or "") for r in leads],
    )
    for f in findings:
        sf_ids, ic_ids = split_records(f.get("records") or [])
        lead = next((r for r in sf_ids if sf_object(r) == "Lead"), None)
        lead_rec = ctx.record("salesforce", "Lead", lead) if lead else None
        contact = (lead_rec or {}).get("ConvertedContactId")
        ic_rec = ctx.record("intercom", "contact", ic_ids[0]) if len(ic_ids) == 1 else None
        if not key or not contact or ic_rec is None or not ic_rec.get("external_id"):
            out.append(review_op(f, "relink_stale", "no converted Contact or no Intercom key to relink"))
            continue
        op = update_op(
            ctx,
            "salesforce",
            "Contact",
            str(contact),
            {key: ic_rec["external_id"]},
            f,
            "relink_stale",
            note=f"converted from Lead {lead}",
        )
        if op:
            out.append(op)
        for name in finding_extra(f).get("unsynced_fields") or []:
            fm = maps.get(name)
            if fm is not None and fm.direction != "display_only":
                out.extend(owner_value_ops(ctx, fm, f, str(contact), ic_ids[0], resolvers, "relink_stale"))
    return out


def merge_intercom_leads(ctx: PlanContext, opts: dict[str, Any]) -> list[Operation]:
    out = []
    findings = list(ctx.findings.of_kind("duplicate", "intercom"))
    ctx.prefetch("intercom", "contact", [r for f in findings for r in f.get("records") or []])
    for f in findings:
        recs = [ctx.record("intercom", "contact", r) for r in f.get("records") or []]
        if any(r is None for r in recs):
            continue
        users = [r for r in recs if r and r.get("role") == "user"]
        leads = [r for r in recs if r and r.get("role") == "lead"]
        evidence = duplicate_evidence([r for r in recs if r])
        if len(users) != 1 or not leads:
            out.append(
                review_op(f, "merge_intercom_leads", "needs exactly one user and at least one lead", evidence=evidence)
            )
            continue
        if not duplicate_is_deterministic(ctx, f, [r for r in recs if r]):
            action = {"merge": {"into": str(users[0]["id"]), "from": sorted(str(r["id"]) for r in leads)}}
            note = "not proven the same person (email and name must agree): an Intercom merge cannot be undone"
            out.append(review_op(f, "merge_intercom_leads", note, evidence=evidence, action=action))
            continue
        for lead in sorted(leads, key=lambda r: str(r["id"])):
            out.append(
                Operation(
                    "intercom",
                    "contact",
                    str(lead["id"]),
                    "merge",
                    {"into": str(users[0]["id"])},
                    {"role": "lead"},
                    epoch_value(lead.get("updated_at")),
                    f.get("id"),
                    "merge_intercom_leads",
                    note="irreversible: Intercom cannot un-merge",
                )
            )
    return out


def log_conversations(ctx: PlanContext, opts: dict[str, Any]) -> list[Operation]:
    conv = ctx.cfg.mapping.conversations
    key = ctx.cfg.mapping.identity.people.key_for("Contact")
    app = opts.get("app_id") or _learn_app_id(ctx, conv.log_as, conv.conversation_id_field)
    out = []
    findings = list(ctx.findings.of_kind("conversation_unlogged"))
    if findings:
        check_external_id_field(ctx, conv.log_as, conv.external_id_field)
    people = _conversation_people(ctx, key, findings)
    for f in findings:
        sf_ids, ic_ids = split_records(f.get("records") or [])
        conv_id = next((r for r in ic_ids if str(r).isdigit()), None)
        who = next((r for r in sf_ids if sf_object(r) in ("Contact", "Lead")), None)
        if who is None and conv_id:
            who = people.get(str(conv_id))
        if not conv_id or not who or not app:
            out.append(
                review_op(
                    f,
                    "log_conversations",
                    "cannot tell the conversation, its Salesforce person or "
                    "the Intercom app id (set fixes.log_conversations.options.app_id)",
                )
            )
            continue
        url = f"https://app.intercom.com/a/inbox/{app}/inbox/conversation/{conv_id}"
        who_field = "WhoId" if conv.log_as == "Task" else "ContactId"
        after = {who_field: who, "Subject": f"Intercom conversation {conv_id}", conv.conversation_id_field: url}
        after.update({"Status": "Completed"} if conv.log_as == "Task" else {"Status": "Closed", "Origin": "Web"})
        ext = conv.external_id_field
        after[ext] = after.get(ext) or str(conv_id)
        refusal = ctx.sf_refusal(conv.log_as, after, create=True)
        if refusal:
            out.append(review_op(f, "log_conversations", f"not planned: {refusal}"))
            continue
        out.append(
            Operation(
                "salesforce",
                conv.log_as,
                after[ext],
                "upsert",
                after,
                finding_id=f.get("id"),
                policy="log_conversations",
                match={ext: after[ext]},
            )
        )
    return out


def _conversation_people(ctx: PlanContext, key: str | None, findings: list[dict[str, Any]]) -> dict[str, str]:
    """Conversation id -> the first (by Id) Contact linked by ``key`` to one of its Intercom contacts, for the
    findings that name no Salesforce person: one join for all of them, not one query per finding."""
    if not key or "ic_conversations" not in ctx.tables or "ic_contacts" not in ctx.tables:
        return {}
    if "sf_Contact" not in ctx.tables:
        return {}
    want = set()
    for f in findings:
        sf_ids, ic_ids = split_records(f.get("records") or [])
        conv_id = next((r for r in ic_ids if str(r).isdigit()), None)
        if conv_id and not any(sf_object(r) in ("Contact", "Lead") for r in sf_ids):
            want.add(str(conv_id))
    if not want:
        return {}
    rows = ctx.con.execute(
        'SELECT v.id, min(s."Id") FROM (SELECT CAST(id AS VARCHAR) AS id, unnest(contact_ids) AS contact_id '
        "FROM ic_conversations WHERE CAST(id AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))) v "
        "JOIN ic_contacts c ON c.id = v.contact_id "
        f'JOIN "sf_Contact" s ON s."{key}" = c.external_id GROUP BY v.id',
        [sorted(want)],
    ).fetchall()
    return {str(cid): str(sid) for cid, sid in rows}


def check_external_id_field(ctx: PlanContext, obj: str, field: str) -> None:
    """Creates are upserts by an External ID field: refuse a field the org's describe does not mark as one."""
    f = ctx.sf_field(obj, field)
    if f is True:
        return  # the snapshot has no describe of this object; Salesforce itself refuses a wrong field at apply
    where = "mapping.conversations.external_id_field"
    if not f:
        raise ConfigError(
            f"{obj}.{field} does not exist in the Salesforce org",
            key=where,
            hint=f"create a unique External ID text field on {obj} (e.g. Intercom_Conversation_Id__c), "
            "or name an existing one in the config",
        )
    if not f.get("externalId"):
        raise ConfigError(
            f"{obj}.{field} is not an External ID field; syncaudit creates records only as upserts by "
            "an External ID, so that a create sent twice can never make a duplicate",
            key=where,
            hint=f"mark {obj}.{field} as External ID (and Unique) in Salesforce Setup, or name another field",
        )


def _learn_app_id(ctx: PlanContext, obj: str, column: str) -> str | None:
    table = f"sf_{obj}"
    if table not in ctx.tables or column not in ctx.columns(table):
        return None
    row = ctx.con.execute(
        f'SELECT regexp_extract("{column}", \'/a/inbox/([^/]+)/inbox/conversation/\', 1) AS app FROM "{table}" '
        f"WHERE \"{column}\" LIKE '%/inbox/conversation/%' GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1"
    ).fetchone()
    return row[0] if row and row[0] else None


def duplicate_worklist(ctx: PlanContext, opts: dict[str, Any]) -> Iterator[Operation]:
    for f in ctx.findings.of_kind("duplicate", "salesforce"):
        yield review_op(f, "duplicate_worklist", "merge by hand in Salesforce after review")


def normalize_values(ctx: PlanContext, opts: dict[str, Any]) -> Iterator[Operation | EncodedOps]:
    """Owner-side values that differ from their normalized form (email case, whitespace, case rules, E.164 phones).

    One query per field and object: DuckDB plans and encodes the updates (encoded.py), and the few rows whose
    text only Python can judge exactly go through :func:`update_op` in batches. ``opts["reference"]`` sends
    every row through Python (the per-operation path the set-based one is tested against)."""
    only = set(opts.get("fields") or [])
    reference = bool(opts.get("reference"))
    targets: list[tuple[FieldMapping, list[str], str, str, str]] = []
    for fm in ctx.cfg.mapping.fields:
        norms = [n for n in fm.normalize if isinstance(n, str) and (n in TEXT_NORMALIZERS or n == "phone_e164")]
        if not norms or (only and fm.name not in only):
            continue
        system = fm.owner
        column = fm.salesforce if system == "salesforce" else fm.intercom
        objs = fm.objects if system == "salesforce" else ["company" if "Account" in fm.objects else "contact"]
        for obj in objs:
            if system == "salesforce" and (obj, column) in SF_READ_ONLY:
                continue
            table = ctx.table(system, obj)
            if table not in ctx.tables or column not in ctx.columns(table):
                continue
            targets.append((fm, norms, system, obj, column))
    # A column two mappings normalize on one object: which update wins is decided by the Python ordering.
    seen = Counter((system, obj, column) for _, _, system, obj, column in targets)
    for fm, norms, system, obj, column in targets:
        table = ctx.table(system, obj)
        expr = f'"{column}"'
        for n in norms:
            if n == "phone_e164":
                # the audit's normalizer: SQL for the easy forms, phonenumbers for the rest
                region = ctx.cfg.mapping.default_phone_region
                register_functions(ctx.con, ctx.cfg.mapping)
                expr = f"coalesce({phone_fast_sql(expr, region)}, sa_phone_e164({expr}))"
                continue
            expr = {
                "email": f"lower(trim({expr}))",
                "trim": f"trim({expr})",
                "lower": f"lower({expr})",
                "upper": f"upper({expr})",
                "whitespace": f"trim(regexp_replace({expr}, '\\s+', ' ', 'g'))",
            }[n]
        key = "Id" if system == "salesforce" else "id"
        where = f'WHERE "{column}" IS NOT NULL AND "{column}" <> {expr}'
        if "phone_e164" in norms:
            where += f" AND {expr} LIKE '+%'"  # an unparseable number is left for review, not rewritten
        if system == "salesforce" and obj == "Lead" and "IsConverted" in ctx.columns(table):
            where += ' AND NOT COALESCE("IsConverted", false)'
        note = f"normalize {fm.name}: {', '.join(norms)}"
        fast = None if reference or seen[(system, obj, column)] > 1 else _encoded_updates(ctx, system, obj, column)
        if fast is not None:
            refusal, version = fast
            rows, slow = update_rows_sql(
                system=system,
                obj=obj,
                table=table,
                key=key,
                column=column,
                value_expr=expr,
                where=where,
                version=version,
                policy="normalize_values",
                note=note,
                finding_prefix=f"normalize|{system}|{obj}|",
                refusal=refusal,
            )
            yield EncodedOps(ctx.con, rows)
        else:
            slow = f'SELECT t.*, {expr} AS __sa_value FROM "{table}" t {where} ORDER BY "{key}"'
        for rows in ctx.record_batches(slow):
            for rec in rows:
                value = rec.pop("__sa_value")
                rid = rec[key]
                ctx.remember(system, obj, str(rid), rec)
                fid = synthetic_finding_id("normalize", system, obj, rid, column)
                op = update_op(ctx, system, obj, str(rid), {column: value}, {"id": fid}, "normalize_values", note=note)
                if op:
                    yield op
            ctx.forget()


def _encoded_updates(ctx: PlanContext, system: str, obj: str, column: str) -> tuple[str | None, str] | None:
    """(refusal condition, version SQL) for updates of ``column`` planned in SQL, or None when Python must plan
    them: the values are not plain text, or Salesforce refuses every one of them, or Intercom converts them."""
    table = ctx.table(system, obj)
    types = column_types(ctx.con, table)
    version = version_sql(ctx.con, system, types)
    if types.get(column) != "VARCHAR" or version is None:
        return None
    if system == "intercom":
        path_type = ctx.intercom_type(obj, column)
        typed = column.startswith("custom_attributes.") and path_type not in (None, "string")
        return None if typed else (None, version)
    f = ctx.sf_field(obj, column)
    if f is True:
        return None, version
    if not f or not f.get("updateable", True) or f.get("type") in ("double", "int", "currency", "percent"):
        return None
    refusal = []
    length = f.get("length") or 0
    if f.get("type") not in ("boolean", "date", "datetime", "reference", "id") and length:
        refusal.append(f"strlen(__sa_a) > {int(length)}")  # bytes >= characters: Python decides the close ones
    if f.get("type") in ("picklist", "multipicklist") and f.get("restrictedPicklist"):
        values = f.get("picklistValues", [])
        allowed = sorted({str(p["value"]) for p in values if p.get("active", True) and p.get("value") is not None})
        refusal.append(f"__sa_a NOT IN ({', '.join(sql_text(v) for v in allowed) or 'NULL'})")
        refusal[-1] = f"coalesce({refusal[-1]}, true)"
    return (" OR ".join(refusal) or None), version


def migrations(ctx: PlanContext, opts: dict[str, Any]) -> Iterator[Operation]:
    """One-off field migrations declared in config: copy (and transform) a field between linked people.
    Yields them batch by batch (a migration can touch every linked record)."""
    ident = ctx.cfg.mapping.identity.people
    for m in ctx.cfg.fixes.migrations:
        for obj in m.objects:
            sf_t = f"sf_{obj}"
            sf_key = ident.key_for(obj)
            if sf_t not in ctx.tables or "ic_contacts" not in ctx.tables or not sf_key:
                continue
            role = "lead" if obj == "Lead" else "user"
            src = f's."{m.source_field}"' if m.source_system == "salesforce" else f'c."{m.source_field}"'
            dst = f's."{m.target_field}"' if m.target_system == "salesforce" else f'c."{m.target_field}"'
            cond = f"{src} IS NOT NULL" + (
                "" if m.overwrite else f" AND ({dst} IS NULL OR CAST({dst} AS VARCHAR) = '')"
            )
            tsys, tobj = m.target_system, (obj if m.target_system == "salesforce" else "contact")
            for rows in ctx.batches(
                f'SELECT s."Id", c.id, {src} FROM "{sf_t}" s JOIN ic_contacts c ON s."{sf_key}" = '
                f'c."{ident.intercom_key}" WHERE c.role = ? AND {cond} ORDER BY s."Id"',
                [role],
            ):
                ctx.prefetch(tsys, tobj, [str(r[0] if tsys == "salesforce" else r[1]) for r in rows])
                for sf_id, ic_id, value in rows:
                    target = str(sf_id if tsys == "salesforce" else ic_id)
                    new = normalize_text(plain_value(value), m.transform)
                    fid = synthetic_finding_id("migration", m.name, sf_id, ic_id)
                    op = update_op(ctx, tsys, tobj, target, {m.target_field: new}, {"id": fid}, f"migration:{m.name}")
                    if op:
                        yield op
                ctx.forget()


Policy = Callable[[PlanContext, dict[str, Any]], Iterable[Operation | EncodedOps]]


def by_batch(policy: Policy, kind: str, system: str | None = None) -> Policy:
    """``policy`` run on its findings (of ``kind``, and ``system``) a batch at a time, each batch's records
    prefetched and then forgotten, so a plan of millions of findings holds one batch of them and their records.
    For policies whose findings do not depend on one another (each is planned from itself and the snapshot)."""

    def batched(ctx: PlanContext, opts: dict[str, Any]) -> Iterator[Operation | EncodedOps]:
        whole = ctx.findings
        try:
            for batch in whole.batches(kind, system):
                ctx.findings = FindingSource(batch)
                ops = list(policy(ctx, opts))
                ctx.forget()
                yield from ops
        finally:
            ctx.findings = whole

    batched.__name__ = batched.__qualname__ = policy.__name__
    batched.__doc__ = policy.__doc__
    return batched


POLICIES: dict[str, Policy] = {
    "backfill_identity": by_batch(backfill_identity, "identity_gap"),
    "relink_stale": by_batch(relink_stale, "stale_link"),
    "push_owner_value": by_batch(push_owner_value, "field_drift"),
    "normalize_values": normalize_values,
    "migrations": migrations,
    "log_conversations": by_batch(log_conversations, "conversation_unlogged"),
    "merge_intercom_leads": by_batch(merge_intercom_leads, "duplicate", "intercom"),
    "duplicate_worklist": duplicate_worklist,
    "rule_fixups": rule_fixups,
}
