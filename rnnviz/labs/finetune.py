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
* :func:`split_three`: the fine-tuning text, a tuning slice (for picking the
  learning rate) and the held-out tail of one play.
* :func:`sweep`: the fair version of the comparison, too long for a page:
  fine-tuning and training from scratch on the same play, each at three
  learning rates and three seeds, from scratch at budgets up to many passes
  over the play. ``python -m rnnviz.labs.finetune`` runs it once on
  :data:`SWEEP_PLAY` (a validation play) and writes :data:`SWEEP_FILE`,
  whose sha256 is :data:`SWEEP_SHA256`.

>>> split_text("A:\\nhi\\n\\nB:\\nho\\n\\nC:\\nha\\n", 0.5)
('A:\\nhi\\n\\n', 'B:\\nho\\n\\nC:\\nha\\n')
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

from rnnviz._checks import positive_float, positive_int
from rnnviz.checkpoints import sha256_file, verify_sha256
from rnnviz.corpus import load_corpus
from rnnviz.data import stream_batches
from rnnviz.models import CharLM
from rnnviz.paths import book_file
from rnnviz.pretrain import load_pretrained
from rnnviz.tbptt import carried_loss, train_stateful
from rnnviz.train import History, evaluate, fit

#: The play the sweep fine-tunes on, a validation play (never trained on).
SWEEP_PLAY = "julius-caesar"
#: Where ``python -m rnnviz.labs.finetune`` writes the sweep's result.
SWEEP_FILE = "chapters/05-future/data/finetune_sweep.json"
#: sha256 of the shipped :data:`SWEEP_FILE`.
SWEEP_SHA256 = "767ad97e2fad7c9cb8f1430ea7e3637d9e4751fdbb749b003d451c367ea75c56"
#: The sweep's settings (steps of ``batch_size`` streams of 128 characters).
SWEEP_SETTINGS: dict = dict(
    fine_tune_lrs=(1e-4, 3e-4, 1e-3),
    fine_tune_steps=30,
    scratch_lrs=(1e-3, 2e-3, 5e-3),
    scratch_steps=200,
    eval_every=25,
    seeds=(0, 1, 2),
    batch_size=8,
)


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


def split_three(text: str) -> tuple[str, str, str]:
    """``(train, tune, tail)`` of one play, each cut at a blank line: the first
    70 % for training, the next 10 % for picking a learning rate, the last 20 %
    held out (``tail`` is :func:`split_text`'s tail at 0.8)."""
    head, tail = split_text(text, 0.8)
    train, tune = split_text(head, 0.875)
    return train, tune, tail


def _endless(ids: Tensor, batch_size: int, seq_len: int) -> Iterator[tuple]:
    """(x, y, first) forever, as :func:`rnnviz.tbptt.train_stateful` reads them."""
    while True:
        first = True
        for x, y in stream_batches(ids, batch_size, seq_len):  # (B, T) each
            yield x, y, first
            first = False


def _run(
    model: CharLM,
    train: Tensor,
    held_out: dict[str, Tensor],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seq_len: int,
    eval_every: int,
    seed: int,
) -> dict[str, list]:
    """One training run of ``model`` (changed in place), the loop of
    :func:`fine_tune`; held-out nats of each text in ``held_out`` every
    ``eval_every`` steps and at step 0."""

    def scores(m) -> dict[str, float]:
        out = {k: evaluate(m, ids, batch_size=16) for k, ids in held_out.items()}
        return {"loss": out[next(iter(held_out))], **out}

    hist = fit(
        model,
        _endless(train, batch_size, seq_len),
        carried_loss(),
        steps=steps,
        lr=lr,
        clip=1.0,
        evaluate=scores,
        eval_every=eval_every,
        eval_at_start=True,
        seed=seed,
    )
    return {"step": hist.eval_step, **{k: hist.metrics[k] for k in held_out}}


def sweep(
    model: CharLM,
    text: str,
    *,
    fine_tune_lrs: Sequence[float],
    fine_tune_steps: int,
    scratch_lrs: Sequence[float],
    scratch_steps: int,
    eval_every: int,
    seeds: Sequence[int],
    batch_size: int,
    seq_len: int = 128,
) -> dict:
    """Fine-tuning ``model`` against training from scratch on one play.

    The play is cut by :func:`split_three`. Fine-tuning: every learning rate
    in ``fine_tune_lrs`` with every seed, ``fine_tune_steps`` steps. From
    scratch: every rate in ``scratch_lrs`` with the first seed, then the other
    seeds at the rate whose tuning loss after ``scratch_steps`` is lowest.
    Every run records the held-out nats of the tuning slice and of the tail,
    per character, every ``eval_every`` steps. ``model`` is not changed.
    """
    train, tune, tail = (model.vocab.encode(t) for t in split_three(text))
    held = {"tune": tune, "tail": tail}
    common = dict(batch_size=batch_size, seq_len=seq_len, eval_every=eval_every)
    runs: list[dict] = []
    t0 = time.process_time()
    for lr in fine_tune_lrs:
        for seed in seeds:
            curve = _run(
                copy.deepcopy(model),
                train,
                held,
                steps=fine_tune_steps,
                lr=lr,
                seed=seed,
                **common,
            )
            runs.append(dict(kind="fine-tuned", lr=lr, seed=seed, **curve))
    for lr in scratch_lrs:
        curve = _run(
            from_scratch(model, seed=seeds[0]),
            train,
            held,
            steps=scratch_steps,
            lr=lr,
            seed=seeds[0],
            **common,
        )
        runs.append(dict(kind="from scratch", lr=lr, seed=seeds[0], **curve))
    best = min(
        (r for r in runs if r["kind"] == "from scratch"), key=lambda r: r["tune"][-1]
    )["lr"]
    for seed in seeds[1:]:
        curve = _run(
            from_scratch(model, seed=seed),
            train,
            held,
            steps=scratch_steps,
            lr=best,
            seed=seed,
            **common,
        )
        runs.append(dict(kind="from scratch", lr=best, seed=seed, **curve))
    return dict(
        characters=dict(train=len(train), tune=len(tune), tail=len(tail)),
        settings=dict(
            fine_tune_lrs=list(fine_tune_lrs),
            fine_tune_steps=fine_tune_steps,
            scratch_lrs=list(scratch_lrs),
            scratch_steps=scratch_steps,
            eval_every=eval_every,
            seeds=list(seeds),
            batch_size=batch_size,
        ),
        cpu_seconds=round(time.process_time() - t0),
        runs=runs,
    )


def load_sweep(path: str | Path | None = None) -> dict:
    """The shipped sweep result, after checking its sha256 against
    :data:`SWEEP_SHA256`."""
    path = Path(path) if path is not None else book_file(SWEEP_FILE)
    verify_sha256(path, SWEEP_SHA256, "sweep result")
    return json.loads(path.read_bytes())


def main(argv: list[str] | None = None) -> int:
    """Run :func:`sweep` on :data:`SWEEP_PLAY` with :data:`SWEEP_SETTINGS`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="default: the book's SWEEP_FILE")
    parser.add_argument(
        "--scale", type=int, default=1, help="divide the step counts (a smoke test)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = dict(SWEEP_SETTINGS)
    for key in ("fine_tune_steps", "scratch_steps"):
        settings[key] = max(1, settings[key] // args.scale)
    result = sweep(
        load_pretrained("lstm").model,
        load_corpus().plays[SWEEP_PLAY],
        **settings,
    )
    result["play"] = SWEEP_PLAY
    out = Path(args.out) if args.out else book_file(SWEEP_FILE)
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(out, sha256_file(out), result["cpu_seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
