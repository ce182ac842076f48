"""The demo end to end: sandbox, full pull, every notebook by papermill, HTML export, index.

    .venv/bin/python bench/bench_report.py [--size N]

Prints the wall time against the 5-minute target, seconds per notebook, the size of the report
folder, peak memory (this process and the kernels) and the load average, so contention on the
shared machine can be judged.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from syncaudit.report.demo import run_demo  # noqa: E402

TARGET_S = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=20_000, help="people per system (default 20000, the issue's target)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    load_before = os.getloadavg()
    out = Path(tempfile.mkdtemp(prefix="bench-report-")) / "report"
    started = time.monotonic()
    result = run_demo(size=args.size, seed=args.seed, out=out)
    wall = time.monotonic() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    print(f"\n== syncaudit demo, {args.size:,} people a side")
    print(f"wall time            {wall:8.1f} s   (target {TARGET_S} s: {'met' if wall <= TARGET_S else 'MISSED'})")
    for r in result.runs:
        print(f"  {r.name:<22} {r.duration_s:8.1f} s  {r.status}")
    print(f"findings             {result.metrics['findings']['total']}")
    print(f"api calls            {result.metrics['api_calls']}")
    print(f"report folder        {size_mb:8.1f} MB  ({out})")
    print(f"peak RSS             {own:8.0f} MB this process, {kids:.0f} MB largest kernel")
    print(
        f"load average         before {tuple(round(x, 1) for x in load_before)}, after {tuple(round(x, 1) for x in os.getloadavg())}"
    )
    return 0 if not result.failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
