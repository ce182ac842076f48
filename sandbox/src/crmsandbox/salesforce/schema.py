"""Object and field metadata: the standard objects the sandbox emulates, custom fields from schema.json, describe.

The metadata drives everything else: SQLite column types, write validation, SOQL field resolution and the
describe responses (every key real describe emits, booleans never null).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from crmsandbox.errors import SandboxInputError

from .ids import KEY_PREFIXES

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "combobox": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "encryptedstring": "xsd:string",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
TEXT_TYPES = {"string", "textarea", "picklist", "multipicklist", "combobox", "email", "phone", "url", "encryptedstring"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}
DEFAULT_LENGTHS = {"string": 255, "textarea": 32000, "email": 80, "phone": 40, "url": 255, "picklist": 255}
DEFAULT_LENGTHS.update({"combobox": 255, "multipicklist": 4099, "encryptedstring": 175})


@dataclass(frozen=True)
class Field:
    """One field's metadata (the subset of describe keys the sandbox enforces; the rest are rendered)."""

    name: str
    type: str = "string"
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted: bool = False
    unique: bool = False
    external_id: bool = False
    case_sensitive: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    custom: bool = False
    calculated: bool = False
    auto_number: bool = False
    name_field: bool = False

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def sqlite_type(self) -> str:
        """Column declaration: text compares case-insensitively as SOQL does; ids stay case-sensitive."""
        if self.type in ("int", "boolean"):
            return "INTEGER"
        if self.type in NUMBER_TYPES:
            return "REAL"
        if self.type in TEXT_TYPES and not self.case_sensitive:
            return "TEXT COLLATE NOCASE"
        return "TEXT"


def _label(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    base = base[:-2] if base.endswith("Id") and len(base) > 2 else base
    out = ""
    for i, ch in enumerate(base.replace("_", " ")):
        if ch.isupper() and i and base[i - 1].islower():
            out += " "
        out += ch
    return out.strip()


@dataclass
class SObject:
    """One object type: its fields (by canonical name and lower-case name) and child relationships."""

    name: str
    label: str
    label_plural: str
    fields: dict[str, Field] = field(default_factory=dict)
    custom: bool = False

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    def add(self, f: Field) -> None:
        self.fields[f.name.lower()] = f

    def get(self, name: str) -> Field | None:
        """The field named ``name`` (case-insensitive), or None."""
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationshipName is ``name`` (case-insensitive), or None."""
        low = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == low:
                return f
        return None

    def field_list(self) -> list[Field]:
        return list(self.fields.values())


# --- the standard objects ---------------------------------------------------------------------------------

_RO = {"createable": False, "updateable": False}


def _s(name: str, length: int = 255, **kw) -> Field:
    return Field(name, "string", length=length, **kw)


def _pick(name: str, values: str, **kw) -> Field:
    return Field(name, "picklist", length=255, picklist=tuple(values.split("|")), **kw)


def _ref(name: str, targets: str, rel: str | None, **kw) -> Field:
    return Field(name, "reference", reference_to=tuple(targets.split("|")), relationship_name=rel, **kw)


def _system_fields(owner_targets: str | None) -> list[Field]:
    out = [
        Field("Id", "id", nillable=False, defaulted=True, **_RO),
        Field("IsDeleted", "boolean", nillable=False, defaulted=True, **_RO),
        Field("CreatedDate", "datetime", nillable=False, defaulted=True, **_RO),
        _ref("CreatedById", "User", "CreatedBy", nillable=False, defaulted=True, **_RO),
        Field("LastModifiedDate", "datetime", nillable=False, defaulted=True, **_RO),
        _ref("LastModifiedById", "User", "LastModifiedBy", nillable=False, defaulted=True, **_RO),
        Field("SystemModstamp", "datetime", nillable=False, defaulted=True, **_RO),
    ]
    if owner_targets:
        out.append(_ref("OwnerId", owner_targets, "Owner", nillable=False, defaulted=True))
    return out


_LEAD_SOURCE = "Web|Phone Inquiry|Partner Referral|Purchased List|Other"
_INDUSTRY = "Agriculture|Banking|Education|Energy|Finance|Healthcare|Manufacturing|Media|Retail|Technology|Other"


def _address(prefix: str) -> list[Field]:
    return [
        Field(f"{prefix}Street", "textarea", length=255),
        _s(f"{prefix}City", 40),
        _s(f"{prefix}State", 80),
        _s(f"{prefix}PostalCode", 20),
        _s(f"{prefix}Country", 80),
    ]


def _standard_objects() -> dict[str, SObject]:
    objs: dict[str, SObject] = {}

    def obj(name: str, plural: str, owner: str | None, fields: list[Field]) -> None:
        o = SObject(name, name, plural)
        for f in _system_fields(owner) + fields:
            o.add(f)
        objs[name] = o

    person = [
        _s("FirstName", 40),
        _s("LastName", 80, nillable=False),
        Field("Salutation", "picklist", length=40, picklist=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        _s("Name", 121, name_field=True, **_RO),
        _s("Title", 128),
        Field("Email", "email", length=80),
        Field("Phone", "phone", length=40),
        Field("MobilePhone", "phone", length=40),
        _pick("LeadSource", _LEAD_SOURCE),
        Field("Description", "textarea", length=32000),
        Field("HasOptedOutOfEmail", "boolean", nillable=False, defaulted=True),
        Field("DoNotCall", "boolean", nillable=False, defaulted=True),
    ]
    obj(
        "Account",
        "Accounts",
        "User",
        [
            _s("Name", 255, nillable=False, name_field=True),
            _s("AccountNumber", 40),
            _pick("Type", "Prospect|Customer - Direct|Customer - Channel|Partner|Other"),
            _pick("Industry", _INDUSTRY),
            Field("Website", "url", length=255),
            Field("Phone", "phone", length=40),
            *_address("Billing"),
            _s("ShippingCity", 40),
            _s("ShippingCountry", 80),
            Field("NumberOfEmployees", "int", precision=8),
            Field("AnnualRevenue", "currency", precision=18),
            _ref("ParentId", "Account", "Parent"),
            Field("Description", "textarea", length=32000),
            _s("Site", 80),
            _ref("MasterRecordId", "Account", "MasterRecord", **_RO),
        ],
    )
    obj(
        "Contact",
        "Contacts",
        "User",
        [
            _ref("AccountId", "Account", "Account"),
            *person,
            _s("Department", 80),
            *_address("Mailing"),
            Field("Birthdate", "date"),
            _ref("MasterRecordId", "Contact", "MasterRecord", **_RO),
        ],
    )
    obj(
        "Lead",
        "Leads",
        "User",
        [
            *person,
            _s("Company", 255, nillable=False),
            Field("Website", "url", length=255),
            *_address(""),
            _pick(
                "Status",
                "Open - Not Contacted|Working - Contacted|Closed - Converted|Closed - Not Converted",
                nillable=False,
                defaulted=True,
            ),
            _pick("Industry", _INDUSTRY),
            _pick("Rating", "Hot|Warm|Cold"),
            Field("AnnualRevenue", "currency", precision=18),
            Field("NumberOfEmployees", "int", precision=8),
            Field("IsConverted", "boolean", nillable=False, defaulted=True, **_RO),
            Field("ConvertedDate", "date", **_RO),
            _ref("ConvertedAccountId", "Account", "ConvertedAccount", **_RO),
            _ref("ConvertedContactId", "Contact", "ConvertedContact", **_RO),
            _ref("ConvertedOpportunityId", "Opportunity", "ConvertedOpportunity", **_RO),
            Field("IsUnreadByOwner", "boolean", nillable=False, defaulted=True),
            Field("LastActivityDate", "date", **_RO),
            _s("EmailBouncedReason", 255),
            Field("EmailBouncedDate", "datetime"),
            _ref("MasterRecordId", "Lead", "MasterRecord", **_RO),
        ],
    )
    obj(
        "Task",
        "Tasks",
        "User",
        [
            Field("Subject", "combobox", length=255),
            _ref("WhoId", "Contact|Lead", "Who"),
            _ref("WhatId", "Account|Case", "What"),
            Field("ActivityDate", "date"),
            _pick(
                "Status",
                "Not Started|In Progress|Completed|Waiting on someone else|Deferred",
                nillable=False,
                defaulted=True,
            ),
            _pick("Priority", "High|Normal|Low", nillable=False, defaulted=True),
            Field("Description", "textarea", length=32000),
            _pick("TaskSubtype", "Task|Email|Call"),
            Field("IsClosed", "boolean", nillable=False, defaulted=True, **_RO),
            _pick("Type", "Call|Email|Meeting|Other"),
        ],
    )
    obj(
        "Case",
        "Cases",
        "User",
        [
            _s("CaseNumber", 30, auto_number=True, nillable=False, defaulted=True, name_field=True, **_RO),
            _ref("AccountId", "Account", "Account"),
            _ref("ContactId", "Contact", "Contact"),
            _s("Subject", 255),
            Field("Description", "textarea", length=32000),
            _pick("Status", "New|Working|Escalated|Closed", nillable=False, defaulted=True),
            _pick("Priority", "High|Medium|Low"),
            _pick("Origin", "Phone|Email|Web"),
            Field("IsClosed", "boolean", nillable=False, defaulted=True, **_RO),
            Field("ClosedDate", "datetime", **_RO),
            Field("SuppliedEmail", "email", length=80),
            _s("SuppliedName", 80),
            _pick("Type", "Question|Problem|Feature Request"),
            _pick("Reason", "Installation|Performance|Breakdown|Other"),
        ],
    )
    obj(
        "User",
        "Users",
        None,
        [
            _s("Username", 80, nillable=False, unique=True),
            Field("Email", "email", length=128, nillable=False),
            _s("FirstName", 40),
            _s("LastName", 80, nillable=False),
            _s("Name", 121, name_field=True, **_RO),
            _s("Alias", 8, nillable=False),
            Field("IsActive", "boolean", nillable=False, defaulted=True),
            _s("ProfileId", 18),
            _s("UserRoleId", 18),
            _s("TimeZoneSidKey", 40),
            _s("UserType", 40, **_RO),
        ],
    )
    org = SObject("Organization", "Organization", "Organizations")
    for f in [
        Field("Id", "id", nillable=False, **_RO),
        _s("Name", 80, **_RO),
        Field("IsSandbox", "boolean", nillable=False, **_RO),
        _s("OrganizationType", 40, **_RO),
        # what the Salesforce CLI's org probe selects (sf org display, sf data query's org check)
        _s("InstanceName", 5, **_RO),
        Field("TrialExpirationDate", "datetime", **_RO),
        _s("NamespacePrefix", 15, **_RO),
        _s("LanguageLocaleKey", 40, **_RO),
        _s("DefaultLocaleSidKey", 40, **_RO),
        _s("TimeZoneSidKey", 40, **_RO),
        _s("Country", 80, **_RO),
        Field("CreatedDate", "datetime", **_RO),
    ]:
        org.add(f)
    objs["Organization"] = org
    from .history import history_objects

    objs.update(history_objects())
    return objs


# Objects whose Name is computed from FirstName and LastName.
PERSON_NAME_OBJECTS = ("Contact", "Lead", "User")


# Setup-UI names people (and generators) use for the API types.
_TYPE_ALIASES = {"text": "string", "number": "double", "checkbox": "boolean", "longtextarea": "textarea"}
_TYPE_ALIASES |= {"integer": "int", "float": "double", "bool": "boolean", "lookup": "reference"}


def _custom_field(obj: str, spec: dict, source: Path) -> Field:
    name = spec.get("name")
    ftype = str(spec.get("type", "string")).lower()
    ftype = _TYPE_ALIASES.get(ftype, ftype)
    if not name or not isinstance(name, str):
        raise SandboxInputError(
            "a custom field has no name", file=str(source), key=obj, hint='give every field a "name"'
        )
    if ftype not in SOAP_TYPES or ftype == "id":
        raise SandboxInputError(
            f"unsupported field type {ftype!r}",
            file=str(source),
            key=f"{obj}.{name}",
            hint=f"use one of {', '.join(sorted(t for t in SOAP_TYPES if t != 'id'))}",
        )
    picklist = spec.get("picklistValues") or []
    values = tuple(v["value"] if isinstance(v, dict) else str(v) for v in picklist)
    refs = spec.get("referenceTo") or []
    ext = bool(spec.get("externalId", False))
    return Field(
        name,
        ftype,
        label=spec.get("label") or _label(name),
        length=int(spec.get("length") or DEFAULT_LENGTHS.get(ftype, 0)),
        precision=int(spec.get("precision") or 0),
        scale=int(spec.get("scale") or 0),
        nillable=bool(spec.get("nillable", True)),
        unique=bool(spec.get("unique", False)),
        external_id=ext,
        case_sensitive=bool(spec.get("caseSensitive", False)),
        picklist=values,
        restricted=bool(spec.get("restrictedPicklist", spec.get("restricted", False))),
        reference_to=tuple(refs if isinstance(refs, list) else [refs]),
        relationship_name=spec.get("relationshipName") or (name[:-3] + "__r" if ftype == "reference" else None),
        custom=name.endswith("__c"),
    )


def build_schema(schema_json: Path | None, text: str | None = None) -> dict[str, SObject]:
    """The standard objects plus the custom fields declared in a load folder's schema.json (if any).

    schema.json is either ``{"Contact": [{name, type, ...}, ...], ...}`` or ``[{"object": "Contact", ...}]``.
    ``text`` is that file's content when it is already read (e.g. kept in the database).
    """
    objs = _standard_objects()
    if text is None and (schema_json is None or not schema_json.exists()):
        return objs
    try:
        raw = json.loads(text if text is not None else schema_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SandboxInputError(
            f"cannot read the schema: {exc}", file=str(schema_json), hint="write valid JSON"
        ) from None
    pairs: list[tuple[str, dict]] = []
    if isinstance(raw, dict):
        for obj, specs in raw.items():
            if not isinstance(specs, list | dict):
                raise SandboxInputError(f"{obj}: expected a list of field specs", file=str(schema_json))
            pairs.append((obj, None))
            if isinstance(specs, dict):
                specs = specs.get("fields", [])
            for spec in specs or []:
                pairs.append((obj, spec))
    elif isinstance(raw, list):
        pairs = [(spec.get("object", ""), spec) for spec in raw if isinstance(spec, dict)]
    else:
        raise SandboxInputError("schema.json must be an object or a list", file=str(schema_json))
    for obj, spec in pairs:
        target = next((o for o in objs.values() if o.name.lower() == str(obj).lower()), None)
        if target is None or target.name == "Organization" or target.name.endswith("History"):
            raise SandboxInputError(
                f"unknown object {obj!r}",
                file=str(schema_json),
                hint=f"custom fields can go on {', '.join(n for n in objs if n != 'Organization')}",
            )
        if spec is None:  # the object's own entry: its name was checked above
            continue
        if not isinstance(spec, dict):
            raise SandboxInputError("a field spec must be an object", file=str(schema_json), key=str(obj))
        f = _custom_field(target.name, spec, schema_json)
        existing = target.get(f.name)
        target.add(replace(f, createable=existing.createable, updateable=existing.updateable) if existing else f)
    return objs
