"""What the generator needs to know of the mapping an audit of its org pair will use: the mapped fields (their
owner and sync direction) and the sync lags.

Drift is only meaningful on fields the audit compares, and "still in flight" only relative to the lags it
assumes, so these are the generator's *inputs*. The defaults describe the demo mapping (every field the
generator can plant drift on); ``--mapping FILE`` replaces them with a mapping file's. A mapping file is
YAML or JSON with (the shape of syncaudit's config, which can be passed as it is)::

    mapping:                       # or these two keys at the top level
      fields:
        - {name: plan_type, owner: intercom, direction: intercom_to_salesforce, objects: [Contact]}
        - ...
      sync_timing: {intercom_to_salesforce_s: 60, salesforce_to_intercom_s: 300}

Only fields the generator knows how to plant (``PLANTABLE``) are used: a known field absent from the file
gets no drift; a field the generator does not know is listed in ``truth.json`` (``generator.mapping.unplanted``).
``truth.json`` records the mapping used (``generator.mapping``), so a tool can check its own configuration
against the org pair it audits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmsandbox.errors import SandboxInputError
from crmsandbox.generator.world import LEAD, USER

DIRECTIONS = ("salesforce_to_intercom", "intercom_to_salesforce", "both")
OWNERS = ("salesforce", "intercom")
DEFAULT_LAG = {"intercom_to_salesforce": 60, "salesforce_to_intercom": 300}

# mapping field name -> (owner, direction, people roles it is mapped for): the demo mapping
DEFAULT_PEOPLE_FIELDS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "email": ("salesforce", "both", (USER,)),
    "full_name": ("salesforce", "salesforce_to_intercom", (USER, LEAD)),
    "phone": ("intercom", "intercom_to_salesforce", (USER, LEAD)),
    "plan_type": ("intercom", "intercom_to_salesforce", (USER,)),
    "trial_status": ("intercom", "intercom_to_salesforce", (USER,)),
    "referral_source": ("intercom", "intercom_to_salesforce", (USER, LEAD)),
    "lifecycle_stage": ("salesforce", "salesforce_to_intercom", (USER, LEAD)),
    "partner_code": ("intercom", "intercom_to_salesforce", (USER,)),
    "seats": ("intercom", "intercom_to_salesforce", (USER,)),
}
DEFAULT_REFERENCE_FIELDS = {"owner": ("salesforce", "salesforce_to_intercom", (USER, LEAD))}
DEFAULT_ACCOUNT_FIELDS: dict[str, tuple[str, str]] = {  # name -> (owner, direction); Salesforce owns them all
    "company_name": ("salesforce", "salesforce_to_intercom"),
    "website": ("salesforce", "salesforce_to_intercom"),
    "industry": ("salesforce", "salesforce_to_intercom"),
    "employees": ("salesforce", "both"),
}
PLANTABLE = set(DEFAULT_PEOPLE_FIELDS) | set(DEFAULT_REFERENCE_FIELDS) | set(DEFAULT_ACCOUNT_FIELDS)
_ROLE_NAMES = {USER: "Contact", LEAD: "Lead"}


@dataclass(frozen=True)
class MappingInputs:
    """The mapped fields and sync lags drift is planted against."""

    sync_lag_s: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LAG))
    people_fields: dict[str, tuple[str, str, tuple[int, ...]]] = field(
        default_factory=lambda: dict(DEFAULT_PEOPLE_FIELDS)
    )
    reference_fields: dict[str, tuple[str, str, tuple[int, ...]]] = field(
        default_factory=lambda: dict(DEFAULT_REFERENCE_FIELDS)
    )
    account_fields: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(DEFAULT_ACCOUNT_FIELDS))
    unplanted: tuple[str, ...] = ()

    def lag(self, direction: str) -> int:
        """The lag of a field synced in ``direction`` (``both``: the longer of the two)."""
        if direction == "both":
            return max(self.sync_lag_s.values())
        return self.sync_lag_s[direction]

    def describe(self) -> dict[str, Any]:
        """The mapping as truth.json records it."""
        fields: dict[str, Any] = {}
        for name, (owner, direction, roles) in {**self.people_fields, **self.reference_fields}.items():
            fields[name] = {"owner": owner, "direction": direction, "objects": [_ROLE_NAMES[r] for r in roles]}
        for name, (owner, direction) in self.account_fields.items():
            fields[name] = {"owner": owner, "direction": direction, "objects": ["Account"]}
        return {"sync_lag_s": dict(self.sync_lag_s), "fields": fields, "unplanted": list(self.unplanted)}


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SandboxInputError(f"cannot read the mapping file {path}: {exc.strerror}", key="--mapping") from None
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except ValueError as exc:  # json.JSONDecodeError and yaml.YAMLError are ValueErrors or have .problem
        raise SandboxInputError(f"{path} is not valid YAML or JSON: {exc}", key="--mapping") from None
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError: one message, no traceback
        raise SandboxInputError(f"{path} is not valid YAML: {exc}", key="--mapping") from None
    if not isinstance(doc, dict):
        raise SandboxInputError(f"{path} must hold a mapping (fields and sync_timing)", key="--mapping")
    return doc.get("mapping") if isinstance(doc.get("mapping"), dict) else doc


def mapping_from_file(path: str | Path) -> MappingInputs:
    """The generator's inputs from a mapping file; SandboxInputError naming the entry that is wrong."""
    path = Path(path)
    doc = _load(path)
    entries = doc.get("fields")
    if not isinstance(entries, list) or not entries:
        raise SandboxInputError(f"{path}: mapping.fields must be a non-empty list", key="--mapping")
    timing = doc.get("sync_timing") or {}
    lag = dict(DEFAULT_LAG)
    for direction in DEFAULT_LAG:
        v = timing.get(f"{direction}_s")
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise SandboxInputError(
                    f"{path}: sync_timing.{direction}_s must be whole seconds >= 0", key="--mapping"
                )
            lag[direction] = v
    people: dict[str, tuple[str, str, tuple[int, ...]]] = {}
    refs: dict[str, tuple[str, str, tuple[int, ...]]] = {}
    accounts: dict[str, tuple[str, str]] = {}
    unplanted = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise SandboxInputError(f"{path}: mapping.fields[{i}] needs a name", key="--mapping")
        name, owner, direction = e["name"], e.get("owner"), e.get("direction")
        if owner not in OWNERS or direction not in DIRECTIONS:
            raise SandboxInputError(
                f"{path}: field {name!r} needs owner salesforce|intercom and direction {'|'.join(DIRECTIONS)}",
                key="--mapping",
            )
        objects = set(e.get("objects") or [])
        if name in DEFAULT_PEOPLE_FIELDS or name in DEFAULT_REFERENCE_FIELDS:
            known = (DEFAULT_PEOPLE_FIELDS | DEFAULT_REFERENCE_FIELDS)[name][2]
            roles = tuple(r for r in known if not objects or _ROLE_NAMES[r] in objects)
            if roles:
                (people if name in DEFAULT_PEOPLE_FIELDS else refs)[name] = (owner, direction, roles)
        elif name in DEFAULT_ACCOUNT_FIELDS:
            if owner != "salesforce":
                raise SandboxInputError(
                    f"{path}: the generator plants Account drift on Salesforce-owned fields only ({name!r})",
                    key="--mapping",
                )
            accounts[name] = (owner, direction)
        else:
            unplanted.append(name)
    if not people:
        raise SandboxInputError(
            f"{path}: none of the mapped fields is one the generator plants drift on",
            key="--mapping",
            hint=f"map at least one of {', '.join(sorted(DEFAULT_PEOPLE_FIELDS))}",
        )
    return MappingInputs(lag, people, refs, accounts, tuple(unplanted))
