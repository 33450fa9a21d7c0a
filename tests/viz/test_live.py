"""rnnviz.viz.live: the live views' blocks and their precomputed examples."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
import torch

from rnnviz.data import Vocab
from rnnviz.gradients import hidden_grad_norms
from rnnviz.models import CharLM
from rnnviz.sampling import filter_logits
from rnnviz.viz import live
from rnnviz.web import WebModel, web_dir

VOCAB = Vocab.from_text("abcdefghijklmnopqrstuvwxyz ,.:\nROMEJULIT")
TEXT = "ROMEO:\nbut soft, what light through yonder window breaks."


@pytest.fixture
def models(monkeypatch):
    """Small random models in place of the shipped page models."""
    cache = {}
    for k, cell in enumerate(("rnn", "gru", "lstm")):
        m = CharLM(
            len(VOCAB),
            hidden_size=16,
            num_layers=2,
            cell=cell,
            embed_size=6,
            seed=k,
            vocab=VOCAB,
        ).eval()
        cache[cell] = WebModel(f"{cell}-page", m, VOCAB, {}, "float32", "0" * 64)
    monkeypatch.setattr(live, "_cache", cache)
    return cache


def _config(block):
    m = re.search(r'data-config="([^"]*)"', block.data)
    return json.loads(html.unescape(m.group(1)))


def test_gates_view_precomputes_the_chosen_unit_and_the_most_changing_units(models):
    cfg = _config(live.gates_live_view(TEXT, "lstm", layer=1, series="c", top=5))
    rows = models["lstm"].model.probe(TEXT).series("c", 1)[:, 0]  # (T, H)
    sd = rows.astype(np.float64).std(axis=0)
    pre = cfg["precomputed"]
    assert [u for u, _ in pre["top"]] == np.argsort(-sd, kind="stable")[:5].tolist()
    assert pre["unit"] == cfg["unit"] == int(np.argmax(sd))  # the default unit
    np.testing.assert_allclose(pre["values"], rows[:, pre["unit"]], atol=1e-5)
    assert cfg["model"] == "lstm-page" and cfg["layers"] == 2 and cfg["hidden"] == 16
    assert [m[0] for m in cfg["models"]] == ["lstm-page", "gru-page", "rnn-page"]
    chosen = _config(live.gates_live_view(TEXT, "gru", series="z", unit=3))
    assert chosen["precomputed"]["unit"] == 3


def test_sampling_view_precomputes_the_ten_best_of_the_filtered_distribution(models):
    cfg = _config(live.sampling_live_view(TEXT, "gru", temperature=0.7, top_k=5))
    logits = torch.as_tensor(models["gru"].model.probe(TEXT).logits[0, -1])
    p = torch.softmax(filter_logits(logits, 0.7, 5, None).double(), -1).numpy()
    bars = cfg["precomputed"]["bars"]
    assert len(bars) == 10 and [b[1] for b in bars] == sorted(
        [b[1] for b in bars], reverse=True
    )
    best = np.argsort(-p, kind="stable")[:10]
    assert [b[0] for b in bars] == [VOCAB.chars[i] for i in best]
    np.testing.assert_allclose([b[1] for b in bars], p[best], atol=1e-6)
    assert sum(b[1] > 0 for b in bars) == 5  # top-k cut the rest
    assert cfg["topK"] == 5 and cfg["topP"] == 1.0


def test_gradients_view_precomputes_torch_autograd_norms(models):
    t = 20
    cfg = _config(live.gradients_live_view(TEXT, t, layer=1))
    ids = VOCAB.encode(TEXT)[None]
    for name, label, norms in cfg["precomputed"]["results"]:
        cell = label.lower()
        ref = hidden_grad_norms(
            models[cell].model, ids[:, :t], ids[:, 1 : t + 1], loss_step=t - 1
        )[1]
        np.testing.assert_allclose(norms, ref, rtol=1e-5)
        assert name == f"{cell}-page" and len(norms) == t
    assert _config(live.gradients_live_view(TEXT))["t"] == len(TEXT) - 1


def test_a_block_is_the_same_on_every_run_and_boots_the_engine(models):
    a = live.gates_live_view(TEXT).data
    assert a == live.gates_live_view(TEXT).data
    assert (
        "_static/live/" in a and "rnnviz-live.js" in a and "rnnviz-live-views.js" in a
    )
    assert (web_dir().parent / "rnnviz-live.js").is_file()
    assert (web_dir().parent / "rnnviz-live-views.js").is_file()
    assert 'class="rl-fallback"' in a  # what a notebook shows without the book
    assert not re.search(r"#[0-9A-Fa-f]{6}", a.split("data-config")[0])
    assert _config(live.gates_live_view(TEXT, url_state=True, key="x"))["key"] == "x"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: live.gates_live_view("caf\u00e9"), ValueError, "does not know"),
        (lambda: live.gates_live_view(""), ValueError, "too short"),
        (lambda: live.gates_live_view(TEXT, layer=2), ValueError, "layer must be"),
        (lambda: live.gates_live_view(TEXT, unit=16), ValueError, "unit must be"),
        (lambda: live.gates_live_view(TEXT, "gru", series="c"), KeyError, "known"),
        (lambda: live.gates_live_view(TEXT, "transformer"), ValueError, "model must"),
        (lambda: live.sampling_live_view(TEXT, temperature=0), ValueError, "temper"),
        (lambda: live.gradients_live_view("a"), ValueError, "too short"),
        (lambda: live.gradients_live_view(TEXT, 0), ValueError, "t must be"),
        (lambda: live.gradients_live_view(TEXT, layer=5), ValueError, "layer must"),
        (lambda: live.gates_live_view(42), TypeError, "must be a string"),
    ],
)
def test_bad_arguments_get_clear_errors(models, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_shipped_page_models_make_a_view():
    live._cache.clear()
    cfg = _config(live.gates_live_view("ROMEO:\nBut soft, what light"))
    assert cfg["hidden"] == 256 and cfg["layers"] == 2
