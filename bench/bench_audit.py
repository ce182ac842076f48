"""All audit analyses on a generated org pair: wall time per step, records/s and peak memory.

    .venv/bin/python bench/bench_audit.py [--size 1000000] [--seed 11] [--work DIR]

The target (issue 7): 1,000,000 Salesforce people + 1,000,000 Intercom contacts + ~100,000
accounts/companies in at most 5 minutes and 8 GB peak. The load folder is generated once (reused
when present in --work) and converted to the snapshot layout; only the audit itself is timed
against the target. Peak memory is the process's maximum resident set (DuckDB runs in-process).
A baseline run at 1/10 of the size in the same process gives the scaling ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from crmsandbox.generator import generate  # noqa: E402
from syncaudit.audit.run import run_audit  # noqa: E402
from syncaudit.config import load_config  # noqa: E402
from syncaudit.loadfolder import convert_load_folder  # noqa: E402


class PeakRSS:
    """Samples the resident set of this process every 0.2 s (ru_maxrss is per process lifetime)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.2)

    def __enter__(self) -> PeakRSS:
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def prepare(size: int, seed: int, work: Path) -> Path:
    load = work / f"load-{size}-{seed}"
    if not (load / "truth.json").is_file():
        t0 = time.perf_counter()
        generate(load, size, seed)
        print(f"generated {size} people per system in {time.perf_counter() - t0:.1f} s")
    snap = work / f"snap-{size}-{seed}"
    if not (snap / "manifest.json").is_file():
        t0 = time.perf_counter()
        convert_load_folder(load, snap)
        print(f"converted the load folder to Parquet in {time.perf_counter() - t0:.1f} s")
    return snap


def run(cfg, snap: Path, out: Path) -> dict:  # noqa: ANN001
    proc = psutil.Process()
    with PeakRSS() as mem:
        cpu0 = proc.cpu_times()
        t0 = time.perf_counter()
        res = run_audit(cfg, str(snap), out)
        wall = time.perf_counter() - t0
        cpu1 = proc.cpu_times()
    # CPU seconds of this process (DuckDB's threads included): on a shared machine, wall time also
    # counts the time other processes held the cores; cpu_s / cores is the uncontended lower bound.
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    recs = res.metrics["records"]
    n = sum(recs.values())
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "cpu_share": round(cpu / wall / (os.cpu_count() or 1), 2),
        "records": recs,
        "records_per_s": round(n / wall),
        "peak_rss_gb": round(mem.peak / 1e9, 2),
        "steps_s": res.metrics["durations_s"],
        "findings": res.metrics["findings"]["by_kind"],
    }


def main() -> int:
    print("sandbox cost model: n/a (no API calls: this runs offline on generated data or snapshots)")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000, help="people per system (default 1000000)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--work", type=Path, default=None, help="folder for the generated data (reused)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the 1/10-size baseline run")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="syncaudit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(work / "data")})
    results = {}
    sizes = [args.size] if args.no_baseline else [max(args.size // 10, 1000), args.size]
    for size in sizes:
        snap = prepare(size, args.seed, work)
        print(f"load before audit of {size}: {os.getloadavg()}")
        results[size] = r = run(cfg, snap, work / f"out-{size}")
        print(json.dumps({"size": size, **r, "loadavg_after": os.getloadavg()}, indent=1))
    big = results[args.size]
    print(
        f"\nsize {args.size}: {big['wall_s']} s wall, {big['cpu_s']} s CPU on {os.cpu_count()} cores "
        f"(share of the machine we got: {big['cpu_share']}) (target 300 s), peak RSS {big['peak_rss_gb']} GB (target 8 GB), "
        f"{big['records_per_s']} records/s; ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB"
    )
    if len(results) == 2:
        small = results[sizes[0]]
        print(f"scaling: x{args.size / sizes[0]:.0f} records -> x{big['wall_s'] / small['wall_s']:.1f} time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
