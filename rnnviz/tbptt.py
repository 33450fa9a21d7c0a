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
zero state. Training runs through the one loop, :func:`rnnviz.train.fit`;
gradients can be clipped by their global norm (``clip_grad_norm_``, the
default) or element by element (``clip_grad_value_``), see
:func:`rnnviz.train.clip_gradients`; the history records the norm *before*
clipping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn

from rnnviz._checks import positive_int
from rnnviz.data import check_stream, num_stream_batches, stream_batches
from rnnviz.train import History, evaluate, fit

State = Tensor | tuple | list | None  # h (layers, B, H), or (h, c) for an LSTM
STATE_MODES = ("carry", "reset")


def detach_state(state: State) -> State:
    """Cut the autograd graph behind a recurrent state, keeping its values.

    ``state`` is ``None``, a tensor ``h`` of shape (layers, B, H) or an LSTM
    tuple ``(h, c)`` (nested tuples and lists are handled the same way), or
    any state object with a ``detach()`` method (the Transformer's KV cache).
    Returns new tensors that share storage with the old ones but have no
    ``grad_fn``; the input is not modified.

    >>> h = 2 * torch.ones(1, 2, 3, requires_grad=True)  # (layers, B, H), a graph
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
    if callable(getattr(state, "detach", None)):
        return state.detach()
    raise TypeError(
        "state must be None, a Tensor, a tuple of Tensors or have detach(), "
        f"got {type(state).__name__}"
    )


def _endless(
    ids: Tensor, batch_size: int, seq_len: int
) -> Iterator[tuple[Tensor, Tensor, bool]]:
    """(x, y, first) forever: the stream batches, restarted when exhausted.

    ``first`` marks the first batch of a pass over the streams.
    """
    while True:
        first = True
        for x, y in stream_batches(ids, batch_size, seq_len):  # (B, T) each
            yield x, y, first
            first = False


def carried_loss(reset: bool = False) -> Callable[[nn.Module, tuple], Tensor]:
    """A ``loss_fn`` for :func:`rnnviz.train.fit` that carries the state.

    It reads batches ``(x (B, T), y (B, T), first)``, runs ``model(x, state)``
    from the state the previous batch left (zeros if ``first`` or ``reset``),
    keeps the new state detached for the next batch and returns the mean
    next-character cross-entropy.
    """
    state: State = None  # None, (layers, B, H) or a tuple (h, c)

    def loss_fn(model: nn.Module, batch: tuple[Tensor, Tensor, bool]) -> Tensor:
        nonlocal state
        x, y, first = batch
        if first or reset:
            state = None  # zeros: the start of the streams, or a reset
        logits, new_state = model(x, state)  # (B, T, V)
        state = detach_state(new_state)  # the next forward sees it, no gradient
        return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())

    return loss_fn


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
    device: str | torch.device = "cpu",
) -> History:
    """Train ``model`` by truncated BPTT over contiguous streams of ``train_ids`` (N,).

    ``model(x (B, T), state) -> (logits (B, T, V), state)``, like
    :class:`rnnviz.models.CharLM`. Each step reads the next (B, T) batch of
    the ``batch_size`` streams; see the module docstring for ``state`` and
    clipping (no clipping if ``clip`` or ``clip_mode`` is None). Adam with
    ``lr`` unless an ``optimizer`` is given. Held-out loss on ``valid_ids`` is
    measured every ``eval_every`` steps and at the end. ``seed`` seeds dropout;
    the global random state is left as it was. ``on_gradient(step, grad)``, if
    given, sees a flat copy (P,) of every raw gradient, before clipping.
    ``lr_schedule(step) -> factor`` scales the learning rate (see
    :func:`rnnviz.train.cosine_schedule`). Raises
    :class:`rnnviz.train.DivergedError` (a ``FloatingPointError``) at the first
    non-finite loss or gradient norm. See :func:`rnnviz.train.fit`.
    """
    check_stream("train_ids", train_ids)
    if valid_ids is not None:
        check_stream("valid_ids", valid_ids)
    for name, v in (
        ("batch_size", batch_size),
        ("seq_len", seq_len),
        ("eval_every", eval_every),
        ("eval_batch_size", eval_batch_size),
    ):
        positive_int(name, v)
    if state not in STATE_MODES:
        raise ValueError(f"state must be 'carry' or 'reset', got {state!r}")
    num_stream_batches(len(train_ids), batch_size, seq_len)  # raises if too short
    return fit(
        model,
        _endless(train_ids, batch_size, seq_len),
        carried_loss(reset=state == "reset"),
        steps=steps,
        lr=lr,
        optimizer=optimizer,
        lr_schedule=lr_schedule,
        clip=clip,
        clip_mode=clip_mode,
        evaluate=None
        if valid_ids is None
        else partial(evaluate, ids=valid_ids, batch_size=eval_batch_size),
        eval_every=eval_every,
        time_budget=time_budget,
        seed=seed,
        progress=progress,
        desc=f"TBPTT ({state})",
        device=device,
        on_gradient=on_gradient,
    )
