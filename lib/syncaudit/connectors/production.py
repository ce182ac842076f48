"""Production fails closed: the org's own facts (Organization.IsSandbox, its id) decide, not the config alone.

- A production org (IsSandbox false) that the config does not declare (``salesforce.production: true``) is
  refused for every command: a config that calls a production org a sandbox is wrong, and its writes would
  pass guards meant for sandboxes.
- Writing to a production org needs ``apply.allow_production: true`` *and* the org's id in
  ``salesforce.org_id``, so a config copied from another org pair cannot write to this one by accident.
- A configured ``salesforce.org_id`` that is not the org the credentials reach is refused.
"""

from __future__ import annotations

from syncaudit.config import Config
from syncaudit.connectors.salesforce.connector import OrgFacts
from syncaudit.errors import GuardError


def same_org_id(a: str, b: str) -> bool:
    """15- and 18-character ids of one org compare equal (the first 15 characters are the id)."""
    return a[:15] == b[:15]


def check_production(cfg: Config, org: OrgFacts | None, *, writing: bool, system: str = "salesforce") -> None:
    """Raise GuardError (exit 5) unless the config's view of the target matches what the org says."""
    if system == "intercom":
        ic = cfg.intercom
        if writing and ic is not None and ic.production and cfg.sandbox is None and not cfg.apply.allow_production:
            raise GuardError(
                "the plan writes to Intercom, which the config marks as production",
                hint="set apply.allow_production: true in the config if this is really intended",
            )
        return
    assert org is not None
    sc = cfg.salesforce
    declared_production = bool(sc is not None and sc.production)
    org_id = sc.org_id if sc is not None else None
    label = f"{org.org_id} ({org.name})" if org.name else org.org_id
    if org_id and not same_org_id(org_id, org.org_id):
        raise GuardError(
            f"the credentials reach Salesforce org {label}, but the config names org {org_id}",
            hint="check the credentials and salesforce.instance_url, or correct salesforce.org_id",
        )
    if org.is_sandbox:
        return
    if not declared_production:
        raise GuardError(
            f"Salesforce org {label} is a production org (Organization.IsSandbox = false), but the config "
            "calls it a sandbox (salesforce.production is false)",
            hint=f"set salesforce.production: true and salesforce.org_id: {org.org_id} in the config "
            "(writes also need apply.allow_production: true)",
        )
    if writing and not cfg.apply.allow_production:
        raise GuardError(
            f"Salesforce org {label} is a production org and apply.allow_production is false",
            hint="set apply.allow_production: true in the config if writing to production is really intended",
        )
    if writing and not org_id:
        raise GuardError(
            f"writing to production org {label} needs its id named in the config",
            hint=f"set salesforce.org_id: {org.org_id} in the config",
        )
