"""Field values: coercion of client input (JSON or CSV text) to stored form, and rendering back to JSON.

Each check raises the Salesforce error a real org gives for the same input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .exceptions import (
    InvalidCrossReferenceKey,
    InvalidEmailAddress,
    InvalidRestrictedPicklist,
    JsonParserError,
    MalformedId,
    StringTooLong,
)
from .ids import is_id, to18
from .schema import NUMBER_TYPES, TEXT_TYPES, Field

# Salesforce's email check is permissive about the local part and strict about the domain.
_EMAIL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _deser(f: Field, value: object, target: str) -> JsonParserError:
    kind = "VALUE_STRING" if isinstance(value, str) else type(value).__name__.upper()
    return JsonParserError(
        f"Cannot deserialize instance of {target} from {kind} value {value} or request may be missing a required "
        f"field at [line:1, column:1]",
        [f.name],
    )


def format_datetime(d: datetime) -> str:
    """Stored datetime text: UTC with milliseconds and Z."""
    d = d.astimezone(UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime | None:
    """ISO 8601 with Z, ±hh:mm or ±hhmm (Salesforce's own form); naive means UTC. None when unparseable."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    if len(t) > 5 and t[-5] in "+-" and t[-3] != ":" and t[-4:].isdigit():
        t = t[:-2] + ":" + t[-2:]
    try:
        d = datetime.fromisoformat(t)
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def coerce(f: Field, value: object, *, from_csv: bool = False) -> object:
    """Stored form of ``value`` for ``f`` (None stays None); raises the Salesforce error for bad input."""
    if value is None:
        return None
    t = f.type
    if t in TEXT_TYPES:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _deser(f, value, "String")
        s = value if isinstance(value, str) else str(value)
        if s == "":
            return None
        if f.length and len(s) > f.length:
            raise StringTooLong(
                f"{f.label or f.name}: data value too large: {s[:80]}{'...' if len(s) > 80 else ''} "
                f"(max length={f.length})",
                [f.name],
            )
        if t == "email" and not _EMAIL_RE.match(s):
            raise InvalidEmailAddress(f"{f.label or f.name}: invalid email address: {s}", [f.name])
        if f.restricted and f.picklist:
            values = s.split(";") if t == "multipicklist" else [s]
            for v in values:
                if v not in f.picklist:
                    raise InvalidRestrictedPicklist(
                        f"{f.label or f.name}: bad value for restricted picklist field: {v}", [f.name]
                    )
        return s
    if t in ("id", "reference"):
        if not isinstance(value, str):
            raise _deser(f, value, "Id")
        if value == "":
            return None
        if not is_id(value):
            raise MalformedId(f"{f.label or f.name}: id value of incorrect type: {value}", [f.name])
        return to18(value)
    if t == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return 1 if value.lower() in ("true", "1") else 0
        raise _deser(f, value, "boolean")
    if t in NUMBER_TYPES:
        if isinstance(value, bool):
            raise _deser(f, value, "double")
        if isinstance(value, str):
            try:
                value = float(value) if any(ch in value for ch in ".eE") else int(value)
            except ValueError:
                raise _deser(f, value, "double" if t != "int" else "int") from None
        if not isinstance(value, int | float):
            raise _deser(f, value, "double")
        if t == "int":
            if isinstance(value, float) and not value.is_integer():
                raise _deser(f, value, "int")
            return int(value)
        return float(value)
    if t == "date":
        if not isinstance(value, str):
            raise _deser(f, value, "date")
        s = value[:10] if len(value) > 10 and "T" in value else value
        if not _DATE_RE.match(s):
            raise _deser(f, value, "date")
        try:
            datetime.strptime(s, "%Y-%m-%d")
        except ValueError:
            raise _deser(f, value, "date") from None
        return s
    if t == "datetime":
        if not isinstance(value, str):
            raise _deser(f, value, "datetime")
        d = parse_datetime(value)
        if d is None:
            raise _deser(f, value, "datetime")
        return format_datetime(d)
    raise _deser(f, value, t)


def check_reference(conn, objs, f: Field, value: str) -> None:
    """INVALID_CROSS_REFERENCE_KEY unless ``value`` names an existing record of one of the field's targets."""
    for target in f.reference_to:
        o = objs.get(target)
        if o is not None and value.startswith(o.key_prefix):
            if conn.execute(f'SELECT 1 FROM "{o.name}" WHERE "Id" = ?', (value,)).fetchone():
                return
    raise InvalidCrossReferenceKey(
        "invalid cross reference id"
        if len(f.reference_to) != 1
        else f"{f.label or f.name}: id value of incorrect type: {value}",
        [f.name],
    )


def render(f: Field, value: object) -> object:
    """JSON form of a stored value."""
    if value is None:
        return None
    if f.type == "boolean":
        return bool(value)
    if f.type == "datetime":
        return str(value)[:23] + "+0000"
    return value
