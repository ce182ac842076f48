"""``syncaudit snapshot from-load DIR``: a load folder (what the generator writes) as a ready snapshot.

Benchmarks and rehearsals at ten million people a side cannot go through an emulator load and a pull;
this converts the load folder's CSV/JSONL straight into the snapshot layout (Parquet + manifest, inside
DuckDB, no per-row Python) so ``findings``, ``quality run`` and ``audit`` can read it:

* ``--out DIR``: the snapshot is written there (the folder is replaced);
* ``--config F``: it becomes ``<data_dir>/snapshots/load-<name>`` and LATEST points at it, so the next
  ``syncaudit findings --config F`` audits it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import duckdb

from syncaudit.config import Config
from syncaudit.errors import ConfigError
from syncaudit.loadfolder import SnapshotDir, convert_load_folder
from syncaudit.workspace import DataDir

LATEST = "LATEST"


def snapshot_from_load(load_dir: str | Path, *, cfg: Config | None = None, out: str | Path | None = None) -> Path:
    """Convert ``load_dir`` into a snapshot at ``out`` or under the config's data_dir; return its folder."""
    src = Path(load_dir)
    if not src.is_dir():
        raise ConfigError(
            f"the load folder {src} does not exist", hint="pass a folder written by `syncaudit sandbox generate --out`"
        )
    if out is None and cfg is None:
        raise ConfigError("say where the snapshot goes", hint="add --out DIR, or --config F for its data_dir")
    if out is not None:
        target = Path(out)
    else:
        assert cfg is not None
        target = DataDir(cfg).snapshots / f"load-{src.resolve().name}"
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder", hint="pass a new folder for --out")
    if target.resolve() == src.resolve() or src.resolve() in target.resolve().parents:
        raise ConfigError(f"the snapshot cannot go inside the load folder {src}", hint="pass another --out")
    snap = convert_load_folder(src, target, cfg)
    if out is None:
        root = target.parent
        tmp = root / (LATEST + ".tmp")
        tmp.write_text(target.name + "\n", encoding="utf-8")
        os.replace(tmp, root / LATEST)
    return Path(snap.path)


def table_rows(path: Path) -> dict[str, int]:
    """Rows per table of a snapshot folder, from the Parquet footers (nothing is scanned)."""
    con = duckdb.connect()
    try:
        out = {}
        for system, prefix in (("salesforce", "sf_"), ("intercom", "ic_")):
            for p in sorted((path / system).glob("*.parquet")):
                lit = "'" + str(p).replace("'", "''") + "'"
                out[prefix + p.stem] = int(
                    con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({lit})").fetchone()[0]
                )
        return out
    finally:
        con.close()


def cli_snapshot(args: argparse.Namespace) -> int:
    """``syncaudit snapshot from-load DIR [--config F | --out DIR]``: prints the snapshot folder and its rows
    (``snapshot generate``: see snapshot_generate.py)."""
    if args.snapshot_command == "generate":
        from syncaudit.snapshot_generate import cli_generate_snapshot

        return cli_generate_snapshot(args)
    if args.snapshot_command != "from-load":
        raise ConfigError(
            f"unknown snapshot action {args.snapshot_command!r}",
            hint="use `snapshot from-load DIR` or `snapshot generate`",
        )
    t0 = time.perf_counter()
    path = snapshot_from_load(args.load_dir, cfg=getattr(args, "cfg", None), out=args.out)
    SnapshotDir(path)  # the manifest reads back
    print(path)
    print(json.dumps({"rows": table_rows(path), "seconds": round(time.perf_counter() - t0, 1)}))
    return 0
