"""Benchmark: every suite over a synthetic snapshot of N rows per main object (target: 10,000,000 rows in <= 10 min).

    .venv/bin/python bench/bench_quality.py [--size N] [--keep DIR] [--reuse] [--memory-limit 1GB]
                                            [--batch-rows N] [--no-baseline]

Prints seconds per suite, the total (wall and CPU), rows/s, the peak RSS of the quality run alone (the snapshot
is written by a child process), the rows GX validated at a time and the load average (the machine is shared).
The suites run out of core: GX sees batches of --batch-rows rows streamed from DuckDB, which sorts within
--memory-limit (audit.memory_limit) and spills to a folder under the work folder, so the peak does not grow with
N. --reuse keeps a snapshot already written in --keep DIR (the 10M one takes minutes to write).
The baseline, run in the same process on the sf_Contact suite only (skip it with --no-baseline), is
the straightforward way: the whole table read with DuckDB's .df(), each expectation validated on
its own with GX defaults; the ratio says what the fast path (column pruning, Arrow, one suite pass,
no batch fingerprint, an RE2-friendly email pattern) buys.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT / "tests")]

import syncaudit.offline  # noqa: E402,F401  (analytics off before GX loads)
from syncaudit.config import AuditOptions, load_config  # noqa: E402
from syncaudit.duckdb_resources import memory_limit  # noqa: E402
from syncaudit.quality import run as run_module  # noqa: E402
from syncaudit.quality.cli import metadata  # noqa: E402
from syncaudit.quality.datasets import open_tables  # noqa: E402
from syncaudit.quality.generate import regenerate_all  # noqa: E402
from syncaudit.quality.results import build_findings, write_outputs  # noqa: E402
from syncaudit.quality.run import run_quality  # noqa: E402
from syncaudit.quality.suites import load_suites  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process, all threads (DuckDB's included)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def baseline(tables, suite) -> float:
    """sf_Contact the naive way: every column, .df(), one GX validation per expectation, GX defaults."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 1e9  # GX's default
    t = time.perf_counter()
    df = tables.con.execute("SELECT * FROM sf_Contact WHERE NOT IsDeleted").df()
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)  # quiet output; no effect on speed
    bd = ctx.data_sources.add_pandas("naive").add_dataframe_asset("t").add_batch_definition_whole_dataframe("b")
    batch = bd.get_batch(batch_parameters={"dataframe": df})
    rf = {"result_format": "SUMMARY", "unexpected_index_column_names": ["Id"], "partial_unexpected_count": 20}
    for _, exp in suite.runnable():
        config = gx.expectations.expectation_configuration.ExpectationConfiguration(**exp)
        batch.validate(config.to_domain_obj(), result_format=rf, expectation_parameters={"now": "2026-11-26"})
    return time.perf_counter() - t


def main() -> None:
    print("sandbox cost model: n/a (no API calls: this runs offline on generated data or snapshots)")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000, help="rows per main object (default 1,000,000)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the naive baseline run")
    ap.add_argument("--keep", metavar="DIR", help="work in this folder and keep it (default: a temp folder)")
    ap.add_argument("--reuse", action="store_true", help="with --keep: use the snapshot already written there")
    ap.add_argument("--memory-limit", help="audit.memory_limit for the run (DuckDB's sorts spill above it), e.g. 1GB")
    ap.add_argument("--batch-rows", type=int, help=f"rows GX validates at a time (default {run_module.BATCH_ROWS:,})")
    args = ap.parse_args()
    if args.batch_rows:
        run_module.BATCH_ROWS = args.batch_rows
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_quality_"))
    print(f"size={args.size:,} rows per object, work={work}, load={os.getloadavg()}")
    t = time.perf_counter()
    if args.reuse and (work / "data" / "snapshots" / "LATEST").is_file():
        print(f"snapshot reused from {work / 'data'}")
    else:
        # In a child process, so this process's peak memory is the quality run's alone.
        gen = f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); from quality_snapshot import write_snapshot; "
        gen += f"from pathlib import Path; write_snapshot(Path({str(work / 'data')!r}), {args.size})"
        subprocess.run([sys.executable, "-c", gen], check=True)
        print(f"snapshot written in {time.perf_counter() - t:.1f} s")
    cfg_text = (ROOT / "config" / "demo.yaml").read_text().replace("data_dir: data/demo", f"data_dir: {work / 'data'}")
    (work / "cfg.yaml").write_text(cfg_text)
    cfg = load_config(work / "cfg.yaml")
    if args.memory_limit:
        audit = AuditOptions(memory_limit=args.memory_limit, temp_dir=str(work / "spill"))
        cfg = cfg.model_copy(update={"audit": audit})
    print(f"audit.memory_limit={memory_limit(cfg.audit)}, GX batch {run_module.BATCH_ROWS:,} rows")
    tables = open_tables(cfg)
    # The committed suites, their generated part regenerated from this snapshot's metadata (hand-written kept).
    shutil.rmtree(work / "expectations", ignore_errors=True)
    shutil.copytree(ROOT / "expectations", work / "expectations")
    regenerate_all(cfg, work / "expectations", *metadata(tables, cfg))
    suites, problems = load_suites(work / "expectations")
    t, cpu = time.perf_counter(), _cpu()
    run = run_quality(cfg, tables, suites, problems)
    run_s, cpu_s = time.perf_counter() - t, _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline adds its own
    t = time.perf_counter()
    write_outputs(run, cfg, work / "report")
    write_s = time.perf_counter() - t
    rows = sum(s.rows for s in run.suites)
    n_exp = sum(len(s.outcomes) for s in run.suites)
    for s in run.suites:
        print(f"  {s.name:18s} rows={s.rows:>9,} expectations={len(s.outcomes):>3} {s.seconds:7.2f} s")
    print(f"suites={len(run.suites)} expectations={n_exp} findings={len(build_findings(run, cfg))}")
    print(f"run: {run_s:.1f} s wall, {cpu_s:.1f} s CPU, for {rows:,} rows ({rows / run_s:,.0f} rows/s)")
    print(f"outputs (findings, metrics, Data Docs) written in {write_s:.2f} s")
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB (snapshot generator child {child:.0f} MB); load={os.getloadavg()}")
    print(
        f"RESULT size={args.size:,} wall={run_s:.1f}s cpu={cpu_s:.1f}s peak_rss={peak:.0f}MB "
        f"batch_rows={run_module.BATCH_ROWS} memory_limit={memory_limit(cfg.audit)} load={os.getloadavg()}"
    )
    if not args.no_baseline:
        ours = next(s for s in run.suites if s.name == "sf_Contact")
        base = baseline(tables, next(s for s in suites if s.name == "sf_Contact"))
        print(f"baseline sf_Contact: {base:.1f} s naive vs {ours.seconds:.1f} s here (x{base / ours.seconds:.1f})")
    load = os.getloadavg()[0]
    print(
        f"target <= 10 min at 10,000,000 rows per object: {'MET' if run_s <= 600 else 'NOT MET'} at size "
        f"{args.size:,} (wall {run_s:.0f} s with load {load:.1f} on {os.cpu_count()} cores; CPU {cpu_s:.0f} s)"
    )


if __name__ == "__main__":
    main()
