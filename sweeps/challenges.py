"""The generated texts and the digit readers of the challenges chapter, run once.

Runs what chapters/05-future/challenges.ipynb ran in the page, in two parts:

- "Stability and safety of generated text": the pretrained LSTM continues 8
  prompts (the 64 characters before the first speech start at or after 20, 40,
  60 and 80% of each validation play) by 400 characters, all prompts side by
  side, greedily (seed 1) and at temperatures 0.5, 0.8 and 1.0 with seeds 1, 2
  and 3 (``generate_many``, no top-k). It keeps every continuation.
- "Reading an image as a sequence": an LSTM of 64 units with a linear head
  (``rnnviz.labs.rowwise.SequenceReader``) reads scikit-learn's 8 x 8 digits
  by rows, by columns and pixel by pixel, 300 Adam steps from seeds 0, 1, 2 on
  the same seeded split; it keeps each run's held-out accuracy.

It writes ``chapters/05-future/data/challenges_sweep.json``. The notebook,
which writes the generation code out, loads it (hash-pinned), generates one of
the settings again and trains one reader again, and checks both against the
file exactly. Took about 40 CPU seconds here, on one thread. Run it from the
repository root:

    python sweeps/challenges.py
"""

import argparse
import time

import torch

from rnnviz.checkpoints import save_result
from rnnviz.corpus import load_corpus
from rnnviz.labs import rowwise
from rnnviz.pretrain import load_pretrained
from rnnviz.sampling import generate_many

OUT = "chapters/05-future/data/challenges_sweep.json"
FRACTIONS, PROMPT_CHARS, N_GEN = (0.2, 0.4, 0.6, 0.8), 64, 400
SETTINGS = {  # label -> (strategy, temperature), the notebook's order
    "greedy": ("greedy", 1.0),
    "T = 0.5": ("temperature", 0.5),
    "T = 0.8": ("temperature", 0.8),
    "T = 1.0": ("temperature", 1.0),
}
SAMPLE_SEEDS = (1, 2, 3)  # greedy decoding does not depend on the seed: the first only
DIGIT_STEPS, DIGIT_SEEDS, DIGIT_UNITS = 300, (0, 1, 2), 64


def speech_starts(text, fractions):
    """The first speech start (just after a blank line) at or after each fraction."""
    return [text.index("\n\n", int(f * len(text))) + 2 for f in fractions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the results depend on the thread count; pages use one
    start = time.process_time()

    corpus = load_corpus()
    ck = load_pretrained("lstm")
    lm, vocab = ck.model, ck.vocab
    prompts = []
    for slug in corpus.split_plays["valid"]:
        text = corpus.plays[slug]
        for p in speech_starts(text, FRACTIONS):
            prompts.append(text[p - PROMPT_CHARS : p])
    texts = {}
    for label, (strategy, temperature) in SETTINGS.items():
        seeds = SAMPLE_SEEDS if strategy != "greedy" else SAMPLE_SEEDS[:1]
        texts[label] = [
            g.text
            for seed in seeds
            for g in generate_many(
                lm,
                vocab,
                prompts,
                N_GEN,
                1,
                strategy=strategy,
                temperature=temperature,
                seed=seed,
                top=0,
            )
        ]  # continuations, seed by seed
        print(f"{label}: {len(texts[label])} continuations")
    generation_seconds = time.process_time() - start

    digits = rowwise.load_digits_split(test_fraction=0.25, seed=0)
    accuracy = {}  # reading -> held-out accuracy of each seed
    for r in rowwise.READINGS:
        xtr = rowwise.as_sequence(digits.train_images, r)
        xte = rowwise.as_sequence(digits.test_images, r)
        accuracy[r] = []
        for seed in DIGIT_SEEDS:
            reader = rowwise.SequenceReader(
                xtr.shape[-1], DIGIT_UNITS, "lstm", seed=seed
            )
            rowwise.fit(reader, xtr, digits.train_labels, steps=DIGIT_STEPS, seed=seed)
            acc = rowwise.accuracy(reader, xte, digits.test_labels)[-1]
            accuracy[r].append(float(acc))
        print(f"{r}: held-out accuracy {accuracy[r]}")

    cpu_seconds = time.process_time() - start
    result = {
        "settings": {
            "checkpoint_sha256": ck.sha256,
            "fractions": list(FRACTIONS),
            "prompt_chars": PROMPT_CHARS,
            "n_gen": N_GEN,
            "settings": {k: list(v) for k, v in SETTINGS.items()},
            "sample_seeds": list(SAMPLE_SEEDS),
            "digit_steps": DIGIT_STEPS,
            "digit_seeds": list(DIGIT_SEEDS),
            "digit_units": DIGIT_UNITS,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "prompts": prompts,
        "texts": texts,
        "digit_accuracy": accuracy,
        "generation_cpu_seconds": generation_seconds,
        "cpu_seconds": cpu_seconds,
    }
    sha256 = save_result(args.out, result)
    print(f"wrote {args.out}\nsha256 {sha256}\ncpu seconds {cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
