"""Benchmark `sandbox generate`: wall time, people/s, peak memory and output size.

    .venv/bin/python bench/bench_generator.py [--size N] [--seed S] [--keep DIR]

The default size is the issue's target (1,000,000 people per system: <= 2 min, <= 2 GB peak RSS).
A baseline run at a tenth of the size, in the same process, gives the scaling ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from crmsandbox.generator import generate, read_summary  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(size: int, seed: int, out: Path) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    generate(out, size, seed)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    truth = read_summary(out / "truth.json")  # not the findings: parsing them would be this process's peak
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return {
        "size": size,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "people_per_s": round(size / wall),
        "bytes": sum(p.stat().st_size for p in files),
        "counts": truth["counts"],
        "findings": sum(truth["summary"].values()),
    }


def main() -> int:
    print("sandbox cost model: n/a (no API calls: this runs offline on generated data or snapshots)")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", metavar="DIR", help="write the full-size output here and keep it")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    try:
        print(f"load before: {os.getloadavg()}  cpus: {os.cpu_count()}")
        base = run(max(50, args.size // 10), args.seed, tmp / "baseline")
        shutil.rmtree(tmp / "baseline")
        print(f"baseline size {base['size']:,}: {base['wall_s']} s wall, {base['cpu_s']} s CPU")
        out = Path(args.keep) if args.keep else tmp / "full"
        full = run(args.size, args.seed, out)
        print(
            f"size {full['size']:,} people per system: {full['wall_s']} s wall, {full['cpu_s']} s CPU "
            f"({full['people_per_s']:,} people/s wall; the machine is shared, CPU time is the load-independent figure)"
        )
        print(
            f"peak RSS {peak_rss_mb():,.0f} MB; output {full['bytes'] / 1e6:,.0f} MB; planted defects {full['findings']:,}"
        )
        print(f"rows: {full['counts']}")
        ratio = (full["cpu_s"] / full["size"]) / (base["cpu_s"] / base["size"])
        print(f"CPU time per person vs baseline (1 = linear): {ratio:.2f}")
        print(
            f"targets: <= 120 s wall -> {'OK' if full['wall_s'] <= 120 else 'MISSED'} (CPU {full['cpu_s']} s); "
            f"<= 2048 MB -> {'OK' if peak_rss_mb() <= 2048 else 'MISSED'}"
        )
        print(f"load after: {os.getloadavg()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
