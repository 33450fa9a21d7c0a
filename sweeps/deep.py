"""One RNN layer of 128 against two of 84, the deep chapter's comparison, run once.

Runs what chapters/02-core/deep.ipynb ("One layer or two, at equal size") ran
in the page: a character language model (Elman RNN, 32-dimensional
embeddings, 400 steps of the default training budget) as one layer of 128
units and as two layers of 84, each at three learning rates with seed 0,
scored on the first 100,000 characters of the validation plays; then each
configuration's best rate with seeds 1 and 2, and the three runs per
configuration scored on the test plays.

The notebook loads chapters/02-core/data/deep_sweep.json, pinned by its
sha256, and reruns one run (seed 0 at a tuned rate) to check it. The 10
training runs took about 54 CPU seconds here, the whole script about 61 (one
thread; the cpu_seconds field has the measured total of the training loops,
the number the chapter quotes).

    python sweeps/deep.py [--out PATH]
"""

import argparse
import time

import torch

torch.set_num_threads(1)  # the results depend on the thread count; pages use one

from rnnviz.checkpoints import save_result  # noqa: E402
from rnnviz.corpus import load_corpus  # noqa: E402
from rnnviz.data import Vocab  # noqa: E402
from rnnviz.models import CharLM  # noqa: E402
from rnnviz.train import bits, evaluate, train  # noqa: E402

OUT = "chapters/02-core/data/deep_sweep.json"
CONFIGS = {  # the notebook's `configs`, in its order
    "1 layer of 128": dict(num_layers=1, hidden_size=128),
    "2 layers of 84": dict(num_layers=2, hidden_size=84),
}
LRS, STEPS, SEEDS = (5e-3, 1e-2, 2e-2), 400, (0, 1, 2)
EMBED = 32
VALID_CHARS = 100_000  # the tuning slice: the first characters of the validation plays


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    args = parser.parse_args()
    cpu_start = time.process_time()

    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids, valid_ids, test_ids = (
        vocab.encode(t) for t in (corpus.train, corpus.valid, corpus.test)
    )

    def trained(config, lr, seed):  # the notebook's function
        model = CharLM(
            len(vocab), cell="rnn", embed_size=EMBED, seed=seed, vocab=vocab, **config
        )
        history = train(
            model, train_ids, None, steps=STEPS, lr=lr, seed=seed, progress=False
        )
        return model, history.cpu_seconds

    cpu, tuning, runs, seconds = 0.0, {}, {}, {}
    for name, config in CONFIGS.items():
        for lr in LRS:  # the learning rate is tuned on the validation plays, seed 0
            runs[name, lr, 0], seconds[name, lr, 0] = trained(config, lr, 0)
            tuning[name, lr] = bits(
                evaluate(runs[name, lr, 0], valid_ids[:VALID_CHARS])
            )
            cpu += seconds[name, lr, 0]
            print(f"{name} lr {lr:g}: validation bpc {tuning[name, lr]:.4f}")
    best_lr = {name: min(LRS, key=lambda lr: tuning[name, lr]) for name in CONFIGS}

    test_bpc = {}
    for name, config in CONFIGS.items():
        lr = best_lr[name]
        for seed in SEEDS[1:]:
            runs[name, lr, seed], seconds[name, lr, seed] = trained(config, lr, seed)
            cpu += seconds[name, lr, seed]
        for s in SEEDS:
            test_bpc[name, s] = bits(evaluate(runs[name, lr, s], test_ids))
            print(f"{name} lr {lr:g} seed {s}: test bpc {test_bpc[name, s]:.4f}")

    result = {
        "settings": {
            "configs": CONFIGS,
            "cell": "rnn",
            "embed_size": EMBED,
            "lrs": list(LRS),
            "steps": STEPS,
            "seeds": list(SEEDS),
            "valid_chars": VALID_CHARS,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "best_lr": best_lr,
        "runs": [  # every trained model, in the order of training
            {
                "config": name,
                "lr": lr,
                "seed": seed,
                "num_parameters": runs[name, lr, seed].num_parameters(),
                "cpu_seconds": seconds[name, lr, seed],
                # scored on the validation slice (seed 0 only, the tuning runs)
                "valid_bpc": tuning[name, lr] if seed == 0 else None,
                # scored on the test plays (the runs at the tuned rate only)
                "test_bpc": test_bpc.get((name, seed)) if lr == best_lr[name] else None,
            }
            for name, lr, seed in runs
        ],
        "cpu_seconds": cpu,  # the training loops, summed (the notebook's `cpu`)
        "script_cpu_seconds": time.process_time() - cpu_start,
    }
    digest = save_result(args.out, result)
    print(args.out)
    print("sha256", digest)
    print(f"cpu seconds: training {cpu:.1f}, script {result['script_cpu_seconds']:.1f}")


if __name__ == "__main__":
    main()
