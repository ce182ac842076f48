"""House rules that CI enforces: notebooks without outputs, no secrets in tracked config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebook_committed_without_outputs(nb: Path) -> None:
    data = json.loads(nb.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{nb.name}: strip outputs before committing"
            assert cell.get("execution_count") is None, f"{nb.name}: strip execution counts"


def test_gitignore_covers_secrets_and_generated_files() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in (".env", ".sandbox/", "data/", "reports/*", ".venv/"):
        assert entry in ignored
