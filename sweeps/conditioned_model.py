"""The conditioned chapter's trained model: the sweep's seed-0 run, with its weights.

``python -m rnnviz.labs.conditioned`` compares the genre-conditioned LSTM with
its control and keeps only the numbers. The chapter
(chapters/04-code/conditioned.ipynb) samples from one trained model and reads
it under each label, so this script trains that run again: the conditioned
model (three genres) from seed 0, at the learning rate the sweep chose, with
the sweep's budget and the library's loop (``train_conditioned``, which the
chapter shows equal to its own loop step for step). It checks that the run
gives the sweep's held-out numbers and samples, then writes
``chapters/04-code/data/conditioned_model.json`` (the run's settings, training
losses, held-out nats per character under each label, and the three samples)
and ``chapters/04-code/data/conditioned_model.pt`` (the weights, named
"labelled/0"). The notebook loads both (hash-pinned). Took about 30 CPU
seconds here, on one thread. Run it from the repository root:

    python sweeps/conditioned_model.py
"""

import argparse
import time

import torch

from rnnviz.checkpoints import save_result, save_weights
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.labs.conditioned import (
    GENRES,
    SWEEP_SHA256,
    ConditionedLM,
    condition_matrix,
    genre_texts,
    load_sweep,
    train_conditioned,
    with_condition,
)
from rnnviz.sampling import sample
from rnnviz.train import bits

OUT = "chapters/04-code/data/conditioned_model.json"
WEIGHTS = "chapters/04-code/data/conditioned_model.pt"
SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    parser.add_argument(
        "--weights", default=WEIGHTS, help=f"weights file (default {WEIGHTS})"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # the results depend on the thread count; pages use one
    start = time.process_time()

    shipped = load_sweep()  # refused unless its sha256 is the lab's pin
    cfg, k = shipped["config"], len(GENRES)
    lr = next(r["lr"] for r in shipped["runs"] if r["conditions"] == k and r["seed"])
    run = next(
        r
        for r in shipped["runs"]
        if r["conditions"] == k and r["seed"] == SEED and r["lr"] == lr
    )

    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train = genre_texts(corpus, "train")
    ids = [vocab.encode(train[g]) for g in GENRES]
    held_out = {g: vocab.encode(t) for g, t in genre_texts(corpus, "valid").items()}
    model = ConditionedLM(
        len(vocab),
        k,
        hidden_size=cfg["hidden_size"],
        embed_size=cfg["embed_size"],
        cond_size=cfg["cond_size"],
        seed=SEED,
    )
    history = train_conditioned(
        model,
        ids,
        steps=cfg["steps"],
        batch_size=cfg["batch_size"],
        seq_len=cfg["seq_len"],
        lr=lr,
        seed=SEED,
    )
    model.eval()
    nats = condition_matrix(model, held_out)  # text genre -> nats under each label
    samples = {
        g: sample(
            with_condition(model, c),
            vocab,
            cfg["sample_prompt"],
            cfg["sample_chars"],
            temperature=cfg["temperature"],
            seed=7,
        )
        for c, g in enumerate(GENRES)
    }
    # the sweep's run, reproduced: its numbers and its samples
    assert {g: [bits(v) for v in row] for g, row in nats.items()} == run["bpc"]
    assert samples == shipped["samples"]

    weights_sha256 = save_weights(args.weights, {f"labelled/{SEED}": model})
    cpu_seconds = time.process_time() - start
    result = {
        "settings": {
            "sweep_sha256": SWEEP_SHA256,
            "conditions": k,
            "seed": SEED,
            "lr": lr,
            "steps": cfg["steps"],
            "batch_size": cfg["batch_size"],
            "seq_len": cfg["seq_len"],
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "train_loss": history.train_loss,
        "nats": nats,
        "samples": samples,
        "weights_sha256": weights_sha256,
        "cpu_seconds": cpu_seconds,
    }
    sha256 = save_result(args.out, result)
    print(f"wrote {args.weights}\nsha256 {weights_sha256}")
    print(f"wrote {args.out}\nsha256 {sha256}\ncpu seconds {cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
