"""The write contract between the apply engine (changes/) and each system's writer (connectors/).

It sits below both, so the engine is handed writers and never imports a connector, and a writer never imports
the engine: a writer sees operations only through :class:`WriteOperation` (what changes.model.Operation offers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from syncaudit.config import Config


class WriteOperation(Protocol):
    """What a writer reads of one planned operation."""

    system: str
    object: str
    op: str  # update | upsert | delete | merge
    key: str | None
    match: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]


# Per-record outcomes a writer reports. "retry": refused for a transient reason (a locked row), nothing
# written; "in_doubt": the request may or may not have been applied (connection lost, server error).
WRITER_OUTCOMES = ("created", "updated", "deleted", "merged", "failed", "retry", "in_doubt")


@dataclass
class WriteResult:
    seq: int
    outcome: str
    code: str | None = None
    detail: str | None = None
    new_id: str | None = None
    version: Any = None  # the record's version after the write, when the answer carries it (Intercom updated_at)


JobHook = Callable[[str, str], None]  # (job_id, state) -> journal it


class Writer(Protocol):
    system: str
    calls: int  # API calls made so far

    def current(self, obj: str, ops: list[WriteOperation], since: Any) -> dict[str, dict[str, Any] | None]:
        """Current values (the fields of each op's ``after`` and ``before`` plus ``_version``) of the records
        these operations target. With ``since``, records unchanged since then may be left out (they are as
        the snapshot saw them). A key mapped to None is a record that no longer exists."""
        ...

    def write(self, obj: str, op: str, batch: list[tuple[int, WriteOperation]], on_job: JobHook) -> list[WriteResult]:
        """Send one batch of same-object, same-kind operations; one result per item."""
        ...

    def find_external(self, obj: str, field: str, values: list[str]) -> dict[str, tuple[str, Any]]:
        """value -> (record id, created date) of the records whose External ID ``field`` holds one of
        ``values`` (settles an in-doubt upsert: found means it landed)."""
        ...

    def finish_job(self, obj: str, job_id: str, batch: list[tuple[int, WriteOperation]]) -> list[WriteResult] | None:
        """Wait for a bulk job started by an earlier, interrupted apply; None if it never started processing."""
        ...


def version_key(v: Any) -> float | None:
    """A comparable form of a record version: epoch seconds at millisecond precision."""
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)):
        return round(float(v), 3)
    if isinstance(v, datetime):
        return round(v.timestamp(), 3)
    s = str(v).strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    if len(s) > 5 and s[-5] in "+-" and s[-3] != ":":  # Salesforce +0000 -> +00:00
        s = s[:-2] + ":" + s[-2:]
    try:
        return round(datetime.fromisoformat(s).timestamp(), 3)
    except ValueError:
        try:
            return round(float(s), 3)
        except ValueError:
            return None


def same_value(a: Any, b: Any) -> bool:
    """Equality across wire formats: None == "", 5 == 5.0 == "5", case-sensitive text otherwise."""
    if a in (None, "") and b in (None, ""):
        return True
    if a is None or b is None:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


WriterSource = Mapping[str, Writer] | Callable[[set[str]], Mapping[str, Writer]] | None


def resolve_writers(cfg: Config, writers: WriterSource, systems: set[str]) -> dict[str, Writer]:
    """The writers for ``systems``: those handed in (a mapping, or a callable ``systems -> writers``), else the
    real ones on new connectors (:func:`syncaudit.connectors.build.build_writers`).

    This is the one seam between the apply engine and the connectors: changes/ asks here and never imports a
    connector; the connectors' builder is imported only when nothing was handed in."""
    if writers is None:
        from syncaudit.connectors.build import build_writers

        return build_writers(cfg, systems)
    if callable(writers) and not isinstance(writers, Mapping):
        return dict(writers(systems))
    return dict(writers)
