"""Benchmark: every suite over a synthetic snapshot of N rows per main object (target: 1,000,000 rows in <= 60 s).

    .venv/bin/python bench/bench_quality.py [--size N] [--keep DIR]

Prints seconds per suite, the total, rows/s, peak memory and the load average (the machine is shared).
The baseline is the same suites run one expectation at a time (GX without shared metrics) on the
largest table, extrapolated per expectation, run in the same process (skip it with --no-baseline).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT / "tests")]

import syncaudit.offline  # noqa: E402,F401  (analytics off before GX loads)
from quality_snapshot import write_snapshot  # noqa: E402
from syncaudit.config import load_config  # noqa: E402
from syncaudit.quality.cli import metadata  # noqa: E402
from syncaudit.quality.datasets import open_tables  # noqa: E402
from syncaudit.quality.generate import regenerate_all  # noqa: E402
from syncaudit.quality.results import build_findings, write_outputs  # noqa: E402
from syncaudit.quality.run import run_quality  # noqa: E402
from syncaudit.quality.suites import load_suites  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000, help="rows per main object (default 1,000,000)")
    ap.add_argument("--keep", metavar="DIR", help="work in this folder and keep it (default: a temp folder)")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_quality_"))
    print(f"size={args.size:,} rows per object, work={work}, load={os.getloadavg()}")
    t = time.perf_counter()
    write_snapshot(work / "data", args.size)
    print(f"snapshot written in {time.perf_counter() - t:.1f} s")
    cfg_text = (ROOT / "config" / "demo.yaml").read_text().replace("data_dir: data/demo", f"data_dir: {work / 'data'}")
    (work / "cfg.yaml").write_text(cfg_text)
    cfg = load_config(work / "cfg.yaml")
    tables = open_tables(cfg)
    regenerate_all(cfg, work / "expectations", *metadata(tables, cfg))
    # The committed hand-written expectations join the generated ones, as in a real run.
    suites, problems = load_suites(work / "expectations")
    t = time.perf_counter()
    run = run_quality(cfg, tables, suites, problems)
    run_s = time.perf_counter() - t
    t = time.perf_counter()
    write_outputs(run, cfg, work / "report")
    write_s = time.perf_counter() - t
    rows = sum(s.rows for s in run.suites)
    n_exp = sum(len(s.outcomes) for s in run.suites)
    for s in run.suites:
        print(f"  {s.name:18s} rows={s.rows:>9,} expectations={len(s.outcomes):>3} {s.seconds:7.2f} s")
    print(f"suites={len(run.suites)} expectations={n_exp} findings={len(build_findings(run, cfg))}")
    print(f"run: {run_s:.1f} s for {rows:,} rows ({rows / run_s:,.0f} rows/s); outputs written in {write_s:.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load={os.getloadavg()}")
    print(f"target <= 60 s at 1,000,000 rows per object: {'MET' if run_s <= 60 else 'NOT MET'} (size {args.size:,})")


if __name__ == "__main__":
    main()
