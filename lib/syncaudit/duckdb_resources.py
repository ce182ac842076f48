"""The memory limit, spill folder and threads of the DuckDB connections the audit and quality suites run on.

Configured once from ``audit:`` in the config (``memory_limit``, ``temp_dir``, ``threads``). Above the memory
limit, DuckDB's joins, sorts and aggregates spill to ``temp_dir``, so an org pair larger than memory is
audited out of core; the environment variable ``SYNCAUDIT_DUCKDB_MEMORY`` overrides the limit for one run.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import duckdb

from syncaudit.config import AuditOptions, Config
from syncaudit.errors import ConfigError

ENV_MEMORY = "SYNCAUDIT_DUCKDB_MEMORY"
_SIZE = re.compile(r"^[0-9]+(\.[0-9]+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


class OutOfMemoryError(ConfigError):
    """DuckDB could not finish within the configured memory limit, even spilling: the setting is the fix (exit 2)."""


def spill_dir(opts: AuditOptions) -> Path:
    """The folder DuckDB spills to: ``audit.temp_dir`` or ``<system temp>/syncaudit-duckdb``."""
    return Path(opts.temp_dir).expanduser() if opts.temp_dir else Path(tempfile.gettempdir()) / "syncaudit-duckdb"


def memory_limit(opts: AuditOptions) -> str:
    """The effective limit: ``$SYNCAUDIT_DUCKDB_MEMORY`` when set, else ``audit.memory_limit``."""
    env = os.environ.get(ENV_MEMORY, "").strip()
    if not env:
        return opts.memory_limit
    if not _SIZE.match(env):
        raise ConfigError(
            f"{ENV_MEMORY}={env!r} is not a memory size", hint="give a number and a unit, e.g. 12GB or 800MB"
        )
    return env


def configure_duckdb(con: duckdb.DuckDBPyConnection, cfg: Config | None, *, keep_order: bool = False) -> None:
    """Apply the config's memory limit, spill folder and threads to ``con`` (defaults when ``cfg`` is None).

    ``keep_order`` keeps DuckDB's insertion order (for callers that read rows in file order)."""
    opts = cfg.audit if cfg is not None else AuditOptions()
    folder = spill_dir(opts)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the spill folder {folder}: {exc.strerror}",
            key="audit.temp_dir",
            hint="name a writable folder with free disk space",
        ) from None
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"the spill folder {folder} is not writable", key="audit.temp_dir", hint="name one that is")
    con.execute(f"SET memory_limit = '{memory_limit(opts)}'")
    # SET takes no prepared parameter: quote the path as a SQL literal.
    con.execute(f"SET temp_directory = '{str(folder).replace(chr(39), chr(39) * 2)}'")
    if opts.threads:
        con.execute(f"SET threads = {int(opts.threads)}")
    if not keep_order:
        # Row order is fixed by ORDER BY where it matters; not keeping insertion order lets big copies stream.
        con.execute("SET preserve_insertion_order = false")


def out_of_memory(exc: duckdb.OutOfMemoryException, cfg: Config | None) -> OutOfMemoryError:
    """The one clear message for a run that did not fit, naming the settings to change."""
    opts = cfg.audit if cfg is not None else AuditOptions()
    return OutOfMemoryError(
        f"DuckDB ran out of memory at the limit {memory_limit(opts)} (spilling to {spill_dir(opts)}): "
        f"{str(exc).splitlines()[0]}",
        key="audit.memory_limit",
        hint="raise audit.memory_limit in the config (or SYNCAUDIT_DUCKDB_MEMORY), lower audit.threads, "
        "or free disk in audit.temp_dir",
    )
