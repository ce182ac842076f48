"""``syncaudit snapshot generate``: a generated org pair written straight into a ready snapshot.

An audit of ten million people a side cannot wait for an emulator load and a pull, nor keep a 15 GB load
folder around. This drives the sandbox's generator partition by partition (crmsandbox.generator.
generate_partitions: half a million people a side at a time), converts each partition's load folder into
the snapshot layout with the one converter (loadfolder.convert_load_folder), drops the load folder, and at
the end concatenates each table's partitions into one Parquet file inside DuckDB. Memory stays that of one
partition (and DuckDB's ``audit.memory_limit``); disk holds one partition's load folder plus the Parquet.

* ``--out DIR``: the snapshot is written there (replaced);
* ``--config F``: it becomes ``<data_dir>/snapshots/gen-<size>-<seed>`` (the data_dir layout is
  workspace.DataDir's) and LATEST points at it, so ``syncaudit findings --config F`` audits it.

The generator's truth.json is kept next to the tables, so the audit can be scored against it.
"""

from __future__ import annotations

import argparse
import csv as _csv
import json
import os
import re
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb

from syncaudit.config import AuditOptions, Config
from syncaudit.errors import ConfigError
from syncaudit.loadfolder import SnapshotDir, convert_load_folder, generated_id_sql, lit
from syncaudit.snapshot_from_load import LATEST, table_rows
from syncaudit.workspace import DataDir


def _generator() -> Any:
    try:
        import crmsandbox.generator as gen
    except ModuleNotFoundError:
        raise ConfigError(
            "the sandbox's generator is not installed", hint="`make setup` installs it (pip install -e ./sandbox)"
        ) from None
    return gen


# tables every partition holds alike (the owners): taken from the first partition
_WHOLE_PAIR = {"salesforce/User.parquet", "intercom/admins.parquet"}


def _numbered(load: Path) -> set[str]:
    """The Salesforce tables whose CSV has no Id column: the conversion numbers their rows, so the merge
    numbers them again across partitions, as converting one load folder would."""
    out = set()
    for path in (load / "salesforce").glob("*.csv"):
        with open(path, encoding="utf-8", newline="") as fh:
            if "Id" not in next(_csv.reader(fh), []):
                out.add(f"salesforce/{path.stem}.parquet")
    return out


def _merge(parts: list[Path], target: Path, cfg: Any, numbered: set[str]) -> None:
    """One Parquet file per table from the partitions' (in partition order); small JSON files from the first."""
    from syncaudit.duckdb_resources import configure_duckdb

    first = parts[0]
    con = duckdb.connect()
    try:
        configure_duckdb(con, cfg, keep_order=True)
        for src in sorted(first.rglob("*")):
            rel = src.relative_to(first)
            dst = target / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
            elif src.suffix == ".parquet" and rel.as_posix() not in _WHOLE_PAIR:
                files = ", ".join(lit(str(p / rel)) for p in parts)
                star = "*"
                if rel.as_posix() in numbered:
                    star = f"* REPLACE ({generated_id_sql(src.stem)} AS Id)"
                # union_by_name: an Intercom custom attribute one partition never saw is a column of the others
                con.execute(
                    f"COPY (SELECT {star} FROM read_parquet([{files}], union_by_name=true)) TO {lit(str(dst))} "
                    "(FORMAT parquet)"
                )
            elif src.name != "manifest.json":  # describe/, data attributes, tags and the whole pair's tables
                shutil.copy2(src, dst)
    finally:
        con.close()


def _convert(load: Path, out: Path, cfg: Any) -> Path:
    path = convert_load_folder(load, out, cfg).path
    shutil.rmtree(load)
    return path


# one partition converts within this much (or the configured limit when lower): more only holds more cache
CONVERSION_MEMORY = "2GB"


def _conversion_config(cfg: Config | None) -> Any:
    """The config's DuckDB settings with the memory limit of one partition's conversion."""
    opts = cfg.audit if cfg is not None else AuditOptions()
    limit = CONVERSION_MEMORY
    if _bytes(opts.memory_limit) < _bytes(CONVERSION_MEMORY):
        limit = opts.memory_limit
    return SimpleNamespace(audit=opts.model_copy(update={"memory_limit": limit}))


def _bytes(size: str) -> float:
    units = {"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    m = re.match(r"^\s*([0-9.]+)\s*([A-Za-z]+)\s*$", size or "")
    return float(m.group(1)) * units.get(m.group(2).upper(), 1e9) if m else float("inf")


def generate_snapshot(
    size: int,
    seed: int,
    *,
    cfg: Config | None = None,
    out: str | Path | None = None,
    rates: dict[str, float] | None = None,
    partition_people: int | None = None,
    activity: dict[str, float] | None = None,
) -> Path:
    """Generate an org pair of ``size`` people a side into a snapshot at ``out`` (or under the config's
    data_dir); return its folder. ``activity``: the generator's conversations and logged calls per person
    (``conversations_per_person``, ``calls_per_person``; default: the generator's)."""
    gen = _generator()
    if out is None and cfg is None:
        raise ConfigError("say where the snapshot goes", hint="add --out DIR, or --config F for its data_dir")
    target = Path(out) if out is not None else DataDir(cfg).snapshots / f"gen-{size}-{seed}"  # type: ignore[arg-type]
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder", hint="pass a new folder for --out")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    work = partial / ".work"
    converted: list[Path] = []
    numbered: set[str] = set()
    kwargs: dict[str, Any] = {"partition_people": partition_people} if partition_people else {}
    if activity:
        kwargs["activity"] = activity
    conv_cfg = _conversion_config(cfg)
    try:
        # Each partition is converted in a thread (DuckDB releases the GIL) while the generator draws the next
        # one: one partition converting and one being drawn at most, so memory and disk stay bounded.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: Future | None = None
            try:
                for i, folder in enumerate(gen.generate_partitions(work / "load", size, seed, rates, **kwargs)):
                    numbered |= _numbered(folder)
                    mine = folder.rename(work / f"load-{i:04d}")  # the generator drops its folder when it goes on
                    if pending is not None:
                        converted.append(pending.result())
                    pending = pool.submit(_convert, mine, work / f"snap-{i:04d}", conv_cfg)
            except gen.SandboxInputError as exc:
                raise ConfigError(exc.message, hint=exc.hint or "see `syncaudit snapshot generate --help`") from None
            if pending is not None:
                converted.append(pending.result())
        _merge(converted, partial, conv_cfg, numbered)
        (work / "load" / "truth.json").rename(partial / "truth.json")
        head = gen.read_summary(partial / "truth.json")
        manifest = {
            "id": target.name,
            "status": "complete",
            "source": "generator",
            "generator": {"size": size, "seed": seed, "partitions": len(converted), **_activity(activity)},
            "started_at": head["generator"]["as_of"],  # the org pair is "as of" the generator's clock
        }
        shutil.rmtree(work)
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out is None:
        root = target.parent
        tmp = root / (LATEST + ".tmp")
        tmp.write_text(target.name + "\n", encoding="utf-8")
        os.replace(tmp, root / LATEST)
    return target


def _activity(activity: dict[str, float] | None) -> dict[str, Any]:
    """The manifest's record of a non-default activity volume (nothing for the default)."""
    return {"activity": dict(activity)} if activity else {}


ACTIVITY_OPTIONS = ("conversations_per_person", "calls_per_person")


def cli_generate_snapshot(args: argparse.Namespace) -> int:
    """``syncaudit snapshot generate --size N --seed S [--config F | --out DIR] [--conversations-per-person M]
    [--calls-per-person C]``."""
    t0 = time.perf_counter()
    activity = {k: v for k in ACTIVITY_OPTIONS if (v := getattr(args, k, None)) is not None}
    path = generate_snapshot(args.size, args.seed, cfg=getattr(args, "cfg", None), out=args.out, activity=activity)
    SnapshotDir(path)
    print(path)
    print(json.dumps({"rows": table_rows(path), "seconds": round(time.perf_counter() - t0, 1)}))
    return 0
