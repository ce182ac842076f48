"""Salesforce field history for the planted drifts: ``salesforce/<Object>History.csv`` and ``field_history.json``.

A planted drift changes one side of a pair at a known time. Salesforce records, for the drifted field, when its
value was last set: at the change itself when Salesforce is the newer side (by the record's owner, a person), or
at the older time when the other side changed (by the integration user for fields Intercom owns — the sync wrote
them — and by the record's owner for fields Salesforce owns). ``NewValue`` is the value the field holds in the load
folder. The rest of the org has no history rows (tracking "turned on" recently), which is how a real org that
enabled field history after the fact looks.

Written after the other Salesforce files and read back from them, so the files the generator wrote before this
module existed stay byte-identical per seed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv

from crmsandbox.generator.layout import Layout, resolve
from crmsandbox.generator.plant import ACCOUNT_FIELDS, PEOPLE_FIELDS, REFERENCE_FIELDS, Plan
from crmsandbox.generator.salesforce_out import dt

# mapping field name (config/demo.yaml) -> Salesforce API name
SF_FIELD = {
    "email": "Email",
    "full_name": "LastName",  # the planted name change is a new last name
    "phone": "Phone",
    "plan_type": "Plan_Type__c",
    "trial_status": "Trial_Status__c",
    "referral_source": "Referral_Source__c",
    "lifecycle_stage": "Lifecycle_Stage__c",
    "partner_code": "Partner_Code__c",
    "seats": "Seats__c",
    "owner": "OwnerId",
    "company_name": "Name",
    "website": "Website",
    "industry": "Industry",
    "employees": "NumberOfEmployees",
}
HISTORY_NAME = {"OwnerId": "Owner"}  # how Salesforce names the owner in field history
TRACKED = {
    "Contact": [
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Title",
        "OwnerId",
        "AccountId",
        "LeadSource",
        "Product_User_Id__c",
        "Plan_Type__c",
        "Trial_Status__c",
        "Referral_Source__c",
        "Lifecycle_Stage__c",
        "Partner_Code__c",
        "Seats__c",
    ],
    "Lead": [
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Title",
        "OwnerId",
        "Company",
        "Status",
        "Product_User_Id__c",
        "Referral_Source__c",
        "Lifecycle_Stage__c",
    ],
    "Account": ["Name", "AccountNumber", "Website", "Industry", "NumberOfEmployees", "OwnerId", "ParentId"],
}
COLUMNS = ("Field", "OldValue", "NewValue", "CreatedById", "CreatedDate")


def _owner_system(fld: str, obj: str) -> str:
    if obj == "Account":
        return ACCOUNT_FIELDS.get(fld, "salesforce")
    return (PEOPLE_FIELDS.get(fld) or REFERENCE_FIELDS[fld])[0]


def _current(out: Path, obj: str, ids: set[str], cols: set[str]) -> dict[str, dict[str, Any]]:
    """Current values of ``cols`` for the records ``ids`` of one object, read back from its CSV."""
    path = out / f"{obj}.csv"
    if not ids or not path.is_file():
        return {}
    names = sorted(cols | {"Id", "OwnerId", "CreatedDate"})
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),  # mailing streets and transcripts span lines
        convert_options=pacsv.ConvertOptions(
            include_columns=names, column_types={n: "string" for n in names}, strings_can_be_null=True
        ),
    )
    rows = table.to_pylist()
    return {r["Id"]: r for r in rows if r["Id"] in ids}


def write_history(out: Path, pl: Plan, lay: Layout) -> dict[str, int]:
    """Write the history CSVs and field_history.json into ``out`` (the salesforce folder); rows per object."""
    events: dict[str, list[tuple[str, str, str, int]]] = {"Contact": [], "Lead": [], "Account": []}
    for e in pl.truth:
        if e["kind"] != "field_drift" or e["field"] not in SF_FIELD:
            continue
        obj, (kind, idx) = e["records"][0]
        if obj not in events or kind not in ("p", "c"):
            continue
        updated = (pl.acc_ov if obj == "Account" else pl.sf_ov)["updated"]
        if int(idx) not in updated:
            continue
        sf_id = resolve(lay, e["records"][0])
        events[obj].append((sf_id, e["field"], str(e.get("newer")), int(updated[int(idx)])))
    written: dict[str, int] = {}
    for obj, evs in events.items():
        current = _current(out, obj, {sid for sid, *_ in evs}, {SF_FIELD[f] for _, f, _, _ in evs})
        rows = []
        for sf_id, fld, newer, when in evs:
            rec = current.get(sf_id)
            if rec is None:
                continue
            api = SF_FIELD[fld]
            # A person changed it when Salesforce is the newer side or owns the field; otherwise the sync wrote it.
            person = newer == "salesforce" or _owner_system(fld, obj) == "salesforce"
            by = rec.get("OwnerId") if person and rec.get("OwnerId") else lay.integration_user_id
            at = dt(np.array([when]))[0]
            at = max(at, rec.get("CreatedDate") or at)
            rows.append((sf_id, HISTORY_NAME.get(api, api), None, rec.get(api), by, at))
        rows.sort(key=lambda r: (r[0], r[1], r[5]))
        with open(out / f"{obj}History.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow((f"{obj}Id", *COLUMNS))
            w.writerows(rows)
        written[f"{obj}History"] = len(rows)
    (out / "field_history.json").write_text(json.dumps(TRACKED, indent=2) + "\n", encoding="utf-8")
    return written
