"""The suites run out of core: GX sees bounded batches, and the results are those of one whole-table pass."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from quality_snapshot import write_snapshot
from syncaudit.config import Config, load_config
from syncaudit.quality import run as run_module
from syncaudit.quality.datasets import open_tables, tables_from_folder
from syncaudit.quality.results import build_findings, build_metrics
from syncaudit.quality.run import run_quality
from syncaudit.quality.suites import load_suites

ROOT = Path(__file__).resolve().parents[1]


def _cfg(data_dir: Path) -> Config:
    cfg = load_config(ROOT / "config" / "demo.yaml")
    return cfg.model_copy(update={"data_dir": str(data_dir)})


def _record_batches(monkeypatch) -> list[int]:
    """Spy on the row counts of the frames GX is given."""
    sizes: list[int] = []
    real = run_module._run_batch

    def spy(batch_def, what, df, *args, **kwargs):
        sizes.append(len(df))
        return real(batch_def, what, df, *args, **kwargs)

    monkeypatch.setattr(run_module, "_run_batch", spy)
    return sizes


def _outcomes(run) -> list[dict]:
    return [dict(o.__dict__) for o in run.outcomes()]


def test_committed_suites_in_small_batches_give_the_whole_table_results(tmp_path: Path, monkeypatch) -> None:
    """Every field of every outcome (counts, percentages, verdicts, sample ids) and every finding match the
    one-pass run, with batches of 14 rows over 40 (the duplicate Ids on rows 13 and 14 fall in two batches in id order)."""
    write_snapshot(tmp_path, 40)
    cfg = _cfg(tmp_path)
    whole = run_quality(cfg, open_tables(cfg), *load_suites(ROOT / "expectations"))
    sizes = _record_batches(monkeypatch)
    monkeypatch.setattr(run_module, "BATCH_ROWS", 14)
    batched = run_quality(cfg, open_tables(cfg), *load_suites(ROOT / "expectations"))
    assert sizes and max(sizes) <= 14 + 2  # a batch grows only to keep a group of equal values whole
    assert _outcomes(batched) == _outcomes(whole)
    assert build_findings(batched, cfg) == build_findings(whole, cfg)
    assert [s.rows for s in batched.suites] == [s.rows for s in whole.suites]
    drop = ("seconds",)
    m1, m2 = build_metrics(whole), build_metrics(batched)
    for m in (m1, m2):
        m.pop("seconds")
        for s in m["suites"].values():
            for k in drop:
                s.pop(k)
    assert m1 == m2
    assert sum(o.success is False for o in batched.outcomes()) == 15


def test_duplicates_across_batches_and_groups_larger_than_a_batch(tmp_path: Path, monkeypatch) -> None:
    """Duplicates far apart in id order, one value on 2,500 rows (larger than a batch), missing keys and a
    compound key with a missing part: GX's counts over bounded batches equal a count over the whole table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 20_000
    ids = [f"003{i:015d}" for i in range(n)]

    def key(i: int) -> str | None:
        if i % 50 == 0:
            return None  # never a duplicate to GX
        if i % 8 == 1:
            return "same"  # 2,500 rows share it
        return f"k{i % 9_000}" if i % 7 == 0 else f"u{i}"  # pairs far apart in id order

    keys = [key(i) for i in range(n)]
    a = [f"a{i % 3_000}" if i % 11 == 0 else f"a{i}" for i in range(n)]
    b = [None if i % 13 == 0 else f"b{i % 3_000}" if i % 11 == 0 else "b" for i in range(n)]
    snap = tmp_path / "snap"
    (snap / "salesforce").mkdir(parents=True)
    table = pa.table({"Id": ids, "Key": keys, "A": a, "B": b})
    pq.write_table(table, snap / "salesforce" / "Contact.parquet")
    suite = {
        "name": "s",
        "meta": {"dataset": "sf_Contact", "id_columns": ["Id"]},
        "expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "Key"}},
            {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["A", "B"]}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "Key", "mostly": 0.97}},
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 19_999, "max_value": 20_000}},
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(suite))
    cfg = _cfg(tmp_path)
    whole = run_quality(cfg, tables_from_folder(snap), *load_suites(tmp_path))
    sizes = _record_batches(monkeypatch)
    monkeypatch.setattr(run_module, "BATCH_ROWS", 1_000)
    run = run_quality(cfg, tables_from_folder(snap), *load_suites(tmp_path))
    unique, compound, not_null, count = run.suites[0].outcomes
    counts = Counter(k for k in keys if k is not None)
    assert unique.unexpected_count == sum(c for c in counts.values() if c > 1)
    assert unique.element_count == n and unique.success is False
    pairs = Counter(zip(a, b, strict=True))
    assert compound.unexpected_count == sum(c for c in pairs.values() if c > 1)
    assert not_null.unexpected_count == n // 50 and not_null.success is True  # 2 % missing, mostly 0.97
    assert count.success is True and count.observed_value == n
    assert _outcomes(run) == _outcomes(whole)
    assert {r["Id"] for r in unique.sample_ids} <= {ids[i] for i, k in enumerate(keys) if counts.get(k, 0) > 1}
    # Memory holds a batch, not the table: only the value shared by 2,500 rows makes one batch bigger.
    assert max(sizes) < n and sorted(sizes)[-2] <= 1_000 + 50


@pytest.mark.parametrize("batch_rows", [3, 1_000])
def test_an_empty_table_still_runs_every_expectation(tmp_path: Path, monkeypatch, batch_rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    snap = tmp_path / "snap"
    (snap / "salesforce").mkdir(parents=True)
    empty = pa.table({"Id": pa.array([], pa.string()), "Email": pa.array([], pa.string())})
    pq.write_table(empty, snap / "salesforce" / "Lead.parquet")
    suite = {
        "name": "s",
        "meta": {"dataset": "sf_Lead", "id_columns": ["Id"]},
        "expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "Email"}},
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "Email", "regex": "@"}},
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        ],
    }
    (tmp_path / "s.json").write_text(json.dumps(suite))
    monkeypatch.setattr(run_module, "BATCH_ROWS", batch_rows)
    run = run_quality(_cfg(tmp_path), tables_from_folder(snap), *load_suites(tmp_path))
    unique, regex, count = run.suites[0].outcomes
    assert run.problems == [] and run.suites[0].rows == 0
    assert unique.success is True and regex.success is True and unique.element_count == 0
    assert count.success is False and count.observed_value == 0


def test_too_small_a_memory_limit_stops_with_the_setting_to_change(tmp_path: Path, monkeypatch) -> None:
    """DuckDB's sort runs within audit.memory_limit; one that cannot fit even spilling names the setting."""
    from syncaudit.config import AuditOptions
    from syncaudit.duckdb_resources import OutOfMemoryError, configure_duckdb

    write_snapshot(tmp_path, 3_000)
    suites, problems = load_suites(ROOT / "expectations")
    cfg = _cfg(tmp_path)
    cfg = cfg.model_copy(update={"audit": AuditOptions(memory_limit="2MB", threads=1, temp_dir=str(tmp_path / "s"))})
    tables = open_tables(cfg)
    configure_duckdb(tables.con, cfg, keep_order=True)
    monkeypatch.setattr(run_module, "BATCH_ROWS", 500)
    with pytest.raises(OutOfMemoryError) as err:
        run_quality(cfg, tables, [s for s in suites if s.name == "sf_Contact"], problems)
    assert err.value.exit_code == 2 and "audit.memory_limit" in str(err.value)


def test_an_order_dependent_expectation_sees_the_row_across_a_batch_boundary(tmp_path: Path, monkeypatch) -> None:
    """`increasing` compares each row with the one before: a drop right at a batch boundary still counts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 3_000
    seq = list(range(n))
    seq[1_000] = 500  # lower than row 999: the first row of the second batch
    snap = tmp_path / "snap"
    (snap / "salesforce").mkdir(parents=True)
    ids = [f"003{i:015d}" for i in range(n)]
    pq.write_table(pa.table({"Id": ids, "Seq": seq}), snap / "salesforce" / "Task.parquet")
    suite = {
        "name": "s",
        "meta": {"dataset": "sf_Task", "id_columns": ["Id"]},
        "expectations": [{"type": "expect_column_values_to_be_increasing", "kwargs": {"column": "Seq"}}],
    }
    (tmp_path / "s.json").write_text(json.dumps(suite))
    whole = run_quality(_cfg(tmp_path), tables_from_folder(snap), *load_suites(tmp_path))
    monkeypatch.setattr(run_module, "BATCH_ROWS", 1_000)
    run = run_quality(_cfg(tmp_path), tables_from_folder(snap), *load_suites(tmp_path))
    [o] = run.suites[0].outcomes
    assert o.success is False and o.unexpected_count >= 1 and {"Id": ids[1_000]} in o.sample_ids
    assert _outcomes(run) == _outcomes(whole)
