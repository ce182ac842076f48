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

A report folder holds the audit's findings as ``findings.jsonl`` lines too; :func:`reuse_masked_jsonl` writes the
masked file from those lines, once masked, when each row has an identical twin (the same output, half the cost).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pt

from syncaudit.fsutil import written_over
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
    target = "STRUCT(" + ", ".join(f"{_ident(n)} {types[n]}" for n in walked) + ")"
    with written_over(dst) as tmp, tempfile.TemporaryDirectory(prefix="syncaudit-mask-") as spill:
        con = connect(personal, spill=spill)
        try:

            def masked(batch: pa.RecordBatch, first: int) -> pa.Table:
                _load_rows(con, batch, walked, types, first)
                mask_loaded(con, personal, extra_as_text=False)
                return con.sql(f"SELECT unnest(CAST(line::JSON AS {target})) FROM sa_out ORDER BY n").to_arrow_table()

            total = _write_cast_back(reader, tmp, walked, types, masked, batch_rows)
        finally:
            con.close()
    return total


def _as_json(walked: list[str], types: dict[str, str | None]) -> str:
    """A row's walked columns as one JSON object: what the masking statements rewrite."""
    return "to_json({" + ", ".join(f"{_lit_key(n)}: {_member(n, types[n])}" for n in walked) + "})"


def _load_rows(
    con: duckdb.DuckDBPyConnection, batch: pa.RecordBatch, walked: list[str], types: dict[str, str | None], first: int
) -> None:
    """``sa_src`` := the batch's rows (``n`` from ``first``, ``j`` the walked columns as JSON)."""
    con.register("sa_batch", _numbered(batch, walked, first))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE sa_src AS SELECT {_ident(_ROW_ID)} AS n, {_as_json(walked, types)} AS j "
        "FROM sa_batch"
    )
    con.unregister("sa_batch")


def _numbered(batch: pa.RecordBatch, walked: list[str], first: int) -> pa.Table:
    """The batch's walked columns and its row numbers (``_ROW_ID``, from ``first``)."""
    rows = pa.Table.from_batches([batch]).select(walked)
    return rows.append_column(_ROW_ID, pa.array(np.arange(first, first + batch.num_rows, dtype=np.int64)))


def _write_cast_back(
    reader: pq.ParquetFile,
    tmp: Path,
    walked: list[str],
    types: dict[str, str | None],
    masked: Callable[[pa.RecordBatch, int], pa.Table],
    batch_rows: int,
) -> int:
    """Write ``tmp`` with the reader's schema, batch by batch: the walked columns from ``masked(batch, first row)``
    (a table of the walked columns, in that order, as DuckDB types), cast back to their Arrow types; the other
    columns copied from the batch."""
    schema = reader.schema_arrow
    total = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for batch in reader.iter_batches(batch_size=batch_rows):
            if not batch.num_rows:
                continue
            out = masked(batch, total + 1)
            if out.num_rows != batch.num_rows:
                raise RuntimeError(f"masked {out.num_rows} of {batch.num_rows} rows")
            columns = [
                out.column(walked.index(f.name)).cast(f.type) if f.name in types else batch.column(i)
                for i, f in enumerate(schema)
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            total += batch.num_rows
    return total


def _member(name: str, duck_type: str | None) -> str:
    """A column as a member of the row's JSON: an ``extra`` of JSON-object text goes in as that object (what
    :mod:`~syncaudit.report.masking_sql` would parse it into; done here, it is not parsed a second time), and
    the masked object is cast back to its JSON text."""
    if name == "extra" and duck_type == "VARCHAR":
        col = _ident(name)
        return f"CASE WHEN starts_with({col}, '{{') AND json_valid({col}) THEN {col}::JSON ELSE to_json({col}) END"
    return _ident(name)


def _member_json(name: str, duck_type: str | None) -> str:
    """A column's value as :func:`_member` puts it in a row's JSON, on its own: minified JSON (SQL NULL for null)."""
    if name == "extra" and duck_type == "VARCHAR":
        col = _ident(name)
        return f"CASE WHEN starts_with({col}, '{{') AND json_valid({col}) THEN json({col}) ELSE to_json({col}) END"
    return f"to_json({_ident(name)})"


def _lit_key(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def reuse_masked_jsonl(src: Path, dst: Path, jsonl: Path, masked_jsonl: Path, *, batch_rows: int = _BATCH_ROWS) -> bool:
    """Write the masked ``src`` into ``dst`` from ``masked_jsonl`` (``jsonl`` masked by
    :func:`syncaudit.report.masking_sql.mask_findings_jsonl`) instead of masking each row again; False (and
    nothing written) unless every row of ``src`` has an identical twin in ``jsonl``.

    A report folder holds the audit's findings twice, as ``findings.jsonl`` lines and as ``findings.parquet``
    rows. A row is masked from its JSON alone, so a Parquet row whose JSON (:func:`mask_findings_parquet`'s,
    the walked columns) is the same JSON as a line's masks the same. Set-based in DuckDB, by ``id``:

    - each walked column of a Parquet row, as JSON, must be the same text as the line's value of that key (both
      serialized by DuckDB; the list of them compared by MD5);
    - the line has each key once, no empty key, and any key not walked holds a scalar (a number, a date as text:
      nothing that could change how the rest is masked; :mod:`~syncaudit.report.masking_sql`);
    - every Parquet row finds exactly one such line, and exactly one masked line has its id. A line with
      ``kind`` and ``records`` is a finding, whose id masking never changes, so that masked line is its own:
      the lines pair by id, not by position (numbering the lines would read them on one thread).

    Any doubt: False, and the caller masks ``src`` itself. The masked lines' walked keys are cast back as
    :func:`mask_findings_parquet` casts its own (``json_transform_strict``: a value that does not convert is an
    error, as in that cast), in the Parquet's row order, so the output is the same file (rows, schema and
    metadata).
    """
    reader = pq.ParquetFile(src)
    schema = reader.schema_arrow
    walked = _walked(schema)
    rows = reader.metadata.num_rows
    if (
        walked is None
        or not supported(schema)
        or "id" not in schema.names
        or not {"kind", "records"} <= set(walked)  # findings: their ids are never masked (lines pair by id)
        or not rows
        or any(not n or '"' in n or "\\" in n for n in walked)
    ):
        return False
    types = {f.name: _duck_type(f.type) for f in schema if f.name in walked}
    paths = "[" + ", ".join(_lit_key('$."' + n + '"') for n in walked) + "]"
    # The walked columns as DuckDB reads them, as the JSON the masking statements see (_member: an extra of JSON
    # text is its object), each as json_extract gives a line's value: minified, JSON null for a null.
    members = ", ".join(f"COALESCE({_member_json(n, types[n])}, 'null'::JSON)" for n in walked)
    # Objects and lists: among a line's values (json_type) and among its walked ones (their JSON text's first mark).
    containers = "len(list_filter(t, lambda t: t IN ('OBJECT', 'ARRAY')))"
    walked_containers = "len(list_filter(w, lambda v: left(v, 1) IN ('{', '[')))"
    # Lines and rows pair by the JSON text of their id (a line's own, a row's id column as JSON).
    line_id = f"w[{walked.index('id') + 1}]" if "id" in walked else "json_extract(json, '$.id')"
    structure = json.dumps({n: types[n] for n in walked})

    with written_over(dst) as tmp, tempfile.TemporaryDirectory(prefix="syncaudit-reuse-") as spill:
        con = duckdb.connect()
        try:
            con.execute("SET memory_limit = '1GB'")
            con.execute(f"SET temp_directory = {_lit_key(spill)}")
            con.execute("SET preserve_insertion_order = true")
            lines = "read_json_objects(?, format = 'newline_delimited')"
            try:  # a file DuckDB reads otherwise than pyarrow, or lines it cannot read as JSON objects: no twin
                # As pyarrow's types (_duck_type): the JSON of a value is that of mask_findings_parquet's row.
                typed = [n for n in walked if types[n] != '"NULL"']
                cast = ", ".join(
                    f"CAST({_ident(n)} AS {types[n]}) AS {_ident(n)}" if n in typed else _ident(n)
                    for n in [*walked, *(["id"] if "id" not in walked else [])]
                )
                con.execute(
                    f"""CREATE TEMP TABLE sa_p AS SELECT file_row_number AS n, to_json(id) AS id,
                        md5_number([{members}]::VARCHAR) AS h
                    FROM (SELECT file_row_number, {cast} FROM read_parquet(?, file_row_number = true))""",
                    [str(src)],
                )
                # No row numbers: a window over the lines runs on one thread. Lines pair with masked lines by id.
                # Each key once, no empty key; the other keys' values no object or list (as many of those among
                # all values as among the walked ones), their names without a quote or backslash. A walked key
                # missing is SQL NULL in w, written NULL in its text, which no row's JSON is: h differs.
                con.execute(
                    f"""CREATE TEMP TABLE sa_l AS
                    WITH x AS (SELECT json_keys(json) AS k, json_type(json, '$.*') AS t,
                        json_extract(json, {paths}) AS w, {line_id} AS id FROM {lines})
                    SELECT id, md5_number(w::VARCHAR) AS h,
                        len(k) = list_unique(k) AND NOT list_contains(k, '')
                        AND NOT regexp_matches(array_to_string(k, ''), '["\\\\]')
                        AND {containers} = {walked_containers} AS ok
                    FROM x""",
                    [str(jsonl)],
                )
                pairs, distinct, same = con.execute(
                    "SELECT count(*), count(DISTINCT p.n), COALESCE(bool_and(COALESCE(l.ok AND l.h = p.h, false)), false) "
                    "FROM sa_p p LEFT JOIN sa_l l USING (id)"
                ).fetchall()[0]
                if not (pairs == distinct == rows and same):
                    return False
                con.execute(
                    f"CREATE TEMP TABLE sa_r AS SELECT p.n, json_transform_strict(m.json, {_lit_key(structure)}) AS s "
                    f"FROM sa_p p JOIN (SELECT json_extract(json, '$.id') AS id, json FROM {lines}) m USING (id) "
                    "ORDER BY p.n",
                    [str(masked_jsonl)],
                )
                found, lengths = con.execute(
                    f"SELECT (SELECT count(*) FROM sa_r), (SELECT count(*) FROM sa_l) = (SELECT count(*) FROM {lines})",
                    [str(masked_jsonl)],
                ).fetchall()[0]
                if not (found == rows and lengths):
                    return False
                out = con.sql("SELECT unnest(s) FROM sa_r").to_arrow_reader(batch_rows)
            except duckdb.Error:
                return False
            stream = _Rows(out)
            _write_cast_back(reader, tmp, walked, types, lambda batch, first: stream.take(batch.num_rows), batch_rows)
        finally:
            con.close()
    return True


class _Rows:
    """The batches of a record batch reader, taken as tables of the sizes asked for (in order)."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self._reader = reader
        self._held: list[pa.RecordBatch] = []
        self._count = 0

    def take(self, n: int) -> pa.Table:
        while self._count < n:
            batch = self._reader.read_next_batch()  # StopIteration: fewer rows than asked for
            self._held.append(batch)
            self._count += batch.num_rows
        table = pa.Table.from_batches(self._held, schema=self._reader.schema)
        self._held = [b for b in table.slice(n).to_batches() if b.num_rows]
        self._count -= n
        return table.slice(0, n).combine_chunks()  # one chunk, as a query result is: the same pages written
