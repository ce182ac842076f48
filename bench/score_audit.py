"""Recall and precision of an audit's findings against the generator's truth.json, in DuckDB (any size).

    .venv/bin/python bench/score_audit.py SNAPSHOT_OR_LOAD_DIR FINDINGS_DIR [--memory-limit 4GB]

bench_accuracy.py scores small generated org pairs in Python; this scores the findings.jsonl of a large run
(bench_scale.py's out-N folder against its snap-N-SEED/truth.json: 1.3 GB of truth at ten million people) with
the same keys: (kind, set of records), one row per kind, plus ``field_drift[owner]`` and the share of the truth's
hard negatives (namesakes, look-alikes, family members) reported inside one duplicate or identity_gap finding.
Prints a table and the peak RSS, wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import AUDIT_KINDS, FIELD_ROWS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("truth_dir", type=Path, help="the snapshot or load folder holding truth.json")
    ap.add_argument("findings_dir", type=Path, help="the audit's output folder holding findings.jsonl")
    ap.add_argument("--memory-limit", default="8GB")
    ap.add_argument("--json", type=Path, default=None, help="also write the scores here")
    args = ap.parse_args()
    truth, found = args.truth_dir / "truth.json", args.findings_dir / "findings.jsonl"
    for p in (truth, found):
        if not p.is_file():
            print(f"score_audit: {p} not found", file=sys.stderr)
            return 2
    t0, c0 = time.perf_counter(), time.process_time()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    kinds = ", ".join(f"'{k}'" for k in AUDIT_KINDS)
    fields = ", ".join(f"'{f}'" for f in FIELD_ROWS)
    # a schema conflict lists a sample of its records at scale: it is scored by its object and field
    recs = "CASE WHEN kind = 'schema_conflict' THEN [object, field] ELSE list_sort(records) END"
    # one row per scoring key: kind (or field_drift[field] / rule_violation[rule]) and the sorted records
    keyed = f"""SELECT kind, recs FROM base WHERE kind IN ({kinds})
        UNION SELECT 'field_drift[' || field || ']', recs FROM base WHERE kind = 'field_drift' AND field IN ({fields})
        UNION SELECT 'rule_violation[' || field || ']', recs FROM base WHERE kind = 'rule_violation'"""
    # The generator streams truth.json one finding per line (crmsandbox.generator.truth_stream): read it as lines,
    # so ten million people's truth (1.3 GB) is never one JSON document in memory; other layouts are read whole.
    cols = """f->>'kind' AS kind, CAST(f->'records' AS VARCHAR[]) AS records, f->>'field' AS field,
        f->>'object' AS object, coalesce(CAST(f->'expected' AS BOOLEAN), true) AS expected,
        coalesce(CAST(f->'hard_negative' AS BOOLEAN), false) AS hard_negative"""
    con.execute(
        f"""CREATE TABLE t_all AS SELECT {cols} FROM (
            SELECT CAST(rtrim(trim(line), ',') AS JSON) AS f FROM read_csv('{truth}', columns = {{'line': 'VARCHAR'}},
                delim = '\x01', quote = '', escape = '', header = false, max_line_size = 100000000)
            WHERE trim(line) LIKE '{{"id"%')"""
    )
    if not con.execute("SELECT count(*) FROM t_all").fetchall()[0][0]:
        con.execute(
            f"""CREATE OR REPLACE TABLE t_all AS SELECT {cols}
            FROM (SELECT unnest(findings) AS f FROM read_json('{truth}', maximum_object_size = {truth.stat().st_size + 1024},
                  columns = {{'findings': 'JSON[]'}}))"""
        )
    con.execute(
        f"""CREATE TABLE t AS WITH base AS (SELECT kind, {recs} AS recs, field FROM t_all WHERE expected)
        {keyed}"""
    )
    con.execute(
        f"""CREATE TABLE f_all AS SELECT kind, records, field, object FROM read_json('{found}',
            columns = {{'kind': 'VARCHAR', 'records': 'VARCHAR[]', 'field': 'VARCHAR', 'object': 'VARCHAR'}}, maximum_object_size = 1e8)"""
    )
    con.execute(f"CREATE TABLE f AS WITH base AS (SELECT kind, {recs} AS recs, field FROM f_all) {keyed}")
    rows = con.execute(
        """SELECT kind, count(*) FILTER (WHERE in_t), count(*) FILTER (WHERE in_f), count(*) FILTER (WHERE in_t AND in_f)
        FROM (SELECT coalesce(t.kind, f.kind) AS kind, t.kind IS NOT NULL AS in_t, f.kind IS NOT NULL AS in_f
              FROM t FULL JOIN f ON t.kind = f.kind AND t.recs = f.recs)
        GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    neg = con.execute(
        """WITH neg AS (SELECT row_number() OVER () AS n, records FROM t_all WHERE hard_negative),
        groups AS (SELECT records AS g, unnest(records) AS rid FROM f_all WHERE kind IN ('duplicate', 'identity_gap'))
        SELECT (SELECT count(*) FROM neg), count(DISTINCT neg.n) FROM neg JOIN groups ON groups.rid = neg.records[1]
        WHERE list_has_all(groups.g, neg.records)"""
    ).fetchall()[0]
    scores = {
        k: {"truth": t, "found": fo, "tp": tp, "recall": tp / t if t else 1.0, "precision": tp / fo if fo else 1.0}
        for k, t, fo, tp in rows
    }
    print(f"{'kind':<40} {'truth':>9} {'found':>9} {'recall':>7} {'precision':>9}")
    for k, s in scores.items():
        if k.startswith("rule_violation["):
            continue
        print(f"{k:<40} {s['truth']:>9} {s['found']:>9} {s['recall']:>7.4f} {s['precision']:>9.4f}")
    print(f"hard negatives reported: {neg[1]} of {neg[0]} ({neg[1] / max(neg[0], 1):.4%})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"scored in {time.perf_counter() - t0:.1f} s wall / {time.process_time() - c0:.1f} s CPU, peak {peak:.2f} GB")
    if args.json:
        args.json.write_text(json.dumps({"scores": scores, "hard_negatives": {"total": neg[0], "reported": neg[1]}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
