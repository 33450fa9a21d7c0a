"""The notebooks in a real JupyterLab, driven by a real browser, as a reader runs them.

A JupyterLab server (the ``lab`` extra: JupyterLab with ``jupyterlab-myst``) serves
a copy of ``chapters/``; headless Chromium opens two notebooks, runs every cell
through JupyterLab's own command, and then works their controls with the mouse and
with the keyboard:

- ``02-core/explorer``: the LSTM/GRU cell explorer (ipywidgets). Clicking a toggle
  button and moving a slider from the keyboard redraw its figure.
- ``04-code/inside``: the text view (a self-contained HTML block). Its buttons
  respond to the mouse and its unit slider to the arrow keys, which JupyterLab's
  command mode would otherwise swallow (the view carries
  ``data-lm-suppress-shortcuts``); the notebook's active cell does not move.

Both pages must also render the book's MyST markup (``jupyterlab-myst``): no raw
``{cite:t}``, ``{math}`` or ``:label:`` text in a rendered markdown cell, and no
cell may fail or print to stderr. ``make test-browser`` installs the ``lab`` extra.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "rnnviz-lab-test"
# The time a notebook may take in JupyterLab: its nbval budget, with room for the
# browser and the server on the same two cores.
RUN_SECONDS = 240

pytestmark = [
    pytest.mark.skipif(
        shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None
        and not os.environ.get("RNNVIZ_REQUIRE_SITE"),
        reason="JupyterLab is not installed (make test-browser installs the lab extra)",
    ),
    # one server for the module: under `pytest -n 2 --dist loadgroup` (make
    # test-browser) its tests all run on one worker, the other tests on both
    pytest.mark.xdist_group("jupyterlab"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """A JupyterLab server on a copy of ``chapters/``; yields its base URL."""
    exe = Path(sys.executable).parent / "jupyter-lab"
    assert exe.exists(), (
        f"JupyterLab is not installed in {sys.prefix}: pip install -e '.[lab]'"
    )
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "chapters"
    shutil.copytree(ROOT / "chapters", root, ignore=shutil.ignore_patterns("_build"))
    env = dict(os.environ)
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ):
        env[var] = str(tmp / sub)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    # Every cell in the page, not only those in view (JupyterLab 4 detaches the
    # others by default), so that every markdown cell and output can be checked.
    settings = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = _free_port()
    args = [
        str(exe),
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    log = open(tmp / "server.log", "w")
    server = subprocess.Popen(args, cwd=root, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (tmp / "server.log").read_text()
                    ) from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _open_and_run(browser, lab: str, path: str):
    """Open ``path`` in JupyterLab, run all its cells; return the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a workspace of its own, reset: JupyterLab would otherwise reopen the other
    # notebook's tab from the last session
    workspace = Path(path).stem
    page.goto(f"{lab}/lab/workspaces/{workspace}/tree/{path}?reset&token={TOKEN}")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext",
        timeout=60_000,
    )
    status = page.evaluate(
        """async (path) => {
          const w = window.jupyterapp.shell.currentWidget;
          await w.context.ready;
          await w.sessionContext.ready;
          if (w.context.path !== path) return {ok: false, path: w.context.path};
          const ok = await window.jupyterapp.commands.execute("notebook:run-all-cells");
          return {ok, path: w.context.path};
        }""",
        path,
    )
    assert status["path"] == path, f"JupyterLab opened {status['path']}, not {path}"
    assert status["ok"], f"{path}: a cell failed in JupyterLab"
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(500)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def _check_page(page, path: str) -> None:
    stderr = page.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    )
    assert stderr.count() == 0, f"{path}: {stderr.first.inner_text()[:500]}"
    # jupyterlab-myst renders the markdown cells; without it these are shown raw
    texts = page.evaluate(
        """() => Array.from(document.querySelectorAll(
          ".jp-MarkdownCell .jp-RenderedMarkdown, .jp-MarkdownCell .myst"))
          .map(e => e.innerText)"""
    )
    assert texts, f"{path}: no rendered markdown cell"
    # (myst-nb's glue is unknown to jupyterlab-myst: a glued number shows as its name)
    markup = ("{cite", "{math}", ":label:", "{numref}", "{eq}", "{glue")
    raw = [t for t in texts if any(s in t for s in markup)]
    assert not raw, f"{path}: MyST markup shown raw: {raw[0][:300]!r}"
    assert not page.errors, f"{path}: JavaScript errors {page.errors}"


def _active_cell(page) -> int:
    return page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex"
    )


@pytest.fixture(scope="module")
def explorer(browser, lab):
    page = _open_and_run(browser, lab, "02-core/explorer.ipynb")
    yield page
    page.close()


@pytest.fixture(scope="module")
def inside(browser, lab):
    page = _open_and_run(browser, lab, "04-code/inside.ipynb")
    yield page
    page.close()


def test_explorer_runs_and_renders_its_markup(explorer):
    _check_page(explorer, "02-core/explorer.ipynb")


def test_explorer_widget_answers_the_mouse(explorer):
    widget = explorer.locator(".jupyter-widgets.widget-vbox").first
    widget.scroll_into_view_if_needed()
    image = widget.locator("img").first
    explorer.wait_for_function(
        "(img) => img.src && img.naturalWidth > 0", arg=image.element_handle()
    )
    before = image.get_attribute("src")
    widget.locator("button", has_text="GRU").click()
    explorer.wait_for_function(
        "([img, s]) => img.src !== s", arg=[image.element_handle(), before]
    )
    assert widget.locator(".widget-slider").count() > 0
    widget.locator("button", has_text="LSTM").click()
    explorer.wait_for_function(
        "([img, s]) => img.src !== s", arg=[image.element_handle(), before]
    )


def test_explorer_slider_answers_the_keyboard(explorer):
    widget = explorer.locator(".jupyter-widgets.widget-vbox").first
    image = widget.locator("img").first
    handle = widget.locator(".noUi-handle").first
    readout = widget.locator(".widget-readout").first
    value = readout.inner_text()
    before = image.get_attribute("src")
    handle.focus()
    cell = _active_cell(explorer)
    for _ in range(3):
        explorer.keyboard.press("ArrowRight")
    explorer.wait_for_function(
        "([img, s]) => img.src !== s", arg=[image.element_handle(), before]
    )
    assert readout.inner_text() != value, "the slider's value did not move"
    assert _active_cell(explorer) == cell, "the arrow keys moved JupyterLab's cell"


def test_inside_runs_and_renders_its_markup(inside):
    _check_page(inside, "04-code/inside.ipynb")


def test_text_view_answers_the_mouse(inside):
    view = inside.locator(".rnnviz-view").first
    view.scroll_into_view_if_needed()
    hover = view.locator(".rv-hover")
    chars = view.locator(".rv-text span")
    assert chars.count() > 20
    chars.nth(3).hover()
    inside.wait_for_function(
        "(e) => e.textContent.startsWith('step 3,')", arg=hover.element_handle()
    )
    chars.nth(12).hover()
    inside.wait_for_function(
        "(e) => e.textContent.startsWith('step 12,')", arg=hover.element_handle()
    )


def test_text_view_answers_the_arrow_keys(inside):
    """ArrowDown moves JupyterLab to the next cell in command mode; in a view, the
    view's control gets it (here the series menu: the colouring changes)."""
    view = inside.locator(".rnnviz-view").first
    menu = view.locator(".rv-series")
    assert menu.locator("option").count() > 1
    value, drawn = menu.input_value(), view.get_attribute("data-drawn")
    menu.focus()  # the view's cell becomes JupyterLab's active cell
    cell = _active_cell(inside)
    inside.keyboard.press("ArrowDown")
    inside.wait_for_function(
        "([v, d]) => v.dataset.drawn !== d", arg=[view.element_handle(), drawn]
    )
    assert menu.input_value() != value
    assert _active_cell(inside) == cell, "the arrow keys moved JupyterLab's cell"
    inside.keyboard.press("ArrowUp")
    assert menu.input_value() == value
    assert _active_cell(inside) == cell


def test_animation_player_answers_the_mouse_and_the_keyboard(explorer):
    player = explorer.locator(".animation").first
    player.scroll_into_view_if_needed()
    frame = player.locator("img").first
    slider = player.locator("input.anim-slider")
    player.locator("button[title='Pause']").click()
    src = frame.get_attribute("src")
    player.locator("button[title='Next frame']").click()
    explorer.wait_for_function(
        "([img, s]) => img.src !== s", arg=[frame.element_handle(), src]
    )
    value = slider.input_value()
    slider.focus()
    cell = _active_cell(explorer)
    explorer.keyboard.press("ArrowRight")
    assert slider.input_value() != value, "the player's slider ignored the arrow key"
    assert _active_cell(explorer) == cell, "the arrow keys moved JupyterLab's cell"
