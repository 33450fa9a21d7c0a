"""The nine language models of the gradients chapter, trained and measured.

Trains an RNN, an LSTM and a GRU character language model (one layer of 64
units, embeddings of 32) from seeds 0, 1, 2, exactly as
``chapters/03-algorithms/gradients.ipynb`` does: Adam at 0.01, norm clipping
at 1, batches of 32 random windows of 64 characters of the training plays,
300 steps in blocks of 20 (block k of seed s draws its batches with the seed
1000 s + k). Before training and after every block it measures the norm of
dL/dh at every distance from the loss at the last character, averaged over
the same 16 windows of 160 characters of the validation plays; at the end,
the bits per character on all the validation plays.

It writes ``chapters/03-algorithms/data/gradients_sweep.json`` (the settings,
and per run the 16 measured curves, the validation bits per character and
the CPU seconds) and ``chapters/03-algorithms/data/gradients_models.pt`` (the
nine trained models' weights, named like "LSTM/1"). The notebook loads both
(hash-pinned), reruns the RNN of seed 0 and checks its curves and weights
against these files. Took about 40 CPU seconds here, on one thread. Run it
from the repository root:

    python sweeps/gradients.py
"""

import argparse
import time

import numpy as np
import torch

from rnnviz.checkpoints import save_result, save_weights
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab, random_windows
from rnnviz.gradients import by_distance, hidden_grad_norms
from rnnviz.models import CharLM
from rnnviz.train import bits, evaluate, train

OUT = "chapters/03-algorithms/data/gradients_sweep.json"
WEIGHTS = "chapters/03-algorithms/data/gradients_models.pt"
NAMES, SEEDS, STEPS, EVERY = ("RNN", "LSTM", "GRU"), (0, 1, 2), 300, 20
EVAL_WINDOWS, EVAL_LENGTH = 16, 160


def train_and_measure(name, seed, vocab, train_ids, eval_x, eval_y):
    """The notebook's train_and_measure: one model, and its curves (checkpoints, T)."""
    settings = dict(hidden_size=64, num_layers=1, embed_size=32, seed=seed, vocab=vocab)
    model = CharLM(len(vocab), cell=name.lower(), **settings)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    measured = [by_distance(hidden_grad_norms(model, eval_x, eval_y)[0])]  # untrained
    for k in range(STEPS // EVERY):
        train(
            model,
            train_ids,
            steps=EVERY,
            batch_size=32,
            seq_len=64,
            optimizer=opt,
            clip=1.0,
            seed=1000 * seed + k,
            progress=False,
        )
        measured.append(by_distance(hidden_grad_norms(model, eval_x, eval_y)[0]))
    return model, np.array(measured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    parser.add_argument(
        "--weights", default=WEIGHTS, help=f"weights file (default {WEIGHTS})"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.process_time()

    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids, valid_ids = vocab.encode(corpus.train), vocab.encode(corpus.valid)
    eval_x, eval_y = random_windows(
        valid_ids, EVAL_WINDOWS, EVAL_LENGTH, torch.Generator().manual_seed(0)
    )  # (B, T) each

    runs, models = [], {}
    for seed in SEEDS:
        for name in NAMES:
            run_start = time.process_time()
            model, curves = train_and_measure(
                name, seed, vocab, train_ids, eval_x, eval_y
            )
            val_bpc = bits(evaluate(model, valid_ids))  # all validation plays
            models[f"{name}/{seed}"] = model
            runs.append(
                {
                    "cell": name,
                    "seed": seed,
                    "curves": curves.tolist(),  # (checkpoints, T) float64
                    "val_bpc": val_bpc,
                    "cpu_seconds": time.process_time() - run_start,
                }
            )
            print(f"{name} seed {seed}: {val_bpc:.4f} bpc")

    weights_sha256 = save_weights(args.weights, models)
    cpu_seconds = time.process_time() - start
    result = {
        "settings": {
            "cells": list(NAMES),
            "seeds": list(SEEDS),
            "steps": STEPS,
            "every": EVERY,
            "hidden_size": 64,
            "num_layers": 1,
            "embed_size": 32,
            "lr": 1e-2,
            "clip": 1.0,
            "batch_size": 32,
            "seq_len": 64,
            "eval_windows": EVAL_WINDOWS,
            "eval_length": EVAL_LENGTH,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "runs": runs,
        "weights_sha256": weights_sha256,
        "cpu_seconds": cpu_seconds,
    }
    sha256 = save_result(args.out, result)
    print(f"wrote {args.weights}\nsha256 {weights_sha256}")
    print(f"wrote {args.out}\nsha256 {sha256}\ncpu seconds {cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
