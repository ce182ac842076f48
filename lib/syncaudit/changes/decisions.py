"""Review decisions: ``decisions.jsonl`` in a plan folder, one decision a line, the last line of an item wins.

A line: ``{"item", "decision" (approve | reject), "survivor", "who", "when", "evidence", "plan", "seq"}``.
``item`` is the review item's stable id (its finding id), ``evidence`` a digest of what the reviewer saw (the
records, the field-by-field evidence, the proposed values): a rejection made in an earlier plan carries over
to a later month's plan for the same finding id as long as that digest is unchanged.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syncaudit.changes.model import canonical
from syncaudit.changes.review_files import decisions_file
from syncaudit.errors import SyncAuditError

DECISIONS = ("approve", "reject")


@dataclass(frozen=True)
class Decision:
    """One reviewer's decision on one review item."""

    item: str
    decision: str
    survivor: str | None
    who: str
    when: str
    evidence: str
    plan: str
    seq: int | None = None
    carried_from: str | None = None  # the plan whose rejection this is, when it came from an earlier month

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k == "survivor"}


def reviewer(cfg: Any = None) -> str:
    """Who decides: the config's ``review.reviewer`` if it names one, else the OS user."""
    who = getattr(getattr(cfg, "review", None), "reviewer", None)
    if isinstance(who, str) and who.strip():
        return who.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid())


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def evidence_digest(item: Any) -> str:
    """What a rejection is bound to: the records, the compared values and the proposal, not the weights (a model
    re-estimated on next month's data moves the weights of the very same evidence)."""
    evidence = [[e.get("field"), e.get("left"), e.get("right")] for e in (item.evidence or [])]
    body = canonical(
        {
            "records": sorted(item.records),
            "evidence": sorted(evidence, key=canonical),
            "values": item.values or {},
            "proposal": item.proposal or {},
        }
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


class DecisionLog:
    """The decisions.jsonl of one plan folder."""

    def __init__(self, plan_folder: Path) -> None:
        self.path = decisions_file(plan_folder)

    def append(self, decision: Decision) -> None:
        """One line, under a lock and on disk before returning (a decision is never half-written or lost)."""
        line = canonical(decision.to_dict()) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read(self) -> list[Decision]:
        if not self.path.is_file():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    out.append(Decision(**{k: d.get(k) for k in Decision.__dataclass_fields__}))
                    if out[-1].decision not in DECISIONS or not out[-1].item:
                        raise ValueError(out[-1].decision)
                except (ValueError, TypeError):
                    raise SyncAuditError(
                        f"{self.path} line {n} is not a review decision",
                        hint="decisions.jsonl is written by the review; remove the damaged line and decide again",
                    ) from None
        return out

    def latest(self) -> dict[str, Decision]:
        """The standing decision of each item (the last line about it)."""
        return {d.item: d for d in self.read()}


def earlier_decisions(plans_dir: Path, exclude: str | None) -> dict[str, Decision]:
    """The newest decision on each item across the other plans' decision logs (by when it was made)."""
    best: dict[str, Decision] = {}
    if not plans_dir.is_dir():
        return best
    for folder in sorted(p for p in plans_dir.iterdir() if p.is_dir() and p.name != exclude):
        if not decisions_file(folder).is_file():
            continue
        for d in DecisionLog(folder).latest().values():
            if d.item not in best or (d.when or "") >= (best[d.item].when or ""):
                best[d.item] = d
    return best
