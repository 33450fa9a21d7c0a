"""Quality at equal CPU time, the n-gram baseline, the shipped checkpoints re-measured.

One run, one model after the other, one torch thread: a character-level RNN,
GRU and LSTM (and the Transformer of Part 5,
``rnnviz.labs.transformer.CharTransformer``, when that module exists) with
about the same number of parameters, each trained by ``rnnviz.train.train``
with the same ``time_budget`` of ``--seconds`` seconds on random windows of the
training plays, then scored on the validation plays (bits per character).
Beside them: the n-gram baseline of Part 1 (``rnnviz.ngram.baseline``) and the
three shipped pretrained models, their test-play loss recomputed from the files
and compared with the number stored in their metadata. Prints tables and writes
bench/results/quality.json.

Run: .venv/bin/python bench/bench_quality.py [--seconds 60] [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402
from benchlib import BUDGETS, format_table, result, write_result  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from rnnviz.corpus import load_corpus  # noqa: E402
from rnnviz.data import Vocab  # noqa: E402
from rnnviz.models import CharLM  # noqa: E402
from rnnviz.ngram import baseline  # noqa: E402
from rnnviz.pretrain import PRETRAINED_SHA256, load_pretrained  # noqa: E402
from rnnviz.train import bits, evaluate, train  # noqa: E402

try:  # Part 5's module is written in parallel: measured when it exists
    from rnnviz.labs.transformer import CharTransformer
except ImportError as e:  # pragma: no cover - depends on the checkout
    CharTransformer, TRANSFORMER_ERROR = None, f"{type(e).__name__}: {e}"
else:
    TRANSFORMER_ERROR = None

SEED = 0
EMBED, LSTM_HIDDEN = (
    32,
    256,
)  # the reference size; the others are matched to its parameter count
TRAIN = dict(batch_size=32, seq_len=128, clip=1.0)
LR = {"rnn": 2e-3, "gru": 3e-3, "lstm": 3e-3, "transformer": 1e-3}
TRANSFORMER = dict(num_layers=2, num_heads=4, context=128, dropout=0.0)
QUICK_CHARS = 20_000  # held-out characters scored in --quick mode


def charlm_parameters(
    cell: str, hidden: int, vocab_size: int, embed: int = EMBED, layers: int = 1
) -> int:
    """Parameters of ``CharLM(vocab_size, hidden, layers, cell, embed)``, by formula."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    rec = sum(
        gates * (hidden * ((embed if k == 0 else hidden) + hidden) + 2 * hidden)
        for k in range(layers)
    )
    return vocab_size * embed + rec + hidden * vocab_size + vocab_size


def matched_hidden(cell: str, target: int, vocab_size: int, embed: int = EMBED) -> int:
    """The hidden size giving a one-layer CharLM closest to ``target`` parameters."""
    if target < 1:
        raise ValueError(f"target must be a positive parameter count, got {target!r}")
    return min(
        range(1, 4096),
        key=lambda h: (abs(charlm_parameters(cell, h, vocab_size, embed) - target), h),
    )


def matched_d_model(
    target: int, make: Callable[[int], nn.Module], multiple: int
) -> tuple[int, int]:
    """(d_model, parameters) of the model from ``make`` closest to ``target`` in size.

    d_model runs over the multiples of ``multiple``.
    """
    best = None
    for d in range(multiple, 1025, multiple):
        n = sum(p.numel() for p in make(d).parameters())
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (d, n)
        if n > target:
            break
    assert best is not None
    return best


@torch.no_grad()
def evaluate_windows(
    model: nn.Module, ids: Tensor, context: int, batch_size: int = 16
) -> float:
    """Mean cross-entropy (nats/char) over ``ids``, in non-overlapping windows.

    The windows are ``context`` characters long. For models without a recurrent
    state (the Transformer): each window starts afresh.
    """
    n = (ids.numel() - 1) // context
    if n < 1:
        raise ValueError(
            f"need more than {context} characters to score, got {ids.numel()}"
        )
    x = ids[: n * context].view(n, context)  # (N, C)
    y = ids[1 : n * context + 1].view(n, context)
    model.eval()
    total = 0.0
    for k in range(0, n, batch_size):
        logits, _ = model(x[k : k + batch_size])  # (b, C, V)
        total += float(
            nn.functional.cross_entropy(
                logits.flatten(0, 1), y[k : k + batch_size].flatten(), reduction="sum"
            )
        )
    return total / (n * context)


def build_models(vocab_size: int) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """The models to compare, name -> model (seeded), and the Transformer's status."""
    target = charlm_parameters("lstm", LSTM_HIDDEN, vocab_size)
    models: dict[str, nn.Module] = {}
    for cell in ("rnn", "gru", "lstm"):
        hidden = (
            LSTM_HIDDEN if cell == "lstm" else matched_hidden(cell, target, vocab_size)
        )
        models[cell] = CharLM(vocab_size, hidden, 1, cell, EMBED, seed=SEED)
    info: dict[str, Any] = {
        "available": CharTransformer is not None,
        "error": TRANSFORMER_ERROR,
    }
    if CharTransformer is not None:

        def make(d: int) -> nn.Module:
            return CharTransformer(vocab_size, d_model=d, seed=SEED, **TRANSFORMER)

        d_model, _ = matched_d_model(target, make, 2 * TRANSFORMER["num_heads"])
        models["transformer"] = make(d_model)
        info |= {"d_model": d_model, **TRANSFORMER}
    return models, info


def describe(name: str, model: nn.Module, d_model: int | None = None) -> str:
    """'LSTM 1 x 256' or 'Transformer 2 x 96' (layers x width)."""
    if isinstance(model, CharLM):
        return f"{name.upper()} 1 x {model.config['hidden_size']}"
    return f"Transformer {TRANSFORMER['num_layers']} x {d_model}"


def train_one(
    name: str,
    model: nn.Module,
    train_ids: Tensor,
    valid_ids: Tensor,
    seconds: float,
    d_model: int | None = None,
) -> dict:
    """Train for ``seconds`` (wall time, one thread), then score the validation text."""
    cpu, wall = time.process_time(), time.perf_counter()
    hist = train(
        model,
        train_ids,
        None,
        steps=10**9,
        lr=LR[name],
        eval_every=10**9,
        seed=SEED,
        time_budget=seconds,
        progress=False,
        **TRAIN,
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    start = time.perf_counter()
    if isinstance(model, CharLM):
        nats = evaluate(model, valid_ids, batch_size=16)
    else:
        nats = evaluate_windows(model, valid_ids, TRANSFORMER["context"])
    if not math.isfinite(nats):
        raise FloatingPointError(f"{name}: validation loss {nats}")
    return {
        "name": name,
        "description": describe(name, model, d_model),
        "parameters": sum(p.numel() for p in model.parameters()),
        "lr": LR[name],
        "steps": hist.step[-1],
        "characters_seen": hist.step[-1] * TRAIN["batch_size"] * TRAIN["seq_len"],
        "train_wall_seconds": wall,
        "train_cpu_seconds": cpu,
        "eval_seconds": time.perf_counter() - start,
        "valid_nats": nats,
        "valid_bpc": bits(nats),
    }


def remeasure_checkpoints(test_text: str, quick: bool) -> list[dict]:
    """Each shipped checkpoint: hash, stored test loss, and recomputed test loss.

    The test loss is recomputed from the checkpoint file.
    """
    rows = []
    for cell in ("rnn", "gru", "lstm"):
        start = time.perf_counter()
        ck = load_pretrained(cell)  # refuses a file whose sha256 is not the pinned one
        text = test_text[:QUICK_CHARS] if quick else test_text
        nats = evaluate(ck.model, ck.vocab.encode(text), batch_size=32)
        stored = ck.metadata["test_nats"]
        rows.append(
            {
                "cell": cell,
                "sha256": ck.sha256,
                "pinned": ck.sha256 == PRETRAINED_SHA256[cell],
                "parameters": ck.model.num_parameters(),
                "stored_test_nats": stored,
                "stored_test_bpc": bits(stored),
                "test_nats": nats,
                "test_bpc": bits(nats),
                "abs_diff_nats": abs(nats - stored),
                "characters": len(text),
                "train_seconds": ck.metadata.get("seconds"),
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="training time per model (default 60)",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"2 s per model, {QUICK_CHARS:,} held-out characters: "
        "a smoke test, not a measurement",
    )
    ap.add_argument(
        "--out", default=None, help="output JSON (default bench/results/quality.json)"
    )
    args = ap.parse_args(argv)
    if not args.seconds > 0:
        raise SystemExit("--seconds must be positive")
    seconds = 2.0 if args.quick else args.seconds
    torch.set_num_threads(1)
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    valid_text = corpus.valid[:QUICK_CHARS] if args.quick else corpus.valid
    train_ids, valid_ids = vocab.encode(corpus.train), vocab.encode(valid_text)

    models, transformer = build_models(len(vocab))
    rows = [
        train_one(name, m, train_ids, valid_ids, seconds, transformer.get("d_model"))
        for name, m in models.items()
    ]
    start = time.perf_counter()
    ng = baseline(corpus)
    ngram = {k: ng[k] for k in ("smoothing", "n", "param", "valid_bpc", "test_bpc")}
    ngram["seconds"] = time.perf_counter() - start
    checkpoints = remeasure_checkpoints(corpus.test, args.quick)

    data = result(
        "quality",
        {
            "seconds_per_model": seconds,
            "threads": torch.get_num_threads(),
            "train": TRAIN,
            "seed": SEED,
            "valid_characters": len(valid_text),
            "models": rows,
            "transformer": transformer,
            "ngram": ngram,
            "checkpoints": checkpoints,
            "budget_lstm_test_nats": BUDGETS["lstm_test_nats"],
        },
        quick=args.quick,
    )
    path = write_result(data, args.out)
    print(f"validation bpc after {seconds:g} s of training each (one thread, one run):")
    print(
        format_table(
            ["model", "parameters", "steps", "train s (cpu)", "valid bpc"],
            [
                [
                    r["description"],
                    r["parameters"],
                    r["steps"],
                    round(r["train_cpu_seconds"], 1),
                    round(r["valid_bpc"], 3),
                ]
                for r in rows
            ]
            + [
                [
                    f"{ng['n']}-gram {ng['smoothing']}",
                    "counts",
                    "-",
                    round(ngram["seconds"], 1),
                    round(ng["valid_bpc"], 3),
                ]
            ],
        )
    )
    if not transformer["available"]:
        print(f"Transformer: not available ({transformer['error']})")
    print("\nshipped checkpoints, test bpc recomputed from the files:")
    print(
        format_table(
            ["cell", "sha256 pinned", "stored test bpc", "recomputed", "|diff| nats"],
            [
                [
                    c["cell"],
                    "yes" if c["pinned"] else "NO",
                    round(c["stored_test_bpc"], 4),
                    round(c["test_bpc"], 4),
                    f"{c['abs_diff_nats']:.1e}",
                ]
                for c in checkpoints
            ],
        )
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
