"""The parity models of the sequences chapter, trained from three seeds.

Runs what chapters/01-background/sequences.ipynb ("A window against a state")
ran in the page: for seeds 0, 1, 2, an MLP over the last 8 symbols and the
truncation flag (1,500 Adam steps of 256 random sequences of lengths 1 to 32,
step size 3e-3) and a GRU of 32 units (600 steps of 64 sequences, step size
1e-2), both clipped at norm 1; then each model's accuracy at every length 1 to
64 on 1,000 held-out sequences per length, drawn with the seed 1000.

It writes ``chapters/01-background/data/sequences_sweep.json`` (the settings,
the accuracies by length of every run, the CPU seconds) and
``chapters/01-background/data/sequences_models.pt`` (the three GRUs, named
"GRU/0", "GRU/1", "GRU/2"; a later cell reads their state after every prefix).
The notebook, which writes the same model and training code out, loads both
(hash-pinned) and reruns seed 0 of both models to check them bit for bit.
Took about 15 CPU seconds here, on one thread. Run it from the repository root:

    python sweeps/sequences.py
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

from rnnviz.checkpoints import save_result, save_weights

OUT = "chapters/01-background/data/sequences_sweep.json"
WEIGHTS = "chapters/01-background/data/sequences_models.pt"
SEEDS, TEST_SEED = (0, 1, 2), 1000
K, PAD, L_TRAIN, L_TEST = 8, 2, 32, 64
MLP = dict(steps=1500, batch_size=256, lr=3e-3)
GRU = dict(steps=600, batch_size=64, lr=1e-2)


# The notebook's definitions, unchanged.
def last_window(x, lengths, k):
    """The last k symbols of each sequence (left-padded with PAD), truncation flags."""
    idx = lengths[:, None] - k + torch.arange(k)  # (B, k) positions to read
    w = torch.gather(x, 1, idx.clamp(min=0))
    w = torch.where(idx >= 0, w, torch.full_like(w, PAD))  # (B, k)
    return w, (lengths > k).float()


def parity_batch(n, lo, hi, gen):
    """n sequences of lengths in [lo, hi] and their parities: x, lengths, y."""
    lengths = torch.randint(lo, hi + 1, (n,), generator=gen)
    x = (torch.rand(n, hi, generator=gen) < 0.5).long()  # 1 = 'a', 0 = 'b'
    x = x * (torch.arange(hi) < lengths[:, None])  # zero (= 'b') after the end
    return x, lengths, x.sum(1) % 2


class WindowMLP(nn.Module):
    """An MLP over the last k symbols (one-hot, with PAD) and the truncation flag."""

    def __init__(self, k=8, hidden=128):
        super().__init__()
        self.k = k
        self.net = nn.Sequential(
            nn.Linear(3 * k + 1, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2),
        )

    def forward(self, x, lengths):
        w, truncated = last_window(x, lengths, self.k)  # (B, k), (B,)
        inputs = torch.cat(
            [nn.functional.one_hot(w, 3).float().flatten(1), truncated[:, None]], 1
        )
        return self.net(inputs)  # (B, 2)


class GRUClassifier(nn.Module):
    """A GRU over the whole sequence, read at each sequence's last symbol."""

    def __init__(self, hidden=32):
        super().__init__()
        self.rnn = nn.GRU(2, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x, lengths):
        h, _ = self.rnn(nn.functional.one_hot(x, 2).float())  # (B, T, H)
        return self.out(h[torch.arange(len(x)), lengths - 1])  # (B, 2)


def fit(model, steps, lr, seed, batch_size=64):
    """Adam on fresh training batches of lengths 1..L_TRAIN."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        x, lengths, y = parity_batch(batch_size, 1, L_TRAIN, gen)
        loss = nn.functional.cross_entropy(model(x, lengths), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()


@torch.no_grad()
def accuracy_by_length(model, seed, n=1000):
    """Accuracy on n held-out sequences of each length 1..L_TEST: (L_TEST,)."""
    gen = torch.Generator().manual_seed(seed)
    acc = []
    for L in range(1, L_TEST + 1):
        x, lengths, y = parity_batch(n, L, L, gen)
        acc.append((model(x, lengths).argmax(1) == y).float().mean().item())
    return np.array(acc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    parser.add_argument(
        "--weights", default=WEIGHTS, help=f"weights file (default {WEIGHTS})"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # the results depend on the thread count; pages use one
    start = time.process_time()

    runs, grus = [], {}
    for seed in SEEDS:  # the notebook's order: the MLP, then the GRU, of each seed
        run_start = time.process_time()
        torch.manual_seed(seed)  # the initial weights
        mlp = WindowMLP(k=K)
        fit(mlp, MLP["steps"], MLP["lr"], seed, batch_size=MLP["batch_size"])
        mlp_acc = accuracy_by_length(mlp, seed=TEST_SEED)
        torch.manual_seed(seed)
        gru = GRUClassifier()
        fit(gru, GRU["steps"], GRU["lr"], seed, batch_size=GRU["batch_size"])
        gru_acc = accuracy_by_length(gru, seed=TEST_SEED)
        grus[f"GRU/{seed}"] = gru
        runs.append(
            {
                "seed": seed,
                "MLP": mlp_acc.tolist(),  # accuracy at lengths 1..L_TEST
                "GRU": gru_acc.tolist(),
                "cpu_seconds": time.process_time() - run_start,
            }
        )
        print(f"seed {seed}: MLP {mlp_acc.mean():.3f}, GRU {gru_acc.mean():.3f}")

    weights_sha256 = save_weights(args.weights, grus)
    cpu_seconds = time.process_time() - start
    result = {
        "settings": {
            "seeds": list(SEEDS),
            "test_seed": TEST_SEED,
            "k": K,
            "l_train": L_TRAIN,
            "l_test": L_TEST,
            "mlp": MLP,
            "gru": GRU,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "runs": runs,
        "weights_sha256": weights_sha256,
        "cpu_seconds": cpu_seconds,
    }
    sha256 = save_result(args.out, result)
    print(f"wrote {args.weights}\nsha256 {weights_sha256}")
    print(f"wrote {args.out}\nsha256 {sha256}\ncpu seconds {cpu_seconds:.1f}")


if __name__ == "__main__":
    main()
