"""Salesforce record ids: 15-character base-62 ids with the 3-character case checksum, and key prefixes."""

from __future__ import annotations

import re

from .exceptions import MalformedId

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_UPPER_BITS = str.maketrans({ch: ("1" if ch.isupper() else "0") for ch in _BASE62_CHARS})
_ID_RE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")

KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Task": "00T",
    "Case": "500",
    "User": "005",
    "Group": "00G",
    "Opportunity": "006",
    "Organization": "00D",
    "QueryLocator": "01g",
    "Job": "750",
    # Field history objects share one prefix, as in Salesforce.
    "AccountHistory": "017",
    "ContactHistory": "017",
    "LeadHistory": "017",
}

# A pod-like marker so ids minted by the sandbox never collide with the generator's (which use other markers).
_POD = "SB"


def checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id case-insensitively unique."""
    bits = id15.translate(_UPPER_BITS)  # "1" where the character is an upper-case letter, else "0"
    return "".join(_CHECKSUM_ALPHABET[int(bits[c + 4 : c - 1 if c else None : -1], 2)] for c in (0, 5, 10))


def to18(value: str) -> str:
    """Normalise a 15- or 18-character id to 18 characters; MALFORMED_ID when it is not a valid id."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise MalformedId(f"malformed id {value}" if isinstance(value, str) else "malformed id")
    if len(value) == 18:
        if checksum(value[:15]) != value[15:]:
            raise MalformedId(f"malformed id {value}")
        return value
    return value + checksum(value)


def is_id(value: object) -> bool:
    """True when ``value`` is a well-formed 15- or 18-character id (checksum included)."""
    try:
        to18(value)  # type: ignore[arg-type]
    except MalformedId:
        return False
    return True


def make_id(prefix: str, seq: int) -> str:
    """The 18-character id number ``seq`` for a key prefix (deterministic, so runs are reproducible)."""
    digits = []
    n = seq
    for _ in range(10):
        n, r = divmod(n, 62)
        digits.append(_BASE62[r])
    if n:
        raise ValueError("id sequence exhausted")
    id15 = prefix + _POD + "".join(reversed(digits))
    return id15 + checksum(id15)
