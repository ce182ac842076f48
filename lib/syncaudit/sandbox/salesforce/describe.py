"""Describe responses: describeGlobal entries, full object describes and field metadata (every key, no nulls
where Salesforce has booleans)."""

from __future__ import annotations

from .schema import SOAP_TYPES, TEXT_TYPES, Field, SObject, _label


def field_describe(self: Field) -> dict:
    """This field as describe renders it."""
    is_str = self.type in TEXT_TYPES
    length = self.length if is_str else (18 if self.type in ("id", "reference") else 0)
    return {
        "aggregatable": self.type not in ("textarea",),
        "autoNumber": self.auto_number,
        "byteLength": length * 3 if is_str else length,
        "calculated": self.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": self.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": self.createable,
        "custom": self.custom,
        "defaultValue": None,
        "defaultValueFormula": None,
        "defaultedOnCreate": self.defaulted,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": self.precision if self.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": self.external_id,
        "extraTypeInfo": None,
        "filterable": self.type != "textarea" or self.length <= 255,
        "filteredLookupInfo": None,
        "groupable": self.type not in ("double", "currency", "percent", "datetime", "textarea"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": self.type == "id" or self.external_id or self.name in ("Email", "Username"),
        "inlineHelpText": None,
        "label": self.label or _label(self.name),
        "length": length,
        "mask": None,
        "maskType": None,
        "name": self.name,
        "nameField": self.name_field,
        "namePointing": len(self.reference_to) > 1,
        "nillable": self.nillable,
        "permissionable": self.nillable and not self.calculated and self.type != "id",
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in self.picklist
        ],
        "polymorphicForeignKey": len(self.reference_to) > 1,
        "precision": self.precision if self.type in ("double", "currency", "percent") else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(self.reference_to),
        "relationshipName": self.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": self.restricted,
        "scale": self.scale,
        "searchPrefilterable": False,
        "soapType": SOAP_TYPES[self.type],
        "sortable": self.type != "textarea" or self.length <= 255,
        "type": self.type,
        "unique": self.unique,
        "updateable": self.updateable,
        "writeRequiresMasterRead": False,
    }


def describe_global_entry(o: SObject, version: str) -> dict:
    """One entry of describeGlobal (also the top of a full describe)."""
    base = f"/services/data/v{version}/sobjects/{o.name}"
    writable = o.name != "Organization"
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
