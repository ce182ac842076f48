"""Benchmark of `syncaudit apply` against the sandbox emulators (HTTPS, in-process server).

    .venv/bin/python bench/bench_changes.py                 # the issue's targets: 100,000 SF updates, 10,000 Intercom
    .venv/bin/python bench/bench_changes.py --size 2000     # a quick run (both sizes = N, Intercom capped at N)

Prints, per system: operations, wall time, records/s, API calls of the apply (from the sandbox request log),
429 answers, peak RSS, and for Intercom the achieved call rate as a share of the allowed rate.
Targets: Salesforce <= 15 API calls for 100,000 updates (Bulk API 2.0); Intercom >= 80 % of the allowed rate, no 429.
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

from syncaudit.changes.apply import apply_plan, plans_dir  # noqa: E402
from syncaudit.changes.model import Operation, Plan  # noqa: E402
from syncaudit.config import load_config  # noqa: E402
from syncaudit.sandbox.testing import running_sandbox  # noqa: E402


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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf-size", type=int, default=100_000)
    ap.add_argument("--ic-size", type=int, default=10_000)
    ap.add_argument("--size", type=int, help="quick run: both sizes")
    ap.add_argument("--per-minute", type=int, default=3_000, help="Intercom rate limit set on the emulator (calls/min)")
    args = ap.parse_args()
    sf_n, ic_n = (args.size, min(args.size, args.ic_size)) if args.size else (args.sf_size, args.ic_size)
    tmp = Path(tempfile.mkdtemp(prefix="bench-changes-"))
    ic_ids = write_load_dir(tmp / "load", sf_n, ic_n)
    os.environ["SYNCAUDIT_SANDBOX_DIR"] = str(tmp / "sb")
    cfg = load_config(ROOT / "config" / "demo.yaml")
    cfg = cfg.model_copy(
        update={"data_dir": str(tmp / "data"), "apply": cfg.apply.model_copy(update={"max_changes": sf_n + ic_n + 1})}
    )
    print(f"load average before: {os.getloadavg()}")
    t0 = time.perf_counter()
    with running_sandbox(load_dir=tmp / "load", state_dir=tmp / "sb") as sb:
        print(f"sandbox loaded {sf_n:,} Contacts and {ic_n:,} Intercom contacts in {time.perf_counter() - t0:.1f} s")
        from syncaudit.sources.salesforce.writer import SalesforceWriter

        reader = SalesforceWriter.from_config(cfg)
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
