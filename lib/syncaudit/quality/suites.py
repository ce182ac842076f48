"""Expectation suites as JSON files under version control.

A suite file is Great Expectations' own suite JSON (``name``, ``expectations``,
``meta``) so GX can read it as is, with a few conventions of ours in ``meta``:

- suite ``meta.dataset``: the snapshot table it checks (``sf_Contact``,
  ``ic_contacts``, ``linked_people``...); ``meta.id_columns``: the column(s)
  that name a record in findings (Salesforce ids first, then Intercom ids).
- expectation ``meta.generated: true``: written by ``syncaudit quality
  regenerate``; everything else is hand-written and never touched by it.
  Remove the flag from a generated expectation to take it over by hand.
- expectation ``meta.critical: true``: a gate; its failure makes the batch
  run exit non-zero.

Loading never stops at the first bad expectation: each problem is reported
with its file and expectation, and the rest of the suite still runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncaudit.errors import ConfigError
from syncaudit.fsutil import atomic_write

SUITE_KEYS = {"name", "expectations", "meta", "notes", "id"}
EXPECTATION_KEYS = {"type", "kwargs", "meta", "severity", "id", "description", "rendered_content", "notes"}


@dataclass(frozen=True)
class SuiteProblem:
    """Something wrong in a suite file, or in running one expectation of it."""

    file: str
    expectation: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: expectation {self.expectation}: " if self.expectation else f"{self.file}: "
        return where + self.message


@dataclass
class Suite:
    """One suite file: GX JSON plus our conventions, with the valid expectations kept apart."""

    path: Path
    name: str
    dataset: str
    id_columns: list[str]
    meta: dict[str, Any]
    expectations: list[dict[str, Any]]  # every entry of the file, as written
    problems: list[SuiteProblem] = field(default_factory=list)
    invalid: set[int] = field(default_factory=set)  # indices of expectations that cannot run

    def runnable(self) -> list[tuple[int, dict[str, Any]]]:
        """(index, expectation) pairs that passed validation."""
        return [(i, e) for i, e in enumerate(self.expectations) if i not in self.invalid]

    def to_json_dict(self) -> dict[str, Any]:
        meta = {"dataset": self.dataset, "id_columns": self.id_columns, **self.meta}
        return {"name": self.name, "meta": meta, "expectations": self.expectations}


def expectation_label(index: int, exp: dict[str, Any]) -> str:
    """A readable, stable name for one expectation: ``#3 expect_..(column)``."""
    kwargs = exp.get("kwargs") if isinstance(exp.get("kwargs"), dict) else {}
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    if isinstance(kwargs.get("column_list"), list):
        cols += [str(c) for c in kwargs["column_list"]]
    return f"#{index} {exp.get('type', '?')}({', '.join(cols)})"


def expectation_columns(exp: dict[str, Any]) -> list[str]:
    """Every column an expectation reads, including its row condition's."""
    kwargs = exp.get("kwargs") if isinstance(exp.get("kwargs"), dict) else {}
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    if isinstance(kwargs.get("column_list"), list):
        cols += [c for c in kwargs["column_list"] if isinstance(c, str)]
    cols += _condition_columns(kwargs.get("row_condition"))
    return list(dict.fromkeys(cols))


def _condition_columns(cond: Any) -> list[str]:
    if isinstance(cond, dict):
        out = []
        col = cond.get("column")
        if isinstance(col, dict) and isinstance(col.get("name"), str):
            out.append(col["name"])
        for sub in cond.get("conditions") or []:
            out += _condition_columns(sub)
        return out
    return []


def expectation_meta(exp: Any) -> dict[str, Any]:
    """The expectation's meta, or {} when it is missing or not an object."""
    meta = exp.get("meta") if isinstance(exp, dict) else None
    return meta if isinstance(meta, dict) else {}


def is_generated(exp: dict[str, Any]) -> bool:
    """Written by `syncaudit quality regenerate` (and rewritten by it)."""
    return bool(expectation_meta(exp).get("generated"))


def is_critical(exp: dict[str, Any]) -> bool:
    """A gate: its failure makes the batch exit non-zero."""
    return bool(expectation_meta(exp).get("critical"))


def _check_expectation(exp: Any) -> str | None:
    """None when GX accepts the expectation, else a message saying what to fix."""
    if not isinstance(exp, dict):
        return f"must be a JSON object, not {type(exp).__name__}"
    if not isinstance(exp.get("type"), str):
        return 'has no \'type\' (e.g. "type": "expect_column_values_to_not_be_null")'
    extra = set(exp) - EXPECTATION_KEYS
    if extra:
        return f"unknown key(s) {sorted(extra)}; allowed: {sorted(EXPECTATION_KEYS)}"
    if not isinstance(exp.get("kwargs", {}), dict) or not isinstance(exp.get("meta", {}) or {}, dict):
        return "'kwargs' and 'meta' must be JSON objects"
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        impl = get_expectation_impl(exp["type"])
    except ExpectationNotFoundError:
        return (
            f"unknown expectation type '{exp['type']}'; use one of Great Expectations Core's "
            "(see https://greatexpectations.io/expectations/)"
        )
    try:
        impl(**exp.get("kwargs", {}), meta=exp.get("meta") or {})
    except Exception as exc:  # noqa: BLE001 - GX raises pydantic v1 errors, and others; all mean "bad kwargs"
        return f"invalid arguments: {_short(exc)}"
    return None


def _short(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors()]
            return "; ".join(parts)
        except Exception:  # noqa: BLE001 - fall back to the plain message
            pass
    return " ".join(str(exc).split())[:300]


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read one suite file. A file that cannot be a suite raises ConfigError; bad expectations become problems."""
    p = Path(path)
    file = str(p)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("suite file not found", file=file, hint="check the path under expectations/") from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", file=file, hint="save the suite as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            file=file,
            hint="fix the JSON syntax (commas, quotes, brackets), or restore the file from git",
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError("a suite must be a JSON object with 'name' and 'expectations'", file=file)
    extra = set(raw) - SUITE_KEYS
    if extra:
        raise ConfigError(f"unknown top-level key(s) {sorted(extra)}", file=file, hint=f"allowed: {sorted(SUITE_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("'name' must be a non-empty string", file=file)
    meta = dict(raw.get("meta") or {})
    dataset = meta.pop("dataset", None)
    if not isinstance(dataset, str) or not dataset:
        raise ConfigError(
            "meta.dataset is missing",
            file=file,
            hint='name the snapshot table the suite checks, e.g. "meta": {"dataset": "sf_Contact"}',
        )
    id_columns = meta.pop("id_columns", None) or []
    if not isinstance(id_columns, list) or not all(isinstance(c, str) for c in id_columns):
        raise ConfigError("meta.id_columns must be a list of column names", file=file)
    exps = raw.get("expectations")
    if not isinstance(exps, list):
        raise ConfigError("'expectations' must be a list", file=file)
    meta.pop("great_expectations_version", None)
    suite = Suite(path=p, name=name, dataset=dataset, id_columns=id_columns, meta=meta, expectations=exps)
    for i, exp in enumerate(exps):
        problem = _check_expectation(exp)
        if problem:
            label = expectation_label(i, exp) if isinstance(exp, dict) else f"#{i}"
            suite.problems.append(SuiteProblem(file, label, problem))
            suite.invalid.add(i)
    return suite


def load_suites(directory: str | os.PathLike[str]) -> tuple[list[Suite], list[SuiteProblem]]:
    """Every ``*.json`` suite in a folder, sorted by name; unreadable files become problems, not exceptions."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError("expectations folder not found", file=str(d), hint="run from the project root")
    suites: list[Suite] = []
    problems: list[SuiteProblem] = []
    for path in sorted(d.glob("*.json")):
        try:
            suite = load_suite(path)
        except ConfigError as exc:
            problems.append(SuiteProblem(str(path), None, exc.message + (f" (fix: {exc.hint})" if exc.hint else "")))
            continue
        suites.append(suite)
        problems += suite.problems
    names = [s.name for s in suites]
    for s in suites:
        if names.count(s.name) > 1:
            problems.append(SuiteProblem(str(s.path), None, f"suite name '{s.name}' is used by another file too"))
    return suites, problems


def save_suite(suite: Suite, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the suite atomically, formatted for review (2-space indent, stable key order)."""
    target = Path(path or suite.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(suite.to_json_dict(), indent=2, ensure_ascii=False) + "\n"
    return atomic_write(target, text)


def new_suite(directory: str | os.PathLike[str], name: str, dataset: str, id_columns: list[str]) -> Suite:
    """An empty suite for ``dataset`` at ``<directory>/<name>.json`` (written by save_suite)."""
    return Suite(Path(directory) / f"{name}.json", name, dataset, id_columns, {}, [])


def add_expectation(suite: Suite, type_: str, *, critical: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Append a hand-written expectation after checking it with GX; raises ConfigError naming the problem."""
    exp: dict[str, Any] = {"type": type_, "kwargs": kwargs, "meta": {"critical": True} if critical else {}}
    exp["severity"] = "critical" if critical else "warning"
    problem = _check_expectation(exp)
    if problem:
        raise ConfigError(problem, file=str(suite.path), key=expectation_label(len(suite.expectations), exp))
    suite.expectations.append(exp)
    return exp


def remove_expectation(suite: Suite, index: int) -> dict[str, Any]:
    """Remove the expectation at ``index`` (as listed by the suite editor)."""
    if not 0 <= index < len(suite.expectations):
        raise ConfigError(f"no expectation #{index} (the suite has {len(suite.expectations)})", file=str(suite.path))
    suite.invalid = {i if i < index else i - 1 for i in suite.invalid if i != index}
    return suite.expectations.pop(index)
