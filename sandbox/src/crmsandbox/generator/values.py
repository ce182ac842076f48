"""How each system spells a clean value (phones, websites, names, emails).

Shared by the defect planter (which must produce values that differ, or agree, after the audit's
normalisation) and the writers, so both sides of a clean pair always agree.
"""

from __future__ import annotations

from crmsandbox.generator import phones

PHONE_FORMATS = phones.FORMATS


def phone_text(regions: list[str], region: int, prefix: int, suffix: int, fmt: int) -> str | None:
    if region < 0:
        return None
    return phones.format_number(regions[region], int(prefix), int(suffix), PHONE_FORMATS[fmt])


def website_sf(domain: str, style: int) -> str:
    """Salesforce websites as reps type them; the domain normaliser reduces all to the domain."""
    return (f"https://www.{domain}", f"www.{domain}", f"http://{domain}/", f"https://{domain}")[style % 4]


def website_ic(domain: str) -> str:
    return f"https://{domain}"


def full_name(first: str | None, last: str) -> str:
    return f"{first} {last}" if first else last


def mixed_case_email(email: str) -> str:
    """'anna.schmidt@acme.de' -> 'Anna.Schmidt@acme.de': same address after normalisation."""
    local, _, domain = email.partition("@")
    return ".".join(part[:1].upper() + part[1:] for part in local.split(".")) + "@" + domain
