"""The rendered site in a real browser: headless Chromium driven by Playwright, from file://.

Sorting a column, filtering, opening a model page; no console errors, no failed or non-local
requests; a screenshot is saved. Playwright is in the ``test`` extra (missing: the test fails); a
missing Chromium, a system package the README's set-up installs where it can (as root), skips it with
the reason.
Install: ``apt-get install -y chromium`` and ``pip install 'srbench[browser]'`` (Playwright cannot
download its own browsers here, so the system Chromium is used: ``SRBENCH_CHROMIUM``, default
``/usr/bin/chromium``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from benchmark import site
from tests.test_results import ARCH_ONLY, MODELS, RUNTIME, make_results

CHROMIUM = os.environ.get("SRBENCH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if importlib.util.find_spec("playwright") is None:
        pytest.fail("Playwright for Python is not installed; it is in the test extra (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium, or set SRBENCH_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser")
    out = d / "site"
    site.render(make_results(d / "results"), out, visuals=False)
    return out


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = ctx.new_page()
    pg.problems = []  # console errors, page errors, failed requests, requests leaving file://
    pg.on("console", lambda m: pg.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("requestfailed", lambda r: pg.problems.append(f"request failed: {r.url}"))
    pg.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else
          pg.problems.append(f"non-local request: {r.url}"))
    try:
        yield pg
    finally:
        ctx.close()


def _visible_variants(pg) -> list[str]:
    return pg.eval_on_selector_all(
        "#leaderboard tbody tr",
        "rows => rows.filter(r => !r.hidden).map(r => r.cells[0].querySelector('a').textContent)")


def _header(pg, text: str, nth: int = 0):
    return pg.locator("#leaderboard thead tr:last-child th", has=pg.locator(f"button:text-is('{text}')")).nth(nth)


def test_sort_filter_open_model(page, site_dir, tmp_path):
    pg = page
    pg.goto((site_dir / "index.html").as_uri())
    pg.wait_for_selector("#leaderboard tbody tr")
    all_variants = set(MODELS) | set(ARCH_ONLY)
    assert set(_visible_variants(pg)) == all_variants

    # sort by Set5 PSNR (the first PSNR column): best first, then worst first; blanks always last
    set5 = {v: sc[("Set5", 4)][0] for v, (_, _, sc, _, _) in MODELS.items()}
    th = _header(pg, "PSNR")
    th.locator("button").click()
    assert th.get_attribute("aria-sort") == "descending"
    assert _visible_variants(pg) == sorted(set5, key=lambda v: -set5[v]) + ["LMSWN"]
    th.locator("button").click()
    assert th.get_attribute("aria-sort") == "ascending"
    assert _visible_variants(pg) == sorted(set5, key=lambda v: set5[v]) + ["LMSWN"]

    # sort by the first runtime column (the H100): fastest first
    rt = _header(pg, "Time [ms]")
    rt.locator("button").click()
    assert rt.get_attribute("aria-sort") == "ascending" and th.get_attribute("aria-sort") is None
    assert _visible_variants(pg) == sorted(RUNTIME, key=lambda v: RUNTIME[v])

    # filters: kind, weights, family; the count follows
    pg.select_option("select[name=kind]", "mamba")
    assert _visible_variants(pg) == ["DVMSR"]
    assert pg.text_content("#shown") == f"1 of {len(all_variants)} shown"
    pg.select_option("select[name=kind]", "")
    pg.check("input[name=weights]")
    assert set(_visible_variants(pg)) == set(MODELS)  # the architecture-only model is hidden
    pg.select_option("select[name=family]", "RLFN")
    assert _visible_variants(pg) == ["RLFN-ntire"]
    pg.uncheck("input[name=weights]")
    pg.select_option("select[name=family]", "")
    assert len(_visible_variants(pg)) == len(all_variants)

    # the Pareto plots loaded from file://
    widths = pg.eval_on_selector_all(".plots img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == 3 and all(w > 0 for w in widths)
    shot = tmp_path / "leaderboard.png"
    pg.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # open a model page from the table
    pg.click("#leaderboard a:text-is('IMDN')")
    pg.wait_for_load_state("load")
    assert pg.url.endswith("models/imdn.html#v-imdn")
    assert pg.text_content("h1").strip().startswith("IMDN")
    assert pg.locator("text=Published vs reproduced").count() == 1
    pg.click("summary:has-text('Set5 (3 images)') >> nth=0")
    assert pg.locator("details.per-image[open] td:text-is('butterfly')").count() == 1
    pg.screenshot(path=str(tmp_path / "model.png"), full_page=True)
    assert pg.problems == []


def test_every_page_loads_cleanly(page, site_dir):
    for f in ["about.html", "models/index.html", "lb-x4-bicubic-gray-y.html", "models/lmswn.html"]:
        page.goto((site_dir / f).as_uri())
        page.wait_for_load_state("load")
    # the models list is sortable too
    page.goto((site_dir / "models" / "index.html").as_uri())
    page.locator("#models thead th button:text-is('Kind')").click()
    kinds = page.eval_on_selector_all("#models tbody tr", "rows => rows.map(r => r.cells[2].textContent.trim())")
    assert kinds == sorted(kinds, key=str.lower)
    assert page.problems == []
