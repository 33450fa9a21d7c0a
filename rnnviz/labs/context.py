"""How much preceding text does a character model use? Scoring the same characters
after more context.

:func:`warmup_losses` scores a fixed block of characters after the model has
read ``warmup`` characters of the text just before it (from a zero state).
Repeating it for growing warm-ups on the *same* blocks gives a paired
measurement: any change in the loss is due to the extra context alone, not
to easier or harder characters.

Positions: for a start ``s``, the scored characters are ``ids[s : s + span]``;
the model reads ``ids[s - warmup - 1 : s + span - 1]``, so the ``j``-th scored
character (``j = 0 .. span - 1``) is predicted after ``warmup + j + 1``
characters of context. With ``warmup = 0`` and starts at the first
character after each of :func:`rnnviz.train.evaluate`'s stream starts, the
mean equals ``evaluate`` (a test checks it).

>>> context_lengths(warmup=8, span=3).tolist()
[9, 10, 11]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from rnnviz._checks import nonnegative_int, positive_int


def _check_ids(ids: object) -> Tensor:
    if not isinstance(ids, Tensor):
        raise TypeError(
            "ids must be a torch.Tensor of character ids (use Vocab.encode), "
            f"got {type(ids).__name__}"
        )
    if ids.dim() != 1 or ids.dtype != torch.int64:
        raise ValueError(
            "ids must be a 1-D int64 tensor of character ids, "
            f"got shape {tuple(ids.shape)}, dtype {ids.dtype}"
        )
    if ids.numel() < 2:
        raise ValueError(
            f"ids has {ids.numel()} character(s): need at least 2 to predict one"
        )
    return ids


def context_lengths(warmup: int, span: int) -> np.ndarray:
    """Characters of context before each scored character:
    ``warmup + 1 .. warmup + span``, shape (span,)."""
    warmup, span = nonnegative_int("warmup", warmup), positive_int("span", span)
    return np.arange(warmup + 1, warmup + span + 1)


@torch.no_grad()
def char_losses(
    model: nn.Module, x: Tensor, y: Tensor, state=None, *, chunk: int = 512
) -> tuple[Tensor, object]:
    """Cross-entropy (nats) of every target: x, y (B, T) -> losses (B, T), and the
    final state.

    The text is read in pieces of ``chunk`` steps with the state carried, which
    gives the same result as one call and bounds the memory of long windows.
    """
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(
            "x and y must both have shape (B, T), "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    out = []
    for a in range(0, x.shape[1], chunk):
        logits, state = model(x[:, a : a + chunk], state)  # (B, t, V)
        out.append(
            nn.functional.cross_entropy(
                logits.transpose(1, 2), y[:, a : a + chunk], reduction="none"
            )
        )
    return torch.cat(out, 1), state  # (B, T)


@torch.no_grad()
def warmup_losses(
    model: nn.Module,
    ids: Tensor,
    starts: Sequence[int] | Tensor,
    warmup: int,
    span: int,
    *,
    return_state: bool = False,
) -> Tensor | tuple[Tensor, object]:
    """Per-character nats of the blocks ``ids[s : s + span]`` after ``warmup``
    characters of context.

    ids (N,) int64; ``starts`` (S,) with ``s - warmup - 1 >= 0`` and
    ``s + span <= N``. Returns losses of shape (S, span), and with
    ``return_state`` also the model's state after the block (for an LSTM,
    ``(h, c)`` of shape (layers, S, H) each). The model starts from a zero
    state at ``s - warmup - 1``, runs in eval mode, and is put back in the
    mode it was in.
    """
    ids = _check_ids(ids)
    warmup, span = nonnegative_int("warmup", warmup), positive_int("span", span)
    s = torch.as_tensor(starts)
    if (
        s.dim() != 1
        or s.numel() == 0
        or s.dtype.is_floating_point
        or s.dtype == torch.bool
    ):
        raise ValueError(
            f"starts must be a non-empty 1-D sequence of ints, got {starts!r}"
        )
    s = s.long()
    lo, hi = int(s.min()), int(s.max())
    if lo - warmup - 1 < 0 or hi + span > ids.numel():
        raise ValueError(
            f"starts must lie in [{warmup + 1}, {ids.numel() - span}] for "
            f"warmup={warmup}, span={span} and {ids.numel()} ids, "
            f"got values in [{lo}, {hi}]"
        )
    was_training = model.training
    model.eval()
    try:
        state = None
        if warmup > 0:
            idx = s[:, None] - warmup - 1 + torch.arange(warmup)  # (S, W)
            _, state = char_losses(model, ids[idx], ids[idx + 1])
        # (S, span): the input one step before each scored character
        idx = s[:, None] - 1 + torch.arange(span)
        losses, state = char_losses(model, ids[idx], ids[idx + 1], state)  # (S, span)
    finally:
        model.train(was_training)
    return (losses, state) if return_state else losses


def random_starts(
    n_ids: int, count: int, max_warmup: int, span: int, generator: torch.Generator
) -> Tensor:
    """``count`` distinct sorted starts, uniform over the positions where every
    warm-up up to ``max_warmup`` fits."""
    n_ids, count = positive_int("n_ids", n_ids), positive_int("count", count)
    max_warmup = nonnegative_int("max_warmup", max_warmup)
    span = positive_int("span", span)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    lo, hi = max_warmup + 1, n_ids - span  # inclusive range of valid starts
    if hi - lo + 1 < count:
        raise ValueError(
            f"only {max(0, hi - lo + 1)} valid starts in {n_ids} ids for "
            f"max_warmup={max_warmup}, span={span}; asked for {count}"
        )
    return torch.sort(
        lo + torch.randperm(hi - lo + 1, generator=generator)[:count]
    ).values  # (count,)


def context_curve(
    model: nn.Module,
    ids: Tensor,
    starts: Sequence[int] | Tensor,
    warmups: Sequence[int],
    span: int,
) -> np.ndarray:
    """Mean nats per character of the same blocks after each warm-up: shape
    (len(warmups), S)."""
    if len(warmups) == 0:
        raise ValueError("warmups is empty: give at least one warm-up length")
    return np.stack(
        [warmup_losses(model, ids, starts, w, span).mean(1).numpy() for w in warmups]
    )


def stream_losses(
    model: nn.Module, ids: Tensor, batch_size: int = 16
) -> tuple[Tensor, Tensor]:
    """Per-character nats of ``ids`` (N,) read as :func:`rnnviz.train.evaluate` reads
    it.

    The text is cut into ``batch_size`` contiguous streams of ``L = N // batch_size``
    characters; every character after the first of a stream is scored with its stream's
    whole left context. Returns ``(losses, positions)``, both (B, L - 1): ``positions``
    are the indices in ``ids`` of the scored characters, so ``losses.mean()`` is
    ``evaluate(model, ids, batch_size=B)``.
    """
    ids = _check_ids(ids)
    batch_size = positive_int("batch_size", batch_size)
    L = ids.numel() // batch_size
    if L < 2:
        raise ValueError(
            f"{ids.numel()} ids in {batch_size} streams leave {L} per stream: "
            "need at least 2"
        )
    starts = torch.arange(batch_size) * L + 1  # (B,): each stream's first scored one
    losses = warmup_losses(model, ids, starts, 0, L - 1)  # (B, L - 1)
    return losses, starts[:, None] + torch.arange(L - 1)
