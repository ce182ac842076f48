"""The change plan: operations, their canonical form, the plan hash and the files a plan is stored in.

A plan lives in ``<data_dir>/plans/<hash>/``:

    plan.json      the header: snapshot id, the per-system "since" bounds used for concurrency checks, policies
    plan.jsonl     one operation a line, in apply order
    summary.json   counts and samples for review (notebook 60, `syncaudit plan`)

The hash is the first 16 hex of sha256 over the canonical header and the canonical operation lines, so the
same snapshot, findings and policies always give the same hash, and any edit to a stored plan is detected.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from syncaudit.errors import GuardError, SyncAuditError

OPS = ("update", "upsert", "delete", "merge", "review")
WRITE_OPS = frozenset({"update", "upsert", "delete", "merge"})
VERSION_FIELD = {"salesforce": "SystemModstamp", "intercom": "updated_at"}


def canonical(obj: Any) -> str:
    """JSON with sorted keys and no spaces: the one text form that is hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Operation:
    """One planned write (or review item).

    ``before`` holds the snapshot values of the fields in ``after`` (what rollback restores); ``version`` is
    the record's SystemModstamp (Salesforce, ISO text) or updated_at (Intercom, epoch seconds) at snapshot
    time — a record whose version moved is skipped, never overwritten. An ``upsert`` creates a record keyed by
    an External ID: ``match`` is ``{field: value}`` and ``key`` is that value, so sending it twice updates the
    record the first send made instead of duplicating it, and an in-doubt upsert is found again by its key.
    """

    system: str
    object: str
    key: str | None
    op: str
    after: dict[str, Any]
    before: dict[str, Any] = field(default_factory=dict)
    version: Any = None
    finding_id: str | None = None
    policy: str = ""
    match: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    also_resolves: list[str] = field(default_factory=list)  # further findings when updates of one record are merged

    @property
    def idempotency_key(self) -> str:
        body = canonical([self.system, self.object, self.key, self.op, self.after, self.match])
        return hashlib.sha256(body.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["idempotency_key"] = self.idempotency_key
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Operation:
        d = dict(d)
        d.pop("idempotency_key", None)
        d.pop("seq", None)
        return cls(**d)


@dataclass
class Plan:
    """A change plan: a header and the operations, identified by their content hash."""

    header: dict[str, Any]
    operations: list[Operation]
    path: Path | None = None

    @property
    def hash(self) -> str:
        h = hashlib.sha256(canonical(self.header).encode())
        for line in self._lines():
            h.update(line.encode())
        return h.hexdigest()[:16]

    def _lines(self) -> list[str]:
        # Cached: a plan of 100,000 operations is serialized once, not once per use of its hash. Operations
        # are frozen, so their identities (and the header) key the cache: a plan changed in memory re-serializes.
        key = (canonical(self.header), hash(tuple(map(id, self.operations))))
        cached = self.__dict__.get("_lines_cache")
        if cached is None or cached[0] != key:
            lines = [canonical({"seq": i, **op.to_dict()}) + "\n" for i, op in enumerate(self.operations)]
            cached = (key, lines)
            self.__dict__["_lines_cache"] = cached
        return cached[1]

    def summary(self) -> dict[str, Any]:
        """Counts and samples (see :func:`summarize_plan`), plus where the plan is stored."""
        return {**summarize_plan(self), "path": str(self.path or "")}

    @property
    def writes(self) -> list[tuple[int, Operation]]:
        return [(i, op) for i, op in enumerate(self.operations) if op.op in WRITE_OPS]

    def save(self, plans_dir: Path) -> Path:
        """Write the plan folder atomically (a temp folder renamed into place); returns the folder."""
        plans_dir.mkdir(parents=True, exist_ok=True)
        target = plans_dir / self.hash
        if (target / "plan.jsonl").exists():
            self.path = target
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.hash}.", dir=plans_dir))
        (tmp / "plan.json").write_text(canonical({**self.header, "hash": self.hash}) + "\n", encoding="utf-8")
        with open(tmp / "plan.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(self._lines())
        (tmp / "summary.json").write_text(
            json.dumps(summarize_plan(self), indent=2, default=str) + "\n", encoding="utf-8"
        )
        try:
            os.replace(tmp, target)
        except OSError:  # another process saved the same plan first: same content by construction
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        self.path = target
        return target


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a stored plan (its folder or its plan.jsonl) and check it against its recorded hash."""
    p = Path(path)
    folder = p.parent if p.name in {"plan.jsonl", "plan.json", "summary.json"} else p
    header_file, ops_file = folder / "plan.json", folder / "plan.jsonl"
    if not header_file.is_file() or not ops_file.is_file():
        raise SyncAuditError(
            f"no change plan at {folder}", hint="pass --plan with the folder that `syncaudit plan` printed"
        )
    try:
        header = json.loads(header_file.read_text(encoding="utf-8"))
        ops = [Operation.from_dict(json.loads(line)) for line in ops_file.read_text(encoding="utf-8").splitlines()]
    except (ValueError, TypeError) as exc:
        raise SyncAuditError(
            f"the change plan at {folder} is damaged ({type(exc).__name__})",
            hint="re-create it with `syncaudit plan`",
        ) from None
    recorded = header.pop("hash", None)
    plan = Plan(header, ops, folder)
    if recorded != plan.hash:
        raise GuardError(
            f"the change plan at {folder} was modified after it was written (hash {plan.hash}, recorded {recorded})",
            hint="never edit a plan by hand; re-create it with `syncaudit plan` and review it again",
        )
    return plan


def summarize_plan(plan: Plan, samples: int = 5) -> dict[str, Any]:
    """Counts by system/object/operation and by policy, plus a few sample operations of each policy."""
    by_target = Counter(f"{o.system}.{o.object}.{o.op}" for o in plan.operations)
    by_policy = Counter(o.policy for o in plan.operations)
    sample: dict[str, list[dict[str, Any]]] = {}
    for o in plan.operations:
        bucket = sample.setdefault(o.policy, [])
        if len(bucket) < samples:
            bucket.append(o.to_dict())
    return {
        "hash": plan.hash,
        "snapshot_id": plan.header.get("snapshot_id"),
        "operations": len(plan.operations),
        "writes": len(plan.writes),
        "reviews": sum(1 for o in plan.operations if o.op == "review"),
        "by_target": dict(sorted(by_target.items())),
        "by_policy": dict(sorted(by_policy.items())),
        "samples": sample,
    }


def operations_frame(plan: Plan) -> Any:
    """The plan's operations as a pandas DataFrame (one row per operation), for review in a notebook."""
    import pandas as pd

    rows = []
    for i, o in enumerate(plan.operations):
        rows.append(
            {
                "seq": i,
                "policy": o.policy,
                "system": o.system,
                "object": o.object,
                "key": o.key,
                "op": o.op,
                "fields": ", ".join(sorted(o.after)),
                "before": canonical(o.before),
                "after": canonical(o.after),
                "finding_id": o.finding_id,
                "note": o.note,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["seq", "policy", "system", "object", "key", "op", "fields", "before", "after", "finding_id", "note"],
    )


def journal_frame(cfg: Any, run_id: str) -> Any:
    """The audit log of one run (what was created, updated, skipped or failed, when) as a DataFrame."""
    import pandas as pd

    from syncaudit.changes.apply import journal_for

    journal = journal_for(cfg)
    try:
        return pd.DataFrame(journal.ops(run_id))
    finally:
        journal.close()
