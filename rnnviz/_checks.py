"""The small helpers every module shares: argument checks and a seeded RNG scope.

Each check returns the value it accepted (an integer as a Python ``int``, so a
numpy integer passes too), so a caller can write
``steps = positive_int("steps", steps)``, and raises a ``ValueError`` that
names the argument and what it got.

>>> positive_int("steps", 3)
3
>>> positive_int("steps", True)
Traceback (most recent call last):
...
ValueError: steps must be a positive int, got True
>>> with seeded(0):
...     a = torch.rand(2)
>>> with seeded(0):
...     b = torch.rand(2)
>>> bool((a == b).all())
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def _is_int(value: object) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(name: str, value: object) -> int:
    """``value`` as an int if it is an integer >= 1 (not a bool)."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def nonnegative_int(name: str, value: object) -> int:
    """``value`` as an int if it is an integer >= 0 (not a bool)."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def int_at_least(name: str, value: object, minimum: int) -> int:
    """``value`` as an int if it is an integer >= ``minimum`` (not a bool)."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def positive_float(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number > 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def optional_positive(name: str, value: object) -> float | None:
    """``None``, or ``value`` as a float if it is a number > 0 (``inf`` allowed)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be positive or None, got {value!r}")
    return float(value)


def probability(name: str, value: object) -> float:
    """``value`` as a float if it is a number in [0, 1)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with torch's global CPU generator seeded by ``seed``.

    The global random state is restored afterwards, so the block's draws
    (initial weights, dropout masks) depend on ``seed`` only and the caller's
    random stream is left as it was. ``seed=None`` forks without seeding.
    """
    if seed is not None and not _is_int(seed):
        raise ValueError(f"seed must be an int or None, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        yield
