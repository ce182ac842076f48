"""Memory and time of `syncaudit rollback` planning as the run grows, streamed vs the whole-run planner.

    .venv/bin/python bench/bench_rollback.py [--sizes 0,25000,100000,400000] [--baseline-ref main]

Each size and each planner runs in a child process of its own. The child writes a stored plan of N operations
and the journal of a completed run of it (streamed, never held whole; no emulator: an in-process Salesforce
writer answers the reads at once and keeps nothing per record), then plans the rollback and prints wall and CPU
seconds and the peak RSS. The run: per 20 operations 17 Salesforce Contact updates, 2 Task upserts (created;
one in 20 of them matched an existing Task) and 1 Intercom merge. After the run, 1 Contact in 50 was edited by
someone else ("changed since the run") and 1 in 100 deleted; 1 Task in 50 was edited. The Contact updates are a
large set: they are read "changed since the run started" (the streamed planner spools that answer in DuckDB),
the Tasks by id. ``new`` is this checkout's planner; ``old`` is ``lib/syncaudit/changes/rollback.py`` of
``--baseline-ref`` (git), run against this checkout's library, so only the planner differs. The parent checks
that both give the same plan.jsonl and not-restorable list. The machine is shared: the load average is printed
with every run.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
STAMP = "2026-12-07T10:00:00.000+0000"


def contact(i: int) -> str:
    return f"003{i:012d}AAA"


def kind_of(i: int) -> str:
    r = i % 20
    return "merge" if r == 19 else "upsert" if r in (17, 18) else "update"


class BenchWriter:
    """Salesforce as the run left it, made up from the operations asked about (nothing kept per record):
    Contact i was edited since when i % 50 == 7, deleted when i % 100 == 13; Task j edited when j % 50 == 3."""

    system = "salesforce"
    chunk_size = None

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    @staticmethod
    def _record(key: str, after: dict[str, Any]) -> dict[str, Any] | None:
        i = int(key[3:15])
        if key.startswith("003") and i % 100 == 13:
            return None
        edited = (key.startswith("003") and i % 50 == 7) or (key.startswith("00T") and i % 50 == 3)
        rec = {f: (f"someone-{v}" if edited else v) for f, v in after.items()}
        return {"Id": key, "SystemModstamp": STAMP, **rec, "_version": STAMP}

    def current(self, obj: str, ops: list[Any], since: Any) -> dict[str, dict[str, Any] | None]:
        out: dict[str, dict[str, Any] | None] = {}
        for o in ops:
            rec = self._record(o.key, o.after)
            if rec is not None or since is None:
                out[o.key] = rec
        # As SalesforceWriter.current calls: one query of what changed (2,000 rows a page), or 200 ids a query.
        self.calls += 1 + len(out) // 2000 if since is not None and len(ops) > 200 else -(-len(ops) // 200)
        return out

    def changed_pages(self, obj: str, fields: list[str], since: Any) -> Iterator[list[dict[str, Any]]]:
        page: list[dict[str, Any]] = []
        for i in range(self.n):
            if kind_of(i) != "update":
                continue
            rec = self._record(contact(i), {"Email": f"b{i}@example.com"})
            if rec is not None:
                page.append(rec)
            if len(page) >= 2000:
                self.calls += 1
                yield page
                page = []
        if page:
            self.calls += 1
            yield page


def ops_of(n: int, kind: str) -> Iterator[Any]:
    from syncaudit.changes.model import Operation

    for i in range(n):
        if kind_of(i) != kind:
            continue
        if kind == "update":
            yield Operation("salesforce", "Contact", contact(i), "update", {"Email": f"b{i}@example.com"},
                            {"Email": f"B{i}@Example.com"}, STAMP, f"f{i}", "normalize_values")  # fmt: skip
        elif kind == "upsert":
            after = {"Intercom_Conversation_Id__c": str(i), "Subject": f"Intercom conversation {i}"}
            yield Operation("salesforce", "Task", str(i), "upsert", after, {}, None, f"c{i}", "log_conversations",
                            match={"Intercom_Conversation_Id__c": str(i)})  # fmt: skip
        else:
            yield Operation("intercom", "contact", f"lead{i}", "merge", {"into": f"user{i}"}, {}, 1, f"d{i}",
                            "merge_intercom_leads")  # fmt: skip


def write_run(cfg: Any, n: int) -> str:
    """A stored plan of n operations and the journal of its completed run; returns the run id."""
    from syncaudit.changes.apply import journal_for, plans_dir
    from syncaudit.changes.model import publish
    from syncaudit.changes.planfile import PlanFileWriter

    header = {"kind": "fixup", "config": "bench", "snapshot_id": "bench", "since": {"salesforce": STAMP}}
    folder = plans_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".plan.", dir=folder))
    with open(tmp / "plan.jsonl", "w", encoding="utf-8") as fh:
        w = PlanFileWriter(fh, header)
        for kind in ("update", "upsert", "merge"):
            batch: list[Any] = []
            for op in ops_of(n, kind):
                batch.append(op)
                if len(batch) >= 10_000:
                    w.write(batch)
                    batch = []
            w.write(batch)
    path = publish(tmp, folder, header, w.hash, w.summary(header))
    journal = journal_for(cfg)
    run_id = journal.start_run(w.hash, str(path))
    seq, rows = 0, []
    for kind in ("update", "upsert", "merge"):
        for op in ops_of(n, kind):
            if kind == "upsert":
                matched = int(op.key) % 400 == 17
                rows.append((seq, op, "updated" if matched else "created", None, None, f"00T{int(op.key):012d}AAA"))
            else:
                rows.append((seq, op, "updated" if kind == "update" else "merged", None, None, None))
            seq += 1
            if len(rows) >= 10_000:
                journal.outcomes(run_id, rows)
                rows = []
    journal.outcomes(run_id, rows)
    journal.finish_run(run_id, "complete")
    journal.close()
    return run_id


def planner(impl: str, ref: str) -> Any:
    if impl == "new":
        from syncaudit.changes.rollback import plan_rollback

        return plan_rollback
    source = subprocess.run(
        ["git", "show", f"{ref}:lib/syncaudit/changes/rollback.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    spec = importlib.util.spec_from_loader("baseline_rollback", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{ref}:rollback.py", "exec"), module.__dict__)  # noqa: S102 - the baseline's own source
    return module.plan_rollback


def child(n: int, impl: str, ref: str) -> dict[str, Any]:
    from syncaudit.changes.model import canonical
    from syncaudit.config import load_config

    plan_rollback = planner(impl, ref)

    work = Path(tempfile.mkdtemp(prefix="bench-rollback-"))
    cfg = load_config(ROOT / "config" / "demo.yaml")
    cfg = cfg.model_copy(update={"data_dir": str(work / "data")})
    run_id = write_run(cfg, n)

    def usage() -> tuple[float, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        return me.ru_utime + me.ru_stime, me.ru_maxrss / 1e3  # CPU s, peak MB

    out: dict[str, Any] = {"operations": n, "impl": impl, "peak_before_mb": round(usage()[1])}
    writer = BenchWriter(n)
    t, cpu = time.perf_counter(), usage()[0]
    plan = plan_rollback(cfg, run_id, writers={"salesforce": writer})
    out.update(wall_s=round(time.perf_counter() - t, 1), cpu_s=round(usage()[0] - cpu, 1), peak_mb=round(usage()[1]))
    nr = plan.header["not_restorable"]
    out.update(
        restores=plan.summary()["writes"],
        not_restorable=len(nr),
        calls=writer.calls,
        # The notes name the run, whose id holds the time it started: compared without it.
        plan_sha=hashlib.sha256((plan.path / "plan.jsonl").read_bytes().replace(run_id.encode(), b"RUN")).hexdigest()[
            :16
        ],
        not_restorable_sha=hashlib.sha256(canonical(nr).encode()).hexdigest()[:16],
    )
    shutil.rmtree(work, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="0,25000,100000,400000", help="operations per run, comma-separated")
    ap.add_argument("--impl", default="old,new", help="planners to run: old (the baseline ref's), new (this one)")
    ap.add_argument("--baseline-ref", default="main", help="git ref whose rollback.py is the `old` planner")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        n, impl = args.child.split(":")
        print("RESULT " + json.dumps(child(int(n), impl, args.baseline_ref)))
        return 0
    impls = args.impl.split(",")
    have = subprocess.run(["git", "rev-parse", "--verify", "-q", args.baseline_ref], cwd=ROOT, capture_output=True)
    if "old" in impls and have.returncode:
        print(f"no git ref {args.baseline_ref!r} here: the old planner is skipped (pass --baseline-ref)")
        impls.remove("old")
    print(f"cpus={os.cpu_count()} load={os.getloadavg()} baseline={args.baseline_ref}")
    print(f"{'operations':>11} {'planner':>7} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} {'restores':>9} "
          f"{'not rest.':>9} {'calls':>6} {'load':>5}")  # fmt: skip
    ok = True
    for n in [int(s) for s in args.sizes.split(",") if s]:
        shas = set()
        for impl in impls:
            load = os.getloadavg()[0]
            cmd = [sys.executable, __file__, "--child", f"{n}:{impl}", "--baseline-ref", args.baseline_ref]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                print(f"{n:>11,} {impl:>7} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:200]}")
                ok = False
                continue
            r = json.loads(line.removeprefix("RESULT "))
            shas.add((r["plan_sha"], r["not_restorable_sha"]))
            print(
                f"{n:>11,} {impl:>7} {r['wall_s']:>7} {r['cpu_s']:>6} {r['peak_mb']:>8} {r['restores']:>9,} "
                f"{r['not_restorable']:>9,} {r['calls']:>6} {load:>5.1f}"
            )
        if len(shas) > 1:
            print(f"{n:>11,} the planners' plans DIFFER: {sorted(shas)}")
            ok = False
    print(f"load after: {os.getloadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
