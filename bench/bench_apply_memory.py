"""Memory of `syncaudit apply` and `syncaudit verify` as the plan grows, with an idle writer.

    .venv/bin/python bench/bench_apply_memory.py [--sizes 0,25000,100000,400000]

Each size runs in a child process of its own: a stored plan of N Salesforce Contact updates is written (streamed,
never held whole), applied with --execute through an in-process writer that answers every call at once (no
network, no emulator: what is left is the engine, the plan file and the SQLite journal), then verified. Printed
per size: wall and CPU seconds of apply and verify, the peak RSS after each, and the journal's size. The apply
and verify stream the plan and read the journal by pages, so the peak should stay flat as N grows; size 0 is
the imports' share. The machine is shared: the load average is printed with every size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))


class IdleWriter:
    """A Salesforce writer that answers at once and keeps nothing per record (its memory is not the engine's):
    while applying, nothing changed since the snapshot; when verifying, every record holds what was sent."""

    system = "salesforce"
    chunk_size = None

    def __init__(self) -> None:
        self.calls = 0
        self.verifying = False

    def current(self, obj: str, ops: list[Any], since: Any) -> dict[str, dict[str, Any] | None]:
        self.calls += 1
        if not self.verifying:
            return {}  # nobody else writes here: no record changed since the snapshot
        return {o.key: {**o.before, **o.after, "_version": None} for o in ops}

    def write(self, obj: str, op: str, batch: list[tuple[int, Any]], on_job: Any) -> list[Any]:
        from syncaudit.writes import WriteResult

        self.calls += 1
        return [WriteResult(seq, "updated") for seq, _ in batch]

    def find_external(self, obj: str, field: str, values: list[str]) -> dict[str, tuple[str, Any]]:
        return {}

    def finish_job(self, obj: str, job_id: str, batch: list[tuple[int, Any]]) -> None:
        return None


def write_plan(folder: Path, n: int) -> tuple[Path, str]:
    """A stored plan of n updates, written batch by batch."""
    from syncaudit.changes.model import Operation, publish
    from syncaudit.changes.planfile import PlanFileWriter

    header = {
        "kind": "fixup",
        "config": "bench",
        "snapshot_id": "bench",
        "since": {"salesforce": "2026-11-26T12:00:00Z"},
    }
    tmp = Path(tempfile.mkdtemp(prefix=".plan.", dir=folder))
    with open(tmp / "plan.jsonl", "w", encoding="utf-8") as fh:
        w = PlanFileWriter(fh, header)
        for start in range(0, n, 10_000):
            w.write(
                Operation(
                    "salesforce",
                    "Contact",
                    f"003{i:012d}AAA",
                    "update",
                    {"Email": f"b{i}@example.com"},
                    {"Email": f"B{i}@Example.com"},
                    None,
                    f"f{i}",
                    "normalize_values",
                )  # fmt: skip
                for i in range(start, min(n, start + 10_000))
            )
    return publish(tmp, folder, header, w.hash, w.summary(header)), w.hash


def child(n: int) -> dict[str, Any]:
    from syncaudit.changes.apply import apply_plan
    from syncaudit.changes.verify import verify_run
    from syncaudit.config import load_config

    work = Path(tempfile.mkdtemp(prefix="bench-apply-"))
    cfg = load_config(ROOT / "config" / "demo.yaml")
    cfg = cfg.model_copy(
        update={"data_dir": str(work / "data"), "apply": cfg.apply.model_copy(update={"max_changes": 10**9})}
    )
    (work / "plans").mkdir()
    path, plan_hash = write_plan(work / "plans", n)
    writer = IdleWriter()
    out: dict[str, Any] = {"operations": n}

    def usage() -> tuple[float, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        return me.ru_utime + me.ru_stime, me.ru_maxrss / 1e3  # CPU s, peak MB

    out["peak_before_mb"] = round(usage()[1])
    t, cpu = time.perf_counter(), usage()[0]
    res = apply_plan(cfg, path, plan_hash, dry_run=False, writers={"salesforce": writer})
    out["apply"] = {"wall_s": round(time.perf_counter() - t, 1), "cpu_s": round(usage()[0] - cpu, 1)}
    out["apply"]["peak_mb"] = round(usage()[1])
    assert res.counts.get("updated", 0) == n, res.counts
    writer.verifying = True
    t, cpu = time.perf_counter(), usage()[0]
    report = verify_run(cfg, res.run_id, writers={"salesforce": writer})
    out["verify"] = {"wall_s": round(time.perf_counter() - t, 1), "cpu_s": round(usage()[0] - cpu, 1)}
    out["verify"]["peak_mb"] = round(usage()[1])
    assert report.ok and report.checked == n, (report.checked, report.mismatches[:3])
    out["journal_mb"] = round((work / "data" / "journal.sqlite").stat().st_size / 1e6, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="0,25000,100000,400000", help="operations per plan, comma-separated")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print("RESULT " + json.dumps(child(args.child)))
        return 0
    print(f"cpus={os.cpu_count()} load={os.getloadavg()}")
    print(f"{'operations':>11} {'apply s':>8} {'CPU s':>6} {'peak MB':>8} {'verify s':>9} {'CPU s':>6} {'peak MB':>8} "
          f"{'journal MB':>10} {'load':>5}")  # fmt: skip
    for n in [int(s) for s in args.sizes.split(",") if s]:
        load = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            print(f"{n:>11,} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:200]}")
            continue
        r = json.loads(line.removeprefix("RESULT "))
        a, v = r["apply"], r["verify"]
        print(
            f"{n:>11,} {a['wall_s']:>8} {a['cpu_s']:>6} {a['peak_mb']:>8} {v['wall_s']:>9} {v['cpu_s']:>6} "
            f"{v['peak_mb']:>8} {r['journal_mb']:>10} {load:>5.1f}"
        )
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
