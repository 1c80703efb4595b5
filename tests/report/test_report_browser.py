"""The HTML report in a real headless browser (Debian's ``chromium``).

The page records every JavaScript error into ``#js-errors``; the ``#selftest``
fragment sorts the counts table through its header, opens a sample and writes
the images' natural widths and the sorted counts into ``#selftest-result``.
Chromium dumps the DOM after a virtual-time budget, and takes a screenshot.
Skipped, with the reason, where chromium is not installed
(``apt-get install chromium``; ``make browser`` does it where it can).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from report_helpers import shared_run

from cytogate.report import build_report
from cytogate.report.html import _ERRORS_JS

_CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium", "/usr/lib/chromium/chromium")


def _chromium() -> str:
    for name in _CANDIDATES:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    pytest.skip("chromium not found (install Debian's chromium: apt-get install -y chromium); "
                "the report's browser test needs a real headless browser")


def _run(browser: str, profile: Path, url: str, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
           "--virtual-time-budget=20000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _element(dom: str, tag: str, element_id: str) -> str:
    match = re.search(rf'<{tag} id="{element_id}"[^>]*>(.*?)</{tag}>', dom, re.S)
    return "" if match is None else html.unescape(match.group(1))


@pytest.fixture(scope="module")
def browser() -> str:
    return _chromium()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path]:
    run = shared_run()
    return run, build_report(run, out=tmp_path_factory.mktemp("browser") / "report.html",
                             max_samples_with_plots=1, workers=1)


def test_page_loads_sorts_and_renders_images(browser, report, tmp_path):
    run, page = report
    proc = _run(browser, tmp_path / "profile", page.as_uri() + "#selftest", "--dump-dom")
    dom = proc.stdout
    assert "<html" in dom, f"chromium produced no DOM (exit {proc.returncode}): {proc.stderr[-2000:]}"
    errors = _element(dom, "ul", "js-errors")
    assert "<li>" not in errors, f"JavaScript errors: {errors}"
    raw = _element(dom, "pre", "selftest-result")
    assert raw, f"the page's self-test did not finish; stderr: {proc.stderr[-2000:]}"
    result = json.loads(raw)
    assert result["errors"] == []
    counts = pd.read_parquet(run / "counts.parquet")
    panels = counts["population"].nunique()
    change_figures = len(list((run / "change" / "figures").glob("*.png")))
    assert len(result["images"]) >= panels + change_figures
    assert all(w > 0 for w in result["images"]), result["images"]  # every image decoded
    expected = sorted(counts["count"].tolist(), reverse=True)[:20]
    assert result["sorted"] == expected  # the table sorted by count, descending (two header clicks)
    assert result["sample"] == json.loads(re.search(r"id='sample-index'>(.*?)</script>",
                                                    page.read_text(), re.S).group(1))[0]["sample"]
    # the opened sample's thumbnails are in the DOM now
    assert dom.count("<figure") >= panels


def test_screenshot_is_not_blank(browser, report, tmp_path):
    _, page = report
    shot = tmp_path / "report.png"
    proc = _run(browser, tmp_path / "profile", page.as_uri() + "#selftest", f"--screenshot={shot}",
                "--window-size=1280,1800")
    assert shot.is_file(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (1800, 1280)
    assert image.std() > 0.1  # text, tables and plots, not a blank page
    dark = (image.mean(axis=2) < 0.5).mean()
    colour = (np.ptp(image, axis=2) > 0.3).mean()  # saturated pixels: the density plots
    assert dark > 0.01 and colour > 0.002, (dark, colour)


def test_errors_are_recorded_in_the_dom(browser, tmp_path):
    # the error capture the report relies on does see uncaught errors and console.error
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><script>" + _ERRORS_JS + "</script></head><body>"
                    "<ul id='js-errors' hidden></ul><script>console.error('logged problem');"
                    "setTimeout(function(){undefinedFunction();},10);</script></body></html>")
    proc = _run(browser, tmp_path / "profile", page.as_uri(), "--dump-dom")
    errors = _element(proc.stdout, "ul", "js-errors")
    assert "logged problem" in errors and "undefinedFunction" in errors, proc.stdout[-2000:]
