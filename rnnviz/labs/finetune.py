"""Pre-training then fine-tuning: adapt a trained character model to one text.

* :func:`split_text`: the first part of a text for fine-tuning and the rest
  held out, cut at a blank line (a speech boundary in the corpus) so that the
  held-out part starts with a speaker line.
* :func:`fine_tune`: a deep copy of the model trained further with
  truncated BPTT (:func:`rnnviz.tbptt.train_stateful`, the loop the
  pretrained models were trained with); the model passed in is never
  changed. Deterministic for a given ``seed`` and number of threads.
* :func:`from_scratch`: a freshly initialised model with the same
  configuration, the control that measures what pre-training is worth.

>>> split_text("A:\\nhi\\n\\nB:\\nho\\n\\nC:\\nha\\n", 0.5)
('A:\\nhi\\n\\n', 'B:\\nho\\n\\nC:\\nha\\n')
"""

from __future__ import annotations

import copy

from torch import Tensor

from rnnviz._checks import positive_float, positive_int
from rnnviz.models import CharLM
from rnnviz.tbptt import train_stateful
from rnnviz.train import History


def split_text(text: str, fraction: float = 0.8) -> tuple[str, str]:
    """``(head, tail)`` with ``head + tail == text``, cut at the blank line nearest to
    ``fraction`` of the text.

    Falls back to the exact character position when the text has no blank
    line. Both parts are non-empty.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if len(text) < 2:
        raise ValueError(
            f"text has {len(text)} character(s): "
            "need at least 2 to split into two parts"
        )
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0.0 < fraction < 1.0
    ):
        raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}")
    target = round(fraction * len(text))
    cuts = [
        i + 2
        for i in range(len(text) - 2)
        if text[i : i + 2] == "\n\n" and 0 < i + 2 < len(text)
    ]
    cut = (
        min(cuts, key=lambda c: (abs(c - target), c))
        if cuts
        else min(max(1, target), len(text) - 1)
    )
    return text[:cut], text[cut:]


def _check_model(model: object) -> CharLM:
    if not isinstance(model, CharLM):
        raise TypeError(f"model must be a CharLM, got {type(model).__name__}")
    return model


def _as_ids(model: CharLM, data: Tensor | str, name: str) -> Tensor:
    """Text -> ids with the model's vocabulary (unknown characters raise); ids pass."""
    if isinstance(data, str):
        if model.vocab is None:
            raise ValueError(
                f"{name} is a string but the model has no vocab: pass character ids"
            )
        if not data:
            raise ValueError(f"{name} is empty: nothing to train or score on")
        return model.vocab.encode(
            data
        )  # raises UnknownCharacterError (a ValueError) naming the character
    if not isinstance(data, Tensor):
        raise TypeError(
            f"{name} must be a str or a 1-D tensor of character ids, "
            f"got {type(data).__name__}"
        )
    return data


def fine_tune(
    model: CharLM,
    train: Tensor | str,
    valid: Tensor | str | None = None,
    *,
    steps: int = 50,
    lr: float = 5e-4,
    batch_size: int = 16,
    seq_len: int = 128,
    clip: float | None = 1.0,
    eval_every: int | None = None,
    seed: int = 0,
) -> tuple[CharLM, History]:
    """Train a copy of ``model`` on ``train`` for ``steps`` steps: ``(copy, history)``.

    ``train`` and ``valid`` are character ids (N,) or text (encoded with
    ``model.vocab``; an unknown character raises).

    Adam with a constant ``lr`` (smaller than a from-scratch run's, so the
    pretrained weights are adjusted rather than overwritten), gradient-norm
    clipping at ``clip``, truncated BPTT over ``batch_size`` contiguous
    streams of ``seq_len`` characters with the state carried. ``valid``
    is scored every ``eval_every`` steps (default: only at the end). The
    copy is returned in eval mode; ``model`` itself is left untouched.
    """
    _check_model(model)
    positive_float("lr", lr)
    positive_int("steps", steps)
    train_ids = _as_ids(model, train, "train")
    valid_ids = None if valid is None else _as_ids(model, valid, "valid")
    tuned = copy.deepcopy(model)
    hist = train_stateful(
        tuned,
        train_ids,
        valid_ids,
        steps=steps,
        batch_size=batch_size,
        seq_len=seq_len,
        lr=lr,
        clip=clip,
        eval_every=eval_every or steps,
        seed=seed,
        progress=False,
    )
    tuned.eval()
    return tuned, hist


def from_scratch(model: CharLM, seed: int = 0) -> CharLM:
    """A new, randomly initialised ``CharLM`` with ``model``'s configuration and
    vocabulary (seeded)."""
    _check_model(model)
    return CharLM(**model.config, seed=seed, vocab=model.vocab)
