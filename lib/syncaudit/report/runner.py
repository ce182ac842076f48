"""Run notebooks with papermill, one after another, from one process.

A failed notebook still leaves its executed copy (papermill writes it with the
error in the failing cell), so it can be exported and shown. Progress is one
line per notebook on stderr, readable in a terminal and in a cron mail. The
kernel imports this very syncaudit (the lib/ next to this file comes first on
its PYTHONPATH), so a worktree or a checkout runs its own code.
"""

from __future__ import annotations

import os
import re
import sys
import time
import traceback as tb
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from syncaudit.errors import ConfigError
from syncaudit.redact import redact
from syncaudit.report.kernels import BatchKernelManager

KERNEL = "python3"
LIB_DIR = Path(__file__).resolve().parents[2]


@dataclass
class NotebookRun:
    """The outcome of one notebook in a chain."""

    name: str
    input: str
    output: str
    status: str = "pending"  # ok | failed | skipped
    error: str | None = None
    duration_s: float = 0.0
    html: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    traceback: str | None = None  # for the run's log in the work folder, never for a stakeholder page

    def as_dict(self) -> dict[str, Any]:
        shown = asdict(self)
        shown.pop("traceback", None)
        return shown


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Terminal colour codes removed (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


def kernel_environment() -> None:
    """Make kernels started from this process import this syncaudit, offline and quiet."""
    parts = [str(LIB_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(LIB_DIR)]
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def notebook_parameters(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parameters a notebook declares (name -> {type, default, help}), as papermill reads them."""
    from papermill.inspection import inspect_notebook

    try:
        found = inspect_notebook(str(path))
    except ValueError as exc:  # no kernelspec, unreadable parameters cell
        raise ConfigError(
            f"cannot read the notebook's parameters: {exc}",
            file=str(path),
            hint="open it in JupyterLab with the Python 3 kernel, keep one cell tagged 'parameters', and save",
        ) from None
    return {k: {"type": v["inferred_type_name"], "default": v["default"], "help": v["help"]} for k, v in found.items()}


def run_notebook(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    parameters: Mapping[str, Any],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout_s: float | None = 1800,
) -> NotebookRun:
    """Execute one notebook; never raises for a failure inside the notebook."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    src, out = Path(input_path), Path(output_path)
    if not src.is_file():
        raise ConfigError("notebook not found", file=str(src), hint="check the notebooks/ folder of the checkout")
    run = NotebookRun(name=src.stem, input=str(src), output=str(out))
    declared = notebook_parameters(src)
    params = {k: v for k, v in parameters.items() if k in declared}
    kernel_environment()
    start = time.monotonic()
    try:
        pm.execute_notebook(
            str(src),
            str(out),
            parameters=params,
            kernel_name=KERNEL,
            cwd=str(cwd or src.parent),
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout_s,
            kernel_manager_class=BatchKernelManager,  # encrypted kernel traffic, no shutdown noise (kernels.py)
        )
        run.status = "ok"
    except PapermillExecutionError as exc:
        run.status = "failed"
        run.error = redact(f"{exc.ename}: {exc.evalue}")[:2000]
        run.traceback = redact(strip_ansi("\n".join(exc.traceback or [])))
    except Exception as exc:  # noqa: BLE001 - a kernel that dies or will not start is a failed notebook too
        run.status = "failed"
        run.error = redact(f"{type(exc).__name__}: {exc}")[:2000]
        run.traceback = redact("".join(tb.format_exception(exc)))
        _write_error_notebook(src, out, run.error)
    run.duration_s = round(time.monotonic() - start, 2)
    return run


def _write_error_notebook(src: Path, out: Path, error: str) -> None:
    """When papermill could not even write its output, leave a notebook that says why."""
    if out.is_file():
        return
    nb = nbformat.read(str(src), as_version=4)
    cell = nbformat.v4.new_markdown_cell(f"**This notebook could not run.**\n\n```\n{error}\n```")
    nb.cells.insert(0, cell)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))


def run_chain(
    notebooks: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any],
    *,
    cwd: str | os.PathLike[str] | None = None,
    after_each: Callable[[NotebookRun], None] | None = None,
    should_skip: Callable[[str, list[NotebookRun]], str | None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[NotebookRun]:
    """Run ``notebooks`` in order into ``out_dir``; ``should_skip`` may skip one with a reason."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[NotebookRun] = []
    total = len(notebooks)
    for i, nb in enumerate(notebooks, 1):
        src = Path(nb)
        reason = should_skip(src.stem, runs) if should_skip else None
        if reason:
            run = NotebookRun(name=src.stem, input=str(src), output="", status="skipped", error=reason)
            say(f"[{i}/{total}] {src.stem}: skipped ({reason})")
        else:
            say(f"[{i}/{total}] {src.stem}: running…")
            run = run_notebook(src, out / src.name, parameters, cwd=cwd)
            tail = f"ok in {run.duration_s:.1f} s" if run.status == "ok" else f"FAILED in {run.duration_s:.1f} s"
            say(f"[{i}/{total}] {src.stem}: {tail}" + (f" — {run.error.splitlines()[0]}" if run.error else ""))
        if after_each:
            after_each(run)
        runs.append(run)
    return runs
