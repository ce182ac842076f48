"""Loading minimal Intercom contact lines: absent standard keys get the API's defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmsandbox.errors import SandboxInputError as ConfigError
from crmsandbox.intercom import IntercomService


def write(folder: Path, lines: list[dict]) -> Path:
    (folder / "intercom").mkdir(parents=True)
    (folder / "intercom" / "contacts.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return folder


def test_minimal_lines_load_with_updated_at_defaulting_to_created_at(tmp_path: Path) -> None:
    load = write(
        tmp_path / "load", [{"id": f"{i:024x}", "role": "user", "email": f"u{i}@example.com"} for i in range(3)]
    )
    svc = IntercomService(tmp_path / "state", load, clock=lambda: 1_700_000_000.0)
    rec = svc.dump()["records"]["contacts"][0]
    assert svc.dump()["contacts"] == 3
    assert rec["updated_at"] == rec["created_at"] is not None


def test_duplicate_ids_are_named_as_such(tmp_path: Path) -> None:
    same = {"id": "0" * 24, "role": "user", "created_at": 1, "updated_at": 1}
    load = write(tmp_path / "load", [same, {**same, "email": "x@example.com"}])
    with pytest.raises(ConfigError, match="duplicate contact ids"):
        IntercomService(tmp_path / "state", load, clock=lambda: 1_700_000_000.0)
