"""Person accounts: an org feature that, once enabled, makes some Accounts people (B2C).

Salesforce documents them as an Account with ``IsPersonAccount = true`` that carries the person's fields
(``FirstName``, ``LastName``, ``Salutation``, ``PersonEmail``, ``PersonTitle``, ``PersonMobilePhone``,
``PersonHomePhone``, ``PersonMailing*``, ``PersonBirthdate``, ``PersonDepartment``, ``PersonLeadSource``; each
custom Contact field ``X__c`` appears on the Account as ``X__pc``) and a Contact record that Salesforce creates
and keeps for it: ``Account.PersonContactId`` names it, its ``AccountId`` is the account, its
``IsPersonAccount`` is true and its fields mirror the account's person fields. That Contact is returned by
Contact queries like any other. An org without the feature has none of these fields.

The emulator enables the feature when a load folder's schema.json declares ``IsPersonAccount`` on Account (what
an org's describe shows once it is on). Loaded person accounts get their Contact at load time.
Differences from the real service: the Account's ``Name`` is not recomputed from FirstName/LastName, record
types are not modelled (``IsPersonAccount`` is loaded as given), and writes to an account's person fields after
the load are not mirrored to its Contact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace

from .ids import make_id
from .schema import Field, SObject, _address
from .store import default_value

_RO = {"createable": False, "updateable": False}

# Account person field -> the Contact field it mirrors (both exist in an org with person accounts).
PERSON_FIELDS = {
    "FirstName": "FirstName",
    "LastName": "LastName",
    "Salutation": "Salutation",
    "PersonEmail": "Email",
    "PersonTitle": "Title",
    "Phone": "Phone",
    "PersonMobilePhone": "MobilePhone",
    "PersonDepartment": "Department",
    "PersonBirthdate": "Birthdate",
    "PersonLeadSource": "LeadSource",
    "PersonMailingStreet": "MailingStreet",
    "PersonMailingCity": "MailingCity",
    "PersonMailingState": "MailingState",
    "PersonMailingPostalCode": "MailingPostalCode",
    "PersonMailingCountry": "MailingCountry",
    "OwnerId": "OwnerId",
    "CreatedDate": "CreatedDate",
    "LastModifiedDate": "LastModifiedDate",
    "SystemModstamp": "SystemModstamp",
}


def enabled(objs: dict[str, SObject]) -> bool:
    return objs["Account"].get("IsPersonAccount") is not None


def add_person_fields(objs: dict[str, SObject]) -> None:
    """The fields an org with person accounts has on Account and Contact (declared ones are kept)."""
    account, contact = objs["Account"], objs["Contact"]
    extra = [
        Field("FirstName", "string", length=40),
        Field("LastName", "string", length=80),
        Field("Salutation", "picklist", length=40, picklist=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        Field("PersonEmail", "email", length=80),
        Field("PersonTitle", "string", length=80),
        Field("PersonMobilePhone", "phone", length=40),
        Field("PersonHomePhone", "phone", length=40),
        Field("PersonDepartment", "string", length=80),
        Field("PersonBirthdate", "date"),
        Field("PersonLeadSource", "picklist", length=255, picklist=contact.get("LeadSource").picklist),
        *[replace(f, name="Person" + f.name) for f in _address("Mailing")],
        Field("PersonContactId", "reference", reference_to=("Contact",), relationship_name="PersonContact", **_RO),
    ]
    for c_field in contact.field_list():
        if c_field.custom and c_field.name.endswith("__c"):
            extra.append(replace(c_field, name=c_field.name[:-3] + "__pc", unique=False, external_id=False))
    for f in extra:
        if account.get(f.name) is None:
            account.add(f)
    if contact.get("IsPersonAccount") is None:
        contact.add(Field("IsPersonAccount", "boolean", nillable=False, defaulted=True, **_RO))


def create_person_contacts(
    c: sqlite3.Connection, objs: dict[str, SObject], next_seq: Callable[[sqlite3.Connection, str, int], int]
) -> int:
    """Give every loaded person account that has none its Contact; returns how many were created."""
    account, contact = objs["Account"], objs["Contact"]
    pairs = {a: k for a, k in PERSON_FIELDS.items() if account.get(a) is not None and contact.get(k) is not None}
    for a in account.field_list():
        if a.name.endswith("__pc") and contact.get(a.name[:-4] + "__c") is not None:
            pairs[a.name] = a.name[:-4] + "__c"
    rows = c.execute(
        f'SELECT "Id", {", ".join(f"{chr(34)}{a}{chr(34)}" for a in pairs)} FROM "Account" '
        'WHERE "IsPersonAccount" = 1 AND "PersonContactId" IS NULL ORDER BY rowid'
    ).fetchall()
    if not rows:
        return 0
    first = next_seq(c, "Contact", len(rows))
    given = ["Id", "AccountId", "IsPersonAccount", "Name", *pairs.values()]
    # Every other Contact field takes its create default (booleans false, system fields from the account).
    rest = [f for f in contact.field_list() if f.name not in given]
    defaults = {f.name: default_value(contact, f) for f in rest}
    if "CreatedById" in defaults and "OwnerId" in pairs.values():
        defaults["CreatedById"] = defaults["LastModifiedById"] = "?"
    cols = given + list(defaults)
    values = []
    for k, row in enumerate(rows):
        by_field = dict(zip(pairs.values(), row[1:], strict=True))
        name = " ".join(v for v in (by_field.get("FirstName"), by_field.get("LastName")) if v) or None
        vals = [make_id(contact.key_prefix, first + k), row[0], 1, name, *row[1:]]
        vals += [by_field["OwnerId"] for v in defaults.values() if v == "?"]
        values.append(vals)
    placeholders = ["?"] * len(given) + list(defaults.values())
    c.executemany(
        f'INSERT INTO "Contact" ({", ".join(chr(34) + n + chr(34) for n in cols)}) VALUES ({", ".join(placeholders)})',
        values,
    )
    c.executemany('UPDATE "Account" SET "PersonContactId" = ? WHERE "Id" = ?', [(v[0], v[1]) for v in values])
    return len(values)
