"""The Keras chapter's whole-model comparison: four models, three seeds.

Trains the character language model of ``chapters/04-code/keras.ipynb``
(embedding of 16, an LSTM of 64 units, a dense head, on training lines padded
to 48 characters) for 150 steps of 32 lines, exactly as the notebook's cell
did: for each of the seeds 0, 1 and 2, Keras with ``mask_zero=True``, Keras
without the mask, PyTorch with its own initialisation and PyTorch with the
initial embedding of that seed's masked Keras model, all on the same batches.
Each model is scored on the first 1,000 lines of the validation play in bits
per real character; for Keras also the loss it reports itself. It writes the
scores to ``chapters/04-code/data/keras_sweep.json``, which the notebook loads
(hash-pinned); the notebook reruns the masked Keras model of seed 0, which it
uses to generate text, and checks it against this file.

The helpers are copies of the notebook's (``keras_lm``, ``training_set``,
``real_bpc``, ``TorchLM``, ``fit_torch``; the notebook is where they are
taught). The script is not called ``keras.py``: run as a script, it would be
the ``keras`` that its own ``import keras`` finds. Took about 45 CPU seconds
here, on one thread. Run it from the repository root:

    python sweeps/keras_lm.py
"""

import argparse
import math
import os
import time

os.environ["KERAS_BACKEND"] = "torch"  # must be set before the first `import keras`
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from keras.utils import pad_sequences  # noqa: E402
from torch import nn  # noqa: E402

from rnnviz.checkpoints import save_result  # noqa: E402
from rnnviz.corpus import load_corpus  # noqa: E402
from rnnviz.data import Vocab  # noqa: E402

torch.set_num_threads(1)  # the numbers depend on it; the notebook runs on one too
OUT = "chapters/04-code/data/keras_sweep.json"
MAX_LINE, PAD = 48, 0
STEPS, BATCH, LR, SEEDS = 150, 32, 1e-2, (0, 1, 2)
N_VALID = 1000
MODELS = (
    "Keras, mask_zero=True",
    "Keras, no mask",
    "PyTorch, its own initialisation",
    "PyTorch, Keras's embedding initialisation",
)

corpus = load_corpus()
vocab = Vocab.from_text(corpus.text)
V = len(vocab) + 1  # the characters, shifted by one, and the padding id 0


def verse_lines(text):
    """Every line of the speeches in `text`, without the `Name:` lines."""
    return [
        line[:MAX_LINE] for line in text.split("\n") if line and not line.endswith(":")
    ]


def encode_lines(lines):
    """Each line and its newline as ids shifted by one: 0 is free for padding."""
    return [(vocab.encode(line + "\n") + 1).tolist() for line in lines]


def inputs_targets(seqs, padding="post"):
    """Padded inputs and next-character targets, (N, MAX_LINE) int32 each."""
    x = pad_sequences([s[:-1] for s in seqs], maxlen=MAX_LINE, padding=padding)
    y = pad_sequences([s[1:] for s in seqs], maxlen=MAX_LINE, padding=padding)
    return x, y


train_lines = encode_lines(verse_lines(corpus.train))
valid_x, valid_y = inputs_targets(encode_lines(verse_lines(corpus.valid)[:N_VALID]))


def keras_lm(mask, seed):
    """Embedding -> LSTM -> Dense, Keras's defaults throughout."""
    keras.utils.set_random_seed(seed)  # Keras's initialisers draw from it
    model = keras.Sequential(
        [
            keras.Input((MAX_LINE,), dtype="int32"),
            keras.layers.Embedding(V, 16, mask_zero=mask),
            keras.layers.LSTM(64, return_sequences=True),  # (B, T, 64)
            keras.layers.Dense(V),  # (B, T, V) scores for the next character
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def training_set(seed):
    """STEPS * BATCH training lines drawn with `seed`, padded: (N, T) each."""
    rows = np.random.default_rng(seed).integers(0, len(train_lines), STEPS * BATCH)
    return inputs_targets([train_lines[i] for i in rows])


def real_bpc(logits, y):
    """Bits per character over the real (unpadded) targets of y (N, T)."""
    logp = torch.log_softmax(torch.as_tensor(np.asarray(logits)), -1)  # (N, T, V)
    y = torch.as_tensor(y).long()
    nll = -logp.gather(-1, y[..., None])[..., 0]  # (N, T)
    return float(nll[y != PAD].mean()) / math.log(2)


class TorchLM(nn.Module):
    """nn.Embedding -> nn.LSTM -> nn.Linear: the Keras model in PyTorch."""

    def __init__(self, seed):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embed = nn.Embedding(V, 16)
            self.rnn = nn.LSTM(16, 64, batch_first=True)
            self.head = nn.Linear(64, V)

    def forward(self, x):  # x (B, T) -> scores (B, T, V)
        return self.head(self.rnn(self.embed(x))[0])


def fit_torch(model, x, y):
    """Adam on the batches of (x, y) in order, loss over the real targets."""
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x, y = torch.as_tensor(x).long(), torch.as_tensor(y).long()
    for k in range(STEPS):
        xb, yb = x[k * BATCH : (k + 1) * BATCH], y[k * BATCH : (k + 1) * BATCH]
        loss = nn.functional.cross_entropy(
            model(xb).transpose(1, 2), yb, ignore_index=PAD
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return model(torch.as_tensor(valid_x).long())  # (N, T, V)


def sweep():
    """Every run in the notebook's order, as a dict of plain JSON."""
    runs, embeddings = [], []
    for seed in SEEDS:
        x, y = training_set(seed)
        for mask, name in ((True, MODELS[0]), (False, MODELS[1])):
            model = keras_lm(mask, seed)
            if mask:
                keras_embedding = model.get_weights()[0]  # (V, 16), before training
                embeddings.append(
                    {
                        "seed": seed,
                        "abs_max": float(np.abs(keras_embedding).max()),
                        "std": float(keras_embedding.std()),
                    }
                )
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            own = model.evaluate(valid_x, valid_y, batch_size=500, verbose=0)  # nats
            logits = model.predict(valid_x, batch_size=500, verbose=0)
            runs.append(
                {
                    "model": name,
                    "seed": seed,
                    "bpc": real_bpc(logits, valid_y),
                    "reported_bits": float(own) / math.log(2),
                    "reported_nats": float(own),
                }
            )
        for name in MODELS[2:]:
            lm = TorchLM(seed)
            if name == MODELS[3]:
                with torch.no_grad():
                    lm.embed.weight.copy_(torch.as_tensor(keras_embedding))
            runs.append(
                {
                    "model": name,
                    "seed": seed,
                    "bpc": real_bpc(fit_torch(lm, x, y), valid_y),
                    "reported_bits": None,
                    "reported_nats": None,
                }
            )
    return runs, embeddings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args()
    start = time.process_time()
    runs, embeddings = sweep()
    cpu = time.process_time() - start
    result = {
        "settings": {
            "models": list(MODELS),
            "seeds": list(SEEDS),
            "steps": STEPS,
            "batch": BATCH,
            "lr": LR,
            "max_line": MAX_LINE,
            "valid_lines": N_VALID,
            "keras": keras.__version__,
            "torch": torch.__version__,
        },
        "runs": runs,
        "keras_embedding": embeddings,
        "cpu_seconds": cpu,
    }
    sha = save_result(args.out, result)
    print(f"{args.out}\nsha256 {sha}\n{cpu:.1f} CPU seconds")


if __name__ == "__main__":
    main()
