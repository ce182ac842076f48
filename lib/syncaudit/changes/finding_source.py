"""The findings a change plan is built from, one kind (and batch) at a time.

A plan of a large audit reads a findings file of millions of lines; each fix policy needs the findings of one
kind, and handles them a batch at a time (its records prefetched per batch). :class:`FindingSource` keeps the
findings on disk (a DuckDB table in the plan's temporary folder, with the columns policies filter on) and hands
out each kind's findings in the plan's order (kind, then id; ties in file order), a batch of dicts at a time,
so the plan never holds the whole file as Python objects. A list of findings (a notebook's, a test's, one
review decision's) is served the same way from memory.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson

from syncaudit.errors import SyncAuditError

BATCH = 20_000  # findings a policy handles at once (their records are prefetched per batch)


def _order(f: dict[str, Any]) -> tuple[str, str]:
    return (str(f.get("kind")), str(f.get("id")))


class FindingSource:
    """Findings by kind, in (kind, id) order; see the module docstring."""

    def __init__(self, findings: list[dict[str, Any]] | None = None) -> None:
        self._list = sorted(findings or [], key=_order)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._count = len(self._list)

    @classmethod
    def from_file(cls, path: Path, *, memory_limit: str = "512MB") -> FindingSource:
        """The findings of a findings.jsonl, loaded into a DuckDB file beside nothing else (a temporary folder,
        removed by :meth:`close`); a line that is not a JSON object raises SyncAuditError naming it."""
        path = Path(path)
        if not path.is_file():
            raise SyncAuditError(f"no findings at {path}", hint="run `syncaudit findings --config F` first")
        src = cls()
        src._tmp = tempfile.TemporaryDirectory(prefix="syncaudit-findings-")
        con = duckdb.connect(str(Path(src._tmp.name) / "findings.duckdb"))
        src._con = con
        try:
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET temp_directory = '{Path(src._tmp.name) / 'spill'}'")
            con.execute("SET preserve_insertion_order = true")
            try:
                con.execute(
                    "CREATE TABLE findings AS SELECT row_number() OVER () AS n, json AS j "
                    "FROM read_json_objects(?, format = 'newline_delimited')",
                    [str(path)],
                )
            except duckdb.Error:
                _raise_first_bad_line(path)
                raise
            bad = con.execute("SELECT min(n) FROM findings WHERE json_type(j) <> 'OBJECT'").fetchone()
            if bad and bad[0] is not None:
                _raise_first_bad_line(path)
            # The columns the policies filter on, as Python's str() would give them (None for a missing key).
            con.execute(
                "CREATE TABLE f AS SELECT n, "
                "COALESCE(json_extract_string(j, '$.kind'), 'None') AS kind, "
                "COALESCE(json_extract_string(j, '$.id'), 'None') AS id, "
                "json_extract_string(j, '$.system') AS system, j::VARCHAR AS line FROM findings"
            )
            con.execute("DROP TABLE findings")
            # The plan's order, sorted on the keys alone (a sort that carries the lines fails to pin its blocks
            # under the memory limit when a kind holds large findings): each batch's lines are then fetched by
            # row number, and the file is in kind order already, so a batch reads a few row groups.
            con.execute(
                "CREATE TABLE o AS SELECT row_number() OVER (ORDER BY kind, id, n) AS r, n, kind, system FROM f"
            )
            src._count = con.execute("SELECT count(*) FROM f").fetchone()[0]  # type: ignore[index]
        except BaseException:
            src.close()
            raise
        return src

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every finding, in (kind, id) order."""
        for batch in self.batches():
            yield from batch

    def of_kind(self, kind: str, system: str | None = None) -> Iterator[dict[str, Any]]:
        for batch in self.batches(kind, system):
            yield from batch

    def count(self, kind: str, system: str | None = None) -> int:
        if self._con is None:
            return sum(1 for _ in self._matching(kind, system))
        where, params = _where(kind, system)
        return self._con.execute(f"SELECT count(*) FROM f {where}", params).fetchone()[0]  # type: ignore[index]

    def batches(
        self, kind: str | None = None, system: str | None = None, size: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The findings (of ``kind``, and of ``system`` when given) in (kind, id) order, ``size`` (default
        :data:`BATCH`) at a time."""
        size = size or BATCH
        if self._con is None:
            rows = list(self._matching(kind, system))
            for i in range(0, len(rows), size):
                yield rows[i : i + size]
            return
        where, params = _where(kind, system)
        # A cursor of its own: a policy's look-ups between batches do not disturb it.
        cur = self._con.cursor()
        try:
            order = cur.execute(f"SELECT n FROM o {where} ORDER BY r", params).fetchnumpy()["n"]
            for i in range(0, len(order), size):
                chunk = order[i : i + size]
                rows = cur.execute(
                    "SELECT f.line FROM unnest(?::BIGINT[]) WITH ORDINALITY AS c(n, i) JOIN f USING (n) "
                    "WHERE f.n BETWEEN ? AND ? ORDER BY c.i",
                    [chunk.tolist(), int(chunk.min()), int(chunk.max())],
                ).fetchall()
                yield [orjson.loads(line) for (line,) in rows]
        finally:
            cur.close()

    def _matching(self, kind: str | None, system: str | None) -> Iterator[dict[str, Any]]:
        for f in self._list:
            if kind is not None and str(f.get("kind")) != kind:
                continue
            if system is not None and f.get("system") != system:
                continue
            yield f


def _where(kind: str | None, system: str | None) -> tuple[str, list[str]]:
    clauses, params = [], []
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if system is not None:
        clauses.append("system = ?")
        params.append(system)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _raise_first_bad_line(path: Path) -> None:
    """The error for the first line that is not a JSON object (only read when DuckDB refused the file)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise SyncAuditError(f"{path} line {n} is not JSON", hint="re-run `syncaudit findings`") from None
            if not isinstance(row, dict):
                raise SyncAuditError(
                    f"{path} line {n} is not a finding (a JSON object)", hint="re-run `syncaudit findings`"
                )
