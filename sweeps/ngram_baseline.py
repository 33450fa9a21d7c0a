"""The book's n-gram baseline, computed once for the pages that compare with it.

``rnnviz.ngram.baseline`` counts the training plays at every order 1 to 8,
tunes every smoothing on the validation plays and scores only the winner on
the test plays: about 8 CPU seconds, which four pages spent again on every
build. The n-gram chapter (chapters/01-background/ngram.ipynb) builds the
baseline live and checks that it equals this file; the pages that only compare
with it (inside, pretrained, transformer) load the file, hash-pinned.

It writes ``chapters/01-background/data/ngram_baseline.json``: what
``baseline()`` returns (the smoothing, its label, the order, its parameter,
the validation and test bits per character, and the whole validation table).
Run it from the repository root:

    python sweeps/ngram_baseline.py
"""

import argparse
import time

import torch

from rnnviz.checkpoints import save_result
from rnnviz.corpus import load_corpus
from rnnviz.ngram import baseline

OUT = "chapters/01-background/data/ngram_baseline.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as every sweep (the n-gram counts use no torch)
    start = time.process_time()
    result = baseline(load_corpus())
    print(f"{result['n']}-gram, {result['label']}: {result['valid_bpc']:.4f} bpc")
    # no timing in the file: the same counts give the same bytes on every run
    sha256 = save_result(args.out, result)
    print(f"wrote {args.out}\nsha256 {sha256}")
    print(f"cpu seconds {time.process_time() - start:.1f}")


if __name__ == "__main__":
    main()
