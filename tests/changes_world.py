"""An org pair for the change-plan tests: a few linked people with planted defects, its snapshot, its findings,
and the project's own emulators serving it (a load folder written from the same records).

Person i of ``make_world``: i % 4 == 0 -> Plan_Type__c drifted (Intercom owns it); 1 -> lifecycle_stage drifted
(Salesforce owns it); 2 -> Salesforce key missing; 3 -> Intercom external_id missing. The emulators keep
per-record write counters (``state[system]["writes"]``), which the exactly-once tests read, and offer control
operations to edit records as someone else would (``touch``, ``interleave``) and to read them (``record``,
``find``, ``contact``).
"""

from __future__ import annotations

import csv
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crmsandbox.generator.salesforce_out import write_schema
from crmsandbox.intercom import IntercomService
from crmsandbox.salesforce import SalesforceService


def sf_stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(t * 1000) % 1000:03d}+0000"


IC_APP = "tx2p130c"


def _hex(i: int, salt: int = 0) -> str:
    return f"{salt:04x}{i:020x}"


class TinySnapshot:
    """What the planner needs of a snapshot (``syncaudit.snapshot`` shape): path, manifest, duckdb()."""

    def __init__(self, tables: dict[str, list[dict[str, Any]]], taken_at: float, path: str = "20261126T120000Z"):
        self.tables = tables
        self.manifest = {"id": path, "started_at": datetime.fromtimestamp(taken_at, UTC).isoformat()}
        self.path = path

    def duckdb(self) -> Any:
        import duckdb
        import pyarrow as pa

        con = duckdb.connect()
        for name, rows in self.tables.items():
            t = pa.Table.from_pylist(rows)  # noqa: F841 - referenced by name in the SQL below
            con.register(f"_{name}", t)
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "_{name}"')
        return con


def make_world(n: int = 12, *, leads: int = 1, convs: int = 1) -> dict[str, Any]:
    """n linked people with planted defects, their snapshot (taken now) and the findings the audit would report.

    Person i: i % 4 == 0 -> Plan_Type__c drifted (Intercom owns it); 1 -> lifecycle_stage drifted (Salesforce
    owns it); 2 -> Salesforce key missing (identity_gap); 3 -> Intercom external_id missing (identity_gap).
    Persons 0 .. convs-1 each have an unlogged conversation (ids 471, 472, ...); ``leads`` Intercom leads
    duplicate person 1.
    """
    now = time.time()
    old = now - 3600
    stamp = sf_stamp(old)
    contacts, ic, findings = [], [], []
    for i in range(n):
        sf_id = f"003{i + 1:012d}AAA"
        key = f"user-{i}"
        c = {
            "Id": sf_id,
            "Name": f"Pat Person{i}",
            "Email": f"p{i}@acme.example",
            "Product_User_Id__c": None if i % 4 == 2 else key,
            "Plan_Type__c": "Free" if i % 4 == 0 else "Pro",
            "Lifecycle_Stage__c": "SQL",
            "Seats__c": 3.0,
            "SystemModstamp": stamp,
        }
        contacts.append(c)
        icc = {
            "id": _hex(i),
            "role": "user",
            "external_id": None if i % 4 == 3 else key,
            "name": f"Pat Person{i}",
            "email": f"p{i}@acme.example",
            "updated_at": int(old),
            "custom_attributes": {"plan_type": "Pro", "lifecycle_stage": "MQL" if i % 4 == 1 else "SQL", "seats": 3},
        }
        ic.append(icc)
        kinds = {
            0: ("field_drift", "plan_type"),
            1: ("field_drift", "lifecycle_stage"),
            2: ("identity_gap", None),
            3: ("identity_gap", None),
        }[i % 4]
        findings.append(
            {
                "id": f"f{i:04d}",
                "kind": kinds[0],
                "system": "both",
                "object": "Contact",
                "records": [sf_id, icc["id"]],
                "field": kinds[1],
                "severity": "medium",
                # identity gaps found by the same email (and, here, the same name): proven links
                **({"rule": "email_fallback"} if kinds[0] == "identity_gap" else {}),
            }
        )
    for k in range(convs):
        findings.append(
            {
                "id": f"conv{k + 1:04d}",
                "kind": "conversation_unlogged",
                "system": "intercom",
                "object": "conversation",
                "records": [contacts[k]["Id"], str(471 + k)],
                "field": None,
            }
        )
    for j in range(leads):
        lead = {
            "id": _hex(j, salt=7),
            "role": "lead",
            "external_id": None,
            "name": "Pat Person1",
            "email": "p1@acme.example",
            "updated_at": int(old),
            "custom_attributes": {},
        }
        ic.append(lead)
        findings.append(
            {
                "id": f"dup{j:04d}",
                "kind": "duplicate",
                "system": "intercom",
                "object": "contact",
                "records": [ic[1]["id"], lead["id"]],
                "field": None,
            }
        )
    findings.append(
        {
            "id": "sfdup001",
            "kind": "duplicate",
            "system": "salesforce",
            "object": "Contact",
            "records": [contacts[0]["Id"], contacts[1]["Id"]],
            "field": None,
        }
    )
    snap_contacts = [{**c, "SystemModstamp": datetime.fromtimestamp(old, UTC)} for c in contacts]
    snap_ic = []
    for c in ic:
        row = {k: v for k, v in c.items() if k != "custom_attributes"}
        row["updated_at"] = datetime.fromtimestamp(c["updated_at"], UTC)
        for a in ("plan_type", "lifecycle_stage", "seats"):
            row[f"custom_attributes.{a}"] = c["custom_attributes"].get(a)
        snap_ic.append(row)
    snapshot = TinySnapshot({"sf_Contact": snap_contacts, "ic_contacts": snap_ic}, now - 60)
    return {"sf": {"Contact": contacts, "Task": []}, "ic": ic, "snapshot": snapshot, "findings": findings}


def world_config(tmp_path: Any, **apply: Any) -> Any:
    """config/demo.yaml pointed at a temporary data dir, with the test's apply options."""
    from syncaudit.config import load_config

    cfg = load_config("config/demo.yaml")
    fixes = cfg.fixes.model_copy(
        update={"log_conversations": cfg.fixes.log_conversations.model_copy(update={"options": {"app_id": IC_APP}})}
    )
    return cfg.model_copy(
        update={"data_dir": str(tmp_path / "data"), "fixes": fixes, "apply": cfg.apply.model_copy(update=apply)}
    )


def write_world(world: dict[str, Any], folder: Path) -> Path:
    """The world as a load folder in the generator's format (with the demo schema)."""
    sf, ic = folder / "salesforce", folder / "intercom"
    sf.mkdir(parents=True, exist_ok=True)
    ic.mkdir(parents=True, exist_ok=True)
    write_schema(sf)
    cols = [
        "Id",
        "FirstName",
        "LastName",
        "Email",
        "Product_User_Id__c",
        "Plan_Type__c",
        "Lifecycle_Stage__c",
        "Seats__c",
    ]
    cols += ["CreatedDate", "LastModifiedDate", "SystemModstamp"]
    with (sf / "Contact.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for c in world["sf"]["Contact"]:
            stamp = c["SystemModstamp"].replace("+0000", "Z")
            first, _, last = c["Name"].partition(" ")
            row = {**c, "FirstName": first, "LastName": last, "CreatedDate": stamp, "LastModifiedDate": stamp}
            row["SystemModstamp"] = stamp
            w.writerow(["" if row.get(k) is None else row[k] for k in cols])
    with (ic / "contacts.jsonl").open("w", encoding="utf-8") as f:
        for c in world["ic"]:
            f.write(json.dumps({"type": "contact", "created_at": c["updated_at"] - 86_400, **c}) + "\n")
    attrs = [
        {"name": n, "model": "contact", "data_type": t, "custom": True, "full_name": f"custom_attributes.{n}"}
        for n, t in [
            ("plan_type", "string"),
            ("lifecycle_stage", "string"),
            ("seats", "integer"),
            ("trial_status", "string"),
            ("partner_code", "string"),
            ("referral_source", "string"),
        ]
    ]
    (ic / "data_attributes.json").write_text(json.dumps(attrs))
    (ic / "admins.json").write_text(
        json.dumps([{"type": "admin", "id": "991267400", "name": "Ops", "email": "ops@acme.example"}])
    )
    return folder


def world_services(world: dict[str, Any], folder: Path, **ic_kw: Any) -> dict[str, Any]:
    """The project's emulators serving the world (``ic_kw``: the Intercom rate limit, e.g. per_window, window_s)."""
    load = write_world(world, folder / "load")
    salesforce = SalesforceService(folder / "sf-state", load)
    intercom = IntercomService(folder / "ic-state", load, default_version="2.16")
    if ic_kw:
        intercom.control_rate_limit(**ic_kw)
    return {"salesforce": salesforce, "intercom": intercom}
