"""Run the suites on a snapshot through Great Expectations Core (ephemeral context, pandas), out of core.

Each suite reads one dataset with only the columns its expectations use. DuckDB streams it in batches of
BATCH_ROWS rows (sorting and spilling within ``audit.memory_limit``) and GX validates the suite's row-by-row
expectations on each batch in one pass (GX shares metrics between expectations, so a suite costs far less
than its expectations one by one). GX's counts are summed over the batches and GX's own ``_validate`` decides
each expectation on the sums, so verdicts, counts and percentages equal one pass over the whole table.
Uniqueness runs on the dataset sorted by its column(s), cut between values; the row count is summed.
Results keep counts for every failing record (pass 1, BASIC) and a bounded sample of record ids (pass 2:
GX's ``partial_unexpected_index_list`` on a leading slice of a batch with failures), never the data values.
A table of at most one batch runs the whole suite in one GX pass, as before.
"""

from __future__ import annotations

import copy
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from syncaudit.config import Config
from syncaudit.duckdb_resources import out_of_memory
from syncaudit.quality.datasets import SnapshotTables, dataset_columns, dataset_sql, load_dataset, stream_dataset
from syncaudit.quality.suites import (
    Suite,
    SuiteProblem,
    expectation_columns,
    expectation_label,
    is_critical,
    is_generated,
)

BATCH_ROWS = 250_000  # rows GX validates at a time: memory holds one batch of the checked columns, not the table
SAMPLE_IDS = 20  # record ids kept per failed expectation; every failing record is still counted
CLOCK_SKEW = timedelta(minutes=5)  # "not in the future" tolerates this much clock difference between systems


@dataclass
class ExpectationOutcome:
    """One expectation's result, reduced to what findings, metrics and Data Docs need."""

    suite: str
    dataset: str
    index: int
    label: str
    type: str
    kwargs: dict[str, Any]
    critical: bool
    generated: bool
    success: bool | None = None  # None: could not be evaluated (see error)
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None  # GX's: over non-missing values
    observed_value: Any = None
    sample_ids: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def pass_rate(self) -> float | None:
        """Share of checked (non-missing) records that pass, as GX counts; table-level expectations 1.0 or 0.0."""
        if self.success is None:
            return None
        if self.unexpected_percent is not None:
            return round(1 - self.unexpected_percent / 100, 6)
        return 1.0 if self.success else 0.0


@dataclass
class SuiteOutcome:
    name: str
    file: str
    dataset: str
    id_columns: list[str]
    rows: int = 0
    seconds: float = 0.0
    outcomes: list[ExpectationOutcome] = field(default_factory=list)


@dataclass
class QualityRun:
    """Everything one run produced; findings, metrics and gates are derived from it."""

    snapshot_id: str
    now: str
    suites: list[SuiteOutcome] = field(default_factory=list)
    problems: list[SuiteProblem] = field(default_factory=list)
    seconds: float = 0.0

    def outcomes(self) -> list[ExpectationOutcome]:
        return [o for s in self.suites for o in s.outcomes]


def snapshot_time(tables: SnapshotTables) -> datetime:
    """When the snapshot was taken: the manifest's finish (or start) time, else its id, else now."""
    for key in ("finished_at", "completed_at", "ended_at", "started_at", "created_at"):
        value = tables.manifest.get(key)
        if isinstance(value, str):
            try:
                ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
            except ValueError:
                continue
    try:
        return datetime.strptime(tables.id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def _gx_context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX logs every metric failure with a traceback; we report them ourselves, once, with file and expectation.
    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)
    # GX fingerprints every in-memory batch by hashing all of its cells, twice per suite (a third of the
    # run at 1M rows). The fingerprint is only a batch marker; a snapshot id already names our batch.
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _outcome(suite: Suite, index: int, exp: dict[str, Any]) -> ExpectationOutcome:
    return ExpectationOutcome(
        suite=suite.name,
        dataset=suite.dataset,
        index=index,
        label=expectation_label(index, exp),
        type=str(exp.get("type", "?")),
        kwargs=copy.deepcopy(exp["kwargs"]) if isinstance(exp.get("kwargs"), dict) else {},
        critical=is_critical(exp),
        generated=is_generated(exp),
        meta=dict(exp["meta"]) if isinstance(exp.get("meta"), dict) else {},
    )


def run_suite(ctx: Any, suite: Suite, tables: SnapshotTables, cfg: Config, params: dict[str, Any]) -> SuiteOutcome:
    """Validate one suite; problems are recorded on the outcomes and in ``suite.problems``, never raised."""

    started = time.perf_counter()
    out = SuiteOutcome(suite.name, str(suite.path), suite.dataset, suite.id_columns)
    for i in sorted(suite.invalid):
        exp = suite.expectations[i]
        o = _outcome(suite, i, exp if isinstance(exp, dict) else {})
        o.error = next((p.message for p in suite.problems if p.expectation == o.label), "invalid expectation")
        out.outcomes.append(o)
    available = dataset_columns(tables, cfg, suite.dataset)
    runnable = suite.runnable()
    if available is None:
        msg = f"dataset '{suite.dataset}' is not in snapshot {tables.id}"
        suite.problems.append(SuiteProblem(str(suite.path), None, msg + "; check meta.dataset (e.g. sf_Contact)"))
        for i, exp in runnable:
            o = _outcome(suite, i, exp)
            o.error = msg
            out.outcomes.append(o)
        out.outcomes.sort(key=lambda o: o.index)
        return out
    have = set(available)
    id_cols = [c for c in suite.id_columns if c in have]
    for c in suite.id_columns:
        if c not in have:
            suite.problems.append(
                SuiteProblem(str(suite.path), None, f"id column '{c}' is not in dataset '{suite.dataset}'")
            )
    to_run: list[tuple[int, dict[str, Any]]] = []
    for i, exp in runnable:
        missing = [c for c in expectation_columns(exp) if c not in have]
        if missing:
            o = _outcome(suite, i, exp)
            o.error = (
                f"column(s) {missing} not in dataset '{suite.dataset}' of snapshot {tables.id}; "
                f"fix the column name or remove the expectation (available: {', '.join(sorted(have)[:40])})"
            )
            suite.problems.append(SuiteProblem(str(suite.path), o.label, o.error))
            out.outcomes.append(o)
        else:
            to_run.append((i, exp))
    if to_run:
        out.outcomes += _validate(ctx, suite, to_run, tables, cfg, id_cols, params, out)
    else:
        out.rows = _row_count(tables, cfg, suite.dataset)
    out.outcomes.sort(key=lambda o: o.index)
    out.seconds = round(time.perf_counter() - started, 3)
    return out


def _row_count(tables: SnapshotTables, cfg: Config, dataset: str) -> int:
    return int(tables.con.execute(f"SELECT count(*) FROM ({dataset_sql(tables, cfg, dataset, [])})").fetchall()[0][0])


# Expectations whose verdict on a row depends on other rows. They run on the dataset sorted by their
# column(s), in batches cut only between two different values, so every group of duplicates is whole
# in one batch and the batches' counts add up to the table's.
NON_LOCAL = {
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_multicolumn_values_to_be_unique",
}
# Map expectations whose verdict on a row depends on the row before it (in the table's order): they see the
# whole table, as an aggregate does.
ORDERED = {"expect_column_values_to_be_increasing", "expect_column_values_to_be_decreasing"}
# Map expectations that decide on the column's type unless it is `object` (then row by row).
TYPE_CHECKS = {"expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"}
# Table-level expectations whose one metric is the row count: GX decides them on the summed count.
ROW_COUNT = {"table.row_count"}


def _kind(gx_exp: Any) -> str:
    """How an expectation runs out of core: 'local' (row by row, any batch), 'grouped' (NON_LOCAL),
    'rows' (on the row count), or 'whole' (an aggregate over all rows, or ORDERED: its columns are loaded
    whole)."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    if gx_exp.expectation_type in NON_LOCAL:
        return "grouped"
    if gx_exp.expectation_type in ORDERED:
        return "whole"
    if isinstance(gx_exp, ColumnMapExpectation | ColumnPairMapExpectation | MulticolumnMapExpectation):
        return "local"
    deps = set(getattr(gx_exp, "metric_dependencies", ()) or ())
    if deps and deps <= ROW_COUNT and not getattr(gx_exp, "row_condition", None):
        return "rows"
    return "whole"


@dataclass
class _Tally:
    """One expectation's results summed over the batches it ran on."""

    element_count: int = 0
    nonnull_count: int = 0
    unexpected_count: int | None = None
    aggregate: dict[str, Any] | None = None  # a map expectation GX decided on the column type (no row counts)
    error: str | None = None
    samples: list[Any] = field(default_factory=list)

    def add(self, res: Any) -> int:
        """Add one batch's result; returns the batch's unexpected count (0 when none or after an error)."""
        if self.error is not None:
            return 0
        err = _gx_error(res)
        if err is not None:
            self.error = err
            return 0
        r = res.result or {}
        if "unexpected_count" not in r:  # e.g. in_type_list on a typed column: one verdict on the dtype
            if self.aggregate is None:
                self.aggregate = {"success": bool(res.success), "result": dict(r)}
            else:
                self.aggregate["success"] = self.aggregate["success"] and bool(res.success)
            return 0
        n = int(r.get("element_count") or 0)
        self.element_count += n
        self.nonnull_count += n - int(r.get("missing_count") or 0)
        unexpected = int(r.get("unexpected_count") or 0)
        if r.get("unexpected_count") is not None:
            self.unexpected_count = (self.unexpected_count or 0) + unexpected
        return unexpected

    def verdict(self, gx_exp: Any, result_format: dict[str, Any]) -> dict[str, Any]:
        """GX's own verdict on the summed counts: the expectation's ``_validate`` (``mostly``, vacuous truth,
        percentages over non-missing values), exactly as on one batch holding every row."""
        from great_expectations.expectations.expectation import (
            ColumnMapExpectation,
            ColumnPairMapExpectation,
            MulticolumnMapExpectation,
        )

        if self.aggregate is not None and self.unexpected_count is None:
            return self.aggregate
        mm = gx_exp.map_metric
        metrics = {
            "table.row_count": self.element_count,
            "column_values.nonnull.unexpected_count": self.element_count - self.nonnull_count,
            f"{mm}.unexpected_count": self.unexpected_count,
            f"{mm}.filtered_row_count": self.nonnull_count,
        }
        rc = {"result_format": result_format}
        if gx_exp.expectation_type in TYPE_CHECKS:  # their row-by-row verdict is the map class's (GX's super())
            for base in (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation):
                if isinstance(gx_exp, base):
                    return base._validate(gx_exp, metrics, rc)
        return gx_exp._validate(metrics, rc)


def _gx_error(res: Any) -> str | None:
    info = res.exception_info or {}
    if "raised_exception" not in info:  # GX nests per-metric errors under metric ids
        info = next(iter(info.values()), {}) if info else {}
    if info.get("raised_exception"):
        return f"Great Expectations could not evaluate it: {info.get('exception_message')}"
    return None


def _validate(
    ctx: Any,
    suite: Suite,
    to_run: list[tuple[int, dict[str, Any]]],
    tables: SnapshotTables,
    cfg: Config,
    id_cols: list[str],
    params: dict,
    out: SuiteOutcome,
) -> list[ExpectationOutcome]:
    """The GX part of one suite, out of core: memory holds one batch of rows, never the table.

    Row-by-row expectations run as one GX suite on each batch of the dataset in record-id order; GX's results
    are summed and GX decides the expectation on the sums. Uniqueness runs on the dataset sorted by its
    column(s), batches cut between values. The row count is summed; any other aggregate gets its columns
    whole. The suite and datasource leave the context afterwards (GX keeps the batches it was given alive)."""
    import great_expectations as gx

    name = f"{suite.name}-{next(_names)}"
    gx_suite = ctx.suites.add(gx.ExpectationSuite(name=name, expectations=[_plain_exp(e) for _, e in to_run]))
    try:
        batch_def = (
            ctx.data_sources.add_pandas(name).add_dataframe_asset("table").add_batch_definition_whole_dataframe("all")
        )
        kinds = [_kind(x) for x in gx_suite.expectations]
        tallies = [_Tally() for _ in to_run]
        verdicts: dict[int, dict[str, Any]] = {}
        basic = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_IDS}
        out.rows = _row_count(tables, cfg, suite.dataset)
        if out.rows <= BATCH_ROWS:
            # The table is one batch: the whole suite in one GX pass, as GX would run it in memory.
            needed = id_cols + [c for _, e in to_run for c in expectation_columns(e)]
            members = list(enumerate(gx_suite.expectations))
            sort_cols = {pos: expectation_columns(to_run[pos][1]) for pos, k in enumerate(kinds) if k == "grouped"}
            for df in stream_dataset(tables, cfg, suite.dataset, needed, id_cols, BATCH_ROWS):
                _run_batch(batch_def, gx_suite, df, members, tallies, id_cols, params, sort_cols)
            kinds = ["done"] * len(kinds)
        # Uniqueness of the first record-id column: the id-ordered pass already has equal ids side by side, so it
        # runs there (its batches then cut only between two ids) instead of in a sorted pass of its own.
        cut: list[str] = []
        for pos, k in enumerate(kinds):
            exp = to_run[pos][1]
            if k == "grouped" and id_cols and expectation_columns(exp) == _key_columns(exp) == id_cols[:1]:
                kinds[pos], cut = "local", id_cols[:1]
        maps = [pos for pos, k in enumerate(kinds) if k == "local"]
        if maps:
            # Pass 1, batch by batch in record-id order, counts only (BASIC); record ids come from a bounded slice
            # of a batch with failures (GX's SUMMARY builds a Python dict per failing row before keeping 20).
            needed = id_cols + [c for pos in maps for c in expectation_columns(to_run[pos][1])]
            sub = ctx.suites.add(
                gx.ExpectationSuite(name=f"{name}-local", expectations=[_plain_exp(to_run[p][1]) for p in maps])
            )
            members = list(zip(maps, sub.expectations, strict=True))
            try:
                frames = stream_dataset(tables, cfg, suite.dataset, needed, id_cols, BATCH_ROWS)
                for df in _cut_between(frames, cut) if cut else frames:
                    _run_batch(batch_def, sub, df, members, tallies, id_cols, params)
                    del df  # let the batch go before DuckDB hands over the next
            finally:
                ctx.suites.delete(sub.name)
        for pos, kind in enumerate(kinds):
            exp = gx_suite.expectations[pos]
            if kind == "rows":
                verdicts[pos] = _on_row_count(exp, out.rows, basic)
            elif kind == "grouped":
                key = _key_columns(to_run[pos][1])
                cols = expectation_columns(to_run[pos][1])
                keep = list(dict.fromkeys(id_cols + cols))
                frames = stream_dataset(tables, cfg, suite.dataset, keep, cols + id_cols, BATCH_ROWS)
                for df in _cut_between(frames, key):
                    _run_batch(batch_def, exp, df, [(pos, exp)], tallies, id_cols, params)
                    del df
            elif kind == "whole":
                df = load_dataset(tables, cfg, suite.dataset, id_cols + expectation_columns(to_run[pos][1]), id_cols)
                _run_batch(batch_def, exp, df, [(pos, exp)], tallies, id_cols, params)
                del df
        outcomes = []
        for pos, (i, exp) in enumerate(to_run):
            t = tallies[pos]
            o = _outcome(suite, i, exp)
            verdict = verdicts.get(pos) or (t.verdict(gx_suite.expectations[pos], basic) if t.error is None else {})
            t.error = t.error or verdict.get("error")
            if t.error is not None:
                o.error = t.error
                suite.problems.append(SuiteProblem(str(suite.path), o.label, o.error))
            else:
                _apply(o, verdict)
                if o.success is False and o.unexpected_count and id_cols:
                    o.sample_ids = [{c: _plain(r.get(c)) for c in id_cols} for r in t.samples if isinstance(r, dict)]
            outcomes.append(o)
        return outcomes
    finally:
        if name in {d.name for d in ctx.data_sources.all().values()}:
            ctx.data_sources.delete(name)
        ctx.suites.delete(name)


_names = itertools.count()


def _plain_exp(exp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in exp.items() if k != "id"}


def _run_batch(
    batch_def: Any,
    what: Any,
    df: Any,
    members: list[tuple[int, Any]],
    tallies: list[_Tally],
    id_cols: list[str],
    params: dict[str, Any],
    sort_cols: dict[int, list[str]] | None = None,
) -> None:
    """Validate one batch (a suite or one expectation) and add its results; sample failing ids while short.

    ``sort_cols``: uniqueness expectations validated on an unsorted batch; their ids are sampled from the batch
    sorted by their columns (just those columns and the ids), so duplicates sit side by side."""
    basic = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_IDS}
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    validation = batch.validate(what, result_format=basic, expectation_parameters=params)
    results = validation.results if hasattr(validation, "results") else [validation]
    by_id = {gx_exp.id: (pos, gx_exp) for pos, gx_exp in members}
    for res in results:  # GX does not keep the suite's order
        pos, gx_exp = by_id[res.expectation_config.id] if len(members) > 1 else members[0]
        t = tallies[pos]
        unexpected = t.add(res)
        want = min(SAMPLE_IDS - len(t.samples), unexpected)
        if want > 0 and id_cols and t.error is None:
            frame = df
            if sort_cols and pos in sort_cols:
                cols = [c for c in sort_cols[pos] if c in df.columns]
                keep = list(dict.fromkeys(id_cols + cols))
                frame = df[keep].sort_values(cols, na_position="last", kind="stable")
            t.samples += _sample_rows(batch_def, frame, gx_exp, want, unexpected, id_cols, params)[:want]


def _on_row_count(gx_exp: Any, rows: int, result_format: dict[str, Any]) -> dict[str, Any]:
    """GX's verdict for a table row-count expectation on the counted rows."""
    try:
        return gx_exp._validate({"table.row_count": rows}, {"result_format": result_format})
    except Exception as exc:  # noqa: BLE001 - reported like GX's own evaluation errors
        return {"error": f"Great Expectations could not evaluate it: {exc}"}


def _key_columns(exp: dict[str, Any]) -> list[str]:
    kwargs = exp.get("kwargs") or {}
    if isinstance(kwargs.get("column"), str):
        return [kwargs["column"]]
    return [c for c in kwargs.get("column_list") or [] if isinstance(c, str)]


def _cut_between(frames: Iterator[Any], key: list[str]) -> Iterator[Any]:
    """Frames of a dataset sorted by ``key`` first, re-cut only where the key changes, so rows sharing a key
    value are always in the same batch (a value on more rows than a batch makes that batch larger). Rows whose
    key is all missing are never duplicates to GX; they may be cut anywhere."""
    import pandas as pd

    carry = None
    for df in frames:
        frame = df if carry is None else pd.concat([carry, df], ignore_index=True)
        del df
        if frame.empty:
            yield frame
            continue
        last = frame[key].iloc[-1]
        if last.isna().all():
            carry = None
            yield frame
            continue
        same = pd.Series(True, index=frame.index)
        for c in key:
            v = last[c]
            col = frame[c]
            same &= col.isna() if pd.isna(v) else (col == v).fillna(False).astype(bool)
        # Start of the trailing run of rows equal to the last one (sorted: equal keys are contiguous).
        differ = (~same).to_numpy().nonzero()[0]
        cut = int(differ[-1]) + 1 if len(differ) else 0
        if cut == 0:
            carry = frame  # one value fills the batch: keep reading until the value changes
            continue
        carry = frame.iloc[cut:].reset_index(drop=True)
        yield frame.iloc[:cut]
    if carry is not None:
        yield carry


def _sample_rows(
    batch_def: Any, df: Any, gx_exp: Any, want: int, unexpected: int, id_cols: list[str], params: dict[str, Any]
) -> list[Any]:
    """Pass 2: GX's failing-row ids on the smallest leading slice of this batch expected to hold ``want``
    failures (the batch is in record-id order, or sorted by the columns for uniqueness)."""
    n = len(df)
    k = min(n, max(1_000, int(4 * SAMPLE_IDS * n / max(unexpected, 1))))
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": SAMPLE_IDS,
        "unexpected_index_column_names": id_cols,
    }
    while True:
        batch = batch_def.get_batch(batch_parameters={"dataframe": df.iloc[:k]})
        res = batch.validate(gx_exp, result_format=result_format, expectation_parameters=params)
        rows = (res.result or {}).get("partial_unexpected_index_list") or []
        if len(rows) >= want or k >= n:
            return rows
        k = min(n, k * 8)


def _apply(o: ExpectationOutcome, verdict: dict[str, Any]) -> None:
    """Copy GX's verdict (``success`` and its ``result``) onto the outcome."""
    r = verdict.get("result") or {}
    o.success = bool(verdict.get("success"))
    o.element_count = r.get("element_count")
    o.unexpected_count = r.get("unexpected_count")
    o.unexpected_percent = r.get("unexpected_percent")
    if "observed_value" in r:
        o.observed_value = _plain(r["observed_value"])


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, str | int | bool):
        return v
    if isinstance(v, float):
        return None if v != v else v
    return str(v)


def run_quality(cfg: Config, tables: SnapshotTables, suites: list[Suite], problems: list[SuiteProblem]) -> QualityRun:
    """Run every suite on the snapshot; a broken suite or expectation is reported and the rest still run."""
    import syncaudit.offline  # noqa: F401  (analytics off before GX is imported)

    started = time.perf_counter()
    now = snapshot_time(tables) + CLOCK_SKEW
    run = QualityRun(tables.id, now.isoformat(), problems=list(problems))
    ctx = _gx_context()
    params = {"now": now.isoformat(), "snapshot_time": now.isoformat()}
    for suite in suites:
        before = len(suite.problems)
        try:
            run.suites.append(run_suite(ctx, suite, tables, cfg, params))
        except duckdb.OutOfMemoryException as exc:  # the setting is the fix, for every suite: stop with it
            raise out_of_memory(exc, cfg) from None
        except Exception as exc:  # noqa: BLE001 - one failing suite must not stop the others
            suite.problems.append(SuiteProblem(str(suite.path), None, f"the suite could not run: {exc}"))
        run.problems += suite.problems[before:]
    run.seconds = round(time.perf_counter() - started, 3)
    return run
