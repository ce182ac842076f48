"""Benchmark of `syncaudit apply` against the sandbox emulators (HTTPS, in-process server).

    .venv/bin/python bench/bench_changes.py                 # the issue's targets: 100,000 SF updates, 10,000 Intercom
    .venv/bin/python bench/bench_changes.py --size 2000     # a quick run (both sizes = N, Intercom capped at N)
    .venv/bin/python bench/bench_changes.py --plan-sizes 100000,1000000 --skip-apply   # plan build memory only

Prints, per system: operations, wall time, records/s, API calls of the apply (from the sandbox request log),
429 answers, peak RSS, and for Intercom the achieved call rate as a share of the allowed rate.
Targets: Salesforce <= 15 API calls for 100,000 updates (Bulk API 2.0); Intercom >= 80 % of the allowed rate, no 429.
Plan build: peak RSS of `build_change_plan` at 100,000 and 1,000,000 operations (normalize_values over a
synthetic snapshot of N Contacts whose emails need lower-casing), each in its own process, beside the RSS of a
0-operation build in the same way (the imports' share) — a streamed plan keeps the peak flat as N grows.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))

from crmsandbox.testing import running_sandbox  # noqa: E402
from syncaudit.changes.apply import apply_plan, plans_dir  # noqa: E402
from syncaudit.changes.model import Operation, Plan  # noqa: E402
from syncaudit.config import load_config  # noqa: E402


def write_load_dir(root: Path, sf_n: int, ic_n: int) -> list[str]:
    """A load folder with sf_n Contacts and ic_n Intercom users; returns the Intercom ids."""
    (root / "salesforce").mkdir(parents=True)
    (root / "intercom").mkdir(parents=True)
    with open(root / "salesforce" / "Contact.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["LastName", "Email"])
        w.writerows([f"Bench{i}", f"bench{i}@example.com"] for i in range(sf_n))
    ids = [f"{0xBE0000 + i:024x}" for i in range(ic_n)]
    with open(root / "intercom" / "contacts.jsonl", "w") as fh:
        for i, cid in enumerate(ids):
            fh.write(json.dumps({"id": cid, "role": "user", "email": f"bench{i}@example.com", "name": f"Bench {i}"}))
            fh.write("\n")
    return ids


class SyntheticSnapshot:
    """What the planner reads of a snapshot: n Contacts whose Email is not in its normalized form."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.path = "20261126T120000Z"
        self.manifest = {"id": self.path, "started_at": "2026-11-26T12:00:00+00:00"}

    def duckdb(self):  # noqa: ANN201
        import duckdb

        con = duckdb.connect()
        con.execute(
            'CREATE TABLE "sf_Contact" AS SELECT printf(\'003%012dAAA\', i) AS "Id", '
            "printf('Bench%d@Example.COM', i) AS \"Email\", 'Bench' || i AS \"LastName\", "
            f"TIMESTAMPTZ '2026-11-20 00:00:00+00' AS \"SystemModstamp\" FROM range({self.n}) t(i)"
        )
        return con


def plan_build(n: int) -> dict:
    """Build a plan of n operations in this process; its peak RSS is this process's."""
    from syncaudit.changes.plan import build_change_plan

    tmp = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    cfg = load_config(ROOT / "config" / "demo.yaml").model_copy(update={"data_dir": str(tmp)})
    t = time.perf_counter()
    plan = build_change_plan(cfg, SyntheticSnapshot(n), [], fixes=["normalize_values"])
    dt = time.perf_counter() - t
    size = (plan.path / "plan.jsonl").stat().st_size
    return {
        "operations": plan.summary()["operations"],
        "seconds": round(dt, 1),
        "ops_per_s": round(n / dt) if n else None,
        "plan_jsonl_mb": round(size / 2**20, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "hash": plan.hash,
    }


def bench_plans(sizes: list[int]) -> None:
    import subprocess

    for n in [0, *sizes]:
        out = subprocess.run(
            [sys.executable, __file__, "--plan-only", str(n)], capture_output=True, text=True, check=True
        ).stdout
        print(json.dumps({"system": "plan", **json.loads(out.strip().splitlines()[-1]), "loadavg": os.getloadavg()}))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf-size", type=int, default=100_000)
    ap.add_argument("--ic-size", type=int, default=10_000)
    ap.add_argument("--size", type=int, help="quick run: both sizes")
    ap.add_argument("--per-minute", type=int, default=3_000, help="Intercom rate limit set on the emulator (calls/min)")
    ap.add_argument("--plan-sizes", default="100000,1000000", help="plan build sizes (comma-separated; '' skips)")
    ap.add_argument("--skip-apply", action="store_true", help="only the plan build figures")
    ap.add_argument("--plan-only", type=int, help=argparse.SUPPRESS)  # internal: one plan build in this process
    args = ap.parse_args()
    if args.plan_only is not None:
        print(json.dumps(plan_build(args.plan_only)))
        return 0
    plan_sizes = [int(x) for x in args.plan_sizes.split(",") if x.strip()]
    if args.size and args.plan_sizes == ap.get_default("plan_sizes"):
        plan_sizes = [args.size]
    if plan_sizes:
        bench_plans(plan_sizes)
    if args.skip_apply:
        return 0
    sf_n, ic_n = (args.size, min(args.size, args.ic_size)) if args.size else (args.sf_size, args.ic_size)
    tmp = Path(tempfile.mkdtemp(prefix="bench-changes-"))
    ic_ids = write_load_dir(tmp / "load", sf_n, ic_n)
    os.environ["SYNCAUDIT_SANDBOX_DIR"] = str(tmp / "sb")
    cfg = load_config(ROOT / "config" / "demo.yaml")
    cfg = cfg.model_copy(
        update={"data_dir": str(tmp / "data"), "apply": cfg.apply.model_copy(update={"max_changes": sf_n + ic_n + 1})}
    )
    print(f"load average before: {os.getloadavg()}")
    print("sandbox cost model: none (loopback: calls, not network time, are what this counts)")
    t0 = time.perf_counter()
    with running_sandbox(load_dir=tmp / "load", state_dir=tmp / "sb") as sb:
        print(f"sandbox loaded {sf_n:,} Contacts and {ic_n:,} Intercom contacts in {time.perf_counter() - t0:.1f} s")
        from syncaudit.connectors.build import build_writers

        reader = build_writers(cfg, {"salesforce"})["salesforce"]
        ids = [r["Id"] for r in reader.query("SELECT Id FROM Contact")]
        since = datetime.now(UTC)
        time.sleep(1.1)  # versions are compared at second precision in SOQL
        header = {
            "kind": "bench",
            "since": {"salesforce": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "intercom": int(since.timestamp())},
        }

        # ---------------------------------------------------------- Salesforce: Bulk API 2.0
        ops = [
            Operation("salesforce", "Contact", i, "update", {"Title": f"VP Bench {n}"}, {"Title": None}, policy="bench")
            for n, i in enumerate(ids)
        ]
        plan = Plan(header, ops)
        plan.save(plans_dir(cfg))
        start = sb.requests()[-1]["seq"] if sb.requests() else 0
        t = time.perf_counter()
        res = apply_plan(cfg, plan, plan.hash, dry_run=False)
        dt = time.perf_counter() - t
        log = [r for r in sb.requests(system="salesforce", since=start) if "/oauth2/" not in r["path"]]
        calls = len(log)
        print(
            json.dumps(
                {
                    "system": "salesforce",
                    "operations": len(ops),
                    "outcomes": res.counts,
                    "seconds": round(dt, 2),
                    "records_per_s": round(len(ops) / dt),
                    "api_calls": calls,
                    "target_max_calls": 15,
                    "met": calls <= 15 and not res.failed,
                    "calls": [f"{r['method']} {r['path'].split('/v59.0/')[-1]}" for r in log],
                    "peak_rss_mb": round(peak_rss_mb()),
                    "loadavg": os.getloadavg(),
                }
            )
        )

        # ---------------------------------------------------------- Intercom: paced by rate headers
        sb.sandbox.services["intercom"].set_rate_limit(args.per_minute)
        per_window = max(1, args.per_minute * 10 // 60)
        ops = [
            Operation(
                "intercom",
                "contact",
                cid,
                "update",
                {"name": f"Bench Renamed {n}"},
                {"name": f"Bench {n}"},
                policy="bench",
            )
            for n, cid in enumerate(ic_ids)
        ]
        plan = Plan(header, ops)
        plan.save(plans_dir(cfg))
        start = sb.requests()[-1]["seq"]
        t = time.perf_counter()
        res = apply_plan(cfg, plan, plan.hash, dry_run=False)
        dt = time.perf_counter() - t
        log = sb.requests(system="intercom", since=start)
        # Fixed 10-s windows: the calls allowed during the run are the budgets of every window it touched.
        windows = int(log[-1]["ts"] // 10) - int(log[0]["ts"] // 10) + 1 if log else 1
        per_win: dict[int, int] = {}
        for r in log:
            per_win[int(r["ts"] // 10)] = per_win.get(int(r["ts"] // 10), 0) + 1
        allowed = per_window * windows / dt
        rate = len(log) / dt
        writes_rate = sum(1 for r in log if r["method"] == "PUT") / dt
        print(
            json.dumps(
                {
                    "system": "intercom",
                    "operations": len(ops),
                    "outcomes": res.counts,
                    "seconds": round(dt, 2),
                    "api_calls": len(log),
                    "http_429": sum(1 for r in log if r["status"] == 429),
                    "windows": windows,
                    "calls_per_window": list(per_win.values()),
                    "per_window_limit": per_window,
                    "allowed_calls_per_s": round(allowed, 1),
                    "calls_per_s": round(rate, 1),
                    "updates_per_s": round(writes_rate, 1),
                    "share_of_allowed_rate": round(rate / allowed, 3),
                    "target_share": 0.8,
                    "met": rate / allowed >= 0.8 and not any(r["status"] == 429 for r in log),
                    "peak_rss_mb": round(peak_rss_mb()),
                    "loadavg": os.getloadavg(),
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
