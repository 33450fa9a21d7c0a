"""The memory chapter's training runs (adding problem, RNN inits, recall), run once.

Runs what chapters/03-algorithms/memory.ipynb trained in the page:

* the adding problem at lengths 10, 25 and 50 for the RNN, the LSTM and the
  GRU (32 units, Adam at 0.01, clipped to norm 1, batches of 32, at most 800
  steps, stopped when the validation MSE reaches 0.01), three seeds each;
* the RNN at length 25 with an orthogonal start and as an IRNN (identity
  recurrent weights, zero biases, ReLU), three seeds each;
* delayed recall at T = 50 (one symbol out of 8, 8 distractors) for the RNN,
  the GRU and the LSTM with the default forget bias, b_f = 1 and b_f = 3
  (Adam at 0.003, at most 300 steps, stopped at 99% validation accuracy),
  three seeds each.

Each run records its steps, its test score and its validation curve; the
adding runs at length 50 also record their predictions on the first 400 test
sequences, which the chapter's scatter plot draws. The notebook loads
chapters/03-algorithms/data/memory_sweep.json, pinned by its sha256, and
reruns one run of each experiment to check it. The 48 training runs took about
70 CPU seconds here (one thread; the cpu_seconds field has the measured total
of the training loops, the number the chapter quotes).

    python sweeps/memory.py [--out PATH]
"""

import argparse
import time

import torch

torch.set_num_threads(1)  # the results depend on the thread count; pages use one

from rnnviz.checkpoints import save_result  # noqa: E402
from rnnviz.labs.tasks import SeqModel, adding_problem, copy_task, fit, score  # noqa: E402

OUT = "chapters/03-algorithms/data/memory_sweep.json"
# the notebook's settings, in its order
CELLS = ("rnn", "lstm", "gru")
LENGTHS = (10, 25, 50)
SOLVED, MAX_STEPS, EVAL_EVERY = 0.01, 800, 50
N_TEST = 2000
SEEDS = (0, 1, 2)
N_PRED = 400  # test sequences whose predictions the scatter plot draws
RNN_INITS = {  # the trained ones; "default" is the adding run at T = 25
    "orthogonal": dict(init="orthogonal"),
    "identity + ReLU (IRNN)": dict(init="identity", nonlinearity="relu"),
}
INIT_T = 25
RECALL = dict(n_symbols=1, alphabet=8, distractors=8)
RECALL_T = 50
RECALL_MODELS = {
    "RNN": dict(cell="rnn"),
    "GRU": dict(cell="gru"),
    "LSTM, default forget bias": dict(cell="lstm"),
    "LSTM, $b_f = 1$": dict(cell="lstm", forget_bias=1.0),
    "LSTM, $b_f = 3$": dict(cell="lstm", forget_bias=3.0),
}
RECALL_MAX_STEPS, RECALL_STOP, RECALL_LR = 300, 0.99, 0.003


def held_out(length):
    """Validation (500) and test (2000) batches from their own generators."""
    valid = adding_problem(length, 500, torch.Generator().manual_seed(1))
    test = adding_problem(length, N_TEST, torch.Generator().manual_seed(2))
    return valid, test


def run_adding(cell, length, seed, **model_options):  # the notebook's function
    """Train one model until solved or MAX_STEPS; return its history and test MSE."""
    model = SeqModel(
        cell, input_size=2, hidden_size=32, output_size=1, seed=seed, **model_options
    )
    valid, test = held_out(length)
    history = fit(
        model,
        "adding",
        length,
        steps=MAX_STEPS,
        batch_size=32,
        lr=0.01,
        clip=1.0,
        seed=seed,
        valid=valid,
        eval_every=EVAL_EVERY,
        stop_at=SOLVED,
    )
    return dict(
        model=model,
        history=history,
        steps=history.step[-1],
        test_mse=score("adding", model, *test)[0],
    )


def adding_record(run, length):
    """The numbers the notebook reads from one adding run."""
    h = run["history"]
    record = dict(
        steps=run["steps"],
        test_mse=run["test_mse"],
        eval_step=list(h.eval_step),
        val_loss=list(h.val_loss),
        metrics={k: list(v) for k, v in h.metrics.items()},
        cpu_seconds=h.cpu_seconds,
        predictions=None,
    )
    if length == 50:  # the scatter plot and the spread of the predictions
        _, (x_test, _) = held_out(50)
        with torch.no_grad():
            record["predictions"] = run["model"](x_test[:N_PRED])[:, 0].tolist()
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help=f"result file (default {OUT})")
    args = parser.parse_args()
    cpu_start = time.process_time()

    adding = []
    for T in LENGTHS:
        for cell in CELLS:
            for seed in SEEDS:
                run = run_adding(cell, T, seed)
                adding.append(dict(cell=cell, T=T, seed=seed, **adding_record(run, T)))
                print(
                    f"adding {cell} T={T} seed {seed}: {run['steps']} steps, "
                    f"test MSE {run['test_mse']:.4f}"
                )

    rnn_init = []
    for name, options in RNN_INITS.items():
        for seed in SEEDS:
            run = run_adding("rnn", INIT_T, seed, **options)
            rnn_init.append(dict(init=name, seed=seed, **adding_record(run, INIT_T)))
            print(
                f"rnn {name} seed {seed}: {run['steps']} steps, "
                f"test MSE {run['test_mse']:.4f}"
            )

    recall_valid = copy_task(RECALL_T, 500, torch.Generator().manual_seed(1), **RECALL)
    recall_test = copy_task(RECALL_T, 2000, torch.Generator().manual_seed(2), **RECALL)
    n_in = recall_valid[0].shape[-1]
    recall = []
    for name, options in RECALL_MODELS.items():
        for seed in SEEDS:  # the notebook's loop
            model = SeqModel(
                input_size=n_in,
                hidden_size=32,
                output_size=8,
                seed=seed,
                readout="all",
                **options,
            )
            history = fit(
                model,
                "copy",
                RECALL_T,
                steps=RECALL_MAX_STEPS,
                batch_size=32,
                lr=RECALL_LR,
                clip=1.0,
                seed=seed,
                valid=recall_valid,
                eval_every=EVAL_EVERY,
                stop_at=RECALL_STOP,
                task_options=RECALL,
            )
            recall.append(
                dict(
                    model=name,
                    seed=seed,
                    steps=history.step[-1],
                    accuracy=score("copy", model, *recall_test)[1],
                    eval_step=list(history.eval_step),
                    val_loss=list(history.val_loss),
                    metrics={k: list(v) for k, v in history.metrics.items()},
                    cpu_seconds=history.cpu_seconds,
                )
            )
            print(
                f"recall {name} seed {seed}: {recall[-1]['steps']} steps, "
                f"test accuracy {recall[-1]['accuracy']:.3f}"
            )

    cpu = sum(r["cpu_seconds"] for r in adding + rnn_init + recall)
    result = {
        "settings": {
            "cells": list(CELLS),
            "lengths": list(LENGTHS),
            "solved": SOLVED,
            "max_steps": MAX_STEPS,
            "eval_every": EVAL_EVERY,
            "n_test": N_TEST,
            "seeds": list(SEEDS),
            "hidden_size": 32,
            "batch_size": 32,
            "lr": 0.01,
            "clip": 1.0,
            "n_predictions": N_PRED,
            "rnn_inits": RNN_INITS,
            "init_length": INIT_T,
            "recall": RECALL,
            "recall_length": RECALL_T,
            "recall_models": RECALL_MODELS,
            "recall_max_steps": RECALL_MAX_STEPS,
            "recall_stop": RECALL_STOP,
            "recall_lr": RECALL_LR,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "adding": adding,  # in the order of training
        "rnn_init": rnn_init,
        "recall": recall,
        "cpu_seconds": cpu,  # the training loops, summed
        "script_cpu_seconds": time.process_time() - cpu_start,
    }
    digest = save_result(args.out, result)
    print(args.out)
    print("sha256", digest)
    print(f"cpu seconds: training {cpu:.1f}, script {result['script_cpu_seconds']:.1f}")


if __name__ == "__main__":
    main()
