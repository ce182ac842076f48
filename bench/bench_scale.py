"""How cost grows with the org pair: generate, snapshot, audit, quality, plan and publish at several sizes.

    .venv/bin/python bench/bench_scale.py [--sizes 100000,1000000,10000000] [--seed 11] [--work DIR]
                                          [--memory-limit 8GB] [--steps generate,snapshot,audit,...]
                                          [--timeout S] [--conversations-per-person M --calls-per-person C]

Steps: generate (the load folder), snapshot (`snapshot from-load` of it), gensnap (`snapshot generate`: the
generator straight into the snapshot, partition by partition; the way to 10M without a 15 GB load folder),
audit, quality, plan, publish. --conversations-per-person and --calls-per-person set the generator's activity
(1.05 and 0.33: about one conversation and one Task per person; default 0.25 and 0.08); their folders and saved
figures carry the options in their names, apart from the default's.

Each step of each size runs in a child process of its own, so each peak memory (the child's maximum
resident set, DuckDB's threads included) is that step's alone. Printed per size and step: wall and CPU
seconds, peak RSS, and the growth against the previous size (x time for x records: 1.0 = linear).
The generated load folders and snapshots are kept in --work and reused. The machine is shared: the load
average is printed with every step; CPU seconds are the load-independent figure. A step that fails or
times out is reported as such and the next size is still tried.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


def _usage() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime, me.ru_maxrss / 1e6  # CPU s, peak GB (Linux: ru_maxrss in KiB)


# The generator's activity volume (--conversations-per-person, --calls-per-person): only the options given; TAG names
# the folders and saved figures of a non-default volume apart from the default's.
ACTIVITY: dict[str, float] = {}
TAG = ""


def _set_activity(args: argparse.Namespace) -> None:
    global TAG
    ACTIVITY.clear()
    ACTIVITY.update(
        {k: v for k in ("conversations_per_person", "calls_per_person") if (v := getattr(args, k)) is not None}
    )
    TAG = "".join(f"-{'cpp' if k.startswith('conv') else 'calls'}{v:g}" for k, v in ACTIVITY.items())


def _config(work: Path, memory_limit: str | None):  # noqa: ANN202 - syncaudit.config.Config
    from syncaudit.config import AuditOptions, load_config

    cfg = load_config(ROOT / "config" / "demo.yaml")
    audit = AuditOptions(memory_limit=memory_limit, temp_dir=str(work / "spill")) if memory_limit else cfg.audit
    return cfg.model_copy(update={"data_dir": str(work / "data"), "audit": audit})


def step_generate(size: int, seed: int, work: Path) -> dict:
    from crmsandbox.generator import generate

    load = work / f"load-{size}-{seed}{TAG}"
    if (load / "truth.json").is_file():
        return {"reused": True}
    generate(load, size, seed, activity=ACTIVITY)
    return {"bytes": sum(p.stat().st_size for p in load.rglob("*") if p.is_file())}


def step_gensnap(size: int, seed: int, work: Path, memory_limit: str | None) -> dict:
    """`syncaudit snapshot generate`: the generator's partitions converted one by one into the snapshot the
    audit reads (no load folder of the whole pair). Reuses a finished one."""
    from syncaudit.snapshot_from_load import table_rows
    from syncaudit.snapshot_generate import generate_snapshot

    target = work / f"snap-{size}-{seed}{TAG}"
    manifest = target / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("source") == "generator":
        return {"reused": True}
    snap = generate_snapshot(size, seed, cfg=_config(work, memory_limit), out=target, activity=ACTIVITY)
    return {"rows": table_rows(snap)}


def step_snapshot(size: int, seed: int, work: Path, memory_limit: str | None) -> dict:
    from syncaudit.snapshot_from_load import snapshot_from_load, table_rows

    target = work / f"snap-{size}-{seed}{TAG}"
    reused = (target / "manifest.json").is_file()  # convert_load_folder reuses a conversion of the same files
    snap = snapshot_from_load(work / f"load-{size}-{seed}{TAG}", cfg=_config(work, memory_limit), out=target)
    return {"rows": table_rows(snap), "reused": reused}


def step_audit(size: int, seed: int, work: Path, memory_limit: str | None) -> dict:
    from syncaudit.audit.run import run_audit

    cfg = _config(work, memory_limit)
    res = run_audit(cfg, str(work / f"snap-{size}-{seed}{TAG}"), work / f"out-{size}{TAG}")
    return {
        "records": res.metrics["records"],
        "findings": sum(res.metrics["findings"]["by_kind"].values()),
        "steps_s": res.metrics["durations_s"],
    }


def step_quality(size: int, seed: int, work: Path, memory_limit: str | None) -> dict:
    import syncaudit.offline  # noqa: F401  (analytics off before GX loads)
    from syncaudit.duckdb_resources import configure_duckdb
    from syncaudit.quality.cli import metadata
    from syncaudit.quality.datasets import tables_from_folder
    from syncaudit.quality.generate import regenerate_all
    from syncaudit.quality.run import run_quality
    from syncaudit.quality.suites import load_suites

    cfg = _config(work, memory_limit)
    tables = tables_from_folder(work / f"snap-{size}-{seed}{TAG}")
    configure_duckdb(tables.con, cfg, keep_order=True)
    suites_dir = work / f"expectations-{size}{TAG}"
    shutil.rmtree(suites_dir, ignore_errors=True)
    shutil.copytree(ROOT / "expectations", suites_dir)
    regenerate_all(cfg, suites_dir, *metadata(tables, cfg))
    run = run_quality(cfg, tables, *load_suites(suites_dir))
    return {
        "rows": sum(s.rows for s in run.suites),
        "expectations": sum(len(s.outcomes) for s in run.suites),
        "suites_s": {s.name: round(s.seconds, 1) for s in run.suites},
    }


def _import(step: str) -> None:
    import crmsandbox.generator  # noqa: F401
    import syncaudit.snapshot_from_load  # noqa: F401

    if step == "gensnap":
        import syncaudit.snapshot_generate  # noqa: F401
    if step in ("audit", "quality", "plan", "publish"):
        import great_expectations  # noqa: F401
        import splink  # noqa: F401

        import syncaudit.audit.run  # noqa: F401
        import syncaudit.changes.plan  # noqa: F401
        import syncaudit.quality.run  # noqa: F401
        import syncaudit.report.publish  # noqa: F401


def step_plan(size: int, seed: int, work: Path, memory_limit: str | None) -> dict:
    """`syncaudit plan` on the audit's findings of this size (every enabled fix policy of the demo config)."""
    from syncaudit.changes.model import summarize_plan
    from syncaudit.changes.plan import build_change_plan
    from syncaudit.snapshot import open_snapshot

    cfg = _config(work, memory_limit)
    snap = open_snapshot(cfg, str(work / f"snap-{size}-{seed}{TAG}"))
    plan = build_change_plan(cfg, snap, work / f"out-{size}{TAG}" / "findings.jsonl", save=False)
    s = summarize_plan(plan)
    return {"writes": s.get("writes"), "reviews": s.get("reviews"), "by_target": s.get("by_target")}


def step_publish(size: int, seed: int, work: Path, memory_limit: str | None) -> dict:
    """The report folder's copy of this size's findings.jsonl, personal data masked."""
    from syncaudit.report.masking import personal_fields
    from syncaudit.report.publish import publish_folder

    src = work / f"publish-{size}{TAG}"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    os.link(work / f"out-{size}{TAG}" / "findings.jsonl", src / "findings.jsonl")
    personal = personal_fields(_config(work, memory_limit).mapping.fields)
    done = publish_folder(src, work / f"published-{size}{TAG}", mask=True, personal=personal)
    with (src / "findings.jsonl").open("rb") as fh:
        lines = sum(1 for _ in fh)
    return {"findings": lines, "withheld": done.withheld}


STEPS = {"plan": step_plan, "publish": step_publish, "gensnap": step_gensnap}
ALL_STEPS = ["generate", "snapshot", "gensnap", "audit", "quality", "plan", "publish"]


def child(args: argparse.Namespace) -> int:
    """One step in this process; prints one JSON line with its figures."""
    work = Path(args.work)
    _import(args.step)  # import time is not the step's cost
    cpu0, t0 = _usage()[0], time.perf_counter()
    if args.step == "generate":
        out = step_generate(args.size, args.seed, work)
    elif args.step == "snapshot":
        out = step_snapshot(args.size, args.seed, work, args.memory_limit)
    elif args.step == "audit":
        out = step_audit(args.size, args.seed, work, args.memory_limit)
    elif args.step == "quality":
        out = step_quality(args.size, args.seed, work, args.memory_limit)
    else:
        out = STEPS[args.step](args.size, args.seed, work, args.memory_limit)
    cpu, peak = _usage()
    out.update(wall_s=round(time.perf_counter() - t0, 1), cpu_s=round(cpu - cpu0, 1), peak_gb=round(peak, 2))
    print("RESULT " + json.dumps(out))
    return 0


def run_step(step: str, size: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--size", str(size), "--seed", str(args.seed)]
    cmd += ["--work", str(args.work)] + (["--memory-limit", args.memory_limit] if args.memory_limit else [])
    cmd += [f"--{k.replace('_', '-')}={v!r}" for k, v in ACTIVITY.items()]
    load = os.getloadavg()[0]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s", "load": load}
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        lines = proc.stderr.strip().splitlines() or ["(no message)"]
        # The exception's own line (DuckDB adds advice lines after it), else the last line.
        tail = next((ln for ln in reversed(lines) if "Error" in ln or "Exception" in ln), lines[-1])[:300]
        return {"error": f"exit {proc.returncode}: {tail}", "load": load}
    out = {**json.loads(line.removeprefix("RESULT ")), "load": load, "load_after": os.getloadavg()[0]}
    saved = args.work / f"result-{size}{TAG}-{step}.json"
    if out.get("reused") and saved.is_file():
        # the step's output came from an earlier run: show that run's figures, marked as such
        return {**json.loads(saved.read_text()), "earlier": True}
    saved.write_text(json.dumps(out))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="people per system, comma-separated")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--work", type=Path, default=None, help="folder for load folders and snapshots (kept, reused)")
    ap.add_argument("--memory-limit", default=None, help="audit.memory_limit for the audit and quality (e.g. 12GB)")
    ap.add_argument(
        "--steps",
        default="generate,snapshot,audit,quality,plan,publish",
        help="which steps, in this order (plan and publish read the audit's findings of the same size); gensnap "
        "writes the snapshot straight from the generator (instead of generate + snapshot)",
    )
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per step before it is stopped")
    ap.add_argument(
        "--table", action="store_true", help="print the table from the figures saved in --work by earlier runs only"
    )
    ap.add_argument(
        "--conversations-per-person",
        type=float,
        default=None,
        metavar="M",
        help="the generator's mean conversations per Intercom contact (default 0.25; 1.05 with --calls-per-person "
        "0.33 gives about one conversation and one Task per person)",
    )
    ap.add_argument(
        "--calls-per-person",
        type=float,
        default=None,
        metavar="C",
        help="the generator's calls and emails logged as Tasks per Salesforce person (default 0.08)",
    )
    ap.add_argument("--child", choices=ALL_STEPS, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    _set_activity(args)
    if args.child:
        args.step = args.child
        return child(args)
    from crmsandbox.errors import SandboxInputError
    from crmsandbox.generator import check_activity

    try:
        check_activity(ACTIVITY)
    except SandboxInputError as exc:
        ap.error(str(exc))
    args.work = args.work or Path(tempfile.mkdtemp(prefix="syncaudit-scale-"))
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if bad := [s for s in steps if s not in ALL_STEPS]:
        ap.error(f"unknown steps {bad}; choose from {', '.join(ALL_STEPS)}")
    print(f"work={args.work} cpus={os.cpu_count()} load={os.getloadavg()} memory_limit={args.memory_limit or 'config'}")
    rows: dict[tuple[int, str], dict] = {}
    for size in sizes:
        for step in steps:
            if args.table:
                saved = args.work / f"result-{size}{TAG}-{step}.json"
                if saved.is_file():
                    rows[(size, step)] = json.loads(saved.read_text())
                continue
            r = rows[(size, step)] = run_step(step, size, args)
            print(f"{size:>11,} {step:9s} " + json.dumps(r), flush=True)
            if "error" in r and step in ("generate", "snapshot", "gensnap"):
                break  # nothing to audit at this size
    print(f"\n{'size':>11} {'step':9s} {'wall s':>8} {'CPU s':>8} {'peak GB':>8} {'load':>5}  growth vs previous size")
    for step in steps:
        prev = None
        for size in sizes:
            r = rows.get((size, step))
            if r is None:
                continue
            if "error" in r:
                print(f"{size:>11,} {step:9s} {r['error']}")
                continue
            growth = ""
            if prev and not rows[prev].get("reused") and not r.get("reused") and rows[prev]["cpu_s"] > 0:
                # growth = (x time) for (x records): equal factors mean linear cost
                x = size / prev[0]
                growth = f"x{x:.0f} records -> x{r['wall_s'] / max(rows[prev]['wall_s'], 0.1):.1f} wall, "
                growth += (
                    f"x{r['cpu_s'] / rows[prev]['cpu_s']:.1f} CPU, x{r['peak_gb'] / rows[prev]['peak_gb']:.1f} peak"
                )
            reused = " (reused)" if r.get("reused") else (" (earlier run)" if r.get("earlier") else "")
            print(
                f"{size:>11,} {step:9s} {r['wall_s']:>8} {r['cpu_s']:>8} {r['peak_gb']:>8} {r['load']:>5.1f}  "
                f"{growth}{reused}"
            )
            prev = (size, step)
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
