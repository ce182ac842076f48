"""Run the suites on a snapshot through Great Expectations Core (ephemeral context, pandas).

Each suite reads one dataset with only the columns its expectations use, and
GX validates the whole suite in one pass (GX shares metrics between
expectations, so a suite costs far less than its expectations one by one).
Results keep counts for every failing record (pass 1, whole table) and a
bounded sample of record ids (pass 2: GX's ``partial_unexpected_index_list`` on
a leading slice just big enough), never the data values.
"""

from __future__ import annotations

import copy
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from syncaudit.config import Config
from syncaudit.quality.datasets import SnapshotTables, dataset_columns, load_dataset
from syncaudit.quality.suites import (
    Suite,
    SuiteProblem,
    expectation_columns,
    expectation_label,
    is_critical,
    is_generated,
)

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
    needed = id_cols + [c for _, e in to_run for c in expectation_columns(e)]
    df = load_dataset(tables, cfg, suite.dataset, needed, order_by=id_cols)
    out.rows = len(df)
    if to_run:
        out.outcomes += _validate(ctx, suite, to_run, df, id_cols, params)
    del df  # 1M rows: let it go before the next suite loads
    out.outcomes.sort(key=lambda o: o.index)
    out.seconds = round(time.perf_counter() - started, 3)
    return out


def _validate(
    ctx: Any, suite: Suite, to_run: list[tuple[int, dict[str, Any]]], df: Any, id_cols: list[str], params: dict
) -> list[ExpectationOutcome]:
    """The GX part of one suite. Its suite and datasource leave the context afterwards: GX keeps every
    batch it was given alive otherwise, and ten 1M-row tables would pile up in memory."""
    import great_expectations as gx

    name = f"{suite.name}-{next(_names)}"
    gx_suite = ctx.suites.add(
        gx.ExpectationSuite(name=name, expectations=[{k: v for k, v in e.items() if k != "id"} for _, e in to_run])
    )
    try:
        by_id = {gx_exp.id: gx_exp for gx_exp in gx_suite.expectations}
        position = {gx_exp.id: pos for pos, gx_exp in enumerate(gx_suite.expectations)}
        batch_def = (
            ctx.data_sources.add_pandas(name).add_dataframe_asset("table").add_batch_definition_whole_dataframe("all")
        )
        batch = batch_def.get_batch(batch_parameters={"dataframe": df})
        # Pass 1, whole table: counts only. GX's SUMMARY format builds a Python dict per failing row before
        # keeping 20 (20 s for 250k failures), so the record ids come from pass 2 on a bounded slice.
        basic = {"result_format": "BASIC", "partial_unexpected_count": SAMPLE_IDS}
        validation = batch.validate(gx_suite, result_format=basic, expectation_parameters=params)
        outcomes = []
        for res in validation.results:
            i, exp = to_run[position[res.expectation_config.id]]
            o = _from_gx(suite, i, exp, res, id_cols)
            if o.success is False and o.unexpected_count and id_cols:
                rows = _sample_rows(batch_def, df, by_id[res.expectation_config.id], o, id_cols, params)
                o.sample_ids = [{c: _plain(r.get(c)) for c in id_cols} for r in rows if isinstance(r, dict)]
            outcomes.append(o)
        return outcomes
    finally:
        if name in {d.name for d in ctx.data_sources.all().values()}:
            ctx.data_sources.delete(name)
        ctx.suites.delete(name)


_names = itertools.count()

# Expectations whose verdict on a row depends on other rows: their slice is taken after sorting by the
# column(s), so duplicates sit next to each other.
NON_LOCAL = {
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_multicolumn_values_to_be_unique",
}


def _sample_rows(
    batch_def: Any, df: Any, gx_exp: Any, o: ExpectationOutcome, id_cols: list[str], params: dict[str, Any]
) -> list[Any]:
    """Pass 2: GX's failing-row ids on the smallest leading slice expected to hold SAMPLE_IDS failures."""
    n = len(df)
    want = min(SAMPLE_IDS, o.unexpected_count or 0)
    frame = df
    if o.type in NON_LOCAL:
        cols = [c for c in expectation_columns({"kwargs": o.kwargs}) if c in df.columns]
        # Sort just the columns the check reads (not the whole table): duplicates end up side by side.
        keep = list(dict.fromkeys(id_cols + cols))
        frame = df[keep].sort_values(cols, na_position="last", kind="stable")
    k = min(n, max(1_000, int(4 * SAMPLE_IDS * n / max(o.unexpected_count or 1, 1))))
    result_format = {
        "result_format": "SUMMARY",
        "partial_unexpected_count": SAMPLE_IDS,
        "unexpected_index_column_names": id_cols,
    }
    while True:
        batch = batch_def.get_batch(batch_parameters={"dataframe": frame.iloc[:k]})
        res = batch.validate(gx_exp, result_format=result_format, expectation_parameters=params)
        rows = (res.result or {}).get("partial_unexpected_index_list") or []
        if len(rows) >= want or k >= n:
            return rows[:SAMPLE_IDS]
        k = min(n, k * 8)


def _from_gx(suite: Suite, index: int, exp: dict[str, Any], res: Any, id_cols: list[str]) -> ExpectationOutcome:
    o = _outcome(suite, index, exp)
    info = res.exception_info or {}
    if "raised_exception" not in info:  # GX nests per-metric errors under metric ids
        info = next(iter(info.values()), {}) if info else {}
    if info.get("raised_exception"):
        o.error = f"Great Expectations could not evaluate it: {info.get('exception_message')}"
        suite.problems.append(SuiteProblem(str(suite.path), o.label, o.error))
        return o
    r = res.result or {}
    o.success = bool(res.success)
    o.element_count = r.get("element_count")
    o.unexpected_count = r.get("unexpected_count")
    o.unexpected_percent = r.get("unexpected_percent")
    if "observed_value" in r:
        o.observed_value = _plain(r["observed_value"])
    return o


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
        except Exception as exc:  # noqa: BLE001 - one failing suite must not stop the others
            suite.problems.append(SuiteProblem(str(suite.path), None, f"the suite could not run: {exc}"))
        run.problems += suite.problems[before:]
    run.seconds = round(time.perf_counter() - started, 3)
    return run
