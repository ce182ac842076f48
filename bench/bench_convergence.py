"""Does one fix-up plan fix what it claims, and does the next one converge? Measured on the emulators.

    .venv/bin/python bench/bench_convergence.py                 # 2,000 and 20,000 people
    .venv/bin/python bench/bench_convergence.py --sizes 2000    # one size

Per size: the sandbox is generated (seed 4), pulled in full, audited, planned and applied (--execute); then pulled
incrementally, audited and planned again. Prints field_drift findings before and after, the fall, how many
after-apply findings are new (pairs the plan linked without syncing would show up here), what remains (values the
target cannot accept, review items, anything else), the writes of the second plan (0 = converged) and timings.
Target: a fall >= 90 %, the rest review items or refused values, a second plan without writes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))
sys.path.insert(0, str(ROOT / "tests"))

from convergence_support import run_cycle  # noqa: E402
from demo_support import demo_sandbox  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,20000")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (uptime, 1/5/15 min)")
    for size in (int(s) for s in args.sizes.split(",")):
        with (
            tempfile.TemporaryDirectory(prefix="bench-conv-") as tmp,
            demo_sandbox(Path(tmp), size=size, seed=args.seed) as env,
        ):
            r = run_cycle(env["cfg"], Path(tmp) / "out")
        print(f"\n{size:,} people a side (seed {args.seed})")
        print(f"  field_drift findings     {r['drift_before']:>6} -> {r['drift_after']:<6} fall {r['fall']:.1%}")
        print(f"  new after the apply      {r['new_after']:>6}")
        print(
            f"  remaining                refused by the target {r['remaining_refused']}, review items "
            f"{r['remaining_review']}, other {r['remaining_other']}"
        )
        print(
            f"  plan 1                   {r['plan1_writes']} writes, {r['plan1_reviews']} review items; apply {r['apply1']}"
        )
        print(
            f"  plan 2                   {r['plan2_writes']} writes, {r['plan2_reviews']} review items {r['apply2'] or ''}"
        )
        print(f"  newer side (before)      {r['newer_side_before']}")
        print(f"  newer side (after)       {r['newer_side_after']}")
        print(f"  time                     apply {r['apply1_s']} s, whole cycle {r['total_s']} s")
    print(f"\nload: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
