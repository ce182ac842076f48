"""Benchmark of the review notebook: from a kernel being ready to the first page of 10,000 review items shown.

    .venv/bin/python bench/bench_review.py                  # 10,000 items, 3 runs (target: 3 s)
    .venv/bin/python bench/bench_review.py --items 2000 --runs 1

A demo sandbox is pulled and audited, then a plan with N review items (duplicate pairs of the snapshot's real
Contacts, each with field-by-field evidence and match weights, so the first item also draws its Splink
waterfall) is stored with its findings. For each run a fresh kernel (the project's python3 kernelspec) is
started; the clock starts when the kernel answers kernel_info (ready) and stops when the cell that shows the
review widget has sent its widget view and gone idle, running 65_review.ipynb's own cells up to that one. With
Chromium present (Debian's, driven by Playwright) the same is also timed in a real JupyterLab: from the kernel
JupyterLab started for the opened notebook reporting idle to the widget's list showing its first page of items
in the browser. Prints each run, the medians, and the machine's load (`uptime`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "lib"))

import yaml  # noqa: E402

from crmsandbox.testing import running_sandbox  # noqa: E402
from syncaudit.changes.context import review_op  # noqa: E402
from syncaudit.changes.model import Plan  # noqa: E402
from syncaudit.changes.review_files import findings_file, plans_dir  # noqa: E402
from syncaudit.cli import main as cli  # noqa: E402
from syncaudit.config import load_config  # noqa: E402
from syncaudit.snapshot import open_snapshot  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def prepare(tmp: Path, items: int) -> tuple[Path, str]:
    """Pull, audit and plan a demo sandbox, then store a plan of ``items`` review items; returns (config, plan)."""
    os.environ["SYNCAUDIT_SANDBOX_DIR"] = str(tmp / "sb")
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    cfg_file = tmp / "demo.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    cfg = load_config(cfg_file)
    for argv in (["pull", "--config", str(cfg_file), "--full"], ["findings", "--config", str(cfg_file)]):
        assert cli(argv) == 0, argv
    snap = open_snapshot(cfg)
    con = snap.duckdb()
    contacts = con.execute('SELECT "Id", "Email", "Name" FROM "sf_Contact" ORDER BY "Id"').fetchall()
    findings, ops = [], []
    n = len(contacts)
    for i in range(items):
        a, b = contacts[i % n], contacts[(i * 7 + 1) % n]
        if a[0] == b[0]:
            b = contacts[(i + 1) % n]
        f = {
            "id": f"bench{i:06d}",
            "kind": "duplicate",
            "system": "salesforce",
            "object": "Contact",
            "records": [a[0], b[0]],
            "field": None,
            "severity": ("high", "medium", "low")[i % 3],
            "detail": f"bench pair {i}",
            "confidence": round(0.5 + (i % 50) / 100, 2),
            "suggested_survivor": a[0],
            "values": {"salesforce": None, "intercom": None},
            "evidence": [
                {"field": "prior", "weight": -9.5},
                {
                    "field": "email",
                    "left": a[1],
                    "right": b[1],
                    "level": "exact" if a[1] == b[1] else "else",
                    "weight": 8.2 if a[1] == b[1] else -3.1,
                    "m_probability": 0.9,
                    "u_probability": 0.003,
                },
                {
                    "field": "name",
                    "left": a[2],
                    "right": b[2],
                    "level": "jaro-winkler >= 0.92",
                    "weight": 4.4,
                    "m_probability": 0.6,
                    "u_probability": 0.028,
                },
            ],  # fmt: skip
            "extra": {"merge": {"email": {"value": a[1], "from": a[0]}}},
        }
        findings.append(f)
        ops.append(review_op(f, "duplicate_worklist", "merge by hand in Salesforce after review"))
    fpath = findings_file(cfg, snap.id)
    with open(fpath, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(f) + "\n" for f in findings)
    header = {"kind": "fixup", "config": cfg.name, "snapshot_id": snap.id, "policies": ["bench"], "findings": items}
    folder = Plan(header, ops).save(plans_dir(cfg))
    return cfg_file, str(folder)


def notebook_cells(cfg_file: Path, plan: str) -> list[str]:
    """65_review.ipynb's code cells up to the one showing the widget, with the parameters injected."""
    nb = json.loads((ROOT / "notebooks" / "65_review.ipynb").read_text())
    out = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        out.append(src)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            out.append(f"config_path = {str(cfg_file)!r}\nplan = {plan!r}\npage_size = 25")
        if "ReviewWidget(" in src:
            return out
    raise SystemExit("65_review.ipynb has no cell calling ReviewWidget(...)")


def one_run(cells: list[str], items: int) -> float:
    """Seconds from kernel ready to the widget shown (its page label checked to name all the items)."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT / "notebooks"))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        t0 = time.perf_counter()
        shown = None
        for i, src in enumerate(cells):
            msg_id = kc.execute(src)
            last = i == len(cells) - 1
            while True:
                msg = kc.get_iopub_msg(timeout=60)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "error":
                    raise SystemExit("\n".join(content["traceback"]))
                if last and kind in ("execute_result", "display_data") and WIDGET_VIEW in content["data"]:
                    shown = time.perf_counter() - t0
                if kind == "status" and content["execution_state"] == "idle":
                    break
        if shown is None:
            raise SystemExit("the review widget was not displayed")
        out: list[str] = []
        kc.execute_interactive(
            "print(ui.page_label.value)",
            timeout=30,
            output_hook=lambda m: out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None,
        )
        if f"shown of {items}" not in "".join(out):
            raise SystemExit(f"the first page does not name {items} items: {''.join(out)}")
        return shown
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


KERNEL_IDLE = """() => {
    const app = window.jupyterapp, w = app && app.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return Boolean(k && k.status === "idle");
}"""


def browser_runs(tmp: Path, cfg_file: Path, plan: str, runs: int) -> list[float]:
    """Seconds from the opened notebook's kernel idle to the first page drawn, in JupyterLab in Chromium."""
    import secrets
    import shutil
    import signal
    import socket

    import nbformat
    import requests
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    folder = tmp / "lab"
    folder.mkdir()
    nb = nbformat.read(str(ROOT / "notebooks" / "65_review.ipynb"), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    src = f"config_path = {str(cfg_file)!r}\nplan = {plan!r}\npage_size = 25"
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(src))
    nbformat.write(nb, str(folder / "65_review.ipynb"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, **{k: str(tmp / k.lower()) for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR",
                                                               "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")}}  # fmt: skip
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--LabApp.expose_app_in_browser=True"]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    out = []
    try:
        for _ in range(200):
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            for _ in range(runs):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/lab/tree/65_review.ipynb?token={token}")
                page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=20)
                t0 = time.perf_counter()
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return true; }")
                page.wait_for_function(
                    "() => document.querySelectorAll('.sa-review-list select option').length >= 25",
                    timeout=120_000,
                    polling=20,
                )
                out.append(time.perf_counter() - t0)
                page.evaluate("() => window.jupyterapp.commands.execute('kernelmenu:shutdown')")
                page.close()
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000, help="review items in the plan (default 10,000)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=200, help="sandbox size (people)")
    ap.add_argument("--no-browser", action="store_true", help="time the kernel side only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-review-") as d:
        tmp = Path(d)
        with running_sandbox(size=args.size, seed=11, state_dir=tmp / "sb"):
            t = time.perf_counter()
            cfg_file, plan = prepare(tmp, args.items)
            print(f"prepared a plan of {args.items} review items in {time.perf_counter() - t:.1f} s: {plan}")
        cells = notebook_cells(cfg_file, plan)
        times = []
        for run in range(args.runs):
            s = one_run(cells, args.items)
            times.append(s)
            print(f"run {run + 1}: kernel ready -> first page of {args.items} review items shown: {s:.2f} s")
        print(f"kernel: median {statistics.median(times):.2f} s (target 3 s) over {len(times)} runs")
        import shutil

        if shutil.which("chromium") and not args.no_browser:
            shown = browser_runs(tmp, cfg_file, plan, args.runs)
            for run, s in enumerate(shown, 1):
                print(
                    f"browser run {run}: kernel idle in JupyterLab -> first page of {args.items} items drawn: {s:.2f} s"
                )
            print(f"browser: median {statistics.median(shown):.2f} s (target 3 s) over {len(shown)} runs")
        else:
            print("browser: not timed (no chromium; apt-get install -y chromium)")
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(f"uptime: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
