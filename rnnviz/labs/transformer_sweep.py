"""The Transformer chapter's comparison at equal budget, run once as a script.

    OMP_NUM_THREADS=1 python -m rnnviz.labs.transformer_sweep


Two character models of about the same parameter count, the chapter's
:class:`~rnnviz.labs.transformer.CharTransformer` (d = 64, 2 blocks of 4 heads,
a context of 64) and a one-layer LSTM :class:`~rnnviz.models.CharLM` (144
units, a 32-wide embedding), are trained by :func:`rnnviz.train.train` on
random windows of 64 characters of the training plays, 16 windows per step,
with Adam (betas 0.9, 0.99), gradient clipping at 1 and a warm-up plus cosine
schedule. The budget is a number of steps, the same for both models, so both
read the same number of characters; CPU time is recorded per run
(``time.process_time`` on one thread), never used as the budget.

For each of two budgets (``BUDGETS``, in steps) and each model:

1. tuning: one run per learning rate of ``LRS`` (seed 0; four values a
   factor 3 apart per model, the bench's 1e-3 among the Transformer's),
   scored on the validation plays with :func:`~rnnviz.labs.transformer.evaluate_windows`
   (windows of 64 starting every 32, the last 32 characters of each scored);
2. final: ``SEEDS`` runs at the learning rate with the lowest validation
   score, each scored on the validation and on the test plays the same way.

The result is a small JSON file (``DEFAULT_OUT``) that the chapter loads
and checks against the sha256 pinned there. Run with ``OMP_NUM_THREADS=1``;
it takes about 6 CPU minutes on one thread, and writes the file after each
budget (so an interrupted run leaves the budgets it finished).

    OMP_NUM_THREADS=1 python -m rnnviz.labs.transformer_sweep
    python -m rnnviz.labs.transformer_sweep --budgets 20 40 --out /tmp/smoke.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import torch

from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.labs.transformer import CharTransformer, evaluate_windows
from rnnviz.models import CharLM
from rnnviz.train import DivergedError, bits, cosine_schedule, train

BUDGETS = (300, 1200)  # steps, the same for both models
LRS = {  # per model: a factor 3 apart, the best one inside the grid
    "LSTM": (3e-3, 1e-2, 3e-2, 1e-1),
    "Transformer": (1e-3, 3e-3, 1e-2, 3e-2),
}
SEEDS = (1, 2, 3)
TUNE_SEED = 0
BATCH, WINDOW, WARMUP = 16, 64, 30
MODELS = ("LSTM", "Transformer")
DEFAULT_OUT = Path(__file__).resolve().parents[2] / (
    "chapters/05-future/data/transformer_sweep.json"
)


def make_model(name: str, vocab: Vocab, seed: int) -> torch.nn.Module:
    """The chapter's Transformer or LSTM, initial weights drawn from ``seed``."""
    if name == "Transformer":
        return CharTransformer(
            len(vocab),
            d_model=64,
            num_layers=2,
            num_heads=4,
            context=WINDOW,
            seed=seed,
            vocab=vocab,
        )
    if name == "LSTM":
        return CharLM(
            len(vocab),
            hidden_size=144,
            num_layers=1,
            cell="lstm",
            embed_size=32,
            seed=seed,
            vocab=vocab,
        )
    raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")


def run(
    name: str,
    vocab: Vocab,
    train_ids: torch.Tensor,
    held_out: dict[str, torch.Tensor],
    *,
    steps: int,
    lr: float,
    seed: int,
) -> dict[str, Any]:
    """Train one model for ``steps`` steps; its bpc on each held-out text, CPU time."""
    model = make_model(name, vocab, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.99))
    out: dict[str, Any] = dict(model=name, steps=steps, lr=lr, seed=seed)
    start = time.process_time()
    try:
        train(
            model,
            train_ids,
            None,
            steps=steps,
            batch_size=BATCH,
            seq_len=WINDOW,
            optimizer=opt,
            lr_schedule=cosine_schedule(steps, warmup=WARMUP),
            seed=seed,
            progress=False,
        )
    except DivergedError:
        out["cpu_seconds"] = time.process_time() - start
        out.update({f"{k}_bpc": None for k in held_out})
        return out
    out["cpu_seconds"] = time.process_time() - start
    for key, ids in held_out.items():
        out[f"{key}_bpc"] = bits(
            evaluate_windows(
                model, ids, window=WINDOW, stride=WINDOW // 2, batch_size=256
            )
        )
    return out


def sweep(
    budgets: tuple[int, ...] = BUDGETS,
    lrs: dict[str, tuple[float, ...]] = LRS,
    seeds: tuple[int, ...] = SEEDS,
    log: bool = True,
    out: Path | None = None,
) -> dict[str, Any]:
    """Tune each model's learning rate per budget, then train it from each seed."""
    torch.set_num_threads(1)
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids = vocab.encode(corpus.train)
    valid = {"valid": vocab.encode(corpus.valid)}
    both = {**valid, "test": vocab.encode(corpus.test)}
    tuning, final, best_lr = [], [], {}
    wall = time.perf_counter()
    result: dict[str, Any] = dict(
        budgets=[],
        lrs={name: list(v) for name, v in lrs.items()},
        seeds=list(seeds),
        tune_seed=TUNE_SEED,
        batch_size=BATCH,
        window=WINDOW,
        warmup=WARMUP,
        best_lr=best_lr,
        tuning=tuning,
        final=final,
        torch=torch.__version__,
        machine=platform.machine(),
        threads=torch.get_num_threads(),
    )
    for steps in budgets:
        for name in MODELS:
            for lr in lrs[name]:
                r = run(
                    name, vocab, train_ids, valid, steps=steps, lr=lr, seed=TUNE_SEED
                )
                tuning.append(r)
                if log:
                    print(r, flush=True)
            scored = [
                r
                for r in tuning
                if r["model"] == name
                and r["steps"] == steps
                and r["valid_bpc"] is not None
            ]
            lr_best = min(scored, key=lambda r: r["valid_bpc"])["lr"]
            best_lr[f"{name}@{steps}"] = lr_best
            for seed in seeds:
                r = run(
                    name, vocab, train_ids, both, steps=steps, lr=lr_best, seed=seed
                )
                final.append(r)
                if log:
                    print(r, flush=True)
        result["budgets"].append(steps)
        result["wall_seconds"] = round(time.perf_counter() - wall, 1)
        if out is not None:
            write(result, out)
    return result


def write(result: dict[str, Any], out: Path) -> None:
    """Write ``result`` to ``out`` as JSON, floats rounded to 4 decimals."""
    rounded = json.loads(json.dumps(result))
    for r in rounded["tuning"] + rounded["final"]:  # a small, stable file
        for k, v in r.items():
            if isinstance(v, float) and not math.isnan(v):
                r[k] = round(v, 4)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rounded, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    sweep(tuple(args.budgets), LRS, tuple(args.seeds), out=args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
