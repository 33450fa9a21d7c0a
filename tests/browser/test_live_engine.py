"""The live engine (``web/live/rnnviz-live.js``) against torch, in headless Chromium.

Small random models of every cell, one to three layers and every stored dtype
are written with :func:`rnnviz.web.export_web`, served from a temporary folder
with the engine, and run in the page. What the page computes must equal what
torch computes on the weights read back by :func:`rnnviz.web.read_web`: every
gate and state (``rnnviz.probe``), the next-character probabilities, the
sampling distribution (``rnnviz.sampling.filter_logits``) and the gradient
norms through time (torch autograd, ``rnnviz.gradients.hidden_grad_norms``).
This needs Chromium, not the built book; ``tests/browser/test_live.py`` checks
the book's own live views.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnviz.data import Vocab
from rnnviz.gradients import hidden_grad_norms
from rnnviz.models import CharLM
from rnnviz.sampling import filter_logits
from rnnviz.web import export_web, read_web

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "web" / "live" / "rnnviz-live.js"
CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM", "/usr/bin/chromium")
if shutil.which(CHROMIUM) is None:
    if os.environ.get("RNNVIZ_REQUIRE_SITE"):
        raise RuntimeError(f"need Chromium at {CHROMIUM}")
    pytest.skip("Chromium is missing", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

VOCAB = Vocab.from_text("abcdefghijklmnopqrstuvwxyz ,.;:'!?\nABCDEFGHIJ")
TEXT = "the quick brown fox; jumps over\nthe lazy dog, again and again!"
#: name -> (cell, layers, dtype, hidden)
MODELS = {
    "lstm-1": ("lstm", 1, "float32", 24),
    "lstm-2": ("lstm", 2, "int8", 20),
    "lstm-3": ("lstm", 3, "float16", 12),
    "gru-1": ("gru", 1, "float16", 24),
    "gru-2": ("gru", 2, "int8", 20),
    "rnn-1": ("rnn", 1, "float32", 24),
    "rnn-3": ("rnn", 3, "int8", 16),
}


def _model(cell, layers, hidden, seed):
    m = CharLM(
        len(VOCAB),
        hidden_size=hidden,
        num_layers=layers,
        cell=cell,
        embed_size=10,
        seed=seed,
        vocab=VOCAB,
    )
    with torch.no_grad():  # larger weights than the default: saturated gates too
        for name, p in m.named_parameters():
            if name.startswith("rnn.weight"):
                p.mul_(2.5)
    return m.eval()


@pytest.fixture(scope="module")
def served(tmp_path_factory, serve):
    """name -> the CharLM the page runs; and the URL of the page."""
    root = tmp_path_factory.mktemp("live")
    (root / "live" / "models").mkdir(parents=True)
    shutil.copy(ENGINE, root / "live" / "rnnviz-live.js")
    models = {}
    for k, (name, (cell, layers, dtype, hidden)) in enumerate(MODELS.items()):
        path = root / "live" / "models" / f"{name}.js"
        export_web(_model(cell, layers, hidden, seed=k), path, name=name, dtype=dtype)
        models[name] = read_web(path).model
    (root / "index.html").write_text(
        '<!doctype html><meta charset="utf-8"><script src="live/rnnviz-live.js">'
        "</script><body>engine test</body>"
    )
    with serve(root) as url:
        yield models, url


@pytest.fixture(scope="module")
def page(served, browser):
    models, url = served
    pg = browser.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url + "index.html")
    pg.evaluate(
        "names => Promise.all(names.map(n => rnnvizLive.load(n)))", list(models)
    )
    yield pg
    assert not errors, errors
    pg.close()


def _ids(text):
    return VOCAB.encode(text)[None]  # (1, T)


@pytest.mark.parametrize("name", list(MODELS))
def test_weights_in_the_page_are_the_ones_python_reads(page, served, name):
    models, _ = served
    state = page.evaluate("n => rnnvizLive.state(n)", name)
    assert state["config"] == models[name].config
    assert state["vocab"] == list(VOCAB.chars)
    sd = models[name].state_dict()
    assert set(state["tensors"]) == set(sd)
    for k, t in state["tensors"].items():
        assert t["shape"] == list(sd[k].shape)
        got = np.asarray(t["values"], dtype=np.float32).reshape(t["shape"])
        np.testing.assert_array_equal(got, sd[k].numpy(), err_msg=k)  # bit for bit


@pytest.mark.parametrize("name", list(MODELS))
def test_every_gate_state_and_probability_equals_rnnviz_probe(page, served, name):
    models, _ = served
    m = models[name]
    got = page.evaluate("([n, t]) => rnnvizLive.probe(n, t)", [name, TEXT])
    ref = m.probe(TEXT)
    assert len(got["layers"]) == ref.num_layers
    for lt, rt in zip(got["layers"], ref.layers):
        np.testing.assert_allclose(lt["h"], rt.h[:, 0], atol=1e-4)
        if rt.c is not None:
            np.testing.assert_allclose(lt["c"], rt.c[:, 0], atol=1e-4)
        assert set(lt["gates"]) == set(rt.gates) and len(lt["gates"]) == len(
            ref.gate_names
        )
        for g, v in lt["gates"].items():
            np.testing.assert_allclose(v, rt.gates[g][:, 0], atol=1e-4, err_msg=g)
    np.testing.assert_allclose(got["logits"], ref.logits[0], atol=1e-4)
    nxt = page.evaluate("([n, t]) => rnnvizLive.nextProbs(n, t)", [name, TEXT])
    p = torch.softmax(torch.as_tensor(ref.logits[0, -1]).double(), -1).numpy()
    assert nxt["vocab"] == list(VOCAB.chars)
    np.testing.assert_allclose(nxt["probs"], p, atol=1e-4)
    assert sum(nxt["probs"]) == pytest.approx(1.0, abs=1e-9)


def test_typing_one_character_more_gives_the_same_numbers_as_a_fresh_run(page):
    """The cache of the common prefix: extending, editing and shortening the text."""
    for text in (TEXT[:20], TEXT[:21], TEXT[:10] + "J" + TEXT[11:30], TEXT[:5]):
        cached = page.evaluate("([n, t]) => rnnvizLive.probe(n, t)", ["lstm-2", text])
        fresh = page.evaluate(
            "([n, t]) => { rnnvizLive.probe(n, 'A'); return rnnvizLive.probe(n, t); }",
            ["lstm-2", text],
        )
        assert cached == fresh


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("t", [1, 17, len(TEXT) - 1])
def test_grad_norms_equal_torch_autograd(page, served, name, t):
    models, _ = served
    m = models[name]
    got = page.evaluate("([n, s, t]) => rnnvizLive.gradNorms(n, s, t)", [name, TEXT, t])
    ids = _ids(TEXT)
    assert got["target"] == TEXT[t] and got["t"] == t
    ref = hidden_grad_norms(m, ids[:, :t], ids[:, 1 : t + 1], loss_step=t - 1)
    for l, layer in enumerate(got["layers"]):
        np.testing.assert_allclose(layer["h"], ref[l], rtol=1e-3, atol=1e-9)
    if m.cell == "lstm":
        ref_c = hidden_grad_norms(
            m, ids[:, :t], ids[:, 1 : t + 1], loss_step=t - 1, wrt="c"
        )
        for l, layer in enumerate(got["layers"]):
            np.testing.assert_allclose(layer["c"], ref_c[l], rtol=1e-3, atol=1e-9)
    # the inputs: d log p / d embedding, by autograd through the fused torch layer
    e = m.embed(ids[:, :t]).detach().double().requires_grad_(True)
    rnn, head = m.rnn.double(), m.head.double()
    out, _ = rnn(e)
    logp = torch.log_softmax(head(out[0, -1]), -1)[ids[0, t]]
    (grad,) = torch.autograd.grad(logp, e)
    m.float()
    assert got["logp"] == pytest.approx(float(logp.detach()), abs=1e-4)
    np.testing.assert_allclose(got["inputs"], grad[0].norm(dim=1), rtol=1e-3)
    np.testing.assert_allclose(
        got["attribution"], (grad[0] * e[0]).sum(1).detach(), rtol=1e-3, atol=1e-7
    )


@pytest.mark.parametrize(
    "opts",
    [
        dict(temperature=1.0),
        dict(temperature=0.5, topK=5),
        dict(temperature=1.3, topP=0.6),
        dict(temperature=0.8, topK=7, topP=0.9),
        dict(topK=1),
    ],
)
def test_sampling_distribution_equals_filter_logits(page, served, opts):
    models, _ = served
    logits = torch.as_tensor(models["gru-2"].probe(TEXT).logits[0, -1])
    ref = torch.softmax(
        filter_logits(
            logits, opts.get("temperature", 1.0), opts.get("topK"), opts.get("topP")
        ).double(),
        -1,
    )
    got = page.evaluate(
        "([n, t, o]) => rnnvizLive.distribution(n, t, o)", ["gru-2", TEXT, opts]
    )
    np.testing.assert_allclose(got["probs"], ref.numpy(), atol=1e-6)


def test_sampling_is_reproducible_and_respects_top_k(page):
    run = "([n, o]) => rnnvizLive.sample(n, 'the ', 80, o)"
    a = page.evaluate(run, ["lstm-2", {"seed": 7, "temperature": 1.5}])
    b = page.evaluate(run, ["lstm-2", {"seed": 7, "temperature": 1.5}])
    c = page.evaluate(run, ["lstm-2", {"seed": 8, "temperature": 1.5}])
    assert a == b and a != c and len(a) == 80
    text = page.evaluate(run, ["lstm-2", {"seed": 3, "topK": 3}])
    for k in range(len(text)):  # each character is among the 3 best after its prefix
        probs = page.evaluate(
            "([n, t]) => rnnvizLive.nextProbs(n, t).probs",
            ["lstm-2", "the " + text[:k]],
        )
        best = np.argsort(-np.asarray(probs), kind="stable")[:3]
        assert VOCAB.stoi[text[k]] in best, (k, text)


@pytest.mark.parametrize(
    "call, message",
    [
        ("rnnvizLive.probe('lstm-1', 'caf\\u00e9 \\u00e9')", "does not know"),
        ("rnnvizLive.probe('lstm-1', '')", "text is empty"),
        ("rnnvizLive.probe('nope', 'abc')", "not loaded"),
        ("rnnvizLive.gradNorms('gru-1', 'abc', 3)", "t must be an integer"),
        ("rnnvizLive.gradNorms('gru-1', 'abc', 0)", "t must be an integer"),
        ("rnnvizLive.sample('rnn-1', 'ab', 5, {temperature: 0})", "temperature"),
        ("rnnvizLive.sample('rnn-1', 'ab', 5, {topK: 0})", "topK"),
        ("rnnvizLive.sample('rnn-1', 'ab', 5, {topP: 1.5})", "topP"),
        ("rnnvizLive.series('lstm-2', 'ab', 2, 'h')", "layer must be"),
        ("rnnvizLive.series('gru-1', 'ab', 0, 'c')", "no series"),
    ],
)
def test_bad_input_gets_an_error_that_names_the_problem(page, call, message):
    err = page.evaluate(
        f"() => {{ try {{ {call}; return null; }} catch (e) {{ return e.message; }} }}"
    )
    assert err is not None and message in err, err
    assert err.startswith("rnnvizLive: ")


def test_loading_an_unknown_model_rejects_with_its_name(page):
    err = page.evaluate(
        "() => rnnvizLive.load('missing-model').then(() => null, e => e.message)"
    )
    assert "missing-model" in err
