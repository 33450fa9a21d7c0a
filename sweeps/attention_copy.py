"""The copying model of the attention chapter, trained once, with its weights.

The attention chapter (chapters/05-future/attention.ipynb, "A task that needs
attention: copying") draws the attention map of one trained copier: the
sweep's first model with attention (``python -m rnnviz.labs.attention``,
seed 0), a GRU encoder-decoder with attention trained on the digit strings of
``digit_copy_split`` for the sweep's first budget, with the sweep's recipe.
The sweep keeps only numbers, so this script trains that model again with the
same code the page writes out, checks that it copies the held-out strings of
the longest training length as the sweep's run did, and writes
``chapters/05-future/data/attention_copy.json`` (the settings, and the model's
copies of those strings) and ``chapters/05-future/data/attention_copy.pt``
(the weights, named "copy"). The notebook loads both (hash-pinned). Took
about 10 CPU seconds here, on one thread. Run it from the repository root:

    python sweeps/attention_copy.py
"""

import argparse
import time

import torch

from rnnviz.checkpoints import save_result, save_weights
from rnnviz.labs.attention import SWEEP_SHA256, digit_copy_split, load_sweep
from rnnviz.labs.seq2seq import PairVocab, Seq2Seq, accuracy, collate, fit, translate

OUT = "chapters/05-future/data/attention_copy.json"
WEIGHTS = "chapters/05-future/data/attention_copy.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    parser.add_argument(
        "--weights", default=WEIGHTS, help=f"weights file (default {WEIGHTS})"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # the results depend on the thread count; pages use one
    start = time.process_time()

    sweep = load_sweep()  # refused unless its sha256 is the lab's pin
    cfg = sweep["config"]
    split = digit_copy_split(
        cfg["copy_train"],
        cfg["copy_min"],
        cfg["copy_max"],
        cfg["copy_test_max"],
        cfg["copy_per_len"],
        seed=0,
    )
    digits = PairVocab("0123456789")
    steps, L = cfg["copy_every"], cfg["copy_max"]
    model = Seq2Seq(
        len(digits),
        len(digits),
        cfg["copy_embed"],
        cfg["hidden"],
        attention=True,
        seed=0,
    )
    fit(
        model,
        collate(split.train, digits, digits),
        collate(split.valid, digits, digits),
        steps=steps,
        batch_size=cfg["batch_size"],
        lr=cfg["lr_attention"],
        clip=cfg["clip"],
        seed=0,
        eval_every=steps,
        progress=False,
    )
    model.eval()
    test_L = split.test[L]
    copied = translate(
        model, [s for s, _ in test_L], digits, digits, max_len=cfg["copy_test_max"] + 5
    )
    exact = accuracy(copied, [t for _, t in test_L])[0]
    run = sweep["copy"]["attention"]
    run = next(iter(run.values()))["0"]  # the sweep's seed 0
    shipped = run[f"exact_test_{L}"][run["step"].index(steps)]
    assert abs(exact - shipped) <= 1 / len(test_L), (exact, shipped)

    weights_sha256 = save_weights(args.weights, {"copy": model})
    cpu_seconds = time.process_time() - start
    result = {
        "settings": {
            "sweep_sha256": SWEEP_SHA256,
            "steps": steps,
            "length": L,
            "seed": 0,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "copied": copied,
        "exact": exact,
        "weights_sha256": weights_sha256,
        "cpu_seconds": cpu_seconds,
    }
    sha256 = save_result(args.out, result)
    print(f"exact {exact:.4f} (the sweep's run: {shipped:.4f})")
    print(f"wrote {args.weights}\nsha256 {weights_sha256}")
    print(f"wrote {args.out}\nsha256 {sha256}\ncpu seconds {cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
