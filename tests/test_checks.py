"""rnnviz._checks: what each argument check accepts and rejects, and seeded()."""

import math

import numpy as np
import pytest
import torch

from rnnviz._checks import (
    nonnegative_int,
    optional_positive,
    positive_float,
    positive_int,
    probability,
    seeded,
)


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(2)])
def test_positive_int_accepts_python_and_numpy_ints(value):
    got = positive_int("steps", value)
    assert got == value and type(got) is int


@pytest.mark.parametrize("value", [0, -1, True, False, 2.0, "3", None, np.float64(2)])
def test_positive_int_names_the_argument_and_the_value(value):
    with pytest.raises(ValueError, match=r"steps must be a positive int, got "):
        positive_int("steps", value)


def test_nonnegative_int():
    assert (
        nonnegative_int("n", 0) == 0 and type(nonnegative_int("n", np.int32(4))) is int
    )
    for bad in (-1, True, 1.5, None):
        with pytest.raises(ValueError, match=r"n must be an int >= 0, got"):
            nonnegative_int("n", bad)


def test_float_checks():
    assert positive_float("lr", 1) == 1.0 and type(positive_float("lr", 1)) is float
    for bad in (0, -1.0, math.inf, math.nan, True, "1"):
        with pytest.raises(ValueError, match="lr must be a finite number > 0"):
            positive_float("lr", bad)
    assert optional_positive("clip", None) is None
    assert optional_positive("clip", math.inf) == math.inf
    for bad in (0, -2, False, "x"):
        with pytest.raises(ValueError, match="clip must be positive or None"):
            optional_positive("clip", bad)
    assert probability("p", 0) == 0.0 and probability("p", 0.5) == 0.5
    for bad in (1, 1.0, -0.1, True, None):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
            probability("p", bad)


def test_seeded_draws_what_manual_seed_draws_and_restores_the_stream():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        reference = torch.rand(3)
    torch.manual_seed(123)
    expected_next = torch.rand(2)
    torch.manual_seed(123)
    with seeded(5):
        inside = torch.rand(3)
    with seeded(np.int64(5)):
        again = torch.rand(3)
    torch.testing.assert_close(inside, reference, rtol=0, atol=0)
    torch.testing.assert_close(again, reference, rtol=0, atol=0)
    # the caller's stream goes on as if the blocks had not run
    torch.testing.assert_close(torch.rand(2), expected_next, rtol=0, atol=0)


def test_seeded_none_forks_without_seeding():
    torch.manual_seed(9)
    expected = torch.rand(4)
    torch.manual_seed(9)
    with seeded(None):
        inside = torch.rand(4)
    torch.testing.assert_close(inside, expected, rtol=0, atol=0)  # not reseeded
    torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)  # restored


@pytest.mark.parametrize("seed", [1.0, "0", True])
def test_seeded_rejects_a_seed_that_is_not_an_int(seed):
    with pytest.raises(ValueError, match="seed must be an int or None"):
        with seeded(seed):
            pass
