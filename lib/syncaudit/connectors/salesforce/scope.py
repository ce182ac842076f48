"""SOQL conditions that narrow a Salesforce stream: the Task and Case scope of ``pull.activities``."""

from __future__ import annotations

from syncaudit.config import Config

# Who a logged conversation is filed on, per object.
PERSON_FIELD = {"Task": "WhoId", "Case": "ContactId"}


def soql_string(value: str) -> str:
    """A SOQL string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def scope_condition(cfg: Config, obj: str, field_names: set[str]) -> str | None:
    """The WHERE condition that limits ``obj`` to what conversation logging could have created, or None.

    Only fields the object has are used (``field_names``, lower case), so a scope written for Tasks
    never breaks the Case query.
    """
    if obj not in PERSON_FIELD:
        return None
    scope = cfg.pull.activities
    parts = []
    if obj == "Task" and scope.task_subtypes and "tasksubtype" in field_names:
        parts.append(f"TaskSubtype IN ({', '.join(soql_string(v) for v in scope.task_subtypes)})")
    if scope.subject_like and "subject" in field_names:
        parts.append(f"Subject LIKE {soql_string(scope.subject_like)}")
    person = PERSON_FIELD[obj]
    if scope.with_person and person.lower() in field_names:
        parts.append(f"{person} != null")
    return " AND ".join(parts) or None
