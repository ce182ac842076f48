"""The audit on local Spark against DuckDB: wall and CPU seconds, peak memory, and whether the findings agree.

For each size (``--sizes 20000,100000`` people a side) the org pair is generated once and converted to a snapshot;
then the audit runs in a child process per engine (``duckdb``, then ``spark`` on ``local[N]``), so each peak is
that run's alone. Peak memory is the resident set of the child's whole process tree, sampled every 0.2 s: for
Spark, the Python driver, the JVM (driver and executors in local mode) and the Python UDF workers. CPU seconds
count the tree too (load-independent; wall times grow with the machine's load, printed with every figure).

    .venv/bin/python bench/bench_spark.py --sizes 20000 --cores 2 --driver-memory 4g
    .venv/bin/python bench/bench_spark.py --sizes 300 --partitions 2 --driver-memory 1g \
        --conf spark.sql.codegen.wholeStage=false --conf spark.sql.adaptive.enabled=false   # the CI test's settings
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sandbox" / "src"))


def _tree_sample(pid: int, out: dict) -> None:
    """Peak RSS and CPU seconds of ``pid`` and its descendants, until it exits."""
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    cpu: dict[int, float] = {}
    while proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
        rss = 0
        try:
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system + t.children_user + t.children_system
                except psutil.NoSuchProcess:
                    continue
        except psutil.NoSuchProcess:
            break
        out["peak"] = max(out.get("peak", 0), rss)
        out["cpu"] = sum(cpu.values())
        time.sleep(0.2)


def child(args: argparse.Namespace) -> None:
    """Run one audit and print a JSON line (what the parent measures from outside)."""
    from syncaudit.audit.run import run_audit
    from syncaudit.config import load_config

    cfg = load_config(ROOT / "config" / "demo.yaml")
    spark = cfg.audit.spark.model_copy(
        update={
            "master": f"local[{args.cores}]",
            "shuffle_partitions": args.partitions,
            "driver_memory": args.driver_memory,
            "conf": dict(kv.split("=", 1) for kv in args.conf),
        }
    )
    audit = cfg.audit.model_copy(update={"engine": args.engine, "spark": spark, "threads": args.cores})
    cfg = cfg.model_copy(update={"data_dir": str(Path(args.work) / "data"), "audit": audit})
    t0 = time.perf_counter()
    res = run_audit(cfg, args.load, Path(args.work) / f"out-{args.engine}")
    wall = time.perf_counter() - t0
    ids = sorted(r[0] for r in res.con.execute("SELECT id FROM findings_final").fetchall())
    digest = hashlib.sha256(",".join(ids).encode()).hexdigest()  # the same in every process (hash() is not)
    print(json.dumps({"wall": wall, "findings": len(ids), "ids_hash": digest, "steps": res.metrics["durations_s"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--cores", type=int, default=2, help="local[N] for Spark, threads for DuckDB")
    ap.add_argument("--partitions", type=int, default=8, help="spark.sql.shuffle.partitions")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting (repeatable)")
    ap.add_argument("--work", default=None, help="folder for the load folders and snapshots (default: a temp dir)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--load", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from crmsandbox.generator import generate

    base = Path(args.work or tempfile.mkdtemp(prefix="bench-spark-"))
    print(f"bench_spark: {os.cpu_count()} cores, local[{args.cores}], {args.partitions} shuffle partitions, "
          f"driver memory {args.driver_memory}, seed {args.seed}, conf {args.conf}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        work = base / f"n{size}"
        load = work / "load"
        if not (load / "truth.json").is_file():
            generate(load, size, args.seed)
        results = {}
        for engine in args.engines.split(","):
            cmd = [sys.executable, __file__, "--child", "--engine", engine, "--load", str(load), "--work", str(work),
                   "--cores", str(args.cores), "--partitions", str(args.partitions),
                   "--driver-memory", args.driver_memory, *(f"--conf={kv}" for kv in args.conf)]  # fmt: skip
            before = os.getloadavg()
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            sample: dict = {}
            th = threading.Thread(target=_tree_sample, args=(proc.pid, sample), daemon=True)
            th.start()
            out, _ = proc.communicate()
            th.join(timeout=2)
            total = time.perf_counter() - t0
            if proc.returncode != 0:
                print(f"{size:>9,} {engine:<6} FAILED (exit {proc.returncode})")
                continue
            r = json.loads(out.strip().splitlines()[-1])
            results[engine] = r
            load_avg = os.getloadavg()
            print(
                f"{size:>9,} people a side  {engine:<6} audit {r['wall']:7.1f} s (process {total:6.1f} s incl. start)  "
                f"CPU {sample.get('cpu', 0):7.1f} s  peak RSS {sample.get('peak', 0) / 1e9:5.2f} GB  "
                f"{r['findings']:,} findings  load avg {before[0]:.1f} -> {load_avg[0]:.1f}"
            )
            print(f"           steps: {r['steps']}")
        if len(results) == 2:
            d, s = results["duckdb"], results["spark"]
            same = d["ids_hash"] == s["ids_hash"] and d["findings"] == s["findings"]
            print(
                f"           same finding ids on both engines: {same}; spark/duckdb wall x{s['wall'] / d['wall']:.1f}"
            )


if __name__ == "__main__":
    main()
