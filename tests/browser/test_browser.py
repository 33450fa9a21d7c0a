"""The built book in a real browser: headless Chromium driven by Playwright.

Every page of `_toc.yml` is served from `_build/html` on localhost with every
other request blocked (the book must work offline). Each page must load without
a JavaScript error, show every image, typeset its equations, play its
animations and respond to its HTML views' controls. Screenshots go to
`_build/screenshots/`. Run after `make build`: `make test-browser`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM", "/usr/bin/chromium")
REQUIRED = bool(os.environ.get("RNNVIZ_REQUIRE_SITE"))

if not (HTML / "index.html").is_file() or shutil.which(CHROMIUM) is None:
    if REQUIRED:
        raise RuntimeError(f"need the built book at {HTML} and Chromium at {CHROMIUM}")
    pytest.skip("the book is not built or Chromium is missing", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

PAGES = re.findall(
    r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8")
)


def _open(browser, base_url, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors, external = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith(base_url) or r.request.url.startswith("data:"):
            return r.continue_()
        external.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    page.goto(base_url + path + ".html", wait_until="load")
    page.wait_for_timeout(300)
    return page, errors, external


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_offline_without_errors(browser, base_url, path):
    page, errors, external = _open(browser, base_url, path)
    try:
        assert not errors, f"JavaScript errors on {path}: {errors}"
        broken = page.evaluate(
            "Array.from(document.images).filter(i => i.src"
            " && (!i.complete || i.naturalWidth === 0)"
            " && !i.id.startsWith('_anim_img')).map(i => i.src)"
        )
        assert not broken, f"images that did not load on {path}: {broken}"
        if page.locator(".bd-article span.math, .bd-article div.math").count():
            # MathJax typeset, from the site; in the article (math in a heading is
            # also copied into the print-only table of contents, never visible)
            page.wait_for_selector(".bd-article mjx-container", timeout=10_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(SHOTS / (path.replace("/", "__") + ".png")), full_page=False
        )
    finally:
        page.close()
    # external requests were attempted (CDNs), blocked, and the page still worked
    assert (
        all("unpkg.com/thebe" in u or "fonts" in u for u in external) or not external
    ), external


def _pages_with(selector_text):
    return [
        p
        for p in PAGES
        if (HTML / f"{p}.html").is_file()
        and selector_text in (HTML / f"{p}.html").read_text(encoding="utf-8")
    ]


@pytest.mark.parametrize("path", _pages_with('class="animation"'))
def test_every_animation_advances_when_played(browser, base_url, path):
    page, errors, _ = _open(browser, base_url, path)
    try:
        players = page.locator("div.animation")
        assert players.count() >= 1
        for k in range(players.count()):
            player = players.nth(k)
            player.scroll_into_view_if_needed()
            slider = player.locator("input.anim-slider")
            before = int(slider.input_value())
            player.locator('button[title="First frame"]').click()
            player.locator('button[title="Play"]').click()
            page.wait_for_timeout(1500)
            player.locator('button[title="Pause"]').click()
            after = int(slider.input_value())
            assert after != 0, (
                f"animation {k} on {path} did not advance (frame {before} -> {after})"
            )
        assert not errors, errors
    finally:
        page.close()


# For each player control: an inline SVG icon that draws something (a Unicode
# symbol the fonts lack is an empty box; a missing icon a blank button) and no text
# outside printable ASCII. Returns one line per problem.
CONTROL_PROBLEMS_JS = r"""players => players.flatMap((player, k) =>
  Array.from(player.querySelectorAll("button")).flatMap(button => {
    const name = button.getAttribute("title") || button.outerHTML.slice(0, 80);
    const problems = [];
    const svg = button.querySelector("svg");
    if (!svg) {
      problems.push("no svg icon");
    } else {
      const box = svg.getBBox(), rect = svg.getBoundingClientRect();
      if (!(box.width > 0 && box.height > 0))
        problems.push(`icon draws nothing (bbox ${box.width} x ${box.height})`);
      if (!(rect.width > 0 && rect.height > 0))
        problems.push(`icon has no size on screen (${rect.width} x ${rect.height})`);
    }
    const texts = document.createTreeWalker(button, NodeFilter.SHOW_TEXT);
    for (let node = texts.nextNode(); node; node = texts.nextNode()) {
      const odd = [...node.data].filter(c => /[^\x20-\x7e\t\n\r]/.test(c));
      if (odd.length)
        problems.push("text outside printable ASCII: " + odd.map(
          c => "U+" + c.codePointAt(0).toString(16).toUpperCase()).join(" "));
    }
    return problems.map(p => `player ${k}, button "${name}": ${p}`);
  }))"""


@pytest.mark.parametrize("path", _pages_with('class="animation"'))
def test_no_animation_control_draws_an_empty_box(browser, base_url, path):
    page, errors, _ = _open(browser, base_url, path)
    try:
        players = page.locator("div.animation")
        assert players.count() >= 1
        assert page.locator("div.animation button").count() >= players.count()
        problems = players.evaluate_all(CONTROL_PROBLEMS_JS)
        assert not problems, f"player controls on {path}:\n" + "\n".join(problems)
        assert not errors, errors
    finally:
        page.close()


@pytest.mark.parametrize("path", _pages_with('class="rnnviz-view"'))
def test_every_html_view_responds_to_its_controls(browser, base_url, path):
    page, errors, _ = _open(browser, base_url, path)
    try:
        views = page.locator("div.rnnviz-view")
        for k in range(views.count()):
            view = views.nth(k)
            view.scroll_into_view_if_needed()
            first = view.get_attribute("data-drawn")
            colours = view.locator(".rv-text span").first.evaluate(
                "e => e.style.background"
            )
            assert colours, "the text is not coloured"
            many_units = view.locator("input.rv-unit").get_attribute("max") != "0"
            view.locator(".rv-next").click()
            if many_units:
                assert view.get_attribute("data-drawn") != first, (
                    f"view {k} on {path} ignored the unit control"
                )
            series = view.locator("select.rv-series")
            options = series.locator("option").all_inner_texts()
            series.select_option(index=len(options) - 1)
            if many_units or len(options) > 1:
                assert view.get_attribute("data-drawn") != first, (
                    f"view {k} on {path} ignored its controls"
                )
            else:  # one unit, one series: nothing to switch, but it must still be drawn
                assert first and view.get_attribute("data-drawn") == first
        assert not errors, errors
    finally:
        page.close()


@pytest.mark.parametrize("path", _pages_with('class="rnnviz-sampling"'))
def test_every_sampling_lab_switches_between_generations(browser, base_url, path):
    page, errors, _ = _open(browser, base_url, path)
    try:
        labs = page.locator("div.rnnviz-sampling:has(select.rs-select)")
        assert labs.count() >= 1, f"no sampling lab with controls on {path}"
        for k in range(labs.count()):
            lab = labs.nth(k)
            lab.scroll_into_view_if_needed()
            first = lab.get_attribute("data-drawn")
            visible = lab.locator(".rs-gen:visible")
            assert visible.count() == 1, (
                f"lab {k} on {path} shows {visible.count()} generations at once"
            )
            text_before = visible.first.inner_text()
            lab.locator(".rs-next").click()
            assert lab.get_attribute("data-drawn") != first, (
                f"lab {k} on {path} ignored the next button"
            )
            assert lab.locator(".rs-gen:visible").first.inner_text() != text_before
        assert not errors, errors
    finally:
        page.close()


def test_search_finds_pages_offline(browser, base_url):
    """The search box works from the static site.

    Sphinx's index, no server, no network.
    """
    page, errors, _ = _open(browser, base_url, "intro")
    try:
        box = page.locator('input[name="q"]').first
        assert box.count(), "no search box on the front page"
        page.goto(base_url + "search.html?q=forget+gate", wait_until="load")
        page.wait_for_selector("#search-results ul.search li", timeout=15_000)
        hits = page.locator("#search-results ul.search li a").all_inner_texts()
        assert len(hits) >= 3, hits
        assert any("LSTM" in h for h in hits), (
            f"the LSTM chapter is not among the hits: {hits}"
        )
        assert not errors, errors
    finally:
        page.close()
