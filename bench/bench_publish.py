"""Publishing (masking) a findings file of N findings: the report step that grows with the findings.

    .venv/bin/python bench/bench_publish.py --source out/findings.jsonl [--findings 1000000] [--walk both]
        [--format jsonl|parquet|report]

The source's findings are repeated (each copy's ids made unique) up to --findings lines, then
``publish_folder`` masks the file into a report folder in a child process of its own: ``--walk sql`` is the
publish path (set-based in DuckDB), ``--walk python`` the per-finding Python walk it replaced (the baseline,
``mask_finding`` line by line), ``both`` runs the baseline then the publish path on the same file, one after the
other, and prints the ratio. ``--format parquet`` publishes the same findings as ``audit/findings.parquet``,
written with the audit's columns (``extra`` as JSON text, as ``syncaudit.audit.findings`` writes it); its Python
walk is the row-by-row path ``publish`` keeps for a Parquet schema the set-based path cannot take.
``--format report`` publishes a report-like folder holding both: ``findings.jsonl`` (the findings plus 1 % quality
findings, as ``combine_findings`` leaves it) and ``audit/findings.parquet`` (the same findings, as the audit writes
them), and ``audit/findings.jsonl`` (the audit's part of findings.jsonl, as a run leaves it; ``--no-audit-jsonl``
leaves it out); ``--walk separate`` masks each file on its own (before), ``--walk once`` is the publish path, which
masks findings.jsonl and writes the other two from its masked lines (``masking_sql.reuse_masked_lines``,
``masking_parquet.reuse_masked_jsonl``), ``both`` runs one then the other and compares the two report folders byte
for byte. Printed: findings, wall and CPU seconds (all threads), findings per CPU second,
peak RSS of the child and the load average (the machine is shared; CPU seconds are the load-independent figure).
"""

from __future__ import annotations

import argparse
import filecmp
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


def python_walk(src: Path, dst: Path, personal: dict, *_: object) -> None:
    """The publish path before it was set-based: one ``mask_finding`` call per line (the baseline)."""
    import orjson

    from syncaudit.report.masking import mask_finding, mask_json

    with src.open("rb") as fin, dst.open("w", encoding="utf-8") as fout:
        for line in fin:
            if line.strip():
                row = orjson.loads(line)
                finding = isinstance(row, dict) and "kind" in row and "records" in row
                fout.write(orjson.dumps(mask_finding(row, personal) if finding else mask_json(row)).decode() + "\n")


# The audit's findings.parquet columns (syncaudit.audit.findings.write_findings: extra stored as JSON text).
_AUDIT_COLUMNS = {
    "id": "VARCHAR",
    "kind": "VARCHAR",
    "system": "VARCHAR",
    "object": "VARCHAR",
    "records": "VARCHAR[]",
    "field": "VARCHAR",
    "severity": "VARCHAR",
    "detail": "VARCHAR",
    "suggested_fix": "VARCHAR",
    "values": "STRUCT(salesforce VARCHAR, intercom VARCHAR)",
    "confidence": "DOUBLE",
    "rule": "VARCHAR",
    "suggested_survivor": "VARCHAR",
    "extra": "JSON",
    "snapshot": "VARCHAR",
}


def to_parquet(jsonl: Path, out: Path) -> None:
    """The findings of ``jsonl`` as the audit writes findings.parquet (DuckDB COPY, extra as text)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _AUDIT_COLUMNS.items()) + "}"
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(extra AS VARCHAR) AS extra) FROM read_json('{jsonl}', columns = {cols}, "
        f"format = 'newline_delimited')) TO '{out}' (FORMAT parquet)"
    )
    con.close()


def add_quality(jsonl: Path, n: int) -> None:
    """Quality findings appended to the lines only (``combine_findings``: the Parquet file is the audit's)."""
    with jsonl.open("a", encoding="utf-8") as fh:
        for i in range(n):
            row = {
                "id": f"quality-{i}",
                "kind": "quality",
                "records": [f"003{i:07d}"],
                "system": "salesforce",
                "severity": "low",
                "detail": f"expectation failed for jane.doe{i}@example.com, +44 20 7946 {i:04d}",
            }
            fh.write(json.dumps(row) + "\n")


def differing(folder: Path, rel: str) -> int:
    """Rows of the set-based output missing from the Python walk's, and the reverse (JSON compared minified:
    the set-based path writes JSON text compact)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit = '2GB'; SET temp_directory = '{folder / 'spill'}'")

    def rows(walk: str) -> str:
        path = folder / f"published-{walk}" / rel
        if path.suffix == ".parquet":
            minified = "CASE WHEN json_valid(extra) THEN json(extra)::VARCHAR ELSE extra END"
            return f"SELECT * REPLACE ({minified} AS extra) FROM read_parquet('{path}')"
        return f"SELECT json(json)::VARCHAR FROM read_json_objects('{path}', format = 'newline_delimited')"

    a, b = rows("python"), rows("sql")
    count = "SELECT (SELECT count(*) FROM ({} EXCEPT ALL {})) + (SELECT count(*) FROM ({} EXCEPT ALL {}))"
    n = con.execute(count.format(a, b, b, a)).fetchall()[0][0]
    con.close()
    return n


def child(folder: Path, walk: str) -> dict:
    from syncaudit.config import load_config
    from syncaudit.report import masking_parquet, publish
    from syncaudit.report.masking import personal_fields
    from syncaudit.report.publish import publish_folder

    if walk == "python":
        publish._jsonl = python_walk  # type: ignore[assignment]
        masking_parquet.supported = lambda schema: False  # publish._parquet then walks each row (mask_finding)
    if walk == "separate":  # before: each file masked on its own, nothing written from lines already masked
        masking_parquet.reuse_masked_jsonl = lambda *args, **kwargs: False
        publish.reuse_masked_lines = lambda *args, **kwargs: False
    taken = []
    if walk == "once":
        reuse = masking_parquet.reuse_masked_jsonl

        def counted(*args: object, **kwargs: object) -> bool:
            taken.append(reuse(*args, **kwargs))  # type: ignore[arg-type]
            return taken[-1]

        masking_parquet.reuse_masked_jsonl = counted  # type: ignore[assignment]
        lines = publish.reuse_masked_lines

        def counted_lines(*args: object, **kwargs: object) -> bool:
            taken.append(lines(*args, **kwargs))  # type: ignore[arg-type]
            return taken[-1]

        publish.reuse_masked_lines = counted_lines  # type: ignore[assignment]
    personal = personal_fields(load_config(ROOT / "config" / "demo.yaml").mapping.fields)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, t0 = me.ru_utime + me.ru_stime, time.perf_counter()
    done = publish_folder(folder / "work", folder / f"published-{walk}", mask=True, personal=personal)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(me.ru_utime + me.ru_stime - cpu0, 1),
        "peak_gb": round(me.ru_maxrss / 1e6, 2),
        "withheld": done.withheld,
        "reused": taken,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="a findings.jsonl (e.g. bench_scale's out-N folder)")
    ap.add_argument("--findings", type=int, default=1_000_000)
    ap.add_argument("--walk", choices=["sql", "python", "both", "separate", "once"], default="both")
    ap.add_argument("--format", choices=["jsonl", "parquet", "report"], default="jsonl", help="what is published")
    ap.add_argument(
        "--audit-jsonl",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --format report: audit/findings.jsonl too (the audit's part of findings.jsonl), as a run leaves it",
    )
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.walk)))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    try:
        (folder / "work").mkdir()
        published = folder / "work" / "findings.jsonl"
        n = scaled(args.source, args.findings, published)
        if args.format == "parquet":
            (folder / "work" / "audit").mkdir()
            to_parquet(published, folder / "work" / "audit" / "findings.parquet")
            published.unlink()
            published = folder / "work" / "audit" / "findings.parquet"
        if args.format == "report":
            (folder / "work" / "audit").mkdir()
            to_parquet(published, folder / "work" / "audit" / "findings.parquet")
            if args.audit_jsonl:
                shutil.copyfile(published, folder / "work" / "audit" / "findings.jsonl")
            add_quality(published, n // 100)
        mb = published.stat().st_size / 1e6
        cpu = {}
        both = ["separate", "once"] if args.format == "report" else ["python", "sql"]
        for walk in both if args.walk == "both" else [args.walk]:
            load = os.getloadavg()
            proc = subprocess.run(
                [sys.executable, __file__, "--source", str(args.source), "--child", str(folder), "--walk", walk],
                capture_output=True,
                text=True,
            )
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                print(f"failed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:300]}")
                return 1
            r = json.loads(line.removeprefix("RESULT "))
            cpu[walk] = r["cpu_s"]
            print(f"[{walk}] cpus={os.cpu_count()} load before={load} after={os.getloadavg()}")
            print(
                f"[{walk}] {n:,} findings ({published.name}, {mb:.0f} MB) published masked: {r['wall_s']} s wall, "
                f"{r['cpu_s']} s CPU, "
                f"{n / max(r['cpu_s'], 0.1):,.0f} findings per CPU second, peak {r['peak_gb']} GB, "
                f"withheld {r['withheld']}" + (f", written from masked lines: {r['reused']}" if walk == "once" else "")
            )
        if len(cpu) == 2 and args.format == "report":
            print(f"CPU seconds, once / separate: {cpu['once'] / max(cpu['separate'], 0.1):.2f}")
            for rel in ("findings.jsonl", "audit/findings.jsonl", "audit/findings.parquet"):
                if not (folder / "work" / rel).is_file():
                    continue
                a, b = (folder / f"published-{w}" / rel for w in ("separate", "once"))
                print(f"{rel}: the two report folders hold the same bytes: {filecmp.cmp(a, b, shallow=False)}")
        elif len(cpu) == 2:
            print(f"CPU seconds, set-based / Python walk: {cpu['sql'] / max(cpu['python'], 0.1):.2f}")
            rel = published.relative_to(folder / "work").as_posix()
            print(f"rows that differ between the two outputs (both ways): {differing(folder, rel):,}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
