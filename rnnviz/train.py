"""The one training loop of the book, :func:`fit`, and the :class:`History` it returns.

:func:`fit` takes a model, a source of batches and a loss function; it runs
Adam (or a given optimizer) with an optional learning-rate schedule, clips
the gradient, stops at the first non-finite loss or gradient norm
(:class:`DivergedError`), scores held-out data when asked and never plots.
:func:`train` (random windows of a text), :func:`rnnviz.tbptt.train_stateful`
(truncated BPTT) and every lab's ``fit`` are thin callers of it. Losses of
the character models are cross-entropies in nats per character; bits per
character are ``nats / ln 2``. Held-out numbers come from :func:`evaluate`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from rnnviz._checks import (
    nonnegative_int,
    optional_positive,
    positive_float,
    positive_int,
    seeded,
)
from rnnviz.data import check_stream, random_windows, stream_batches

LN2 = math.log(2.0)
CLIP_MODES = ("norm", "value", None)


def bits(nats: float) -> float:
    """Convert nats per character to bits per character."""
    return nats / LN2


@dataclass
class History:
    """What happened during training, step by step (no plotting here).

    ``val_loss[i]`` and ``metrics[name][i]`` belong to evaluation ``eval_step[i]``
    (``val_loss`` stays empty if the evaluation reports no ``"loss"``).
    """

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # the minibatch loss
    grad_norm: list[float] = field(default_factory=list)  # before clipping
    seconds: list[float] = field(default_factory=list)  # wall time since start
    eval_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)  # held out
    eval_seconds: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)  # held out
    cpu_seconds: float = 0.0  # process time of the whole loop

    @property
    def val_bpc(self) -> list[float]:
        return [bits(v) for v in self.val_loss]

    def to_dict(self) -> dict:
        return asdict(self)


class DivergedError(FloatingPointError):
    """Training produced a non-finite loss or gradient norm.

    ``step`` is the step at which it happened and ``history`` holds every
    finite step before it, so a caller can still plot the run.
    """

    def __init__(self, message: str, step: int, history: History) -> None:
        super().__init__(message)
        self.step = step
        self.history = history


def _check_clip(clip: object, mode: object) -> float | None:
    if mode not in CLIP_MODES:
        raise ValueError(f"clip_mode must be 'norm', 'value' or None, got {mode!r}")
    return optional_positive("clip", clip)


def clip_gradients(
    parameters: Iterable[nn.Parameter],
    clip: float | None,
    mode: Literal["norm", "value"] | None = "norm",
) -> float:
    """Clip the ``.grad`` of ``parameters`` in place; return their global norm before.

    ``mode="norm"`` rescales all gradients together so that their joint L2 norm
    is at most ``clip`` (the direction is kept); ``mode="value"`` clamps every
    element to ``[-clip, clip]`` (the direction changes). ``clip=None`` or
    ``mode=None`` only measures the norm (``clip_grad_norm_`` with an infinite
    bound, which multiplies the gradients by exactly 1).
    """
    clip = _check_clip(clip, mode)
    params = [p for p in parameters if p.grad is not None]
    if mode == "norm" and clip is not None:
        return float(nn.utils.clip_grad_norm_(params, clip))
    norm = float(nn.utils.clip_grad_norm_(params, math.inf))  # measures only
    if mode == "value" and clip is not None:
        nn.utils.clip_grad_value_(params, clip)
    return norm


def cosine_schedule(
    steps: int, warmup: int = 100, final: float = 0.05
) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up over ``warmup`` steps, then a
    cosine decay from 1 to ``final`` at ``steps``.

    >>> f = cosine_schedule(1000, warmup=100, final=0.1)
    >>> round(f(1), 3), f(100), round(f(1000), 3)
    (0.01, 1.0, 0.1)
    """
    positive_int("steps", steps)
    nonnegative_int("warmup", warmup)
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
                "lr_schedule must be a callable step -> factor, "
                f"got {type(schedule).__name__}"
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


@torch.no_grad()
def evaluate(
    model: nn.Module, ids: Tensor, *, batch_size: int = 16, seq_len: int = 256
) -> float:
    """Mean cross-entropy (nats/char) of ``model`` over ``ids`` (T,).

    The text is cut into ``batch_size`` contiguous streams read with the state
    carried across windows, so every character after the first of a stream is
    predicted with its full left context in that stream. The windows go to
    the device of the model's parameters.
    """
    check_stream("ids", ids)
    batch_size = max(1, min(batch_size, (ids.numel() - 1) // 2))
    device = next(model.parameters(), ids).device
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for x, y in stream_batches(ids, batch_size, seq_len):
        logits, state = model(x.to(device), state)  # (B, T, V)
        loss = nn.functional.cross_entropy(
            logits.flatten(0, 1), y.to(device).flatten(), reduction="sum"
        )
        total += float(loss)
        count += y.numel()
    model.train(was_training)
    return total / count


def _to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with its tensors (in a tuple, list, dict, dataclass) on ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(_to_device(b, device) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        fields = [f.name for f in dataclasses.fields(batch) if f.init]
        moved = {k: _to_device(getattr(batch, k), device) for k in fields}
        return dataclasses.replace(batch, **moved)
    return batch


def _batch_source(batches: object) -> Callable[[int], Any]:
    """A function step -> batch from a callable or an iterable of batches."""
    if callable(batches):
        return batches
    if not isinstance(batches, Iterable):
        raise TypeError(
            "batches must be a callable step -> batch or an iterable of batches, "
            f"got {type(batches).__name__}"
        )
    it = iter(batches)

    def take(step: int) -> Any:
        try:
            return next(it)
        except StopIteration:
            raise ValueError(f"batches ran out at step {step}") from None

    return take


def _device(device: object) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must name a torch device, got {device!r}") from err


def fit(
    model: nn.Module,
    batches: Callable[[int], Any] | Iterable[Any],
    loss_fn: Callable[[nn.Module, Any], Tensor],
    *,
    steps: int,
    lr: float = 3e-3,
    optimizer: torch.optim.Optimizer | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    clip: float | None = 1.0,
    clip_mode: Literal["norm", "value"] | None = "norm",
    evaluate: Callable[[nn.Module], float | Mapping[str, float]] | None = None,
    eval_every: int | None = None,
    eval_at_start: bool = False,
    time_budget: float | None = None,
    seed: int | None = 0,
    progress: bool = False,
    desc: str = "training",
    device: str | torch.device = "cpu",
    on_gradient: Callable[[int, Tensor], None] | None = None,
    stop: Callable[[History], bool] | None = None,
) -> History:
    """Train ``model`` for ``steps`` optimizer steps; return its :class:`History`.

    Step ``s`` (from 1) takes ``batches(s)`` (or the next item of an iterable),
    moves its tensors to ``device`` and minimises ``loss_fn(model, batch)``,
    a scalar tensor, with Adam at ``lr`` unless an ``optimizer`` is given.
    ``lr_schedule(s) -> factor`` scales the learning rate. The gradient norm
    is recorded before clipping (see :func:`clip_gradients`); ``on_gradient(s,
    grad)``, if given, sees a flat copy (P,) of the raw gradient.

    ``evaluate(model)`` returns a float (the held-out loss) or a dict whose
    ``"loss"`` goes to ``History.val_loss`` and every other key to
    ``History.metrics``; it runs in eval mode every ``eval_every`` steps, at
    step 0 if ``eval_at_start``, and after the last step. ``stop(history)``,
    checked after each evaluation during training, ends training early, as
    does ``time_budget`` (seconds). ``progress`` shows a progress bar, unless
    the environment sets ``RNNVIZ_PROGRESS=0`` (the book's build and tests do:
    a bar's timings would differ on every run of a page).

    The loop runs inside ``rnnviz._checks.seeded(seed)`` (``seed`` draws the
    dropout masks; the global random state is left as it was); batches come
    from generators the caller seeds. Raises :class:`DivergedError` at the
    first non-finite loss or gradient norm. The model is left in eval mode.
    ``device`` only moves the model and the batches (``.to(device)``, tested
    on the CPU only; on a GPU the dropout masks come from its own generator).
    """
    steps = positive_int("steps", steps)
    eval_every = None if eval_every is None else positive_int("eval_every", eval_every)
    lr = positive_float("lr", lr)
    clip = _check_clip(clip, clip_mode)
    time_budget = optional_positive("time_budget", time_budget)
    for name, f in (("loss_fn", loss_fn), ("evaluate", evaluate), ("stop", stop)):
        if not (callable(f) or (f is None and name != "loss_fn")):
            raise TypeError(f"{name} must be callable, got {type(f).__name__}")
    if stop is not None and (evaluate is None or eval_every is None):
        raise ValueError("stop is checked after evaluations: give evaluate, eval_every")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
    next_batch, dev = _batch_source(batches), _device(device)
    params = [p for p in model.to(dev).parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    opt = optimizer or torch.optim.Adam(params, lr=lr)
    sched = _Schedule(opt, lr_schedule)
    hist, keys = History(), []
    show = progress and os.environ.get("RNNVIZ_PROGRESS", "1") != "0"
    bar = tqdm(range(1, steps + 1), disable=not show, desc=desc, unit="step")
    start, cpu_start = time.perf_counter(), time.process_time()

    def run_eval(step: int) -> None:
        result = evaluate(model.eval())
        model.train()
        values = dict(result) if isinstance(result, Mapping) else {"loss": result}
        if keys and sorted(values) != keys:
            raise ValueError(f"evaluate returned {sorted(values)}, before {keys}")
        keys[:] = sorted(values)
        for k, v in values.items():
            out = hist.val_loss if k == "loss" else hist.metrics.setdefault(k, [])
            out.append(float(v))
        hist.eval_step.append(step)
        hist.eval_seconds.append(time.perf_counter() - start)
        if hist.val_loss:
            bar.set_postfix(val_loss=f"{hist.val_loss[-1]:.4f}")

    def diverged(what: str, value: float, step: int) -> DivergedError:
        return DivergedError(
            f"{what} became {value:.4g} at step {step}; "
            "clip the gradient or lower the learning rate",
            step,
            hist,
        )

    try:
        with seeded(seed):
            model.train()
            if eval_at_start and evaluate is not None:
                run_eval(0)
            for step in bar:
                loss = loss_fn(model, _to_device(next_batch(step), dev))
                if not isinstance(loss, Tensor) or loss.numel() != 1:
                    raise TypeError(
                        f"loss_fn must return a scalar tensor, got {loss!r}"
                    )
                value = loss.item()
                if not math.isfinite(value):
                    raise diverged("training loss", value, step)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if on_gradient is not None:
                    grads = [p.grad.flatten() for p in params if p.grad is not None]
                    on_gradient(step, torch.cat(grads))  # (P,)
                norm = clip_gradients(params, clip, clip_mode)
                if not math.isfinite(norm):
                    raise diverged("gradient norm", norm, step)
                sched(step)
                opt.step()
                hist.step.append(step)
                hist.train_loss.append(value)
                hist.grad_norm.append(norm)
                hist.seconds.append(time.perf_counter() - start)
                if evaluate is not None and eval_every and step % eval_every == 0:
                    run_eval(step)
                    if stop is not None and stop(hist):
                        break
                if time_budget is not None and hist.seconds[-1] >= time_budget:
                    break
            if evaluate is not None and hist.eval_step[-1:] != hist.step[-1:]:
                run_eval(hist.step[-1])
    finally:
        bar.close()
        hist.cpu_seconds = time.process_time() - cpu_start
        model.eval()
    return hist


def _next_char_loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
    x, y = batch  # (B, T) each
    logits, _ = model(x)  # (B, T, V)
    return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())


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
    device: str | torch.device = "cpu",
) -> History:
    """Train ``model`` on random windows of ``train_ids`` with Adam and norm clipping.

    Held-out loss on ``valid_ids`` is measured every ``eval_every`` steps and at
    the end. ``time_budget`` (seconds) stops training early. ``lr_schedule``,
    a function step -> factor (e.g. :func:`cosine_schedule`), scales the
    learning rate at every step. Windows and dropout masks are drawn from
    ``seed``; the global random state is left as it was. See :func:`fit`.
    """
    check_stream("train_ids", train_ids)
    if valid_ids is not None:
        check_stream("valid_ids", valid_ids)
    for name, v in (("batch_size", batch_size), ("seq_len", seq_len)):
        positive_int(name, v)
    gen = torch.Generator().manual_seed(seed)
    return fit(
        model,
        lambda step: random_windows(train_ids, batch_size, seq_len, gen),
        _next_char_loss,
        steps=steps,
        lr=lr,
        optimizer=optimizer,
        lr_schedule=lr_schedule,
        clip=clip,
        evaluate=None
        if valid_ids is None
        else partial(evaluate, ids=valid_ids, batch_size=eval_batch_size),
        eval_every=positive_int("eval_every", eval_every),
        time_budget=time_budget,
        seed=seed,
        progress=progress,
        device=device,
    )
