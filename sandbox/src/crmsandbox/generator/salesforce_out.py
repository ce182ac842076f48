"""Write the Salesforce half of the load folder: one CSV per object (pyarrow) and schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from crmsandbox.generator.conversations import TITLES, Conversations, conversation_url
from crmsandbox.generator.frames import (
    apply_extras,
    apply_overrides,
    chunks,
    company_frame,
    person_address,
    person_frame,
)
from crmsandbox.generator.layout import Layout
from crmsandbox.generator.plant import Plan
from crmsandbox.generator.texts import case_note, transcript
from crmsandbox.generator.values import website_sf
from crmsandbox.generator.world import LIFECYCLE, PLANS, TRIALS, World

COUNTRY = {
    "US": "United States",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "ES": "Spain",
    "MX": "Mexico",
    "IT": "Italy",
    "BR": "Brazil",
    "NL": "Netherlands",
    "SE": "Sweden",
    "TR": "Turkey",
    "CZ": "Czech Republic",
    "RU": "Russia",
    "UA": "Ukraine",
    "GR": "Greece",
    "JP": "Japan",
    "CN": "China",
    "KR": "South Korea",
    "IN": "India",
    "AE": "United Arab Emirates",
    "IL": "Israel",
    "TH": "Thailand",
    "FI": "Finland",
    "DK": "Denmark",
}
LEAD_STATUS = ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"]
LEAD_SOURCE = {
    "Organic": "Web",
    "Paid Search": "Web",
    "Partner": "Partner Referral",
    "Referral": "Partner Referral",
    "Event": "Other",
    "Outbound": "Purchased List",
}
SF_PEOPLE_CUSTOM = [
    "Product_User_Id__c",
    "Plan_Type__c",
    "Trial_Status__c",
    "Referral_Source__c",
    "Lifecycle_Stage__c",
    "Partner_Code__c",
    "Seats__c",
]


def dt(ts: np.ndarray) -> list[str]:
    """Unix seconds -> '2025-01-02T03:04:05.000Z'."""
    s = np.datetime_as_string(np.asarray(ts, dtype=np.int64).astype("datetime64[s]"), unit="s")
    return [f"{x}.000Z" for x in s]


def date(ts: np.ndarray) -> list[str]:
    return np.datetime_as_string(np.asarray(ts, dtype=np.int64).astype("datetime64[s]"), unit="D").tolist()


class CsvTable:
    """A CSV written chunk by chunk with a fixed schema (every column a string unless typed)."""

    def __init__(self, path: Path, columns: list[str], types: dict[str, pa.DataType] | None = None) -> None:
        types = types or {}
        self.schema = pa.schema([(c, types.get(c, pa.string())) for c in columns])
        self.writer = pacsv.CSVWriter(str(path), self.schema)
        self.rows = 0

    def write(self, cols: dict[str, list | np.ndarray]) -> None:
        arrays = [
            pa.array(list(cols[f.name]) if isinstance(cols[f.name], np.ndarray) else cols[f.name], type=f.type)
            for f in self.schema
        ]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self.writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        self.writer.close()


def _audit_cols(lay: Layout, created: np.ndarray, updated: np.ndarray, owner_ids: list[str], human: np.ndarray) -> dict:
    updated = np.maximum(np.asarray(updated, dtype=np.int64), np.asarray(created, dtype=np.int64))
    integ = lay.integration_user_id
    return {
        "CreatedDate": dt(created),
        "CreatedById": [integ] * len(created),
        "LastModifiedDate": dt(updated),
        "LastModifiedById": [o if h else integ for o, h in zip(owner_ids, human, strict=True)],
        "SystemModstamp": dt(updated),
    }


def write_users(out: Path, w: World, lay: Layout) -> int:
    o = w.owners
    n = int(o.has_sf.sum())
    first = [*o.first[:n], "Intercom"]
    last = [*o.last[:n], "Integration"]
    email = [*o.email[:n], "intercom.integration@northwind-saas.com"]
    created = np.concatenate([o.created[:n], [w.as_of - 1600 * 86_400]])
    t = CsvTable(
        out / "User.csv",
        [
            "Id",
            "Username",
            "Email",
            "FirstName",
            "LastName",
            "Alias",
            "IsActive",
            "UserType",
            "TimeZoneSidKey",
            "CreatedDate",
            "LastModifiedDate",
        ],
        {"IsActive": pa.bool_()},
    )
    t.write(
        {
            "Id": lay.user_ids,
            "Username": email,
            "Email": email,
            "FirstName": first,
            "LastName": last,
            "Alias": [(f[:1] + ln)[:8].lower() for f, ln in zip(first, last, strict=True)],
            "IsActive": [True] * (n + 1),
            "UserType": ["Standard"] * (n + 1),
            "TimeZoneSidKey": ["America/Los_Angeles"] * (n + 1),
            "CreatedDate": dt(created),
            "LastModifiedDate": dt(created),
        }
    )
    t.close()
    return n + 1


def write_accounts(out: Path, w: World, pl: Plan, lay: Layout) -> int:
    cols = [
        "Id",
        "Name",
        "AccountNumber",
        "Type",
        "Industry",
        "Website",
        "BillingCountry",
        "NumberOfEmployees",
        "OwnerId",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    ]
    t = CsvTable(out / "Account.csv", cols, {"NumberOfEmployees": pa.int64()})
    segments = [
        (lay.acc_c, None),
        (np.array([e.src for e in pl.extras["Account"]], dtype=np.int64), pl.extras["Account"]),
    ]
    row = 0
    for cidx, extras in segments:
        for lo, hi in chunks(len(cidx)):
            idx = cidx[lo:hi]
            f = company_frame(w, idx, "sf", pl.co_delay)
            if extras is None:
                apply_overrides(f, idx, pl.acc_ov)
                human = (
                    np.isin(idx, list(pl.acc_ov["updated"])) if pl.acc_ov.get("updated") else np.zeros(len(idx), bool)
                )
            else:
                apply_extras(f, extras[lo:hi])
                human = np.ones(len(idx), bool)
            owner_ids = [lay.user_ids[o] for o in f["owner"]]
            t.write(
                {
                    "Id": lay.ids["Account"][row : row + len(idx)],
                    "Name": f["name"],
                    "AccountNumber": f["number"],
                    "Type": [
                        (pl.account_type.get(int(c)) if extras is None else None)
                        or ("Customer" if pl.co_ic[c] else "Prospect")
                        for c in idx
                    ],
                    "Industry": f["industry"],
                    "Website": [website_sf(d, s) for d, s in zip(f["domain"], f["website_style"], strict=True)],
                    "BillingCountry": [COUNTRY[w.pools[lc].region] for lc in f["loc"]],
                    "NumberOfEmployees": f["employees"],
                    "OwnerId": owner_ids,
                    **_audit_cols(lay, f["created"], f["updated"], owner_ids, human),
                }
            )
            row += len(idx)
    t.close()
    return row


def _people_cols(w: World, lay: Layout, f: dict, human: np.ndarray) -> dict:
    owner_ids = [lay.user_ids[o] for o in f["owner"]]
    return {
        "OwnerId": owner_ids,
        "FirstName": f["first"],
        "LastName": f["last"],
        "Email": f["email"],
        "Phone": f["phone"],
        "Title": f["title"],
        "Product_User_Id__c": f["puid"],
        "Referral_Source__c": f["referral"],
        "Lifecycle_Stage__c": f["lifecycle"],
        "Plan_Type__c": f["plan"],
        **_audit_cols(lay, f["created"], f["updated"], owner_ids, human),
    }


def write_contacts(out: Path, w: World, pl: Plan, lay: Layout) -> int:
    cols = [
        "Id",
        "AccountId",
        "OwnerId",
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Title",
        "MailingStreet",
        "MailingCity",
        "MailingState",
        "MailingPostalCode",
        "MailingCountry",
        "LeadSource",
        *SF_PEOPLE_CUSTOM,
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    ]
    t = CsvTable(out / "Contact.csv", cols, {"Seats__c": pa.float64()})
    extras = pl.extras["Contact"]
    segments = [(lay.contact_p, None), (np.array([e.src for e in extras], dtype=np.int64), extras)]
    acc_row = lay.row_of["Account"]
    human_keys = set(pl.sf_ov.get("updated", {}))
    row = 0
    for pidx, ex in segments:
        for lo, hi in chunks(len(pidx)):
            idx = pidx[lo:hi]
            f = person_frame(w, idx, "sf", pl.sync_delay)
            if ex is None:
                apply_overrides(f, idx, pl.sf_ov)
                human = np.array([int(i) in human_keys for i in idx], dtype=bool)
            else:
                apply_extras(f, ex[lo:hi])
                human = np.ones(len(idx), bool)
            rows = acc_row[w.people.company[idx]]
            a = person_address(w, f)
            t.write(
                {
                    "Id": lay.ids["Contact"][row : row + len(idx)],
                    "AccountId": [lay.ids["Account"][r] if r >= 0 else None for r in rows],
                    "MailingStreet": a["street"],
                    "MailingCity": a["city"],
                    "MailingState": a["state"],
                    "MailingPostalCode": a["postal_code"],
                    "MailingCountry": [COUNTRY[c] for c in a["country_code"]],
                    "LeadSource": [LEAD_SOURCE.get(v) for v in f["referral"]],
                    "Trial_Status__c": f["trial"],
                    "Partner_Code__c": f["partner"],
                    "Seats__c": [None if v is None else float(v) for v in f["seats"]],
                    **_people_cols(w, lay, f, human),
                }
            )
            row += len(idx)
    t.close()
    return row


def write_leads(out: Path, w: World, pl: Plan, lay: Layout) -> int:
    cols = [
        "Id",
        "OwnerId",
        "FirstName",
        "LastName",
        "Company",
        "Email",
        "Phone",
        "Title",
        "Street",
        "City",
        "State",
        "PostalCode",
        "Country",
        "LeadSource",
        "Status",
        "IsConverted",
        "ConvertedDate",
        "ConvertedContactId",
        "ConvertedAccountId",
        "Product_User_Id__c",
        "Plan_Type__c",
        "Referral_Source__c",
        "Lifecycle_Stage__c",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    ]
    t = CsvTable(out / "Lead.csv", cols, {"IsConverted": pa.bool_()})
    p = w.people
    extras = pl.extras["Lead"]
    segments = [
        ("base", lay.lead_p, None),
        ("converted", lay.cl_p, None),
        ("extra", np.array([e.src for e in extras], dtype=np.int64), extras),
    ]
    human_keys = set(pl.sf_ov.get("updated", {}))
    row = 0
    for seg, pidx, ex in segments:
        for lo, hi in chunks(len(pidx)):
            idx = pidx[lo:hi]
            f = person_frame(w, idx, "sf", pl.sync_delay)
            n = len(idx)
            converted = seg == "converted"
            if seg == "base":
                apply_overrides(f, idx, pl.sf_ov)
                human = np.array([int(i) in human_keys for i in idx], dtype=bool)
            elif converted:
                f["created"] = p.lead_created[idx].astype(object)
                f["updated"] = (p.created[idx] + pl.sync_delay[idx]).astype(object)
                f["lifecycle"] = np.full(n, "SQL", dtype=object)
                f["trial"][:] = None
                f["seats"][:] = None
                human = np.ones(n, bool)
            else:
                apply_extras(f, ex[lo:hi])
                human = np.ones(n, bool)
            if seg != "converted":
                f["plan"][:] = None  # prospects have no plan yet; the converted Lead keeps what it had
            status = ["Closed - Converted"] * n if converted else [LEAD_STATUS[s] for s in f["lead_status"]]
            contact_rows = lay.row_of["Contact"][idx]
            acc_rows = lay.row_of["Account"][p.company[idx]]
            a = person_address(w, f)
            t.write(
                {
                    "Id": lay.ids["Lead"][row : row + n],
                    "Company": [str(w.companies.name[c]) for c in f["company"]],
                    "Street": a["street"],
                    "City": a["city"],
                    "State": a["state"],
                    "PostalCode": a["postal_code"],
                    "Country": [COUNTRY[c] for c in a["country_code"]],
                    "LeadSource": [LEAD_SOURCE.get(v) for v in f["referral"]],
                    "Status": status,
                    "IsConverted": [converted] * n,
                    "ConvertedDate": date(p.created[idx] + pl.sync_delay[idx]) if converted else [None] * n,
                    "ConvertedContactId": [lay.ids["Contact"][r] for r in contact_rows] if converted else [None] * n,
                    "ConvertedAccountId": [lay.ids["Account"][r] if r >= 0 else None for r in acc_rows]
                    if converted
                    else [None] * n,
                    **_people_cols(w, lay, f, human),
                }
            )
            row += n
    t.close()
    return row


def write_activities(out: Path, w: World, lay: Layout, conv: Conversations) -> tuple[int, int]:
    """Tasks (conversation logs, calls, emails) and Cases."""
    tk = conv.tasks
    t = CsvTable(
        out / "Task.csv",
        [
            "Id",
            "WhoId",
            "WhatId",
            "OwnerId",
            "Subject",
            "Description",
            "Status",
            "Priority",
            "ActivityDate",
            "TaskSubtype",
            "Type",
            "IsClosed",
            "CreatedDate",
            "CreatedById",
            "LastModifiedDate",
            "LastModifiedById",
            "SystemModstamp",
        ],
        {"IsClosed": pa.bool_()},
    )
    subject, desc, subtype = [], [], []
    for c, kind in zip(tk.conv, tk.kind, strict=True):
        if c >= 0:
            subject.append(f"Intercom conversation: {TITLES[conv.title[c]]}")
            url = conversation_url(w.app_id, conv.ids[c])
            desc.append(transcript("Conversation closed in Intercom.", url, TITLES[conv.title[c]], c))
            subtype.append("Task")
        else:
            subject.append("Call" if kind == "call" else "Email: follow-up")
            desc.append("Discussed onboarding and next steps." if kind == "call" else "Sent pricing information.")
            subtype.append("Call" if kind == "call" else "Email")
    created = np.asarray(tk.created, dtype=np.int64)
    owners = [lay.user_ids[o] for o in tk.owner]
    n = len(created)
    t.write(
        {
            "Id": tk.ids,
            "WhoId": tk.who,
            "WhatId": tk.what,
            "OwnerId": owners,
            "Subject": subject,
            "Description": desc,
            "Status": ["Completed"] * n,
            "Priority": ["Normal"] * n,
            "ActivityDate": date(created),
            "TaskSubtype": subtype,
            "Type": ["Other" if s == "Task" else s for s in subtype],
            "IsClosed": [True] * n,
            **_audit_cols(lay, created, created, owners, np.array([c < 0 for c in tk.conv], dtype=bool)),
        }
    )
    t.close()
    cs = conv.cases
    t = CsvTable(
        out / "Case.csv",
        [
            "Id",
            "ContactId",
            "AccountId",
            "OwnerId",
            "Subject",
            "Description",
            "Status",
            "Priority",
            "Origin",
            "IsClosed",
            "ClosedDate",
            "CreatedDate",
            "CreatedById",
            "LastModifiedDate",
            "LastModifiedById",
            "SystemModstamp",
        ],
        {"IsClosed": pa.bool_()},
    )
    created = np.asarray(cs.created, dtype=np.int64)
    m = len(created)
    owners = [lay.user_ids[o] for o in cs.owner]
    cols = {
        "Id": cs.ids,
        "ContactId": cs.who,
        "AccountId": cs.what,
        "OwnerId": owners,
        "Subject": [f"Intercom: {TITLES[conv.title[c]]}" if c >= 0 else "Customer request" for c in cs.conv],
        "Description": [
            conversation_url(w.app_id, conv.ids[c]) if c >= 0 else case_note(i) for i, c in enumerate(cs.conv)
        ],
        "Status": ["Closed"] * m,
        "Priority": ["Medium"] * m,
        "Origin": [
            "Web" if c >= 0 else ("Phone" if k == "phone" else "Web") for c, k in zip(cs.conv, cs.kind, strict=True)
        ],
        "IsClosed": [True] * m,
        "ClosedDate": dt(created),
        **_audit_cols(lay, created, created, owners, np.ones(m, bool)),
    }
    for j, ov in cs.overrides.items():  # planted rule Cases (plant_rules): their own status and priority
        for k, v in ov.items():
            cols[k][j] = cols["CreatedDate"][j] if v == "__created__" else v
    t.write(cols)
    t.close()
    return n, m


def _picklist(values: list[str]) -> list[dict]:
    return [{"value": v, "label": v, "active": True, "defaultValue": False, "validFor": None} for v in values]


def schema_fields() -> dict[str, list[dict]]:
    """The demo schema of docs/contracts.md: custom fields per object."""
    key = {
        "name": "Product_User_Id__c",
        "label": "Product User Id",
        "type": "string",
        "length": 64,
        "externalId": True,
        "unique": True,
        "caseSensitive": False,
    }
    plan = {
        "name": "Plan_Type__c",
        "label": "Plan Type",
        "type": "picklist",
        "length": 255,
        "restrictedPicklist": True,
        "picklistValues": _picklist(PLANS),
    }
    trial = {
        "name": "Trial_Status__c",
        "label": "Trial Status",
        "type": "picklist",
        "length": 255,
        "restrictedPicklist": False,
        "picklistValues": _picklist(TRIALS),
    }
    referral = {
        "name": "Referral_Source__c",
        "label": "Referral Source",
        "type": "picklist",
        "length": 255,
        "restrictedPicklist": True,
        "picklistValues": _picklist(["Organic", "Paid Search", "Partner", "Referral", "Event", "Outbound"]),
    }
    life = {
        "name": "Lifecycle_Stage__c",
        "label": "Lifecycle Stage",
        "type": "picklist",
        "length": 255,
        "restrictedPicklist": False,
        "picklistValues": _picklist(LIFECYCLE),
    }
    partner = {"name": "Partner_Code__c", "label": "Partner Code", "type": "string", "length": 20}
    seats = {"name": "Seats__c", "label": "Seats", "type": "double", "precision": 18, "scale": 0}
    conv = {
        "name": "Intercom_Conversation_Id__c",
        "label": "Intercom Conversation Id",
        "type": "string",
        "length": 64,
        "externalId": True,
        "unique": True,
        "caseSensitive": False,
    }
    return {
        "Contact": [key, plan, trial, referral, life, partner, seats],
        "Lead": [key, plan, referral, life],
        "Task": [conv],
        "Case": [conv],
    }


def write_schema(out: Path) -> None:
    (out / "schema.json").write_text(json.dumps(schema_fields(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
