"""A plain training loop for character language models.

It returns a :class:`History` and never plots. Losses are cross-entropies in
nats per character; bits per character are ``nats / ln 2``. Held-out numbers
come from :func:`evaluate` on text the model never trained on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rnnviz.data import random_windows, stream_batches

LN2 = math.log(2.0)


def bits(nats: float) -> float:
    """Convert nats per character to bits per character."""
    return nats / LN2


@dataclass
class History:
    """What happened during training, step by step (no plotting here)."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # nats/char, the minibatch
    grad_norm: list[float] = field(default_factory=list)  # before clipping
    seconds: list[float] = field(default_factory=list)  # wall time since start
    eval_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)  # nats/char, held out
    eval_seconds: list[float] = field(default_factory=list)

    @property
    def val_bpc(self) -> list[float]:
        return [bits(v) for v in self.val_loss]

    def to_dict(self) -> dict:
        return asdict(self)


class _Recorder:
    """Bookkeeping shared by the training loops here and in :mod:`rnnviz.tbptt`.

    Owns the :class:`History`, the held-out evaluation every ``eval_every`` steps
    and at the end, the progress bar's postfix and the time budget.
    """

    def __init__(
        self,
        model: nn.Module,
        valid_ids: Tensor | None,
        eval_every: int,
        eval_batch_size: int,
        time_budget: float | None,
        bar,
    ) -> None:
        self.model, self.valid_ids, self.bar = model, valid_ids, bar
        self.eval_every, self.eval_batch_size, self.time_budget = (
            eval_every,
            eval_batch_size,
            time_budget,
        )
        self.hist = History()
        self.start = time.perf_counter()

    def evaluate(self, step: int) -> None:
        if self.valid_ids is not None:
            self.hist.val_loss.append(
                evaluate(self.model, self.valid_ids, batch_size=self.eval_batch_size)
            )
            self.hist.eval_step.append(step)
            self.hist.eval_seconds.append(time.perf_counter() - self.start)

    def record(self, step: int, loss: float, grad_norm: float) -> bool:
        """Log one step; evaluate when due. Returns True when the time budget is spent."""
        hist = self.hist
        hist.step.append(step)
        hist.train_loss.append(loss)
        hist.grad_norm.append(grad_norm)
        hist.seconds.append(time.perf_counter() - self.start)
        if step % self.eval_every == 0:
            self.evaluate(step)
            self.bar.set_postfix(
                val_bpc=f"{bits(hist.val_loss[-1]):.3f}" if hist.val_loss else "-"
            )
        return self.time_budget is not None and hist.seconds[-1] >= self.time_budget

    def finish(self) -> History:
        """Close the bar, evaluate the last step if it was not, and leave the model in eval mode."""
        self.bar.close()
        hist = self.hist
        if self.valid_ids is not None and (
            not hist.eval_step or hist.eval_step[-1] != hist.step[-1]
        ):
            self.evaluate(hist.step[-1])
        self.model.eval()
        return hist


def cosine_schedule(
    steps: int, warmup: int = 100, final: float = 0.05
) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up over ``warmup`` steps, then a
    cosine decay from 1 to ``final`` at ``steps``.

    >>> f = cosine_schedule(1000, warmup=100, final=0.1)
    >>> round(f(1), 3), f(100), round(f(1000), 3)
    (0.01, 1.0, 0.1)
    """
    if (
        not isinstance(steps, int)
        or steps < 1
        or not isinstance(warmup, int)
        or warmup < 0
    ):
        raise ValueError(
            f"steps must be a positive int and warmup a non-negative int, got {steps!r}, {warmup!r}"
        )
    if not 0.0 <= final <= 1.0:
        raise ValueError(f"final must be in [0, 1], got {final!r}")

    def factor(step: int) -> float:
        if step <= warmup:
            return step / warmup
        t = min(1.0, (step - warmup) / max(1, steps - warmup))
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


class _Schedule:
    """Sets every param group's lr to its initial lr times ``schedule(step)``."""

    def __init__(
        self, opt: torch.optim.Optimizer, schedule: Callable[[int], float] | None
    ) -> None:
        if schedule is not None and not callable(schedule):
            raise TypeError(
                f"lr_schedule must be a callable step -> factor, got {type(schedule).__name__}"
            )
        self.opt, self.schedule = opt, schedule
        self.base = [g["lr"] for g in opt.param_groups]

    def __call__(self, step: int) -> None:
        if self.schedule is None:
            return
        f = float(self.schedule(step))
        if not (math.isfinite(f) and f >= 0):
            raise ValueError(
                f"lr_schedule({step}) returned {f}: need a finite factor >= 0"
            )
        for g, lr in zip(self.opt.param_groups, self.base):
            g["lr"] = lr * f


def _check_ids(name: str, ids: Tensor) -> None:
    if not isinstance(ids, Tensor) or ids.dim() != 1 or ids.dtype != torch.int64:
        raise ValueError(
            f"{name} must be a 1-D int64 tensor of character ids (use Vocab.encode)"
        )
    if ids.numel() < 2:
        raise ValueError(
            f"{name} has {ids.numel()} character(s): need at least 2 to predict one"
        )


@torch.no_grad()
def evaluate(
    model: nn.Module, ids: Tensor, *, batch_size: int = 16, seq_len: int = 256
) -> float:
    """Mean cross-entropy (nats/char) of ``model`` over ``ids`` (T,).

    The text is cut into ``batch_size`` contiguous streams read with the state
    carried across windows, so every character after the first of a stream is
    predicted with its full left context in that stream.
    """
    _check_ids("ids", ids)
    batch_size = max(1, min(batch_size, (ids.numel() - 1) // 2))
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for x, y in stream_batches(ids, batch_size, seq_len):
        logits, state = model(x, state)  # (B, T, V)
        loss = nn.functional.cross_entropy(
            logits.flatten(0, 1), y.flatten(), reduction="sum"
        )
        total += float(loss)
        count += y.numel()
    model.train(was_training)
    return total / count


def train(
    model: nn.Module,
    train_ids: Tensor,
    valid_ids: Tensor | None = None,
    *,
    steps: int = 1000,
    batch_size: int = 32,
    seq_len: int = 64,
    lr: float = 3e-3,
    clip: float | None = 1.0,
    eval_every: int = 200,
    eval_batch_size: int = 16,
    seed: int = 0,
    time_budget: float | None = None,
    progress: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
    lr_schedule: Callable[[int], float] | None = None,
) -> History:
    """Train ``model`` on random windows of ``train_ids`` with Adam and norm clipping.

    Held-out loss on ``valid_ids`` is measured every ``eval_every`` steps and at
    the end. ``time_budget`` (seconds) stops training early. ``lr_schedule``,
    a function step -> factor (e.g. :func:`cosine_schedule`), scales the
    learning rate at every step. Windows and dropout
    masks are drawn from ``seed``; the global random state is left as it was.
    """
    _check_ids("train_ids", train_ids)
    if valid_ids is not None:
        _check_ids("valid_ids", valid_ids)
    for name, v in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("seq_len", seq_len),
        ("eval_every", eval_every),
    ):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be positive or None, got {clip!r}")
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    sched = _Schedule(opt, lr_schedule)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    bar = tqdm(range(1, steps + 1), disable=not progress, desc="training", unit="step")
    rec = _Recorder(model, valid_ids, eval_every, eval_batch_size, time_budget, bar)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in bar:
            x, y = random_windows(train_ids, batch_size, seq_len, gen)  # (B, T) each
            logits, _ = model(x)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training loss became {float(loss)} at step {step}; lower lr or clip"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            loss = loss.detach()
            norm = nn.utils.clip_grad_norm_(
                model.parameters(), clip if clip is not None else math.inf
            )
            sched(step)
            opt.step()
            if rec.record(step, loss.item(), float(norm)):
                break
    return rec.finish()
