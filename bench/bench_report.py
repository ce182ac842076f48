"""The demo end to end: sandbox, full pull, every notebook by papermill, HTML export, index.

    .venv/bin/python bench/bench_report.py [--size N]

Prints the wall time against the 5-minute target, seconds per notebook, the size of the report
folder (and of the run's unmasked work folder), peak memory (this process and the kernels) and the load
average, so contention on the shared machine can be judged. Then it times publishing (masking) the
run's findings scaled up to --findings lines (default 250,000, about what 1,000,000 people a side
produce), the step that grows with the data.
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
    print("sandbox cost model: n/a (no API calls: this runs offline on generated data or snapshots)")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=20_000, help="people per system (default 20000, the issue's target)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--findings", type=int, default=250_000, help="findings lines to publish (default 250000)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    out = Path(tempfile.mkdtemp(prefix="bench-report-")) / "report"
    started = time.monotonic()
    result = run_demo(size=args.size, seed=args.seed, out=out)
    wall = time.monotonic() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    size_mb = _size_mb(out)
    print(f"\n== syncaudit demo, {args.size:,} people a side")
    print(f"wall time            {wall:8.1f} s   (target {TARGET_S} s: {'met' if wall <= TARGET_S else 'MISSED'})")
    for r in result.runs:
        print(f"  {r.name:<22} {r.duration_s:8.1f} s  {r.status}")
    print(f"findings             {result.metrics['findings']['total']}")
    print(f"api calls            {result.metrics['api_calls']}")
    print(f"report folder        {size_mb:8.1f} MB  ({out})")
    for page in sorted(out.glob("*.html")):
        print(f"  {page.name:<26} {page.stat().st_size / 1e6:6.2f} MB")
    if result.work_dir:
        print(f"work folder          {_size_mb(result.work_dir):8.1f} MB  (unmasked, {result.work_dir})")
    print(f"peak RSS             {own:8.0f} MB this process, {kids:.0f} MB largest kernel")
    print(
        f"load average         before {tuple(round(x, 1) for x in load_before)}, after {tuple(round(x, 1) for x in os.getloadavg())}"
    )
    if result.work_dir and (result.work_dir / "findings.jsonl").is_file():
        _publish_at_scale(result.work_dir / "findings.jsonl", args.findings)
    return 0 if not result.failed else 1


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _publish_at_scale(findings: Path, n: int) -> None:
    """Mask ``n`` findings lines (the run's own, repeated) as the report folder gets them."""
    from syncaudit.config import load_config
    from syncaudit.report.demo import demo_config_path
    from syncaudit.report.masking import personal_fields
    from syncaudit.report.publish import publish_folder

    lines = [x for x in findings.read_text(encoding="utf-8").splitlines() if x.strip()]
    if not lines:
        return
    work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    with (work / "findings.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(lines[i % len(lines)] + "\n")
    personal = personal_fields(load_config(demo_config_path()).mapping.fields)
    started = time.monotonic()
    publish_folder(work, work / "out", mask=True, personal=personal)
    took = time.monotonic() - started
    mb = (work / "findings.jsonl").stat().st_size / 1e6
    print(f"publish findings     {n:,} lines ({mb:.0f} MB) masked in {took:.1f} s = {n / took:,.0f} findings/s")
    print(f"load average         {tuple(round(x, 1) for x in os.getloadavg())}")


if __name__ == "__main__":
    raise SystemExit(main())
