"""Field drift over linked pairs, after the mapping's normalizers.

For each field mapping and each of its objects, every key-linked pair (the links
the connector really syncs) is compared in one SQL statement. A disagreement is
a ``field_drift`` finding unless the newer side's change is still within the sync
lag (Intercom → Salesforce immediate, Salesforce → Intercom polled), which is
counted as in flight instead. The detail says which side is newer and whether the
owner or the non-owner side changed it. Per-field agreement rates and an overall
drift score go to the metrics.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from syncaudit.audit import findings
from syncaudit.audit.context import AuditContext
from syncaudit.audit.drift_newer import DRIFT_FINDINGS_SQL, build_drift_eval, newer_side_metrics
from syncaudit.loadfolder import lit, q
from syncaudit.lookups import build_reference_table, describe_target, missing_target
from syncaudit.mapping import comparable_sql

DRIFT_DDL = """CREATE OR REPLACE TABLE sa_drift (
    field VARCHAR, object VARCHAR, sf_id VARCHAR, ic_id VARCHAR, sf_raw VARCHAR, ic_raw VARCHAR,
    sf_norm VARCHAR, ic_norm VARCHAR, sf_ts TIMESTAMPTZ, ic_ts TIMESTAMPTZ, owner VARCHAR, direction VARCHAR,
    lag_s INTEGER, sf_desc VARCHAR, ic_desc VARCHAR, sf_field VARCHAR, ic_field VARCHAR, sf_created TIMESTAMPTZ,
    linked BOOLEAN)"""
# Links the connector really syncs; the other links (identity gaps: same email, probabilistic, company fallback)
# are compared too, but their disagreements go on the identity_gap finding (extra.unsynced_fields) so that a plan
# that links the pair also syncs those fields, instead of being reported as drift of a pair nobody syncs.
SYNCED_LINKS = ("key", "email_identity")


def snapshot_time(ctx: AuditContext, manifest: dict) -> datetime:
    """When the snapshot was taken: the manifest, the id (20261126T123000Z), else the newest change in the data."""
    for key in ("started_at", "snapshot_time", "created_at", "finished_at"):
        v = manifest.get(key)
        if isinstance(v, str):
            try:
                return datetime.fromisoformat(v.replace("Z", "+00:00")).astimezone(UTC)
            except ValueError:
                pass
    m = re.match(r"^(\d{8}T\d{6})Z", ctx.snapshot_id)
    if m:
        return datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    t = ctx.con.execute(
        "SELECT greatest(max(updated_at), (SELECT max(updated_at) FROM sa_ic_people)) FROM sa_sf_people"
    ).fetchall()[0][0]
    return t.astimezone(UTC) if t else datetime.now(UTC)


def _object_fields(ctx: AuditContext, obj: str) -> list:
    """The field mappings of ``obj`` that can be compared (both columns present, not display-only, lookup
    targets in the snapshot: a missing one is a schema_conflict, not drift on every pair)."""
    sf_cols = ctx.columns(f"sf_{obj}")
    ic_cols = ctx.columns("ic_companies" if obj == "Account" else "ic_contacts")
    return [
        f
        for f in ctx.mapping.fields
        if obj in f.objects
        and f.direction != "display_only"
        and f.salesforce in sf_cols
        and f.intercom in ic_cols
        and not (f.lookup and any(missing_target(f.lookup, s, ctx.columns) for s in ("salesforce", "intercom")))
    ]


def _insert_lookup_drift(ctx: AuditContext, f, obj: str, sf_type: str | None, lag: int) -> None:  # noqa: ANN001
    """Drift of a reference field: both sides resolved through their lookups, then compared.

    Rules (docs/contracts.md): two resolved values that differ are drift; a reference that resolves to no
    record while the other side resolves is drift ("resolves to no User"); an empty side is drift only when
    the other side's value exists in the empty side's lookup table (the sync could have written it): a
    Salesforce owner without an Intercom seat, and no Intercom owner, is not drift.
    """
    con, lk, region = ctx.con, f.lookup, ctx.mapping.default_phone_region
    sc, ic = q("s__" + f.salesforce), q("i__" + f.intercom)
    side = {}
    for system, col, alias in (("salesforce", sc, "rs"), ("intercom", ic, "ri")):
        raw = f"nullif(trim(CAST(p.{col} AS VARCHAR)), '')"
        table = f"sa_ref_{alias}"
        if build_reference_table(con, lk, system, table, ctx.columns, region):
            what, compared = describe_target(lk, system), lk.target(system)[1]
            side[system] = {
                "join": f"LEFT JOIN {table} {alias} ON {alias}.k = {raw}",
                "norm": f"{alias}.v",
                "dangling": f"({raw} IS NOT NULL AND {alias}.k IS NULL)",
                "desc": f"""CASE WHEN {raw} IS NULL THEN 'empty'
                    WHEN {alias}.k IS NULL THEN '''' || {raw} || ''' (resolves to no {what})'
                    WHEN {alias}.v IS NULL THEN '''' || {raw} || ''' (' || coalesce({alias}.label || ', ', '') || 'no {compared})'
                    ELSE '''' || {raw} || ''' (' || {alias}.label || ')' END""",
                "values": f"(SELECT v FROM {table} WHERE v IS NOT NULL)",
            }
        else:  # this side is compared as it is, with the lookup's normalizers
            side[system] = {
                "join": "",
                "norm": comparable_sql(f"p.{col}", sf_type, lk.normalize, system, region),
                "dangling": "false",
                "desc": f"coalesce('''' || {raw} || '''', 'empty')",
                "values": None,
            }
    s, i = side["salesforce"], side["intercom"]
    # "fits": the value exists in the other side's lookup table, so the sync could write it there.
    s_fits = f"coalesce(sf_norm IN {i['values']}, false)" if i["values"] else "true"
    i_fits = f"coalesce(ic_norm IN {s['values']}, false)" if s["values"] else "true"
    no_ic = f"' (no Intercom {describe_target(lk, 'intercom')} has it)'"
    no_sf = f"' (no Salesforce {describe_target(lk, 'salesforce')} has it)'"
    con.execute(
        f"""INSERT INTO sa_drift
        SELECT {lit(f.name)}, {lit(obj)}, sf_id, ic_id, sf_raw, ic_raw, sf_norm, ic_norm, __sf_ts, __ic_ts,
               {lit(f.owner)}, {lit(f.direction)}, {lag},
               sf_desc || CASE WHEN sf_norm IS NOT NULL AND NOT {s_fits} THEN {no_ic} ELSE '' END,
               ic_desc || CASE WHEN ic_norm IS NOT NULL AND NOT {i_fits} THEN {no_sf} ELSE '' END,
               {lit(f.salesforce)}, {lit(f.intercom)}, __sf_created, __linked
        FROM (SELECT p.sf_id, p.ic_id, p.__sf_ts, p.__ic_ts, p.__sf_created, p.__linked, CAST(p.{sc} AS VARCHAR) AS sf_raw,
                     CAST(p.{ic} AS VARCHAR) AS ic_raw, {s["norm"]} AS sf_norm, {i["norm"]} AS ic_norm,
                     {s["dangling"]} AS sf_dangling, {i["dangling"]} AS ic_dangling,
                     {s["desc"]} AS sf_desc, {i["desc"]} AS ic_desc
              FROM sa_dpairs p {s["join"]} {i["join"]})
        WHERE CASE WHEN sf_norm IS NOT NULL AND ic_norm IS NOT NULL THEN sf_norm <> ic_norm
                   WHEN sf_norm IS NULL AND ic_norm IS NULL THEN false
                   WHEN sf_norm IS NOT NULL THEN ic_dangling OR {s_fits}
                   ELSE sf_dangling OR {i_fits} END"""
    )
    # For the metrics: pairs whose sides cannot be compared (not drift by the rules above).
    ctx.con.execute(
        f"""INSERT INTO sa_lookup_gaps
        SELECT {lit(f.name)}, {lit(obj)}, count(*) FILTER (WHERE sf_dangling), count(*) FILTER (WHERE ic_dangling),
               count(*) FILTER (WHERE (sf_norm IS NULL) <> (ic_norm IS NULL)
                                  AND NOT (sf_dangling OR ic_dangling)
                                  AND NOT (CASE WHEN sf_norm IS NOT NULL THEN {s_fits} ELSE {i_fits} END))
        FROM (SELECT {s["norm"]} AS sf_norm, {i["norm"]} AS ic_norm,
                     {s["dangling"]} AS sf_dangling, {i["dangling"]} AS ic_dangling
              FROM sa_dpairs p {s["join"]} {i["join"]} WHERE p.__linked)"""
    )


def _lookup_metrics(ctx: AuditContext, pairs_per_object: dict[str, int]) -> dict:
    rows = ctx.con.execute("SELECT * FROM sa_lookup_gaps ORDER BY 1, 2").fetchall()
    return {
        f"{fld}:{obj}": {
            "field": fld,
            "object": obj,
            "pairs": pairs_per_object.get(obj, 0),
            "unresolved_salesforce": sf_d,
            "unresolved_intercom": ic_d,
            # one side empty and the other's value has no counterpart record there (e.g. an owner without a seat)
            "no_counterpart": gap,
        }
        for fld, obj, sf_d, ic_d, gap in rows
    }


def _drift_links(ctx: AuditContext) -> None:
    """``sa_drift_links``: the links, plus each stale link's successor (the converted Contact, the merge survivor)
    with its Intercom contact — the pair that moving the key will link."""
    con = ctx.con
    stale = ""
    if ctx.has("sa_ic_hits"):
        stale = """UNION ALL SELECT h.successors[1], p.sf_object, h.ic_id, 'stale_successor'
            FROM sa_ic_hits h JOIN sa_sf_people p ON p.sf_id = h.successors[1]
            WHERE h.n_active = 0 AND NOT h.archived AND h.successors[1] IS NOT NULL"""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE sa_drift_links AS SELECT sf_id, sf_object, ic_id, how FROM sa_links {stale}"
    )


def _mark_refused_values(ctx: AuditContext) -> None:
    """``sa_drift_eval.target_refuses``: why Salesforce cannot take the owner's (Intercom's) value, per its describe
    (a restricted picklist without the value, a value longer than the field): such drift is not fixed by syncing,
    and the finding says so."""
    con = ctx.con
    con.execute("ALTER TABLE sa_drift_eval ADD COLUMN target_refuses VARCHAR")
    for f in ctx.mapping.fields:
        if f.owner != "intercom" or f.lookup is not None:
            continue
        for obj in f.objects:
            desc = ctx.md.sf_field(obj, f.salesforce) or {}
            checks = []
            if desc.get("restrictedPicklist"):
                allowed = [
                    str(p.get("value")).lower() for p in desc.get("picklistValues") or [] if p.get("active", True)
                ]
                if allowed:
                    where = f"{obj}.{f.salesforce}"
                    checks.append(
                        f"CASE WHEN lower(ic_norm) NOT IN ({', '.join(lit(a) for a in allowed)}) "
                        f"THEN concat(chr(39), ic_norm, chr(39), {lit(' is not a value of the restricted picklist ' + where)}) END"
                    )
            length = int(desc.get("length") or 0)
            if length and desc.get("type") in ("string", "textarea", "email", "phone", "url", "picklist"):
                msg = f"{obj}.{f.salesforce} holds at most {length} characters"
                checks.append(f"CASE WHEN length(ic_norm) > {length} THEN {lit(msg)} END")
            if checks:
                con.execute(
                    f"""UPDATE sa_drift_eval SET target_refuses = coalesce({", ".join(checks)})
                    WHERE field = {lit(f.name)} AND object = {lit(obj)} AND ic_norm IS NOT NULL"""
                )


def _note_unsynced_fields(con) -> None:  # noqa: ANN001
    """On each identity_gap and stale_link finding, the mapped fields its pair (for a stale link: the successor and
    the Intercom contact) disagrees on (``extra.unsynced_fields``)."""
    con.execute(
        """UPDATE findings SET extra = json_merge_patch(coalesce(findings.extra, '{}'::JSON),
                                                        json_object('unsynced_fields', u.fields))
        FROM (SELECT sf_id, ic_id, list(DISTINCT field ORDER BY field) AS fields
              FROM sa_drift_eval WHERE NOT linked GROUP BY ALL) u
        WHERE findings.kind IN ('identity_gap', 'stale_link') AND findings.records[-1] = u.ic_id
          AND list_contains(findings.records, u.sf_id)"""
    )


def profile_drift(ctx: AuditContext, manifest: dict) -> None:
    con, m = ctx.con, ctx.mapping
    con.execute(DRIFT_DDL)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sa_lookup_gaps(field VARCHAR, object VARCHAR, unresolved_salesforce BIGINT, "
        "unresolved_intercom BIGINT, no_counterpart BIGINT)"
    )
    t_snap = snapshot_time(ctx, manifest)
    _drift_links(ctx)
    region = m.default_phone_region
    pairs_per_object: dict[str, int] = {}
    for obj in ("Contact", "Lead", "Account"):
        fields = _object_fields(ctx, obj)
        if not fields:
            continue
        sf_view, ic_view = f"sf_{obj}", ("ic_companies" if obj == "Account" else "ic_contacts")
        sf_ts = "s.LastModifiedDate" if "LastModifiedDate" in ctx.columns(sf_view) else "NULL"
        sf_created = "s.CreatedDate" if "CreatedDate" in ctx.columns(sf_view) else "NULL"
        ic_ts = "i.updated_at" if "updated_at" in ctx.columns(ic_view) else "NULL"
        # One join per object; SF and IC columns are prefixed (DuckDB names are case-insensitive: Name = name).
        sf_cols = sorted({f.salesforce for f in fields})
        ic_cols = sorted({f.intercom for f in fields})
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE sa_dpairs AS
            SELECT l.sf_id, l.ic_id, CAST({sf_ts} AS TIMESTAMPTZ) AS __sf_ts, CAST({ic_ts} AS TIMESTAMPTZ) AS __ic_ts,
                   CAST({sf_created} AS TIMESTAMPTZ) AS __sf_created,
                   l.how IN ({", ".join(lit(h) for h in SYNCED_LINKS)}) AS __linked,
                   {", ".join(f"s.{q(c)} AS {q('s__' + c)}" for c in sf_cols)},
                   {", ".join(f"i.{q(c)} AS {q('i__' + c)}" for c in ic_cols)}
            FROM sa_drift_links l JOIN {q(sf_view)} s ON s.Id = l.sf_id JOIN {q(ic_view)} i ON i.id = l.ic_id
            WHERE l.sf_object = {lit(obj)}"""
        )
        pairs_per_object[obj] = ctx.con.execute("SELECT count(*) FROM sa_dpairs WHERE __linked").fetchall()[0][0]
        for f in fields:
            sf_type = (ctx.md.sf_field(obj, f.salesforce) or {}).get("type")
            lag = (
                m.sync_timing.intercom_to_salesforce_s
                if f.owner == "intercom"
                else m.sync_timing.salesforce_to_intercom_s
            )
            if f.lookup is not None:
                _insert_lookup_drift(ctx, f, obj, sf_type, lag)
                continue
            sc, ic = q("s__" + f.salesforce), q("i__" + f.intercom)
            a = comparable_sql(sc, sf_type, f.normalize, "salesforce", region)
            b = comparable_sql(ic, sf_type, f.normalize, "intercom", region)
            # Only disagreements are kept: agreement counts come from the pair count, so nothing per pair is stored.
            con.execute(
                f"""INSERT INTO sa_drift
                SELECT {lit(f.name)}, {lit(obj)}, sf_id, ic_id, CAST({sc} AS VARCHAR), CAST({ic} AS VARCHAR),
                       sf_norm, ic_norm, __sf_ts, __ic_ts, {lit(f.owner)}, {lit(f.direction)}, {lag}, NULL, NULL,
                       {lit(f.salesforce)}, {lit(f.intercom)}, __sf_created, __linked
                FROM (SELECT *, {a} AS sf_norm, {b} AS ic_norm FROM sa_dpairs)
                WHERE sf_norm IS DISTINCT FROM ic_norm"""
            )
    build_drift_eval(ctx, t_snap)
    _mark_refused_values(ctx)
    findings.insert(con, DRIFT_FINDINGS_SQL)
    _note_unsynced_fields(con)
    counts = {
        (fld, obj): (dr, fl)
        for fld, obj, dr, fl in con.execute(
            """SELECT field, object, count(*) FILTER (WHERE NOT coalesce(in_flight, false)),
                      count(*) FILTER (WHERE coalesce(in_flight, false))
               FROM sa_drift_eval WHERE linked GROUP BY 1, 2"""
        ).fetchall()
    }
    rows = []
    for obj, n in pairs_per_object.items():
        for f in _object_fields(ctx, obj):
            dr, fl = counts.get((f.name, obj), (0, 0))
            rows.append((f.name, obj, n, n - dr - fl, dr, fl))
    per_field = {
        f"{fld}:{obj}": {
            "field": fld,
            "object": obj,
            "pairs": n,
            "agree": ag,
            "drift": dr,
            "in_flight": fl,
            "agreement_rate": round(ag / n, 6) if n else None,
        }
        for fld, obj, n, ag, dr, fl in rows
    }
    total = sum(r[2] for r in rows)
    drifted = sum(r[4] for r in rows)
    lookups = _lookup_metrics(ctx, pairs_per_object)
    ctx.metrics["drift"] = {
        "lookups": lookups,
        "snapshot_time": t_snap.isoformat(),
        "per_field": per_field,
        "comparisons": total,
        "drifted": drifted,
        "in_flight": sum(r[5] for r in rows),
        "newer_side": newer_side_metrics(ctx),
        # reported drift whose owner value the target's describe refuses: syncing cannot fix it
        "target_cannot_accept": con.execute(
            "SELECT count(*) FROM sa_drift_eval WHERE linked AND target_refuses IS NOT NULL "
            "AND NOT coalesce(in_flight, false)"
        ).fetchall()[0][0],
        # Share of compared (pair, field) values that disagree beyond the sync lag: 0 is perfect.
        "drift_score": round(drifted / total, 6) if total else 0.0,
    }
