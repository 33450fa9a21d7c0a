"""Training in the page: a tiny RNN and a tiny LSTM learn the adding problem live.

:func:`training_live_view` returns one HTML block (``IPython.display.HTML``) for
``rnnviz-train.js`` (``web/live/``, served as ``_static/live/``): in the built
book the reader's browser trains both models side by side on the same batches of
the adding problem (the task of :func:`rnnviz.labs.tasks.adding_problem`), in
plain JavaScript, and redraws the loss curve (log scale, with the 1/6 baseline of
always answering 1) and the gradient norm ``||dL/dh_k||`` against the distance
``T - 1 - k`` as they train. The reader sets the sequence length, the hidden size,
the learning rate, the optimizer and the seed. One step of the page equals one
step of ``torch.optim`` on the same weights (``tests/browser/test_live_train.py``).

Nothing is computed here: in a notebook the block only says where the view runs.
The script is found through the ``data-content_root`` of the book's pages, as for
the views of :mod:`rnnviz.viz.live`.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Sequence
from typing import Any

from IPython.display import HTML

from rnnviz._checks import int_at_least, nonnegative_int, positive_int
from rnnviz.viz.palette import (
    DARK_GREY,
    GREY,
    INK,
    MODEL_COLORS,
    TRACK,
    VERMILLION,
    WHITE,
)

#: The loss of always answering 1: Var(a + b) = 2/12 for a, b ~ U(0, 1).
#: (rnnviz.labs.tasks.ADDING_BASELINE_MSE; the drawing never imports the labs.)
BASELINE_MSE = 1.0 / 6.0
#: The menus of the view; a value passed in that is not on a menu is added to it.
LENGTHS = (10, 20, 40, 60, 100)
HIDDENS = (4, 8, 16, 32, 64)
LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
OPTIMIZERS = ("adam", "sgd")
MAX_LENGTH = 200  # longer sequences train too slowly in a page
MAX_HIDDEN = 128
MAX_BATCH = 512
MAX_STEPS = 100_000
MAX_SEED = 1_000_000  # the page's seed field

_BOOT = """<script>
(function () {
  if (window.rnnvizTrain) { window.rnnvizTrain.mountAll(); return; }
  if (window.rnnvizTrainBoot) return;
  var root = document.documentElement.getAttribute("data-content_root");
  if (root === null) return;  /* not a page of the built book: keep the text */
  window.rnnvizTrainBoot = true;
  var s = document.createElement("script");
  s.src = root + "_static/live/rnnviz-train.js";
  s.onerror = function () {
    document.querySelectorAll(".rnnviz-train .rt-fallback").forEach(function (e) {
      e.textContent = "The training view did not load from " + s.src + ".";
    });
  };
  document.head.appendChild(s);
})();
</script>"""


def _colors() -> dict[str, Any]:
    return {
        "model": {"RNN": MODEL_COLORS["RNN"], "LSTM": MODEL_COLORS["LSTM"]},
        "baseline": GREY,
        "ink": INK,
        "muted": DARK_GREY,
        "track": TRACK,
        "error": VERMILLION,
        "background": WHITE,
    }


def _in_range(name: str, value: object, low: int, high: int) -> int:
    value = int_at_least(name, value, low)
    if value > high:
        raise ValueError(f"{name} must be at most {high}, got {value!r}")
    return value


def _finite_positive(name: str, value: object, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}, got {value!r}")
    return float(value)


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number or None, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _menu(values: Sequence[float], value: float) -> list[float]:
    """The values of a menu, with ``value`` on it."""
    return sorted(set(values) | {value})


def training_live_view(
    T: int = 20,
    hidden: int = 16,
    lr: float = 0.01,
    optimizer: str = "adam",
    seed: int = 0,
    steps_per_frame: int = 10,
    key: str | None = None,
    *,
    batch: int = 32,
    clip: float | None = 1.0,
    forget_bias: float | None = 1.0,
    max_steps: int = 3000,
    autostart: bool = False,
) -> HTML:
    """An RNN and an LSTM trained on the adding problem in the reader's browser.

    ``T`` is the sequence length, ``hidden`` the hidden size of both models,
    ``lr`` and ``optimizer`` ('adam' or 'sgd', as ``torch.optim``) the update,
    ``seed`` the initial weights and the batches (the reader can change all of
    these). Each animation frame trains at most ``steps_per_frame`` steps on
    ``batch`` sequences; gradients are clipped to a global norm of ``clip``
    (``None``: no clipping); the LSTM's forget-gate bias starts at
    ``forget_bias`` (``None``: torch's uniform default); training stops after
    ``max_steps`` steps. ``key`` names the block (default ``"train"``).
    """
    T = _in_range("T", T, 2, MAX_LENGTH)
    hidden = _in_range("hidden", hidden, 1, MAX_HIDDEN)
    lr = _finite_positive("lr", lr, high=10.0)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    seed = nonnegative_int("seed", seed)
    if seed > MAX_SEED:
        raise ValueError(f"seed must be at most {MAX_SEED}, got {seed!r}")
    steps_per_frame = _in_range("steps_per_frame", steps_per_frame, 1, 1000)
    if key is not None and (not isinstance(key, str) or not key):
        raise ValueError(f"key must be a non-empty string or None, got {key!r}")
    batch = _in_range("batch", batch, 1, MAX_BATCH)
    if clip is not None:
        clip = _finite_positive("clip", clip)
    if forget_bias is not None:
        forget_bias = _finite("forget_bias", forget_bias)
    max_steps = positive_int("max_steps", max_steps)
    if max_steps > MAX_STEPS:
        raise ValueError(f"max_steps must be at most {MAX_STEPS}, got {max_steps!r}")
    if not isinstance(autostart, bool):
        raise ValueError(f"autostart must be True or False, got {autostart!r}")
    cfg = {
        "view": "train",
        "key": key or "train",
        "T": T,
        "hidden": hidden,
        "lr": lr,
        "optimizer": optimizer,
        "seed": seed,
        "stepsPerFrame": steps_per_frame,
        "batch": batch,
        "clip": clip,
        "forgetBias": forget_bias,
        "maxSteps": max_steps,
        "autostart": autostart,
        "baseline": BASELINE_MSE,
        "lengths": _menu(LENGTHS, T),
        "hiddens": _menu(HIDDENS, hidden),
        "lrs": _menu(LEARNING_RATES, lr),
        "colors": _colors(),
    }
    return _block(cfg)


def _block(config: dict[str, Any]) -> HTML:
    body = json.dumps(config, sort_keys=True, ensure_ascii=False)
    view_id = "rt-" + hashlib.sha256(body.encode()).hexdigest()[:12]
    text = (
        f"This view trains a small RNN and a small LSTM ({config['hidden']} hidden "
        f"units) on the adding problem with sequences of length {config['T']}, in "
        "your browser, in the online book (make book); the loss and the gradient "
        "through time are redrawn as they learn."
    )
    return HTML(
        f'<div class="rnnviz-train" id="{view_id}" data-view="train" '
        'data-lm-suppress-shortcuts="true" '
        f'data-config="{html.escape(body, quote=True)}">'
        f'<div class="rt-fallback" style="font-size: 13px; color: {DARK_GREY};">'
        f"{html.escape(text)}</div></div>" + _BOOT
    )
