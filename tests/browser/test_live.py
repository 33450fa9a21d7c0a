"""The book's live views in headless Chromium, from the built site, offline.

The page models run in the page (``_static/live/``). Every number the page
computes is compared with Python on the very weights it runs
(:func:`rnnviz.web.load_page_model`): gates, states and next-character
probabilities with ``rnnviz.probe`` within 1e-4, gradient norms with torch
autograd within 1e-3 relative. Each view must go live, answer typing, clicks
and the keyboard, keep the playground's state in its address, request nothing
from the network, and work from ``file://``. Run after ``make build``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnviz.gradients import hidden_grad_norms
from rnnviz.web import PAGE_MODELS, load_page_model

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM", "/usr/bin/chromium")
if not (HTML / "index.html").is_file() or shutil.which(CHROMIUM) is None:
    if os.environ.get("RNNVIZ_REQUIRE_SITE"):
        raise RuntimeError(f"need the built book at {HTML} and Chromium at {CHROMIUM}")
    pytest.skip("the book is not built or Chromium is missing", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

PLAYGROUND = "chapters/06-appendix/playground"
#: The chapters with a live view, and the view each must hold.
CHAPTERS = {
    "chapters/02-core/lstm": "gates",
    "chapters/04-code/sampling": "sampling",
    "chapters/03-algorithms/gradients": "gradients",
    PLAYGROUND: "gates sampling gradients",
}
TEXT = "KING HENRY:\nOnce more unto the breach, dear friends, once more;"


def _open(browser, url, allowed):
    """A page at ``url`` with every request outside ``allowed`` blocked and logged."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.errors, page.external = [], []
    page.on("pageerror", lambda e: page.errors.append(str(e)))

    def route(r):
        if r.request.url.startswith((allowed, "data:")):
            return r.continue_()
        page.external.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    return page


def _live(page, timeout=20_000):
    """Wait until every live view on the page is live; return their view names."""
    page.wait_for_function(
        "() => { const v = document.querySelectorAll('.rnnviz-live');"
        " return v.length && Array.from(v).every(e => e.dataset.state === 'live'); }",
        timeout=timeout,
    )
    return page.eval_on_selector_all(
        ".rnnviz-live", "els => els.map(e => e.dataset.view)"
    )


@pytest.fixture(scope="module")
def playground(browser, base_url):
    page = _open(browser, base_url + PLAYGROUND + ".html", base_url)
    _live(page)
    yield page
    assert not page.errors, page.errors
    page.close()


@pytest.mark.parametrize("path", list(CHAPTERS))
def test_each_chapter_s_live_view_goes_live_offline(browser, base_url, path):
    page = _open(browser, base_url + path + ".html", base_url)
    try:
        example = page.eval_on_selector_all(
            ".rnnviz-live", "els => els.map(e => e.dataset.drawn)"
        )
        views = _live(page)
        assert sorted(views) == sorted(CHAPTERS[path].split()), views
        assert all(d for d in example), "no precomputed example was drawn"
        assert not page.errors, page.errors
        assert not page.external, f"requests to the network: {page.external}"
    finally:
        page.close()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_page_gates_states_and_probabilities_equal_rnnviz_probe(playground, cell):
    name = PAGE_MODELS[cell]
    model = load_page_model(cell).model
    got = playground.evaluate("([n, t]) => rnnvizLive.probe(n, t)", [name, TEXT])
    ref = model.probe(TEXT)
    for lt, rt in zip(got["layers"], ref.layers, strict=True):
        np.testing.assert_allclose(lt["h"], rt.h[:, 0], atol=1e-4)
        if rt.c is not None:
            np.testing.assert_allclose(lt["c"], rt.c[:, 0], atol=1e-4)
        assert sorted(lt["gates"]) == sorted(rt.gates)
        for g, v in lt["gates"].items():
            np.testing.assert_allclose(v, rt.gates[g][:, 0], atol=1e-4, err_msg=g)
    nxt = playground.evaluate("([n, t]) => rnnvizLive.nextProbs(n, t)", [name, TEXT])
    p = torch.softmax(torch.as_tensor(ref.logits[0, -1]).double(), -1)
    np.testing.assert_allclose(nxt["probs"], p.numpy(), atol=1e-4)
    assert nxt["vocab"] == list(model.vocab.chars)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_page_weights_are_bit_for_bit_the_exported_ones(playground, cell):
    live = load_page_model(cell)
    state = playground.evaluate("n => rnnvizLive.state(n)", PAGE_MODELS[cell])
    assert state["config"] == live.model.config
    assert state["metadata"]["test_nats"] == live.metadata["test_nats"]
    sd = live.model.state_dict()
    assert sorted(state["tensors"]) == sorted(sd)
    for k, t in state["tensors"].items():
        got = np.asarray(t["values"], dtype=np.float32).reshape(t["shape"])
        np.testing.assert_array_equal(got, sd[k].numpy(), err_msg=k)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_page_grad_norms_equal_torch_autograd(playground, cell):
    model = load_page_model(cell).model
    t = len(TEXT) - 1
    got = playground.evaluate(
        "([n, s, t]) => rnnvizLive.gradNorms(n, s, t)", [PAGE_MODELS[cell], TEXT, t]
    )
    ids = model.vocab.encode(TEXT)[None]
    for wrt in ("h", "c") if cell == "lstm" else ("h",):
        ref = hidden_grad_norms(
            model, ids[:, :t], ids[:, 1 : t + 1], loss_step=t - 1, wrt=wrt
        )
        for layer, expected in zip(got["layers"], ref, strict=True):
            np.testing.assert_allclose(layer[wrt], expected, rtol=1e-3, atol=1e-12)


def test_page_sampling_is_seeded_and_respects_top_k(playground):
    run = "([o]) => rnnvizLive.sample('lstm-page', 'ROMEO:\\n', 60, o)"
    a = playground.evaluate(run, [{"seed": 11}])
    assert a == playground.evaluate(run, [{"seed": 11}])
    assert a != playground.evaluate(run, [{"seed": 12}])
    text = playground.evaluate(run, [{"seed": 5, "topK": 2, "temperature": 1.5}])
    for k in range(len(text)):
        probs = playground.evaluate(
            "t => rnnvizLive.nextProbs('lstm-page', t).probs", "ROMEO:\n" + text[:k]
        )
        vocab = playground.evaluate("() => rnnvizLive.vocab('lstm-page')")
        assert vocab.index(text[k]) in np.argsort(-np.asarray(probs), kind="stable")[:2]


def _drawn(view):
    return view.get_attribute("data-drawn")


def test_typing_and_clicking_change_every_view(playground):
    gates = playground.locator('.rnnviz-live[data-view="gates"]')
    before, text_before = _drawn(gates), gates.locator(".rl-text").inner_text()
    gates.locator("textarea").fill("To be, or not to be, that is the question.")
    assert _drawn(gates) != before
    assert gates.locator(".rl-text").inner_text() != text_before
    assert gates.locator(".rl-text span").count() == 42
    chip = gates.locator(".rl-chip").nth(1)
    unit = re.search(r"unit (\d+)", chip.inner_text()).group(1)
    chip.click()
    assert gates.locator("input[type=number]").input_value() == unit
    gates.locator("select").first.select_option("gru-page")
    playground.wait_for_function(
        "() => document.querySelector('.rnnviz-live[data-view=gates] select')"
        ".value === 'gru-page' && rnnvizLive.loaded('gru-page')"
    )
    options = gates.locator("select").nth(2).locator("option").all_inner_texts()
    assert "reset gate r" in options and "cell state c" not in options

    sampling = playground.locator('.rnnviz-live[data-view="sampling"]')
    bars = sampling.locator(".rl-bars").inner_text()
    sampling.locator("textarea").fill("First Citizen:\nBefore we proceed any furthe")
    assert sampling.locator(".rl-bars").inner_text() != bars
    assert sampling.locator(".rl-bar").count() == 10
    sampling.locator("button.rl-go").click()
    first = sampling.locator("pre.rl-output").get_attribute("data-generated")
    length = sampling.locator("input[type=number]").nth(2).input_value()
    assert first and len(first) == int(length)
    sampling.locator("button.rl-go").click()
    assert sampling.locator("pre.rl-output").get_attribute("data-generated") == first

    grads = playground.locator('.rnnviz-live[data-view="gradients"]')
    before = _drawn(grads)
    grads.locator("button.rl-char").nth(10).click()
    assert _drawn(grads) != before
    assert grads.locator("button.rl-char.rl-target").count() == 1
    assert grads.locator("polyline").count() == 3
    assert not playground.errors, playground.errors


def test_keyboard_reaches_and_moves_every_control(playground):
    gates = playground.locator('.rnnviz-live[data-view="gates"]')
    unit = gates.locator("input[type=number]")
    unit.focus()
    value, before = int(unit.input_value()), _drawn(gates)
    playground.keyboard.press("ArrowUp")
    assert int(unit.input_value()) == value + 1 and _drawn(gates) != before
    box = gates.locator(".rl-text")
    box.focus()
    playground.keyboard.press("ArrowRight")
    playground.keyboard.press("ArrowRight")
    assert "character 1" in gates.locator(".rl-readout").inner_text()
    grads = playground.locator('.rnnviz-live[data-view="gradients"]')
    slider = grads.locator("input[type=range]")
    slider.focus()
    t, before = int(slider.input_value()), _drawn(grads)
    playground.keyboard.press("ArrowLeft")
    assert int(slider.input_value()) == t - 1 and _drawn(grads) != before
    # every control has a label a screen reader can read
    unlabelled = playground.evaluate(
        "() => Array.from(document.querySelectorAll('.rnnviz-live select,"
        " .rnnviz-live input, .rnnviz-live textarea')).filter(e => !(e.labels &&"
        " e.labels.length) && !e.getAttribute('aria-label')).length"
    )
    assert unlabelled == 0


def test_a_playground_link_reproduces_the_view(browser, base_url):
    page = _open(browser, base_url + PLAYGROUND + ".html", base_url)
    try:
        _live(page)
        gates = page.locator('.rnnviz-live[data-view="gates"]')
        gates.locator("textarea").fill("Shall I compare thee to a summer's day?")
        gates.locator("input[type=number]").fill("42")
        gates.locator("input[type=number]").dispatch_event("change")
        url = page.url
        assert "g.unit=42" in url and "summer" in url
        shown = gates.locator(".rl-text").inner_text()
    finally:
        page.close()
    again = _open(browser, url, base_url)
    try:
        _live(again)
        gates = again.locator('.rnnviz-live[data-view="gates"]')
        assert gates.locator("input[type=number]").input_value() == "42"
        assert gates.locator(".rl-text").inner_text() == shown
    finally:
        again.close()


def test_bad_text_gets_a_message_that_names_the_character(playground):
    gates = playground.locator('.rnnviz-live[data-view="gates"]')
    gates.locator("textarea").fill("caf\u00e9")
    status = gates.locator(".rl-status")
    assert "\u00e9" in status.inner_text() and "alphabet" in status.inner_text()
    gates.locator("textarea").fill("")
    assert "type some text" in status.inner_text()


@pytest.mark.parametrize("path", list(CHAPTERS))
def test_the_book_works_from_file_with_the_network_blocked(browser, path):
    """Chromium refuses fetch() on file://: the models load as scripts."""
    page = _open(browser, (HTML / (path + ".html")).as_uri(), "file://")
    try:
        assert sorted(_live(page)) == sorted(CHAPTERS[path].split())
        probs = page.evaluate("() => rnnvizLive.nextProbs('lstm-page', 'Hello').probs")
        assert abs(sum(probs) - 1) < 1e-9
        assert not page.errors, page.errors
        assert not [u for u in page.external if "live" in u], page.external
    finally:
        page.close()
