"""Turning API values into typed Arrow columns, tolerant of hostile values."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

UTC_US = pa.timestamp("us", tz="UTC")
_MAX_MICROS = 9.2e18  # within int64 microseconds (year 293,000), the float64 that multiplies them exact enough
_EXACT_SECONDS = 9_000_000_000  # integer seconds whose microseconds a float64 holds exactly (2**53 > 9e15)


def _as_array(values: Sequence[Any] | pa.Array) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed types (a number where a string is usual, a dict...): keep the text.
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _one(value: Any, target: pa.DataType) -> Any:
    try:
        return pa.array([value]).cast(target)[0].as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def coerce(values: Sequence[Any] | pa.Array, target: pa.DataType, *, name: str = "") -> pa.Array:
    """Cast a column to ``target``; values that cannot be read become null (and are counted in the log)."""
    arr = _as_array(values)
    if arr.type == target:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if pa.types.is_timestamp(target) and (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
        # Intercom: Unix seconds (a fraction below the microsecond is cut; beyond int64 microseconds is no date).
        if pa.types.is_integer(arr.type):
            lo, hi = pc.min_max(arr).values()
            if lo.as_py() is None or -_EXACT_SECONDS <= lo.as_py() and hi.as_py() <= _EXACT_SECONDS:
                return pc.multiply(arr.cast(pa.int64()), 1_000_000).cast(target)  # what the float path gives
        micros = pc.trunc(pc.multiply(arr.cast(pa.float64(), safe=False), 1_000_000))
        fits = pc.less(pc.abs(micros), _MAX_MICROS)
        bad = pc.sum(pc.cast(pc.invert(fits), pa.int64())).as_py() or 0
        if bad:
            log.warning("%d value(s) of %s are no Unix time in seconds and were left empty", bad, name or "a column")
            micros = pc.if_else(fits, micros, pa.scalar(None, pa.float64()))
        return micros.cast(pa.int64()).cast(target)
    if pa.types.is_boolean(target) and pa.types.is_string(arr.type):
        low = pc.utf8_lower(arr)
        none = pa.scalar(None, pa.bool_())
        falsy = pc.if_else(pc.is_in(low, pa.array(["false", "0"])), pa.scalar(False), none)
        return pc.if_else(pc.is_in(low, pa.array(["true", "1"])), pa.scalar(True), falsy)
    try:
        return arr.cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    out = [None if v is None else _one(v, target) for v in arr.to_pylist()]
    bad = sum(1 for v, o in zip(arr.to_pylist(), out, strict=True) if v is not None and o is None)
    if bad:
        log.warning("%d value(s) of %s could not be read as %s and were left empty", bad, name or "a column", target)
    return pa.array(out, target)


def table_from_columns(columns: dict[str, Sequence[Any] | pa.Array], schema: pa.Schema) -> pa.Table:
    """Build a table with exactly ``schema``; missing columns are null."""
    n = len(next(iter(columns.values()))) if columns else 0
    arrays = []
    for field in schema:
        vals = columns.get(field.name)
        arrays.append(pa.nulls(n, field.type) if vals is None else coerce(vals, field.type, name=field.name))
    return pa.Table.from_arrays(arrays, schema=schema)
