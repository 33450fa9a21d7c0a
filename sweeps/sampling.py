"""The continuations measured per strategy in the sampling lab, generated once.

Runs what chapters/04-code/sampling.ipynb ("Measured, per strategy") ran in the
page: the pretrained LSTM continues the lab's prompt by 500 characters with
every setting of ``rnnviz.sampling.LAB_SETTINGS``, four continuations per
setting drawn side by side with the seed 2 (greedy gives one: it has no
randomness), and measures each (``Generation.stats``: mean surprisal and
entropy in bits, distinct 4-grams, share of the text in a final loop). For
the setting T = 1.0 it also keeps the surprisal and the entropy of every
generated character.

It writes ``chapters/04-code/data/sampling_sweep.json``. The notebook loads it
(hash-pinned), generates the T = 1.0 continuations again and checks that their
text and statistics are the file's, exactly. Took about 25 CPU seconds here,
on one thread. Run it from the repository root:

    python sweeps/sampling.py
"""

import argparse
import time

import torch

from rnnviz.checkpoints import save_result
from rnnviz.pretrain import load_pretrained
from rnnviz.sampling import LAB_SETTINGS, generate_many

OUT = "chapters/04-code/data/sampling_sweep.json"
PROMPT = "Cassius:\nThe fault, dear Brutus, is not in our "
N, SAMPLES, SEED = 500, 4, 2
KEEP_STEPS = "T = 1.0"  # the setting whose per-character values are kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the results depend on the thread count; pages use one
    start = time.process_time()

    ck = load_pretrained("lstm")
    settings = {}
    for label, kw in LAB_SETTINGS:
        samples = 1 if kw["strategy"] == "greedy" else SAMPLES
        gens = generate_many(ck.model, ck.vocab, PROMPT, N, samples, seed=SEED, **kw)
        settings[label] = {
            "texts": [g.text for g in gens],
            "stats": [g.stats() for g in gens],
        }
        if label == KEEP_STEPS:
            settings[label]["surprisal"] = [g.surprisal.tolist() for g in gens]
            settings[label]["entropies"] = [g.entropies.tolist() for g in gens]
        print(f"{label}: {len(gens)} continuations")

    cpu_seconds = time.process_time() - start
    result = {
        "settings": {
            "checkpoint_sha256": ck.sha256,
            "prompt": PROMPT,
            "n": N,
            "samples": SAMPLES,
            "seed": SEED,
            "labels": [label for label, _ in LAB_SETTINGS],
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "runs": settings,
        "cpu_seconds": cpu_seconds,
    }
    sha256 = save_result(args.out, result)
    print(f"wrote {args.out}\nsha256 {sha256}\ncpu seconds {cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
