"""The audit's DuckDB-dialect statements on Spark: a connection-shaped object over a SparkSession.

Each statement is parsed with SQLGlot (``read="duckdb"``), rewritten where the dialects differ in meaning (see
:func:`to_spark`), and run as Spark SQL. ``CREATE TABLE ... AS``, ``INSERT INTO`` and ``CREATE TABLE (...)``
write Parquet under the work folder and register a temporary view of that name, so every intermediate table is
materialized once (lineage cut, out of core, on storage every executor reaches); in local mode they are lazy local
checkpoints instead (lineage cut, rows computed once by the first read, no Spark job per statement); views stay
lazy; ``DESCRIBE``,
``DROP`` and queries answer like DuckDB's (rows as tuples, structs as dicts, ``df()`` as pandas).
Python scalar functions registered with ``create_function`` become Spark UDFs of the same name.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import re
import shutil
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from syncaudit.config import Config

log = logging.getLogger(__name__)


def require_spark() -> None:
    """pyspark importable and a Java runtime present, or one clear message (exit 2) saying what to install."""
    from syncaudit.audit.engine import EngineUnavailableError

    try:
        import pyspark.sql  # noqa: F401
        from splink.backends.spark import similarity_jar_location  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailableError(
            f"audit.engine is spark, but pyspark cannot be imported ({exc})",
            key="audit.engine",
            hint="pip install pyspark (the version in requirements.txt) and Java 17 "
            "(apt-get install openjdk-17-jre-headless), or set audit.engine: duckdb",
        ) from None
    if not os.environ.get("JAVA_HOME") and not shutil.which("java"):
        raise EngineUnavailableError(
            "audit.engine is spark, but no Java runtime was found (JAVA_HOME unset, no java on PATH)",
            key="audit.engine",
            hint="install Java 17 (apt-get install openjdk-17-jre-headless) or set audit.engine: duckdb",
        )


def spark_session(cfg: Config) -> Any:
    """The Spark session: the running one (spark-submit, Databricks, EMR) or one built from ``audit.spark``.

    Splink's similarity functions (jaro_winkler, ...) come from the jar shipped with Splink; it is added to a
    session built here. A session that exists already must have it (docs/spark.md)."""
    from syncaudit.audit.engine import EngineUnavailableError

    require_spark()
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    opts = cfg.audit.spark
    active = SparkSession.getActiveSession()
    if active is not None:
        _configure(active, opts)
        return active
    b = SparkSession.builder.appName("syncaudit-audit")
    if opts.master:
        b = b.master(opts.master)
    if opts.driver_memory:
        b = b.config("spark.driver.memory", opts.driver_memory)
    b = b.config("spark.jars", similarity_jar_location()).config("spark.sql.session.timeZone", "UTC")
    # The Python workers run the UDFs: in a session built here, this interpreter (it has syncaudit).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    b = (
        b.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "false")
    )
    for k, v in opts.conf.items():
        b = b.config(k, v)
    try:
        spark = b.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - the JVM did not start: one message, no Java stack
        raise EngineUnavailableError(
            f"audit.engine is spark, but the Spark session did not start: {str(exc).splitlines()[0][:300]}",
            key="audit.spark",
            hint="check Java 17 (java -version), audit.spark.master and audit.spark.conf; or set audit.engine: duckdb",
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    _configure(spark, opts)
    return spark


def _configure(spark: Any, opts: Any) -> None:
    if opts.shuffle_partitions:
        spark.conf.set("spark.sql.shuffle.partitions", str(opts.shuffle_partitions))
    # DuckDB's semantics the audit relies on: UTC times, NULL (not an error) for a failed cast or a bad index.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.ansi.enabled", "false")
    spark.conf.set("spark.sql.jsonGenerator.ignoreNullFields", "false")  # json_object keeps "k": null


def _nfc(v: str | None) -> str | None:
    return unicodedata.normalize("NFC", v) if isinstance(v, str) else None


def _strip_accents(v: str | None) -> str | None:
    """DuckDB's strip_accents: the letters without their combining marks."""
    if not isinstance(v, str):
        return None
    return unicodedata.normalize(
        "NFC", "".join(c for c in unicodedata.normalize("NFD", v) if not unicodedata.combining(c))
    )


def _register_text_functions(spark: Any) -> None:
    """DuckDB's text functions that Spark lacks, as vectorized (Arrow) UDFs of the same name."""
    from pyspark.sql.functions import udf

    spark.udf.register("nfc_normalize", udf(_nfc, "string", useArrow=True))
    spark.udf.register("strip_accents", udf(_strip_accents, "string", useArrow=True))


# ``SELECT count(*) FROM t``: asked before and after each insert into the findings; answered once per version.
_COUNT = re.compile(r'^\s*SELECT\s+count\(\*\)\s+FROM\s+"?(\w+)"?\s*$', re.IGNORECASE)


class SparkResult:
    """The rows of a query, shaped like DuckDB's result (tuples; structs as dicts; lists as lists)."""

    def __init__(self, df: Any = None) -> None:
        self._df = df
        self._rows: list[tuple] | None = None

    def _all(self) -> list[tuple]:
        if self._rows is None:
            self._rows = [] if self._df is None else [tuple(_py(v) for v in r) for r in self._df.collect()]
        return self._rows

    def fetchall(self) -> list[tuple]:
        return list(self._all())

    def fetchone(self) -> tuple | None:
        rows = self._all()
        return rows[0] if rows else None

    def df(self) -> Any:
        import pandas as pd

        cols = [] if self._df is None else self._df.columns
        return pd.DataFrame(self._all(), columns=cols)

    @property
    def description(self) -> list[tuple]:
        return [] if self._df is None else [(c, None, None, None, None, None, None) for c in self._df.columns]


def _py(v: Any) -> Any:
    from pyspark.sql import Row

    if isinstance(v, Row):
        return {k: _py(x) for k, x in v.asDict(recursive=False).items()}
    if isinstance(v, list):
        return [_py(x) for x in v]
    if isinstance(v, dict):
        return {k: _py(x) for k, x in v.items()}
    return v


class SparkConnection:
    """DuckDB-dialect SQL on a SparkSession; tables are Parquet folders under ``work_dir``."""

    def __init__(self, spark: Any, work_dir: Path) -> None:
        self.spark = spark
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # The tables live as long as the connection's user needs them (a notebook reads them after the audit):
        # the folder goes when this process ends, or at close().
        atexit.register(shutil.rmtree, self.work_dir, True)
        self._seq = itertools.count()
        self._views: set[str] = set()
        self._udfs: set[str] = set()
        self._cached: list[Any] = []  # local mode: every table version, cached until close()
        self._tables: set[str] = set()  # the names that are tables (not views): their rows change only here
        self._counts: dict[str, int] = {}  # count(*) of a table since its last change
        self.local = spark.sparkContext.master.startswith("local")
        _register_text_functions(spark)

    # -- what the audit calls ---------------------------------------------------------------------------------
    def execute(self, sql: str, params: list | tuple | None = None) -> SparkResult:
        t0 = time.perf_counter()
        try:
            return self._execute(sql, params)
        finally:
            log.debug("%.2f s  %s", time.perf_counter() - t0, " ".join(sql.split())[:100])

    def _execute(self, sql: str, params: list | tuple | None) -> SparkResult:
        if params:
            sql = _bind(sql, params)
        counted = _COUNT.match(sql)
        if counted and counted.group(1) in self._tables:  # a table's rows change only by our statements
            if counted.group(1) not in self._counts:
                self._counts[counted.group(1)] = self.table(counted.group(1)).count()
            return _rows_result(self.spark, [(self._counts[counted.group(1)],)])
        stmt = sqlglot.parse_one(sql, read="duckdb")
        if isinstance(stmt, exp.Create):
            return self._create(stmt)
        if isinstance(stmt, exp.Insert):
            return self._insert(stmt)
        if isinstance(stmt, exp.Delete):  # keep the rows the condition does not hold for
            name = _table_name(stmt.this)
            cond = stmt.args["where"].this
            keep = exp.select("*").from_(name).where(exp.not_(exp.func("coalesce", cond, exp.false())))
            self._materialize(name, self._query(keep))
            return SparkResult()
        if isinstance(stmt, exp.Alter):  # ADD COLUMN c TYPE: NULLs
            name = _table_name(stmt.this)
            add = [a for a in stmt.args.get("actions") or [] if isinstance(a, exp.ColumnDef)]
            sel = exp.select("*", *(exp.alias_(exp.cast(exp.null(), _spark_type(c.args["kind"])), c.name) for c in add))
            self._materialize(name, self._query(sel.from_(name)))
            return SparkResult()
        if isinstance(stmt, exp.Update):
            return self._update(stmt)
        if isinstance(stmt, exp.Drop):
            for t in stmt.args.get("tables") or [stmt.this]:
                self._drop(t.name)
            return SparkResult()
        if isinstance(stmt, exp.Describe):
            df = self.table(stmt.this.name)
            return _rows_result(self.spark, [(f.name, _duckdb_type(f.dataType)) for f in df.schema.fields])
        if isinstance(stmt, exp.Set | exp.Command) and sql.lstrip().upper().startswith(("SET ", "PRAGMA ")):
            return SparkResult()
        return SparkResult(self._query(stmt))

    def _query(self, q: exp.Expression) -> Any:
        """A query's DataFrame; DuckDB's ``UNION ALL BY NAME`` (no Spark SQL spelling) is ``unionByName``."""
        if isinstance(q, exp.Union) and q.args.get("by_name") and not q.args.get("distinct"):
            left, right = self._query(q.this), self._query(q.expression)
            return left.unionByName(right, allowMissingColumns=True)
        return self.spark.sql(to_spark(q.transform(self._by_name)))

    def _by_name(self, node: exp.Expression) -> exp.Expression:
        """A ``UNION ALL BY NAME`` inside a query (a CTE, a subquery): each branch selects every column of the
        union by name (NULL where it has none), then a plain ``UNION ALL``. The branches' columns come from
        Spark's analysis of each branch on its own."""
        if not (isinstance(node, exp.Union) and node.args.get("by_name") and not node.args.get("distinct")):
            return node
        branches: list[exp.Expression] = []

        def flatten(n: exp.Expression) -> None:
            if isinstance(n, exp.Union) and n.args.get("by_name") and not n.args.get("distinct"):
                flatten(n.this)
                flatten(n.expression)
            else:
                branches.append(n)

        flatten(node)
        branches = [b.transform(self._by_name) for b in branches]  # a branch may hold a by-name union itself
        cols = [self.spark.sql(to_spark(b)).columns for b in branches]
        names: list[str] = []
        for cs in cols:
            names += [c for c in cs if c.lower() not in {n.lower() for n in names}]
        selects = []
        for b, cs in zip(branches, cols, strict=True):
            have = {c.lower() for c in cs}
            proj = [
                exp.column(n, quoted=True) if n.lower() in have else exp.alias_(exp.null(), n, quoted=True)
                for n in names
            ]
            selects.append(exp.select(*proj).from_(b.subquery("__sa_by_name")))
        out = selects[0]
        for sel in selects[1:]:
            out = exp.union(out, sel, distinct=False)
        return out

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        stmt = sqlglot.parse_one(sql, read="duckdb")
        if not isinstance(stmt, exp.Insert) or not isinstance(stmt.expression, exp.Values):
            raise ValueError(f"executemany takes INSERT ... VALUES only: {sql[:80]}")
        name = _table_name(stmt.this)
        target = self.table(name)
        new = self.spark.createDataFrame([tuple(r) for r in rows], schema=target.schema)
        self._materialize(name, self._appended(target, new))

    def insert_arrow(self, name: str, rows: Any) -> None:
        """Append an Arrow table (columns in the table's order) to ``name``."""
        target = self.table(name)
        data = [tuple(r.values()) for r in rows.to_pylist()]  # not via pandas: a missing string stays None
        self._materialize(name, self._appended(target, self.spark.createDataFrame(data, schema=target.schema)))

    def create_function(self, name: str, fn: Any, *_a: Any, **_k: Any) -> None:
        from pyspark.sql.functions import udf

        def nulls_as_none(*args: Any) -> Any:  # Arrow hands a missing value over as NaN
            return fn(*(None if isinstance(a, float) and a != a else a for a in args))

        self.spark.udf.register(name, udf(nulls_as_none, "string", useArrow=True))
        self._udfs.add(name)

    def remove_function(self, name: str) -> None:
        if name not in self._udfs:
            raise duckdb.CatalogException(f"function {name} does not exist")

    def table(self, name: str) -> Any:
        """The Spark DataFrame of a table or view (DuckDB's CatalogException when there is none)."""
        if not self.spark.catalog.tableExists(name):
            raise duckdb.CatalogException(f"Table with name {name} does not exist!")
        return self.spark.table(name)

    def splink_api(self) -> Any:
        from splink.backends.spark import SparkAPI

        if not self.spark.sparkContext.getCheckpointDir():  # Splink writes its own tables under it
            self.spark.sparkContext.setCheckpointDir(str(self.work_dir / "splink"))
        return SparkAPI(spark_session=self.spark, register_udfs_automatically=True)

    def write_parquet(self, select_sql: str, path: Path) -> None:
        """Write a query's rows as a Parquet folder (Spark's part files) at ``path``."""
        self.spark.sql(to_spark(sqlglot.parse_one(select_sql, read="duckdb"))).write.mode("overwrite").parquet(
            str(path)
        )

    def close(self) -> None:
        for v in list(self._views):
            self.spark.catalog.dropTempView(v)
        self._views.clear()
        for df in self._cached:
            df.unpersist()
        self._cached.clear()

    # -- statements -------------------------------------------------------------------------------------------
    def _create(self, stmt: exp.Create) -> SparkResult:
        kind = (stmt.args.get("kind") or "").upper()
        target = stmt.this
        if isinstance(target, exp.Schema) and stmt.expression is None:  # CREATE TABLE t (col TYPE, ...): empty
            cols = [c for c in target.expressions if isinstance(c, exp.ColumnDef)]
            select = exp.select(
                *(exp.alias_(exp.cast(exp.null(), _spark_type(c.args["kind"])), c.name, quoted=True) for c in cols)
            ).where(exp.false())
            self._materialize(_table_name(target), self.spark.sql(select.sql(dialect="spark")))
            return SparkResult()
        name = _table_name(target)
        df = self._query(stmt.expression)
        if kind == "VIEW":
            df.createOrReplaceTempView(name)
            self._views.add(name)
            self._tables.discard(name)
            self._counts.pop(name, None)
        else:
            self._materialize(name, df)
        return SparkResult()

    def _insert(self, stmt: exp.Insert) -> SparkResult:
        target = stmt.this
        name = _table_name(target)
        existing = self.table(name)
        cols = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else list(existing.columns)
        new = self._query(stmt.expression).toDF(*cols)
        types = {f.name: f.dataType for f in existing.schema.fields}
        new = new.select(*(new[c].cast(types[c]).alias(c) for c in cols))
        self._materialize(name, self._appended(existing, new))
        return SparkResult()

    def _update(self, stmt: exp.Update) -> SparkResult:
        """``UPDATE t SET c = e, ... [FROM s] WHERE w``: each row of t that w matches (with the first row of s it
        matches) gets the new values, computed from the old ones; the table is rewritten."""
        name = _table_name(stmt.this)
        target = self.table(name)
        cols = list(target.columns)
        rid = "__sa_rid"
        self._materialize("__sa_upd", target.withColumn(rid, _row_id()))
        sets = [(e.this.name, e.expression) for e in stmt.expressions]
        matched = exp.select(
            exp.column(rid, table=name), *(exp.alias_(v, f"__sa_v{i}") for i, (_, v) in enumerate(sets))
        ).from_(exp.to_table("__sa_upd").as_(name))
        src = stmt.args.get("from_") or stmt.args.get("from")
        if src is not None:
            matched = matched.join(src.this.copy(), join_type="cross")
        where = stmt.args.get("where")
        if where is not None:
            matched = matched.where(where.this.copy())
        self.spark.sql(to_spark(matched)).dropDuplicates([rid]).createOrReplaceTempView("__sa_upd_m")
        new_cols = {c: i for i, (c, _) in enumerate(sets)}
        proj = ", ".join(
            f"CASE WHEN m.{rid} IS NOT NULL THEN m.__sa_v{new_cols[c]} ELSE u.`{c}` END AS `{c}`"
            if c in new_cols
            else f"u.`{c}`"
            for c in cols
        )
        df = self.spark.sql(f"SELECT {proj} FROM __sa_upd u LEFT JOIN __sa_upd_m m ON m.{rid} = u.{rid}")
        types = {f.name: f.dataType for f in target.schema.fields}
        self._materialize(name, df.select(*(df[c].cast(types[c]).alias(c) for c in cols)))
        self._drop("__sa_upd")
        self._drop("__sa_upd_m")
        return SparkResult()

    def _drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)
        self._tables.discard(name)
        self._counts.pop(name, None)

    def _appended(self, table: Any, rows: Any) -> Any:
        """``table`` with ``rows`` appended, in as many partitions as a shuffle makes: a table many INSERTs
        build (the findings, the drift pairs) would otherwise carry every earlier statement's partitions, and
        each later read would run a task per partition."""
        parts = int(self.spark.conf.get("spark.sql.shuffle.partitions"))
        return table.unionByName(rows, allowMissingColumns=True).coalesce(parts)

    def _materialize(self, name: str, df: Any) -> None:
        """Write ``df`` as Parquet (a new folder per version: a view defined on the old one still reads it); in
        local mode, where every block is on this machine anyway, a local checkpoint (no file commit) instead."""
        self._tables.add(name)
        self._counts.pop(name, None)
        if self.local:
            # A lazy local checkpoint: the plan is cut here (later plans stay shallow), the rows are computed
            # once, by the first query that reads them, and kept in memory (or on local disk) after that, so a
            # later read never recomputes them and sees the same rows. No Spark job runs for the statement.
            df = df.localCheckpoint(eager=False)
            self._cached.append(df)
            df.createOrReplaceTempView(name)
            self._views.add(name)
            return
        path = self.work_dir / f"{name}-{next(self._seq)}"
        df.write.mode("overwrite").parquet(str(path))
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)
        self._views.add(name)


def _row_id() -> Any:
    from pyspark.sql.functions import monotonically_increasing_id

    return monotonically_increasing_id()


def _rows_result(spark: Any, rows: list[tuple]) -> SparkResult:
    res = SparkResult()
    res._rows = rows  # noqa: SLF001 - a result built here, not by a query
    return res


_DUCKDB_NAMES = {"TEXT": "VARCHAR", "INT": "INTEGER", "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "REAL": "FLOAT"}


def _duckdb_type(t: Any) -> str:
    """A Spark column type as DuckDB's DESCRIBE names it (string: VARCHAR, timestamp: TIMESTAMP WITH TIME ZONE,
    array<string>: VARCHAR[]), so code that reads column types reads the same on both engines."""
    sql = exp.DataType.build(t.simpleString(), dialect="spark").sql(dialect="duckdb")
    return re.sub(r"\b(TEXT|INT|TIMESTAMPTZ|REAL)\b", lambda m: _DUCKDB_NAMES[m.group(1)], sql)


def _table_name(node: exp.Expression) -> str:
    return (node.this if isinstance(node, exp.Schema) else node).name


def _bind(sql: str, params: list | tuple) -> str:
    """Inline ``?`` parameters as SQL literals (the audit passes a few strings and numbers)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    it = iter(params)

    def sub(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            return _literal(next(it))
        return node

    return tree.transform(sub).sql(dialect="duckdb")


def _literal(v: Any) -> exp.Expression:
    if v is None:
        return exp.null()
    if isinstance(v, bool):
        return exp.true() if v else exp.false()
    if isinstance(v, int | float):
        return exp.Literal.number(v)
    return exp.Literal.string(str(v))


def _spark_type(t: exp.DataType) -> exp.DataType:
    """DuckDB column types in Spark: JSON is text, TIMESTAMPTZ is Spark's (UTC session) TIMESTAMP."""

    def sub(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DataType):
            if node.this == exp.DataType.Type.JSON:
                return exp.DataType.build("TEXT")
            if node.this == exp.DataType.Type.TIMESTAMPTZ:
                return exp.DataType.build("TIMESTAMP")
        return node

    return t.copy().transform(sub)


def to_spark(stmt: exp.Expression) -> str:
    """One DuckDB query as Spark SQL: SQLGlot's transpilation plus the rewrites where the meaning differs."""
    tree, before = stmt.copy(), None
    for _ in range(8):  # SQLGlot does not descend into a node a rewrite replaced: repeat until nothing changes
        tree = tree.transform(_rewrite)
        now = tree.sql(dialect="spark")
        if now == before:
            return now
        before = now
    return before


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


# DuckDB functions Spark spells otherwise (SQLGlot keeps the DuckDB name).
_RENAMED = {"list_intersect": "array_intersect"}


def _rewrite(node: exp.Expression) -> exp.Expression:
    # DuckDB's read_parquet('path') in FROM: Spark's parquet.`path`.
    if isinstance(node, exp.Table) and isinstance(node.this, exp.ReadParquet | exp.Anonymous):
        fn = node.this
        fname = fn.sql_name().lower() if isinstance(fn, exp.ReadParquet) else str(fn.this).lower()
        if fname == "read_parquet":
            path = fn.expressions[0].name if fn.expressions else fn.this.name
            return exp.Table(
                this=exp.to_identifier(path, quoted=True), db=exp.to_identifier("parquet"), alias=node.args.get("alias")
            )
    if isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.JSON, exp.DataType.Type.TIMESTAMPTZ):
        if node.to.this == exp.DataType.Type.JSON:  # JSON is text on Spark
            return node.this
        return exp.cast(node.this, "TIMESTAMP")
    if isinstance(node, exp.DataType):
        return _spark_type(node)
    if isinstance(node, exp.SimilarTo):  # a whole-string regular expression match
        pattern = node.expression
        if isinstance(pattern, exp.Literal):
            pattern = exp.Literal.string(f"^(?:{pattern.this})$")
        return exp.RegexpLike(this=node.this, expression=pattern)
    if isinstance(node, exp.JSONObject):  # json_object(k, v, ...): Spark writes a struct as JSON
        pairs = []
        for kv in node.expressions:
            pairs += [kv.this, kv.expression]
        return _fn("to_json", _fn("named_struct", *pairs))
    if isinstance(node, exp.ArrayOverlaps):
        return _fn("arrays_overlap", node.this, node.expression)
    if isinstance(node, exp.Anonymous | exp.ArrayPosition) and (
        isinstance(node, exp.ArrayPosition) or str(node.this).lower() in ("list_position", "list_indexof")
    ):  # 1-based, NULL when absent (Spark's array_position says 0)
        args = [node.this, node.expression] if isinstance(node, exp.ArrayPosition) else node.expressions
        return exp.func("nullif", _fn("array_position", *args), exp.Literal.number(0))
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "json_group_array":
        return _fn("to_json", _fn("collect_list", *node.expressions))
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "json_group_object":
        k, v = node.expressions
        return _fn("to_json", _fn("map_from_entries", _fn("collect_list", _fn("struct", k, v))))
    if isinstance(node, exp.Anonymous) and str(node.this).lower() in _RENAMED:
        return _fn(_RENAMED[str(node.this).lower()], *node.expressions)
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg | exp.GroupConcat):
        return _list_agg(node.this, node.expression.this)  # agg FILTER (WHERE c): the filter moves inside
    if isinstance(node, exp.ArrayAgg | exp.GroupConcat):
        return _list_agg(node, None)
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Neg):
        # DuckDB's l[-1] (the last element; SQLGlot made it the 0-based -2): Spark's element_at counts from 1
        n = int(node.expressions[0].this.this)
        return _fn("element_at", node.this, exp.Literal.number(-(n - 1)))
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "json_merge_patch":
        # two JSON objects as text (the audit merges objects with distinct keys): the second's keys appended
        a, b = node.expressions
        merged = sqlglot.parse_one(
            "CASE WHEN __a IS NULL OR __a = '{}' THEN __b WHEN __b IS NULL OR __b = '{}' THEN __a "
            "ELSE concat(substr(__a, 1, length(__a) - 1), ',', substr(__b, 2)) END",
            read="spark",
        )
        return merged.transform(
            lambda n: (
                (a.copy() if n.name == "__a" else b.copy())
                if isinstance(n, exp.Column) and n.name in ("__a", "__b")
                else n
            )
        )
    if isinstance(node, exp.JarowinklerSimilarity):  # Splink's Spark jar registers it as jaro_winkler
        return _fn("jaro_winkler", node.this, node.expression)
    if isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Literal):
        return _fn("date_format", node.this, exp.Literal.string(_java_pattern(node.args["format"].this)))
    if isinstance(node, exp.TimeToUnix):  # DuckDB's epoch(): seconds with their fraction
        return exp.Div(
            this=_fn("unix_micros", exp.cast(node.this, "TIMESTAMP")), expression=exp.Literal.number("1000000.0")
        )
    return node


_STRFTIME = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS"}


def _java_pattern(fmt: str) -> str:
    """A strftime format as a Java date pattern, literal text quoted (DuckDB's '%Y-%m-%dT%H:%M:%SZ')."""
    out, lit_buf, i = [], "", 0
    while i < len(fmt):
        code = fmt[i : i + 2]
        if code in _STRFTIME:
            if lit_buf:
                out.append("'" + lit_buf.replace("'", "''") + "'")
                lit_buf = ""
            out.append(_STRFTIME[code])
            i += 2
        else:
            lit_buf += fmt[i]
            i += 1
    if lit_buf:
        out.append("'" + lit_buf.replace("'", "''") + "'")
    return "".join(out)


def _list_agg(agg: exp.Expression, where: exp.Expression | None) -> exp.Expression:
    """``list(...)`` / ``string_agg(...)`` with their ORDER BY, DISTINCT and FILTER, in Spark's terms."""
    body = agg.this
    order = body if isinstance(body, exp.Order) else None
    value = order.this if order else body
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        value = value.expressions[0]
    if order is not None:
        out = _ordered_list(value, order.expressions, distinct, where)
    else:
        arg = value if where is None else _fn("if", where, value, exp.null())
        out = _fn("collect_set" if distinct else "collect_list", arg)
    if isinstance(agg, exp.GroupConcat):  # string_agg skips NULLs; so does array_join
        sep = agg.args.get("separator") or exp.Literal.string(",")
        out = _fn("array_join", out, sep)
    return out


def _ordered_list(value: exp.Expression, keys: list, distinct: bool, where: exp.Expression | None) -> exp.Expression:
    """DuckDB's ``list(v ORDER BY k...)``: Spark collects structs (nulls kept, like DuckDB) and sorts them with a
    comparator that follows each key's direction and null placement."""
    fields: list[exp.Expression] = []
    for i, k in enumerate(keys):
        fields += [exp.Literal.string(f"k{i}"), k.this]
    fields += [exp.Literal.string("v"), value]
    item: exp.Expression = _fn("named_struct", *fields)
    if where is not None:  # collect_list skips the NULL of a row the filter leaves out
        item = _fn("if", where, item, exp.null())
    collected = _fn("collect_list", item)
    cmps = []
    for i, k in enumerate(keys):
        desc = bool(k.args.get("desc"))
        nf = bool(k.args.get("nulls_first"))
        lk, rk = f"sa_l.k{i}", f"sa_r.k{i}"
        cmps.append(
            f"CASE WHEN {lk} IS NULL AND {rk} IS NULL THEN 0 WHEN {lk} IS NULL THEN {-1 if nf else 1} "
            f"WHEN {rk} IS NULL THEN {1 if nf else -1} WHEN {lk} < {rk} THEN {1 if desc else -1} "
            f"WHEN {lk} > {rk} THEN {-1 if desc else 1} ELSE 0 END"
        )
    comparator = "CASE " + " ".join(f"WHEN ({c}) <> 0 THEN ({c})" for c in cmps) + " ELSE 0 END"
    sorted_sql = f"transform(array_sort(__collected__, (sa_l, sa_r) -> {comparator}), sa_s -> sa_s.v)"
    if distinct:
        sorted_sql = f"array_distinct({sorted_sql})"
    tree = sqlglot.parse_one(sorted_sql, read="spark")
    return tree.transform(lambda n: collected if isinstance(n, exp.Column) and n.name == "__collected__" else n)


def spark_condition(sql: str) -> str:
    """A DuckDB SQL condition (a Splink comparison level or blocking rule) as Spark SQL."""
    return to_spark(sqlglot.parse_one(sql, read="duckdb"))


def splink_settings_for_spark(settings: Any) -> dict:
    """Splink settings written for DuckDB, for Splink's Spark backend.

    Splink writes its own comparison levels in the backend's dialect; the audit's custom levels and blocking
    rules are DuckDB SQL. A level whose SQL is the same in both of Splink's renderings is ours: it is
    transpiled; Splink's own are taken from its Spark rendering."""
    duck, spark = settings.create_settings_dict("duckdb"), settings.create_settings_dict("spark")
    for cd, cs in zip(duck["comparisons"], spark["comparisons"], strict=True):
        for ld, ls in zip(cd["comparison_levels"], cs["comparison_levels"], strict=True):
            if ld["sql_condition"] == ls["sql_condition"] and ld["sql_condition"].strip().upper() != "ELSE":
                ls["sql_condition"] = spark_condition(ld["sql_condition"])
    key = "blocking_rules_to_generate_predictions"
    for bd, bs in zip(duck.get(key) or [], spark.get(key) or [], strict=True):
        if bd["blocking_rule"] == bs["blocking_rule"]:
            bs["blocking_rule"] = spark_condition(bd["blocking_rule"])
    return spark
