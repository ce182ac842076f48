"""``audit.engine: spark``: the audit on local-mode Spark (pyspark from PyPI, Java from Debian) gives the same
findings, with the same stable ids, as on DuckDB; the DuckDB-dialect rewrites mean on Spark what they mean on
DuckDB; a missing pyspark or Java is one clear message with exit code 2."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import duckdb
import pytest
import sqlglot

from audit_fixtures import ROOT
from syncaudit.audit.engine import EngineUnavailableError
from syncaudit.audit.run import run_audit
from syncaudit.config import load_config

spec = importlib.util.spec_from_file_location("bench_accuracy", ROOT / "bench" / "bench_accuracy.py")
bench_accuracy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_accuracy)


def _cfg(tmp_path: Path, engine: str):
    cfg = load_config(ROOT / "config" / "demo.yaml")
    # Small local runs: no whole-stage code generation (compiling it costs more than it saves on a few hundred
    # rows) and no adaptive execution (it runs each shuffle stage as soon as a table is defined).
    conf = {"spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false"}
    spark = cfg.audit.spark.model_copy(
        update={"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "1g", "conf": conf}
    )
    audit = cfg.audit.model_copy(update={"engine": engine, "spark": spark})
    return cfg.model_copy(update={"data_dir": str(tmp_path / f"data-{engine}"), "audit": audit})


@pytest.fixture(scope="module")
def spark_con(tmp_path_factory: pytest.TempPathFactory):
    from syncaudit.audit.spark_sql import SparkConnection, spark_session

    tmp = tmp_path_factory.mktemp("spark")
    con = SparkConnection(spark_session(_cfg(tmp, "spark")), tmp / "work")
    yield con
    con.close()


def test_spark_without_pyspark_is_one_clear_message_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark raises ImportError
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(EngineUnavailableError) as e:
        run_audit(_cfg(tmp_path, "spark"), str(tmp_path / "nowhere"), False)
    assert e.value.exit_code == 2
    assert "pyspark" in str(e.value) and "audit.engine" in str(e.value.hint) + str(e.value)


def test_spark_without_java_is_one_clear_message_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncaudit.audit.spark_sql import spark_session

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    with pytest.raises(EngineUnavailableError) as e:
        spark_session(_cfg(tmp_path, "spark"))
    assert e.value.exit_code == 2 and "Java" in str(e.value)


# DuckDB-only spellings and the rewrites that keep their meaning on Spark (ordered and filtered lists with
# NULLs, DISTINCT, string_agg, SIMILAR TO as a whole-string match, epoch with fractions, json_object, 1-based
# list indexes, UNION ALL BY NAME).
CASES = [
    "SELECT g, list(v ORDER BY k DESC, v) AS l FROM t GROUP BY g ORDER BY g",
    "SELECT g, list(DISTINCT v ORDER BY v) FILTER (WHERE v IS NOT NULL) AS l FROM t GROUP BY g ORDER BY g",
    "SELECT g, string_agg(DISTINCT v, ', ' ORDER BY v DESC) AS s FROM t GROUP BY g ORDER BY g",
    "SELECT g, list(k ORDER BY k NULLS FIRST) AS l FROM t GROUP BY g ORDER BY g",
    "SELECT v, v SIMILAR TO 'a.' AS m FROM t ORDER BY v NULLS LAST, k",
    "SELECT k, epoch(ts) AS e, epoch(TIMESTAMPTZ '2026-12-01T00:00:00+00:00') - epoch(ts) AS age FROM t ORDER BY k",
    "SELECT k, json_object('v', v, 'k', k) AS j FROM t ORDER BY k",
    "SELECT k, list_sort([v, 'zz'])[1] AS first FROM t ORDER BY k",
    "SELECT k, list_position(['ab', 'b'], v) AS p FROM t ORDER BY k",
    "SELECT k, 'at ' || strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS s FROM t ORDER BY k",
    "SELECT g, json_group_array(v) AS a FROM t WHERE k IN (1, 4) GROUP BY g ORDER BY g",
    "SELECT k, v FROM t WHERE k < 2 UNION ALL BY NAME SELECT v, k FROM t WHERE k >= 4 ORDER BY k",
    "WITH u AS (SELECT k, v FROM t WHERE k < 2 UNION ALL BY NAME SELECT g, k FROM t WHERE k >= 4) "
    "SELECT * FROM u ORDER BY k",
    "WITH u AS (SELECT k FROM t WHERE k = 1 UNION ALL BY NAME SELECT k, v FROM t WHERE k = 2 UNION ALL "
    "SELECT k, v FROM t WHERE k = 3 UNION ALL BY NAME SELECT g FROM t WHERE k = 4) SELECT * FROM u ORDER BY k",
]
ROWS = [
    ("a", 1, "ab", "2026-11-30 10:00:00.25"),
    ("a", 2, None, "2026-11-30 11:00:00"),
    ("a", 3, "ac", "2026-11-29 00:00:00"),
    ("a", None, "ab", None),
    ("b", 4, "b", "2026-01-01 00:00:00.5"),
    ("b", 5, "ab", "2026-01-02 00:00:00"),
]


@pytest.mark.parametrize("sql", CASES)
def test_duckdb_sql_means_the_same_on_spark(sql: str, spark_con, tmp_path: Path) -> None:
    values = ", ".join(
        "(" + ", ".join("NULL" if x is None else (repr(x) if not isinstance(x, int) else str(x)) for x in r) + ")"
        for r in ROWS
    )
    create = f"CREATE OR REPLACE TABLE t AS SELECT g, k, v, CAST(ts AS TIMESTAMPTZ) AS ts FROM (VALUES {values}) AS x(g, k, v, ts)"
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute(create)
    spark_con.execute(create)
    expected = duck.execute(sql).fetchall()
    got = spark_con.execute(sql).fetchall()
    assert got == expected, sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def test_generated_org_pair_same_findings_same_ids_on_spark_as_on_duckdb(tmp_path: Path) -> None:
    load = tmp_path / "load"
    bench_accuracy.generate(load, 300, 7)
    duck = run_audit(_cfg(tmp_path, "duckdb"), str(load), tmp_path / "out-duckdb")
    spark = run_audit(_cfg(tmp_path, "spark"), str(load), tmp_path / "out-spark")
    q = (
        "SELECT id, kind, system, object, list_sort(records), field, severity, detail, suggested_fix, rule, "
        "round(confidence, 6) FROM findings_final ORDER BY id"
    )
    expected = duck.con.execute(q).fetchall()
    got = spark.con.execute(q).fetchall()
    kinds = {r[1] for r in expected}
    assert {"duplicate", "orphan", "identity_gap", "field_drift"} <= kinds and len(expected) > 40
    assert [r[0] for r in got] == [r[0] for r in expected]  # the same findings by the same stable ids
    assert got == expected, [(g, e) for g, e in zip(got, expected, strict=True) if g != e][:5]
    assert spark.metrics["links"] == duck.metrics["links"]
    # the written files agree too (Spark's part files become the same findings.jsonl)
    ids = [line.split('"id":"')[1][:16] for line in spark.paths["jsonl"].read_text().splitlines()]
    assert sorted(ids) == sorted(r[0] for r in expected)


STATEMENTS = [
    "UPDATE t SET v = upper(v), k = k + 100 WHERE g = 'b'",
    "UPDATE t SET v = s.w FROM (SELECT 3 AS k2, 'zz' AS w) s WHERE t.k = s.k2",
    "DELETE FROM t WHERE k IN (SELECT 2) OR v IS NULL",
    "ALTER TABLE t ADD COLUMN extra VARCHAR",
]


@pytest.mark.parametrize("on_cluster", [False, True], ids=["local-checkpoint", "parquet-work-dir"])
@pytest.mark.parametrize("stmt", STATEMENTS)
def test_duckdb_statements_change_the_table_alike_on_spark(
    stmt: str, on_cluster: bool, spark_con, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark_con, "local", not on_cluster)  # off local mode, tables are Parquet in work_dir
    create = (
        "CREATE OR REPLACE TABLE t AS SELECT * FROM (VALUES ('a', 1, 'x'), ('a', 2, NULL), ('a', 3, 'y'), "
        "('b', 4, 'z')) AS x(g, k, v)"
    )
    duck = duckdb.connect()
    before = len(list(spark_con.work_dir.glob("t-*")))
    for con in (duck, spark_con):
        con.execute(create)
        con.execute(stmt)
    q = "SELECT * FROM t ORDER BY k"
    assert spark_con.execute(q).fetchall() == duck.execute(q).fetchall()
    assert (len(list(spark_con.work_dir.glob("t-*"))) > before) == on_cluster


def test_json_merge_patch_and_negative_index_on_spark(spark_con) -> None:
    q = (
        "SELECT json_merge_patch(coalesce(NULL, '{}'::JSON), json_object('u', ['a', 'b'])) AS m1, "
        "json_merge_patch(json_object('x', 1), json_object('u', ['a'])) AS m2, ['p', 'q', 'r'][-1] AS last"
    )
    got = spark_con.execute(q).fetchall()
    exp_rows = duckdb.connect().execute(q).fetchall()
    assert [(str(a).replace(" ", ""), str(b).replace(" ", ""), c) for a, b, c in got] == [
        (str(a).replace(" ", ""), str(b).replace(" ", ""), c) for a, b, c in exp_rows
    ]


def test_arrow_rows_from_python_are_appended_alike(spark_con) -> None:
    import pyarrow as pa

    from syncaudit.audit.engine import insert_arrow

    duck = duckdb.connect()
    rows = pa.table({"rid": ["r2", "r1"], "cluster": ["c", None]})
    for con in (duck, spark_con):
        con.execute("CREATE OR REPLACE TABLE cc(rid VARCHAR, cluster VARCHAR)")
        con.execute("INSERT INTO cc VALUES ('r0', 'c0')")
        insert_arrow(con, "cc", rows)
    q = "SELECT * FROM cc ORDER BY rid"
    assert spark_con.execute(q).fetchall() == duck.execute(q).fetchall() == [("r0", "c0"), ("r1", None), ("r2", "c")]
