"""A demo sandbox for end-to-end tests: config/demo.yaml pointed at a temporary data dir and sandbox state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crmsandbox.testing import running_sandbox
from syncaudit.config import load_config

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def demo_sandbox(tmp: Path, *, size: int, seed: int) -> Iterator[dict[str, Any]]:
    """Serve a generated sandbox; yields sb, raw (the demo config as a dict), cfg_file, cfg and tmp."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SYNCAUDIT_SANDBOX_DIR", str(tmp / "sb"))
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    cfg_file = tmp / "demo.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    try:
        with running_sandbox(size=size, seed=seed, state_dir=tmp / "sb") as sb:
            yield {"sb": sb, "raw": raw, "cfg_file": cfg_file, "cfg": load_config(cfg_file), "tmp": tmp}
    finally:
        mp.undo()
