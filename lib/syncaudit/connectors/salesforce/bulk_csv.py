"""Bulk API 2.0 query results: each page streamed to a temporary file, then read in blocks as Arrow tables.

Results are RFC 4180 CSV: values holding the delimiter, a quote or a line break are quoted, quotes are
doubled, and a quoted value may span lines (Task transcripts, mailing streets). Arrow's reader splits
its input into blocks at line ends, so it must be told that values may hold newlines; a single row
longer than a block (a few 131,072-character text areas) is read again with bigger blocks. A page
never sits whole in memory: it goes to disk as it arrives and is read back one block at a time.
"""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from syncaudit.connectors.arrow import coerce
from syncaudit.connectors.http import TRANSIENT_EXCEPTIONS
from syncaudit.connectors.progress import StopRequested
from syncaudit.errors import FatalAPIError, RetriableAPIError

BLOCK_SIZE = 8 << 20  # bytes of CSV per Arrow block (a few thousand transcripts)
MAX_BLOCK_SIZE = 1 << 30
BOM = b"\xef\xbb\xbf"


def _header(path: Path) -> tuple[list[str], int]:
    """The header row's names and how many bytes to skip before it (a UTF-8 BOM)."""
    with open(path, "rb") as f:
        skip = len(BOM) if f.read(len(BOM)) == BOM else 0
        f.seek(skip)
        line = f.readline().decode("utf-8")
    names = next(csv.reader([line]), [])
    return names, skip


def read_csv_tables(
    path: Path,
    schema: pa.Schema,
    *,
    what: str,
    block_size: int = BLOCK_SIZE,
    header: list[str] | None = None,
) -> Iterator[pa.Table]:
    """Tables with exactly ``schema`` from one results page on disk; columns found by header name (any case).

    ``header`` is the first page's header: a later page that does not start with it is read as data rows
    under those names (every page carries the header in Salesforce, but a page without one must not turn
    its first record into column names and every column into nulls).
    """
    names, skip = _header(path)
    if not names:
        return
    headerless = header is not None and [n.lower() for n in names] != [h.lower() for h in header]
    if headerless:
        names = list(header or [])
    by_lower = {n.lower(): n for n in names}
    wanted = [by_lower[f.name.lower()] for f in schema if f.name.lower() in by_lower]
    yielded = 0  # rows handed out; skipped when a block overflow makes the read start again
    while True:
        skip_rows = yielded
        try:
            for table in _blocks(path, skip, names, wanted, block_size, headerless):
                if skip_rows >= table.num_rows:
                    skip_rows -= table.num_rows
                    continue
                if skip_rows:
                    table, skip_rows = table.slice(skip_rows), 0
                yielded += table.num_rows
                yield _typed(table, schema, by_lower, what)
            return
        except pa.ArrowInvalid as exc:
            text = str(exc)
            if ("straddl" in text or "out of sync" in text) and block_size < MAX_BLOCK_SIZE:
                block_size *= 4  # one row is longer than a block
                continue
            raise FatalAPIError(
                f"Bulk API results of {what} could not be read as CSV: {text}",
                system="salesforce",
                hint="run the pull again (it resumes); if it fails on the same page, report the record",
            ) from None


def _blocks(
    path: Path, skip: int, names: list[str], wanted: list[str], block_size: int, headerless: bool
) -> Iterator[pa.Table]:
    source = pa.OSFile(str(path), "rb")
    try:
        source.seek(skip)
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                block_size=block_size, use_threads=True, column_names=names if headerless else None
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                include_columns=wanted,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
        for batch in reader:
            yield pa.Table.from_batches([batch])
    finally:
        source.close()


def _typed(table: pa.Table, schema: pa.Schema, by_lower: dict[str, str], what: str) -> pa.Table:
    cols = []
    for f in schema:
        src = by_lower.get(f.name.lower())
        col = table[src].combine_chunks() if src in table.column_names else pa.nulls(table.num_rows, pa.string())
        cols.append(coerce(col, f.type, name=f"{what}.{f.name}"))
    return pa.Table.from_arrays(cols, schema=schema)


class BulkQuery:
    """One Bulk API 2.0 queryAll job: create, wait, and read its result pages as tables."""

    def __init__(
        self,
        client: Any,
        what: str,
        *,
        page_size: int = 100_000,
        should_stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.what = what
        self.page_size = page_size
        self.should_stop = should_stop
        self.sleep = sleep
        self.pages = 0

    def tables(self, soql: str, schema: pa.Schema) -> Iterator[pa.Table]:
        job_id = self._run_job(soql)
        locator: str | None = None
        header: list[str] | None = None
        with tempfile.TemporaryDirectory(prefix="syncaudit-bulk-") as tmp:
            page = Path(tmp) / "page.csv"
            while True:
                locator, expected = self._download(job_id, locator, page)
                header = header or _header(page)[0] or None
                rows = 0
                for table in read_csv_tables(page, schema, what=self.what, header=header):
                    rows += table.num_rows
                    yield table
                if expected is not None and rows != expected:
                    raise RetriableAPIError(
                        f"Bulk API results page of {self.what} announced {expected} records and held {rows}",
                        system="salesforce",
                        hint="the pull is resumable: run it again",
                    )
                self.pages += 1
                if not locator or locator == "null" or self.should_stop():
                    return

    def _run_job(self, soql: str) -> str:
        body = {
            "operation": "queryAll",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        job = self.client.request("POST", "jobs/query", f"bulk query {self.what}", json=body).json()
        job_id = job["id"]
        delay = 0.2
        while job.get("state") not in {"JobComplete", "Failed", "Aborted"}:
            if self.should_stop():
                raise StopRequested()
            self.sleep(delay)
            delay = min(delay * 1.5, 5.0)
            job = self.client.request("GET", f"jobs/query/{job_id}", f"bulk job {self.what}").json()
        if job["state"] != "JobComplete":
            raise FatalAPIError(
                f"Bulk API query job for {self.what} ended {job['state']}: {job.get('errorMessage', '')}",
                system="salesforce",
                hint="check the field list and the user's permissions; the pull can be run again",
            )
        return str(job_id)

    def _download(self, job_id: str, locator: str | None, dest: Path) -> tuple[str | None, int | None]:
        """One results page into ``dest``; a body cut off mid-transfer is fetched again."""
        params: dict[str, Any] = {"maxRecords": self.page_size}
        if locator:
            params["locator"] = locator
        attempt = 0
        while True:
            resp = self.client.request(
                "GET",
                f"jobs/query/{job_id}/results",
                f"bulk results {self.what}",
                params=params,
                headers={"Accept": "text/csv"},
                stream=True,
            )
            try:
                with open(dest, "wb") as f:
                    for chunk in resp.iter_content(chunk_size=1 << 20):
                        f.write(chunk)
            except TRANSIENT_EXCEPTIONS as exc:
                self.client.backoff.wait(attempt, exc, f"Salesforce bulk results {self.what}")
                attempt += 1
                continue
            finally:
                resp.close()
            count = resp.headers.get("Sforce-NumberOfRecords")
            expected = int(count) if count and count.isdigit() else None
            return resp.headers.get("Sforce-Locator"), expected
