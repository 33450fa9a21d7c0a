"""Live views: blocks of the online book that run a model in the reader's browser.

Each function returns one self-contained HTML block (``IPython.display.HTML``)
for the JavaScript engine of :mod:`rnnviz.web` (``_static/live/``):

- :func:`gates_live_view`: the reader types a text; one unit's gate or state is
  coloured over it, with the units that change most listed;
- :func:`sampling_live_view`: the ten most likely next characters as the reader
  types, and generation from the reader's prompt (temperature, top-k, top-p,
  seed);
- :func:`gradients_live_view`: the reader clicks a character; the norm of the
  gradient of its log-probability at every earlier step, for the RNN, GRU and
  LSTM side by side.

A block carries a precomputed example, computed here from the very weights the
page runs (:func:`rnnviz.web.load_page_model`), which the page draws before the
models arrive; the view then goes live. The engine is found through the
``data-content_root`` of the book's pages, so the live part works in the built
book (also from ``file://``); in a notebook the block says where the live view
runs and the example is the one computed here. ``url_state=True`` (the
playground) keeps each control in the address, so a link reproduces a view.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from IPython.display import HTML

from rnnviz.gradients import hidden_grad_norms
from rnnviz.sampling import filter_logits
from rnnviz.viz.palette import (
    DARK_GREY,
    GATE_COLORS,
    GREY,
    INK,
    MODEL_COLORS,
    NEGATIVE,
    TRACK,
    VERMILLION,
    WHITE,
)
from rnnviz.web import PAGE_MODELS, WebModel, load_page_model

LABELS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
#: The models a view offers, in the order of its menu.
ORDER = ("lstm", "gru", "rnn")

_BOOT = """<script>
(function () {
  if (window.rnnvizLiveViews) { window.rnnvizLiveViews.mountAll(); return; }
  if (window.rnnvizLiveBoot) return;
  var root = document.documentElement.getAttribute("data-content_root");
  if (root === null) return;  /* not a page of the built book: keep the example */
  window.rnnvizLiveBoot = true;
  var base = root + "_static/live/";
  function add(src, then) {
    var s = document.createElement("script");
    s.src = src;
    s.onload = then;
    s.onerror = function () {
      document.querySelectorAll(".rnnviz-live .rl-fallback").forEach(function (e) {
        e.textContent = "The live engine did not load from " + src + ".";
      });
    };
    document.head.appendChild(s);
  }
  add(base + "rnnviz-live.js", function () { add(base + "rnnviz-live-views.js"); });
})();
</script>"""

_cache: dict[str, WebModel] = {}


def _model(cell: str) -> WebModel:
    if cell not in PAGE_MODELS:
        raise ValueError(f"model must be one of {list(ORDER)}, got {cell!r}")
    if cell not in _cache:
        _cache[cell] = load_page_model(cell)
    return _cache[cell]


def _colors() -> dict[str, Any]:
    return {
        "series": dict(GATE_COLORS),
        "model": dict(MODEL_COLORS),
        "zero": WHITE,
        "negative": NEGATIVE,
        "accent": GATE_COLORS["h"],
        "ink": INK,
        "muted": DARK_GREY,
        "track": TRACK,
        "grey": GREY,
        "error": VERMILLION,
    }


def _check_text(wm: WebModel, text: str, what: str, at_least: int = 1) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string, got {type(text).__name__}")
    if len(text) < at_least:
        raise ValueError(f"{what} is too short: give at least {at_least} character(s)")
    unknown = sorted(set(text) - set(wm.vocab.chars))
    if unknown:
        raise ValueError(f"{what} has characters the model does not know: {unknown}")
    return text


def _block(config: dict[str, Any], example: str) -> HTML:
    body = json.dumps(config, sort_keys=True, ensure_ascii=False)
    view_id = "rl-" + hashlib.sha256(body.encode()).hexdigest()[:12]
    return HTML(
        f'<div class="rnnviz-live" id="{view_id}" data-view="{config["view"]}" '
        'data-lm-suppress-shortcuts="true" '
        f'data-config="{html.escape(body, quote=True)}">'
        f'<div class="rl-fallback" style="font-size: 13px; color: {DARK_GREY};">'
        f"{example} (A live view: in the online book it runs the model in your "
        "browser; elsewhere it shows this example, computed in Python.)</div></div>"
        + _BOOT
    )


def _models(cells: Sequence[str]) -> list[list[Any]]:
    return [[PAGE_MODELS[c], LABELS[c], c] for c in cells]


def _base(view: str, key: str | None, url_state: bool) -> dict[str, Any]:
    return {
        "view": view,
        "key": key or view[0],
        "urlState": bool(url_state),
        "colors": _colors(),
    }


def _sd_ranking(rows: np.ndarray, top: int) -> list[list[float]]:
    sd = rows.astype(np.float64).std(axis=0)  # (H,)
    order = np.lexsort((np.arange(len(sd)), -sd))[:top]
    return [[int(u), round(float(sd[u]), 6)] for u in order]


def gates_live_view(
    text: str,
    model: str = "lstm",
    *,
    layer: int = 0,
    series: str = "c",
    unit: int | None = None,
    top: int = 8,
    key: str | None = None,
    url_state: bool = False,
) -> HTML:
    """Type your own text: one unit's gate or state coloured over it, live.

    ``model`` is 'lstm', 'gru' or 'rnn' (the reader can switch); ``series`` 'h',
    'c' or a gate name; ``unit`` defaults to the unit that changes most over
    ``text``; ``top`` units are listed.
    """
    wm = _model(model)
    _check_text(wm, text, "text")
    trace = wm.model.probe(text)
    if not 0 <= layer < trace.num_layers:
        raise ValueError(f"layer must be in [0, {trace.num_layers}), got {layer}")
    rows = trace.series(series, layer)[:, 0]  # (T, H); KeyError names the known ones
    ranking = _sd_ranking(rows, top)
    unit = ranking[0][0] if unit is None else int(unit)
    if not 0 <= unit < rows.shape[1]:
        raise ValueError(f"unit must be in [0, {rows.shape[1]}), got {unit}")
    cfg = _base("gates", key, url_state) | {
        "models": _models(ORDER),
        "model": PAGE_MODELS[model],
        "layers": trace.num_layers,
        "hidden": rows.shape[1],
        "layer": layer,
        "series": series,
        "unit": unit,
        "text": text,
        "top": top,
        "precomputed": {
            "model": PAGE_MODELS[model],
            "layer": layer,
            "series": series,
            "unit": unit,
            "text": text,
            "values": [round(float(v), 5) for v in rows[:, unit]],
            "top": ranking,
        },
    }
    example = (
        f"{LABELS[model]} layer {layer + 1}, unit {unit}, {series}: the units that "
        f"change most over the example are {', '.join(str(u) for u, _ in ranking)}."
    )
    return _block(cfg, html.escape(example))


def sampling_live_view(
    prompt: str,
    model: str = "lstm",
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    length: int = 300,
    key: str | None = None,
    url_state: bool = False,
) -> HTML:
    """Next-character probabilities live as the reader types; generation on demand."""
    wm = _model(model)
    _check_text(wm, prompt, "prompt")
    logits = torch.as_tensor(wm.model.probe(prompt).logits[0, -1])
    p = torch.softmax(filter_logits(logits, temperature, top_k, top_p).double(), -1)
    order = np.lexsort((np.arange(len(p)), -p.numpy()))[:10]
    bars = [[wm.vocab.chars[i], round(float(p[i]), 6)] for i in order]
    cfg = _base("sampling", key, url_state) | {
        "models": _models(ORDER),
        "model": PAGE_MODELS[model],
        "vocabSize": len(wm.vocab),
        "prompt": prompt,
        "temperature": temperature,
        "topK": top_k or 0,
        "topP": top_p or 1.0,
        "seed": seed,
        "length": length,
        "precomputed": {"model": PAGE_MODELS[model], "prompt": prompt, "bars": bars},
    }
    best = ", ".join(f"{c!r} {100 * q:.0f}%" for c, q in bars[:3])
    return _block(
        cfg, html.escape(f"After the prompt, the {LABELS[model]} expects {best}.")
    )


def gradients_live_view(
    text: str,
    t: int | None = None,
    *,
    layer: int = 0,
    cells: Sequence[str] = ("rnn", "gru", "lstm"),
    key: str | None = None,
    url_state: bool = False,
) -> HTML:
    """Click a character: ``||d log p(text[t]) / dh_k||`` at every earlier step k.

    One curve per model (``cells``), for the hidden state of ``layer``; ``t``
    defaults to the last character.
    """
    wms = [_model(c) for c in cells]
    for wm in wms:
        _check_text(wm, text, "text", at_least=2)
    t = len(text) - 1 if t is None else int(t)
    if not 1 <= t < len(text):
        raise ValueError(f"t must be in [1, {len(text)}): the target text[t]")
    ids = wms[0].vocab.encode(text)[None]
    results = []
    for cell, wm in zip(cells, wms):
        norms = hidden_grad_norms(
            wm.model, ids[:, :t], ids[:, 1 : t + 1], loss_step=t - 1
        )
        if not 0 <= layer < len(norms):
            raise ValueError(f"layer must be in [0, {len(norms)}), got {layer}")
        results.append(
            [PAGE_MODELS[cell], LABELS[cell], [float(f"{v:.6g}") for v in norms[layer]]]
        )
    cfg = _base("gradients", key, url_state) | {
        "models": _models(cells),
        "layers": wms[0].model.config["num_layers"],
        "text": text,
        "t": t,
        "layer": layer,
        "precomputed": {"text": text, "t": t, "layer": layer, "results": results},
    }
    far = ", ".join(f"{r[1]} {r[2][0]:.1e}" for r in results)
    example = (
        f"The gradient of the prediction of {text[t]!r} at the first character: {far}."
    )
    return _block(cfg, html.escape(example))
