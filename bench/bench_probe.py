"""Probe accuracy and cost, measured side by side in one run.

Prints a table and writes bench/results/probe.json:
- the probe's largest difference from the fused torch module, per cell type,
  over 1 to 3 layers and both batch layouts (the contract: below 1e-5, float32);
- the time to probe 1,000 characters with a CharLM, against one fused forward;
- the time of one training step (forward and backward) with the fused module
  against the same step through the reference cells.

Everything runs on one torch thread.
Run: .venv/bin/python bench/bench_probe.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from benchlib import BUDGETS, format_table, median_time, result, write_result
from torch import nn

from rnnviz import cells, probe
from rnnviz.data import Vocab
from rnnviz.models import CharLM

TEXT = ("Friends, Romans, countrymen, lend me your ears;\n" * 25)[:1000]
#: Sizes of the full run and of --quick (a smoke test of a few seconds).
SIZES = dict(
    diff_hidden=256,
    diff_steps=200,
    lm_hidden=256,
    lm_chars=1000,
    step_hidden=256,
    step_steps=64,
    step_batch=32,
    repeat=5,
)
QUICK_SIZES = dict(
    diff_hidden=32,
    diff_steps=20,
    lm_hidden=64,
    lm_chars=100,
    step_hidden=32,
    step_steps=16,
    step_batch=4,
    repeat=2,
)


def max_diffs(kind: str, hidden: int = 256, steps: int = 200) -> float:
    """Largest |probe - module| over 1 to 3 layers and both batch layouts.

    Input size 32, batch 8.
    """
    worst = 0.0
    for layers in (1, 2, 3):
        for batch_first in (False, True):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(layers)
                m = getattr(nn, kind)(32, hidden, layers, batch_first=batch_first)
            shape = (8, steps, 32) if batch_first else (steps, 8, 32)
            x = torch.randn(shape, generator=torch.Generator().manual_seed(layers))
            with torch.no_grad():
                out, _ = m(x)
            worst = max(worst, float(np.abs(probe(m, x).output - out.numpy()).max()))
    return worst


def reference_lstm(m: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """The reference cells with autograd, (T, B, I) -> (T, B, H), one layer."""
    h = c = x.new_zeros(x.shape[1], m.hidden_size)
    hs = []
    for t in range(x.shape[0]):
        h, c, _ = cells.lstm_cell(
            x[t], h, c, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0
        )
        hs.append(h)
    return torch.stack(hs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: a smoke test of a few seconds",
    )
    ap.add_argument(
        "--out", default=None, help="output JSON (default bench/results/probe.json)"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sz = QUICK_SIZES if args.quick else SIZES
    diffs = {
        kind: max_diffs(kind, sz["diff_hidden"], sz["diff_steps"])
        for kind in ("RNN", "LSTM", "GRU")
    }

    text = TEXT[: sz["lm_chars"]]
    vocab = Vocab.from_text(text)
    lm = CharLM(
        len(vocab),
        hidden_size=sz["lm_hidden"],
        num_layers=2,
        cell="lstm",
        seed=0,
        vocab=vocab,
    ).eval()
    ids = vocab.encode(text).unsqueeze(0)  # (1, chars)
    with torch.no_grad():
        t_fused_fwd = median_time(lambda: lm(ids), sz["repeat"])
    t_probe = median_time(lambda: lm.probe(ids), sz["repeat"])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = nn.LSTM(64, sz["step_hidden"])
    x = torch.randn(
        sz["step_steps"],
        sz["step_batch"],
        64,
        generator=torch.Generator().manual_seed(0),
    )  # (T, B, I)

    def step(forward):
        m.zero_grad()
        forward().square().mean().backward()

    t_step_fused = median_time(lambda: step(lambda: m(x)[0]), sz["repeat"])
    t_step_ref = median_time(lambda: step(lambda: reference_lstm(m, x)), sz["repeat"])

    data = result(
        "probe",
        {
            "threads": torch.get_num_threads(),
            "sizes": sz,
            "probe_max_abs_diff": diffs,
            "budget_max_abs_diff": BUDGETS["probe_max_abs_diff"],
            "probe_1000_chars_s": t_probe,
            "fused_forward_1000_chars_s": t_fused_fwd,
            "train_step_fused_s": t_step_fused,
            "train_step_reference_cells_s": t_step_ref,
        },
        quick=args.quick,
    )
    path = write_result(data, args.out)
    print(
        f"probe max |difference| from the fused module (1-3 layers, both layouts, "
        f"H={sz['diff_hidden']}, T={sz['diff_steps']}, float32):"
    )
    ok = {
        k: "ok" if d < BUDGETS["probe_max_abs_diff"] else "ABOVE"
        for k, d in diffs.items()
    }
    print(
        format_table(
            ["cell", "max |diff|", "budget 1e-5"],
            [[k, f"{d:.2e}", ok[k]] for k, d in diffs.items()],
        )
    )
    print(
        f"\n2-layer LSTM CharLM (H={sz['lm_hidden']}) "
        f"on {sz['lm_chars']:,} characters; "
        f"training step of nn.LSTM H={sz['step_hidden']}, "
        f"T={sz['step_steps']}, B={sz['step_batch']}:"
    )
    print(
        format_table(
            ["what", "ms", "ratio"],
            [
                ["fused forward", round(t_fused_fwd * 1e3, 2), 1.0],
                [
                    "probe (reference cells, every gate recorded)",
                    round(t_probe * 1e3, 2),
                    round(t_probe / t_fused_fwd, 1),
                ],
                ["training step, fused nn.LSTM", round(t_step_fused * 1e3, 2), 1.0],
                [
                    "training step, reference cells",
                    round(t_step_ref * 1e3, 2),
                    round(t_step_ref / t_step_fused, 1),
                ],
            ],
        )
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
