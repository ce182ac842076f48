"""The stakeholder pages render offline in headless Chromium: charts drawn, page not blank.

Chromium runs with every network route closed (an unreachable proxy, no DNS), so anything the
page tried to fetch would be missing. Install it with `apt-get install -y chromium`.
"""

from __future__ import annotations

import re
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


def _chromium(
    tmp: Path, url: str, *extra: str, budget_ms: int = 8000, window: str = "1200,1400"
) -> subprocess.CompletedProcess[str]:
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
        f"--virtual-time-budget={budget_ms}",
        f"--window-size={window}",
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


# ---------------------------------------------------------------- a real run, every page, at 1280 px

_MEASURE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const d = document.documentElement;
  document.body.setAttribute("data-sa-scroll-width", String(Math.max(d.scrollWidth, document.body.scrollWidth)));
  document.body.setAttribute("data-sa-client-width", String(d.clientWidth));
}, 300));
</script>"""


@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> Path:
    """The shipped chain on a small generated org pair (a real sandbox, real notebooks, real audit)."""
    from demo_support import demo_sandbox
    from syncaudit.report.batch import run_batch

    tmp = tmp_path_factory.mktemp("real")
    with demo_sandbox(tmp, size=300, seed=11) as sb:
        result = run_batch(sb["cfg"], period="2026-11", out=tmp / "report", full_pull=True, progress=lambda _: None)
    assert not result.failed, [(r.name, r.error) for r in result.runs if r.status != "ok"]
    return result.out_dir


def _measure(tmp: Path, page: Path) -> dict[str, object]:
    """``page`` in a 1280 px window after its scripts ran: its DOM and its measured widths."""
    import re

    probe = page.with_name(f".probe-{page.name}")  # beside the page, so its relative links resolve the same
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>", 1))
    res = _chromium(tmp, probe.as_uri(), "--dump-dom", budget_ms=3000, window="1280,900")
    probe.unlink()
    assert res.returncode == 0, res.stderr[-2000:]
    widths = {k: int(v) for k, v in re.findall(r'data-sa-(scroll|client)-width="(\d+)"', res.stdout)}
    return {"dom": res.stdout, **widths}


@pytest.fixture(scope="module")
def real_pages(real_report, tmp_path_factory) -> dict[str, dict[str, object]]:
    """Each page of the real run, measured in Chromium."""
    tmp = tmp_path_factory.mktemp("measure")
    return {page.name: _measure(tmp, page) for page in sorted(real_report.glob("*.html"))}


def test_the_overflow_probe_sees_a_page_too_wide(tmp_path) -> None:
    wide = tmp_path / "wide.html"
    wide.write_text("<!DOCTYPE html><html><body><div style='width:2000px'>x</div></body></html>")
    page = _measure(tmp_path, wide)
    assert page["scroll"] > page["client"]  # the control: the check below can fail


def test_every_page_renders_without_horizontal_overflow_at_1280(real_pages) -> None:
    assert {"index.html", "40_duplicates.html", "50_data_quality.html", "90_monthly_summary.html"} <= set(real_pages)
    for name, page in real_pages.items():
        assert "scroll" in page, f"{name}: the page did not finish loading"
        assert 1200 < page["client"] <= 1280, f"{name}: measured in a {page['client']} px viewport"
        assert page["scroll"] <= page["client"], f"{name}: {page['scroll']} px wide in a 1280 px window"


def test_no_traceback_and_no_machine_path_on_any_page(real_pages, real_report) -> None:
    import re

    from syncaudit.report.sanitize import has_machine_path

    root = str(real_report.resolve().parents[1])
    for name, page in real_pages.items():
        text = re.sub(r"<script\b.*?</script>|<style\b.*?</style>", "", page["dom"], flags=re.S)
        assert "Traceback" not in text, name
        assert root not in text and not has_machine_path(text), (name, has_machine_path(text)[:3])
        words = re.sub(r"<[^>]+>", " ", text)
        reprs = re.findall(r".{20}(?:\{\}|\{'|\bNone\b|\bnan\b|\bNaN\b).{10}", words)
        assert not reprs, f"{name}: Python reprs shown: {reprs[:3]}"
        clear = re.findall(r"[\w.+-]*[\w+-]{2}@[\w-]+\.[a-z]{2,}", re.sub(r"<[^>]+>", " ", text))
        assert not clear, f"{name}: unmasked addresses {clear[:3]}"


def test_index_and_summary_show_the_same_totals(real_pages, real_report) -> None:
    import json
    import re

    metrics = json.loads((real_report / "metrics.json").read_text())
    total = metrics["findings"]["total"]
    assert total and metrics["findings"]["by_kind"].get("quality", 0) > 0  # quality findings are in the total
    index = real_pages["index.html"]["dom"]
    summary = real_pages["90_monthly_summary.html"]["dom"]
    shown_index = re.search(r'<div class="v">([\d,]+)</div><div class="l">open findings</div>', index)
    shown_summary = re.search(r"sa-card-value\">([\d,]+)</div><div class=\"sa-card-label\">findings</div>", summary)
    assert shown_index and shown_summary
    assert int(shown_index.group(1).replace(",", "")) == int(shown_summary.group(1).replace(",", "")) == total
    quality = real_pages["50_data_quality.html"]["dom"]
    assert "nothing to show" not in quality.split("Quality findings")[-1][:400]
    assert "Failed expectations" in quality and "Profile of the mapped columns" in quality


def test_index_is_an_executive_summary(real_pages) -> None:
    index = real_pages["index.html"]["dom"]
    for section in ("health score", "Top actions", "Change since the previous run", "Planned changes",
                    "Connector permission review", "who fixes it"):  # fmt: skip
        assert section in index, section
    # plain names, not codes, in the text above the file list (a worklist link's address may hold the code)
    assert "identity_gap" not in re.sub(r"<[^>]*>", " ", index.split('id="files"')[0])
    assert ".ipynb" not in index and "metrics.json" not in index  # no links to raw files
    permissions = index.split('id="permissions"')[1].split("</section>")[0]
    assert "<th>check</th>" in permissions and "object Contact" in permissions  # preflight rows, not a placeholder
    dups = real_pages["40_duplicates.html"]["dom"]
    assert "/lightning/r/" in dups  # record ids link to the records
