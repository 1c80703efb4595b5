"""The editor page in a real browser: Playwright driving Debian's chromium against a real uvicorn server.

Skipped, with the reason, where /usr/bin/chromium or Playwright is missing
(Playwright's own browser downloads are never used).  With
``CYTOGATE_DOCS_IMAGES=1`` the tests also refresh docs/images/edit.png and edit_override.png.
"""
# ruff: noqa: F811  (the fixtures imported from edit_helpers are taken as test arguments)

from __future__ import annotations

import difflib
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from edit_helpers import EDIT_STRATEGY, ROOT, samples, strategy_file  # noqa: F401 (pytest fixtures, used as arguments)

from cytogate import gate, load_strategy, read_fcs
from cytogate.edit.app import create_app
from cytogate.edit.session import EditorSession

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.xdist_group("edit-browser")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or `make browser`)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def overrides_file():
    return None  # the editor without --overrides; test_override_from_the_page gives one


@pytest.fixture
def served(strategy_file, samples, overrides_file):
    """A real uvicorn server on 127.0.0.1 for one editing session; yields (url, strategy file)."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    token = "browser-test-token"
    review = None if overrides_file is None else strategy_file.parent / overrides_file
    session = EditorSession(strategy_file, samples, overrides_path=review)
    server = uvicorn.Server(uvicorn.Config(create_app(session, token), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}", strategy_file
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()


def open_editor(browser, url: str, ready: str, *, page_errors: bool = False):
    """A new browser context on the editor at ``url``, once ``ready`` shows; console errors and warnings
    (and with ``page_errors`` uncaught page errors) collected."""
    context = browser.new_context(viewport={"width": 1400, "height": 820})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    if page_errors:
        tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.goto(url)
    tab.wait_for_selector(ready)
    return context, tab, problems


@pytest.fixture
def page(browser, served):
    context, tab, problems = open_editor(browser, served[0], '#tree li[data-path="/Cells/Leukocytes"]',
                                         page_errors=True)
    tab.wait_for_selector('circle[data-role="vertex"]')
    yield tab, served[1], problems
    context.close()


def tree_count(tab, path: str) -> int:
    text = tab.locator(f'#tree li[data-path="{path}"] > span .count').first.inner_text()
    return int(re.match(r"([\d,]+)", text).group(1).replace(",", ""))


def updates(tab) -> int:
    """Wait until the page is idle; how many times it has become idle (<body data-updates>)."""
    tab.wait_for_function("document.body.dataset.idle === '1'")
    return int(tab.evaluate("Number(document.body.dataset.updates || 0)"))


def after(tab, since: int) -> None:
    """Wait until the page is idle again after an action taken when it had become idle ``since`` times."""
    tab.wait_for_function(f"document.body.dataset.idle === '1' && Number(document.body.dataset.updates) > {since}")


def click_population(tab, path: str) -> None:
    since = updates(tab)
    tab.click(f'#tree li[data-path="{path}"] > span')
    after(tab, since)


def drag(tab, selector: str, dx: float, dy: float, route: str = "/api/populations/") -> None:
    since = updates(tab)
    box = tab.locator(selector).first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    with tab.expect_response(lambda r: route in r.url and r.request.method == "PUT"):
        tab.mouse.move(x, y)
        tab.mouse.down()
        tab.mouse.move(x + dx / 2, y + dy / 2, steps=4)
        tab.mouse.move(x + dx, y + dy, steps=4)
        tab.mouse.up()
    after(tab, since)


def test_drag_vertex_and_threshold_then_save(page, samples):
    tab, strategy_file, problems = page
    cells, leukocytes = tree_count(tab, "/Cells"), tree_count(tab, "/Cells/Leukocytes")
    drag(tab, 'circle[data-role="vertex"][data-index="2"]', -120, 90)  # pull a corner of the polygon in
    assert tree_count(tab, "/Cells") < cells
    click_population(tab, "/Cells/Leukocytes")
    tab.wait_for_selector('line.handle[data-role="min"]', state="attached")  # a line has no area
    before = tree_count(tab, "/Cells/Leukocytes")
    assert before < leukocytes  # follows the smaller parent
    drag(tab, 'line.handle[data-role="min"]', 60, 0)
    shown = {p: tree_count(tab, p) for p in ("/Cells", "/Cells/Leukocytes", "/Cells/Leukocytes/T cells")}
    assert shown["/Cells/Leukocytes"] < before, tab.locator("#error").inner_text()
    assert tab.locator("#count").text_content().startswith(f"{shown['/Cells/Leukocytes']:,} of {shown['/Cells']:,}")
    if os.environ.get("CYTOGATE_DOCS_IMAGES") == "1":
        click_population(tab, "/Cells")
        tab.screenshot(path=str(ROOT / "docs" / "images" / "edit.png"))
    since = updates(tab)
    tab.click("#save")
    after(tab, since)
    assert "saved" in tab.locator("#status").inner_text()
    text = strategy_file.read_text()
    diff = [line for line in difflib.unified_diff(EDIT_STRATEGY.splitlines(), text.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(diff) == 4, diff  # the vertices line and the CD45 line, nothing else
    assert diff[0].startswith("-    polygon:") and diff[1].startswith("+    polygon: {x: FSC-A, y: SSC-A, vertices:")
    assert diff[2] == "-    range: {CD45: {min: 0.4}}      # CD45+ (static)"
    assert re.fullmatch(r"\+    range: \{CD45: \{min: 0\.\d+\}\} +# CD45\+ \(static\)", diff[3])
    result = gate(load_strategy(strategy_file), read_fcs(samples[0]))  # what `cytogate run` gates
    assert {p: result.count(p) for p in shown} == shown
    assert problems == []


def test_draw_a_child_gate_undo_and_switch_sample(page):
    tab, strategy_file, problems = page
    click_population(tab, "/Cells/Leukocytes")
    tab.select_option("#add-x", "CD19")
    tab.select_option("#add-y", "CD3")
    tab.fill("#add-name", "B cells")
    since = updates(tab)
    tab.click('button[data-draw="rectangle"]')
    after(tab, since)
    assert tab.locator("#plot-title").inner_text().startswith("Drawing a rectangle")
    box = tab.locator("#overlay").bounding_box()
    with tab.expect_response(lambda r: r.url.split("?")[0].endswith("/api/populations") and r.request.method == "POST"):
        tab.mouse.move(box["x"] + 300, box["y"] + 420)
        tab.mouse.down()
        tab.mouse.move(box["x"] + 480, box["y"] + 300, steps=6)
        tab.mouse.up()
    tab.wait_for_selector('#tree li[data-path="/Cells/Leukocytes/B cells"]')
    updates(tab)
    assert tree_count(tab, "/Cells/Leukocytes/B cells") > 0
    since = updates(tab)
    tab.click("#undo")
    after(tab, since)
    assert tab.locator('#tree li[data-path="/Cells/Leukocytes/B cells"]').count() == 0
    first = tree_count(tab, "/Cells")
    since = updates(tab)
    tab.select_option("#sample", "1")
    after(tab, since)
    assert tree_count(tab, "/Cells") != first  # another file, the same gates
    assert strategy_file.read_text() == EDIT_STRATEGY  # nothing saved
    assert problems == []


def test_refused_edit_is_shown_inline(page):
    tab, strategy_file, problems = page
    click_population(tab, "/Cells/Leukocytes")
    tab.fill("#gate-json", '{"range": {"CD45": {"min": 9}}}')
    with tab.expect_response(lambda r: "/api/populations/" in r.url and r.request.method == "PUT"):
        tab.click("#apply-json")
    tab.wait_for_selector("#error:not([hidden])")
    assert "outside the axis" in tab.locator("#error").inner_text()
    assert strategy_file.read_text() == EDIT_STRATEGY
    assert [p for p in problems if "422" not in p] == []  # the refused request itself is logged by chromium



@pytest.mark.parametrize("overrides_file", ["review.yaml"])
def test_override_from_the_page(browser, strategy_file, samples, overrides_file, request):
    """Switch edits to an override of the sample on screen, drag, save: the template stays, the override is
    written with who and why, and the override applied gives the counts the page showed."""
    from cytogate.strategy.overrides import load_overrides

    review = strategy_file.parent / overrides_file
    served = request.getfixturevalue("served")
    context, tab, problems = open_editor(browser, served[0], '#tree li[data-path="/Cells/Leukocytes"]')
    updates(tab)
    since = updates(tab)
    tab.select_option("#target", "override")
    after(tab, since)
    assert tab.locator("#review").is_visible() and tab.locator("#review-sample").inner_text() == "S001_BL"
    tab.fill("#review-reason", "CD45 dim on this tube")
    tab.fill("#review-author", "jdoe")
    click_population(tab, "/Cells/Leukocytes")
    before = tree_count(tab, "/Cells/Leukocytes")
    tab.wait_for_selector('line.handle[data-role="min"]', state="attached")
    drag(tab, 'line.handle[data-role="min"]', 60, 0, route="/api/overrides/")
    shown = tree_count(tab, "/Cells/Leukocytes")
    assert shown < before, tab.locator("#error").inner_text()
    assert tab.locator('#tree li[data-path="/Cells/Leukocytes"] > span .ov').count() == 1
    assert tab.locator("svg rect.template").count() == 1  # the template's gate drawn beside the override
    if os.environ.get("CYTOGATE_DOCS_IMAGES") == "1":
        tab.screenshot(path=str(ROOT / "docs" / "images" / "edit_override.png"))
    since = updates(tab)
    tab.click("#save")
    after(tab, since)
    assert strategy_file.read_text() == EDIT_STRATEGY
    (entry,) = load_overrides(review).entries
    assert (entry.sample, entry.population, entry.reason, entry.author) == (
        "S001_BL", "/Cells/Leukocytes", "CD45 dim on this tube", "jdoe")
    template = load_strategy(strategy_file)
    reviewed = load_overrides(review).resolve(template, ["S001_BL"])["S001_BL"].apply(template)
    assert gate(reviewed, read_fcs(samples[0])).count("/Cells/Leukocytes") == shown
    since = updates(tab)
    tab.select_option("#sample", "1")
    after(tab, since)
    assert tab.locator("#tree .ov").count() == 0  # the other sample keeps the template
    assert problems == []
    context.close()


SINGLETS = """\
cytogate_strategy: 1
name: Singlets
compensation: file
scatter_transform: none

populations:
  Singlets:
    singlet: {area: FSC-A, height: FSC-H, k: 4, bounds: [1.0, 1.5]}   # the median ratio must lie here
  Big cells:
    parent: Singlets
    gmm: {dimensions: [FSC-A, SSC-A], components: 2, select: highest, on: FSC-A, bounds: {FSC-A: [20000, 240000]}}
"""


def test_drag_the_bounds_of_a_singlet_gate(browser, strategy_file, request):
    strategy_file.write_text(SINGLETS, encoding="utf-8")
    served = request.getfixturevalue("served")
    context, tab, problems = open_editor(browser, served[0], '#tree li[data-path="/Singlets"]')
    click_population(tab, "/Singlets")
    tab.wait_for_selector('circle[data-role="ratio-bound-hi"]')
    assert tab.locator("svg polygon.fitted").count() == 1  # where the fit landed
    drag(tab, 'circle[data-role="ratio-bound-hi"]', 0, -60)  # higher: a smaller ratio area / height
    since = updates(tab)
    tab.click("#save")
    after(tab, since)
    (line,) = [t for t in strategy_file.read_text().splitlines() if "singlet:" in t]
    new = float(re.search(r"bounds: \[1\.0, ([\d.]+)\]", line).group(1))
    assert 1.22 < new < 1.5, line  # moved down towards the median ratio (1.22), still above it
    assert line.endswith("# the median ratio must lie here")
    click_population(tab, "/Singlets/Big cells")
    tab.wait_for_selector('line.handle[data-role="mean-x-bound-hi"]', state="attached")
    assert tab.locator("svg polygon.fitted").count() == 1  # the fitted ellipse
    drag(tab, 'line.handle[data-role="mean-x-bound-hi"]', -40, 0)
    gmm = tab.evaluate("ui.pops.find((p) => p.path === '/Singlets/Big cells').gate.gmm.bounds['FSC-A']")
    assert gmm[0] == 20000 and 100000 < gmm[1] < 240000, gmm
    assert problems == []
    context.close()
