"""What the fix policies share: the snapshot seen through DuckDB (rows by id, describe metadata) and the
helpers that turn a proposed change into an operation with its before-image and version."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from syncaudit.changes.finding_source import FindingSource
from syncaudit.changes.intercom_values import read_attribute_types, typed_for_write
from syncaudit.changes.model import Operation
from syncaudit.config import Config, PicklistMap

SF_PREFIX = {"003": "Contact", "00Q": "Lead", "001": "Account", "00T": "Task", "500": "Case"}
# Compound or system fields Salesforce refuses to write (INVALID_FIELD_FOR_INSERT_UPDATE).
SF_READ_ONLY = {("Contact", "Name"), ("Lead", "Name")}
TEXT_NORMALIZERS = {"email", "trim", "lower", "upper", "whitespace"}


def sf_object(record_id: str) -> str | None:
    return SF_PREFIX.get(str(record_id)[:3])


def plain_value(v: Any) -> Any:
    """Snapshot values in the JSON form the APIs speak."""
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return v
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def epoch_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return int(v.timestamp())
    return v


def synthetic_finding_id(*parts: Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def normalize_text(value: Any, normalizers: Iterable[Any]) -> Any:
    """Apply the mapping's text normalizers (and picklist maps, Intercom value -> Salesforce value)."""
    if value is None:
        return None
    v: Any = value
    for n in normalizers:
        if isinstance(n, PicklistMap):
            table = {k.strip().lower(): t for k, t in n.picklist.items()}
            v = table.get(str(v).strip().lower(), v)
        elif n == "email":
            v = str(v).strip().lower()
        elif n == "trim":
            v = str(v).strip()
        elif n == "lower":
            v = str(v).lower()
        elif n == "upper":
            v = str(v).upper()
        elif n == "whitespace":
            v = re.sub(r"\s+", " ", str(v)).strip()
    return v


@dataclass
class PlanContext:
    cfg: Config
    con: Any  # duckdb connection with sf_<Object> and ic_<name> views
    findings: FindingSource  # a list given here is served from memory
    snapshot: Any = None
    tables: set[str] = field(default_factory=set)
    _describe: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    _ic_types: dict[tuple[str, str], str] | None = None
    _cache: dict[tuple[str, str, str], dict[str, Any] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.findings, FindingSource):
            self.findings = FindingSource(list(self.findings))
        rows = self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        rows += self.con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        self.tables = {r[0] for r in rows}

    def intercom_typed(self, obj: str, after: dict[str, Any]) -> dict[str, Any]:
        """Values for an Intercom write, converted by each attribute's data_type (intercom_values)."""
        if self._ic_types is None:
            self._ic_types = read_attribute_types(getattr(self.snapshot, "path", None))
        types = self._ic_types
        return {k: typed_for_write(k, v, types.get((obj, k))) for k, v in after.items()}

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self.con.execute(f'DESCRIBE "{table}"').fetchall()]

    def table(self, system: str, obj: str) -> str:
        return f"sf_{obj}" if system == "salesforce" else f"ic_{'companies' if obj == 'company' else 'contacts'}"

    def prefetch(self, system: str, obj: str, ids: Iterable[str]) -> None:
        """Load rows by id into the cache in one DuckDB query (one per object, not one per finding)."""
        table = self.table(system, obj)
        want = sorted({i for i in ids if i and (system, obj, i) not in self._cache})
        if not want or table not in self.tables:
            return
        key = "Id" if system == "salesforce" else "id"
        cur = self.con.execute(f'SELECT * FROM "{table}" WHERE "{key}" IN (SELECT UNNEST(?))', [want])
        names = [d[0] for d in cur.description]
        found = {}
        for row in cur.fetchall():
            rec = dict(zip(names, row, strict=True))
            found[str(rec[key])] = rec
        for i in want:
            self._cache[(system, obj, i)] = found.get(i)

    def forget(self) -> None:
        """Drop the cached rows (between policies and batches: the cache never holds a whole plan's records)."""
        self._cache.clear()

    def batches(self, sql: str, params: list[Any] | None = None, size: int = 10_000) -> Iterator[list[tuple]]:
        """Rows of a query in batches. The result is materialized as Arrow (compact, columnar) first, so the
        connection stays free for the look-ups a policy makes per batch."""
        table = self.con.sql(sql, params=params or None).to_arrow_table()
        for b in table.to_batches(max_chunksize=size):
            cols = [c.to_pylist() for c in b.columns]
            yield list(zip(*cols, strict=True))

    def record_batches(self, sql: str, size: int = 10_000) -> Iterator[list[dict[str, Any]]]:
        """Rows of a query as dicts, in batches (materialized as Arrow first, like :meth:`batches`)."""
        table = self.con.sql(sql).to_arrow_table()
        for b in table.to_batches(max_chunksize=size):
            yield b.to_pylist()

    def remember(self, system: str, obj: str, rid: str, rec: dict[str, Any]) -> None:
        """Cache a record a query already returned (no look-up by id)."""
        self._cache[(system, obj, rid)] = rec

    def intercom_type(self, obj: str, path: str) -> str | None:
        """The data_type of an Intercom attribute (data_attributes.json), None when unknown."""
        if self._ic_types is None:
            self._ic_types = read_attribute_types(getattr(self.snapshot, "path", None))
        return self._ic_types.get((obj, path))

    def record(self, system: str, obj: str, rid: str) -> dict[str, Any] | None:
        if (system, obj, rid) not in self._cache:
            self.prefetch(system, obj, [rid])
        return self._cache.get((system, obj, rid))

    def sf_field(self, obj: str, name: str) -> dict[str, Any] | None | bool:
        """The describe entry of a Salesforce field; True when the snapshot has no describe to check against."""
        if obj not in self._describe:
            path = Path(str(getattr(self.snapshot, "path", "") or "")) / "salesforce" / "describe" / f"{obj}.json"
            try:
                fields = json.loads(path.read_text(encoding="utf-8")).get("fields", [])
                self._describe[obj] = {f["name"].lower(): f for f in fields}
            except (OSError, ValueError, AttributeError):
                self._describe[obj] = None
        table = self._describe[obj]
        return True if table is None else table.get(name.lower())

    def sf_refusal(self, obj: str, after: dict[str, Any], create: bool = False) -> str | None:
        """Why Salesforce would refuse these values (per the snapshot's describe), or None."""
        for name, value in after.items():
            f = self.sf_field(obj, name)
            if f is True:
                continue
            if not f:
                return f"{obj}.{name} does not exist"
            if not f.get("createable" if create else "updateable", True):
                return f"{obj}.{name} is not writable"
            if value is None:
                continue
            kind = f.get("type")
            if kind in ("double", "int", "currency", "percent"):
                try:
                    float(value)
                except (TypeError, ValueError):
                    return f"{obj}.{name} needs a number, not {value!r}"
                continue
            length = f.get("length") or 0
            if kind not in ("boolean", "date", "datetime", "reference", "id") and length and len(str(value)) > length:
                return f"{obj}.{name} holds at most {length} characters; {value!r} is longer"
            if kind in ("picklist", "multipicklist") and f.get("restrictedPicklist"):
                allowed = {p.get("value") for p in f.get("picklistValues", []) if p.get("active", True)}
                if str(value) not in allowed:
                    return f"{value!r} is not a value of restricted picklist {obj}.{name}"
        return None

    def ic_object(self, rid: str) -> str:
        if self.record("intercom", "contact", rid) is not None:
            return "contact"
        return "company" if self.record("intercom", "company", rid) is not None else "contact"


def _version(system: str, rec: dict[str, Any]) -> Any:
    return plain_value(rec.get("SystemModstamp")) if system == "salesforce" else epoch_value(rec.get("updated_at"))


def update_op(
    ctx: PlanContext,
    system: str,
    obj: str,
    rid: str,
    after: dict[str, Any],
    finding: dict[str, Any] | None,
    policy: str,
    note: str = "",
) -> Operation | None:
    """An update of ``rid`` with its before-image from the snapshot; None if the record is absent or unchanged."""
    rec = ctx.record(system, obj, rid)
    if rec is None:
        return None
    if system == "intercom":
        after = ctx.intercom_typed(obj, after)
    before = {f: plain_value(rec.get(f)) for f in after}
    if all(_same(before[f], v) for f, v in after.items()):
        return None
    fid = (finding or {}).get("id") or synthetic_finding_id(policy, system, obj, rid, sorted(after))
    refusal = ctx.sf_refusal(obj, after) if system == "salesforce" else None
    if refusal:  # Salesforce would refuse it: a person decides; apply never sends a review item
        return Operation(
            system,
            obj,
            rid,
            "review",
            {k: plain_value(v) for k, v in after.items()},
            before,
            _version(system, rec),
            fid,
            policy,
            note=f"not planned: {refusal}",
        )
    return Operation(
        system,
        obj,
        rid,
        "update",
        {k: plain_value(v) for k, v in after.items()},
        before,
        _version(system, rec),
        fid,
        policy,
        note=note,
    )


def review_op(
    finding: dict[str, Any],
    policy: str,
    note: str,
    *,
    evidence: list[dict[str, Any]] | None = None,
    action: dict[str, Any] | None = None,
) -> Operation:
    """A review item: never applied; a person decides. ``after`` holds what the review needs, with a stable
    ``review_id`` (the same finding and policy always give the same id): kind, records, evidence (field by field)
    and the suggested action (the write that would be made if the person accepts it)."""
    recs = finding.get("records") or []
    return Operation(
        finding.get("system", "both"),
        finding.get("object", ""),
        str(recs[0]) if recs else None,
        "review",
        {
            "review_id": synthetic_finding_id("review", policy, finding.get("id"), *recs),
            "kind": finding.get("kind"),
            "records": recs,
            "suggested_survivor": finding.get("suggested_survivor"),
            "evidence": evidence if evidence is not None else _finding_evidence(finding),
            "suggested_action": action or {"description": finding.get("suggested_fix") or policy},
        },
        finding_id=finding.get("id"),
        policy=policy,
        note=note,
    )


def _finding_evidence(finding: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence the audit put on a finding (``extra.evidence``), if any."""
    extra = finding.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return []
    ev = extra.get("evidence") if isinstance(extra, dict) else None
    return ev if isinstance(ev, list) else []


def _same(a: Any, b: Any) -> bool:
    from syncaudit.changes.writer_api import same_value

    return same_value(a, b)


def split_records(records: list[str]) -> tuple[list[str], list[str]]:
    sf = [r for r in records if sf_object(r)]
    return sf, [r for r in records if not sf_object(r)]
