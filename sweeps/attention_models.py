"""The two trained encoder-decoders of the attention chapter.

Trains the two ``Seq2Seq`` models of ``chapters/05-future/attention.ipynb``
("attention" and "no attention": GRUs of 64 units, embeddings of 32) on
``number_pairs(seed=0)``, exactly as that page's recipe does: 400 Adam steps
on minibatches of 64 pairs, learning rate 3e-3, clipping at 1, seed 0, the
held-out loss every 25 steps, "attention" first. It writes their weights to
``chapters/05-future/data/attention_models.pt`` (``save_weights``) and their
training histories and CPU seconds to
``chapters/05-future/data/attention_models.json`` (``save_result``), which the
notebook loads (both hash-pinned); the notebook retrains the model without
attention and checks that its weights and history are these, bit for bit.

Took about 30 CPU seconds here, on one thread. Run it from the repository root:

    python sweeps/attention_models.py
"""

import argparse
import time
from pathlib import Path

import torch

from rnnviz.checkpoints import save_result, save_weights
from rnnviz.labs.seq2seq import PairVocab, Seq2Seq, collate, fit, number_pairs

OUT = "chapters/05-future/data/attention_models.json"
NAMES = ("attention", "no attention")
HIDDEN, EMBED, STEPS = 64, 32, 400
BATCH_SIZE, LR, CLIP, SEED, EVAL_EVERY = 64, 3e-3, 1.0, 0, 25
KEYS = ("step", "train_loss", "grad_norm", "eval_step", "val_loss", "metrics")


def main():
    torch.set_num_threads(1)  # results depend on the thread count; the book uses one
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=OUT, help=f"output JSON, the .pt beside it (default {OUT})"
    )
    args = parser.parse_args()

    start_all = time.process_time()
    pairs = number_pairs(seed=SEED)
    src_vocab = PairVocab.from_texts([s for s, _ in pairs.train])
    tgt_vocab = PairVocab.from_texts([t for _, t in pairs.train])
    train_batch = collate(pairs.train, src_vocab, tgt_vocab)
    valid_batch = collate(pairs.valid, src_vocab, tgt_vocab)
    models, runs = {}, {}
    for name in NAMES:
        models[name] = Seq2Seq(
            len(src_vocab),
            len(tgt_vocab),
            EMBED,
            HIDDEN,
            attention=name == "attention",
            seed=SEED,
        )
        start = time.process_time()
        history = fit(
            models[name],
            train_batch,
            valid_batch,
            steps=STEPS,
            batch_size=BATCH_SIZE,
            lr=LR,
            clip=CLIP,
            seed=SEED,
            eval_every=EVAL_EVERY,
            progress=False,
        )
        runs[name] = {k: getattr(history, k) for k in KEYS}
        runs[name]["cpu_seconds"] = time.process_time() - start
        print(f"{name}: val loss {history.val_loss[-1]:.4f}")
    weights = str(Path(args.out).with_suffix(".pt"))
    weights_sha = save_weights(weights, models)
    print(weights, weights_sha)
    result = {
        "config": {
            "hidden": HIDDEN,
            "embed": EMBED,
            "steps": STEPS,
            "batch_size": BATCH_SIZE,
            "lr": LR,
            "clip": CLIP,
            "seed": SEED,
            "eval_every": EVAL_EVERY,
            "threads": 1,
        },
        "runs": runs,
        "weights_sha256": weights_sha,
        "cpu_seconds": time.process_time() - start_all,
    }
    sha = save_result(args.out, result)
    print(args.out, sha, f"{result['cpu_seconds']:.1f} CPU seconds")


if __name__ == "__main__":
    main()
