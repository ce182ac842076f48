"""The review in a real JupyterLab, driven in Debian's Chromium (headless, through Playwright; no browser download).

JupyterLab starts on a free port with a token, in a folder holding 65_review.ipynb with its config parameter set
to a demo sandbox's config (as papermill would set it). The browser runs the notebook, sees Splink's waterfall of
the first item (its finding given match weights) drawn, approves that item and rejects the second through the
widgets, skips the third by the keyboard, builds the decided plan, and the test checks decisions.jsonl and the
decided plan's hash against the plain Python review. Every request to anything but the local server is refused
and recorded: the page must not need one. Install Chromium with `apt-get install -y chromium`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests

from demo_support import demo_sandbox
from syncaudit.changes.model import load_plan
from syncaudit.changes.review import Review
from syncaudit.cli import main

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(BROWSER is None, reason="no chromium binary (install it: apt-get install -y chromium)"),
]
ROOT = Path(__file__).resolve().parent.parent


KERNEL_IDLE = """() => {
    const app = window.jupyterapp, w = app && app.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return Boolean(k && k.status === "idle");
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_sandbox(tmp_path_factory.mktemp("lab"), size=100, seed=3) as env:
        cfg = str(env["cfg_file"])
        for argv in (["pull", "--config", cfg, "--full"], ["findings", "--config", cfg], ["plan", "--config", cfg]):
            assert main(argv) == 0
        yield env


@pytest.fixture(scope="module")
def lab(env: dict[str, Any]) -> Iterator[dict[str, Any]]:
    import nbformat

    tmp: Path = env["tmp"]
    folder = tmp / "notebooks"
    folder.mkdir()
    nb = nbformat.read(str(ROOT / "notebooks" / "65_review.ipynb"), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = f"config_path = {str(env['cfg_file'])!r}\npage_size = 10"  # as papermill injects parameters
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))
    nbformat.write(nb, str(folder / "65_review.ipynb"))
    port, token = _free_port(), secrets.token_hex(16)
    news = tmp / "jset" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    jenv = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "jcfg"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "jrun"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "jset"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "jws"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={folder}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=",
        ],
        env=jenv,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "lab.log", "w"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {(tmp / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "folder": folder}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _record_weights(cfg: Any, review: Review, item_id: str) -> None:
    """Match weights in the item's finding, as the audit records them for probabilistic matches."""
    from syncaudit.changes.review_files import findings_file

    path = findings_file(cfg, review.plan.header["snapshot_id"])
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        if r["id"] == item_id:
            r["evidence"] = [
                {"field": "prior", "weight": -9.2},
                {"field": "email", "left": "a@example.com", "right": "a@example.com", "level": "exact", "weight": 8.9},
                {
                    "field": "name",
                    "left": "Ann Lee",
                    "right": "Anne Lee",
                    "level": "jaro-winkler >= 0.92",
                    "weight": 3.1,
                },
            ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_review_in_jupyterlab_approve_and_reject_through_the_widgets(env: dict[str, Any], lab: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    cfg = env["cfg"]
    expected = Review.open(cfg)  # the same review in plain Python: its order is the widget's order
    first, second, third = expected.page(0, size=3)
    _record_weights(cfg, expected, first.id)
    external: list[str] = []

    def only_local(route: Any) -> None:
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=BROWSER, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.route("**/*", only_local)
            page.goto(f"{lab['url']}/lab/tree/65_review.ipynb?token={lab['token']}")
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            # Not awaited: the command's promise settles when every cell has run.
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return true; }")
            approve = page.locator("button.sa-review-approve")
            approve.wait_for(timeout=60_000)
            detail = page.locator(".sa-review-detail")
            assert first.id in detail.inner_text(timeout=10_000)
            # The first item's evidence has match weights: Splink's waterfall, drawn by JupyterLab's own vega.
            page.locator(".sa-review .vega-embed svg, .sa-review .vega-embed canvas").first.wait_for(timeout=30_000)
            approve.click()
            message = page.locator(".sa-review-message")
            message.get_by_text(f"approved {first.id}").wait_for(timeout=20_000)
            page.locator(".sa-review-detail").get_by_text(f"item {second.id}").wait_for(timeout=20_000)
            page.locator("button.sa-review-reject").click()
            message.get_by_text(f"rejected {second.id}").wait_for(timeout=20_000)
            page.locator(".sa-review-keys input").press_sequentially("s")  # the keyboard: s skips, no decision
            message.get_by_text(f"skipped {third.id}").wait_for(timeout=20_000)
            page.locator("button.sa-review-build").click()
            shown = page.locator(".sa-review-plan-hash")
            shown.wait_for(timeout=30_000)
            plan_hash = shown.inner_text().strip()
        finally:
            browser.close()

    log = [json.loads(line) for line in (Path(expected.plan.path) / "decisions.jsonl").read_text().splitlines()]
    assert [(d["item"], d["decision"], d["survivor"]) for d in log] == [
        (first.id, "approve", first.suggested_survivor),
        (second.id, "reject", None),
    ]
    assert all(d["who"] and d["when"].endswith("Z") for d in log)
    again = Review.open(cfg)  # the decisions, read back in plain Python, build the same plan
    assert again.build_plan().hash == plan_hash != expected.plan.hash
    decided = load_plan(Path(expected.plan.path).parent / plan_hash)
    assert decided.header["base_plan"] == expected.plan.hash
    assert decided.header["review"]["approved"] == 1 and decided.header["review"]["rejected"] == 1
    assert second.id not in {o.finding_id for b in decided.iter_batches() for _, o in b}
    assert external == [], f"the page asked the network for {external[:5]}"
