"""The tiny character and byte language models of the text questions, run once.

Runs what chapters/06-appendix/qa-text.ipynb ("A measured example") ran in the
page: a 64-unit GRU with a 32-dimensional embedding over characters (the
training characters plus an "unknown" symbol) and one over UTF-8 bytes, each
trained for 80 steps of 32 windows of 64 symbols on chapters 1-13 of the Dao De
Jing and the first 70% of the English (the opening of Julius Caesar, a
validation play), at five learning rates with three seeds, in the notebook's
order. Every run is scored on the validation texts (chapters 14-15, the next 10%
of the English) and the held-out texts (chapters 16-20, the last 20%), in bits
per symbol and bits per character; an unknown character costs log2 of the CJK
ideographs the training text lacks.

The notebook loads chapters/06-appendix/data/qa_text_sweep.json, pinned by its
sha256, and reruns one setting (the byte model at its tuned rate, seed 0) to
check it. The 30 runs took about 50 CPU seconds here (one thread; the
cpu_seconds field has the measured total).

    python sweeps/qa_text.py [--out PATH]
"""

import argparse
import math
import time
import unicodedata

import torch

torch.set_num_threads(1)  # the results depend on the thread count; pages use one

from rnnviz.checkpoints import save_result  # noqa: E402
from rnnviz.corpus import load_corpus  # noqa: E402
from rnnviz.models import CharLM  # noqa: E402
from rnnviz.paths import book_file  # noqa: E402
from rnnviz.train import train  # noqa: E402

OUT = "chapters/06-appendix/data/qa_text_sweep.json"
KINDS = ("characters", "bytes")  # the notebook's order (its ENCODERS)
LRS, SEEDS = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2), (0, 1, 2)
MODEL = dict(hidden_size=64, cell="gru", embed_size=32)
BUDGET = dict(steps=80, batch_size=32, seq_len=64)


def texts():
    """The notebook's splits: {"train": str, "valid": {...}, "held-out": {...}}."""
    zh = book_file("chapters/06-appendix/data/daodejing-1-20.txt").read_text(
        encoding="utf-8"
    )
    chapters = zh.rstrip("\n").split("\n")
    assert len(chapters) == 20 and all(chapters)
    en = load_corpus().valid[: len(zh)]  # as many characters as the Chinese text
    cut_train, cut_valid = int(0.7 * len(en)), int(0.8 * len(en))
    return {
        "train": "\n".join(chapters[:13]) + "\n" + en[:cut_train],
        "valid": {
            "English": en[cut_train:cut_valid],
            "Chinese": "\n".join(chapters[13:15]),
        },
        "held-out": {"English": en[cut_valid:], "Chinese": "\n".join(chapters[15:])},
    }


def main(out):
    splits = texts()
    n_cjk = sum(
        1
        for c in range(0x110000)
        if unicodedata.name(chr(c), "").startswith("CJK UNIFIED IDEOGRAPH")
    )
    symbols = sorted(set(splits["train"]))
    char_id = {ch: i for i, ch in enumerate(symbols)}
    UNK = len(symbols)
    unseen_cjk = n_cjk - sum(
        unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH") for ch in symbols
    )
    encoders = {
        "characters": (
            lambda t: torch.tensor([char_id.get(ch, UNK) for ch in t]),
            UNK + 1,
        ),
        "bytes": (lambda t: torch.tensor(list(t.encode("utf-8"))), 256),
    }
    assert tuple(encoders) == KINDS

    @torch.no_grad()
    def held_out_bits(model, ids):
        """Bits for every symbol of ids (T,) after the first: (T-1,)."""
        logits, _ = model(ids[None, :-1])  # (1, T-1, V)
        logp = torch.log_softmax(logits[0].double(), dim=-1)
        return -logp.gather(1, ids[1:, None])[:, 0] / math.log(2)

    def score(model, kind, text):
        """(bits per symbol, total bits) of text after its first character."""
        ids = encoders[kind][0](text)
        bits = held_out_bits(model, ids)
        total = float(bits.sum())
        if kind == "characters":
            total += int((ids[1:] == UNK).sum()) * math.log2(unseen_cjk)
        return float(bits.mean()), total

    runs, start = [], time.process_time()
    for kind, (encode, V) in encoders.items():
        for lr in LRS:
            for seed in SEEDS:
                t0 = time.process_time()
                model = CharLM(V, **MODEL, seed=seed)
                train(
                    model,
                    encode(splits["train"]),
                    **BUDGET,
                    lr=lr,
                    seed=seed,
                    progress=False,
                )
                scores = {}
                for split in ("valid", "held-out"):
                    for name, text in splits[split].items():
                        per_symbol, total = score(model, kind, text)
                        per_char = total / (len(text) - 1)
                        scores[f"{split}/{name}"] = [per_symbol, per_char]
                runs.append(
                    {
                        "kind": kind,
                        "lr": lr,
                        "seed": seed,
                        "scores": scores,
                        "cpu_seconds": time.process_time() - t0,
                    }
                )
                print(kind, lr, seed, scores["valid/Chinese"], flush=True)
    cpu = time.process_time() - start
    result = {
        "about": "bits per symbol and per character of each run, "
        "[per symbol, per character], keyed split/text; see sweeps/qa_text.py",
        "settings": {
            "kinds": list(KINDS),
            "lrs": list(LRS),
            "seeds": list(SEEDS),
            "model": MODEL,
            "budget": BUDGET,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "runs": runs,
        "cpu_seconds": cpu,
    }
    digest = save_result(out, result)
    print(f"{out}\nsha256 {digest}\ncpu seconds {cpu:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"output JSON (default {OUT})")
    main(parser.parse_args().out)
