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


def _write(path: Path, cols: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in cols.items()}
    pq.write_table(pa.table(arrays), path)


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


def write_snapshot(data_dir: Path, n: int = 40, seed: int = 1, snapshot_id: str = SNAPSHOT_ID) -> Path:
    """Write a complete snapshot of ``n`` rows per object under ``data_dir/snapshots``; returns its folder."""
    rng = np.random.default_rng(seed)
    snap = data_dir / "snapshots" / snapshot_id
    sf, ic = snap / "salesforce", snap / "intercom"
    keys = np.char.add("u", np.arange(n).astype(str)).astype(object)
    emails = np.char.add(np.char.add("user", np.arange(n).astype(str)), "@example.com").astype(object)

    c_created, c_modified = _ts(rng, n)
    contact = {
        "Id": _ids("003", n),
        "IsDeleted": np.zeros(n, bool),
        "LastName": np.char.add("Name", np.arange(n).astype(str)),
        "Name": np.char.add("First Name", np.arange(n).astype(str)),
        "Email": emails.copy(),
        "Phone": np.full(n, "+14155550100", dtype=object),
        "Product_User_Id__c": keys.copy(),
        "Plan_Type__c": _pick(rng, PLANS, n),
        "Trial_Status__c": _pick(rng, TRIALS, n),
        "Referral_Source__c": _pick(rng, REFERRALS, n),
        "Lifecycle_Stage__c": _pick(rng, STAGES, n),
        "Partner_Code__c": np.full(n, "P-1", dtype=object),
        "Seats__c": rng.integers(1, 50, n).astype(float),
        "CreatedDate": c_created,
        "LastModifiedDate": c_modified,
        "SystemModstamp": c_modified,
    }
    d = PLANTED["Contact"]
    contact["Email"][d["bad_email"]] = "not an email"
    contact["Product_User_Id__c"][d["dup_key"][1]] = contact["Product_User_Id__c"][d["dup_key"][0]]
    contact["Product_User_Id__c"][d["null_key"]] = None
    contact["Plan_Type__c"][d["bad_plan"]] = "Gold"
    contact["Id"] = contact["Id"].astype(object)
    contact["Id"][d["dup_id"][1]] = contact["Id"][d["dup_id"][0]]
    contact["Phone"][d["bad_phone"]] = "+1 415"
    contact["LastModifiedDate"] = contact["LastModifiedDate"].copy()
    contact["LastModifiedDate"][d["modified_before_created"]] = c_created[
        d["modified_before_created"]
    ] - np.timedelta64(3600, "s")
    contact["IsDeleted"][n - 1] = True  # a tombstone with a bad email: must be ignored
    contact["Email"][n - 1] = "deleted row"
    for k in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        contact[k] = _tscol(contact[k])
    _write(sf / "Contact.parquet", contact)

    l_created, l_modified = _ts(rng, n)
    lead_keys = np.char.add("lead", np.arange(n).astype(str)).astype(object)
    _write(
        sf / "Lead.parquet",
        {
            "Id": _ids("00Q", n),
            "IsDeleted": np.zeros(n, bool),
            "LastName": np.char.add("Lead", np.arange(n).astype(str)),
            "Name": np.char.add("A Lead", np.arange(n).astype(str)),
            "Email": np.char.add(np.char.add("lead", np.arange(n).astype(str)), "@example.org"),
            "Phone": np.full(n, "(415) 555-0100", dtype=object),
            "Product_User_Id__c": lead_keys,
            "Plan_Type__c": _pick(rng, PLANS, n),
            "Referral_Source__c": _pick(rng, REFERRALS, n),
            "Lifecycle_Stage__c": _pick(rng, STAGES, n),
            "CreatedDate": _tscol(l_created),
            "LastModifiedDate": _tscol(l_modified),
            "SystemModstamp": _tscol(l_modified),
        },
    )
    a_created, a_modified = _ts(rng, n)
    _write(
        sf / "Account.parquet",
        {
            "Id": _ids("001", n),
            "IsDeleted": np.zeros(n, bool),
            "Name": np.char.add("Company ", np.arange(n).astype(str)),
            "AccountNumber": np.char.add("C", np.arange(n).astype(str)),
            "Industry": _pick(rng, ["Technology", "Retail", "Finance"], n),
            "CreatedDate": _tscol(a_created),
            "LastModifiedDate": _tscol(a_modified),
            "SystemModstamp": _tscol(a_modified),
        },
    )
    for obj, prefix in (("Task", "00T"), ("Case", "500")):
        created, modified = _ts(rng, n)
        extra = {"SuppliedEmail": emails.copy()} if obj == "Case" else {}
        _write(
            sf / f"{obj}.parquet",
            {
                **extra,
                "Id": _ids(prefix, n),
                "IsDeleted": np.zeros(n, bool),
                "Subject": np.full(n, "Intercom conversation", dtype=object),
                "Status": _pick(rng, ["Completed", "Closed"], n),
                "Description": np.char.add("https://app.intercom.com/a/inbox/app/inbox/conversation/", _ids("", n)),
                "CreatedDate": _tscol(created),
                "LastModifiedDate": _tscol(modified),
                "SystemModstamp": _tscol(modified),
            },
        )
    (sf / "describe").mkdir(parents=True, exist_ok=True)
    for obj, desc in _describes().items():
        (sf / "describe" / f"{obj}.json").write_text(json.dumps(desc), encoding="utf-8")

    i_created, i_modified = _ts(rng, n)
    contacts = {
        "id": _ids("ic", n),
        "role": np.full(n, "user", dtype=object),
        "external_id": keys.copy(),
        "email": emails.copy(),
        "phone": np.full(n, "+14155550100", dtype=object),
        "name": np.char.add("First Name", np.arange(n).astype(str)),
        "archived": np.zeros(n, bool),
        "created_at": i_created,
        "updated_at": i_modified,
        "signed_up_at": _tscol(i_created),
        "last_seen_at": _tscol(i_modified),
        "custom_attributes.plan_type": _pick(rng, PLANS, n),
        "custom_attributes.trial_status": _pick(rng, TRIALS, n),
        "custom_attributes.referral_source": _pick(rng, IC_REFERRALS, n),
        "custom_attributes.lifecycle_stage": _pick(rng, STAGES, n),
        "custom_attributes.partner_code": np.full(n, "P-1", dtype=object),
        "custom_attributes.seats": rng.integers(1, 50, n),
    }
    d = PLANTED["contacts"]
    contacts["custom_attributes.referral_source"][d["bad_referral"]] = "myspace"
    contacts["created_at"][d["future_created"]] = np.datetime64("2031-01-01T00:00:00", "us")
    contacts["updated_at"][d["future_created"]] = np.datetime64("2031-01-02T00:00:00", "us")
    contacts["external_id"][d["user_without_key"]] = None
    contacts["custom_attributes.partner_code"][d["long_partner_code"]] = "X" * 25
    contacts["created_at"] = _tscol(contacts["created_at"])
    contacts["updated_at"] = _tscol(contacts["updated_at"])
    _write(ic / "contacts.parquet", contacts)

    co_created, co_modified = _ts(rng, n)
    _write(
        ic / "companies.parquet",
        {
            "id": _ids("co", n),
            "company_id": np.char.add("C", np.arange(n).astype(str)),
            "name": np.char.add("company ", np.arange(n).astype(str)),
            "industry": _pick(rng, ["Technology", "Retail", "Finance"], n),
            "created_at": _tscol(co_created),
            "updated_at": _tscol(co_modified),
            "remote_created_at": _tscol(co_created),
        },
    )
    cv_created, cv_modified = _ts(rng, n)
    _write(
        ic / "conversations.parquet",
        {
            "id": _ids("", n),
            "state": _pick(rng, ["open", "closed", "snoozed"], n),
            "open": np.zeros(n, bool),
            "created_at": _tscol(cv_created),
            "updated_at": _tscol(cv_modified),
        },
    )
    (ic / "data_attributes.json").write_text(json.dumps(DATA_ATTRIBUTES), encoding="utf-8")
    manifest = {"id": snapshot_id, "status": "complete", "finished_at": "2026-11-26T12:30:00Z"}
    (snap / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (data_dir / "snapshots" / "LATEST").write_text(snapshot_id, encoding="utf-8")
    return snap


if __name__ == "__main__":  # handy for trying the CLI by hand
    import sys

    print(write_snapshot(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 40))
    print(datetime.now(UTC).isoformat())
