"""Benchmark of preflight (`syncaudit check`, also run before every pull and apply): calls and time it adds.

    .venv/bin/python bench/bench_preflight.py [--size 2000] [--latency-ms 50]

Serves a generated org pair of N people a side over HTTPS (port 0) with the demo config and times
`preflight_rows` on fresh connectors: its API calls per system and seconds, at the given per-call latency
(real Salesforce and Intercom answer in tens of milliseconds). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from crmsandbox.testing import running_sandbox  # noqa: E402
from syncaudit.config import load_config  # noqa: E402
from syncaudit.connectors.build import connect  # noqa: E402
from syncaudit.connectors.preflight import preflight_rows, problems  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SYNCAUDIT_SANDBOX_DIR"] = str(Path(tmp) / "sb")
        t0 = time.perf_counter()
        with running_sandbox(size=args.size, seed=7, state_dir=Path(tmp) / "sb") as sb:
            print(f"sandbox of {args.size:,} people a side ready in {time.perf_counter() - t0:.1f} s")
            sb.control("POST", "latency", {"ms": args.latency_ms})
            cfg = load_config(ROOT / "config" / "demo.yaml")
            for attempt in (1, 2):
                conns = connect(cfg)
                t1 = time.perf_counter()
                rows = preflight_rows(cfg, conns)
                took = time.perf_counter() - t1
                print(
                    f"run {attempt}: {len(rows)} checks ({len(problems(rows))} problems) in {took:.2f} s; "
                    f"API calls: Salesforce {conns.salesforce.api_calls()}, Intercom {conns.intercom.api_calls()} "
                    f"(+1 Salesforce login) at {args.latency_ms:.0f} ms a call"
                )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
