"""The models Q&A's comparisons at equal budget, run once as a script.

Two sweeps of one-layer :class:`~rnnviz.models.CharLM` models (embeddings of
32), trained with Adam, batches of ``BATCH`` random windows of
``SEQ_LEN`` characters and norm clipping at 1. Every configuration tries
each learning rate of ``LRS`` (``CELL_LRS`` for the cells) with each
seed of ``SEEDS``; the
learning rate with the lowest mean validation score is that configuration's
tuned rate. The budget is a number of steps, the same for every model.

* ``cells``: an LSTM and a GRU of ``CELL_HIDDEN`` units, ``CELL_STEPS``
  steps on the whole training text (a seventh of one epoch), scored by the
  validation bits per character after the last step.
* ``sizes``: LSTMs of ``SIZES`` units, ``SIZE_STEPS`` steps on a small
  subset of the training text (its first ``SUBSET_CHARS`` characters,
  read about 34 times), so that over-fitting can appear. Every
  ``EVAL_EVERY`` steps (1.7 epochs of the subset) both the bits per
  character on the subset itself (text the model has read) and on the
  validation plays are recorded; the score is the validation minimum (the
  early-stopped model, :func:`early_stop`).

The validation text is the first ``VALID_CHARS`` characters of the
validation plays; the test plays are not read. The result is a small JSON file
(``DEFAULT_OUT``) that the chapter loads and checks against the sha256
pinned in it. Run with ``OMP_NUM_THREADS=1`` (about 7 CPU minutes):

    OMP_NUM_THREADS=1 python -m rnnviz.labs.qa_models_sweep
    python -m rnnviz.labs.qa_models_sweep --quick --out /tmp/smoke.json

``--resume`` reuses the runs already in the output file and trains only the
missing ones (for example after a learning rate is added to ``LRS``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab, random_windows
from rnnviz.models import CharLM
from rnnviz.train import DivergedError, History, bits, evaluate, fit

LRS = (1e-3, 3e-3, 1e-2, 3e-2)
CELL_LRS = (*LRS, 1e-1)  # the LSTM's best rate was the largest of LRS
SEEDS = (0, 1, 2)
BATCH, SEQ_LEN, EMBED = 32, 64, 32
CELLS, CELL_HIDDEN, CELL_STEPS = ("lstm", "gru"), 64, 300
SIZES, SIZE_STEPS, EVAL_EVERY = (32, 64, 128, 256), 400, 20
SUBSET_CHARS, VALID_CHARS = 24_000, 50_000
DEFAULT_OUT = Path(__file__).resolve().parents[2] / (
    "chapters/06-appendix/data/qa-models-sweep.json"
)


def _loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    x, y = batch  # (B, T) each
    logits, _ = model(x)  # (B, T, V)
    return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())


def make_model(cell: str, hidden: int, seed: int, vocab: Vocab) -> CharLM:
    """A one-layer :class:`~rnnviz.models.CharLM`, initial weights from ``seed``."""
    return CharLM(
        len(vocab), hidden_size=hidden, cell=cell, embed_size=EMBED, seed=seed
    )


def run(
    model: CharLM,
    lr: float,
    seed: int,
    train_ids: Tensor,
    valid_ids: Tensor,
    *,
    steps: int,
    eval_every: int,
    train_bpc: bool = True,
    stop: Callable[[History], bool] | None = None,
) -> History:
    """Train ``model`` in place; return its :class:`~rnnviz.train.History`.

    The seed fixes the windows (and the model's seed its initial weights).
    Every ``eval_every`` steps ``History.val_loss`` gets the validation loss
    (nats per character) and, if ``train_bpc``, ``History.metrics["train"]``
    the loss on the whole of ``train_ids``. ``stop`` is passed to
    :func:`rnnviz.train.fit`.
    """
    gen = torch.Generator().manual_seed(seed)

    def scores(m: nn.Module) -> dict[str, float]:
        out = {"loss": evaluate(m, valid_ids)}
        if train_bpc:
            out["train"] = evaluate(m, train_ids)
        return out

    return fit(
        model,
        lambda step: random_windows(train_ids, BATCH, SEQ_LEN, gen),
        _loss,
        steps=steps,
        lr=lr,
        clip=1.0,
        evaluate=scores,
        eval_every=eval_every,
        seed=seed,
        stop=stop,
    )


def early_stop(val: Sequence[float], patience: int | None = None) -> tuple[int, int]:
    """``(best, stopped)``: indices into a validation curve ``val``.

    Training stops at the first evaluation that is ``patience`` evaluations
    after the lowest value so far without a new lowest value (never, if
    ``patience`` is None: ``stopped`` is then the last index); ``best`` is the
    index of the lowest value up to ``stopped``, the checkpoint kept.
    """
    if not len(val):
        raise ValueError("val is empty")
    best = 0
    for i, v in enumerate(val):
        if v < val[best]:
            best = i
        if patience is not None and i - best >= patience:
            return best, i
    return best, len(val) - 1


def _record(hist: History) -> dict[str, Any]:
    return {
        "step": hist.eval_step,
        "val_bpc": [
            None if math.isnan(v) else round(bits(v), 5) for v in hist.val_loss
        ],
        "train_bpc": [round(bits(v), 5) for v in hist.metrics.get("train", [])],
        "cpu_seconds": round(hist.cpu_seconds, 2),
    }


def sweep(quick: bool = False, done: dict[str, Any] | None = None) -> dict[str, Any]:
    """Both sweeps; ``quick`` runs a smoke version (2 rates, 1 seed, few steps).

    Runs already in ``done`` (an earlier result with the same settings apart
    from the learning rates) are taken from it instead of being trained again:
    a run depends only on its configuration, rate and seed.
    """
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_all = vocab.encode(corpus.train)
    valid_ids = vocab.encode(corpus.valid)[:VALID_CHARS]
    subset = train_all[:SUBSET_CHARS]
    lrs, seeds = (LRS[1:3], SEEDS[:1]) if quick else (LRS, SEEDS)
    cell_lrs = lrs if quick else CELL_LRS
    cell_steps, size_steps = (20, 40) if quick else (CELL_STEPS, SIZE_STEPS)
    result: dict[str, Any] = {
        "config": {
            "lrs": list(lrs),
            "cell_lrs": list(cell_lrs),
            "seeds": list(seeds),
            "batch": BATCH,
            "seq_len": SEQ_LEN,
            "embed": EMBED,
            "cell_hidden": CELL_HIDDEN,
            "cell_steps": cell_steps,
            "sizes": list(SIZES),
            "size_steps": size_steps,
            "eval_every": EVAL_EVERY,
            "subset_chars": SUBSET_CHARS,
            "valid_chars": VALID_CHARS,
            "train_chars": len(train_all),
        },
        "cells": {},
        "sizes": {},
    }
    if done is not None:
        rates = ("lrs", "cell_lrs")
        same = {k: v for k, v in done["config"].items() if k not in rates}
        if same != {k: v for k, v in result["config"].items() if k not in rates}:
            raise ValueError("done was run with other settings; run everything again")
    for hidden in SIZES:
        runs = {}
        old = {} if done is None else done["sizes"].get(str(hidden), {})
        for lr in lrs:
            for seed in seeds:
                if f"{lr:g}/{seed}" in old:
                    runs[f"{lr:g}/{seed}"] = old[f"{lr:g}/{seed}"]
                    continue
                hist = run(
                    make_model("lstm", hidden, seed, vocab),
                    lr,
                    seed,
                    subset,
                    valid_ids,
                    steps=size_steps,
                    eval_every=EVAL_EVERY,
                )
                rec = _record(hist)
                runs[f"{lr:g}/{seed}"] = rec
                print(hidden, lr, seed, rec["val_bpc"], rec["train_bpc"], flush=True)
        result["sizes"][str(hidden)] = runs
    for cell in CELLS:
        runs = {}
        old = {} if done is None else done["cells"].get(cell, {})
        for lr in cell_lrs:
            for seed in seeds:
                if f"{lr:g}/{seed}" in old:
                    runs[f"{lr:g}/{seed}"] = old[f"{lr:g}/{seed}"]
                    continue
                try:
                    hist = run(
                        make_model(cell, CELL_HIDDEN, seed, vocab),
                        lr,
                        seed,
                        train_all,
                        valid_ids,
                        steps=cell_steps,
                        eval_every=cell_steps,
                        train_bpc=False,
                    )
                except DivergedError as err:  # recorded as a validation bpc of None
                    hist = err.history
                    hist.eval_step.append(err.step)
                    hist.val_loss.append(math.nan)
                runs[f"{lr:g}/{seed}"] = _record(hist)
                print(cell, lr, seed, runs[f"{lr:g}/{seed}"]["val_bpc"][-1], flush=True)
        result["cells"][cell] = runs
    result["machine"] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_seconds": round(  # of the training runs, with their evaluations
            sum(
                r["cpu_seconds"]
                for k in ("cells", "sizes")
                for x in result[k].values()
                for r in x.values()
            ),
            1,
        ),
    }
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the sweeps and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument(
        "--resume", action="store_true", help="reuse the runs already in --out"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    done = json.loads(args.out.read_text()) if args.resume else None
    result = sweep(quick=args.quick, done=done)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({result['machine']['cpu_seconds']} CPU seconds)")


if __name__ == "__main__":
    main()
