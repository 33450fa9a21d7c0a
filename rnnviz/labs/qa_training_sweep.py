"""The training Q&A's sweeps: ``python -m rnnviz.labs.qa_training_sweep``.

Four sweeps of one-layer :class:`~rnnviz.models.CharLM` LSTMs of
``HIDDEN`` units (embeddings of ``EMBED``), trained with Adam on
batches of ``BATCH`` random windows of ``SEQ_LEN`` characters of the
training plays, from zero states, with norm clipping at 1; every seed of
``SEEDS`` fixes the initial weights and the windows. Scores are bits per
character on the first ``VALID_CHARS`` characters of the validation
plays; the test plays are not read.

* ``tbptt``: truncated backpropagation through time with the state carried
  (:func:`rnnviz.tbptt.train_stateful`, ``TB_BATCH`` streams): windows of
  every length of ``TB_WINDOWS``, each reading ``TB_CHARS``
  characters per stream (so shorter windows make more updates), at every
  learning rate of ``TB_LRS``.
* ``regularisers``: the baseline, layer and recurrent batch normalisation
  (:class:`~rnnviz.labs.normalized.NormCharLM`), dropout 0.2 before the output
  layer and AdamW with weight decay 0.1, each trained for ``REG_STEPS``
  steps at every learning rate of ``REG_LRS``.
* ``lr``: the baseline at every learning rate of ``LRS`` for
  ``LR_STEPS`` steps, scored every ``LR_EVAL_EVERY`` steps, and a
  learning-rate range test (:func:`range_test`): one run per seed whose rate
  grows geometrically from ``RANGE_LO`` to ``RANGE_HI`` over
  ``RANGE_STEPS`` steps, recording the training loss of every step.
* ``l1``: the baseline at learning rate ``L1_LR`` for ``LR_STEPS``
  steps with :func:`l1_penalty` on the recurrent weights added to the loss,
  for every strength of ``L1_STRENGTHS``; recorded are the validation
  score, the share of recurrent weights smaller than ``SMALL`` in
  magnitude, and the validation score after those weights are set to zero.

The result is a small JSON file (``DEFAULT_OUT``) that the chapter loads
and checks against the sha256 pinned there. Run with ``OMP_NUM_THREADS=1``
(about 5 CPU minutes; 27 minutes of wall time on a busy machine):

    OMP_NUM_THREADS=1 python -m rnnviz.labs.qa_training_sweep
    python -m rnnviz.labs.qa_training_sweep --quick --out /tmp/smoke.json
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
from torch import Tensor, nn

from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab, random_windows
from rnnviz.labs.normalized import NormCharLM
from rnnviz.models import CharLM
from rnnviz.tbptt import train_stateful
from rnnviz.train import History, bits, evaluate, fit

SEEDS = (0, 1, 2)
HIDDEN, EMBED, BATCH, SEQ_LEN, VALID_CHARS = 64, 32, 64, 32, 50_000
VARIANTS = ("baseline", "layer norm", "batch norm", "dropout 0.2", "weight decay 0.1")
TB_WINDOWS, TB_CHARS, TB_BATCH = (8, 32, 128), 7680, 32
TB_LRS = (3e-3, 1e-2, 3e-2, 1e-1)
REG_LRS, REG_STEPS = (3e-3, 1e-2, 3e-2, 1e-1), 150
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
LR_STEPS, LR_EVAL_EVERY = 450, 50
RANGE_LO, RANGE_HI, RANGE_STEPS = 1e-5, 1.0, 250
L1_LR, L1_STRENGTHS, SMALL = 1e-2, (0.0, 1e-5, 1e-4, 1e-3), 0.02
DEFAULT_OUT = Path(__file__).resolve().parents[2] / (
    "chapters/06-appendix/data/qa-training-sweep.json"
)


def next_char_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    """Mean cross-entropy (nats) of the next character over a batch (x, y) (B, T)."""
    x, y = batch  # (B, T) each
    logits, _ = model(x)  # (B, T, V)
    return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())


def recurrent_weights(model: nn.Module) -> Tensor:
    """The recurrent matrix W_hh (4H, H) of a CharLM LSTM or a NormCharLM."""
    if isinstance(model, CharLM):
        return model.rnn.weight_hh_l0
    return model.cell.weight_hh


def l1_penalty(model: nn.Module, strength: float) -> Tensor:
    """``strength`` times the sum of the magnitudes of the recurrent weights."""
    return strength * recurrent_weights(model).abs().sum()


def make(variant: str, vocab_size: int, seed: int) -> nn.Module:
    """A fresh model of one of ``VARIANTS`` (all from the same weights)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant in ("layer norm", "batch norm"):
        norm = variant.split()[0]
        return NormCharLM(vocab_size, HIDDEN, norm, EMBED, seed=seed, max_steps=SEQ_LEN)
    drop = 0.2 if variant.startswith("dropout") else 0.0
    return CharLM(
        vocab_size, HIDDEN, cell="lstm", embed_size=EMBED, dropout=drop, seed=seed
    )


def run(
    variant: str,
    lr: float,
    seed: int,
    train_ids: Tensor,
    valid_ids: Tensor,
    vocab_size: int,
    *,
    steps: int,
    eval_every: int | None = None,
    l1: float = 0.0,
) -> tuple[nn.Module, History]:
    """Train one model; ``History.val_loss`` holds the validation loss (nats)
    every ``eval_every`` steps (default: after the last step only)."""
    model = make(variant, vocab_size, seed)
    opt = (
        torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
        if variant.startswith("weight")
        else None
    )
    gen = torch.Generator().manual_seed(seed)

    def loss(m: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        out = next_char_loss(m, batch)
        return out + l1_penalty(m, l1) if l1 else out

    hist = fit(
        model,
        lambda step: random_windows(train_ids, BATCH, SEQ_LEN, gen),
        loss,
        steps=steps,
        lr=lr,
        optimizer=opt,
        clip=1.0,
        evaluate=lambda m: evaluate(m, valid_ids),
        eval_every=eval_every or steps,
        seed=seed,
    )
    return model, hist


def tbptt_run(
    T: int, lr: float, seed: int, train_ids: Tensor, vocab_size: int, chars: int
) -> CharLM:
    """An LSTM trained by truncated BPTT with windows of ``T`` and the state
    carried, ``chars`` characters per stream (``chars // T`` updates)."""
    model = make("baseline", vocab_size, seed)
    train_stateful(
        model,
        train_ids,
        steps=chars // T,
        batch_size=TB_BATCH,
        seq_len=T,
        state="carry",
        lr=lr,
        clip=1.0,
        eval_every=10**6,
        seed=seed,
        progress=False,
    )
    return model


def range_schedule(steps: int, lo: float, hi: float) -> Any:
    """The factor of a range test whose base rate is ``lo``: lo * (hi/lo)**(s/steps)."""
    return lambda step: (hi / lo) ** (step / steps)


def range_test(
    seed: int, train_ids: Tensor, vocab_size: int, steps: int = RANGE_STEPS
) -> dict[str, list[float]]:
    """Training loss (bits) of every step while the rate grows from RANGE_LO to
    RANGE_HI; a non-finite loss ends the run (the rest is not recorded)."""
    model = make("baseline", vocab_size, seed)
    gen = torch.Generator().manual_seed(seed)
    sched = range_schedule(steps, RANGE_LO, RANGE_HI)
    try:
        hist = fit(
            model,
            lambda step: random_windows(train_ids, BATCH, SEQ_LEN, gen),
            next_char_loss,
            steps=steps,
            lr=RANGE_LO,
            lr_schedule=sched,
            clip=1.0,
            seed=seed,
        )
    except FloatingPointError as err:  # DivergedError
        hist = err.history
    return {
        "lr": [RANGE_LO * sched(s) for s in hist.step],
        "train_bpc": [round(bits(v), 5) for v in hist.train_loss],
    }


def _bpc(hist: History) -> list[float]:
    return [round(bits(v), 5) for v in hist.val_loss]


@torch.no_grad()
def _pruned_bpc(model: nn.Module, valid_ids: Tensor, small: float) -> float:
    w = recurrent_weights(model)
    w.masked_fill_(w.abs() < small, 0.0)
    return round(bits(evaluate(model, valid_ids)), 5)


def sweep(quick: bool = False) -> dict[str, Any]:
    """All four sweeps; ``quick`` runs a smoke version (1 seed, few steps)."""
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    V = len(vocab)
    train_ids = vocab.encode(corpus.train)
    valid_ids = vocab.encode(corpus.valid)[:VALID_CHARS]
    seeds = SEEDS[:1] if quick else SEEDS
    reg_steps, lr_steps, every = (10, 20, 10) if quick else (REG_STEPS, LR_STEPS, 50)
    range_steps = 20 if quick else RANGE_STEPS
    tb_chars = 256 if quick else TB_CHARS
    t0 = time.process_time()
    result: dict[str, Any] = {
        "config": {
            "seeds": list(seeds),
            "hidden": HIDDEN,
            "embed": EMBED,
            "batch": BATCH,
            "seq_len": SEQ_LEN,
            "valid_chars": VALID_CHARS,
            "tb_windows": list(TB_WINDOWS),
            "tb_chars": tb_chars,
            "tb_batch": TB_BATCH,
            "tb_lrs": list(TB_LRS),
            "reg_lrs": list(REG_LRS),
            "reg_steps": reg_steps,
            "lrs": list(LRS),
            "lr_steps": lr_steps,
            "lr_eval_every": every,
            "range": [RANGE_LO, RANGE_HI, range_steps],
            "l1_lr": L1_LR,
            "l1_strengths": list(L1_STRENGTHS),
            "small": SMALL,
        },
        "tbptt": {},
        "regularisers": {},
        "lr": {},
        "range": {},
        "l1": {},
    }
    for T in TB_WINDOWS:
        runs = {}
        for lr in TB_LRS:
            for seed in seeds:
                t1 = time.process_time()
                model = tbptt_run(T, lr, seed, train_ids, V, tb_chars)
                cpu = time.process_time() - t1
                runs[f"{lr:g}/{seed}"] = {
                    "val_bpc": round(bits(evaluate(model, valid_ids)), 5),
                    "cpu_us_per_char": round(1e6 * cpu / (TB_BATCH * tb_chars), 3),
                }
                print("tbptt", T, lr, seed, runs[f"{lr:g}/{seed}"], flush=True)
        result["tbptt"][str(T)] = runs
    for variant in VARIANTS:
        runs = {}
        for lr in REG_LRS:
            for seed in seeds:
                t1 = time.process_time()
                _, hist = run(
                    variant, lr, seed, train_ids, valid_ids, V, steps=reg_steps
                )
                runs[f"{lr:g}/{seed}"] = {
                    "val_bpc": _bpc(hist)[-1],
                    "cpu_ms_per_step": round(
                        1e3 * (time.process_time() - t1) / reg_steps, 2
                    ),
                }
                print(variant, lr, seed, runs[f"{lr:g}/{seed}"], flush=True)
        result["regularisers"][variant] = runs
    models = {}
    for lr in LRS:
        for seed in seeds:
            try:
                model, hist = run(
                    "baseline",
                    lr,
                    seed,
                    train_ids,
                    valid_ids,
                    V,
                    steps=lr_steps,
                    eval_every=every,
                )
                rec = {"step": hist.eval_step, "val_bpc": _bpc(hist)}
            except FloatingPointError as err:
                rec = {"step": err.history.eval_step, "val_bpc": [math.inf]}
                model = None
            result["lr"][f"{lr:g}/{seed}"] = rec
            if lr == L1_LR:
                models[seed] = model
            print("lr", lr, seed, rec["val_bpc"][-1], flush=True)
    for seed in seeds:
        result["range"][str(seed)] = range_test(seed, train_ids, V, range_steps)
        print("range", seed, flush=True)
    for strength in L1_STRENGTHS:
        for seed in seeds:
            if strength == 0.0:  # the lr sweep's run at L1_LR, the same run
                model = models[seed]
                val = result["lr"][f"{L1_LR:g}/{seed}"]["val_bpc"][-1]
            else:
                model, hist = run(
                    "baseline",
                    L1_LR,
                    seed,
                    train_ids,
                    valid_ids,
                    V,
                    steps=lr_steps,
                    l1=strength,
                )
                val = _bpc(hist)[-1]
            w = recurrent_weights(model).detach()
            rec = {
                "val_bpc": val,
                "small_share": round(float((w.abs() < SMALL).float().mean()), 5),
                "mean_abs": round(float(w.abs().mean()), 5),
                "pruned_val_bpc": _pruned_bpc(model, valid_ids, SMALL),
            }
            result["l1"][f"{strength:g}/{seed}"] = rec
            print("l1", strength, seed, rec, flush=True)
    result["machine"] = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_seconds": round(time.process_time() - t0, 1),
    }
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the sweeps and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = sweep(quick=args.quick)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({result['machine']['cpu_seconds']} CPU seconds)")


if __name__ == "__main__":
    main()
