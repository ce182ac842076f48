"""Describe responses: describeGlobal entries, full object describes and field metadata (every key, no nulls
where Salesforce has booleans)."""

from __future__ import annotations

from .schema import SOAP_TYPES, TEXT_TYPES, Field, SObject, _label


def field_describe(f: Field) -> dict:
    """One field as describe renders it."""
    is_str = f.type in TEXT_TYPES
    length = f.length if is_str else (18 if f.type in ("id", "reference") else 0)
    return {
        "aggregatable": f.type not in ("textarea",),
        "autoNumber": f.auto_number,
        "byteLength": length * 3 if is_str else length,
        "calculated": f.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": f.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.defaulted,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": f.precision if f.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": None,
        "filterable": f.type != "textarea" or f.length <= 255,
        "filteredLookupInfo": None,
        "groupable": f.type not in ("double", "currency", "percent", "datetime", "textarea"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.type == "id" or f.external_id or f.name in ("Email", "Username"),
        "inlineHelpText": None,
        "label": f.label or _label(f.name),
        "length": length,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name_field,
        "namePointing": len(f.reference_to) > 1,
        "nillable": f.nillable,
        "permissionable": f.nillable and not f.calculated and f.type != "id",
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in f.picklist
        ],
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": f.precision if f.type in ("double", "currency", "percent") else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted,
        "scale": f.scale,
        "searchPrefilterable": False,
        "soapType": SOAP_TYPES[f.type],
        "sortable": f.type != "textarea" or f.length <= 255,
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def describe_global_entry(o: SObject, version: str) -> dict:
    """One entry of describeGlobal (also the top of a full describe)."""
    base = f"/services/data/v{version}/sobjects/{o.name}"
    writable = o.name != "Organization" and not o.name.endswith("History")
    return {
        "activateable": False,
        "createable": writable and o.name != "User",
        "custom": o.custom,
        "customSetting": False,
        "deletable": writable and o.name != "User",
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isSubtype": False,
        "keyPrefix": o.key_prefix,
        "label": o.label,
        "labelPlural": o.label_plural,
        "layoutable": True,
        "mergeable": o.name in ("Account", "Contact", "Lead"),
        "mruEnabled": True,
        "name": o.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": writable,
        "updateable": writable,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def describe_object(o: SObject, objs: dict[str, SObject], version: str) -> dict:
    """The full describe of one object, child relationships included."""
    out = describe_global_entry(o, version)
    children = []
    for other in objs.values():
        for f in other.field_list():
            if o.name in f.reference_to and f.relationship_name and f.name not in ("CreatedById", "LastModifiedById"):
                children.append(
                    {
                        "cascadeDelete": False,
                        "childSObject": other.name,
                        "field": f.name,
                        # Named only for the main lookup (Contact.AccountId -> Account.Contacts), like the real org.
                        "relationshipName": other.label_plural
                        if f.name in (o.name + "Id", "WhoId", "WhatId")
                        else None,
                    }
                )
    out.update(
        {
            "fields": [field_describe(f) for f in o.field_list()],
            "childRelationships": children,
            "recordTypeInfos": [],
            "supportedScopes": [{"label": "All", "name": "everything"}],
        }
    )
    return out
