"""The clipping runs of the gradient clipping chapter, run once.

Runs what chapters/03-algorithms/clipping.ipynb trains with its `run`: the
chapter's one-layer tanh RNN (64 units, embeddings of 16) trained with
truncated BPTT, the state carried, 32 streams of 64 characters, 300 steps of
plain SGD at learning rate 2, without clipping, with norm clipping at 0.1, 1
and 10 and with value clipping at 0.01, 0.05 and 0.5, seeds 0, 1 and 2, in the
notebook's order ("A run that blows up" shows the runs without clipping and
with norm clipping at 1; "Norm or element by element?" all of them). For
every run it records the training loss, the gradient norm before clipping and
the cosine between the applied and the raw gradient at every step, the share
of steps clipping changed, and the bits per character on the first 100,000
characters of the validation plays.

The notebook loads chapters/03-algorithms/data/clipping_sweep.json, pinned by
its sha256, and reruns two runs (norm clipping at 1 and value clipping at
0.05, seed 0) to check them. The 21 runs took about 45 CPU seconds here (one
thread; the cpu_seconds field has the measured total).

    python sweeps/clipping.py [--out PATH]
"""

import argparse
import time

import torch

torch.set_num_threads(1)  # the results depend on the thread count; pages use one

import numpy as np  # noqa: E402

from rnnviz.checkpoints import save_result  # noqa: E402
from rnnviz.corpus import load_corpus  # noqa: E402
from rnnviz.data import Vocab  # noqa: E402
from rnnviz.models import CharLM  # noqa: E402
from rnnviz.tbptt import train_stateful  # noqa: E402
from rnnviz.train import bits, evaluate  # noqa: E402

OUT = "chapters/03-algorithms/data/clipping_sweep.json"
LR, STEPS, SEQ_LEN, BATCH, SEEDS = 2.0, 300, 64, 32, (0, 1, 2)
NORM_C, VALUE_C = (0.1, 1.0, 10.0), (0.01, 0.05, 0.5)
SETTINGS = [
    ("none", 0),
    *[("norm", c) for c in NORM_C],
    *[("value", c) for c in VALUE_C],
]


def clip_by_norm(grads, c):
    """The notebook's clip_by_norm: one factor from the norm of all tensors."""
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    return [g * min(1.0, c / float(norm)) for g in grads]


def clip_by_value(grads, c):
    """The notebook's clip_by_value: every element clamped to [-c, c]."""
    return [g.clamp(-c, c) for g in grads]


def cosine(a, b):
    """Cosine of the angle between two gradients given as lists of tensors."""
    a, b = (
        torch.cat([t.flatten() for t in a]).double(),
        torch.cat([t.flatten() for t in b]).double(),
    )  # (P,)
    return float(a @ b / (a.norm() * b.norm()))


def main(out):
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids = vocab.encode(corpus.train)
    valid_ids = vocab.encode(corpus.valid)[:100_000]

    def run(clip, mode, seed):
        """The notebook's run: a fresh RNN trained with SGD, as plain numbers."""
        model = CharLM(
            len(vocab),
            hidden_size=64,
            embed_size=16,
            cell="rnn",
            seed=seed,
            vocab=vocab,
        )
        cosines, changed = [], []

        def watch(step, g):  # g: (P,) the raw gradient of this step
            if clip is None:
                applied = g
            elif mode == "norm":
                applied = clip_by_norm([g], clip)[0]
            else:
                applied = clip_by_value([g], clip)[0]
            cosines.append(cosine([applied], [g]))
            changed.append(not torch.equal(applied, g))

        hist = train_stateful(
            model,
            train_ids[100_000 * seed :],
            steps=STEPS,
            batch_size=BATCH,
            seq_len=SEQ_LEN,
            state="carry",
            clip=clip,
            clip_mode=mode,
            seed=seed,
            progress=False,
            on_gradient=watch,
            optimizer=torch.optim.SGD(model.parameters(), lr=LR),
        )
        return {
            "val_bpc": float(bits(evaluate(model, valid_ids))),
            "cosine": [float(x) for x in cosines],
            "clipped": float(np.mean(changed)),
            "train_loss": [float(x) for x in hist.train_loss],
            "grad_norm": [float(x) for x in hist.grad_norm],
        }

    runs, start = [], time.process_time()
    for s in SEEDS:
        for mode, c in SETTINGS:
            t0 = time.process_time()
            r = run(None, None, s) if mode == "none" else run(c, mode, s)
            r.update(mode=mode, c=c, seed=s, cpu_seconds=time.process_time() - t0)
            runs.append(r)
            print(mode, c, s, r["val_bpc"], flush=True)
    cpu = time.process_time() - start
    result = {
        "about": "per run (rule, threshold c, seed) every step's training loss "
        "(nats), raw gradient norm and cosine(applied, raw), the share of "
        "steps clipped and the validation bits per character; see "
        "sweeps/clipping.py",
        "settings": {
            "lr": LR,
            "steps": STEPS,
            "seq_len": SEQ_LEN,
            "batch_size": BATCH,
            "seeds": list(SEEDS),
            "norm_c": list(NORM_C),
            "value_c": list(VALUE_C),
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
