"""Images as sequences: a recurrent classifier reads scikit-learn's 8x8 digits by row.

The digits ship with scikit-learn (``sklearn.datasets.load_digits``: 1,797
greyscale images of the digits 0-9, 8 x 8 pixels with values 0-16), so
nothing is downloaded. An image becomes a sequence in one of three ways
(:func:`as_sequence`):

* ``"rows"``: 8 steps, each the 8 pixels of one row, top to bottom;
* ``"columns"``: 8 steps, each one column, left to right;
* ``"pixels"``: 64 steps of one pixel each, row after row (the
  pixel-by-pixel reading of Le et al. 2015, on a much smaller image).

:class:`SequenceReader` (a fused ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and a
linear head) scores the ten classes after *every* step, so its prediction
can be read before the image is finished; :func:`fit` trains it on the
last step only (``anytime=False``) or on every step (``anytime=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from rnnviz._checks import int_at_least, positive_int, seeded
from rnnviz.train import History
from rnnviz.train import fit as train_loop

READINGS = ("rows", "columns", "pixels")
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
NUM_CLASSES = 10


@dataclass(frozen=True)
class Digits:
    """A seeded split of the digits: images (N, 8, 8) in [0, 1], labels (N,) int64."""

    train_images: Tensor  # (N_train, 8, 8)
    train_labels: Tensor  # (N_train,)
    test_images: Tensor  # (N_test, 8, 8)
    test_labels: Tensor  # (N_test,)
    train_index: np.ndarray  # positions in load_digits() order
    test_index: np.ndarray

    def majority_accuracy(self) -> float:
        """Held-out accuracy of always answering the most common training label."""
        majority = int(
            torch.bincount(self.train_labels, minlength=NUM_CLASSES).argmax()
        )
        return float((self.test_labels == majority).float().mean())


def load_digits_split(test_fraction: float = 0.25, seed: int = 0) -> Digits:
    """The 1,797 digits split at random (seeded) into training and held-out images;
    no overlap."""
    from sklearn.datasets import (
        load_digits,
    )  # imported here: only this function needs scikit-learn

    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, (int, float))
        or not 0 < test_fraction < 1
    ):
        raise ValueError(
            f"test_fraction must be a number in (0, 1), got {test_fraction!r}"
        )
    d = load_digits()
    images = (
        torch.tensor(d.images, dtype=torch.float32) / 16.0
    )  # (1797, 8, 8), pixel values 0..16
    labels = torch.tensor(d.target, dtype=torch.int64)  # (1797,)
    n = len(labels)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    n_test = int(round(test_fraction * n))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return Digits(images[train], labels[train], images[test], labels[test], train, test)


def _check_images(images: object) -> Tensor:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 3 or images.shape[0] == 0:
        raise ValueError(
            "images must have shape (N, height, width) with N >= 1, "
            f"got {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point, got dtype {images.dtype}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    return images


def as_sequence(images: Tensor, reading: str = "rows") -> Tensor:
    """Images (N, H, W) -> sequences (N, T, D): rows (N, H, W), columns (N, W, H) or
    pixels (N, H*W, 1).

    Always a new tensor: the images are never changed through it.
    """
    images = _check_images(images)
    if reading == "rows":
        return images.clone()
    if reading == "columns":
        return images.transpose(1, 2).contiguous()  # step t = column t
    if reading == "pixels":
        return images.reshape(images.shape[0], -1, 1).clone()  # row after row
    raise ValueError(f"reading must be one of {READINGS}, got {reading!r}")


class SequenceReader(nn.Module):
    """``nn.RNN``/``nn.LSTM``/``nn.GRU`` (batch_first), a linear head at every step.

    ``forward(x (B, T, D)) -> logits (B, T, C)``: ``logits[:, t]`` is the
    prediction after reading steps ``0..t``; ``logits[:, -1]`` the final one.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 64,
        cell: str = "gru",
        num_classes: int = NUM_CLASSES,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.input_size = positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        int_at_least("num_classes", num_classes, 2)
        self.cell = cell
        with seeded(seed):
            self.rnn = CELLS[cell](input_size, hidden_size, batch_first=True)
            self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Class scores after every step: x (B, T, I) -> logits (B, T, classes)."""
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[-1] != self.input_size:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"x must have shape (B, T, {self.input_size}), got {shape}"
            )
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out)  # (B, T, C)


def _check_pair(model: SequenceReader, x: Tensor, y: Tensor) -> None:
    if not isinstance(model, SequenceReader):
        raise TypeError(f"model must be a SequenceReader, got {type(model).__name__}")
    if not isinstance(y, Tensor) or y.dim() != 1 or y.dtype != torch.int64:
        raise ValueError("labels must be a 1-D int64 tensor")
    if not isinstance(x, Tensor) or x.dim() != 3 or len(x) != len(y):
        raise ValueError(
            f"x must be (N, T, D) with N = {len(y)} labels, got "
            f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}"
        )


def fit(
    model: SequenceReader,
    x: Tensor,
    y: Tensor,
    *,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-2,
    clip: float | None = 1.0,
    anytime: bool = False,
    seed: int = 0,
) -> History:
    """Train ``model`` in place with Adam on random minibatches of x (N, T, D), y (N,).

    The loss is the cross-entropy of the last step's prediction, or with
    ``anytime`` the mean over all steps. Minibatches come from ``seed``.
    Returns the :class:`~rnnviz.train.History` (``train_loss`` per step); the
    model is left in eval mode. See :func:`rnnviz.train.fit`.
    """
    _check_pair(model, x, y)
    size = min(positive_int("batch_size", batch_size), len(y))
    gen = torch.Generator().manual_seed(seed)

    def batch(step: int) -> tuple[Tensor, Tensor]:
        idx = torch.randint(0, len(y), (size,), generator=gen)  # (B,)
        return x[idx], y[idx]

    def loss(m: SequenceReader, b: tuple[Tensor, Tensor]) -> Tensor:
        xb, yb = b
        logits = m(xb)  # (B, T, C)
        if anytime:
            T = logits.shape[1]
            return nn.functional.cross_entropy(
                logits.flatten(0, 1), yb.repeat_interleave(T)
            )
        return nn.functional.cross_entropy(logits[:, -1], yb)

    return train_loop(model, batch, loss, steps=steps, lr=lr, clip=clip, seed=seed)


@torch.no_grad()
def stepwise_probs(model: SequenceReader, x: Tensor) -> Tensor:
    """Class probabilities after every step: x (N, T, D) -> (N, T, C)."""
    was_training = model.training
    model.eval()
    try:
        return torch.softmax(model(x), dim=-1)
    finally:
        model.train(was_training)


def accuracy(model: SequenceReader, x: Tensor, y: Tensor) -> np.ndarray:
    """Accuracy after every step, shape (T,); the last entry is the accuracy of the
    whole sequence."""
    _check_pair(model, x, y)
    p = stepwise_probs(model, x)  # (N, T, C)
    return (p.argmax(-1) == y[:, None]).float().mean(0).numpy()
