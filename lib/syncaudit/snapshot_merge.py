"""Incremental merges that leave a table's base file untouched: a small delta layer per table.

An incremental pull changes ~1 % of a table; rewriting the whole Parquet file
for that costs more than reading the changes from the API. So a table may carry,
next to its base file ``<system>/<name>.parquet`` (hard-linked from the previous
snapshot), a delta layer (docs/contracts.md)::

    <system>/_delta/<name>.parquet        rows that replace or add to the base (the base's schema)
    <system>/_delta/<name>.keys.parquet   one column named like the table's key: base rows with
                                          these keys are superseded (changed, removed, or re-pulled parents)

The table is ``base ANTI JOIN keys UNION ALL delta`` (:func:`table_sql`). Deltas
accumulate over runs; when one outgrows ``COMPACT_SHARE`` of the base, or the
columns changed, the merge writes a new base instead (compaction).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DELTA_DIR = "_delta"
COMPACT_SHARE = 0.1  # a delta above 10 % of the base is folded into a new base
BATCH = 131_072


def delta_files(table: Path) -> tuple[Path, Path]:
    """The delta layer of a table file: (rows, superseded keys)."""
    d = table.parent / DELTA_DIR
    return d / table.name, d / f"{table.stem}.keys.parquet"


def has_delta(table: Path) -> bool:
    return delta_files(table)[1].is_file()


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"  # DDL (views) cannot take parameters


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_sql(table: Path) -> str:
    """A DuckDB query returning the whole table (base rows not superseded, then the delta rows)."""
    rows, keys = delta_files(table)
    if not keys.is_file():
        return f"SELECT * FROM read_parquet({_lit(table)})"
    key = _ident(pq.read_schema(keys).names[0])
    # An anti join keeps base rows whose key is null (a null key never matches), as the full merge does.
    return (
        f"SELECT b.* FROM read_parquet({_lit(table)}) b ANTI JOIN read_parquet({_lit(keys)}) k ON b.{key} = k.{key} "
        f"UNION ALL SELECT * FROM read_parquet({_lit(rows)})"
    )


def table_rows(table: Path) -> int:
    """Rows of the whole table (Parquet metadata, plus one pass over the base's key column with a delta)."""
    base_rows = pq.ParquetFile(table).metadata.num_rows
    rows, keys = delta_files(table)
    if not keys.is_file():
        return base_rows
    superseded = pq.read_table(keys)
    key = superseded.column_names[0]
    value_set = superseded.column(0).combine_chunks()
    hit = 0
    for batch in pq.ParquetFile(table).iter_batches(batch_size=BATCH, columns=[key]):
        hit += pc.sum(pc.is_in(batch.column(0).cast(pa.string()), value_set=value_set, skip_nulls=True)).as_py() or 0
    return base_rows - hit + pq.ParquetFile(rows).metadata.num_rows


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _link(src: Path, dst: Path) -> None:
    """Hard-link a file of the previous snapshot (it is never modified; deleting that snapshot keeps it)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copyfile(src, dst)


def link_table(src: Path, dst: Path) -> None:
    """Carry a table (base and delta layer) over to another snapshot unchanged."""
    _link(src, dst)
    for s, d in zip(delta_files(src), delta_files(dst), strict=True):
        if s.is_file():
            _link(s, d)
        else:
            d.unlink(missing_ok=True)


def _strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.drop_null(arr.cast(pa.string()))


def _without(table: pa.Table, key: str, keys: pa.Array) -> pa.Table:
    if not len(keys) or not table.num_rows:
        return table
    return table.filter(pc.invert(pc.is_in(table[key].cast(pa.string()), value_set=keys, skip_nulls=True)))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Columns and types of ``schema``: missing columns become nulls, extra ones are dropped."""
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    return table.select(schema.names).cast(schema)


def _same_columns(a: pa.Schema, b: pa.Schema) -> bool:
    return a.names == b.names and all(x.type == y.type for x, y in zip(a, b, strict=True))


def upsert(
    prev: Path | None,
    changes: Path,
    out: Path,
    *,
    key: str,
    replaced: Path | None = None,
    replaced_key: str = "id",
    removed: list[str] | None = None,
    compact_share: float = COMPACT_SHARE,
) -> int:
    """Merge the rows of ``changes`` into the previous snapshot's table ``prev``, as table ``out``.

    Rows of ``prev`` whose ``key`` is in ``changes`` (for a child table: in the
    ``replaced_key`` column of the parent's changes ``replaced``) or in ``removed``
    are superseded; rows of ``changes`` keyed in ``removed`` are dropped. The base
    file is linked and only the delta layer is written, unless the delta would
    outgrow ``compact_share`` of the base or the columns changed: then a new base
    is written. Returns the table's row count.
    """
    new = pq.read_table(changes)
    parents = pq.read_table(replaced, columns=[replaced_key])[replaced_key] if replaced else new[key]
    dropped = pa.array(removed or [], pa.string())
    gone = pa.concat_arrays([_strings(parents), dropped]).unique()
    new = _without(new, key, dropped)
    if prev is None or not prev.is_file():
        _write(new, out)
        return new.num_rows
    base = pq.ParquetFile(prev)
    old_rows, old_keys = delta_files(prev)
    layer = pq.read_table(old_rows) if old_rows.is_file() else base.schema_arrow.empty_table()
    superseded = pq.read_table(old_keys).column(0) if old_keys.is_file() else pa.array([], pa.string())
    layer = _without(layer, key, gone)
    keys = pa.concat_arrays([_strings(superseded), gone]).unique()
    same = _same_columns(new.schema, base.schema_arrow)
    if same and layer.num_rows + new.num_rows <= compact_share * base.metadata.num_rows:
        _link(prev, out)
        rows_path, keys_path = delta_files(out)
        if not len(keys) and not layer.num_rows and not new.num_rows:  # nothing changed: the base alone
            rows_path.unlink(missing_ok=True)
            keys_path.unlink(missing_ok=True)
            return base.metadata.num_rows
        _write(pa.concat_tables([layer, new.cast(base.schema_arrow)]), rows_path)
        _write(pa.table({key: keys}), keys_path)
        return table_rows(out)
    return _compact(base, keys, [layer, new], out, key=key, schema=new.schema)


def _compact(
    base: pq.ParquetFile, keys: pa.Array, tail: list[pa.Table], out: Path, *, key: str, schema: pa.Schema
) -> int:
    """Write a new base: the old base without ``keys`` (streamed batch by batch), then ``tail``."""
    rows_path, keys_path = delta_files(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    have = set(base.schema_arrow.names)
    rows = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for batch in base.iter_batches(batch_size=BATCH, columns=[c for c in schema.names if c in have]):
            part = _conform(_without(pa.Table.from_batches([batch]), key, keys), schema)
            writer.write_table(part)
            rows += part.num_rows
        for t in tail:
            if t.num_rows:
                writer.write_table(_conform(t, schema))
                rows += t.num_rows
    for p in (rows_path, keys_path):  # a stale layer (a resumed run) must not apply to the new base
        p.unlink(missing_ok=True)
    os.replace(tmp, out)
    with contextlib.suppress(OSError):
        rows_path.parent.rmdir()
    return rows


def drop_removed(table: Path, key: str, removed: list[str]) -> int:
    """Supersede the rows keyed in ``removed`` (records found gone) through the delta layer; returns rows."""
    if not removed:
        return table_rows(table)
    schema = pq.read_schema(table)
    rows_path, keys_path = delta_files(table)
    gone = pa.array(removed, pa.string())
    layer = pq.read_table(rows_path) if rows_path.is_file() else schema.empty_table()
    superseded = pq.read_table(keys_path).column(0) if keys_path.is_file() else pa.array([], pa.string())
    _write(_without(layer, key, gone), rows_path)
    _write(pa.table({key: pa.concat_arrays([_strings(superseded), gone]).unique()}), keys_path)
    return table_rows(table)
