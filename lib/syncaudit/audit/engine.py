"""The audit's engine seam: where its SQL runs (``audit.engine: duckdb | spark``).

The analyses are written once, in DuckDB's SQL dialect, against a connection-shaped object (``execute``,
``executemany``, ``fetchall``/``df``). With ``duckdb`` that object is a DuckDB connection; with ``spark`` it is a
:class:`~syncaudit.audit.spark_sql.SparkConnection`, which transpiles each statement with SQLGlot and runs it as
Spark SQL (tables become Parquet under ``audit.spark.work_dir``). Splink is handed the matching backend
(``DuckDBAPI`` or ``SparkAPI``) by :func:`splink_api`. Nothing else in the audit knows which engine runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb

from syncaudit.config import Config
from syncaudit.duckdb_resources import configure_duckdb
from syncaudit.errors import ConfigError


class EngineUnavailableError(ConfigError):
    """``audit.engine: spark`` without pyspark or Java on this machine (exit 2): install them or pick duckdb."""


def require(cfg: Config) -> None:
    """Fail fast, before any work, when the configured engine cannot run here (exit 2, naming the fix)."""
    if cfg.audit.engine == "spark":
        from syncaudit.audit.spark_sql import require_spark

        require_spark()


def connect(cfg: Config, work_dir: Path) -> Any:
    """A connection for the audit on the configured engine (``work_dir``: the Spark engine's table folder)."""
    if cfg.audit.engine == "spark":
        from syncaudit.audit.spark_sql import SparkConnection, spark_session

        return SparkConnection(spark_session(cfg), Path(cfg.audit.spark.work_dir or work_dir))
    con = duckdb.connect()
    configure_duckdb(con, cfg)
    return con


def is_spark(con: Any) -> bool:
    return not isinstance(con, duckdb.DuckDBPyConnection)


def splink_api(con: Any) -> Any:
    """Splink's database API on the audit's engine: ``DuckDBAPI`` on the connection, or ``SparkAPI``."""
    if is_spark(con):
        return con.splink_api()
    from splink import DuckDBAPI

    return DuckDBAPI(connection=con)


def splink_register(db_api: Any, con: Any, table: str, name: str) -> Any:
    """Hand an audit table to Splink as ``name``: by its name on DuckDB, as a DataFrame on Spark (a view left
    under that name by an earlier training is replaced: Splink refuses to register over it)."""
    if is_spark(con):
        con.spark.catalog.dropTempView(name)
        return db_api.register(con.table(table), table_name=name)
    return db_api.register(table, table_name=name)


def insert_arrow(con: Any, table: str, rows: Any) -> None:
    """Append a small Arrow table (computed in Python) to ``table``, columns in the table's order."""
    if is_spark(con):
        con.insert_arrow(table, rows)
        return
    con.register("__sa_arrow", rows)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM __sa_arrow")
    finally:
        con.unregister("__sa_arrow")


def splink_settings(con: Any, settings: Any) -> Any:
    """Splink settings for the engine: as written (DuckDB SQL) on DuckDB; transpiled for Spark (a dict)."""
    if is_spark(con) and not isinstance(settings, dict):
        from syncaudit.audit.spark_sql import splink_settings_for_spark

        return splink_settings_for_spark(settings)
    return settings


def close(con: Any) -> None:
    """Release the engine's working tables (Spark: the work folder; the session is left to its owner)."""
    if is_spark(con):
        con.close()
        shutil.rmtree(con.work_dir, ignore_errors=True)
    else:
        con.close()
