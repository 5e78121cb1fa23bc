"""The report opened from disk in headless Chromium (Debian package `chromium`, driven by Playwright):
every chart renders, the console stays clean, nothing tries to run or load, and a screenshot is taken.

Install the browser with: apt-get update && apt-get install -y chromium"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from qlongbench.render.write import write

FIXTURE = Path(__file__).parent / "data" / "report_run"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.skip(f"playwright is not installed ({err}); pip install 'qlongbench[dev]'")
    return sync_playwright


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    # Copy the fixture somewhere with a space and non-ASCII in the path: file:// URLs must cope.
    run = tmp_path_factory.mktemp("browser") / "run dir é"
    shutil.copytree(FIXTURE, run)
    return write(run, run.parent / "report out é")


def test_report_renders_in_chromium(report_dir, tmp_path):
    sync_playwright = _playwright()
    page_url = (report_dir / "index.html").resolve().as_uri()
    problems: list[str] = []
    requests: list[str] = []
    shot = tmp_path / "report.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_url, wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, "
                "h: i.naturalHeight, shown: i.getBoundingClientRect().width}))")
            text = page.inner_text("body")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert len(images) == 8
    for img in images:
        assert img["complete"] and img["w"] > 300 and img["h"] > 150 and img["shown"] > 300, img
    # The hostile output is shown as text, not run.
    assert "<script>alert(1)</script>" in text
    assert "At a glance" in text and "What was compared with what" in text
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1280 and height > 3000 and len(data) > 100_000
