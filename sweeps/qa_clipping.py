"""The clipping thresholds of the training questions (Part 6), run once.

Runs what chapters/06-appendix/qa-training.ipynb ("Gradient clipping: which
threshold, and what happens without it?") ran in the page: a plain tanh RNN
of 64 units (embeddings of 32) trained with plain SGD at learning rate 8 on 32
streams of windows of 64 characters with the state carried
(``rnnviz.tbptt.train_stateful``), 150 steps, with the gradient's norm clipped
at 10, 1, 0.1 and 0.01 and not at all, seeds 0, 1 and 2, each scored on the
first 50,000 characters of the validation plays. A run whose loss became
non-finite stops there (``DivergedError``): the file keeps its finite steps
and no score.

It writes ``chapters/06-appendix/data/qa_clipping_sweep.json`` (per run the
training loss in nats and the gradient norm before clipping at every step,
and the validation bits per character). The notebook loads it (hash-pinned)
and reruns two runs, checking them against the file exactly. Took about 25
CPU seconds here, on one thread. Run it from the repository root:

    python sweeps/qa_clipping.py
"""

import argparse
import time

import torch

from rnnviz.checkpoints import save_result
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.models import CharLM
from rnnviz.tbptt import train_stateful
from rnnviz.train import DivergedError, bits, evaluate

OUT = "chapters/06-appendix/data/qa_clipping_sweep.json"
LR, STEPS, THRESHOLDS, SEEDS = 8.0, 150, (None, 10.0, 1.0, 0.1, 0.01), (0, 1, 2)


def clip_run(c, seed, vocab, train_ids, valid_ids):
    """The notebook's run: (validation bpc or None if it diverged, history)."""
    model = CharLM(
        len(vocab), hidden_size=64, cell="rnn", embed_size=32, seed=seed, vocab=vocab
    )
    try:
        hist = train_stateful(
            model,
            train_ids,
            steps=STEPS,
            batch_size=32,
            seq_len=64,
            clip=c,
            optimizer=torch.optim.SGD(model.parameters(), lr=LR),
            eval_every=10**6,
            seed=seed,
            progress=False,
        )
        return bits(evaluate(model, valid_ids)), hist
    except DivergedError as err:  # its finite steps, and no score
        return None, err.history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the results depend on the thread count; pages use one
    start = time.process_time()

    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids = vocab.encode(corpus.train)
    valid_ids = vocab.encode(corpus.valid)[:50_000]
    runs = []
    for c in THRESHOLDS:  # the notebook's order
        for seed in SEEDS:
            run_start = time.process_time()
            val_bpc, hist = clip_run(c, seed, vocab, train_ids, valid_ids)
            runs.append(
                {
                    "clip": c,
                    "seed": seed,
                    "val_bpc": val_bpc,  # None: the loss became non-finite
                    "train_loss": list(hist.train_loss),  # nats, finite steps
                    "grad_norm": list(hist.grad_norm),  # before clipping
                    "cpu_seconds": time.process_time() - run_start,
                }
            )
            print(f"clip {c} seed {seed}: {val_bpc}")

    cpu_seconds = time.process_time() - start
    result = {
        "settings": {
            "lr": LR,
            "steps": STEPS,
            "thresholds": list(THRESHOLDS),
            "seeds": list(SEEDS),
            "valid_chars": 50_000,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "runs": runs,
        "cpu_seconds": cpu_seconds,
    }
    sha256 = save_result(args.out, result)
    print(f"wrote {args.out}\nsha256 {sha256}\ncpu seconds {cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
