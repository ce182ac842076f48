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


def splink_input(con: Any, table: str) -> Any:
    """What Splink's ``db_api.register`` takes for an audit table: its name (DuckDB) or its DataFrame (Spark)."""
    return con.table(table) if is_spark(con) else table


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
