"""The suite editor notebook's library side: open a suite, list it as a table, preview it on a snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from syncaudit.config import Config
from syncaudit.errors import ConfigError
from syncaudit.quality.datasets import open_tables
from syncaudit.quality.run import SuiteOutcome, run_quality
from syncaudit.quality.suites import (
    Suite,
    expectation_columns,
    expectation_label,
    expectation_meta,
    is_critical,
    is_generated,
    load_suite,
)


def open_suite(name: str, directory: str | Path | None = None, cfg: Config | None = None) -> Suite:
    """Load ``<directory>/<name>.json`` (directory default: the project's expectations/)."""
    from syncaudit.quality.cli import expectations_dir

    d = Path(directory) if directory else expectations_dir(cfg)
    path = d / f"{name}.json"
    if not path.is_file():
        names = sorted(p.stem for p in d.glob("*.json"))
        raise ConfigError(f"no suite '{name}'", file=str(d), hint=f"pick one of: {', '.join(names) or '(none)'}")
    return load_suite(path)


def suite_table(suite: Suite) -> pd.DataFrame:
    """One row per expectation: index, label, columns, generated/critical flags, arguments, problem."""
    problems = {p.expectation: p.message for p in suite.problems}
    rows = []
    for i, exp in enumerate(suite.expectations):
        ok = isinstance(exp, dict)
        label = expectation_label(i, exp) if ok else f"#{i}"
        kwargs = {
            k: v for k, v in (exp.get("kwargs") or {}).items() if ok and k not in ("column", "column_A", "column_B")
        }
        rows.append(
            {
                "index": i,
                "expectation": exp.get("type") if ok else None,
                "columns": ", ".join(expectation_columns(exp)) if ok else "",
                "generated": ok and is_generated(exp),
                "critical": ok and is_critical(exp),
                "arguments": json.dumps(kwargs, default=str)[:200],
                "why": expectation_meta(exp).get("why", ""),
                "problem": problems.get(label, ""),
            }
        )
    return pd.DataFrame(rows).set_index("index") if rows else pd.DataFrame()


def preview(cfg: Config, suite: Suite, snapshot: str | None = None) -> tuple[SuiteOutcome | None, pd.DataFrame]:
    """Run this one suite (as edited, unsaved) on a snapshot; returns the outcome and a result table."""
    run = run_quality(cfg, open_tables(cfg, snapshot), [suite], list(suite.problems))
    if not run.suites:
        return None, pd.DataFrame({"problem": [str(p) for p in run.problems]})
    out = run.suites[0]
    table = pd.DataFrame(
        [
            {
                "index": o.index,
                "expectation": o.label,
                "status": "error" if o.success is None else ("pass" if o.success else "FAIL"),
                "failing records": o.unexpected_count,
                "of": o.element_count,
                "pass rate": o.pass_rate,
                "sample ids": ", ".join("/".join(str(v) for v in r.values()) for r in o.sample_ids[:5]),
                "error": o.error or "",
            }
            for o in out.outcomes
        ]
    )
    return out, table.set_index("index") if len(table) else table
