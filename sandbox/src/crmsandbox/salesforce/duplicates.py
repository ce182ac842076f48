"""Duplicate rules: a create or update that matches an existing record is refused with DUPLICATES_DETECTED.

Rules come from the load folder's optional ``salesforce/duplicate_rules.json``::

    [{"object": "Contact", "fields": ["Email"], "action": "allow"}, {"object": "Lead", "fields": ["Email"]}]

A rule matches when every one of its fields is set and equal, ignoring case and surrounding spaces, on an
existing, undeleted record of the same object. ``action: block`` (the default) always refuses; ``allow``
(Salesforce's "Allow, with alert") refuses unless the request carries
``Sforce-Duplicate-Rule-Header: allowSave=true``. Where it differs from Salesforce: exact matching only
(no fuzzy matching rules), one matching rule per duplicate rule, no cross-object rules.
"""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass
from pathlib import Path

from crmsandbox.errors import SandboxInputError

from . import exceptions as exc
from .store import q

ALLOW_SAVE: contextvars.ContextVar[bool] = contextvars.ContextVar("crmsandbox_allow_save", default=False)
HEADER = "Sforce-Duplicate-Rule-Header"
MESSAGE = "Use one of these records?"


@dataclass(frozen=True)
class DuplicateRule:
    object: str
    fields: tuple[str, ...]
    action: str = "block"


def allow_save_from(header: str | None) -> bool:
    """``allowSave=true; includeRecordDetails=false; runAsCurrentUser=true`` -> True."""
    for part in (header or "").replace(",", ";").split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "allowsave":
            return value.strip().lower() == "true"
    return False


def load_rules(path: Path | None) -> list[DuplicateRule]:
    if path is None or not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SandboxInputError(
            f"cannot read the duplicate rules: {e}", file=str(path), hint="write valid JSON"
        ) from None
    if not isinstance(raw, list):
        raise SandboxInputError("duplicate_rules.json must be a list of rules", file=str(path))
    rules = []
    for r in raw:
        fields = r.get("fields") if isinstance(r, dict) else None
        if not isinstance(fields, list) or not fields or not r.get("object"):
            raise SandboxInputError(
                "a duplicate rule needs an object and a list of fields",
                file=str(path),
                hint='{"object": "Contact", "fields": ["Email"]}',
            )
        action = str(r.get("action", "block")).lower()
        if action not in {"block", "allow"}:
            raise SandboxInputError(
                f"unknown duplicate rule action {action!r}", file=str(path), hint="use block or allow"
            )
        rules.append(DuplicateRule(str(r["object"]), tuple(str(f) for f in fields), action))
    return rules


def check(c, obj, record: dict, rules: list[DuplicateRule]) -> None:
    """Raise DuplicatesDetected when ``record`` (the row as it would be saved) matches a rule."""
    for rule in rules:
        if rule.object.lower() != obj.name.lower():
            continue
        if rule.action == "allow" and ALLOW_SAVE.get():
            continue
        fields = [obj.get(f) for f in rule.fields]
        if any(f is None for f in fields):
            continue
        values = [record.get(f.name) for f in fields]
        if any(v is None or str(v).strip() == "" for v in values):
            continue
        cond = " AND ".join(f"lower(trim({q(f.name)})) = lower(trim(?))" for f in fields)
        other = c.execute(
            f'SELECT "Id" FROM {q(obj.name)} WHERE {cond} AND "IsDeleted" = 0 AND "Id" != ? LIMIT 1',
            [*(str(v) for v in values), record.get("Id") or ""],
        ).fetchone()
        if other:
            raise exc.DuplicatesDetected(
                MESSAGE, [], rule=f"{obj.name}: {', '.join(f.name for f in fields)}", match=other[0]
            )
