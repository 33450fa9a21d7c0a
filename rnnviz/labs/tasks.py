"""Synthetic long-range memory tasks and small models that learn them.

DESIGN.md places the synthetic tasks in ``data.py``; they live here instead
because ``data.py`` (owned by the corpus and batching work) is near its size
limit and these tasks are a separate concern: fixed-length synthetic
sequences with known answers, not text.

* :func:`adding_problem` (Hochreiter and Schmidhuber 1997, in the form of
  Le et al. 2015): two input channels, values uniform in [0, 1) and a marker
  channel with exactly two ones, one in each half of the sequence; the target
  is the sum of the two marked values. Always predicting 1 costs an expected
  squared error of Var(a + b) = 2/12 = 1/6 (``ADDING_BASELINE_MSE``).
* :func:`copy_task` (delayed recall): ``n_symbols`` random symbols, a delay
  of blanks or random distractors, a "go" marker, then the model must emit
  the symbols in order.
* :class:`SeqModel`: a fused ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and a linear
  head, with the initialisations the literature recommends (forget-gate
  bias, orthogonal or identity recurrent weights).
* :func:`fit`: short, deterministic training through
  :func:`rnnviz.train.fit`, returning its :class:`~rnnviz.train.History`
  with held-out scores (no plotting).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnviz._checks import int_at_least, nonnegative_int, positive_int, seeded
from rnnviz.train import History
from rnnviz.train import fit as train_loop

ADDING_BASELINE_MSE = 1.0 / 6.0  # E[(a + b - 1)^2] for a, b ~ U(0, 1) independent
NO_TARGET = -100  # target id of steps without a target (cross_entropy's ignore_index)
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES_PER_CELL = {"rnn": 1, "lstm": 4, "gru": 3}
TASKS = ("adding", "copy")


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    return generator


def adding_problem(
    length: int, batch_size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """A batch of the adding problem.

    Returns ``x`` of shape (B, T, 2) (channel 0: values in [0, 1); channel 1:
    markers, exactly one 1 in each half) and ``y`` of shape (B,), the sum of
    the two marked values.
    """
    int_at_least("length", length, 2)
    positive_int("batch_size", batch_size)
    _check_generator(generator)
    half = length // 2
    values = torch.rand(batch_size, length, generator=generator)  # (B, T)
    first = torch.randint(0, half, (batch_size,), generator=generator)  # (B,)
    second = torch.randint(half, length, (batch_size,), generator=generator)  # (B,)
    markers = torch.zeros(batch_size, length)  # (B, T)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]  # (B,)
    return torch.stack([values, markers], dim=2), y


def copy_task(
    length: int,
    batch_size: int,
    generator: torch.Generator,
    n_symbols: int = 5,
    alphabet: int = 8,
    distractors: int = 0,
) -> tuple[Tensor, Tensor]:
    """A batch of the copy (delayed-recall) task, one-hot encoded.

    Layout of one sequence of ``length`` T with K = ``n_symbols``::

        step:    0 .. K-1 | K .. T-K-2       | T-K-1 | T-K .. T-1
        input:   symbols  | blank/distractor | go    | blank
        target:  none     | none             | none  | the K symbols, in order

    Symbols are ids ``0 .. alphabet-1``, blank is ``alphabet``, go is
    ``alphabet + 1``. With ``distractors = D > 0`` the delay is filled with
    ids drawn uniformly from ``alphabet + 2 .. alphabet + 1 + D`` instead of
    blanks (the noisy version of Hochreiter and Schmidhuber 1997). Every symbol
    must be held for exactly T - K steps.

    Returns ``x`` (B, T, alphabet + 2 + D) float one-hot and ``y`` (B, T)
    int64: the symbol ids at the last K steps and ``NO_TARGET`` elsewhere
    (the head has ``alphabet`` outputs).
    """
    positive_int("n_symbols", n_symbols)
    int_at_least("alphabet", alphabet, 2)
    nonnegative_int("distractors", distractors)
    if (
        isinstance(length, bool)
        or not isinstance(length, int)
        or length < 2 * n_symbols + 1
    ):
        raise ValueError(
            f"length must be an int >= 2 * n_symbols + 1 = {2 * n_symbols + 1}, "
            f"got {length!r}"
        )
    positive_int("batch_size", batch_size)
    _check_generator(generator)
    blank, go = alphabet, alphabet + 1
    symbols = torch.randint(
        0, alphabet, (batch_size, n_symbols), generator=generator
    )  # (B, K)
    ids = torch.full((batch_size, length), blank, dtype=torch.long)  # (B, T)
    ids[:, :n_symbols] = symbols
    delay = slice(n_symbols, length - n_symbols - 1)
    if distractors:
        n_delay = length - 2 * n_symbols - 1
        ids[:, delay] = (
            alphabet
            + 2
            + torch.randint(0, distractors, (batch_size, n_delay), generator=generator)
        )
    ids[:, length - n_symbols - 1] = go
    y = torch.full((batch_size, length), NO_TARGET, dtype=torch.long)  # (B, T)
    y[:, length - n_symbols :] = symbols
    return nn.functional.one_hot(ids, alphabet + 2 + distractors).float(), y


def make_batch(
    task: str, length: int, batch_size: int, generator: torch.Generator, **kwargs: int
) -> tuple[Tensor, Tensor]:
    """Dispatch to :func:`adding_problem` or :func:`copy_task` by name."""
    if task == "adding":
        if kwargs:
            raise ValueError(
                f"the adding problem takes no options, got {sorted(kwargs)}"
            )
        return adding_problem(length, batch_size, generator)
    if task == "copy":
        return copy_task(length, batch_size, generator, **kwargs)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


class SeqModel(nn.Module):
    """A fused recurrent layer (batch first) and a linear head.

    ``forward(x (B, T, I))`` returns (B, O) from the last step when
    ``readout="last"`` (many-to-one, the adding problem) and (B, T, O) when
    ``readout="all"`` (many-to-many, the copy task).

    Initialisation, applied after torch's default
    (uniform in +-1/sqrt(H)), drawn from ``seed`` without touching the global
    random state:

    * ``init="orthogonal"``: each gate's (H, H) block of ``weight_hh`` is a
      random orthogonal matrix (all singular values 1, as Saxe et al. 2014
      proposed for deep linear networks);
    * ``init="identity"`` (plain RNN only, the IRNN of Le et al. 2015 when
      ``nonlinearity="relu"``): ``weight_hh = I`` and both biases zero;
    * ``forget_bias`` (LSTM only): the forget-gate rows ``H:2H`` of
      ``bias_ih`` are set to ``forget_bias`` and those of ``bias_hh`` to 0, so
      the effective forget bias ``b_if + b_hf`` is exactly ``forget_bias``.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        forget_bias: float | None = None,
        init: str = "default",
        seed: int = 0,
        readout: str = "last",
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        for name, v in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("output_size", output_size),
        ):
            positive_int(name, v)
        if init not in ("default", "orthogonal", "identity"):
            raise ValueError(
                f"init must be 'default', 'orthogonal' or 'identity', got {init!r}"
            )
        if init == "identity" and cell != "rnn":
            raise ValueError(
                "init='identity' is defined for the plain RNN (Le et al. 2015), "
                f"not for {cell!r}"
            )
        if forget_bias is not None and cell != "lstm":
            raise ValueError(
                "forget_bias needs an LSTM (the only cell with a forget gate), "
                f"got cell={cell!r}"
            )
        if forget_bias is not None and not math.isfinite(forget_bias):
            raise ValueError(f"forget_bias must be finite, got {forget_bias!r}")
        if readout not in ("last", "all"):
            raise ValueError(f"readout must be 'last' or 'all', got {readout!r}")
        if nonlinearity not in ("tanh", "relu") or (
            nonlinearity != "tanh" and cell != "rnn"
        ):
            raise ValueError(
                "nonlinearity must be 'tanh' or 'relu' (the latter for the plain "
                f"RNN only), got {nonlinearity!r} for cell={cell!r}"
            )
        self.cell, self.readout, self.hidden_size = cell, readout, hidden_size
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        gen = torch.Generator().manual_seed(seed)
        with seeded(seed):
            self.rnn = CELLS[cell](input_size, hidden_size, batch_first=True, **extra)
            self.head = nn.Linear(hidden_size, output_size)
        H = hidden_size
        with torch.no_grad():
            if init == "orthogonal":
                for k in range(GATES_PER_CELL[cell]):
                    nn.init.orthogonal_(
                        self.rnn.weight_hh_l0[k * H : (k + 1) * H], generator=gen
                    )
            elif init == "identity":
                self.rnn.weight_hh_l0.copy_(torch.eye(H))
                self.rnn.bias_ih_l0.zero_()
                self.rnn.bias_hh_l0.zero_()
            if forget_bias is not None:
                self.rnn.bias_ih_l0[H : 2 * H] = forget_bias
                self.rnn.bias_hh_l0[H : 2 * H] = 0.0

    def forward(self, x: Tensor) -> Tensor:
        """Predictions for x (B, T, I): (B, O) read at the last step, or (B, T, O)."""
        if (
            not isinstance(x, Tensor)
            or x.dim() != 3
            or x.shape[2] != self.rnn.input_size
        ):
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"x must have shape (B, T, {self.rnn.input_size}), got {shape}"
            )
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or infinite values")
        out, _ = self.rnn(x)  # (B, T, H)
        if self.readout == "last":
            return self.head(out[:, -1])  # (B, O)
        return self.head(out)  # (B, T, O)


def task_loss(task: str, out: Tensor, y: Tensor) -> Tensor:
    """Training loss. Adding: MSE of the last-step prediction, ``out`` (B, 1) and
    ``y`` (B,). Copy: cross-entropy over the steps that have a target (the K
    recall steps), ``out`` (B, T, C) and ``y`` (B, T) with ``NO_TARGET`` elsewhere."""
    if task == "adding":
        return nn.functional.mse_loss(out[:, 0], y)
    if task == "copy":
        return nn.functional.cross_entropy(
            out.flatten(0, 1), y.flatten(), ignore_index=NO_TARGET
        )
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


@torch.no_grad()
def score(task: str, model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
    """``(loss, score)`` of ``model`` on a held-out batch ``(x, y)``.

    Adding: the MSE, twice. Copy: the cross-entropy and the recall accuracy,
    the fraction of target steps whose most likely output is the right symbol.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    loss = float(task_loss(task, out, y))
    if task == "adding":
        return loss, loss
    has_target = y != NO_TARGET  # (B, T)
    correct = out.argmax(-1)[has_target] == y[has_target]  # (number of target steps,)
    return loss, float(correct.float().mean())


def _reached(task: str, value: float, target: float) -> bool:
    return value <= target if task == "adding" else value >= target


def fit(
    model: nn.Module,
    task: str,
    length: int,
    *,
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 1e-2,
    clip: float | None = 1.0,
    seed: int = 0,
    valid: tuple[Tensor, Tensor] | None = None,
    eval_every: int = 100,
    task_options: dict[str, int] | None = None,
    stop_at: float | None = None,
) -> History:
    """Train ``model`` on fresh batches of ``task`` with Adam and norm clipping.

    Batches are drawn from ``torch.Generator().manual_seed(seed)``; ``valid`` is
    a held-out ``(x, y)`` batch (draw it from another generator), scored every
    ``eval_every`` steps and at the end: :func:`score`'s loss goes to
    ``History.val_loss``, its score to ``History.metrics["score"]``.
    Deterministic for a seed; the global random state is left as it was.
    ``stop_at`` ends training at the first evaluation whose held-out score
    reaches it (MSE at or below it for the adding problem, recall accuracy at
    or above it for the copy task). See :func:`rnnviz.train.fit`.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    positive_int("batch_size", batch_size)
    if stop_at is not None and valid is None:
        raise ValueError("stop_at needs a held-out valid batch to score")
    options = dict(task_options or {})
    gen = torch.Generator().manual_seed(seed)

    def evaluate(m: nn.Module) -> dict[str, float]:
        loss, s = score(task, m, *valid)
        return {"loss": loss, "score": s}

    def reached(h: History) -> bool:
        return _reached(task, h.metrics["score"][-1], stop_at)

    return train_loop(
        model,
        lambda step: make_batch(task, length, batch_size, gen, **options),
        lambda m, batch: task_loss(task, m(batch[0]), batch[1]),
        steps=steps,
        lr=lr,
        clip=clip,
        evaluate=None if valid is None else evaluate,
        eval_every=eval_every,
        stop=None if stop_at is None else reached,
        seed=seed,
    )
