"""The linear recurrence ``h_t = a_t * h_{t-1} + b_t`` computed four ways.

A linear recurrence whose coefficients ``a_t, b_t`` do not depend on ``h`` is a
prefix scan with the associative operator

    (a1, b1) o (a2, b2) = (a1 * a2, a2 * b1 + b2)     # first (a1, b1), then (a2, b2)

so it can be evaluated in O(log T) dependent steps instead of T (Blelloch 1990;
Martin and Cundy 2018). All functions take ``a, b`` of shape (B, T, ...) with time
on dimension 1, an optional initial state ``h0`` of shape (B, ...) (zero if
omitted), and return every state ``h`` of shape (B, T, ...):

- :func:`scan_sequential`: the reference, a Python loop over t (T steps);
- :func:`scan_hillis_steele`: recursive doubling, ceil(log2 T) steps, O(T log T) work;
- :func:`scan_tree`: the work-efficient up-sweep / down-sweep tree, about
  2 log2 T steps and fewer than 2T combines;
- :func:`scan_log` / :func:`scan_log_space`: Heinsen's (2023) log-space form with
  ``cumsum`` and ``logcumsumexp``; needs ``a > 0`` and ``b > 0``.

All are plain differentiable torch code: autograd gives the backward pass.
"""

from __future__ import annotations

import torch
from torch import Tensor

METHODS = ("sequential", "hillis_steele", "tree", "log")


def _check(
    a: Tensor,
    b: Tensor,
    h0: Tensor | None,
    names: tuple[str, str, str] = ("a", "b", "h0"),
) -> None:
    na, nb, nh = names
    for name, x in ((na, a), (nb, b)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"{name} must be a floating-point tensor, got dtype {x.dtype}"
            )
    if a.dim() < 2:
        raise ValueError(
            f"{na} must have shape (B, T, ...) with time on dim 1, got {tuple(a.shape)}"
        )
    if a.shape != b.shape:
        raise ValueError(
            f"{na} and {nb} must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.dtype != b.dtype:
        raise TypeError(
            f"{na} and {nb} must have the same dtype, got {a.dtype} and {b.dtype}"
        )
    if a.shape[1] == 0:
        raise ValueError(
            f"the sequence is empty: {na} has shape {tuple(a.shape)} (T = 0)"
        )
    if h0 is not None:
        if not isinstance(h0, Tensor):
            raise TypeError(
                f"{nh} must be a torch.Tensor or None, got {type(h0).__name__}"
            )
        want = (a.shape[0],) + tuple(a.shape[2:])
        if tuple(h0.shape) != want:
            raise ValueError(
                f"{nh} must have shape (B, ...) = {want}, got {tuple(h0.shape)}"
            )
        if h0.dtype != a.dtype:
            raise TypeError(f"{nh} must have dtype {a.dtype}, got {h0.dtype}")


def _fold_h0(a: Tensor, b: Tensor, h0: Tensor | None) -> Tensor:
    """b with h0 folded into its first step: b_0 + a_0 * h0 (a new tensor; the
    inputs are left untouched)."""
    if h0 is None:
        return b
    first = b[:, :1] + a[:, :1] * h0.unsqueeze(1)  # (B, 1, ...)
    return torch.cat([first, b[:, 1:]], dim=1)  # (B, T, ...)


def scan_sequential(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """Reference: ``h_t = a_t * h_{t-1} + b_t`` by a Python loop over t.
    a, b (B, T, ...) -> h (B, T, ...)."""
    _check(a, b, h0)
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0  # (B, ...)
    hs = []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1)):  # unbind, not a[:, t]: O(T) backward
        h = a_t * h + b_t  # (B, ...)
        hs.append(h)
    return torch.stack(hs, dim=1)  # (B, T, ...)


def scan_hillis_steele(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """Recursive doubling (Hillis and Steele 1986): at distance d = 1, 2, 4, ... every
    position t >= d combines with position t - d. ceil(log2 T) dependent steps,
    sum over d of (T - d) combines. a, b (B, T, ...) -> h (B, T, ...)."""
    _check(a, b, h0)
    b = _fold_h0(a, b, h0)
    T, d = a.shape[1], 1
    while d < T:
        # (A, B)[t] <- (A, B)[t - d] o (A, B)[t] for t >= d; positions t < d are
        # already final
        b = torch.cat([b[:, :d], a[:, d:] * b[:, :-d] + b[:, d:]], dim=1)
        a = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], dim=1)
        d *= 2
    return b  # (B, T, ...): b_t now holds the composition of steps 0..t applied to h0


def _tree(a: Tensor, b: Tensor) -> Tensor:
    T = a.shape[1]
    if T == 1:
        return b
    n = T // 2
    a_even, a_odd = a[:, 0 : 2 * n : 2], a[:, 1 : 2 * n : 2]  # (B, n, ...) each
    b_even, b_odd = b[:, 0 : 2 * n : 2], b[:, 1 : 2 * n : 2]
    # up-sweep: combine neighbours (2k, 2k+1) into one step of a sequence half as long
    h_odd = _tree(a_odd * a_even, a_odd * b_even + b_odd)  # (B, n, ...): t = 1, 3, ...
    # down-sweep: h at an even t > 0 is one more step from h at t - 1 (odd)
    rest = a[:, 2::2] * h_odd[:, : (T - 1) // 2] + b[:, 2::2]  # t = 2, 4, ...
    h_even = torch.cat([b[:, :1], rest], dim=1)  # (B, ceil(T/2), ...)
    # interleave: (B, 2n, ...)
    h = torch.stack([h_even[:, :n], h_odd], dim=2).flatten(1, 2)
    return torch.cat([h, h_even[:, n:]], dim=1) if T % 2 else h  # (B, T, ...)


def scan_tree(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """Work-efficient tree scan (the up-sweep / down-sweep of Blelloch 1990), written
    recursively: combine neighbouring pairs, scan the half-length sequence, fill in
    the even positions. 2 ceil(log2 T) - 1 dependent steps, fewer than 2T combines.
    a, b (B, T, ...) -> h (B, T, ...)."""
    _check(a, b, h0)
    return _tree(a, _fold_h0(a, b, h0))


def scan_log(log_a: Tensor, log_b: Tensor, log_h0: Tensor | None = None) -> Tensor:
    """Heinsen's (2023) log-space scan, as in the minGRU paper.

    With ``a*_t = sum_{s<=t} log a_s``,
    ``log h_t = a*_t + logcumsumexp_t(log b_t - a*_t)``.
    Takes the *logarithms* of positive a, b (and h0), each (B, T, ...) or (B, ...);
    returns ``log h`` (B, T, ...). ``log_h0=None`` means h0 = 0.
    """
    _check(log_a, log_b, log_h0, names=("log_a", "log_b", "log_h0"))
    if log_h0 is not None:  # h0 enters as a step 0 with a = 1 (log a = 0) and b = h0
        log_a = torch.cat([torch.zeros_like(log_a[:, :1]), log_a], dim=1)
        log_b = torch.cat([log_h0.unsqueeze(1), log_b], dim=1)
    a_star = torch.cumsum(log_a, dim=1)  # (B, T, ...)
    log_h = a_star + torch.logcumsumexp(log_b - a_star, dim=1)  # (B, T, ...)
    return log_h if log_h0 is None else log_h[:, 1:]


def scan_log_space(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """:func:`scan_log` on a, b, h0 themselves (all must be > 0):
    a, b (B, T, ...) -> h (B, T, ...)."""
    _check(a, b, h0)
    for name, x in (("a", a), ("b", b), ("h0", h0)):
        if x is not None and not bool((x > 0).all()):
            raise ValueError(
                f"the log-space scan needs {name} > 0 everywhere, "
                f"got min {float(x.min()):.3g}"
                " (use scan_tree or scan_hillis_steele for signed values)"
            )
    return torch.exp(
        scan_log(torch.log(a), torch.log(b), None if h0 is None else torch.log(h0))
    )


SCANS = {
    "sequential": scan_sequential,
    "hillis_steele": scan_hillis_steele,
    "tree": scan_tree,
    "log": scan_log_space,
}


def scan(
    a: Tensor, b: Tensor, h0: Tensor | None = None, method: str = "tree"
) -> Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` by ``method`` (one of ``METHODS``).
    a, b (B, T, ...) -> h (B, T, ...)."""
    if method not in SCANS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return SCANS[method](a, b, h0)


def scan_cost(T: int, method: str) -> tuple[int, int]:
    """(dependent steps, combines of two (a, b) pairs) of ``method`` on a sequence
    of length T.

    Counted by walking the same index pattern as the implementations above (the
    log-space scan is two library prefix sums and is not counted here). The
    sequential loop: T - 1 combines in T - 1 steps (the first step only reads b_0).

    >>> scan_cost(8, "sequential"), scan_cost(8, "hillis_steele"), scan_cost(8, "tree")
    ((7, 7), (3, 17), (5, 11))
    """
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if method == "sequential":
        return T - 1, T - 1
    if method == "hillis_steele":
        steps, ops, d = 0, 0, 1
        while d < T:
            steps, ops, d = steps + 1, ops + T - d, 2 * d
        return steps, ops
    if method == "tree":

        def walk(n: int) -> tuple[int, int]:
            if n == 1:
                return 0, 0
            s, o = walk(n // 2)
            fill = (n - 1) // 2  # even positions t > 0
            return s + 1 + (1 if fill else 0), o + n // 2 + fill

        return walk(T)
    raise ValueError(
        f"method must be 'sequential', 'hillis_steele' or 'tree', got {method!r}"
    )
