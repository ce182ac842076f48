"""Test helpers for the Salesforce sandbox: a small load folder in the generator's format, and HTTPS serving."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from crmsandbox.http import ca_session as verified_session
from crmsandbox.testing import running_sandbox

__all__ = ["https_session", "serve_https", "write_load_dir"]


@contextlib.contextmanager
def serve_https(service, folder: Path) -> Iterator[dict]:
    """Serve ``service`` alone through the shared sandbox server (HTTPS, port 0); yield its connection facts.

    The facts are the Salesforce ones from sandbox.json plus ``ca_cert`` and ``sandbox`` (the running handle).
    """
    with running_sandbox(services={"salesforce": service}, state_dir=folder / "sandbox") as sb:
        facts = dict(sb["salesforce"], ca_cert=sb["ca_cert"])
        facts["sandbox"] = sb
        yield facts


DEMO_SCHEMA = {
    "Contact": [
        {"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True},
        {
            "name": "Plan_Type__c",
            "type": "picklist",
            "restrictedPicklist": True,
            "picklistValues": ["Free", "Starter", "Pro", "Enterprise"],
        },
        {
            "name": "Trial_Status__c",
            "type": "picklist",
            "picklistValues": ["Not Started", "Active", "Expired", "Converted"],
        },
        {"name": "Partner_Code__c", "type": "string", "length": 20},
        {"name": "Seats__c", "type": "double", "precision": 18, "scale": 0},
    ],
    "Lead": [
        {"name": "Product_User_Id__c", "type": "string", "length": 64, "externalId": True, "unique": True},
        {
            "name": "Plan_Type__c",
            "type": "picklist",
            "restrictedPicklist": True,
            "picklistValues": ["Free", "Starter", "Pro", "Enterprise"],
        },
    ],
}

# Ids written by "the generator": valid 18-character ids with the right prefixes.
ACME = "001000000000001AAA"
GLOBEX = "001000000000002AAA"
ANN = "003000000000001AAA"
BOB = "003000000000002AAA"
CARL = "003000000000003AAA"
LEAD_OPEN = "00Q000000000001EAA"
LEAD_CONV = "00Q000000000002EAA"
TASK1 = "00T000000000001EAA"


def write_load_dir(root: Path) -> Path:
    """A small load folder in the ARCHITECTURE.md format (what `sandbox generate` writes)."""
    import json

    sf = root / "salesforce"
    sf.mkdir(parents=True, exist_ok=True)
    (sf / "schema.json").write_text(json.dumps(DEMO_SCHEMA))
    (sf / "Account.csv").write_text(
        "Id,Name,AccountNumber,Industry,NumberOfEmployees,CreatedDate,LastModifiedDate\n"
        f"{ACME},Acme Corp,ACME-001,Technology,250,2024-01-02T10:00:00Z,2024-03-01T09:30:00Z\n"
        f"{GLOBEX},Globex,,Retail,,2024-01-05T10:00:00Z,2024-01-05T10:00:00Z\n"
    )
    (sf / "Contact.csv").write_text(
        "Id,FirstName,LastName,Email,AccountId,Product_User_Id__c,Plan_Type__c,Seats__c,HasOptedOutOfEmail,"
        "CreatedDate,LastModifiedDate,SystemModstamp\n"
        f"{ANN},Ann,Lee,ann@acme.example,{ACME},u-1,Pro,5,false,2024-01-02T17:38:59.000Z,2024-02-01T00:00:00Z,"
        "2024-02-01T00:00:00Z\n"
        f"{BOB},Bob,O'Neil,bob@acme.example,{ACME},u-2,Free,,true,2024-01-03T08:00:00+02:00,,\n"
        f"{CARL},,Zed,,,u-3,,1.5,,2024-01-04T00:00:00Z,,\n"
    )
    (sf / "Lead.csv").write_text(
        "Id,FirstName,LastName,Company,Email,Status,Product_User_Id__c,IsConverted,ConvertedContactId,"
        "ConvertedAccountId,ConvertedDate\n"
        f"{LEAD_OPEN},Dee,Dot,Dot Inc,dee@dot.example,Open - Not Contacted,u-9,false,,,\n"
        f"{LEAD_CONV},Ann,Lee,Acme Corp,ann@acme.example,Closed - Converted,,true,{ANN},{ACME},2024-01-02\n"
    )
    (sf / "Task.csv").write_text(
        "Id,Subject,WhoId,WhatId,Status,Priority,Description\n"
        f"{TASK1},Intercom conversation,{ANN},{ACME},Completed,Normal,"
        "https://app.intercom.com/a/inbox/x/inbox/conversation/42\n"
    )
    return root


def https_session(ca_cert: str):
    """A requests session that trusts the sandbox CA (REQUESTS_CA_BUNDLE cannot override it)."""
    return verified_session(ca_cert)
