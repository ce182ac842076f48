"""The stakeholder pages render offline in headless Chromium: charts drawn, page not blank.

Chromium runs with every network route closed (an unreachable proxy, no DNS), so anything the
page tried to fetch would be missing. Install it with `apt-get install -y chromium`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from syncaudit.report.export import export_html
from syncaudit.report.index import write_index
from test_report_html import FINDINGS, _executed_notebook, _metrics

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BROWSER is None, reason="no chromium binary (install it: apt-get install -y chromium)"),
]


def _chromium(tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}",
        "--proxy-server=127.0.0.1:9",  # offline: every fetch would fail
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=8000",
        "--window-size=1200,1400",
        *extra,
        url,
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)


def _ink(png: Path) -> tuple[float, int]:
    """Share of pixels that are not background, and how many distinct colours the page shows."""
    from PIL import Image

    img = Image.open(png).convert("RGB")
    total = img.width * img.height
    colours = img.getcolors(maxcolors=total)  # [(count, (r, g, b))], one entry per distinct colour
    background = max(colours)[1]
    ink = sum(n for n, rgb in colours if sum(abs(a - b) for a, b in zip(rgb, background, strict=True)) > 30)
    return ink / total, len(colours)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("chromium")
    notebook = export_html(_executed_notebook(d / "nb.ipynb", mask=True), d / "40_duplicates.html", mask=True)
    out = d / "report"
    out.mkdir()
    runs = [
        {
            "name": "40_duplicates",
            "status": "failed",
            "duration_s": 2.0,
            "error": "ValueError",
            "html": None,
            "output": None,
        }
    ]
    index = write_index(
        out, _metrics(d, "2026-11", FINDINGS), runs, [_metrics(d, "2026-10", FINDINGS[:1])], [], masked=True
    )
    blank = d / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    return {"notebook": notebook, "index": index, "blank": blank}


@pytest.fixture(scope="module")
def rendered(pages, tmp_path_factory) -> dict[str, object]:
    """Each page's DOM after scripts ran, and each page's (and a blank control page's) screenshot."""
    tmp = tmp_path_factory.mktemp("shots")
    out: dict[str, object] = {}
    for name in ("notebook", "index"):
        res = _chromium(tmp, pages[name].as_uri(), "--dump-dom")
        assert res.returncode == 0, res.stderr[-2000:]
        out[f"{name}-dom"] = res.stdout
    for name in ("notebook", "index", "blank"):
        png = tmp / f"{name}.png"
        res = _chromium(tmp, pages[name].as_uri(), f"--screenshot={png}")
        assert png.is_file(), res.stderr[-2000:]
        out[f"{name}-ink"] = _ink(png)
    return out


@pytest.mark.parametrize("name", ["notebook", "index"])
def test_page_renders_offline_with_its_chart(rendered, name) -> None:
    # plotly drew the chart in the browser: its SVG root exists only once plotly.js has run.
    assert 'class="main-svg"' in rendered[f"{name}-dom"], f"{name}: the chart was not drawn offline"


@pytest.mark.parametrize("name", ["notebook", "index"])
def test_screenshot_is_not_blank(rendered, name) -> None:
    ink, colours = rendered[f"{name}-ink"]
    blank_ink, _ = rendered["blank-ink"]
    assert blank_ink < 0.001  # the control: an empty page measures as empty
    assert ink > 0.02 and colours > 50, f"{name}: page looks blank ({ink:.3%} ink, {colours} colours)"
