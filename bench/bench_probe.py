"""Probe accuracy and cost, measured side by side in one run.

Prints a table and writes bench/results/probe.json:
- the probe's largest difference from the fused torch module, per cell type,
  over 1 to 3 layers and both batch layouts (the contract: below 1e-5, float32);
- the time to probe 1,000 characters with a CharLM, against one fused forward;
- the time of one training step (forward and backward) with the fused module
  against the same step through the reference cells.

Run: .venv/bin/python bench/bench_probe.py
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnviz import cells, probe
from rnnviz.data import Vocab
from rnnviz.models import CharLM

OUT = Path(__file__).parent / "results" / "probe.json"
TEXT = ("Friends, Romans, countrymen, lend me your ears;\n" * 25)[:1000]


def max_diffs(kind: str) -> float:
    worst = 0.0
    for layers in (1, 2, 3):
        for batch_first in (False, True):
            m = getattr(nn, kind)(32, 256, layers, batch_first=batch_first)
            x = torch.randn((8, 200, 32) if batch_first else (200, 8, 32), generator=torch.Generator().manual_seed(layers))
            with torch.no_grad():
                out, _ = m(x)
            worst = max(worst, float(np.abs(probe(m, x).output - out.numpy()).max()))
    return worst


def timeit(fn, repeat: int = 5) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def reference_lstm(m: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """The reference cells with autograd, (T, B, I) -> (T, B, H), one layer."""
    h = c = x.new_zeros(x.shape[1], m.hidden_size)
    hs = []
    for t in range(x.shape[0]):
        h, c, _ = cells.lstm_cell(x[t], h, c, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
        hs.append(h)
    return torch.stack(hs)


def main() -> None:
    torch.manual_seed(0)
    diffs = {kind: max_diffs(kind) for kind in ("RNN", "LSTM", "GRU")}

    vocab = Vocab.from_text(TEXT)
    lm = CharLM(len(vocab), hidden_size=256, num_layers=2, cell="lstm", seed=0, vocab=vocab).eval()
    ids = vocab.encode(TEXT).unsqueeze(0)  # (1, 1000)
    with torch.no_grad():
        t_fused_fwd = timeit(lambda: lm(ids))
    t_probe = timeit(lambda: lm.probe(ids))

    m = nn.LSTM(64, 256)
    x = torch.randn(64, 32, 64)  # (T, B, I): a training window

    def step(forward):
        m.zero_grad()
        forward().square().mean().backward()

    t_step_fused = timeit(lambda: step(lambda: m(x)[0]))
    t_step_ref = timeit(lambda: step(lambda: reference_lstm(m, x)))

    results = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "probe_max_abs_diff": diffs,
        "probe_1000_chars_s": t_probe,
        "fused_forward_1000_chars_s": t_fused_fwd,
        "train_step_fused_s": t_step_fused,
        "train_step_reference_cells_s": t_step_ref,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"machine: {results['machine']}")
    print("probe max |difference| from the fused module (1-3 layers, both layouts, H=256, T=200):")
    for kind, d in diffs.items():
        print(f"  {kind:5s} {d:.2e}  {'ok' if d < 1e-5 else 'ABOVE 1e-5'}")
    print(f"probe, 2-layer LSTM CharLM, 1,000 characters: {t_probe * 1e3:8.1f} ms "
          f"(fused forward {t_fused_fwd * 1e3:.1f} ms, ratio {t_probe / t_fused_fwd:.1f}x)")
    print(f"training step, LSTM H=256, T=64, B=32: fused {t_step_fused * 1e3:.1f} ms, "
          f"reference cells {t_step_ref * 1e3:.1f} ms (ratio {t_step_ref / t_step_fused:.1f}x)")


if __name__ == "__main__":
    main()
