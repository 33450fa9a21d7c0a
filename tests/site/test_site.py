"""Checks on the built HTML book (`make build` first; `make test-site` runs these)."""

import importlib.util
import os
import re
from pathlib import Path

import pytest

from rnnviz.checkpoints import sha256_file
from rnnviz.web import PAGE_MODELS, WEB_SHA256

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
_spec = importlib.util.spec_from_file_location(
    "page_weight", ROOT / "bench" / "page_weight.py"
)
weights = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(weights)
PAGE_BUDGET, SITE_BUDGET = (
    weights.PAGE_BUDGET,
    weights.SITE_BUDGET,
)  # 2 MB a page, 40 MB the site

if not (HTML / "index.html").is_file():
    if os.environ.get("RNNVIZ_REQUIRE_SITE"):
        raise RuntimeError(
            f"the built book is missing at {HTML}: run `make build` first"
        )
    pytest.skip(
        "the book is not built (run `make build`, then `make test-site`)",
        allow_module_level=True,
    )


def _toc_files():
    return re.findall(
        r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8")
    )


PAGES = [HTML / f"{f}.html" for f in _toc_files()]
SRC = re.compile(r"""<img[^>]*\ssrc="([^"]+)\"""")


def test_every_toc_entry_has_a_page():
    missing = [str(p) for p in PAGES if not p.is_file()]
    assert not missing, f"pages missing from the build: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(HTML)))
def test_no_error_output_and_images_exist(page):
    html = page.read_text(encoding="utf-8")
    assert "output traceback" not in html, f"{page.name} shows an error traceback"
    # a nan in a result (outputs, glued numbers); inline code in prose and the
    # cells' source (math.nan, a check for NaN input) may name it
    prose_code = re.compile(r'<code class="docutils literal[^"]*">.*?</code>', re.S)
    cell_source = re.compile(
        r'<div class="highlight-ipython3 notranslate">'
        r'<div class="highlight"><pre>.*?</pre>',
        re.S,
    )
    text = re.sub(r"<[^>]+>", " ", prose_code.sub(" ", cell_source.sub(" ", html)))
    # base64 image data (animation frames, PNGs) may spell "/nan/" by chance
    text = re.sub(r"[A-Za-z0-9+/=\\\n]{200,}", " ", text)
    assert not re.search(r"\bnan\b", text), f"{page.name} shows a nan"
    for src in SRC.findall(html):
        if src.startswith(("data:", "http")):
            continue
        assert (page.parent / src).is_file(), f"{page.name}: image {src} is missing"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(HTML)))
def test_page_weight(page):
    size = weights.page_weight(page)
    assert size <= PAGE_BUDGET, (
        f"{page.name} weighs {size / 1e6:.2f} MB with its images (budget 2 MB)"
    )


def test_site_weight():
    size = sum(p.stat().st_size for p in HTML.rglob("*") if p.is_file())
    assert size <= SITE_BUDGET, f"the site weighs {size / 1e6:.1f} MB (budget 40 MB)"


def test_lstm_page_has_a_playable_animation():
    html = (HTML / "chapters" / "02-core" / "lstm.html").read_text(encoding="utf-8")
    # matplotlib's to_jshtml: embedded PNG frames and the player's controls
    assert "animation" in html and html.count("data:image/png;base64") >= 10
    assert re.search(r"anim\w*\.play_animation\(\)|play_animation", html)


def _config():
    import yaml  # a dependency of jupyter-book

    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


NOTEBOOK_PAGES = [
    p for p in PAGES if (ROOT / p.relative_to(HTML)).with_suffix(".ipynb").is_file()
]


@pytest.mark.parametrize("page", NOTEBOOK_PAGES, ids=lambda p: str(p.relative_to(HTML)))
def test_notebook_pages_have_launch_and_download_buttons(page):
    html = page.read_text(encoding="utf-8")
    nb = (
        page.relative_to(HTML).with_suffix(".ipynb").as_posix()
    )  # e.g. chapters/02-core/lstm.ipynb
    repo = _config()["repository"]["url"].removeprefix("https://github.com/")
    assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{nb}" in html, (
        f"{page.name}: no Binder button"
    )
    assert f"https://colab.research.google.com/github/{repo}/blob/main/{nb}" in html, (
        f"{page.name}: no Colab button"
    )
    src = HTML / "_sources" / nb
    assert f"_sources/{nb}" in html and src.is_file(), (
        f"{page.name}: no notebook download"
    )


def test_figures_are_numbered_and_every_reference_resolves():
    named = 0
    for page in PAGES:
        html = page.read_text(encoding="utf-8")
        # an unresolved {numref}/{eq}/{ref} renders as ??? or as the raw role
        assert "???" not in html and "{numref}" not in html and "{eq}" not in html, (
            f"{page.name}: unresolved reference"
        )
        captions = re.findall(r'<span class="caption-number">Fig\. (\d+) </span>', html)
        refs = re.findall(r'<span class="std std-numref">Fig\. (\d+)</span>', html)
        assert set(refs) <= set(captions), (
            f"{page.name}: references to figures {set(refs) - set(captions)} "
            "that it lacks"
        )
        named += len(captions)
    assert named >= 19, f"only {named} numbered figures in the book"


def test_search_index_covers_the_chapters():
    index = (HTML / "searchindex.js").read_text(encoding="utf-8")
    for word in ("forget", "backpropag", "kneser", "attent"):
        assert f'"{word}' in index, f"the search index lacks {word!r}"
    assert (HTML / "search.html").is_file()


def test_the_site_serves_the_pinned_live_models_within_budget():
    """The live views' files are in the site, byte for byte the pinned exports."""
    live = HTML / "_static" / "live"
    files = [live / f"rnnviz-{f}.js" for f in ("live", "live-views", "train")]
    for name in PAGE_MODELS.values():
        path = live / "models" / f"{name}.js"
        assert sha256_file(path) == WEB_SHA256[name], name
        files.append(path)
    total = sum(p.stat().st_size for p in files)
    assert total <= 4_000_000, f"a live view downloads {total / 1e6:.2f} MB (budget 4)"


def test_every_live_view_page_carries_its_views_and_an_example():
    pages = {
        "chapters/02-core/lstm": 1,
        "chapters/04-code/sampling": 1,
        "chapters/03-algorithms/gradients": 1,
        "chapters/06-appendix/playground": 3,
    }
    for page, n in pages.items():
        html = (HTML / f"{page}.html").read_text(encoding="utf-8")
        assert html.count('class="rnnviz-live"') == n, page
        assert html.count("&quot;precomputed&quot;") == n, page
    for page in ("chapters/03-algorithms/memory", "chapters/06-appendix/playground"):
        html = (HTML / f"{page}.html").read_text(encoding="utf-8")
        assert html.count('class="rnnviz-train"') == 1, page


def test_the_sidebar_names_each_part_once():
    html = (HTML / "intro.html").read_text(encoding="utf-8")
    nav = re.search(r'<nav class="[^"]*bd-docs-nav.*?</nav>', html, re.S)
    assert nav, "no sidebar navigation in intro.html"
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", nav.group(0)))
    for k, name in enumerate(
        [
            "Background",
            "Core concepts",
            "Algorithms and mathematics",
            "Code",
            "Future trends and challenges",
            "Appendix: questions and answers",
        ],
        1,
    ):
        assert text.count(f"Part {k} ") == 1, (k, text)
        assert len(re.findall(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)) == 1, (
            name,
            text,
        )
