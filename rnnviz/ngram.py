"""Character n-gram language models: the baseline the neural models replaced.

An n-gram model predicts character ``w`` from the ``n - 1`` characters ``h``
before it. Three smoothings, all normalised over the whole vocabulary:

- :class:`AddK`: ``P(w | h) = (c(hw) + k) / (c(h) + k V)``, no backoff, where
  ``c(h) = sum_w c(hw)`` (an unseen context gives the uniform distribution).
- :class:`KneserNey`: interpolated Kneser-Ney (Kneser and Ney 1995, interpolated
  as in Chen and Goodman 1998) with one absolute discount ``D_m`` per order
  (the chapter shares one ``D`` among all orders, a simplification)::

      P_m(w | h) = (max(a(hw) - D_m, 0) + D_m T(h) P_{m-1}(w | h')) / a(h)

  where ``h'`` drops the first character of ``h``, ``T(h)`` is the number of
  distinct ``w`` with ``a(hw) > 0``, ``a(h) = sum_w a(hw)``, and ``P_0 = 1/V``.
  At the model's own order ``a`` is the raw count ``c``; at every lower order it
  is the continuation count ``N1+(.hw)``, the number of distinct characters seen
  before ``hw`` in training. An order whose context has ``a(h) = 0`` passes
  ``P_{m-1}`` through unchanged.
- :class:`ModifiedKneserNey`: interpolated modified Kneser-Ney (Chen and Goodman
  1998), three discounts per order, ``D(a) = D1, D2, D3+`` for ``a = 1, 2, >= 3``::

      P_m(w | h) = (a(hw) - D(a(hw))) / a(h) + gamma(h) P_{m-1}(w | h'),
      gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / a(h)

  with ``Nk(h.)`` the number of ``w`` with ``a(hw) = k`` (``>= k`` for 3+) and
  the same ``a`` as above. By default each order's discounts are the closed-form
  estimates of :func:`chen_goodman_discounts` from that order's counts of counts.

Counting is vectorised: the training text becomes ids (one
:class:`~rnnviz.data.Vocab`), each m-gram an int64 code in base V (first
character most significant), and the tables are sorted code arrays (one sort
of the text serves every order), read with ``np.searchsorted``.

Evaluation predicts every character of a held-out text but the first. Near the
start, where fewer than ``n - 1`` characters precede, a context of length L is
scored by the model of order L + 1 (same smoothing and parameters), so every
order is judged on exactly the same characters. Bits per character are the
mean of ``-log2 P``.

The models have the interface of every character model of the book,
:class:`~rnnviz.protocols.CharModel`: ``model(ids (B, T), state) -> (logits
(B, T, V), state)`` with the log-probabilities ``log P(w | h)`` as logits and
the last ``n - 1`` characters of each row as the state, so
:func:`rnnviz.sampling.generate` decodes them like the neural models.

Limitations: codes must stay below 2**63, so (V + 1)**max_n must too (70 symbols:
max_n <= 10). Counting n = 1..10 on the 4.3M training characters takes about
2 s on one core, and the tables hold about 0.65 GB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from rnnviz.corpus import Corpus, load_corpus
from rnnviz.data import Vocab, check_ids

#: The highest order :func:`baseline` counts (the codes of the corpus's 10-grams
#: fit in int64).
MAX_ORDER = 10
K_GRID = tuple(
    round(m * 10.0**e, 3) for e in range(-3, 2) for m in (1, 2, 5)
)  # 0.001 .. 50
D_GRID = tuple(
    round(0.05 * i, 2) for i in range(1, 21)
)  # Kneser-Ney: 0.05, 0.10, ..., 1.0
#: A readable name of each smoothing.
LABELS = {
    "add-k": "add-k",
    "kneser-ney": "interpolated Kneser-Ney",
    "modified-kneser-ney": "interpolated modified Kneser-Ney",
}


def _pack(ids: np.ndarray, V: int) -> int:
    """The base-V code of a sequence of ids, first id most significant (0 if empty)."""
    code = 0
    for i in ids.tolist():
        code = code * V + i
    return code


def _encode(vocab: Vocab, text: str, what: str) -> np.ndarray:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError(f"empty {what}: no characters to count or predict")
    return vocab.encode(text).numpy()  # (N,) int64; raises UnknownCharacterError


@dataclass(frozen=True)
class _Table:
    """Counts of m-grams: sorted codes, their counts, and per-context totals."""

    grams: np.ndarray  # (G,) int64 codes, sorted
    count: np.ndarray  # (G,) int64
    ctx: np.ndarray  # (H,) int64 context codes (gram // V), sorted
    ctx_total: np.ndarray  # (H,) sum of count over the context's grams
    ctx_types: np.ndarray  # (H,) number of distinct grams with that context
    ctx_once: np.ndarray  # (H,) number of them seen exactly once
    ctx_twice: np.ndarray  # (H,) number of them seen exactly twice

    @classmethod
    def build(cls, grams: np.ndarray, count: np.ndarray, V: int) -> _Table:
        ctx = grams // V
        starts = np.flatnonzero(np.r_[True, ctx[1:] != ctx[:-1]]) if len(ctx) else ctx
        total, once, twice = (
            (np.add.reduceat(x, starts) if len(ctx) else x.astype(np.int64))
            for x in (
                count,
                (count == 1).astype(np.int64),
                (count == 2).astype(np.int64),
            )
        )
        types = np.diff(np.r_[starts, len(ctx)])
        return cls(grams, count, ctx[starts], total, types, once, twice)

    def lookup(self, codes: np.ndarray, V: int) -> np.ndarray:
        """codes (P,) -> (5, P): count, context total, context types, and the
        context's types seen once and twice (0 if unseen).

        Sorted `codes` are looked up about three times faster (memory locality).
        """
        out = np.zeros((5, len(codes)), dtype=np.int64)
        ctx_values = (self.ctx_total, self.ctx_types, self.ctx_once, self.ctx_twice)
        for table, keys, values, rows in (
            (self.grams, codes, (self.count,), (0,)),
            (self.ctx, codes // V, ctx_values, (1, 2, 3, 4)),
        ):
            idx = np.minimum(np.searchsorted(table, keys), max(len(table) - 1, 0))
            found = (
                (table[idx] == keys) & (codes >= 0)
                if len(table)
                else np.zeros(len(codes), bool)
            )
            for row, v in zip(rows, values):
                out[row, found] = v[idx[found]]
        return out


class NGramCounts:
    """Raw and continuation counts of every order 1..max_n in a training text.

    >>> counts = NGramCounts("abracadabra", Vocab.from_text("abcdr"), max_n=3)
    >>> counts.count("abr"), counts.count("a"), counts.continuation_count("a")
    (2, 5, 3)
    """

    def __init__(self, text: str, vocab: Vocab, max_n: int = 7) -> None:
        if (
            isinstance(max_n, bool)
            or not isinstance(max_n, int)
            or not 1 <= max_n <= 10
        ):
            raise ValueError(f"max_n must be an int in 1..10, got {max_n!r}")
        self.vocab, self.max_n, self.V = vocab, max_n, len(vocab)
        if (self.V + 1) ** max_n >= 2**63:
            raise ValueError(
                f"max_n={max_n} is too large for {self.V} symbols: "
                "codes would overflow int64"
            )
        ids = _encode(vocab, text, "training text")
        self.num_chars = len(ids)
        self._counts_of_counts: dict[tuple[int, bool], tuple[int, ...]] = {}
        self.raw: dict[int, _Table] = {}  # order -> raw counts c
        self.cont: dict[
            int, _Table
        ] = {}  # order -> continuation counts N1+(.g), orders < max_n
        # One sort serves every order: sort the max_n-grams starting at each position
        # (digits id + 1 in base V + 1, 0 past the end), then every m-gram prefix is
        # sorted too.
        B, N = self.V + 1, len(ids)
        code = np.zeros(N, dtype=np.int64)  # (N,)
        for j in range(max_n):
            code[: N - j] += (ids[j:] + 1) * B ** (max_n - 1 - j)
        code.sort()
        first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        level, count = (
            code[first],
            np.diff(np.r_[first, N]),
        )  # distinct padded max_n-grams
        for m in range(max_n, 0, -1):
            if m < max_n:  # drop the last digit: m-gram prefixes, still sorted
                level //= B
                first = np.flatnonzero(np.r_[True, level[1:] != level[:-1]])
                level, count = level[first], np.add.reduceat(count, first)
            real = (
                level % B != 0
            )  # the m-grams that do not run past the end of the text
            digits, grams = level[real], np.zeros(int(real.sum()), dtype=np.int64)
            for k in range(
                m
            ):  # base V + 1 digits 1..V -> base V digits 0..V-1, order kept
                grams = grams * self.V + digits // B ** (m - 1 - k) % B - 1
            self.raw[m] = _Table.build(grams, count[real], self.V)
        for m in range(1, max_n):  # distinct (m+1)-grams, by their last m characters
            suffix = self.raw[m + 1].grams % self.V**m
            self.cont[m] = _Table.build(*np.unique(suffix, return_counts=True), self.V)

    def _code(self, gram: str) -> int:
        ids = _encode(self.vocab, gram, "n-gram")
        if len(ids) > self.max_n:
            raise ValueError(f"{gram!r} is longer than max_n={self.max_n}")
        return _pack(ids, self.V)

    def count(self, gram: str) -> int:
        """How often `gram` occurs in the training text."""
        return int(
            self.raw[len(gram)].lookup(np.array([self._code(gram)]), self.V)[0, 0]
        )

    def continuation_count(self, gram: str) -> int:
        """N1+(.gram): how many distinct characters precede `gram` in training."""
        if len(gram) >= self.max_n:
            raise ValueError(
                f"continuation counts exist for lengths < max_n={self.max_n}"
            )
        return int(
            self.cont[len(gram)].lookup(np.array([self._code(gram)]), self.V)[0, 0]
        )

    def next_counts(self, context: str) -> np.ndarray:
        """(V,) raw counts of each character after `context` (may be empty)."""
        if len(context) >= self.max_n:
            raise ValueError(f"context must be shorter than max_n={self.max_n}")
        return self._query_context(context).raw[len(context) + 1][0]

    def distinct(self, n: int, times: int | None = None) -> int:
        """Number of distinct n-grams in the training text.

        With `times`: only those seen exactly that often.
        """
        return (
            len(self.raw[n].grams)
            if times is None
            else int(np.sum(self.raw[n].count == times))
        )

    def counts_of_counts(
        self, m: int, continuation: bool = False
    ) -> tuple[int, int, int, int]:
        """(n1, n2, n3, n4): how many distinct m-grams have count 1, 2, 3 and 4.

        With `continuation`, of the continuation counts N1+(.g) instead of the raw
        counts (orders m < max_n), the counts the lower orders of Kneser-Ney use.
        """
        tables = self.cont if continuation else self.raw
        if m not in tables:
            raise ValueError(
                f"no {'continuation' if continuation else 'raw'} counts of order {m}"
            )
        key = (m, bool(continuation))
        if key not in self._counts_of_counts:  # cached: models ask on every query
            c = tables[m].count
            self._counts_of_counts[key] = tuple(
                int(np.sum(c == k)) for k in range(1, 5)
            )
        return self._counts_of_counts[key]

    def _query_context(self, context: str) -> HeldOut:
        """Lookups of (context[-m+1:], w) for every w and order m, as a HeldOut."""
        ids = (
            _encode(self.vocab, context, "context")
            if context
            else np.zeros(0, np.int64)
        )
        if len(ids) >= self.max_n:
            ids = ids[len(ids) - self.max_n + 1 :]
        words = np.arange(self.V)
        raw, cont = {}, {}
        for m in range(1, len(ids) + 2):
            h = ids[len(ids) - m + 1 :]
            codes = (
                _pack(h, self.V) * self.V + words
            )  # (V,) codes of (h, w) for every w
            raw[m] = self.raw[m].lookup(codes, self.V)  # (5, V)
            if m < self.max_n:
                cont[m] = self.cont[m].lookup(codes, self.V)
        return HeldOut(self, ids, np.full(self.V, len(ids) + 1), raw, cont)

    def held_out(self, text: str) -> HeldOut:
        """Look up every n-gram of `text` once, for fast scoring of many models."""
        y = _encode(self.vocab, text, "held-out text")
        if len(y) < 2:
            raise ValueError(
                "held-out text needs at least 2 characters "
                "(the first is never predicted)"
            )
        P = len(y) - 1
        codes = (
            y.copy()
        )  # codes[i]: the m-gram ending at i, -1 where it would start before 0
        raw, cont = {}, {}
        for m in range(1, self.max_n + 1):
            if m > 1:
                codes = np.r_[
                    -1, np.where(codes[:-1] >= 0, codes[:-1] * self.V + y[1:], -1)
                ]
            order = np.argsort(codes[1:])  # look up sorted keys, then put them back
            keys = codes[1:][order]
            raw[m] = np.empty((5, P), dtype=np.int64)
            raw[m][:, order] = self.raw[m].lookup(keys, self.V)  # (5, P)
            if m < self.max_n:
                cont[m] = np.empty((5, P), dtype=np.int64)
                cont[m][:, order] = self.cont[m].lookup(keys, self.V)
        return HeldOut(self, y, np.arange(2, P + 2), raw, cont)


@dataclass(frozen=True)
class HeldOut:
    """Counts looked up for every predicted position of a held-out text."""

    counts: NGramCounts
    ids: np.ndarray  # (N,) the text's ids
    avail: (
        np.ndarray
    )  # (P,) highest usable order at each position (1 + characters before it)
    #: order -> (5, P) count, context total, context types, and the context's
    #: types seen once and twice (as ``_Table.lookup`` returns them)
    raw: dict = field(repr=False)
    #: order -> (5, P), the same of the continuation counts, orders < max_n
    cont: dict = field(repr=False)

    def __len__(self) -> int:
        return len(self.avail)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, bool
    )


def _order_tables(held: HeldOut, top: np.ndarray, m: int) -> np.ndarray:
    """(5, P) float copy at order m: a(hw), a(h), T(h), N1(h.), N2(h.).

    Continuation counts, except raw counts where m is the model's own order
    (`top`, the order used at each position).
    """
    t = (held.cont[m] if m in held.cont else held.raw[m]).astype(float)  # a copy
    own = np.flatnonzero(top == m)  # the model's own order: raw counts
    t[:, own] = held.raw[m][:, own]
    return t


@dataclass(frozen=True)
class _Model:
    counts: NGramCounts
    n: int

    def __post_init__(self) -> None:
        n = self.n
        if (
            isinstance(n, bool)
            or not isinstance(n, int)
            or not 1 <= n <= self.counts.max_n
        ):
            raise ValueError(
                f"n must be an int in 1..{self.counts.max_n} (the counts' max_n), "
                f"got {n!r}"
            )

    def _prepare(self, held: HeldOut) -> tuple:
        """The parameter-free part of the computation, for every query (P,)."""
        raise NotImplementedError

    def _evaluate(self, prepared: tuple) -> np.ndarray:
        """(P,) probabilities from `_prepare`'s output and this model's parameter."""
        raise NotImplementedError

    def _probs(self, held: HeldOut) -> np.ndarray:
        return self._evaluate(self._prepare(held))

    def next_probs(self, context: str) -> np.ndarray:
        """(V,) distribution of the character after `context` (its last n-1 count)."""
        return self._probs(
            self.counts._query_context(context[max(0, len(context) - self.n + 1) :])
        )

    @property
    def vocab(self) -> Vocab:
        """The vocabulary of the counts."""
        return self.counts.vocab

    @property
    def vocab_size(self) -> int:
        return self.counts.V

    def forward(
        self, ids: Tensor, state: tuple[str, ...] | None = None
    ) -> tuple[Tensor, tuple[str, ...]]:
        """The character-model interface: ids (B, T) -> (log P (B, T, V), state).

        ``logits[b, t]`` is ``log next_probs(context)`` (float64) after the
        characters of row ``b`` up to ``t``, preceded by ``state[b]``, the
        row's last ``n - 1`` characters of an earlier call (``None``: no
        earlier text). Returns the new state.
        """
        ids = check_ids(ids, self.counts.V)
        B, _ = ids.shape
        past = ("",) * B if state is None else state
        if (
            not isinstance(past, tuple)
            or len(past) != B
            or not all(isinstance(h, str) for h in past)
        ):
            raise ValueError(
                f"state must be a tuple of {B} strings (each row's last characters), "
                f"or None; got {state!r:.80}"
            )
        chars, keep = self.counts.vocab.chars, self.n - 1
        probs = np.empty((*ids.shape, self.counts.V))  # (B, T, V)
        new = []
        for b, row in enumerate(ids.tolist()):
            h = past[b]
            for t, i in enumerate(row):
                h = (h + chars[i])[max(0, len(h) + 1 - keep) :] if keep else ""
                probs[b, t] = self.next_probs(h)
            new.append(h)
        with np.errstate(divide="ignore"):
            logits = np.log(probs)  # P = 0 -> -inf: never drawn
        return torch.from_numpy(logits), tuple(new)

    def __call__(
        self, ids: Tensor, state: tuple[str, ...] | None = None
    ) -> tuple[Tensor, tuple[str, ...]]:
        """The same as :meth:`forward`."""
        return self.forward(ids, state)

    def log2probs(self, text: str | HeldOut) -> np.ndarray:
        """(N-1,) log2 P of every character of `text` after the first."""
        held = text if isinstance(text, HeldOut) else self.counts.held_out(text)
        if held.counts is not self.counts:
            raise ValueError(
                "the HeldOut was looked up in other counts than this model's"
            )
        return np.log2(self._probs(held))

    def bpc(self, text: str | HeldOut) -> float:
        """Bits per character on `text`.

        The mean -log2 P over every character but the first.
        """
        return float(-self.log2probs(text).mean())


@dataclass(frozen=True)
class AddK(_Model):
    """Add-k smoothing on the full n-1 character context, no backoff."""

    k: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (_is_number(self.k) and math.isfinite(self.k) and self.k > 0):
            raise ValueError(f"k must be a finite number > 0, got {self.k!r}")

    def _prepare(self, held):
        top = np.minimum(self.n, held.avail)  # (P,)
        hi = int(top.max())
        c, tot = held.raw[hi][0].astype(float), held.raw[hi][1].astype(float)  # (P,)
        for m in range(1, hi):  # short contexts at the start of a text
            sel = np.flatnonzero(top == m)
            c[sel], tot[sel] = held.raw[m][0, sel], held.raw[m][1, sel]
        return c, tot

    def _evaluate(self, prepared):
        c, tot = prepared
        return (c + self.k) / (tot + self.k * self.counts.V)


@dataclass(frozen=True)
class KneserNey(_Model):
    """Interpolated Kneser-Ney; `discount` is one D for all orders or one per order."""

    discount: float | tuple[float, ...] = 0.75

    def __post_init__(self) -> None:
        super().__post_init__()
        d = self.discount
        ds = (
            (d,) * self.n
            if _is_number(d)
            else tuple(d)
            if isinstance(d, (tuple, list))
            else ()
        )
        if len(ds) != self.n or not all(_is_number(x) and 0 < x <= 1 for x in ds):
            raise ValueError(
                f"discount must be one number in (0, 1] or {self.n} of them, got {d!r}"
            )

    @property
    def discounts(self) -> tuple[float, ...]:
        """(D_1, ..., D_n)."""
        d = self.discount
        return (float(d),) * self.n if _is_number(d) else tuple(map(float, d))

    def _prepare(self, held):
        """Per order m: a(hw), 1/a(h), T(h)/a(h) and `keep` (1 where m is skipped)."""
        top = np.minimum(self.n, held.avail)  # (P,)
        terms = []
        for m in range(1, int(top.max()) + 1):
            a, tot, types = _order_tables(held, top, m)[:3]  # (P,) each
            active = (top >= m) & (tot > 0)  # else P_m = P_{m-1}
            inv = np.where(active, 1.0 / np.maximum(tot, 1.0), 0.0)
            terms.append((a, inv, types * inv, (~active).astype(float)))
        return tuple(terms)

    def _evaluate(self, prepared):
        p = np.full(len(prepared[0][0]), 1.0 / self.counts.V)  # P_0, uniform
        for (a, inv, t_inv, keep), d in zip(prepared, self.discounts):
            p = np.maximum(a - d, 0.0) * inv + (d * t_inv + keep) * p  # equation of P_m
        return p


#: The discounts of an order whose closed-form estimate is undefined or out of
#: range (KenLM's ``--discount_fallback`` values).
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def chen_goodman_discounts(
    n1: int, n2: int, n3: int, n4: int
) -> tuple[float, float, float]:
    """(D1, D2, D3+) from the counts of counts of one order (Chen and Goodman 1998).

    With ``Y = n1 / (n1 + 2 n2)``: ``D1 = 1 - 2 Y n2 / n1``, ``D2 = 2 - 3 Y n3 / n2``,
    ``D3+ = 3 - 4 Y n4 / n3``, where ``nk`` is the number of distinct grams seen
    exactly ``k`` times.

    >>> chen_goodman_discounts(10, 5, 2, 1)
    (0.5, 1.4, 2.0)
    """
    if min(n1, n2, n3) <= 0 or n4 < 0:
        raise ValueError(
            f"the estimate needs n1, n2, n3 > 0 and n4 >= 0, got {(n1, n2, n3, n4)}"
        )
    Y = n1 / (n1 + 2 * n2)
    return (1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3)


def _valid_triple(d: object) -> bool:
    return (
        isinstance(d, (tuple, list))
        and len(d) == 3
        and all(_is_number(x) and 0 < x <= k for k, x in enumerate(d, 1))
    )


@dataclass(frozen=True)
class ModifiedKneserNey(_Model):
    """Interpolated modified Kneser-Ney: three discounts D1, D2, D3+ per order.

    `discount` None (the default) takes each order's discounts from the closed form
    of :func:`chen_goodman_discounts` on that order's counts of counts (raw at the
    model's own order, continuation counts below), and :data:`FALLBACK_DISCOUNTS`
    where it is undefined or leaves (0, 1], (0, 2], (0, 3]. Otherwise one triple
    for every order, or one per order.
    """

    discount: tuple | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        d = self.discount
        if d is None or _valid_triple(d):
            return
        if not (
            isinstance(d, (tuple, list))
            and len(d) == self.n
            and all(_valid_triple(x) for x in d)
        ):
            raise ValueError(
                "discount must be None, one triple (D1, D2, D3+) with 0 < Dk <= k, "
                f"or {self.n} of them, got {d!r}"
            )

    @property
    def discounts(self) -> tuple[tuple[float, float, float], ...]:
        """((D1, D2, D3+) of order 1, ..., of order n)."""
        return tuple(self._triple(m, own=m == self.n) for m in range(1, self.n + 1))

    def _triple(self, m: int, own: bool) -> tuple[float, float, float]:
        """The discounts of order m, where m is the model's own order or a lower one.

        They differ only for estimated discounts (from raw or continuation counts);
        near the start of a text, order m < n can be the highest order available.
        """
        d = self.discount
        if d is None:
            return self.estimated(m, continuation=not own)
        return tuple(map(float, d if _valid_triple(d) else d[m - 1]))

    def estimated(
        self, m: int, continuation: bool | None = None
    ) -> tuple[float, float, float]:
        """The closed-form (D1, D2, D3+) of order m (or the fallback).

        From the counts of counts of the continuation counts (default for m < n) or
        of the raw counts (default for m = n).
        """
        cont = m < self.n if continuation is None else continuation
        try:
            d = chen_goodman_discounts(*self.counts.counts_of_counts(m, cont))
        except ValueError:
            return FALLBACK_DISCOUNTS
        return d if _valid_triple(d) else FALLBACK_DISCOUNTS

    def _prepare(self, held):
        """Per order m: a(hw), its class min(a, 3), 1/a(h), N1, N2, N3+ over a(h),
        `keep` (1 where m is skipped) and `own` (True where m is the top order)."""
        top = np.minimum(self.n, held.avail)  # (P,)
        terms = []
        for m in range(1, int(top.max()) + 1):
            a, tot, types, once, twice = _order_tables(held, top, m)  # (P,) each
            active = (top >= m) & (tot > 0)  # else P_m = P_{m-1}
            inv = np.where(active, 1.0 / np.maximum(tot, 1.0), 0.0)
            three = types - once - twice  # N3+(h.)
            cls = np.minimum(a, 3).astype(np.int64)  # 0, 1, 2 or 3 (for 3+)
            keep = (~active).astype(float)
            own = top == m
            terms.append(
                (m, a, cls, inv, once * inv, twice * inv, three * inv, keep, own)
            )
        return tuple(terms)

    def _evaluate(self, prepared):
        p = np.full(len(prepared[0][1]), 1.0 / self.counts.V)  # P_0, uniform
        for m, a, cls, inv, n1, n2, n3, keep, own in prepared:
            table = np.array(  # row 0: as a lower order, row 1: as the top order
                [(0.0, *self._triple(m, own=False)), (0.0, *self._triple(m, own=True))]
            )  # (2, 4): D(0) = 0, D1, D2, D3+
            d = table[own.astype(np.int64)]  # (P, 4) discounts at each position
            gamma = d[:, 1] * n1 + d[:, 2] * n2 + d[:, 3] * n3  # held-back mass/a(h)
            p = (a - d[np.arange(len(a)), cls]) * inv + (gamma + keep) * p
        return p


#: The smoothings by name, as :func:`make_model` and :func:`validation_table` take
#: them.
SMOOTHINGS = ("add-k", "kneser-ney", "modified-kneser-ney")


def make_model(
    counts: NGramCounts, smoothing: str, n: int, param: float | None
) -> AddK | KneserNey | ModifiedKneserNey:
    """AddK(k=param), KneserNey(discount=param) or ModifiedKneserNey(discount=param)
    by name ('add-k', 'kneser-ney' or 'modified-kneser-ney')."""
    if smoothing == "add-k":
        return AddK(counts, n, k=param)
    if smoothing == "kneser-ney":
        return KneserNey(counts, n, discount=param)
    if smoothing == "modified-kneser-ney":
        return ModifiedKneserNey(counts, n, discount=param)
    raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}")


def _grid(smoothing: str) -> tuple:
    return {"add-k": K_GRID, "kneser-ney": D_GRID}.get(smoothing, (None,))


def sweep(
    held: HeldOut, smoothing: str, n: int, grid: Sequence[float] | None = None
) -> np.ndarray:
    """Bits per character of `held` for each parameter of `grid`.

    The default grid is K_GRID (add-k), D_GRID (Kneser-Ney) or ``(None,)`` (modified
    Kneser-Ney: the closed-form discounts).
    """
    grid = _grid(smoothing) if grid is None else grid
    if not len(grid):
        raise ValueError("empty grid: give at least one parameter value")
    models = [make_model(held.counts, smoothing, n, p) for p in grid]
    prepared = models[0]._prepare(held)  # shared by the whole grid
    return np.array([-np.log2(m._evaluate(prepared)).mean() for m in models])


def tune(
    held: HeldOut, smoothing: str, n: int, grid: Sequence[float] | None = None
) -> tuple[float | None, float]:
    """(parameter, bpc): grid value with the lowest bpc on `held`, first if tied."""
    grid = _grid(smoothing) if grid is None else grid
    bpcs = sweep(held, smoothing, n, grid)
    best = int(np.argmin(bpcs))
    return (None if grid[best] is None else float(grid[best])), float(bpcs[best])


def validation_table(
    valid: HeldOut,
    orders: Sequence[int] | None = None,
    smoothings: Sequence[str] = SMOOTHINGS,
) -> dict[str, list[dict]]:
    """smoothing -> one row per n (default 1..max_n): {'n', 'param', 'bpc'}.

    Each param is tuned on `valid` (None for modified Kneser-Ney, which has none).
    """
    orders = range(1, valid.counts.max_n + 1) if orders is None else orders
    return {
        s: [dict(zip(("n", "param", "bpc"), (n, *tune(valid, s, n)))) for n in orders]
        for s in smoothings
    }


def best_of(table: dict[str, list[dict]]) -> dict:
    """The row with the lowest validation bpc of all smoothings, with its smoothing."""
    rows = [dict(row, smoothing=s) for s, rs in table.items() for row in rs]
    return min(rows, key=lambda r: (r["bpc"], r["n"]))


def baseline(corpus: Corpus | None = None, max_n: int = MAX_ORDER) -> dict:
    """The book's n-gram baseline: the configuration best on the validation plays.

    Counts come from the training plays, every order 1..max_n and every smoothing
    of :data:`SMOOTHINGS` is tuned on the validation plays, and only the winner is
    scored on the test plays. Returns plain Python values: 'smoothing', its
    'label' (as in :data:`LABELS`), 'n', 'param' (k, D, or None for modified
    Kneser-Ney, whose discounts are estimated), 'valid_bpc', 'test_bpc' and the
    whole 'table' of validation results. The default `max_n` lies beyond the
    order where validation stops improving on the book's corpus (the chapter
    checks it). Deterministic; a few seconds on one core after the corpus is
    loaded. Any object with the str attributes ``train``, ``valid``, ``test`` and
    ``text`` (all splits, for the vocabulary) can stand in for the corpus.
    """
    if corpus is None:
        corpus = load_corpus()
    counts = NGramCounts(corpus.train, Vocab.from_text(corpus.text), max_n=max_n)
    table = validation_table(counts.held_out(corpus.valid))
    best = best_of(table)
    model = make_model(counts, best["smoothing"], best["n"], best["param"])
    return {
        "smoothing": best["smoothing"],
        "label": LABELS[best["smoothing"]],
        "n": best["n"],
        "param": best["param"],
        "valid_bpc": best["bpc"],
        "test_bpc": model.bpc(corpus.test),
        "table": table,
    }
