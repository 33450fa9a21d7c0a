"""The character models that the RNN, GRU, LSTM and pipeline chapters train, run once.

Each of four chapters trains one small character model on the Shakespeare
plays and then studies it: chapters/02-core/rnn.ipynb (an RNN of 128 units,
2,000 steps), gru.ipynb (a GRU of 128 units, 700 steps), lstm.ipynb (an LSTM of
128 units, 1,000 steps) and chapters/04-code/pipeline.ipynb (an LSTM of 256
units, 400 steps of truncated BPTT over contiguous streams with a warm-up and
cosine schedule). Together the four runs cost more processor time than the
book's build budget leaves them (about 170 CPU seconds on the machine of
2026-12-02), so this script trains each one here, one thread, with exactly the
chapter's recipe (`RECIPES`, which the chapters assert equal to the record's),
and writes

- chapters/02-core/data/first_models.json: each run's recipe, its whole
  history (`History.to_dict()`: loss and gradient norm of every step, the
  held-out loss of every evaluation, the time taken) and the bits per
  character of the trained model on the whole validation plays;
- chapters/02-core/data/first_models_<name>.pt, for name in rnn, gru, lstm
  and pipeline: each chapter's trained model, which its later cells study.

Each chapter loads both files, pinned by their sha256, trains its model again
live for its first steps only and checks them against the record with
`checkpoints.check_rerun` (see docs/DESIGN.md, "Sweeps that only one page
reads").

    python sweeps/first_models.py [--out PATH] [--weights PATH]
"""

import argparse
import time

import torch

torch.set_num_threads(1)  # the results depend on the thread count; pages use one

from rnnviz.checkpoints import save_result, save_weights  # noqa: E402
from rnnviz.corpus import load_corpus  # noqa: E402
from rnnviz.data import Vocab  # noqa: E402
from rnnviz.models import CharLM  # noqa: E402
from rnnviz.tbptt import train_stateful  # noqa: E402
from rnnviz.train import bits, cosine_schedule, evaluate, train  # noqa: E402

OUT = "chapters/02-core/data/first_models.json"
WEIGHTS = "chapters/02-core/data/first_models_{}.pt"  # .format(name)
# Each chapter's model (CharLM arguments besides the vocabulary size) and its
# training recipe, as the chapter writes them.
MODELS = {
    "rnn": dict(hidden_size=128, num_layers=1, cell="rnn", embed_size=32, seed=0),
    "gru": dict(hidden_size=128, num_layers=1, cell="gru", embed_size=32, seed=0),
    "lstm": dict(hidden_size=128, num_layers=1, cell="lstm", embed_size=32, seed=0),
    "pipeline": dict(hidden_size=256, num_layers=1, cell="lstm", embed_size=32, seed=0),
}
RECIPES = {
    "rnn": dict(
        steps=2000, batch_size=32, seq_len=64, lr=3e-3, clip=1.0, eval_every=500, seed=0
    ),
    "gru": dict(
        steps=700, batch_size=32, seq_len=64, lr=4e-3, clip=1.0, eval_every=200, seed=0
    ),
    "lstm": dict(
        steps=1000, batch_size=32, seq_len=64, lr=1e-2, clip=1.0, eval_every=250, seed=0
    ),
    # train_stateful, with cosine_schedule(steps, warmup, final)
    "pipeline": dict(
        steps=400,
        batch_size=32,
        seq_len=64,
        lr=4e-3,
        clip=1.0,
        eval_every=100,
        seed=0,
        warmup=40,
        final=0.05,
    ),
}
EVAL_CHARS = {"rnn": 60_000, "gru": 60_000, "lstm": 60_000, "pipeline": 40_000}


def run(name, vocab, train_ids, valid_ids):
    """Train chapter ``name``'s model with its recipe; return it and its History."""
    recipe = dict(RECIPES[name])
    model = CharLM(len(vocab), vocab=vocab, **MODELS[name])
    held = valid_ids[: EVAL_CHARS[name]]
    if name == "pipeline":
        warmup, final = recipe.pop("warmup"), recipe.pop("final")
        schedule = cosine_schedule(recipe["steps"], warmup=warmup, final=final)
        history = train_stateful(
            model, train_ids, held, lr_schedule=schedule, progress=False, **recipe
        )
    else:
        history = train(model, train_ids, held, progress=False, **recipe)
    return model, history


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    parser.add_argument(
        "--weights",
        default=WEIGHTS,
        help=f"weights files, {{}} for the run's name (default {WEIGHTS})",
    )
    args = parser.parse_args()
    cpu_start = time.process_time()

    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train_ids, valid_ids = vocab.encode(corpus.train), vocab.encode(corpus.valid)
    result = {
        "settings": {
            "eval_chars": EVAL_CHARS,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        },
        "runs": {},
    }
    for name in RECIPES:
        model, history = run(name, vocab, train_ids, valid_ids)
        valid_bpc = bits(evaluate(model, valid_ids))
        print(
            f"{name:8s} {history.step[-1]} steps, {history.cpu_seconds:.1f} CPU s,"
            f" validation bpc {valid_bpc:.4f}",
            flush=True,
        )
        weights = args.weights.format(name)
        result["runs"][name] = {
            "weights_sha256": save_weights(weights, {name: model}),
            "model": MODELS[name],
            "recipe": RECIPES[name],
            "history": history.to_dict(),
            "valid_bpc": valid_bpc,
        }
        print(f"wrote {weights}\nsha256 {result['runs'][name]['weights_sha256']}")
    result["cpu_seconds"] = time.process_time() - cpu_start
    sha256 = save_result(args.out, result)
    print(f"wrote {args.out}\nsha256 {sha256}\nCPU seconds {result['cpu_seconds']:.1f}")


if __name__ == "__main__":
    main()
