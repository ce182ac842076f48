"""A synthetic snapshot folder in the layout of docs/contracts.md, with known defects (tests and bench).

Rows are built column-wise with numpy so the bench can write 1,000,000 rows per
object in seconds. Defects sit at fixed rows, listed in PLANTED, so tests can
assert exactly which records a suite must name.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SNAPSHOT_ID = "20261126T120000Z"
T0 = np.datetime64("2024-01-01T00:00:00", "us")

PLANS = ["Free", "Starter", "Pro", "Enterprise"]
TRIALS = ["Not Started", "Active", "Expired", "Converted"]
REFERRALS = ["Organic", "Paid Search", "Partner", "Referral", "Event", "Outbound"]
STAGES = ["Subscriber", "Lead", "MQL", "SQL", "Opportunity", "Customer"]
IC_REFERRALS = ["google", "organic", "partner", "referral", "event", "outbound", "adwords"]

# object -> defect -> row index (every defect on its own row)
PLANTED = {
    "Contact": {
        "bad_email": 3,
        "dup_key": (5, 6),
        "null_key": 7,
        "bad_plan": 8,
        "modified_before_created": 9,
        "dup_id": (13, 14),  # a record written twice: a broken snapshot, the gate's case
        "bad_phone": 15,
    },
    "contacts": {"bad_referral": 4, "future_created": 10, "user_without_key": 11, "long_partner_code": 12},
}


def _ids(prefix: str, n: int, offset: int = 0) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(offset, offset + n).astype(str), 18 - len(prefix)))


def _pick(rng: np.random.Generator, values: list[str], n: int) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]


def _ts(rng: np.random.Generator, n: int, days: int = 600) -> tuple[np.ndarray, np.ndarray]:
    created = T0 + rng.integers(0, days * 86_400, n).astype("timedelta64[s]")
    modified = created + rng.integers(0, 30 * 86_400, n).astype("timedelta64[s]")
    return created, modified


def _tscol(a: np.ndarray) -> pa.Array:
    return pa.array(a.astype("datetime64[us]"), type=pa.timestamp("us", tz="UTC"))


def _field(name: str, type_: str, **kw: object) -> dict:
    f = {"name": name, "type": type_, "custom": name.endswith("__c"), "nillable": True, "unique": False}
    f["externalId"] = False
    f["picklistValues"] = [{"value": v, "label": v, "active": True} for v in kw.pop("values", [])]
    f.update(kw)
    return f


def _describes() -> dict[str, dict]:
    common = [_field("Id", "id", nillable=False)] + [_field(c, "datetime") for c in ("CreatedDate",)]
    common += [_field("LastModifiedDate", "datetime"), _field("SystemModstamp", "datetime")]
    common += [_field("IsDeleted", "boolean")]
    people = [
        _field("Email", "email", length=80),
        _field("Phone", "phone", length=40),
        _field("Name", "string", length=121),
        _field("LastName", "string", length=80),
        _field("Product_User_Id__c", "string", length=64, externalId=True, unique=True),
        _field("Plan_Type__c", "picklist", values=PLANS, restrictedPicklist=True),
        _field("Referral_Source__c", "picklist", values=REFERRALS, restrictedPicklist=True),
        _field("Lifecycle_Stage__c", "picklist", values=STAGES),
    ]
    contact = people + [
        _field("Trial_Status__c", "picklist", values=TRIALS),
        _field("Partner_Code__c", "string", length=20),
        _field("Seats__c", "double"),
    ]
    account = [_field("Name", "string", length=255), _field("AccountNumber", "string", length=40)]
    account += [_field("Industry", "string", length=40)]  # a picklist in real orgs; values vary by org
    activity = [_field("Subject", "string", length=255), _field("Description", "textarea", length=32000)]
    activity += [_field("Status", "string", length=40)]
    return {
        "Contact": {"name": "Contact", "fields": common + contact},
        "Lead": {"name": "Lead", "fields": common + people},
        "Account": {"name": "Account", "fields": common + account},
        "Task": {"name": "Task", "fields": common + activity},
        "Case": {"name": "Case", "fields": common + activity},
    }


DATA_ATTRIBUTES = [
    {"name": n, "full_name": f"custom_attributes.{n}", "data_type": t, "custom": True, "model": "contact"}
    for n, t in [
        ("plan_type", "string"),
        ("trial_status", "string"),
        ("referral_source", "string"),
        ("lifecycle_stage", "string"),
        ("partner_code", "string"),
        ("seats", "integer"),
    ]
] + [{"name": "email", "full_name": "email", "data_type": "string", "custom": False, "model": "contact"}]


CHUNK_ROWS = 1_000_000  # rows built at a time: the bench writes 10,000,000 rows per object in bounded memory


class _ChunkWriter:
    """Appends chunks of columns to one Parquet file (one row group per chunk)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.writer = path, None

    def write(self, cols: dict[str, object]) -> None:
        arrays = {k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in cols.items()}
        table = pa.table(arrays)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _chunks(n: int):
    for lo in range(0, max(n, 1), CHUNK_ROWS):
        yield lo, min(CHUNK_ROWS, n - lo)


def _at(defect: int, lo: int, m: int) -> int | None:
    """The chunk position of a planted defect's row, or None when another chunk holds it."""
    return defect - lo if lo <= defect < lo + m else None


def _contact(rng: np.random.Generator, lo: int, m: int, n: int) -> dict[str, object]:
    r = np.arange(lo, lo + m).astype(str)
    keys = np.char.add("u", r).astype(object)
    emails = np.char.add(np.char.add("user", r), "@example.com").astype(object)
    c_created, c_modified = _ts(rng, m)
    contact = {
        "Id": _ids("003", m, lo),
        "IsDeleted": np.zeros(m, bool),
        "LastName": np.char.add("Name", r),
        "Name": np.char.add("First Name", r),
        "Email": emails.copy(),
        "Phone": np.full(m, "+14155550100", dtype=object),
        "Product_User_Id__c": keys.copy(),
        "Plan_Type__c": _pick(rng, PLANS, m),
        "Trial_Status__c": _pick(rng, TRIALS, m),
        "Referral_Source__c": _pick(rng, REFERRALS, m),
        "Lifecycle_Stage__c": _pick(rng, STAGES, m),
        "Partner_Code__c": np.full(m, "P-1", dtype=object),
        "Seats__c": rng.integers(1, 50, m).astype(float),
        "CreatedDate": c_created,
        "LastModifiedDate": c_modified,
        "SystemModstamp": c_modified,
    }
    d = PLANTED["Contact"]
    contact["Id"] = contact["Id"].astype(object)
    contact["LastModifiedDate"] = contact["LastModifiedDate"].copy()
    if lo == 0:  # every planted defect sits in the first rows (first chunk)
        contact["Email"][d["bad_email"]] = "not an email"
        contact["Product_User_Id__c"][d["dup_key"][1]] = contact["Product_User_Id__c"][d["dup_key"][0]]
        contact["Product_User_Id__c"][d["null_key"]] = None
        contact["Plan_Type__c"][d["bad_plan"]] = "Gold"
        contact["Id"][d["dup_id"][1]] = contact["Id"][d["dup_id"][0]]
        contact["Phone"][d["bad_phone"]] = "+1 415"
        contact["LastModifiedDate"][d["modified_before_created"]] = c_created[
            d["modified_before_created"]
        ] - np.timedelta64(3600, "s")
    last = _at(n - 1, lo, m)
    if last is not None:
        contact["IsDeleted"][last] = True  # a tombstone with a bad email: must be ignored
        contact["Email"][last] = "deleted row"
    for k in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        contact[k] = _tscol(contact[k])
    return contact


def _lead(rng: np.random.Generator, lo: int, m: int, n: int) -> dict[str, object]:
    r = np.arange(lo, lo + m).astype(str)
    l_created, l_modified = _ts(rng, m)
    return {
        "Id": _ids("00Q", m, lo),
        "IsDeleted": np.zeros(m, bool),
        "LastName": np.char.add("Lead", r),
        "Name": np.char.add("A Lead", r),
        "Email": np.char.add(np.char.add("lead", r), "@example.org"),
        "Phone": np.full(m, "(415) 555-0100", dtype=object),
        "Product_User_Id__c": np.char.add("lead", r).astype(object),
        "Plan_Type__c": _pick(rng, PLANS, m),
        "Referral_Source__c": _pick(rng, REFERRALS, m),
        "Lifecycle_Stage__c": _pick(rng, STAGES, m),
        "CreatedDate": _tscol(l_created),
        "LastModifiedDate": _tscol(l_modified),
        "SystemModstamp": _tscol(l_modified),
    }


def _account(rng: np.random.Generator, lo: int, m: int, n: int) -> dict[str, object]:
    r = np.arange(lo, lo + m).astype(str)
    a_created, a_modified = _ts(rng, m)
    return {
        "Id": _ids("001", m, lo),
        "IsDeleted": np.zeros(m, bool),
        "Name": np.char.add("Company ", r),
        "AccountNumber": np.char.add("C", r),
        "Industry": _pick(rng, ["Technology", "Retail", "Finance"], m),
        "CreatedDate": _tscol(a_created),
        "LastModifiedDate": _tscol(a_modified),
        "SystemModstamp": _tscol(a_modified),
    }


def _activity(obj: str, prefix: str):
    def build(rng: np.random.Generator, lo: int, m: int, n: int) -> dict[str, object]:
        r = np.arange(lo, lo + m).astype(str)
        created, modified = _ts(rng, m)
        emails = np.char.add(np.char.add("user", r), "@example.com").astype(object)
        extra = {"SuppliedEmail": emails} if obj == "Case" else {}
        return {
            **extra,
            "Id": _ids(prefix, m, lo),
            "IsDeleted": np.zeros(m, bool),
            "Subject": np.full(m, "Intercom conversation", dtype=object),
            "Status": _pick(rng, ["Completed", "Closed"], m),
            "Description": np.char.add("https://app.intercom.com/a/inbox/app/inbox/conversation/", _ids("", m, lo)),
            "CreatedDate": _tscol(created),
            "LastModifiedDate": _tscol(modified),
            "SystemModstamp": _tscol(modified),
        }

    return build


def _contacts(rng: np.random.Generator, lo: int, m: int, n: int) -> dict[str, object]:
    r = np.arange(lo, lo + m).astype(str)
    i_created, i_modified = _ts(rng, m)
    contacts = {
        "id": _ids("ic", m, lo),
        "role": np.full(m, "user", dtype=object),
        "external_id": np.char.add("u", r).astype(object),
        "email": np.char.add(np.char.add("user", r), "@example.com").astype(object),
        "phone": np.full(m, "+14155550100", dtype=object),
        "name": np.char.add("First Name", r),
        "archived": np.zeros(m, bool),
        "created_at": i_created,
        "updated_at": i_modified,
        "signed_up_at": _tscol(i_created),
        "last_seen_at": _tscol(i_modified),
        "custom_attributes.plan_type": _pick(rng, PLANS, m),
        "custom_attributes.trial_status": _pick(rng, TRIALS, m),
        "custom_attributes.referral_source": _pick(rng, IC_REFERRALS, m),
        "custom_attributes.lifecycle_stage": _pick(rng, STAGES, m),
        "custom_attributes.partner_code": np.full(m, "P-1", dtype=object),
        "custom_attributes.seats": rng.integers(1, 50, m),
    }
    d = PLANTED["contacts"]
    if lo == 0:
        contacts["custom_attributes.referral_source"][d["bad_referral"]] = "myspace"
        contacts["created_at"][d["future_created"]] = np.datetime64("2031-01-01T00:00:00", "us")
        contacts["updated_at"][d["future_created"]] = np.datetime64("2031-01-02T00:00:00", "us")
        contacts["external_id"][d["user_without_key"]] = None
        contacts["custom_attributes.partner_code"][d["long_partner_code"]] = "X" * 25
    contacts["created_at"] = _tscol(contacts["created_at"])
    contacts["updated_at"] = _tscol(contacts["updated_at"])
    return contacts


def _companies(rng: np.random.Generator, lo: int, m: int, n: int) -> dict[str, object]:
    r = np.arange(lo, lo + m).astype(str)
    co_created, co_modified = _ts(rng, m)
    return {
        "id": _ids("co", m, lo),
        "company_id": np.char.add("C", r),
        "name": np.char.add("company ", r),
        "industry": _pick(rng, ["Technology", "Retail", "Finance"], m),
        "created_at": _tscol(co_created),
        "updated_at": _tscol(co_modified),
        "remote_created_at": _tscol(co_created),
    }


def _conversations(rng: np.random.Generator, lo: int, m: int, n: int) -> dict[str, object]:
    cv_created, cv_modified = _ts(rng, m)
    return {
        "id": _ids("", m, lo),
        "state": _pick(rng, ["open", "closed", "snoozed"], m),
        "open": np.zeros(m, bool),
        "created_at": _tscol(cv_created),
        "updated_at": _tscol(cv_modified),
    }


def write_snapshot(data_dir: Path, n: int = 40, seed: int = 1, snapshot_id: str = SNAPSHOT_ID) -> Path:
    """Write a complete snapshot of ``n`` rows per object under ``data_dir/snapshots``; returns its folder.

    Tables are built and appended CHUNK_ROWS rows at a time, so memory does not grow with ``n``."""
    rng = np.random.default_rng(seed)
    snap = data_dir / "snapshots" / snapshot_id
    sf, ic = snap / "salesforce", snap / "intercom"
    tables = [
        (sf / "Contact.parquet", _contact),
        (sf / "Lead.parquet", _lead),
        (sf / "Account.parquet", _account),
        (sf / "Task.parquet", _activity("Task", "00T")),
        (sf / "Case.parquet", _activity("Case", "500")),
        (ic / "contacts.parquet", _contacts),
        (ic / "companies.parquet", _companies),
        (ic / "conversations.parquet", _conversations),
    ]
    for path, build in tables:
        out = _ChunkWriter(path)
        try:
            for lo, m in _chunks(n):
                out.write(build(rng, lo, m, n))
        finally:
            out.close()
    (sf / "describe").mkdir(parents=True, exist_ok=True)
    for obj, desc in _describes().items():
        (sf / "describe" / f"{obj}.json").write_text(json.dumps(desc), encoding="utf-8")
    (ic / "data_attributes.json").write_text(json.dumps(DATA_ATTRIBUTES), encoding="utf-8")
    manifest = {"id": snapshot_id, "status": "complete", "finished_at": "2026-11-26T12:30:00Z"}
    (snap / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (data_dir / "snapshots" / "LATEST").write_text(snapshot_id, encoding="utf-8")
    return snap


if __name__ == "__main__":  # handy for trying the CLI by hand
    import sys

    print(write_snapshot(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 40))
    print(datetime.now(UTC).isoformat())
