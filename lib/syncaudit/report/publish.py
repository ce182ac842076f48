"""The stakeholder report folder, published from a run's work folder.

The notebooks of a batch run write into a work folder of their own (``work/report-<name>/`` in the data dir):
the executed notebooks with their raw outputs, findings with the values that differ, quality results.
That folder is for analysts, beside the snapshots it was built from. The report folder that goes to
stakeholders gets a copy of each file with personal data masked (unless ``report.mask_personal_data`` is
false), by what the file is:

- findings (``*.jsonl`` / ``*.parquet`` rows with ``kind`` and ``records``): values of personal mapping
  fields, the personal parts of ``extra`` (merge proposals), and those values, emails and phone numbers in
  the texts (:func:`syncaudit.report.masking.mask_finding`; masked by its set-based twin in DuckDB,
  :func:`syncaudit.report.masking_sql.mask_findings_jsonl` and
  :func:`syncaudit.report.masking_parquet.mask_findings_parquet`, which keeps the file's schema); each finding
  is masked once: a ``.jsonl`` whose lines are lines of one already masked, and a findings Parquet file whose
  rows all have an identical ``.jsonl`` twin, are written from the masked lines (the same output);
- other JSON, JSON lines, text and HTML: emails and phone numbers wherever they occur;
- CSV and other Parquet tables: columns by what they hold (email, phone, a person's name), emails and
  phones in every other text column; CSVs stay spreadsheet-safe;
- executed notebooks: every output (streams, HTML, plain text, tracebacks) swept like the HTML pages, and
  the cells' text too.

A file of any other type, or one that cannot be read as its type says, is withheld while masking is on
(it could not be checked). The executed
notebooks never repeat plotly.js (4.8 MB each): their charts are drawn in the HTML pages.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from syncaudit.fsutil import written_over
from syncaudit.report import masking_parquet
from syncaudit.report.export import sweep_personal_data
from syncaudit.report.masking import PersonalKind, mask_finding, mask_frame, mask_json, mask_text
from syncaudit.report.masking_sql import mask_findings_jsonl, reuse_masked_lines
from syncaudit.report.plotlyjs import strip_library
from syncaudit.report.safe_csv import write_safe_csv
from syncaudit.report.sanitize import RUN_LOG

log = logging.getLogger(__name__)

_TEXT_SUFFIXES = {".txt", ".md", ".log"}
_BATCH_ROWS = 50_000


@dataclass
class Published:
    """What :func:`publish_folder` wrote (paths relative to the report folder) and what it held back."""

    files: list[str] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


def publish_folder(work: Path, target: Path, *, mask: bool, personal: dict[str, PersonalKind]) -> Published:
    """Copy every file of ``work`` into ``target`` (same relative paths), masked when ``mask``."""
    sources = []
    for src in sorted(work.rglob("*")):
        rel = src.relative_to(work)
        if not src.is_file() or any(part.startswith(".") for part in rel.parts) or src.suffix == ".tmp":
            continue
        if rel.as_posix() == RUN_LOG:  # tracebacks and machine paths: for analysts, never for stakeholders
            continue
        sources.append(src)
    # Each finding masked once: JSON lines first, the largest first (findings.jsonl holds the audit's findings and
    # the quality findings); audit/findings.jsonl and a findings Parquet file holding the same findings are then
    # written from lines already masked.
    masked_lines: list[tuple[Path, Path]] = []
    done: dict[Path, bool] = {}

    def order(src: Path) -> tuple[int, int]:
        suffix = src.suffix.lower()
        return (0, -src.stat().st_size) if suffix == ".jsonl" else (2 if suffix == ".parquet" else 1, 0)

    for src in sorted(sources, key=order):
        dst = target / src.relative_to(work)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            done[src] = _publish_file(src, dst, mask=mask, personal=personal, masked_lines=masked_lines)
        except Exception:  # noqa: BLE001 - a file that cannot be read for masking is withheld, never copied as is
            done[src] = False
            for leftover in (dst, dst.with_name(dst.name + ".tmp")):
                leftover.unlink(missing_ok=True)
    result = Published()
    for src in sources:
        (result.files if done[src] else result.withheld).append(src.relative_to(work).as_posix())
    return result


def _publish_file(
    src: Path,
    dst: Path,
    *,
    mask: bool,
    personal: dict[str, PersonalKind],
    masked_lines: list[tuple[Path, Path]] | None = None,
) -> bool:
    suffix = src.suffix.lower()
    if suffix == ".ipynb":
        publish_notebook(src, dst, mask=mask)
    elif not mask:
        shutil.copyfile(src, dst)
    elif suffix == ".jsonl":
        _jsonl(src, dst, personal, masked_lines)
    elif suffix == ".json":
        data = json.loads(src.read_text(encoding="utf-8"))
        _write_text(dst, json.dumps(mask_json(data), ensure_ascii=False, indent=1))
    elif suffix == ".parquet":
        _parquet(src, dst, personal, masked_lines or [])
    elif suffix == ".csv":
        _csv(src, dst)
    elif suffix in {".html", ".htm"}:
        _write_text(dst, sweep_personal_data(src.read_text(encoding="utf-8")))
    elif suffix in _TEXT_SUFFIXES:
        _write_text(dst, str(mask_text(src.read_text(encoding="utf-8"))))
    else:
        return False
    return True


def publish_notebook(src: Path, dst: Path, *, mask: bool) -> Path:
    """An executed notebook for the report folder: outputs masked when ``mask``, plotly.js not repeated."""
    nb = nbformat.read(str(src), as_version=4)
    for cell in nb.cells:
        if mask:  # code and narrative are the team's, but a test value or an example may sit in them
            cell["source"] = mask_text(cell.get("source", ""))
        for out in cell.get("outputs", []):
            _clean_output(out, mask)
    with written_over(dst) as tmp:
        nbformat.write(nb, str(tmp))
    return dst


def _clean_output(out: Any, mask: bool) -> None:
    kind = out.get("output_type")
    if kind == "stream" and mask:
        out["text"] = mask_text(out.get("text", ""))
    elif kind == "error" and mask:
        out["evalue"] = mask_text(out.get("evalue", ""))
        out["traceback"] = [mask_text(line) for line in out.get("traceback", [])]
    elif kind in {"display_data", "execute_result"}:
        data = out.get("data", {})
        for mime, value in list(data.items()):
            if mime == "text/html" and isinstance(value, str):
                value = strip_library(value)
                data[mime] = sweep_personal_data(value) if mask else value
            elif not mask or mime.startswith("image/"):
                continue
            elif isinstance(value, str):
                data[mime] = mask_text(value)
            else:
                data[mime] = mask_json(value)


def _is_finding(row: object) -> bool:
    return isinstance(row, dict) and "kind" in row and "records" in row


def _jsonl(
    src: Path, dst: Path, personal: dict[str, PersonalKind], masked_lines: list[tuple[Path, Path]] | None
) -> None:
    """Set-based in DuckDB (:mod:`syncaudit.report.masking_sql`), chunk by chunk and spilling to disk, so a findings
    file of any size goes through without a Python call per finding; a file whose lines are all lines of a file
    already masked in this publish is written from those masked lines
    (:func:`syncaudit.report.masking_sql.reuse_masked_lines`; the same output)."""
    for lines, masked in masked_lines or []:
        if reuse_masked_lines(src, dst, lines, masked):
            break
    else:
        if masked_lines:
            log.info("%s: not all lines are lines of %s; masked on its own", _shown(src), _names(masked_lines))
        mask_findings_jsonl(src, dst, personal)
    if masked_lines is not None:
        masked_lines.append((src, dst))


def _parquet(src: Path, dst: Path, personal: dict[str, PersonalKind], masked_lines: list[tuple[Path, Path]]) -> None:
    """Batch by batch, keeping the schema; findings set-based in DuckDB (:mod:`syncaudit.report.masking_parquet`),
    other tables by column. Findings that are all lines of a ``.jsonl`` already masked in this publish
    (``masked_lines``: source and masked file; the audit's ``findings.parquet`` beside ``findings.jsonl``) are
    written from those masked lines instead of being masked a second time
    (:func:`syncaudit.report.masking_parquet.reuse_masked_jsonl`; the same output)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(src)
    schema = reader.schema_arrow
    findings = {"kind", "records"} <= set(schema.names)
    if findings and masking_parquet.supported(schema):
        # The file's own twin (same folder and name) first, then any other masked lines.
        twins = sorted(masked_lines, key=lambda pair: (pair[0].parent, pair[0].stem) != (src.parent, src.stem))
        for lines, masked in twins:
            if masking_parquet.reuse_masked_jsonl(src, dst, lines, masked):
                return
        if twins:
            log.info("%s: not every row has an identical line in %s; masked on its own", _shown(src), _names(twins))
        masking_parquet.mask_findings_parquet(src, dst, personal)
        return
    with written_over(dst) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for batch in reader.iter_batches(batch_size=_BATCH_ROWS):
            if findings:  # a column with no exact JSON form (a map, dates in a struct): the walk, row by row
                rows = [mask_finding(r, personal) for r in batch.to_pylist()]
                table = pa.Table.from_pylist(rows, schema=schema)
            else:
                frame = mask_frame(batch.to_pandas())
                table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            writer.write_table(table)


def _shown(path: Path) -> str:
    """A work folder's file as a log names it: its folder and name (``audit/findings.jsonl``)."""
    return f"{path.parent.name}/{path.name}"


def _names(masked_lines: list[tuple[Path, Path]]) -> str:
    return ", ".join(_shown(lines) for lines, _ in masked_lines)


def _csv(src: Path, dst: Path) -> None:
    frame = pd.read_csv(src, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    write_safe_csv(mask_frame(frame), dst)


def _write_text(dst: Path, text: str) -> None:
    with written_over(dst) as tmp:
        tmp.write_text(text, encoding="utf-8")
