"""Set-based masking of a findings Parquet file (the audit's ``findings.parquet``) in DuckDB.

The rows go through :mod:`syncaudit.report.masking_sql` like the lines of ``findings.jsonl``: batch by batch, the
columns that hold text (and ``kind``, ``records``, ``field``, which say what a row is) become one JSON object per
row (``to_json``), the masking statements rewrite it, and the masked JSON is cast back to the columns' own types.
Columns without text (numbers, dates, binary) are copied from the batch as they are, as the Python walk
(:func:`syncaudit.report.masking.mask_finding`) leaves them. The output has the input's Arrow schema, metadata
included, and memory is one batch's tables whatever the file's size.

A column whose type holds text but has no exact JSON form (a map, a struct or list holding dates or binary, a
decimal) cannot make that round trip: :func:`supported` says so, and the caller walks such a file in Python.
The deliberate differences of the set-based path (its module docstring) hold here too; the one a stakeholder
sees is that an ``extra`` stored as JSON text is written back compact (``{"a":1}``, not ``{"a": 1}``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pt

from syncaudit.report.masking import PersonalKind
from syncaudit.report.masking_sql import connect, mask_loaded

# About the 32 MB of JSON a block of findings.jsonl holds (a finding is about 1 KB as JSON).
_BATCH_ROWS = 32_768
_ROW_ID = "__syncaudit_row"
# Columns that decide how a row is walked (a finding has kind and records; field picks the personal kind).
_SHAPE = ("kind", "records", "field")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _holds_text(t: pa.DataType) -> bool:
    if pt.is_dictionary(t):
        return _holds_text(t.value_type)
    if pt.is_map(t):
        return _holds_text(t.key_type) or _holds_text(t.item_type)
    if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t) or pt.is_list_view(t):
        return _holds_text(t.value_type)
    if pt.is_struct(t):
        return any(_holds_text(t.field(i).type) for i in range(t.num_fields))
    # Any other nested type (a union, a list view, an extension) may hold text: treated as text, so it has no
    # JSON form here and the file is walked in Python.
    return pt.is_string(t) or pt.is_large_string(t) or pt.is_string_view(t) or pt.is_nested(t)


def _duck_type(t: pa.DataType) -> str | None:
    """The DuckDB type a value of ``t`` makes an exact JSON round trip through (None: it does not)."""
    if pt.is_string(t) or pt.is_large_string(t) or pt.is_string_view(t):
        return "VARCHAR"
    if pt.is_dictionary(t):
        return "VARCHAR" if _duck_type(t.value_type) == "VARCHAR" else None
    if pt.is_boolean(t):
        return "BOOLEAN"
    if pt.is_null(t):
        return '"NULL"'
    if pt.is_integer(t):
        sign = "" if pt.is_signed_integer(t) else "U"
        return sign + {8: "TINYINT", 16: "SMALLINT", 32: "INTEGER", 64: "BIGINT"}[t.bit_width]
    if pt.is_float32(t) or pt.is_float64(t):
        return "FLOAT" if pt.is_float32(t) else "DOUBLE"
    if pt.is_list(t) or pt.is_large_list(t):
        inner = _duck_type(t.value_type)
        return f"{inner}[]" if inner else None
    if pt.is_struct(t) and t.num_fields:
        parts = [(t.field(i).name, _duck_type(t.field(i).type)) for i in range(t.num_fields)]
        if any(ty is None for _, ty in parts) or len({n for n, _ in parts}) < len(parts):
            return None
        return "STRUCT(" + ", ".join(f"{_ident(n)} {ty}" for n, ty in parts) + ")"
    return None


def _walked(schema: pa.Schema) -> list[str] | None:
    """The columns masked through JSON (None: a column holds text that cannot make the round trip)."""
    out = []
    for f in schema:
        if _holds_text(f.type) or f.name in _SHAPE:
            if _duck_type(f.type) is None:
                return None
            out.append(f.name)
    return out


def supported(schema: pa.Schema) -> bool:
    """Whether :func:`mask_findings_parquet` can mask a file of this schema (else walk it in Python)."""
    names = schema.names
    return _walked(schema) is not None and _ROW_ID not in names and len(set(names)) == len(names)


def mask_findings_parquet(
    src: Path, dst: Path, personal: dict[str, PersonalKind], *, batch_rows: int = _BATCH_ROWS
) -> int:
    """Mask a Parquet file of findings set-based into ``dst`` with the same schema; returns the rows written.

    The same rules as :func:`syncaudit.report.masking.mask_finding` (through
    :func:`syncaudit.report.masking_sql.mask_loaded`); raises ValueError for a schema :func:`supported` refuses.
    """
    reader = pq.ParquetFile(src)
    schema = reader.schema_arrow
    walked = _walked(schema)
    if walked is None or not supported(schema):
        raise ValueError(f"{src.name}: a column cannot be masked set-based; walk it in Python")
    types = {f.name: _duck_type(f.type) for f in schema if f.name in walked}
    as_json = "to_json({" + ", ".join(f"{_lit_key(n)}: {_member(n, types[n])}" for n in walked) + "})"
    target = "STRUCT(" + ", ".join(f"{_ident(n)} {types[n]}" for n in walked) + ")"
    total = 0
    tmp = dst.with_name(dst.name + ".tmp")
    with tempfile.TemporaryDirectory(prefix="syncaudit-mask-") as spill:
        con = connect(personal, spill=spill)
        try:
            with pq.ParquetWriter(tmp, schema) as writer:
                for batch in reader.iter_batches(batch_size=batch_rows):
                    if not batch.num_rows:
                        continue
                    rows = pa.Table.from_batches([batch]).select(walked)
                    rows = rows.append_column(_ROW_ID, pa.array(np.arange(1, batch.num_rows + 1, dtype=np.int64)))
                    con.register("sa_batch", rows)
                    con.execute(
                        f"CREATE OR REPLACE TEMP TABLE sa_src AS SELECT {_ident(_ROW_ID)} AS n, {as_json} AS j "
                        "FROM sa_batch"
                    )
                    con.unregister("sa_batch")
                    mask_loaded(con, personal, extra_as_text=False)
                    masked = con.sql(f"SELECT unnest(CAST(line::JSON AS {target})) FROM sa_out ORDER BY n")
                    out = masked.to_arrow_table()
                    if out.num_rows != batch.num_rows:
                        raise RuntimeError(f"masked {out.num_rows} of {batch.num_rows} rows")
                    columns = [
                        out.column(walked.index(f.name)).cast(f.type) if f.name in types else batch.column(i)
                        for i, f in enumerate(schema)
                    ]
                    writer.write_table(pa.Table.from_arrays(columns, schema=schema))
                    total += batch.num_rows
        finally:
            con.close()
    os.replace(tmp, dst)
    return total


def _member(name: str, duck_type: str | None) -> str:
    """A column as a member of the row's JSON: an ``extra`` of JSON-object text goes in as that object (what
    :mod:`~syncaudit.report.masking_sql` would parse it into; done here, it is not parsed a second time), and
    the masked object is cast back to its JSON text."""
    if name == "extra" and duck_type == "VARCHAR":
        col = _ident(name)
        return f"CASE WHEN starts_with({col}, '{{') AND json_valid({col}) THEN {col}::JSON ELSE to_json({col}) END"
    return _ident(name)


def _lit_key(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"
