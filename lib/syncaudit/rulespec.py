"""Cross-system rules: the ``rules:`` section of the config, validated at load.

A rule is a condition on records of one system and an expectation on the other::

    - name: churn_risk_case
      when:   {object: conversation, tags: [churn-risk], within: 30d}
      expect: {exists: Case, on: account, where: [{field: Priority, equals: High}, {field: IsClosed, equals: false}]}
      fix:    {create: {Subject: Churn risk, Priority: High, Status: New}}

Vocabulary (docs/contracts.md, "Cross-system rules"):

* ``when.object``: ``conversation``, ``contact``, ``company`` (Intercom) or ``Account``, ``Contact``, ``Lead``
  (Salesforce); ``tags`` (any of, Intercom objects); ``where`` conditions; ``within`` (e.g. ``30d``, ``12h``,
  ``2w``) on the object's creation time (``time_field`` to choose another).
* a condition is ``{field: F, <operator>: value}`` with one operator of :data:`OPERATORS`.
* ``expect`` is one of ``exists: Case|Task`` / ``not_exists: Case|Task`` with ``on: account|person|conversation``
  (the linked Account, the linked Contact or Lead, or the conversation itself), or ``linked: company|contact|
  Account|Contact|Lead`` (the counterpart record in the other system); ``where`` narrows the expected records.
* ``fix`` (optional): ``create`` (field values of the missing Case/Task, created by an External ID so a retry
  cannot duplicate) or ``set`` (field values written on the linked record).

Names of fields and tags are checked against the snapshot when the rules run (:func:`check_rules_against`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

OPERATORS = ("equals", "not_equals", "in", "not_in", "exists")
INTERCOM_OBJECTS = ("conversation", "contact", "company")
SALESFORCE_OBJECTS = ("Account", "Contact", "Lead")
RELATED_OBJECTS = ("Case", "Task")
ANCHORS = ("account", "person", "conversation")
LINKED = ("company", "contact", "Account", "Contact", "Lead")
_WITHIN = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNIT_S = {"h": 3600, "d": 86_400, "w": 7 * 86_400}
# Which linked targets each condition object can reach (the other system's side of a link).
LINKED_FROM = {
    "conversation": ("Account", "Contact", "Lead", "company"),
    "contact": ("Account", "Contact", "Lead", "company"),
    "company": ("Account",),
    "Account": ("company",),
    "Contact": ("contact", "company"),
    "Lead": ("contact",),
}
ANCHORS_FROM = {
    "conversation": ("account", "person", "conversation"),
    "contact": ("account", "person"),
    "company": ("account",),
    "Account": ("account",),
    "Contact": ("account", "person"),
    "Lead": ("person",),
}


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def system_of(obj: str) -> str:
    """``intercom`` for conversation/contact/company, else ``salesforce``."""
    return "intercom" if obj in INTERCOM_OBJECTS else "salesforce"


class Condition(_RuleModel):
    """``{field: F, <operator>: value}``: one test on one field."""

    field: str = Field(min_length=1)
    op: Literal["equals", "not_equals", "in", "not_in", "exists"]
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _one_operator(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a condition is {{field: NAME, <operator>: VALUE}}, got {data!r}")
        if "op" in data:
            return data
        rest = {k: v for k, v in data.items() if k != "field"}
        unknown = [k for k in rest if k not in OPERATORS]
        if unknown:
            raise ValueError(
                f"unknown operator '{unknown[0]}' in condition on '{data.get('field')}'; "
                f"use one of: {', '.join(OPERATORS)}"
            )
        if len(rest) != 1:
            raise ValueError(f"condition on '{data.get('field')}' needs exactly one operator ({', '.join(OPERATORS)})")
        ((op, value),) = rest.items()
        if op in ("in", "not_in") and not isinstance(value, list):
            raise ValueError(f"'{op}' on '{data.get('field')}' takes a list of values, e.g. {op}: [a, b]")
        if op == "exists" and not isinstance(value, bool):
            raise ValueError(f"'exists' on '{data.get('field')}' takes true or false")
        return {"field": data.get("field"), "op": op, "value": value}


class RuleCondition(_RuleModel):
    object: str = Field(description="conversation, contact, company (Intercom) or Account, Contact, Lead")
    tags: list[str] = Field([], description="any of these tags (Intercom conversations and contacts)")
    where: list[Condition] = []
    within: str | None = Field(
        None, description="only records created in this window before the snapshot: 30d, 12h, 2w"
    )
    time_field: str | None = Field(None, description="the time column `within` applies to (default: creation time)")

    @field_validator("object")
    @classmethod
    def _known_object(cls, v: str) -> str:
        known = (*INTERCOM_OBJECTS, *SALESFORCE_OBJECTS)
        if v not in known:
            raise ValueError(f"unknown object '{v}'; use one of: {', '.join(known)}")
        return v

    @field_validator("within")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None and not _WITHIN.match(str(v)):
            raise ValueError(f"within '{v}' is not a window; write a number and h, d or w, e.g. 30d")
        return v

    @model_validator(mode="after")
    def _tags_on_intercom(self) -> RuleCondition:
        if self.tags and self.object not in ("conversation", "contact"):
            raise ValueError(f"tags apply to Intercom conversations and contacts, not to {self.object}")
        return self

    def within_seconds(self) -> int | None:
        if self.within is None:
            return None
        m = _WITHIN.match(self.within)
        assert m is not None  # checked at load
        return int(m.group(1)) * _UNIT_S[m.group(2)]


class RuleExpectation(_RuleModel):
    exists: str | None = Field(None, description="Case or Task that must exist on the anchor")
    not_exists: str | None = Field(None, description="Case or Task that must not exist on the anchor")
    on: str | None = Field(None, description="account, person or conversation: what the Case/Task belongs to")
    linked: str | None = Field(None, description="the counterpart that must satisfy `where`")
    where: list[Condition] = []

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean true.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _one_form(self) -> RuleExpectation:
        forms = [k for k in ("exists", "not_exists", "linked") if getattr(self, k) is not None]
        if len(forms) != 1:
            raise ValueError("expect needs exactly one of exists, not_exists or linked")
        if self.linked is not None:
            if self.linked not in LINKED:
                raise ValueError(f"unknown object '{self.linked}' for linked; use one of: {', '.join(LINKED)}")
            if self.on is not None:
                raise ValueError("'on' goes with exists/not_exists; linked names the counterpart itself")
            return self
        obj = self.exists or self.not_exists
        if obj not in RELATED_OBJECTS:
            raise ValueError(f"unknown object '{obj}' for exists/not_exists; use one of: {', '.join(RELATED_OBJECTS)}")
        if self.on not in ANCHORS:
            raise ValueError(f"exists/not_exists needs on: one of {', '.join(ANCHORS)} (got {self.on!r})")
        return self

    @property
    def target(self) -> str:
        """The object the expectation reads: Case/Task, or the linked counterpart."""
        return self.linked or self.exists or self.not_exists  # type: ignore[return-value]


class RuleFix(_RuleModel):
    create: dict[str, Any] | None = Field(None, description="field values of the Case/Task to create")
    set: dict[str, Any] | None = Field(None, description="field values to write on the linked record")
    external_id_field: str | None = Field(
        None,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="External ID field the create upserts by (default mapping.conversations.external_id_field)",
    )

    @model_validator(mode="after")
    def _one(self) -> RuleFix:
        if (self.create is None) == (self.set is None):
            raise ValueError("fix needs exactly one of create or set")
        return self


class Rule(_RuleModel):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    description: str = ""
    severity: Literal["low", "medium", "high"] = "medium"
    when: RuleCondition
    expect: RuleExpectation
    fix: RuleFix | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Rule:
        src, e = self.when.object, self.expect
        if e.linked is not None:
            if system_of(e.linked) == system_of(src):
                raise ValueError(
                    f"rule '{self.name}': linked {e.linked} is in the same system as {src}; "
                    "a rule's expectation is on the other system"
                )
            if e.linked not in LINKED_FROM[src]:
                raise ValueError(
                    f"rule '{self.name}': {src} cannot reach a linked {e.linked}; "
                    f"from {src} use one of: {', '.join(LINKED_FROM[src])}"
                )
        elif e.on not in ANCHORS_FROM[src]:
            raise ValueError(
                f"rule '{self.name}': {e.target} on {e.on} cannot be reached from {src}; "
                f"use on: one of {', '.join(ANCHORS_FROM[src])}"
            )
        if self.fix is not None:
            if self.fix.create is not None and e.exists is None:
                raise ValueError(f"rule '{self.name}': fix.create goes with expect.exists (create the missing record)")
            if self.fix.create is not None and e.on == "conversation":
                raise ValueError(
                    f"rule '{self.name}': a conversation's log is created by the log_conversations fix; "
                    "use fix.create with on: account or person"
                )
            if self.fix.set is not None and e.linked is None:
                raise ValueError(f"rule '{self.name}': fix.set goes with expect.linked (set the counterpart's field)")
        return self


def check_unique_rule_names(rules: list[Rule]) -> None:
    names = [r.name for r in rules]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"rule name(s) used twice: {', '.join(dup)}")


def validate_rules(raw: Any) -> list[Rule]:
    """Each rule validated on its own, so every message names the rule it is about."""
    from pydantic import ValidationError

    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("rules is a list of rules (- name: ..., when: ..., expect: ...)")
    out, problems = [], []
    for i, item in enumerate(raw):
        if isinstance(item, Rule):
            out.append(item)
            continue
        name = item.get("name") if isinstance(item, dict) else None
        label = f"rule '{name}'" if name else f"rule #{i + 1}"
        try:
            out.append(Rule.model_validate(item))
        except ValidationError as exc:
            for e in exc.errors():
                loc = ".".join(str(p) for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
                msg = str(e["msg"]).removeprefix("Value error, ")
                if e["type"] == "extra_forbidden":
                    msg = "unknown key (rules take name, description, severity, when, expect, fix)"
                elif e["type"] == "missing":
                    msg = "required key is missing"
                elif e["type"].startswith("literal_error"):
                    msg = f"{msg}; got {e.get('input')!r}"
                msg = msg.replace(f"rule '{name}': ", "")
                problems.append(f"{label}{' ' + loc if loc else ''}: {msg}")
    if problems:
        raise ValueError("; ".join(problems))
    check_unique_rule_names(out)
    return out


def salesforce_fields(rules: list[Rule], obj: str) -> set[str]:
    """The Salesforce fields of ``obj`` the rules read or write (the pull reads them too)."""
    out: set[str] = set()
    for r in rules:
        if r.when.object == obj:
            out |= {c.field for c in r.when.where}
            if r.when.time_field:
                out.add(r.when.time_field)
        if r.expect.target == obj:
            out |= {c.field for c in r.expect.where}
            if r.fix is not None:
                out |= set((r.fix.create or r.fix.set or {}).keys())
                if r.fix.external_id_field:
                    out.add(r.fix.external_id_field)
    return out
