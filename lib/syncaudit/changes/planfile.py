"""Building a plan file without holding the plan in memory.

Policies yield operations; :class:`PlanSpool` appends them in Arrow batches to a DuckDB table (which spills to
disk), resolves the overlaps between policies there (set operations, not Python loops), and streams the result
out in apply order: ``plan.jsonl`` is written line by line while its hash is computed, and the summary is
counted on the way. Order of the lines:

    kind (update, upsert, delete, merge, review)
    -> target group (system, object, kind) in order of first appearance   # a group's writes are contiguous,
    -> position (policy order, then system, object, key, after)           # so apply streams them in batches

Overlaps, as before: an update of a field of a record that an earlier policy (or an earlier update of the same
policy) already writes is dropped; the remaining updates of one record are coalesced into one operation at the
first one's place; updates of a lead that a merge removes are dropped (the merge supersedes them).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from syncaudit.changes.encoded import EncodedOps
from syncaudit.changes.model import IRREVERSIBLE, Operation, canonical, irreversible_item

BATCH = 10_000
KIND_ORDER = {"update": 0, "upsert": 1, "delete": 2, "merge": 3, "review": 4}
# A spool row: the sort and overlap keys of one operation and its canonical text cut in two around where the
# plan's "seq" goes (keys sorted: ... "policy", "seq", "system", "version"), so that a line is head,seq,tail.
ROW_COLUMNS = ("kind", "system", "object", "key", "op", "policy", "fields", "after_sort", "head", "tail")
_COLUMNS = ("pidx", *ROW_COLUMNS)
_SEQ_AT = ',"system":'


def split_body(body: str) -> tuple[str, str]:
    """A canonical operation text cut before its top-level "system" key (the last key but "version", whose
    value is a scalar, so the last occurrence is the top-level one)."""
    i = body.rindex(_SEQ_AT)
    return body[:i], body[i + 1 :]


class PlanSpool:
    """Operations of a plan being built, kept in DuckDB until they are written out."""

    def __init__(self, folder: Path, memory_limit: str = "1GB") -> None:
        # Its own database file with a memory cap: DuckDB keeps the spool on disk beyond it, so the plan's size
        # does not set the process's memory (the snapshot's connection is left alone). At 192MB the resolve of
        # 5.8 million operations (ten million people a side) failed to pin a block: some operators need more.
        import duckdb

        self.path = folder / "spool.duckdb"
        self.con = duckdb.connect(str(self.path))
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute(f"SET temp_directory = '{folder / 'spill'}'")
        self.con.execute("SET threads = 2")
        self.n = 0
        self.con.execute(
            "CREATE OR REPLACE TABLE _plan_spool (pidx INTEGER, kind INTEGER, system VARCHAR, object VARCHAR,"
            " key VARCHAR, op VARCHAR, policy VARCHAR, fields VARCHAR[], after_sort VARCHAR, head VARCHAR, tail VARCHAR)"
        )

    def add(self, pidx: int, ops: Iterable[Operation | EncodedOps]) -> None:
        """Append one policy's operations (any order: the spool sorts them): Operations, and operations a
        query encoded (:class:`syncaudit.changes.encoded.EncodedOps`), which are copied over in Arrow batches."""
        batch: list[Operation] = []
        for op in ops:
            if isinstance(op, EncodedOps):
                self._copy(pidx, op)
                continue
            batch.append(op)
            if len(batch) >= BATCH:
                self._flush(pidx, batch)
                batch = []
        if batch:
            self._flush(pidx, batch)

    def _insert(self, pidx: int, data: Any) -> None:
        self.con.register("_plan_batch", data)
        try:
            self.con.execute(
                f"INSERT INTO _plan_spool SELECT {pidx} AS pidx, {', '.join(ROW_COLUMNS)} FROM _plan_batch"
            )
        finally:
            self.con.unregister("_plan_batch")

    def _copy(self, pidx: int, enc: EncodedOps) -> None:
        before = self.con.execute("SELECT count(*) FROM _plan_spool").fetchall()[0][0]
        reader = enc.con.sql(enc.sql, params=list(enc.params) or None).to_arrow_reader(BATCH)
        self._insert(pidx, reader)
        self.n += self.con.execute("SELECT count(*) FROM _plan_spool").fetchall()[0][0] - before

    def _flush(self, pidx: int, ops: list[Operation]) -> None:
        import pyarrow as pa

        cols: dict[str, list[Any]] = {c: [] for c in ROW_COLUMNS}
        for o in ops:
            cols["kind"].append(KIND_ORDER[o.op])
            cols["system"].append(o.system)
            cols["object"].append(o.object)
            cols["key"].append(None if o.key is None else str(o.key))
            cols["op"].append(o.op)
            cols["policy"].append(o.policy)
            cols["fields"].append(sorted(o.after) if o.op == "update" else [])
            # The per-policy order of the in-memory planner: (kind, system, object, key, after as JSON).
            cols["after_sort"].append(json.dumps(o.after, default=str))
            head, tail = split_body(canonical(o.to_dict()))
            cols["head"].append(head)
            cols["tail"].append(tail)
        table = pa.table(
            {
                **{c: cols[c] for c in ROW_COLUMNS if c != "fields"},
                "fields": pa.array(cols["fields"], type=pa.list_(pa.string())),
            }
        )
        self._insert(pidx, table)
        self.n += len(ops)

    def resolve(self) -> int:
        """Drop overlapping and superseded updates; returns how many overlaps were dropped."""
        c = self.con
        # Positions come from a sort into a table of row ids (the n-th row stored is the n-th in order; a sort
        # spills to disk) joined back to the bodies: a window over the whole spool holds it in memory and ran
        # out of the spool's memory cap at half a million operations.
        c.execute(
            "CREATE OR REPLACE TABLE _plan_pos AS SELECT rowid AS rid FROM _plan_spool "
            "ORDER BY pidx, kind, system, object, key, after_sort"
        )
        c.execute(
            "CREATE OR REPLACE TABLE _plan_ops AS SELECT s.*, p.rowid + 1 AS pos FROM _plan_spool s "
            "JOIN _plan_pos p ON s.rowid = p.rid"
        )
        c.execute("DROP TABLE _plan_pos")
        c.execute("DROP TABLE _plan_spool")
        # The first update of a (record, field) wins it; any update that loses one of its fields is dropped.
        c.execute(
            "CREATE OR REPLACE TABLE _plan_lost AS "
            "WITH f AS (SELECT pos, system, object, key, unnest(fields) AS field FROM _plan_ops WHERE op = 'update'),"
            " w AS (SELECT system, object, key, field, min(pos) AS win FROM f GROUP BY ALL) "
            "SELECT DISTINCT f.pos FROM f JOIN w USING (system, object, key, field) WHERE f.pos <> w.win"
        )
        dropped = c.execute("SELECT count(*) FROM _plan_lost").fetchone()[0]
        c.execute(
            "DELETE FROM _plan_ops o WHERE pos IN (SELECT pos FROM _plan_lost) OR (op = 'update' AND EXISTS ("
            "SELECT 1 FROM _plan_ops m WHERE m.op = 'merge' AND m.system = o.system AND m.object = o.object "
            "AND m.key = o.key))"
        )
        c.execute("DROP TABLE _plan_lost")
        return int(dropped)

    def _final(self) -> Any:
        """A reader of the resolved rows in plan order (head, tail, anchor, n: the size of the anchor's group,
        system, object, op, policy), in Arrow batches."""
        c = self.con
        # Plain tables, joins and one ORDER BY: operators DuckDB can spill to disk under its memory cap.
        c.execute(
            "CREATE OR REPLACE TABLE _plan_anchor AS SELECT system, object, key, min(pos) AS anchor, count(*) AS n "
            "FROM _plan_ops WHERE op = 'update' GROUP BY ALL"
        )
        c.execute(
            "CREATE OR REPLACE TABLE _plan_final AS SELECT o.kind, o.system, o.object, o.op, o.policy, o.pos, o.head, "
            "o.tail, "
            "coalesce(a.anchor, o.pos) AS anchor, coalesce(a.n, 1) AS n FROM _plan_ops o LEFT JOIN _plan_anchor a "
            "ON o.op = 'update' AND o.system = a.system AND o.object = a.object AND o.key = a.key"
        )
        c.execute("DROP TABLE _plan_ops")
        c.execute(
            "CREATE OR REPLACE TABLE _plan_groups AS SELECT kind, system, object, op, min(anchor) AS first "
            "FROM _plan_final GROUP BY ALL"
        )
        return c.sql(
            "SELECT f.head, f.tail, f.anchor, f.n, f.system, f.object, f.op, f.policy FROM _plan_final f "
            "JOIN _plan_groups g USING (kind, system, object, op) ORDER BY f.kind, g.first, f.anchor, f.pos"
        ).to_arrow_reader(BATCH)

    def ordered(self) -> Iterator[list[Operation]]:
        """The resolved operations in plan order, one record's updates coalesced, in batches (as Operations:
        :meth:`write_to` writes the plan file without making them)."""
        pending: Operation | None = None
        pending_anchor = None
        for b in self._final():
            out: list[Operation] = []
            cols = b.to_pydict()
            for head, tail, anchor in zip(cols["head"], cols["tail"], cols["anchor"], strict=True):
                op = Operation.from_dict(json.loads(head + "," + tail))
                if pending is not None and anchor == pending_anchor:
                    pending = coalesce_pair(pending, op)
                    continue
                if pending is not None:
                    out.append(pending)
                pending, pending_anchor = op, anchor
            if out:
                yield out
        if pending is not None:
            yield [pending]

    def write_to(self, writer: PlanFileWriter) -> None:
        """Write the resolved operations to ``writer`` in plan order, without making Operations: a line is the
        stored text with its seq put in (string operations on whole Arrow columns). Only the updates of one
        record that are coalesced into one operation are decoded and merged in Python."""
        group: list[tuple[str, str, str]] = []  # (head, tail, policy) of a coalesced group; may span batches
        anchor = None
        for b in self._final():
            multi = pc_indices(b.column("n"))
            if not multi and not group:
                writer.write_parts(*(b.column(c) for c in ("head", "tail", "system", "object", "op", "policy")))
                continue
            cols = b.select(["head", "tail", "system", "object", "op", "policy", "anchor"]).to_pydict()
            out: dict[str, list[Any]] = {c: [] for c in ("head", "tail", "system", "object", "op", "policy")}
            start, end = 0, len(cols["head"])
            for i in [*multi, end]:
                if start < i:  # single operations: a group before them is complete
                    if group:
                        _append_group(out, group)
                        group = []
                    for c in out:
                        out[c].extend(cols[c][start:i])
                if i == end:
                    break  # a group still open may go on in the next batch
                if group and cols["anchor"][i] != anchor:
                    _append_group(out, group)
                    group = []
                group.append((cols["head"][i], cols["tail"][i], cols["policy"][i]))
                anchor, start = cols["anchor"][i], i + 1
            writer.write_parts(*(out[c] for c in ("head", "tail", "system", "object", "op", "policy")))
        if group:
            out = {c: [] for c in ("head", "tail", "system", "object", "op", "policy")}
            _append_group(out, group)
            writer.write_parts(*(out[c] for c in ("head", "tail", "system", "object", "op", "policy")))

    def close(self) -> None:
        import shutil

        self.con.close()
        self.path.unlink(missing_ok=True)
        shutil.rmtree(self.path.parent / "spill", ignore_errors=True)


def pc_indices(sizes: Any) -> list[int]:
    """Positions of the rows of a batch that belong to a group of several updates of one record."""
    import pyarrow.compute as pc

    return pc.indices_nonzero(pc.not_equal(sizes, 1)).to_pylist()


def _append_group(out: dict[str, list[Any]], group: list[tuple[str, str, str]]) -> None:
    """One record's updates, coalesced into one operation (in plan order), appended to ``out``."""
    op = Operation.from_dict(json.loads(group[0][0] + "," + group[0][1]))
    for head, tail, _ in group[1:]:
        op = coalesce_pair(op, Operation.from_dict(json.loads(head + "," + tail)))
    head, tail = split_body(canonical(op.to_dict()))
    for c, v in (("head", head), ("tail", tail), ("system", op.system), ("object", op.object), ("op", op.op)):
        out[c].append(v)
    out["policy"].append(op.policy)


def coalesce_pair(base: Operation, op: Operation) -> Operation:
    """Two updates of one record as one (their fields are disjoint once overlaps are dropped)."""
    from dataclasses import replace

    extra = [f for f in (op.finding_id, *op.also_resolves) if f and f != base.finding_id]
    return replace(
        base,
        after={**base.after, **op.after},
        before={**base.before, **op.before},
        policy=base.policy if op.policy in base.policy.split("+") else f"{base.policy}+{op.policy}",
        also_resolves=[*base.also_resolves, *(f for f in extra if f not in base.also_resolves)],
        note="; ".join(n for n in (base.note, op.note) if n),
    )


class PlanFileWriter:
    """Writes ``plan.jsonl`` line by line and hashes it on the way; counts the summary."""

    def __init__(self, fh: IO[str], header: dict[str, Any], samples: int = 5) -> None:
        self.fh = fh
        self.h = hashlib.sha256(canonical(header).encode())
        self.seq = 0
        self.writes = 0
        self.reviews = 0
        self.by_target: Counter[str] = Counter()
        self.by_policy: Counter[str] = Counter()
        self.samples: dict[str, list[dict[str, Any]]] = {}
        self.n_samples = samples
        self.irreversible: list[dict[str, Any]] = []

    def write(self, ops: Iterable[Operation]) -> None:
        lines = []
        for op in ops:
            d = op.to_dict()
            lines.append(canonical({"seq": self.seq, **d}) + "\n")
            if op.op in IRREVERSIBLE:
                self.irreversible.append(irreversible_item(self.seq, op))
            self.seq += 1
            self.by_target[f"{op.system}.{op.object}.{op.op}"] += 1
            self.by_policy[op.policy] += 1
            if op.op == "review":
                self.reviews += 1
            elif op.op in KIND_ORDER:
                self.writes += 1
            bucket = self.samples.setdefault(op.policy, [])
            if len(bucket) < self.n_samples:
                bucket.append(d)
        text = "".join(lines)
        self.h.update(text.encode())
        self.fh.write(text)

    def write_parts(self, heads: Any, tails: Any, systems: Any, objects: Any, ops: Any, policies: Any) -> None:
        """Operations given as columns (Arrow arrays or lists): the canonical text of each cut before its
        "system" key (head, tail) and what the summary counts. Lines, hash and counts are made column-wise."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(heads)
        if not n:
            return
        seqs = pc.cast(pa.array(range(self.seq, self.seq + n), type=pa.int64()), pa.string())
        lines = pc.binary_join_element_wise(heads, ',"seq":', seqs, ",", tails, "")
        text = "\n".join(lines.to_pylist()) + "\n"
        self.h.update(text.encode())
        self.fh.write(text)
        table = pa.table({"s": systems, "o": objects, "op": ops, "p": policies})
        for row in table.group_by(["s", "o", "op"]).aggregate([([], "count_all")]).to_pylist():
            self.by_target[f"{row['s']}.{row['o']}.{row['op']}"] += row["count_all"]
            if row["op"] == "review":
                self.reviews += row["count_all"]
            elif row["op"] in KIND_ORDER:
                self.writes += row["count_all"]
        for row in table.group_by(["p"]).aggregate([([], "count_all")]).to_pylist():
            self.by_policy[row["p"]] += row["count_all"]
        pols = table.column("p").to_pylist()
        want = {p for p in set(pols) if len(self.samples.get(p, [])) < self.n_samples}
        for p in sorted(want, key=pols.index):
            bucket = self.samples.setdefault(p, [])
            i = -1
            while len(bucket) < self.n_samples:
                try:
                    i = pols.index(p, i + 1)
                except ValueError:
                    break
                bucket.append(_decode(heads, tails, i))
        merges = pc.indices_nonzero(pc.is_in(table.column("op"), value_set=pa.array(sorted(IRREVERSIBLE))))
        for i in merges.to_pylist():
            op = Operation.from_dict(_decode(heads, tails, i))
            self.irreversible.append(irreversible_item(self.seq + i, op))
        self.seq += n

    @property
    def hash(self) -> str:
        return self.h.hexdigest()[:16]

    def summary(self, header: dict[str, Any]) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "snapshot_id": header.get("snapshot_id"),
            "operations": self.seq,
            "writes": self.writes,
            "reviews": self.reviews,
            "by_target": dict(sorted(self.by_target.items())),
            "by_policy": dict(sorted(self.by_policy.items())),
            "samples": self.samples,
            # Every operation that cannot be undone (Intercom merges), listed in full for review before apply.
            "irreversible": self.irreversible,
        }


def _decode(heads: Any, tails: Any, i: int) -> dict[str, Any]:
    head, tail = heads[i], tails[i]
    head, tail = (head.as_py(), tail.as_py()) if hasattr(head, "as_py") else (head, tail)
    return json.loads(head + "," + tail)


def file_hash(header: dict[str, Any], ops_file: Path) -> str:
    """What a reader recomputes: sha256 over the canonical header and the plan.jsonl text, streamed."""
    h = hashlib.sha256(canonical(header).encode())
    with open(ops_file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def iter_file(ops_file: Path, batch: int = BATCH) -> Iterator[list[tuple[int, Operation]]]:
    """The operations of a plan.jsonl as (seq, operation), in batches."""
    out: list[tuple[int, Operation]] = []
    with open(ops_file, encoding="utf-8") as fh:
        for seq, line in enumerate(fh):
            out.append((seq, Operation.from_dict(json.loads(line))))
            if len(out) >= batch:
                yield out
                out = []
    if out:
        yield out
