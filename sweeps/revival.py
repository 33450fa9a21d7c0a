"""The minGRU against GRU character-model comparison of the revival chapter.

Trains the two models of ``chapters/05-future/revival.ipynb`` (a two-block
``MinGRULM`` with ``d_model=72`` and a one-layer 128-unit GRU ``CharLM``) for
200 steps at the shared learning rate 3e-3 with a cosine schedule, from seeds
0, 1 and 2, in the notebook's order (seed by seed, minGRU before GRU). It
writes every run's training and held-out losses, its final validation bits
per character and its CPU seconds to
``chapters/05-future/data/revival_sweep.json``, which the notebook loads
(hash-pinned); the notebook reruns minGRU at seed 0 and checks it.

Took about 42 CPU seconds here, on one thread. Run it from the repository root:

    python sweeps/revival.py
"""

import argparse
import time

import torch

from rnnviz.checkpoints import save_result
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.labs.mingru import MinGRULM
from rnnviz.models import CharLM
from rnnviz.train import cosine_schedule, train

OUT = "chapters/05-future/data/revival_sweep.json"
STEPS, SEEDS, NAMES = 200, (0, 1, 2), ("minGRU", "GRU")
BATCH_SIZE, SEQ_LEN, LR, EVAL_EVERY, WARMUP = 32, 64, 3e-3, 100, 20


def make_model(name, seed, vocab):
    """The notebook's two models, initial weights drawn from ``seed``."""
    if name == "minGRU":
        return MinGRULM(
            len(vocab), d_model=72, num_layers=2, expansion=2, mode="tree", seed=seed
        )
    return CharLM(
        len(vocab),
        hidden_size=128,
        num_layers=1,
        cell="gru",
        embed_size=32,
        seed=seed,
        vocab=vocab,
    )


def main():
    torch.set_num_threads(1)  # results depend on the thread count; the book uses one
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"output JSON (default {OUT})")
    args = parser.parse_args()

    start_all = time.process_time()
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.train)
    train_ids, valid_ids = vocab.encode(corpus.train), vocab.encode(corpus.valid)
    n_params = {name: make_model(name, 0, vocab).num_parameters() for name in NAMES}
    runs = []
    for seed in SEEDS:
        for name in NAMES:
            model = make_model(name, seed, vocab)
            start = time.process_time()
            history = train(
                model,
                train_ids,
                valid_ids,
                steps=STEPS,
                batch_size=BATCH_SIZE,
                seq_len=SEQ_LEN,
                lr=LR,
                eval_every=EVAL_EVERY,
                seed=seed,
                progress=False,
                lr_schedule=cosine_schedule(STEPS, warmup=WARMUP),
            )
            cpu = time.process_time() - start
            runs.append(
                {
                    "name": name,
                    "seed": seed,
                    "cpu_seconds": cpu,
                    "final_val_bpc": float(history.val_bpc[-1]),
                    "history": {  # what the page plots and checks
                        "train_loss": history.train_loss,
                        "eval_step": history.eval_step,
                        "val_loss": history.val_loss,
                    },
                }
            )
            print(f"{name} seed {seed}: {history.val_bpc[-1]:.4f} bpc, {cpu:.1f} s")
    result = {
        "settings": {
            "steps": STEPS,
            "seeds": list(SEEDS),
            "names": list(NAMES),
            "batch_size": BATCH_SIZE,
            "seq_len": SEQ_LEN,
            "lr": LR,
            "eval_every": EVAL_EVERY,
            "warmup": WARMUP,
            "threads": torch.get_num_threads(),
        },
        "n_params": n_params,
        "runs": runs,
        "cpu_seconds": time.process_time() - start_all,
    }
    sha = save_result(args.out, result)
    print(args.out)
    print("sha256", sha)
    print(f"CPU seconds {result['cpu_seconds']:.1f}")


if __name__ == "__main__":
    main()
