"""The four LSTM formulas of the formula chapter, tuned and trained side by side.

Trains the ``LoopLM`` of ``chapters/03-algorithms/formula.ipynb`` (embedding of
16, one loop-over-time LSTM layer of 64 units in one of four variants, linear
head) for 200 steps, exactly as the notebook's ``run`` does: first every
variant at the step sizes 0.02, 0.04 and 0.08 with seed 0 (the tuning, judged
on the last validation loss), then every variant at its tuned step size with
seeds 1 and 2, in the notebook's order. It writes every run's training history
to ``chapters/03-algorithms/data/formula_sweep.json`` and the weights of the
twelve models at the tuned step sizes (four variants, three seeds), which the
notebook's later cells study, to ``chapters/03-algorithms/data/formula_models.pt``
(names such as ``"lstm/0"``). The notebook loads both (hash-pinned), reruns one
run (the cheapest, h = sigmoid(c) at seed 0) and checks its history and weights
against these files.

The module and the model are copies of the notebook's ``LoopLSTM`` and
``LoopLM`` (the notebook is where they are taught). Took about 50 CPU seconds
here, on one thread (the JSON records its own run's time). Run it from the
repository root:

    python sweeps/formula.py
"""

import argparse
import time

import torch
from torch import nn

from rnnviz.checkpoints import save_result, save_weights
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.train import train

OUT = "chapters/03-algorithms/data/formula_sweep.json"
WEIGHTS = "chapters/03-algorithms/data/formula_models.pt"
VARIANTS = ("lstm", "sigmoid_h", "no_forget", "peephole_g")
STEPS, LRS, SEEDS = 200, (0.02, 0.04, 0.08), (0, 1, 2)
HIDDEN, BATCH_SIZE, SEQ_LEN, CLIP, EVAL_EVERY = 64, 32, 32, 1.0, 50


class LoopLSTM(nn.Module):
    """The notebook's LoopLSTM: one LSTM layer as a loop over time."""

    def __init__(self, lstm: nn.LSTM, variant: str = "lstm"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            weight = getattr(lstm, name + "_l0").detach().clone()
            setattr(self, name, nn.Parameter(weight))
        if variant == "peephole_g":
            H = lstm.hidden_size
            self.V = nn.Parameter(torch.empty(H, H).uniform_(-1 / H**0.5, 1 / H**0.5))

    def run(self, x, state=None):
        """x: (B, T, I). Returns every hidden state and cell state, each (B, T, H)."""
        B, T, _ = x.shape
        H = self.weight_hh.shape[1]
        h, c = (x.new_zeros(B, H), x.new_zeros(B, H)) if state is None else state
        ax = x @ self.weight_ih.T + self.bias_ih + self.bias_hh  # (B, T, 4H)
        hs, cs = [], []
        for t in range(T):
            a_i, a_f, a_g, a_o = (ax[:, t] + h @ self.weight_hh.T).chunk(4, dim=1)
            if self.variant == "peephole_g":
                a_g = a_g + c @ self.V.T
            i, f, g, o = (
                torch.sigmoid(a_i),
                torch.sigmoid(a_f),
                torch.tanh(a_g),
                torch.sigmoid(a_o),
            )
            if self.variant == "no_forget":
                c = c + i * g
            else:
                c = f * c + i * g
            if self.variant == "sigmoid_h":
                h = torch.sigmoid(c)
            else:
                h = o * torch.tanh(c)
            hs.append(h)
            cs.append(c)
        return torch.stack(hs, 1), torch.stack(cs, 1)

    def forward(self, x, state=None):
        hs, cs = self.run(x, state)
        return hs, (hs[:, -1], cs[:, -1])


class LoopLM(nn.Module):
    """The notebook's LoopLM: embedding -> LoopLSTM(variant) -> linear head."""

    def __init__(self, vocab_size, hidden_size, variant, seed=0):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embed = nn.Embedding(vocab_size, 16)
            self.head = nn.Linear(hidden_size, vocab_size)
            lstm = nn.LSTM(16, hidden_size, batch_first=True)
            self.rnn = LoopLSTM(lstm, variant)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embed(ids), state)
        return self.head(out), state


def main():
    torch.set_num_threads(1)  # results depend on the thread count; the book uses one
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"output JSON (default {OUT})")
    parser.add_argument(
        "--weights", default=WEIGHTS, help=f"output weights (default {WEIGHTS})"
    )
    args = parser.parse_args()

    start_all = time.process_time()
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids = vocab.encode(corpus.train)
    valid_ids = vocab.encode(corpus.valid[:5000])

    def run(variant, lr, seed):
        """The notebook's run: a fresh LoopLM trained from `seed`, and its history."""
        model = LoopLM(len(vocab), HIDDEN, variant, seed=seed)
        history = train(
            model,
            train_ids,
            valid_ids,
            steps=STEPS,
            batch_size=BATCH_SIZE,
            seq_len=SEQ_LEN,
            lr=lr,
            clip=CLIP,
            eval_every=EVAL_EVERY,
            seed=seed,
            progress=False,
        )
        return model, history.to_dict()

    trained = {(v, lr, 0): run(v, lr, seed=0) for v in VARIANTS for lr in LRS}
    tuning = {v: {f"{lr:g}": trained[v, lr, 0][1] for lr in LRS} for v in VARIANTS}
    best_lr = {
        v: min(LRS, key=lambda lr: tuning[v][f"{lr:g}"]["val_loss"][-1])
        for v in VARIANTS
    }
    for v in VARIANTS:
        for s in SEEDS:
            if s != 0:
                trained[v, best_lr[v], s] = run(v, best_lr[v], seed=s)
    seeds = {
        v: {str(s): trained[v, best_lr[v], s][1] for s in SEEDS if s != 0}
        for v in VARIANTS
    }
    models = {  # the twelve models the notebook studies, in its order
        f"{v}/{s}": trained[v, best_lr[v], s][0] for v in VARIANTS for s in SEEDS
    }
    cpu_seconds = time.process_time() - start_all
    result = {
        "settings": {
            "variants": list(VARIANTS),
            "steps": STEPS,
            "lrs": list(LRS),
            "seeds": list(SEEDS),
            "hidden_size": HIDDEN,
            "batch_size": BATCH_SIZE,
            "seq_len": SEQ_LEN,
            "clip": CLIP,
            "eval_every": EVAL_EVERY,
            "valid_chars": 5000,
            "threads": 1,
        },
        "tuning": tuning,  # variant -> step size ("0.02") -> history, seed 0
        "best_lr": best_lr,
        "seeds": seeds,  # variant -> seed ("1", "2") -> history at best_lr
        "cpu_seconds": cpu_seconds,
    }
    sha = save_result(args.out, result)
    print(args.out)
    print("sha256", sha)
    weights_sha = save_weights(args.weights, models)
    print(args.weights)
    print("sha256", weights_sha)
    print(f"cpu seconds {cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
