"""The change plan: operations, their canonical form, the plan hash and the files a plan is stored in.

A plan lives in ``<data_dir>/plans/<hash>/`` (written and read in batches, see planfile.py):

    plan.json      the header: snapshot id, the per-system "since" bounds used for concurrency checks, policies
    plan.jsonl     one operation a line, in apply order
    summary.json   counts and samples for review (notebook 60, `syncaudit plan`)

The hash is the first 16 hex of sha256 over the canonical header and the text of plan.jsonl (canonical
operation lines), so the same snapshot, findings and policies always give the same hash, and any edit to a
stored plan is detected (the reader streams the file through the same digest).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from syncaudit.errors import ConfigError, GuardError, SyncAuditError

OPS = ("update", "upsert", "delete", "merge", "review")
WRITE_OPS = frozenset({"update", "upsert", "delete", "merge"})
VERSION_FIELD = {"salesforce": "SystemModstamp", "intercom": "updated_at"}
IRREVERSIBLE = frozenset({"merge"})  # Intercom cannot un-merge contacts; rollback cannot restore them


def irreversible_item(seq: int, op: Operation) -> dict[str, Any]:
    """One irreversible operation as the summary and the dry run list it."""
    return {
        "seq": seq,
        "system": op.system,
        "object": op.object,
        "key": op.key,
        "op": op.op,
        "into": op.after.get("into"),
        "finding_id": op.finding_id,
    }


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
        # By hand, not dataclasses.asdict (a deep copy per call): this runs once per operation per plan write.
        d = {f: getattr(self, f) for f in _FIELDS}
        for f in ("after", "before", "match"):
            d[f] = dict(d[f])
        d["also_resolves"] = list(self.also_resolves)
        d["idempotency_key"] = self.idempotency_key
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Operation:
        d = dict(d)
        d.pop("idempotency_key", None)
        d.pop("seq", None)
        return cls(**d)


_FIELDS = tuple(f.name for f in fields(Operation))


class Plan:
    """A change plan: a header and its operations, identified by their content hash.

    Either in memory (``operations`` given: rollback plans, tests, benchmarks) or backed by its stored folder
    (``load_plan``, ``build_change_plan``): then the operations are read from plan.jsonl in batches
    (:meth:`iter_batches`) and only loaded whole when ``operations`` is asked for (small plans, notebooks).
    """

    def __init__(
        self,
        header: dict[str, Any],
        operations: list[Operation] | None = None,
        path: Path | None = None,
        *,
        plan_hash: str | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        self.header = header
        self._ops = operations
        self.path = path
        self._hash = plan_hash
        self._summary = summary
        if operations is None and path is None:
            raise ValueError("a plan needs its operations or its folder")

    @property
    def in_memory(self) -> bool:
        return self._ops is not None

    @property
    def operations(self) -> list[Operation]:
        if self._ops is None:
            self._ops = [op for batch in self.iter_batches() for _, op in batch]
        return self._ops

    def iter_batches(self, size: int = 10_000) -> Iterator[list[tuple[int, Operation]]]:
        """(seq, operation) in plan order, ``size`` at a time, without loading the plan."""
        if self._ops is not None:
            for i in range(0, len(self._ops), size):
                yield list(enumerate(self._ops[i : i + size], start=i))
            return
        from syncaudit.changes.planfile import iter_file

        assert self.path is not None
        yield from iter_file(self.path / "plan.jsonl", size)

    def iter_writes(self, size: int = 10_000) -> Iterator[tuple[int, Operation]]:
        for batch in self.iter_batches(size):
            for seq, op in batch:
                if op.op in WRITE_OPS:
                    yield seq, op

    def ops_at(self, seqs: Iterable[int]) -> dict[int, Operation]:
        """The operations with these sequence numbers (one pass over the file)."""
        want = set(seqs)
        if self._ops is not None:
            return {s: self._ops[s] for s in want if 0 <= s < len(self._ops)}
        out: dict[int, Operation] = {}
        for batch in self.iter_batches():
            out.update((s, op) for s, op in batch if s in want)
        return out

    @property
    def hash(self) -> str:
        if self._ops is None:
            assert self._hash is not None  # a stored plan's hash is checked when it is opened
            return self._hash
        # In memory: hashed as it would be written. Operations are frozen, so their identities (and the header)
        # key the cached digest: a plan of 100,000 operations is serialized once, not once per use of its hash.
        key = (canonical(self.header), hash(tuple(map(id, self._ops))))
        if self._hash is None or getattr(self, "_hash_key", None) != key:
            h = hashlib.sha256(key[0].encode())
            for seq, op in enumerate(self._ops):
                h.update((canonical({"seq": seq, **op.to_dict()}) + "\n").encode())
            self._hash, self._hash_key = h.hexdigest()[:16], key
        return self._hash

    def summary(self) -> dict[str, Any]:
        """Counts and samples (see :func:`summarize_plan`), plus where the plan is stored."""
        return {**summarize_plan(self), "path": str(self.path or "")}

    def write_counts(self) -> dict[str, int]:
        """Writes per "system.object.op", counted from the operations themselves (one streamed pass; the guards
        never trust summary.json, which is for people and not covered by the hash)."""
        out: Counter[str] = Counter()
        for batch in self.iter_batches():
            for _, op in batch:
                if op.op not in OPS:  # e.g. "create" from before creates became keyed upserts
                    raise GuardError(
                        f"the plan has a {op.op!r} operation, which this version of syncaudit does not apply",
                        hint="re-create the plan with `syncaudit plan` and review it again",
                    )
                if op.op in WRITE_OPS:
                    out[f"{op.system}.{op.object}.{op.op}"] += 1
        return dict(out)

    @property
    def writes(self) -> list[tuple[int, Operation]]:
        return list(self.iter_writes())

    def save(self, plans_dir: Path) -> Path:
        """Write the plan folder atomically (a temp folder renamed into place); returns the folder."""
        if not self.in_memory and self.path is not None and self.path.parent == plans_dir:
            return self.path
        from syncaudit.changes.planfile import PlanFileWriter

        plans_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".plan.", dir=plans_dir))
        with open(tmp / "plan.jsonl", "w", encoding="utf-8") as fh:
            w = PlanFileWriter(fh, self.header)
            for batch in self.iter_batches():
                w.write(op for _, op in batch)
        self._hash, self._summary = w.hash, w.summary(self.header)
        self.path = publish(tmp, plans_dir, self.header, w.hash, self._summary)
        return self.path


def publish(tmp: Path, plans_dir: Path, header: dict[str, Any] | None, plan_hash: str, summary: dict[str, Any]) -> Path:
    """Finish a plan folder written under ``tmp`` (plan.jsonl) and rename it to ``plans_dir/<hash>``. With
    ``header`` None, ``tmp`` already holds plan.json (a rollback plan writes its header streamed)."""
    import shutil

    target = plans_dir / plan_hash
    if (target / "plan.jsonl").exists():  # the same plan was saved before: same content by construction
        shutil.rmtree(tmp, ignore_errors=True)
        return target
    if header is not None:
        (tmp / "plan.json").write_text(canonical({**header, "hash": plan_hash}) + "\n", encoding="utf-8")
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    try:
        os.replace(tmp, target)
    except OSError:  # another process saved the same plan first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Open a stored plan (its folder or its plan.jsonl) and check its text against its recorded hash.

    The check streams the file; the operations are read only when used."""
    from syncaudit.changes.planfile import file_hash

    p = Path(path)
    folder = p.parent if p.name in {"plan.jsonl", "plan.json", "summary.json"} else p
    header_file, ops_file = folder / "plan.json", folder / "plan.jsonl"
    if not header_file.is_file() or not ops_file.is_file():
        raise ConfigError(
            f"no change plan at {folder}", hint="pass --plan with the folder that `syncaudit plan` printed"
        )
    try:
        header = json.loads(header_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SyncAuditError(
            f"the change plan at {folder} is damaged ({type(exc).__name__})",
            hint="re-create it with `syncaudit plan`",
        ) from None
    recorded = header.pop("hash", None)
    actual = file_hash(header, ops_file)
    if recorded != actual:
        raise GuardError(
            f"the change plan at {folder} was modified after it was written (hash {actual}, recorded {recorded})",
            hint="never edit a plan by hand; re-create it with `syncaudit plan` and review it again",
        )
    summary = None
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        if summary.get("hash") != actual:
            summary = None
    except (OSError, ValueError):
        summary = None
    plan = Plan(header, None, folder, plan_hash=actual, summary=summary)
    try:
        next(plan.iter_batches(1), None)  # a damaged first line is reported here, not mid-apply
    except (ValueError, TypeError) as exc:
        raise SyncAuditError(
            f"the change plan at {folder} is damaged ({type(exc).__name__})",
            hint="re-create it with `syncaudit plan`",
        ) from None
    return plan


def summarize_plan(plan: Plan, samples: int = 5) -> dict[str, Any]:
    """Counts by system/object/operation and by policy, plus a few sample operations of each policy."""
    if plan._summary is not None and not plan.in_memory and samples == 5:
        return dict(plan._summary)
    by_target: Counter[str] = Counter()
    by_policy: Counter[str] = Counter()
    sample: dict[str, list[dict[str, Any]]] = {}
    irreversible: list[dict[str, Any]] = []
    n = writes = reviews = 0
    for batch in plan.iter_batches():
        for seq, o in batch:
            if o.op in IRREVERSIBLE:
                irreversible.append(irreversible_item(seq, o))
            n += 1
            writes += o.op in WRITE_OPS
            reviews += o.op == "review"
            by_target[f"{o.system}.{o.object}.{o.op}"] += 1
            by_policy[o.policy] += 1
            bucket = sample.setdefault(o.policy, [])
            if len(bucket) < samples:
                bucket.append(o.to_dict())
    return {
        "hash": plan.hash,
        "snapshot_id": plan.header.get("snapshot_id"),
        "operations": n,
        "writes": writes,
        "reviews": reviews,
        "by_target": dict(sorted(by_target.items())),
        "by_policy": dict(sorted(by_policy.items())),
        "samples": sample,
        "irreversible": irreversible,
    }


def operations_frame(plan: Plan) -> Any:
    """The plan's operations as a pandas DataFrame (one row per operation), for review in a notebook."""
    import pandas as pd

    rows = []
    for i, o in (item for batch in plan.iter_batches() for item in batch):
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
