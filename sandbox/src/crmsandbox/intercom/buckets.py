"""Exact counts of contact searches on date fields from 15-minute count buckets.

A search's ``total_count`` must be exact (the real API's is), but counting the
~400,000 rows of ``updated_at > <random day>`` on a million contacts takes
longer than a page may. Date filters compare whole days in the workspace time
zone, and every day boundary of every modern time zone is a multiple of 15
minutes, so such a count is a sum over whole buckets: ``contact_buckets``
holds, per date field, role and 15-minute bucket, the number of live contacts
(not archived, not merged away). Triggers keep it exact inside each write's own
transaction; a bulk load drops them and rebuilds the table with one GROUP BY.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

BUCKET_S = 900
FIELDS = ("created_at", "updated_at", "signed_up_at", "last_seen_at")

TABLE = """
CREATE TABLE IF NOT EXISTS contact_buckets(
  field TEXT NOT NULL, role TEXT NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(field, role, bucket)
) WITHOUT ROWID;
-- covering (n included): a sum over both roles reads the index alone
CREATE INDEX IF NOT EXISTS ix_contact_buckets_field_n ON contact_buckets(field, bucket, n);
"""

TRIGGER_NAMES = ("tr_contact_buckets_ins", "tr_contact_buckets_del", "tr_contact_buckets_upd")


def _bucket(expr: str) -> str:
    """The bucket start (floor to 15 minutes; SQLite's % truncates towards zero, hence the double modulo)."""
    return f"({expr} - ((({expr}) % {BUCKET_S}) + {BUCKET_S}) % {BUCKET_S})"


def _add(row: str, when: str = "") -> str:
    return "".join(
        f"INSERT INTO contact_buckets(field, role, bucket, n) SELECT '{f}', lower({row}.role), {_bucket(f'{row}.{f}')}, 1"
        f" WHERE {row}.{f} IS NOT NULL{when} ON CONFLICT DO UPDATE SET n = n + 1;\n"
        for f in FIELDS
    )


def _sub(row: str, when: str = "") -> str:
    return "".join(
        f"UPDATE contact_buckets SET n = n - 1 WHERE field = '{f}' AND role = lower({row}.role)"
        f" AND bucket = {_bucket(f'{row}.{f}')}{when};\n"
        for f in FIELDS
    )


_LIVE_OLD = " AND OLD.archived = 0 AND OLD.merged_into IS NULL"
_LIVE_NEW = " AND NEW.archived = 0 AND NEW.merged_into IS NULL"
TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS tr_contact_buckets_ins AFTER INSERT ON contacts
WHEN NEW.archived = 0 AND NEW.merged_into IS NULL BEGIN
{_add("NEW")}END""",
    f"""CREATE TRIGGER IF NOT EXISTS tr_contact_buckets_del AFTER DELETE ON contacts
WHEN OLD.archived = 0 AND OLD.merged_into IS NULL BEGIN
{_sub("OLD")}END""",
    f"""CREATE TRIGGER IF NOT EXISTS tr_contact_buckets_upd
AFTER UPDATE OF role, created_at, updated_at, signed_up_at, last_seen_at, archived, merged_into ON contacts BEGIN
{_sub("OLD", _LIVE_OLD)}{_add("NEW", _LIVE_NEW)}END""",
]


def create_triggers(db: sqlite3.Connection) -> None:
    """The triggers that keep the buckets exact on every write (in the write's own transaction)."""
    for statement in TRIGGERS:
        db.execute(statement)


def drop_triggers(db: sqlite3.Connection) -> None:
    """Before a bulk load (the table is rebuilt afterwards)."""
    for name in TRIGGER_NAMES:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")


def rebuild(db: sqlite3.Connection) -> None:
    """Recount every bucket from the contacts table, then (re)create the triggers."""
    db.execute("DELETE FROM contact_buckets")
    for f in FIELDS:
        db.execute(
            "INSERT INTO contact_buckets(field, role, bucket, n)"  # noqa: S608 (fixed column names)
            f" SELECT '{f}', lower(role), {_bucket(f)}, count(*) FROM contacts"
            f" WHERE archived = 0 AND merged_into IS NULL AND {f} IS NOT NULL GROUP BY 2, 3"
        )
    create_triggers(db)


@dataclass(frozen=True)
class BucketPlan:
    """A count answerable from buckets: live contacts with ``field`` in [lo, hi) (None: unbounded), of ``role``."""

    field: str
    role: str | None = None
    lo: int | None = None
    hi: int | None = None

    def aligned(self) -> bool:
        return all(b is None or b % BUCKET_S == 0 for b in (self.lo, self.hi))


def count(db: sqlite3.Connection, plan: BucketPlan) -> int:
    """The exact number of live contacts the plan describes."""
    sql, params = "SELECT coalesce(sum(n), 0) FROM contact_buckets WHERE field = ?", [plan.field]
    if plan.role is not None:
        sql += " AND role = ?"
        params.append(plan.role)
    if plan.lo is not None:
        sql += " AND bucket >= ?"
        params.append(plan.lo)
    if plan.hi is not None:
        sql += " AND bucket < ?"
        params.append(plan.hi)
    return db.execute(sql, params).fetchone()[0]
