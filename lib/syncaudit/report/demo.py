"""`syncaudit demo`: the sandbox, a full pull, the whole audit and a dry-run fix-up plan, in one command.

    syncaudit demo [--size N] [--seed S] [--out DIR]

Starts the HTTPS sandbox in this process (a generated org pair, N people a
side), points config/demo.yaml at it through SYNCAUDIT_SANDBOX_DIR, runs the
batch (``syncaudit audit``) with a full pull, stops the sandbox and prints the
path of index.html. Nothing is written to any system but the sandbox.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import syncaudit
from syncaudit.config import Config, load_config
from syncaudit.errors import ConfigError, SyncAuditError
from syncaudit.report.batch import BatchResult, run_batch

DEMO_CONFIG = Path("config") / "demo.yaml"


def demo_config_path() -> Path:
    """config/demo.yaml of the checkout (the working directory's first, then the package's)."""
    for base in (Path.cwd(), Path(syncaudit.__file__).resolve().parents[2]):
        if (base / DEMO_CONFIG).is_file():
            return base / DEMO_CONFIG
    raise ConfigError(
        "config/demo.yaml not found", hint="run `syncaudit demo` (or `make demo`) from the project folder"
    )


def run_demo(
    *, size: int = 20_000, seed: int = 7, out: str | os.PathLike[str] | None = None, cfg: Config | None = None
) -> BatchResult:
    """Serve a generated sandbox and run the whole audit against it; returns the batch result."""
    if size < 10 or size > 2_000_000:
        raise ConfigError(f"--size {size} is out of range", hint="give between 10 and 2,000,000 people per system")
    from crmsandbox.testing import running_sandbox

    config = cfg or load_config(demo_config_path())
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    state = Path(tempfile.mkdtemp(prefix="syncaudit-demo-sandbox-"))
    started = time.monotonic()
    say(f"demo: generating and serving a sandbox org pair ({size:,} people a side, seed {seed})…")
    previous = os.environ.get("SYNCAUDIT_SANDBOX_DIR")
    # as of now: the generated org pair is served as if taken at this start, so its in-flight drift is in flight
    with running_sandbox(size=size, seed=seed, state_dir=state, as_of="now"):
        os.environ["SYNCAUDIT_SANDBOX_DIR"] = str(state)
        try:
            say(f"demo: sandbox ready in {time.monotonic() - started:.0f} s; running the audit")
            period = datetime.now(UTC).strftime("%Y-%m")
            target = Path(out) if out else Path(config.report.out_dir) / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%S}"
            result = run_batch(config, period=period, out=target, full_pull=True, progress=say)
        finally:
            if previous is None:
                os.environ.pop("SYNCAUDIT_SANDBOX_DIR", None)
            else:
                os.environ["SYNCAUDIT_SANDBOX_DIR"] = previous
    shutil.rmtree(state, ignore_errors=True)
    say(f"demo: done in {time.monotonic() - started:.0f} s")
    return result


def cli_demo(args: argparse.Namespace) -> int:
    """`syncaudit demo`: print the path of index.html; non-zero when a notebook failed."""
    result = run_demo(size=args.size, seed=args.seed, out=getattr(args, "out", None))
    print(result.index.resolve())
    if result.failed:
        raise SyncAuditError(
            f"{len(result.failed)} notebook(s) did not complete: {', '.join(result.failed)}",
            hint=f"their pages in {result.out_dir} show the error",
        )
    # Gate failures are expected in the demo: its data is full of planted defects. The index shows them.
    return 0
