"""Train the book's pretrained character models: ``python -m rnnviz.pretrain``.

Three models, one per cell, are trained from scratch on the training plays of
:func:`rnnviz.corpus.load_corpus` with truncated BPTT over contiguous streams
(:func:`rnnviz.tbptt.train_stateful`, state carried between batches), Adam, a
warm-up + cosine learning-rate schedule and gradient-norm clipping. Every run
is a fixed number of steps from a fixed seed, so the weights are the same on
every run with the same number of threads (float sums are ordered by thread
count). The step counts were chosen to fit the budgets on 2 CPU cores: the
LSTM within 60 minutes, the RNN and GRU within 30 minutes each.

Held-out losses are measured on the validation plays during training and, once
at the end, on the test plays, with the weights rounded to float16 exactly as
they are stored. Each checkpoint is written with its ``.sha256`` and its
metadata (configuration, steps, seconds, held-out losses, learning curve);
the hashes of the shipped files are pinned in :data:`PRETRAINED_SHA256`, and
:func:`load_pretrained` refuses any other bytes.

    python -m rnnviz.pretrain              # all three, into checkpoints/
    python -m rnnviz.pretrain lstm --threads 2 --out /tmp/ckpt
    python -m rnnviz.pretrain gru --steps 20 --out /tmp/smoke   # a smoke test
    python -m rnnviz.pretrain lstm --device cuda --out /tmp/gpu  # untested here
    python -m rnnviz.pretrain --page --threads 1   # the page models (rnnviz.web)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from rnnviz._checks import positive_int
from rnnviz.checkpoints import (
    Checkpoint,
    load_checkpoint,
    round_weights,
    save_checkpoint,
)
from rnnviz.corpus import CORPUS_SHA256, load_corpus
from rnnviz.data import Vocab
from rnnviz.models import CharLM
from rnnviz.paths import book_file
from rnnviz.tbptt import train_stateful
from rnnviz.train import bits, cosine_schedule, evaluate


def _config(
    dropout: float, steps: int, lr: float, hidden: int = 512, embed: int = 64
) -> dict[str, dict[str, Any]]:
    """The shared shape (2 layers, TBPTT over 64 streams x 128), one model's knobs."""
    return dict(
        model=dict(hidden_size=hidden, num_layers=2, embed_size=embed, dropout=dropout),
        train=dict(
            steps=steps,
            batch_size=64,
            seq_len=128,
            lr=lr,
            clip=1.0,
            warmup=100,
            final=0.05,
        ),
    )


#: Model and training configuration of each pretrained model.
CONFIGS: dict[str, dict[str, Any]] = {
    "lstm": _config(dropout=0.2, steps=2200, lr=2e-3),
    "gru": _config(dropout=0.2, steps=1200, lr=2e-3),
    "rnn": _config(dropout=0.1, steps=2400, lr=1e-3),
}
#: The page models, 2 layers of 256 units, which the online book runs in
#: JavaScript (see :mod:`rnnviz.web`). They are small enough that all three
#: download together within the 4 MB budget of one live view. Same steps and
#: data for all three; each cell keeps the learning rate of its shipped model.
PAGE_CONFIGS: dict[str, dict[str, Any]] = {
    cell: _config(dropout=0.1, steps=2000, lr=lr, hidden=256, embed=32)
    for cell, lr in (("lstm", 2e-3), ("gru", 2e-3), ("rnn", 1e-3))
}
#: The time each run may take on 2 CPU cores, in seconds.
BUDGET_SECONDS = {"lstm": 3600, "gru": 1800, "rnn": 1800}
#: The time each page model's run may take on one CPU core, in seconds.
PAGE_BUDGET_SECONDS = {"lstm": 1200, "gru": 1200, "rnn": 600}
SEED = 1234
EVAL_EVERY = 200

#: sha256 of the checkpoints shipped in ``checkpoints/``.
PRETRAINED_SHA256: dict[str, str] = {
    "lstm": "96a1d288f3cad26cee0d1cb9c0ba754c07b9430ac77a847b876fa27ae0575b93",
    "gru": "aabb712adc2bf32f327759508fdb9781fb34babfe06c70dfe4a0514de3b77759",
    "rnn": "500a3510dfceb0f4ad23981dd2b7ae70674ed61e5e0737bc9f3ef1b11a135e9f",
}


#: sha256 of the page models' checkpoints (``charlm-<cell>-page.pt``).
PAGE_SHA256: dict[str, str] = {
    "rnn": "adc314d24bc45a6b8258ed0b60ecc441ab327e55ae8b41ac91f93bf448ae893d",
    "gru": "8e8046114899011193f5cd278fe4a188ea8ad4be2d26f6b1b8c86f3d20f3598e",
    "lstm": "c28d1229ade1c979ec1ce82b351504327bd1673608e4ee3df05c0fd253befacb",
}


def checkpoint_dir() -> Path:
    """The ``checkpoints/`` folder: the repository's, beside the ``rnnviz`` package,
    or in an installed wheel the copy it ships (:func:`rnnviz.paths.book_root`)."""
    return book_file("checkpoints")


def checkpoint_path(
    cell: str, out: str | Path | None = None, *, page: bool = False
) -> Path:
    """Where the checkpoint of ``cell`` is written (``charlm-lstm.pt``; the page
    models' names end in ``-page``)."""
    return Path(out or checkpoint_dir()) / f"charlm-{cell}{'-page' if page else ''}.pt"


def load_pretrained(cell: str, *, page: bool = False) -> Checkpoint:
    """The shipped ``CharLM`` for ``cell`` ('rnn', 'lstm', 'gru'), checked.

    ``page=True`` loads the page model's checkpoint (:data:`PAGE_CONFIGS`).
    """
    if cell not in CONFIGS:
        raise ValueError(f"cell must be one of {sorted(CONFIGS)}, got {cell!r}")
    pinned = PAGE_SHA256 if page else PRETRAINED_SHA256
    if cell not in pinned:
        raise FileNotFoundError(
            f"no pretrained {cell} checkpoint is pinned: "
            f"run python -m rnnviz.pretrain {cell}{' --page' if page else ''}"
        )
    return load_checkpoint(checkpoint_path(cell, page=page), sha256=pinned[cell])


def _thin(values: list, every: int) -> list:
    return values[every - 1 :: every]


def pretrain(
    cell: str,
    out: str | Path | None = None,
    *,
    steps: int | None = None,
    threads: int = 2,
    progress: bool = True,
    device: str = "cpu",
    page: bool = False,
) -> Path:
    """Train one model as configured in :data:`CONFIGS` (or, with ``page``, in
    :data:`PAGE_CONFIGS`), write its checkpoint, return the path.

    ``steps`` overrides the configured step count (for smoke tests; the
    schedule is stretched to it). Sets torch's thread count to ``threads``.
    ``device`` (e.g. ``"cuda"``) is where the model trains; it is moved back to
    the CPU before it is rounded, scored on the test plays and saved. Only the
    CPU is tested, and only CPU runs reproduce the pinned checkpoints.
    """
    if cell not in CONFIGS:
        raise ValueError(f"cell must be one of {sorted(CONFIGS)}, got {cell!r}")
    cfg = (PAGE_CONFIGS if page else CONFIGS)[cell]
    tcfg = dict(cfg["train"])
    if steps is not None:
        tcfg["steps"] = positive_int("steps", steps)
        tcfg["warmup"] = min(tcfg["warmup"], steps // 2)
    torch.set_num_threads(threads)
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids, valid_ids, test_ids = (
        vocab.encode(t) for t in (corpus.train, corpus.valid, corpus.test)
    )
    model = CharLM(len(vocab), cell=cell, seed=SEED, vocab=vocab, **cfg["model"])
    start = time.perf_counter()
    hist = train_stateful(
        model,
        train_ids,
        valid_ids,
        steps=tcfg["steps"],
        batch_size=tcfg["batch_size"],
        seq_len=tcfg["seq_len"],
        state="carry",
        lr=tcfg["lr"],
        clip=tcfg["clip"],
        eval_every=min(EVAL_EVERY, tcfg["steps"]),
        eval_batch_size=32,
        seed=SEED,
        progress=progress,
        lr_schedule=cosine_schedule(tcfg["steps"], tcfg["warmup"], tcfg["final"]),
        device=device,
    )
    seconds = time.perf_counter() - start
    model.cpu()
    round_weights(model, torch.float16)  # evaluate exactly what is stored
    valid, test = (
        evaluate(model, valid_ids, batch_size=32),
        evaluate(model, test_ids, batch_size=32),
    )
    if not (math.isfinite(valid) and math.isfinite(test)):  # before anything is written
        raise FloatingPointError(
            f"the {cell} model's held-out losses are {valid} (valid) and {test} (test)"
        )
    meta = {
        "cell": cell,
        "model": cfg["model"],
        "train": tcfg,
        "seed": SEED,
        "threads": threads,
        "parameters": model.num_parameters(),
        "steps": hist.step[-1],
        "seconds": round(seconds, 1),
        "budget_seconds": (PAGE_BUDGET_SECONDS if page else BUDGET_SECONDS)[cell],
        "page": page,
        "characters_seen": hist.step[-1] * tcfg["batch_size"] * tcfg["seq_len"],
        "valid_nats": valid,
        "valid_bpc": bits(valid),
        "test_nats": test,
        "test_bpc": bits(test),
        "valid_plays": list(corpus.split_plays["valid"]),
        "test_plays": list(corpus.split_plays["test"]),
        "corpus_sha256": CORPUS_SHA256,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "stored_dtype": "float16",
        "history": {
            "eval_step": hist.eval_step,
            "eval_seconds": [round(s, 2) for s in hist.eval_seconds],
            "val_loss": hist.val_loss,
            "step": _thin(hist.step, 10),
            "train_loss": _thin(hist.train_loss, 10),
            "seconds": [round(s, 2) for s in _thin(hist.seconds, 10)],
        },
    }
    path = checkpoint_path(cell, out, page=page)
    digest = save_checkpoint(path, model, vocab, meta, dtype=torch.float16)
    print(
        json.dumps(
            {
                k: meta[k]
                for k in (
                    "cell",
                    "parameters",
                    "steps",
                    "seconds",
                    "valid_bpc",
                    "test_nats",
                    "test_bpc",
                )
            }
            | {"path": str(path), "sha256": digest, "bytes": path.stat().st_size}
        ),
        flush=True,
    )
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rnnviz.pretrain", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "cells",
        nargs="*",
        default=["lstm", "gru", "rnn"],
        choices=sorted(CONFIGS),
        help="which models to train (default: all three)",
    )
    ap.add_argument(
        "--out",
        default=None,
        help="output folder (default: the repository's checkpoints/)",
    )
    ap.add_argument(
        "--steps", type=int, default=None, help="override the step count (smoke tests)"
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument(
        "--device", default="cpu", help="where to train, e.g. cuda (default cpu)"
    )
    ap.add_argument(
        "--page",
        action="store_true",
        help="train the small page models (PAGE_CONFIGS) instead",
    )
    args = ap.parse_args(argv)
    for cell in args.cells:
        pretrain(
            cell,
            args.out,
            steps=args.steps,
            threads=args.threads,
            progress=not args.quiet,
            device=args.device,
            page=args.page,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
