"""CSV exports that a spreadsheet cannot turn into formulas.

A CRM value such as ``=HYPERLINK("http://evil","click")`` or ``@SUM(A1)`` becomes a
live formula when a stakeholder opens the CSV in Excel or Sheets (CSV injection).
Following OWASP, every text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is prefixed with a single quote, which spreadsheets show as
text. Numbers stay numbers: only text columns are touched, vectorised.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

_DANGEROUS_START = r"^[=+\-@\t\r]"


def neutralize_cell(value: object) -> object:
    """One value, neutralised if it is text that a spreadsheet would evaluate."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return "'" + value
    return value


def neutralize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are safe to open in a spreadsheet."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        # Lists and dicts (record ids, values) are written as JSON text, then neutralised like any text.
        text = s.map(lambda v: json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, list | dict) else v)
        as_str = text.astype("string")
        risky = as_str.str.contains(_DANGEROUS_START, regex=True, na=False)
        out[col] = text.where(~risky, "'" + as_str.astype(object))
    return out


def write_safe_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` as a neutralised UTF-8 CSV (with BOM, so Excel reads unicode), atomically."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    neutralize_frame(df).to_csv(tmp, index=False, encoding="utf-8-sig")
    os.replace(tmp, target)
    return target
