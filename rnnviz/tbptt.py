"""Stateful training with truncated backpropagation through time (TBPTT).

:func:`rnnviz.train.train` reads independent random windows and starts every
window from a zero state. Here the training text is read as ``batch_size``
contiguous streams (:func:`rnnviz.data.stream_batches`), ``seq_len``
characters at a time, and the hidden state at the end of one batch is the
initial state of the next:

- ``state="carry"``: the state is carried over and *detached*, so the forward
  pass sees the whole history of the stream while the gradient stops at the
  batch boundary (truncation length ``seq_len``);
- ``state="reset"``: every batch starts from zeros, as with random windows.

When the streams are exhausted, reading starts again at their beginning with a
zero state. Gradients can be clipped by their global norm
(``clip_grad_norm_``, the default) or element by element
(``clip_grad_value_``); the history records the norm *before* clipping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, Union

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rnnviz.data import num_stream_batches, stream_batches
from rnnviz.train import History, _check_ids, _Recorder, _Schedule

State = Union[Tensor, tuple, list, None]  # h (layers, B, H), or (h, c) for an LSTM
STATE_MODES = ("carry", "reset")
CLIP_MODES = ("norm", "value", None)


class DivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient norm.

    ``step`` is the step at which it happened and ``history`` holds every
    finite step before it, so a caller can still plot the run.
    """

    def __init__(self, message: str, step: int, history: History) -> None:
        super().__init__(message)
        self.step = step
        self.history = history


def detach_state(state: State) -> State:
    """Cut the autograd graph behind a recurrent state, keeping its values.

    ``state`` is ``None``, a tensor ``h`` of shape (layers, B, H) or an LSTM
    tuple ``(h, c)`` (nested tuples and lists are handled the same way).
    Returns new tensors that share storage with the old ones but have no
    ``grad_fn``; the input is not modified.

    >>> h = 2 * torch.ones(1, 2, 3, requires_grad=True)  # (layers, B, H), with a graph
    >>> h2, c2 = detach_state((h, h))
    >>> h.grad_fn is None, h2.grad_fn is None, bool((h2 == h).all())
    (False, True, True)
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(
        f"state must be None, a Tensor or a tuple of Tensors, got {type(state).__name__}"
    )


def clip_gradients(
    parameters: Iterable[nn.Parameter],
    clip: float | None,
    mode: Literal["norm", "value"] | None = "norm",
) -> float:
    """Clip the ``.grad`` of ``parameters`` in place; return the global norm before clipping.

    ``mode="norm"`` rescales all gradients together so that their joint L2 norm
    is at most ``clip`` (the direction is kept); ``mode="value"`` clamps every
    element to ``[-clip, clip]`` (the direction changes). ``clip=None`` or
    ``mode=None`` only measures the norm.
    """
    _check_clip(clip, mode)
    params = [p for p in parameters if p.grad is not None]
    if mode == "norm" and clip is not None:
        return float(nn.utils.clip_grad_norm_(params, clip))
    norm = float(nn.utils.clip_grad_norm_(params, math.inf))  # measures only
    if mode == "value" and clip is not None:
        nn.utils.clip_grad_value_(params, clip)
    return norm


def _check_clip(clip: object, mode: object) -> None:
    if mode not in CLIP_MODES:
        raise ValueError(f"clip_mode must be 'norm', 'value' or None, got {mode!r}")
    ok = (
        isinstance(clip, (int, float))
        and not isinstance(clip, bool)
        and clip > 0
        and math.isfinite(clip)
    )
    if clip is not None and not ok:
        raise ValueError(f"clip must be a positive finite number or None, got {clip!r}")


def _positive_int(name: str, v: object) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")


def _endless(
    ids: Tensor, batch_size: int, seq_len: int
) -> Iterator[tuple[Tensor, Tensor, bool]]:
    """(x, y, first) forever: the stream batches, restarted when exhausted; ``first`` marks a restart."""
    while True:
        first = True
        for x, y in stream_batches(ids, batch_size, seq_len):  # (B, T) each
            yield x, y, first
            first = False


def train_stateful(
    model: nn.Module,
    train_ids: Tensor,
    valid_ids: Tensor | None = None,
    *,
    steps: int = 1000,
    batch_size: int = 32,
    seq_len: int = 64,
    state: Literal["carry", "reset"] = "carry",
    lr: float = 3e-3,
    clip: float | None = 1.0,
    clip_mode: Literal["norm", "value"] | None = "norm",
    eval_every: int = 200,
    eval_batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    time_budget: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    on_gradient: Callable[[int, Tensor], None] | None = None,
    lr_schedule: Callable[[int], float] | None = None,
) -> History:
    """Train ``model`` with truncated BPTT over contiguous streams of ``train_ids`` (N,).

    ``model(x (B, T), state) -> (logits (B, T, V), state)``, like
    :class:`rnnviz.models.CharLM`. Each step reads the next (B, T) batch of
    the ``batch_size`` streams; see the module docstring for ``state`` and
    clipping (no clipping if ``clip`` or ``clip_mode`` is None). Adam with
    ``lr`` unless an ``optimizer`` is given. Held-out loss on ``valid_ids`` is
    measured every ``eval_every`` steps and at the end. ``seed`` seeds dropout;
    the global random state is left as it was. ``on_gradient(step, grad)``, if
    given, sees a flat copy (P,) of every raw gradient, before clipping.
    ``lr_schedule(step) -> factor`` scales the learning rate (see
    :func:`rnnviz.train.cosine_schedule`). Raises :class:`DivergedError`
    (a ``FloatingPointError``) at the first non-finite loss or gradient norm.
    """
    _check_ids("train_ids", train_ids)
    if valid_ids is not None:
        _check_ids("valid_ids", valid_ids)
    for name, v in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("seq_len", seq_len),
        ("eval_every", eval_every),
        ("eval_batch_size", eval_batch_size),
    ):
        _positive_int(name, v)
    if state not in STATE_MODES:
        raise ValueError(f"state must be 'carry' or 'reset', got {state!r}")
    _check_clip(clip, clip_mode)
    if time_budget is not None and not time_budget > 0:
        raise ValueError(
            f"time_budget must be positive seconds or None, got {time_budget!r}"
        )
    num_stream_batches(
        len(train_ids), batch_size, seq_len
    )  # raises now if the text is too short
    batches = _endless(train_ids, batch_size, seq_len)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optimizer or torch.optim.Adam(params, lr=lr)
    sched = _Schedule(opt, lr_schedule)
    model.train()
    h = None  # the carried state: None, (layers, B, H) or a tuple (h, c)
    bar = tqdm(
        range(1, steps + 1), disable=not progress, desc=f"TBPTT ({state})", unit="step"
    )
    rec = _Recorder(model, valid_ids, eval_every, eval_batch_size, time_budget, bar)
    hist = rec.hist
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in bar:
            x, y, first = next(batches)  # (B, T) each
            if first or state == "reset":
                h = None  # zeros: the start of the streams, or a reset
            logits, h = model(x, h)  # (B, T, V)
            h = detach_state(
                h
            )  # the next batch's forward sees h, its backward stops here
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
            if not torch.isfinite(loss):
                bar.close()
                raise DivergedError(
                    f"training loss became {loss.item():.4g} at step {step} "
                    f"(seq_len={seq_len}); clip the gradient or lower the learning rate",
                    step,
                    hist,
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            loss = loss.detach()
            if on_gradient is not None:
                on_gradient(
                    step,
                    torch.cat([p.grad.flatten() for p in params if p.grad is not None]),
                )  # (P,)
            norm = clip_gradients(params, clip, clip_mode)
            if not math.isfinite(norm):
                bar.close()
                raise DivergedError(
                    f"gradient norm became {norm} at step {step} "
                    f"(seq_len={seq_len}); clip the gradient or lower the learning rate",
                    step,
                    hist,
                )
            sched(step)
            opt.step()
            if rec.record(step, float(loss), norm):
                break
    return rec.finish()
