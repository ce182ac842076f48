"""Which side of a drifted pair changed the field last, from per-field evidence, and who changed it.

Record timestamps (Salesforce LastModifiedDate, Intercom updated_at) move on any field's edit, so neither says
when *this* field changed. The evidence, best first:

* Salesforce field history (AccountHistory, ContactHistory, LeadHistory, where tracking is on): the field's last
  change on this record, exact. A tracked field with no row on this record has not changed since the record was
  created (when the record is younger than the field's oldest history row) or since tracking began: a bound.
  With no history for the field, nothing dates it: LastModifiedDate moves on any field's edit, so it is not used.
* Intercom keeps no per-field time: ``updated_at`` is the best it offers, an upper bound. Findings say so.
* syncaudit's own writes (the apply journal, copied into the snapshot as ``sy_own_writes``): a history row whose
  value is the one we wrote, or an Intercom ``updated_at`` equal to the version our write's answer reported, is
  our write, not an owner's or a non-owner's edit. Our write of *another* field moved ``updated_at``, so it says
  nothing about this field.

Decisions (``newer`` / ``newer_basis``): Salesforce is newer only when its exact field time is after Intercom's
upper bound (``field_history``); Intercom is newer when its record time is after Salesforce's field time or its
history bound (``intercom_record_time``: an unrelated Intercom edit can still look like this, which Intercom's API
cannot rule out); without Salesforce field history, or anything else, it is unknown (``newer`` null: "which side is newer is unknown"), never a guess. In flight means
the newer side is the one that syncs and its change is within the lag: an owner-side edit of another field no
longer hides a drift on the Salesforce side (history is per field); on the Intercom side the window is its sync lag.
"""

from __future__ import annotations

from datetime import datetime

from syncaudit.audit.context import AuditContext
from syncaudit.loadfolder import lit, q

# How Salesforce names fields in history rows: the owner as Owner, the account as Account.
HISTORY_ALIASES = {"Owner": "OwnerId", "Account": "AccountId"}
NAME_PARTS = ("FirstName", "LastName", "Salutation", "MiddleName")


def _build_history(ctx: AuditContext) -> bool:
    """``sa_hist_last(sf_id, field_api, at, by_id, value)`` and ``sa_hist_since(object, field_api, since)``."""
    con = ctx.con
    parts = []
    for obj in ("Account", "Contact", "Lead"):
        view = f"sf_{obj}History"
        cols = set(ctx.columns(view))
        if not {f"{obj}Id", "Field", "CreatedDate"} <= cols:
            continue
        field = "CASE Field " + " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in HISTORY_ALIASES.items())
        deleted = "AND NOT coalesce(IsDeleted, false)" if "IsDeleted" in cols else ""
        parts.append(
            f"""SELECT {lit(obj)} AS object, {q(obj + "Id")} AS sf_id, {field} ELSE Field END AS field_api,
                   CAST(CreatedDate AS TIMESTAMPTZ) AS changed_at, {ctx.col(view, "CreatedById")} AS by_id,
                   {ctx.col(view, "NewValue")} AS value
            FROM {q(view)} WHERE Field IS NOT NULL AND Field <> 'created' {deleted}"""
        )
    if not parts:
        return False
    con.execute("CREATE OR REPLACE TEMP TABLE sa_hist AS " + " UNION ALL ".join(parts))
    # A person's Name is computed from its parts: a change of any part is a change of Name.
    con.execute(
        f"""INSERT INTO sa_hist SELECT object, sf_id, 'Name', changed_at, by_id, NULL FROM sa_hist
        WHERE object IN ('Contact', 'Lead') AND field_api IN ({", ".join(lit(n) for n in NAME_PARTS)})"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE sa_hist_last AS
        SELECT sf_id, field_api, max(changed_at) AS changed_at, arg_max(by_id, changed_at) AS by_id,
               arg_max(value, changed_at) AS value
        FROM sa_hist GROUP BY ALL"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sa_hist_since AS SELECT object, field_api, min(changed_at) AS since FROM sa_hist GROUP BY ALL"
    )
    return True


def _build_own_writes(ctx: AuditContext) -> None:
    """``sa_own_sf(record_id, field, value, run_id)`` and ``sa_own_ic(record_id, version, fields, run_id)``."""
    con = ctx.con
    if {"system", "record_id", "field", "value", "version_before", "version_after", "run_id"} <= set(
        ctx.columns("sy_own_writes")
    ):
        con.execute(
            """CREATE OR REPLACE TEMP TABLE sa_own_sf AS
            SELECT record_id, field, value, max(run_id) AS run_id FROM sy_own_writes
            WHERE system = 'salesforce' AND field IS NOT NULL GROUP BY ALL"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE sa_own_ic AS
            SELECT record_id, TRY_CAST(TRY_CAST(version_after AS DOUBLE) AS BIGINT) AS version,
                   max(TRY_CAST(TRY_CAST(version_before AS DOUBLE) AS BIGINT)) AS version_before,
                   list(field) FILTER (WHERE field IS NOT NULL) AS fields, max(run_id) AS run_id
            FROM sy_own_writes WHERE system = 'intercom' AND version_after IS NOT NULL GROUP BY 1, 2"""
        )
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sa_own_sf(record_id VARCHAR, field VARCHAR, value VARCHAR, run_id VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sa_own_ic(record_id VARCHAR, version BIGINT, version_before BIGINT, "
        "fields VARCHAR[], run_id VARCHAR)"
    )


def build_drift_eval(ctx: AuditContext, t_snap: datetime) -> None:
    """``sa_drift_eval``: ``sa_drift`` plus newer, newer_basis, own_run (our write, when it is the newer side),
    age_s and in_flight."""
    con = ctx.con
    if not _build_history(ctx):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE sa_hist_last(sf_id VARCHAR, field_api VARCHAR, changed_at TIMESTAMPTZ, "
            "by_id VARCHAR, value VARCHAR)"
        )
        con.execute("CREATE OR REPLACE TEMP TABLE sa_hist_since(object VARCHAR, field_api VARCHAR, since TIMESTAMPTZ)")
    _build_own_writes(ctx)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE sa_drift_ev0 AS
        SELECT d.*, h.changed_at AS sf_field_ts, hs.since AS tracked_since,
               ow.run_id AS sf_own_run, oi.fields AS ic_own_fields, oi.run_id AS ic_own_run,
               to_timestamp(oi.version_before) AS ic_before_own
        FROM sa_drift d
        LEFT JOIN sa_hist_last h ON h.sf_id = d.sf_id AND h.field_api = d.sf_field
        LEFT JOIN sa_hist_since hs ON hs.object = d.object AND hs.field_api = d.sf_field
        LEFT JOIN sa_own_sf ow ON ow.record_id = d.sf_id AND ow.field = d.sf_field AND h.changed_at IS NOT NULL
             AND ow.value IS NOT DISTINCT FROM h.value
        LEFT JOIN sa_own_ic oi ON oi.record_id = d.ic_id AND oi.version = CAST(epoch(d.ic_ts) AS BIGINT)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE sa_drift_ev1 AS
        SELECT *,
            -- Salesforce: the field's last change, exact (history, or unchanged since a creation tracked by history)
            CASE WHEN sf_field_ts IS NOT NULL THEN sf_field_ts
                 WHEN tracked_since IS NOT NULL AND sf_created >= tracked_since THEN sf_created END AS sf_exact,
            -- ... else an upper bound of it from history (unchanged since tracking began); never LastModifiedDate,
            -- which moves on any field's edit
            CASE WHEN sf_field_ts IS NOT NULL THEN sf_field_ts
                 WHEN tracked_since IS NOT NULL THEN greatest(sf_created, tracked_since) END AS sf_bound,
            ic_own_fields IS NOT NULL AND list_contains(ic_own_fields, ic_field) AS ic_ours_this,
            ic_own_fields IS NOT NULL AND NOT list_contains(ic_own_fields, ic_field) AS ic_ours_other,
            -- Intercom's bound: updated_at, or, when that is our write of other fields, updated_at before it
            CASE WHEN ic_own_fields IS NOT NULL AND NOT list_contains(ic_own_fields, ic_field) THEN ic_before_own
                 ELSE ic_ts END AS ic_bound
        FROM sa_drift_ev0"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE sa_drift_ev2 AS
        SELECT *,
            CASE WHEN sf_exact IS NOT NULL AND ic_bound IS NOT NULL AND sf_exact > ic_bound THEN 'salesforce'
                 WHEN ic_bound IS NOT NULL AND sf_bound IS NOT NULL AND ic_bound > sf_bound THEN 'intercom'
                 WHEN sf_exact IS NOT NULL AND ic_bound IS NOT NULL AND sf_exact = ic_bound THEN 'same'
            END AS newer
        FROM sa_drift_ev1"""
    )
    con.execute(
        f"""CREATE OR REPLACE TABLE sa_drift_eval AS
        SELECT *, true AS differs,
            CASE newer WHEN 'salesforce' THEN 'field_history' WHEN 'intercom' THEN 'intercom_record_time'
                       WHEN 'same' THEN 'field_history' END AS newer_basis,
            CASE WHEN newer = 'salesforce' THEN sf_own_run WHEN newer = 'intercom' AND ic_ours_this THEN ic_own_run
            END AS own_run,
            epoch(TIMESTAMPTZ {lit(t_snap.isoformat())}) - epoch(
                  CASE newer WHEN 'salesforce' THEN sf_exact WHEN 'intercom' THEN ic_bound ELSE greatest(sf_ts, ic_ts) END
            ) AS age_s
        FROM sa_drift_ev2"""
    )
    # In flight: the side that syncs (the owner, or either for 'both') changed it less than the lag ago.
    con.execute(
        """CREATE OR REPLACE TABLE sa_drift_eval AS SELECT *,
            newer IS NOT NULL AND own_run IS NULL AND (newer = owner OR direction = 'both') AND age_s <= lag_s
                AS in_flight
        FROM sa_drift_eval"""
    )


def newer_side_metrics(ctx: AuditContext) -> dict[str, int]:
    """How the newer side of the reported drifts was decided (counts)."""
    rows = ctx.con.execute(
        """SELECT CASE WHEN own_run IS NOT NULL THEN 'syncaudit_own_write' ELSE coalesce(newer_basis, 'unknown') END,
                  count(*)
           FROM sa_drift_eval WHERE linked AND NOT coalesce(in_flight, false) GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    return {k: int(n) for k, n in rows}


_WHO = """CASE WHEN own_run IS NOT NULL THEN 'syncaudit''s own write, run ' || own_run
               WHEN newer = owner THEN 'the owner changed it' ELSE 'the non-owner side changed it' END"""
_BASIS = """CASE newer_basis WHEN 'field_history' THEN 'Salesforce field history'
                 ELSE 'Intercom''s updated_at: Intercom keeps no per-field time' END"""
_UNKNOWN = """'which side is newer is unknown (' ||
    CASE WHEN ic_ours_other THEN 'Intercom''s last update was syncaudit''s own write of other fields, run ' ||
                                 ic_own_run || CASE WHEN ic_bound IS NULL THEN ', and its time before that is not known' ELSE '' END || '; '
         ELSE '' END ||
    CASE WHEN sf_exact IS NULL THEN 'Salesforce keeps no field history of ' || sf_field ||
                                    ', and record timestamps move on any field''s edit'
         ELSE 'Salesforce changed ' || sf_field || ' at ' || strftime(sf_exact, '%Y-%m-%dT%H:%M:%SZ') ||
              ', Intercom keeps no per-field time' END || ')'"""

DRIFT_FINDINGS_SQL = f"""SELECT 'field_drift', 'both', object, [sf_id, ic_id], field,
    CASE WHEN newer IS NOT NULL AND newer <> owner AND newer <> 'same' AND own_run IS NULL THEN 'high' ELSE 'medium' END,
    object || ' ' || sf_id || ' and Intercom ' || CASE WHEN object = 'Account' THEN 'company ' ELSE 'contact ' END ||
    ic_id || ' disagree on ' || field || ': Salesforce ' || coalesce(sf_desc, '''' || sf_raw || '''', 'empty') ||
    ' vs Intercom ' || coalesce(ic_desc, '''' || ic_raw || '''', 'empty') ||
    CASE WHEN sf_desc IS NOT NULL OR ic_desc IS NOT NULL THEN ''
         WHEN sf_raw IS DISTINCT FROM sf_norm OR ic_raw IS DISTINCT FROM ic_norm
         THEN ' (normalized: ' || coalesce(sf_norm, 'empty') || ' vs ' || coalesce(ic_norm, 'empty') || ')' ELSE '' END ||
    '; ' || CASE
        WHEN newer IS NULL THEN {_UNKNOWN}
        WHEN newer = 'same' THEN 'both sides changed at the same time'
        ELSE (CASE newer WHEN 'salesforce' THEN 'Salesforce' ELSE 'Intercom' END) || ' is newer (' || {_WHO} || ', ' ||
             CAST(round(age_s) AS BIGINT) || ' s before the snapshot, beyond the ' || lag_s || ' s sync lag; ' ||
             {_BASIS} || ')' END ||
    '; ' || owner || ' owns the field (' || direction || ')' ||
    coalesce('; Salesforce cannot accept the value: ' || target_refuses, ''),
    CASE WHEN newer IS NOT NULL AND newer <> owner AND newer <> 'same' AND own_run IS NULL
         THEN 'the non-owner side was edited: copy the owner''s value back to it, or make the change in ' || owner
         ELSE 'copy the ' || owner || ' value to ' || CASE owner WHEN 'salesforce' THEN 'Intercom' ELSE 'Salesforce' END END ||
    CASE WHEN sf_desc IS NOT NULL OR ic_desc IS NOT NULL
         THEN ' (a reference: write the id of the record it resolves to on that side)' ELSE '' END,
    sf_raw, ic_raw, NULL, 'field_drift', NULL,
    json_object('newer', newer, 'owner', owner, 'newer_basis', newer_basis,
                'changed_by', CASE WHEN own_run IS NOT NULL THEN 'syncaudit' WHEN newer IS NULL OR newer = 'same' THEN NULL
                                   WHEN newer = owner THEN 'owner' ELSE 'non_owner' END,
                'own_write_run', own_run, 'target_cannot_accept', target_refuses,
                'normalized', json_object('salesforce', sf_norm, 'intercom', ic_norm))
FROM sa_drift_eval WHERE linked AND differs AND NOT coalesce(in_flight, false)"""
