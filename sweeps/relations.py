"""The RNN, LSTM and GRU character models of the relations chapter, run once.

Runs what chapters/02-core/relations.ipynb ("Three models, one budget") ran in
the page: one character model per cell (RNN, LSTM, GRU; 128 units, 32-dimensional
embeddings, 200 steps of 32 windows of 64 characters, Adam, clipping at 1) at
three learning rates with seed 0, each scored on the first 60,000 characters of
the validation plays; then each cell's best rate with seeds 1 and 2, and the
three runs per cell scored on the whole validation plays. For every run at the
best rate it also records what the chapter's last table needs from the model
reading a line of Julius Caesar (size and change of its states, the LSTM's cell
outside (-1, 1), the GRU's mean update gate).

It also writes the three seed-0 models at their tuned rates, whose states the
chapter's later views show, to chapters/02-core/data/relations_models.pt
(named "RNN/0", "GRU/0", "LSTM/0"). The notebook loads both files, pinned by
their sha256, and reruns the RNN's seed-0 run to check it. The
15 runs took about 60 CPU seconds here (one thread, a shared 2-core machine; the
cpu_seconds field has the measured total).

    python sweeps/relations.py [--out PATH]
"""

import argparse
import math
import time

import torch

torch.set_num_threads(1)  # the results depend on the thread count; pages use one

import numpy as np  # noqa: E402

import rnnviz  # noqa: E402
from rnnviz.checkpoints import save_result, save_weights  # noqa: E402
from rnnviz.corpus import load_corpus  # noqa: E402
from rnnviz.data import Vocab  # noqa: E402
from rnnviz.models import CharLM  # noqa: E402
from rnnviz.train import bits, evaluate, train  # noqa: E402

OUT = "chapters/02-core/data/relations_sweep.json"
WEIGHTS = "chapters/02-core/data/relations_models.pt"
KINDS = ("RNN", "GRU", "LSTM")  # the notebook's order (its `blocks`)
H, E = 128, 32
BUDGET = dict(steps=200, batch_size=32, seq_len=64, clip=1.0)
RATES = (5e-3, 1e-2, 2e-2)
SEEDS = (0, 1, 2)
TUNING_CHARS = 60_000  # the tuning slice: the first characters of the validation plays
LINE = "The fault, dear Brutus, is not in our stars,"


def size_and_change(series):
    """Mean |s_t| and mean |s_t - s_{t-1}| of a (T, H) series."""
    return float(np.abs(series).mean()), float(np.abs(np.diff(series, axis=0)).mean())


def line_stats(model, kind):
    """What the chapter's state table needs from `model` reading LINE."""
    tr = rnnviz.probe(model, LINE)
    h = tr.series("h")  # (T, 1, H)
    out = {"h": list(size_and_change(h[:, 0])), "h_abs_max": float(np.abs(h).max())}
    if kind == "LSTM":
        c = tr.series("c")
        out["c"] = list(size_and_change(c[:, 0]))
        out["c_outside"] = float((np.abs(c) > 1).mean())
    if kind == "GRU":
        out["z_mean"] = float(tr.series("z").mean())
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    parser.add_argument(
        "--weights", default=WEIGHTS, help=f"weights file (default {WEIGHTS})"
    )
    args = parser.parse_args()
    cpu_start = time.process_time()

    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids, valid_ids = vocab.encode(corpus.train), vocab.encode(corpus.valid)
    assert LINE in corpus.valid

    def train_model(kind, lr, seed):
        model = CharLM(
            len(vocab),
            hidden_size=H,
            cell=kind.lower(),
            embed_size=E,
            seed=seed,
            vocab=vocab,
        )
        history = train(model, train_ids, lr=lr, seed=seed, progress=False, **BUDGET)
        return model, history.cpu_seconds

    # the grid on seed 0, in the notebook's order
    trained = {(k, lr): train_model(k, lr, seed=0) for k in KINDS for lr in RATES}
    tuning = {
        key: bits(evaluate(model, valid_ids[:TUNING_CHARS]))
        for key, (model, _) in trained.items()
    }
    assert all(math.isfinite(b) for b in tuning.values())
    best_lr = {k: min(RATES, key=lambda r: tuning[k, r]) for k in KINDS}
    runs = {(k, 0): trained[k, best_lr[k]] for k in KINDS}
    for k in KINDS:
        for seed in SEEDS[1:]:
            runs[k, seed] = train_model(k, best_lr[k], seed)
    for (k, lr), b in tuning.items():
        print(f"{k:5s} lr {lr:g}: tuning bpc {b:.4f}")

    result = {
        "settings": {
            "kinds": list(KINDS),
            "hidden_size": H,
            "embed_size": E,
            "budget": BUDGET,
            "rates": list(RATES),
            "seeds": list(SEEDS),
            "tuning_chars": TUNING_CHARS,
            "line": LINE,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "tuning": [  # seed 0, every rate
            {
                "kind": k,
                "lr": lr,
                "seed": 0,
                "tuning_bpc": tuning[k, lr],
                "cpu_seconds": trained[k, lr][1],
            }
            for k in KINDS
            for lr in RATES
        ],
        "runs": [],  # each cell's best rate, every seed
    }
    for k in KINDS:
        for seed in SEEDS:
            model, cpu = runs[k, seed]
            valid_bpc = bits(evaluate(model, valid_ids))
            print(f"{k:5s} seed {seed}: validation bpc {valid_bpc:.4f}")
            result["runs"].append(
                {
                    "kind": k,
                    "lr": best_lr[k],
                    "seed": seed,
                    "tuning_bpc": tuning[k, best_lr[k]] if seed == 0 else None,
                    "valid_bpc": valid_bpc,
                    "cpu_seconds": cpu,
                    "line": line_stats(model, k),
                }
            )
    models = {f"{k}/0": runs[k, 0][0] for k in KINDS}
    result["weights_sha256"] = save_weights(args.weights, models)
    print(f"wrote {args.weights}\nsha256 {result['weights_sha256']}")
    result["cpu_seconds"] = time.process_time() - cpu_start
    sha256 = save_result(args.out, result)
    print(f"wrote {args.out}\nsha256 {sha256}\nCPU seconds {result['cpu_seconds']:.1f}")


if __name__ == "__main__":
    main()
