"""Papermill runs of the analyst's notebooks (05_explore, 65_review) against the emulators, in a real kernel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo_support import demo_sandbox
from syncaudit.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_sandbox(tmp_path_factory.mktemp("nb"), size=100, seed=3) as env:
        cfg = str(env["cfg_file"])
        for argv in (["pull", "--config", cfg, "--full"], ["findings", "--config", cfg], ["plan", "--config", cfg]):
            assert main(argv) == 0
        yield env


def _run(env: dict[str, Any], name: str, **params: Any) -> dict[str, Any]:
    import papermill as pm

    out = env["tmp"] / f"{name}.out.ipynb"
    pm.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(out),
        parameters={"config_path": str(env["cfg_file"]), **params},
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=600,  # a cell that never answers fails the test instead of holding the suite
    )
    return json.loads(out.read_text())


def _outputs(nb: dict[str, Any], mime: str) -> list[str]:
    return [
        "".join(o["data"][mime]) if isinstance(o["data"][mime], list) else json.dumps(o["data"][mime])
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if mime in o.get("data", {})
    ]


def test_explore_notebook_runs_and_shows_a_person_in_both_systems(env: dict[str, Any]) -> None:
    nb = _run(env, "05_explore")
    html = "\n".join(_outputs(nb, "text/html"))
    assert "<h4>Records side by side</h4>" in html and "identity key" in html
    assert "salesforce Contact" in html and "intercom Contact" in html
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_review_notebook_shows_the_review_widget(env: dict[str, Any]) -> None:
    nb = _run(env, "65_review", page_size=5)
    views = _outputs(nb, "application/vnd.jupyter.widget-view+json")
    assert views, "the review widget was not displayed"
    text = "\n".join(_outputs(nb, "text/plain"))
    assert "Review of plan" in text and "pending" in text
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
