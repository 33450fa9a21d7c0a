"""The play classifiers of the classification chapter, every readout and seed.

Trains the ``SequenceClassifier`` of ``chapters/04-code/classification.ipynb``
(embedding of 32, one LSTM layer, linear head) to tell four training plays
apart from a speech's first 200 characters, exactly as the notebook's cell
did: 400 steps of Adam (0.01, clipped at 1) on bucketed batches of 32, the
held-out speeches scored every 50 steps, for a unidirectional LSTM of 48 units
read at its final state and read by its mean (seeds 0, 1 and 2, padded batches
read with the mask), then a bidirectional LSTM of 32 units per direction read
by its mean (seed 0, packed batches), in the notebook's order. It writes every
run's history, accuracy, size and CPU time to
``chapters/04-code/data/classification_sweep.json``, and the weights of the
bidirectional model, which the notebook's later cells study, to
``chapters/04-code/data/classification_models.pt`` (tensors only). The notebook
loads both (hash-pinned) into a model it builds itself, and reruns one
unidirectional run to check it against this file.

``train_run`` is a copy of the notebook's (the notebook is where it is
taught). Took about 32 CPU seconds here, on one thread. A rerun gives the same
histories and weights, bit for bit, but other CPU times, so another JSON
sha256; ``--out`` writes the JSON elsewhere (the weights file was made that
way, next to the shipped JSON of an earlier run). Run it from the repository
root:

    python sweeps/classification.py
"""

import argparse
import time

import torch

from rnnviz.checkpoints import save_result, save_weights
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.labs.classify import SequenceClassifier, fit, speech_examples

torch.set_num_threads(1)  # the numbers depend on it; the notebook runs on one too

OUT = "chapters/04-code/data/classification_sweep.json"
WEIGHTS = "chapters/04-code/data/classification_models.pt"
KEPT = (("bidirectional, mean", 0),)  # the runs whose trained models the page uses
PLAYS = (
    "the-merry-wives-of-windsor",
    "henry-v",
    "antony-and-cleopatra",
    "a-midsummer-night-s-dream",
)
MAX_CHARS = 200
CONFIGS = {
    "unidirectional, final state": dict(
        hidden_size=48, bidirectional=False, readout="last", method="padded"
    ),
    "unidirectional, mean": dict(
        hidden_size=48, bidirectional=False, readout="mean", method="padded"
    ),
    "bidirectional, mean": dict(
        hidden_size=32, bidirectional=True, readout="mean", method="packed"
    ),
}
SEEDS = (0, 1, 2)

corpus = load_corpus()
vocab = Vocab.from_text(corpus.text)
examples = speech_examples(corpus.plays, PLAYS, by="play", max_chars=MAX_CHARS)
train_ex, held_ex = examples.split(held_out=0.2, seed=0)
train_seqs, held_seqs = train_ex.encode(vocab), held_ex.encode(vocab)
train_y, held_y = train_ex.label_tensor(), held_ex.label_tensor()  # (N,), (M,)


def train_run(name, seed):
    """Train the classifier `name` of CONFIGS with `seed`; its model and numbers."""
    cfg = CONFIGS[name]
    model = SequenceClassifier(
        len(vocab),
        len(PLAYS),
        hidden_size=cfg["hidden_size"],
        embed_size=32,
        bidirectional=cfg["bidirectional"],
        readout=cfg["readout"],
        seed=seed,
    )
    start = time.process_time()
    hist = fit(
        model,
        train_seqs,
        train_y,
        steps=400,
        batch_size=32,
        lr=1e-2,
        seed=seed,
        method=cfg["method"],
        held_out=(held_seqs, held_y),
        eval_every=50,
    )
    return {
        "model": model,
        "history": hist,
        "params": model.num_parameters(),
        "accuracy": hist.metrics["accuracy"][-1],
        "cpu": time.process_time() - start,  # seconds, with the evaluations
    }


def sweep():
    """Every run in the notebook's order, as plain JSON, and the models of KEPT."""
    runs, models = [], {}
    for name, cfg in CONFIGS.items():
        for seed in SEEDS[:1] if cfg["bidirectional"] else SEEDS:
            run = train_run(name, seed)
            hist = run["history"]
            if (name, seed) in KEPT:
                models[f"{name}/{seed}"] = run["model"]
            runs.append(
                {
                    "name": name,
                    "seed": seed,
                    "params": run["params"],
                    "accuracy": run["accuracy"],
                    "cpu": run["cpu"],
                    "step": hist.step,
                    "train_loss": hist.train_loss,
                    "grad_norm": hist.grad_norm,
                    "eval_step": hist.eval_step,
                    "metrics": hist.metrics,
                }
            )
    return runs, models


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"where to write (default {OUT})")
    parser.add_argument(
        "--weights", default=WEIGHTS, help=f"the models' weights (default {WEIGHTS})"
    )
    args = parser.parse_args()
    start = time.process_time()
    runs, models = sweep()
    cpu = time.process_time() - start
    result = {
        "settings": {
            "plays": list(PLAYS),
            "max_chars": MAX_CHARS,
            "configs": CONFIGS,
            "seeds": list(SEEDS),
            "steps": 400,
            "batch_size": 32,
            "lr": 1e-2,
            "eval_every": 50,
            "torch": torch.__version__,
        },
        "runs": runs,
        "cpu_seconds": cpu,
    }
    sha = save_result(args.out, result)
    print(f"{args.out}\nsha256 {sha}\n{cpu:.1f} CPU seconds")
    sha = save_weights(args.weights, models)
    print(f"{args.weights}\nsha256 {sha}")


if __name__ == "__main__":
    main()
