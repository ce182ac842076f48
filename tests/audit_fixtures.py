"""Small hand-built load folders for the audit tests: every finding kind, unicode, edge cases.

``write_org_pair(dir)`` writes a load folder (ARCHITECTURE.md format) and returns the
findings it plants, as (kind, sorted records) pairs, so tests assert exact results.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

T_OLD = "2026-10-01T10:00:00Z"
T_NEW = "2026-11-20T10:00:00Z"
U_OLD = 1759312800  # 2025-10-01
U_NEW = 1763632800  # 2025-11-20 ... any value older than T_NEW works as "older"
U_NEWER = 1795000000  # 2026-11-18: newer than T_OLD


def sfid(prefix: str, n: int) -> str:
    return f"{prefix}000000000{n:03d}AAA"


def acc(n: int) -> str:
    return sfid("001", n)


def con_(n: int) -> str:
    return sfid("003", n)


def lead(n: int) -> str:
    return sfid("00Q", n)


SCHEMA = {
    "Contact": [
        {"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True},
        {
            "name": "Plan_Type__c",
            "type": "picklist",
            "restrictedPicklist": True,
            "picklistValues": ["Free", "Starter", "Pro", "Enterprise"],
        },
        {"name": "Trial_Status__c", "type": "picklist", "picklistValues": ["Not Started", "Active", "Expired"]},
        {
            "name": "Referral_Source__c",
            "type": "picklist",
            "restrictedPicklist": True,
            "picklistValues": ["Organic", "Paid Search", "Partner", "Referral", "Event", "Outbound"],
        },
        {"name": "Lifecycle_Stage__c", "type": "picklist", "picklistValues": ["Lead", "MQL", "SQL", "Customer"]},
        {"name": "Partner_Code__c", "type": "string", "length": 20},
        {"name": "Seats__c", "type": "double"},
    ],
    "Lead": [
        {"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True},
        {
            "name": "Referral_Source__c",
            "type": "picklist",
            "restrictedPicklist": True,
            "picklistValues": ["Organic", "Paid Search", "Partner", "Referral", "Event", "Outbound"],
        },
        {"name": "Lifecycle_Stage__c", "type": "picklist", "picklistValues": ["Lead", "MQL", "SQL", "Customer"]},
    ],
}

DATA_ATTRIBUTES = [
    {"name": n, "full_name": f"custom_attributes.{n}", "model": "contact", "data_type": t, "custom": True}
    for n, t in [
        ("plan_type", "string"),
        ("referral_source", "string"),
        ("lifecycle_stage", "string"),
        ("partner_code", "string"),
        ("seats", "string"),  # Seats__c is a double: a planted type mismatch
    ]
]  # trial_status is not defined in Intercom: a planted missing attribute


def _write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def contact_json(
    cid: str,
    ext: str | None,
    name: str,
    email: str | None,
    *,
    role: str = "user",
    phone: str | None = None,
    updated: int = U_OLD,
    company: str | None = None,
    archived: bool = False,
    **custom: Any,
) -> dict[str, Any]:
    return {
        "type": "contact",
        "id": cid,
        "role": role,
        "external_id": ext,
        "email": email,
        "phone": phone,
        "name": name,
        "created_at": U_OLD - 1000,
        "updated_at": updated,
        "archived": archived,
        "custom_attributes": custom,
        "tags": {"type": "list", "data": []},
        "companies": {"type": "list", "data": [{"type": "company", "id": company}] if company else []},
    }


CONTACT_FIELDS = [
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "AccountId",
    "Product_User_Id__c",
    "Plan_Type__c",
    "Partner_Code__c",
    "Seats__c",
    "LastModifiedDate",
    "CreatedDate",
    "IsDeleted",
]
LEAD_FIELDS = [
    "Id",
    "FirstName",
    "LastName",
    "Email",
    "Phone",
    "Company",
    "Product_User_Id__c",
    "IsConverted",
    "ConvertedContactId",
    "LastModifiedDate",
    "CreatedDate",
]


FIRSTS = (
    "Amara Bruno Chen Dmitri Elena Farid Greta Hiro Ingrid Jamal Kofi Lena Mateo Nadia Oskar Priya Quinn "
    "Rosa Sven Tariq Uma Viktor Wanda Xiu Yara Zane Aiko Bjorn Cleo Dario"
).split()
LASTS = (
    "Abbott Becker Castillo Duarte Eriksen Fontaine Gallo Haddad Ivanova Jansen Kowalski Lindqvist Moreau "
    "Nakamura Okafor Petrossian Quintero Rahman Santoro Tanaka Ulrich Varga Whitfield Xu Yilmaz Zielinski "
    "Achterberg Bianchi Cormier Dvorak"
).split()


def filler(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """n correctly linked, clean people (same key, email and name on both sides): realistic background
    so the probabilistic model's u probabilities are estimated from more than a handful of records (most
    people have their own phone number, as in a real org)."""
    sf_rows, ic_rows = [], []
    for i in range(n):
        first, last = FIRSTS[i % 30], LASTS[(i // 30 + i) % 30]
        email = f"{first}.{last}.{i}@filler{i % 7}.example".lower()
        phone = f"+1 212 555 {1000 + i:04d}" if i % 5 else None
        sf_rows.append(
            dict(
                Id=con_(100 + i),
                FirstName=first,
                LastName=last,
                Email=email,
                Phone=phone,
                Product_User_Id__c=f"f{i}",
                LastModifiedDate=T_OLD,
            )
        )
        ic_rows.append(contact_json(f"f{i}", f"f{i}", f"{first} {last}", email, phone=phone))
    return sf_rows, ic_rows


def write_org_pair(root: Path, n_filler: int = 150) -> set[tuple[str, tuple[str, ...]]]:
    """The full scenario. Returns the planted (kind, sorted records) set."""
    sf, ic = root / "salesforce", root / "intercom"
    fill_sf, fill_ic = filler(n_filler)
    accounts = [
        {
            "Id": acc(1),
            "Name": "Acme",
            "AccountNumber": "ACME-1",
            "Website": "https://www.acme.com",
            "LastModifiedDate": T_OLD,
        },
        {"Id": acc(2), "Name": "Globex", "AccountNumber": "GLX-1", "Website": "globex.com", "LastModifiedDate": T_OLD},
        {
            "Id": acc(3),
            "Name": "Globex Corporation",
            "AccountNumber": "GLX-1",
            "Website": "http://globex.com/about",
            "LastModifiedDate": T_NEW,
        },
        {"Id": acc(4), "Name": "Initech", "AccountNumber": None, "Website": "initech.io", "LastModifiedDate": T_OLD},
        {
            "Id": acc(5),
            "Name": "Umbrella",
            "AccountNumber": "UMB-1",
            "Website": "umbrella.example",
            "LastModifiedDate": T_OLD,
        },
    ]
    _write_csv(
        sf / "Account.csv",
        accounts,
        ["Id", "Name", "AccountNumber", "Website", "Industry", "NumberOfEmployees", "LastModifiedDate"],
    )
    contacts = [
        dict(
            Id=con_(1),
            FirstName="Ann",
            LastName="Lee",
            Email="ann@acme.com",
            Phone="+1 415 555 0101",
            AccountId=acc(1),
            Product_User_Id__c="u1",
            Plan_Type__c="Pro",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=con_(2),
            FirstName="Bob",
            LastName="Smith",
            Email="bob@acme.com",
            AccountId=acc(1),
            Product_User_Id__c="u2",
            Plan_Type__c="Pro",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=con_(3),
            FirstName="Zoë",
            LastName="Ærøskøbing",
            Email="zoe@eksempel.dk",
            Phone="+45 12 34 56 78",
            Product_User_Id__c="u3",
            Plan_Type__c="Free",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=con_(4),
            FirstName="Carl",
            LastName="Jones",
            Email="carl@x.com",
            Product_User_Id__c=None,
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=con_(5),
            FirstName="Dana",
            LastName="White",
            Email="dana@y.com",
            Product_User_Id__c="u5",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=con_(6),
            FirstName="Dana",
            LastName="White",
            Email="dana@y.com",
            Product_User_Id__c="u5",
            LastModifiedDate=T_NEW,
        ),
        dict(Id=con_(7), FirstName="Eve", LastName="Adams", Email="eve.adams@z.com", LastModifiedDate=T_OLD),
        dict(
            Id=con_(8),
            FirstName="Frank",
            LastName="Miller",
            Email="frank@m.com",
            Product_User_Id__c="u8",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=con_(9),
            FirstName="Bob",
            LastName="Brown",
            Email="rob.brown@acme.com",
            Product_User_Id__c="u10",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=con_(11),
            FirstName="Katherine",
            LastName="Johnson",
            Email="kjohnson@nasa.gov",
            Phone="757-555-0111",
            Product_User_Id__c="u11",
            Plan_Type__c="Enterprise",
            Partner_Code__c="NASA",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=con_(12),
            FirstName="Ivan",
            LastName="Petrov",
            Email="ivan@ru.example",
            Product_User_Id__c="u12",
            Partner_Code__c="SHORT",
            LastModifiedDate=T_OLD,
        ),
    ]
    _write_csv(sf / "Contact.csv", contacts + fill_sf, CONTACT_FIELDS)
    # Field history: someone in Salesforce set Plan_Type__c of contact 11 (Intercom owns it) after Intercom's change.
    _write_csv(
        sf / "ContactHistory.csv",
        [
            {"ContactId": con_(11), "Field": "Plan_Type__c", "NewValue": "Enterprise", "CreatedDate": T_OLD},
            # contact 2's plan type was last written (by the sync) before Intercom's owner changed it again
            {"ContactId": con_(2), "Field": "Plan_Type__c", "NewValue": "Pro", "CreatedDate": T_OLD},
        ],
        ["ContactId", "Field", "NewValue", "CreatedDate"],
    )
    leads = [
        dict(
            Id=lead(1),
            FirstName="Eve",
            LastName="Adams",
            Email="eve@z.com",
            Company="Zeta",
            Product_User_Id__c="u6",
            IsConverted="true",
            ConvertedContactId=con_(7),
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=lead(2),
            FirstName="Robert",
            LastName="Brown",
            Email="Rob.Brown@acme.com ",
            Company="Acme",
            IsConverted="false",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=lead(3),
            FirstName="Lena",
            LastName="Lindqvist",
            Email="lena@lind.example",
            Company="Lind",
            IsConverted="false",
            LastModifiedDate=T_OLD,
        ),
        dict(
            Id=lead(4),
            FirstName="Omar",
            LastName="Haddad",
            Email="omar@haddad.example",
            Company="Haddad",
            IsConverted="false",
            LastModifiedDate=T_OLD,
        ),
    ]
    _write_csv(sf / "Lead.csv", leads, LEAD_FIELDS)
    tasks = [
        {
            "Id": sfid("00T", 1),
            "WhoId": con_(1),
            "Subject": "Chat",
            "Status": "Completed",
            "Priority": "Normal",
            "Description": "Transcript: https://app.intercom.com/a/inbox/abc/inbox/conversation/901",
        },
        {
            "Id": sfid("00T", 2),
            "WhoId": con_(2),
            "Subject": "Chat",
            "Status": "Completed",
            "Priority": "Normal",
            "Description": "https://app.intercom.com/a/inbox/abc/inbox/conversation/903",
        },
    ]
    _write_csv(sf / "Task.csv", tasks, ["Id", "WhoId", "Subject", "Status", "Priority", "Description"])
    cases = [
        {
            "Id": sfid("500", 1),
            "ContactId": con_(3),
            "Subject": "Chat",
            "Status": "Closed",
            "Description": "https://app.intercom.com/a/inbox/abc/inbox/conversation/904",
        }
    ]
    _write_csv(sf / "Case.csv", cases, ["Id", "ContactId", "Subject", "Status", "Description"])
    (sf / "schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")

    companies = [
        {
            "type": "company",
            "id": "c1",
            "company_id": "ACME-1",
            "name": "Acme",
            "website": "acme.com",
            "updated_at": U_OLD,
        },
        {
            "type": "company",
            "id": "c2",
            "company_id": "GLX-1",
            "name": "Globex",
            "website": "globex.com",
            "updated_at": U_OLD,
        },
        {
            "type": "company",
            "id": "c3",
            "company_id": "INI-9",
            "name": "Initech",
            "website": "https://initech.io",
            "updated_at": U_OLD,
        },
        {
            "type": "company",
            "id": "c4",
            "company_id": "SOY-1",
            "name": "Soylent",
            "website": "soylent.example",
            "updated_at": U_OLD,
        },
    ]
    _write_jsonl(ic / "companies.jsonl", companies)
    contacts_ic = [
        contact_json("i1", "u1", "Ann Lee", "ann@acme.com", phone="(415) 555-0101", company="c1", plan_type="Pro"),
        contact_json("i2", "u2", "Bob Smith", "bob@acme.com", company="c1", plan_type="Starter", updated=U_NEWER),
        contact_json("i3", "u3", "Zoë  Ærøskøbing", "ZOE@eksempel.dk", phone="+4512345678", plan_type="Free"),
        contact_json("i4", "u4", "Carl Jones", " Carl@X.com"),
        contact_json("i5", "u5", "Dana White", "dana@y.com"),
        contact_json("i6", "u6", "Eve Adams", "eve@z.com"),
        contact_json("i9", "u9", "Grace Hopper", "grace@navy.mil"),
        contact_json("i10", "u10", "Bob Brown", "rob.brown@acme.com"),
        contact_json(
            "i11",
            "u11",
            "Katherine Johnson",
            "kjohnson@nasa.gov",
            phone="+1 757 555 0111",
            plan_type="Platinum",
            partner_code="NASA",
        ),
        contact_json("i12", None, "Kathy Johnson", "katherine.johnson@nasa.gov", phone="757.555.0111"),
        contact_json("i20", None, "Lena Lindqvist", "Lena@Lind.example", role="lead"),
        contact_json("i21", None, "Omar Haddad", "omar@haddad.example", role="lead"),
        contact_json("i22", None, "Omar Haddad", "omar@haddad.example", role="lead"),
        contact_json("i13", "u12", "Ivan Petrov", "ivan@ru.example", partner_code="  a-very-long-partner-code-x "),
    ]
    _write_jsonl(ic / "contacts.jsonl", contacts_ic + fill_ic)

    def conv(cid: str, contact: str, state: str = "closed") -> dict[str, Any]:
        return {
            "type": "conversation",
            "id": cid,
            "state": state,
            "open": state == "open",
            "created_at": U_OLD,
            "updated_at": U_OLD,
            "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": contact}]},
            "tags": {"type": "tag.list", "tags": []},
            "source": {"type": "conversation"},
        }

    _write_jsonl(
        ic / "conversations.jsonl",
        [conv("901", "i1"), conv("902", "i2"), conv("903", "i1"), conv("904", "i3"), conv("905", "i2", "open")],
    )
    (ic / "data_attributes.json").write_text(json.dumps(DATA_ATTRIBUTES), encoding="utf-8")
    (ic / "admins.json").write_text(
        json.dumps([{"id": "1", "name": "Op", "email": "op@example.com"}]), encoding="utf-8"
    )
    (ic / "tags.json").write_text("[]", encoding="utf-8")

    def k(kind: str, *records: str) -> tuple[str, tuple[str, ...]]:
        return (kind, tuple(sorted(records)))

    return {
        k("ambiguous_link", acc(2), acc(3), "c2"),
        k("duplicate", acc(2), acc(3)),
        k("identity_gap", acc(4), "c3"),
        k("orphan", acc(5)),
        k("orphan", "c4"),
        k("field_drift", con_(2), "i2"),  # plan_type: Intercom (owner) newer
        k("identity_gap", con_(4), "i4"),
        k("ambiguous_link", con_(5), con_(6), "i5"),
        k("duplicate", con_(5), con_(6)),
        k("stale_link", lead(1), con_(7), "i6"),
        k("orphan", con_(8)),
        k("orphan", "i9"),
        k("duplicate", con_(9), lead(2)),
        k("duplicate", "i11", "i12"),
        k("conversation_unlogged", "902"),
        k("ambiguous_link", lead(4), "i21", "i22"),  # a Lead's identity is its email: two Intercom leads have it
        k("duplicate", "i21", "i22"),
        k("field_drift", con_(11), "i11"),  # plan_type 'Platinum' ...
        k("schema_conflict", "i11"),  # ... which the restricted picklist rejects
        k("field_drift", con_(12), "i13"),  # partner_code ...
        k("schema_conflict", "i13"),  # ... longer than the field
        k("schema_conflict"),  # seats type, trial_status missing, email synced both ways (no records)
        k("conversation_misfiled", sfid("00T", 2), "903"),
        k("conversation_misfiled", sfid("500", 1), "904"),
    }


def write_empty(root: Path) -> None:
    """A load folder with both systems empty (headers only)."""
    _write_csv(root / "salesforce" / "Contact.csv", [], CONTACT_FIELDS)
    _write_csv(root / "salesforce" / "Lead.csv", [], LEAD_FIELDS)
    _write_csv(root / "salesforce" / "Account.csv", [], ["Id", "Name", "AccountNumber", "Website"])
    (root / "salesforce" / "schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    for n in ("contacts", "companies", "conversations"):
        _write_jsonl(root / "intercom" / f"{n}.jsonl", [])
    (root / "intercom" / "data_attributes.json").write_text(json.dumps(DATA_ATTRIBUTES), encoding="utf-8")


def write_no_links(root: Path) -> None:
    """Two systems with people but no identity key or email in common."""
    write_empty(root)
    _write_csv(
        root / "salesforce" / "Contact.csv",
        [
            dict(Id=con_(1), FirstName="Ann", LastName="Lee", Email="ann@a.com", Product_User_Id__c="s1"),
            dict(Id=con_(2), FirstName="Bo", LastName="Ek", Email="bo@b.com", Product_User_Id__c="s2"),
        ],
        CONTACT_FIELDS,
    )
    _write_jsonl(
        root / "intercom" / "contacts.jsonl",
        [contact_json("i1", "x1", "Wen Li", "wen@c.com"), contact_json("i2", None, "Olu Ade", "olu@d.com")],
    )
