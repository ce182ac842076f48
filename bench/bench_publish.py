"""Publishing (masking) a findings.jsonl of N findings: the report step that grows with the findings.

    .venv/bin/python bench/bench_publish.py --source out/findings.jsonl [--findings 1000000]

The source's findings are repeated (each copy's ids made unique) up to --findings lines, then
``publish_folder`` masks the file into a report folder in a child process of its own. Printed: findings,
wall and CPU seconds, findings/s, peak RSS of the child and the load average (the machine is shared; CPU
seconds are the load-independent figure).
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


def scaled(source: Path, n: int, out: Path) -> int:
    """``out`` holds n findings: the source's, repeated with ``-<copy>`` added to each id."""
    lines = [ln for ln in source.read_bytes().splitlines() if ln.strip()]
    written = 0
    with out.open("wb") as fh:
        copy = 0
        while written < n:
            for ln in lines[: n - written]:
                if copy:
                    row = json.loads(ln)
                    row["id"] = f"{row.get('id')}-{copy}"
                    ln = json.dumps(row, ensure_ascii=False).encode()
                fh.write(ln + b"\n")
            written += min(len(lines), n - written)
            copy += 1
    return written


def child(folder: Path) -> dict:
    from syncaudit.config import load_config
    from syncaudit.report.masking import personal_fields
    from syncaudit.report.publish import publish_folder

    personal = personal_fields(load_config(ROOT / "config" / "demo.yaml").mapping.fields)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, t0 = me.ru_utime + me.ru_stime, time.perf_counter()
    done = publish_folder(folder / "work", folder / "published", mask=True, personal=personal)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(me.ru_utime + me.ru_stime - cpu0, 1),
        "peak_gb": round(me.ru_maxrss / 1e6, 2),
        "withheld": done.withheld,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="a findings.jsonl (e.g. bench_scale's out-N folder)")
    ap.add_argument("--findings", type=int, default=1_000_000)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child)))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    try:
        (folder / "work").mkdir()
        n = scaled(args.source, args.findings, folder / "work" / "findings.jsonl")
        mb = (folder / "work" / "findings.jsonl").stat().st_size / 1e6
        load = os.getloadavg()
        proc = subprocess.run([sys.executable, __file__, "--source", str(args.source), "--child", str(folder)],
                              capture_output=True, text=True)  # fmt: skip
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            print(f"failed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:300]}")
            return 1
        r = json.loads(line.removeprefix("RESULT "))
        print(f"cpus={os.cpu_count()} load before={load} after={os.getloadavg()}")
        print(
            f"{n:,} findings ({mb:.0f} MB) published masked: {r['wall_s']} s wall, {r['cpu_s']} s CPU, "
            f"{n / max(r['cpu_s'], 0.1):,.0f} findings per CPU second, peak {r['peak_gb']} GB, withheld {r['withheld']}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
