"""From-scratch numpy RNN/LSTM/GRU (rnnviz.numpy_ref) against torch.nn, side by side.

For each cell and size, the same weights and the same inputs go through
``numpy_ref.forward`` / ``numpy_ref.backward`` (float64, hand-written BPTT) and
through ``torch.nn.RNN/LSTM/GRU`` (autograd) in float64, the same arithmetic,
and in float32, what the book trains with. Reports the time per token
(time / (T * B)) of the forward pass and of forward + backward, the ratio
numpy / torch measured in the same run, and, as a sanity check, the largest
difference of outputs and gradients between numpy and torch float64.
Prints a table and writes bench/results/numpy.json.

Run: .venv/bin/python bench/bench_numpy.py [--quick]
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
):  # one thread for both, before import
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from benchlib import format_table, median_time, result, write_result  # noqa: E402
from torch import nn  # noqa: E402

from rnnviz import numpy_ref  # noqa: E402

KINDS = ("RNN", "LSTM", "GRU")
#: (input size I, hidden size H, batch B, steps T)
SIZES = ((32, 64, 16, 64), (64, 256, 32, 64))
QUICK_SIZES = ((8, 16, 4, 8),)


def measure(
    kind: str, I: int, H: int, B: int, T: int, repeat: int, seed: int = 0
) -> dict:
    """One row of the table, for one cell and size.

    Times per token (microseconds), ratios and max differences.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        m64 = getattr(nn, kind)(I, H).double()
    m32 = getattr(nn, kind)(I, H)
    m32.load_state_dict({k: v.float() for k, v in m64.state_dict().items()})
    params = numpy_ref.params_from_torch(m64)
    x64 = torch.randn(T, B, I, generator=gen, dtype=torch.float64)  # (T, B, I)
    dout64 = torch.randn(T, B, H, generator=gen, dtype=torch.float64)  # dL/d(outputs)
    x_np, dout_np = x64.numpy(), dout64.numpy()

    def np_forward():
        return numpy_ref.forward(kind, params, x_np)

    def np_both():
        out, _, cache = numpy_ref.forward(kind, params, x_np)
        return out, numpy_ref.backward(cache, dout_np)

    def torch_forward(m, x):
        with torch.no_grad():
            return m(x)[0]

    def torch_both(m, x, dout):
        m.zero_grad(set_to_none=True)
        x = x.detach().requires_grad_(True)
        out = m(x)[0]
        out.backward(dout)
        return out, x.grad

    x32, dout32 = x64.float(), dout64.float()
    t = {
        "numpy_forward": median_time(np_forward, repeat),
        "numpy_forward_backward": median_time(np_both, repeat),
        "torch64_forward": median_time(lambda: torch_forward(m64, x64), repeat),
        "torch64_forward_backward": median_time(
            lambda: torch_both(m64, x64, dout64), repeat
        ),
        "torch32_forward": median_time(lambda: torch_forward(m32, x32), repeat),
        "torch32_forward_backward": median_time(
            lambda: torch_both(m32, x32, dout32), repeat
        ),
    }
    # sanity check: the same numbers from both implementations (float64)
    out_np, grads = np_both()
    out_t, dx_t = torch_both(m64, x64, dout64)
    diff_out = float(np.abs(out_np - out_t.detach().numpy()).max())
    diff_grad = max(
        float(np.abs(grads[name] - p.grad.numpy()).max())
        for name, p in m64.named_parameters()
    )
    diff_grad = max(diff_grad, float(np.abs(grads["x"] - dx_t.numpy()).max()))
    tokens = T * B
    row = {
        "kind": kind,
        "input_size": I,
        "hidden_size": H,
        "batch": B,
        "steps": T,
        "repeat": repeat,
    }
    row |= {f"{k}_us_per_token": v / tokens * 1e6 for k, v in t.items()}
    row |= {
        "ratio_forward_vs_torch64": t["numpy_forward"] / t["torch64_forward"],
        "ratio_forward_backward_vs_torch64": t["numpy_forward_backward"]
        / t["torch64_forward_backward"],
        "ratio_forward_backward_vs_torch32": t["numpy_forward_backward"]
        / t["torch32_forward_backward"],
        "max_abs_diff_output": diff_out,
        "max_abs_diff_grad": diff_grad,
    }
    return row


def table(rows: list[dict]) -> str:
    """The printed table: one line per cell and size."""
    return format_table(
        [
            "cell",
            "I/H/B/T",
            "np fwd us/tok",
            "torch64 fwd",
            "ratio",
            "np fwd+bwd",
            "torch64 f+b",
            "ratio",
            "torch32 f+b",
            "ratio",
            "max|diff|",
        ],
        [
            [
                r["kind"],
                f"{r['input_size']}/{r['hidden_size']}/{r['batch']}/{r['steps']}",
                round(r["numpy_forward_us_per_token"], 2),
                round(r["torch64_forward_us_per_token"], 2),
                round(r["ratio_forward_vs_torch64"], 1),
                round(r["numpy_forward_backward_us_per_token"], 2),
                round(r["torch64_forward_backward_us_per_token"], 2),
                round(r["ratio_forward_backward_vs_torch64"], 1),
                round(r["torch32_forward_backward_us_per_token"], 2),
                round(r["ratio_forward_backward_vs_torch32"], 1),
                f"{max(r['max_abs_diff_output'], r['max_abs_diff_grad']):.1e}",
            ]
            for r in rows
        ],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="one tiny size, three repeats: a smoke test of seconds",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="timed runs per measurement; the median is kept",
    )
    ap.add_argument(
        "--out", default=None, help="output JSON (default bench/results/numpy.json)"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sizes, repeat = (QUICK_SIZES, 3) if args.quick else (SIZES, args.repeat)
    rows = [measure(kind, *size, repeat=repeat) for size in sizes for kind in KINDS]
    worst = max(max(r["max_abs_diff_output"], r["max_abs_diff_grad"]) for r in rows)
    if worst > 1e-8:
        raise AssertionError(
            f"numpy and torch disagree by {worst:.2e} (float64): "
            "not the same computation"
        )
    data = result(
        "numpy",
        {
            "threads": {
                "torch": torch.get_num_threads(),
                "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            },
            "rows": rows,
        },
        quick=args.quick,
    )
    path = write_result(data, args.out)
    print(
        "numpy (float64, hand-written BPTT) against torch.nn, "
        "microseconds per token, one thread:"
    )
    print(table(rows))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
