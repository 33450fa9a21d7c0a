"""Character vocabulary and batching for character-level language models.

Two ways to cut a long id sequence into (B, T) batches, where the target y is
the input x shifted by one character:

- :func:`random_windows`: B windows at uniformly random offsets (stateless
  training; every batch is independent).
- :func:`stream_batches`: B contiguous streams read left to right, so the hidden
  state at the end of batch k is the right initial state for batch k+1
  (stateful truncated BPTT).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from rnnviz._checks import nonnegative_int, positive_int

_CONTEXT = 20  # characters shown on each side of an unknown character


class UnknownCharacterError(ValueError):
    """The text contains a character that is not in the vocabulary."""


class Vocab:
    """A character vocabulary: id ``i`` stands for ``chars[i]``.

    The book builds it from the WHOLE corpus (all splits), so that a held-out
    play never contains an unknown character. This leaks only the character
    set (70 symbols), not any text, into training.

    >>> v = Vocab.from_text("hello")
    >>> v.chars
    ('e', 'h', 'l', 'o')
    >>> v.encode("hole").tolist()
    [1, 3, 2, 0]
    >>> v.decode([1, 0, 2, 2, 3])
    'hello'
    """

    def __init__(self, characters: Iterable[str]) -> None:
        chars = tuple(characters)
        if not chars:
            raise ValueError("empty vocabulary: give at least one character")
        bad = [c for c in chars if not (isinstance(c, str) and len(c) == 1)]
        if bad:
            raise ValueError(
                f"vocabulary entries must be single characters, got {bad[0]!r}"
            )
        if len(set(chars)) != len(chars):
            dup = next(c for c in chars if chars.count(c) > 1)
            raise ValueError(f"duplicate character {dup!r} in vocabulary")
        self.chars: tuple[str, ...] = chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars)}
        self._codes = np.array([ord(c) for c in chars], dtype=np.int64)  # (V,)

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        """The sorted unique characters of `text`."""
        if not text:
            raise ValueError("empty text: cannot build a vocabulary from no characters")
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} chars: {''.join(self.chars)!r})"

    def encode(self, text: str) -> torch.Tensor:
        """Text -> ids, a LongTensor of shape (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("empty text: nothing to encode")
        codes = np.frombuffer(
            text.encode("utf-32-le", "surrogatepass"), dtype="<u4"
        ).astype(np.int64)  # (N,)
        table = np.full(
            max(int(codes.max()), int(self._codes.max())) + 1, -1, dtype=np.int64
        )
        table[self._codes] = np.arange(len(self.chars))
        ids = table[codes]  # (N,), -1 where unknown
        unknown = np.flatnonzero(ids < 0)
        if unknown.size:
            pos = int(unknown[0])
            context = text[max(0, pos - _CONTEXT) : pos + _CONTEXT + 1]
            kinds = sorted({text[int(i)] for i in unknown})
            raise UnknownCharacterError(
                f"unknown character {text[pos]!r} at position {pos} "
                f"(context {context!r}); {unknown.size} unknown character(s) in the "
                f"text, distinct: {kinds!r}"
            )
        return torch.from_numpy(ids)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """ids, 1-D tensor or sequence of ints in [0, len(self)) -> text."""
        t = torch.as_tensor(ids)
        if t.dim() != 1:
            raise ValueError(f"ids must be 1-D, got shape {tuple(t.shape)}")
        if t.numel() == 0:
            return ""
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ValueError(f"ids must be integers, got dtype {t.dtype}")
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= len(self):
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"id {bad} out of range for a vocabulary of {len(self)} characters"
            )
        return "".join(self.chars[i] for i in t.tolist())

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for checkpoint metadata."""
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vocab:
        """Inverse of :meth:`to_dict`."""
        if "chars" not in d or not isinstance(d["chars"], str):
            raise ValueError(
                f"expected a mapping with a 'chars' string, got keys {sorted(d)}"
            )
        return cls(d["chars"])


def check_ids(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Validate character ids for a model over ``vocab_size`` characters: an
    integer tensor (B, T), not empty, values in [0, V). Returns them as int64."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(
            f"ids must be a torch.Tensor of character ids, got {type(ids).__name__}"
        )
    if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"ids must be an integer tensor, got dtype {ids.dtype}")
    if ids.dim() != 2:
        raise ValueError(f"ids must have shape (B, T), got {tuple(ids.shape)}")
    if ids.numel() == 0:
        raise ValueError(f"ids are empty: shape {tuple(ids.shape)}")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= vocab_size:
        raise ValueError(
            f"ids must lie in [0, {vocab_size}), got values in [{lo}, {hi}]"
        )
    return ids.long()


def check_stream(name: str, ids: torch.Tensor) -> None:
    """Raise unless ``ids`` is a 1-D int64 tensor (N,) of at least 2 character ids."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.dtype != torch.int64:
        raise ValueError(
            f"{name} must be a 1-D int64 tensor of character ids (use Vocab.encode)"
        )
    if ids.numel() < 2:
        raise ValueError(
            f"{name} has {ids.numel()} character(s): need at least 2 to predict one"
        )


def _check_args(ids: torch.Tensor, batch_size: int, seq_len: int) -> None:
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"ids must be a torch.Tensor, got {type(ids).__name__}")
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise ValueError(f"ids must be an integer tensor, got dtype {ids.dtype}")
    positive_int("batch_size", batch_size)
    positive_int("seq_len", seq_len)


def random_windows(
    ids: torch.Tensor, batch_size: int, seq_len: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """B windows of length T at uniformly random offsets, and their targets.

    ids: (N,) integer tensor with N > T. Returns x, y of shape (B, T) with
    ``y[b, t] == x[b, t + 1]``: start s gives x = ids[s:s+T], y = ids[s+1:s+T+1].
    The offsets are drawn with `generator`, uniformly from 0..N-T-1.
    """
    _check_args(ids, batch_size, seq_len)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    if len(ids) <= seq_len:
        raise ValueError(
            f"ids too short: len(ids)={len(ids)} must exceed seq_len={seq_len}"
        )
    starts = torch.randint(0, len(ids) - seq_len, (batch_size,), generator=generator)
    idx = (starts[:, None] + torch.arange(seq_len)).to(ids.device)  # (B, T)
    return ids[idx], ids[idx + 1]


def _stream_len(n_ids: int, batch_size: int) -> int:
    length = n_ids // batch_size
    if length < 2:
        raise ValueError(
            f"ids too short: {n_ids} ids in batch_size={batch_size} streams gives "
            f"streams of {length} id(s); each stream needs at least 2 (an input and "
            "its target)"
        )
    return length


def num_stream_batches(n_ids: int, batch_size: int, seq_len: int) -> int:
    """How many batches :func:`stream_batches` yields for `n_ids` ids."""
    nonnegative_int("n_ids", n_ids)
    positive_int("batch_size", batch_size)
    positive_int("seq_len", seq_len)
    return math.ceil((_stream_len(n_ids, batch_size) - 1) / seq_len)


def stream_batches(
    ids: torch.Tensor, batch_size: int, seq_len: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive (B, T) windows over B contiguous streams, for truncated BPTT.

    ids (N,) is cut into B streams of L = N // B ids (the last N % B ids are
    dropped); stream b is ids[b*L:(b+1)*L]. Batch k holds columns k*T..k*T+T-1
    of every stream, so row b of batch k+1 continues exactly where row b of
    batch k stopped, and y is x shifted by one within the stream. The last batch
    is shorter when (L - 1) is not a multiple of T. Yields copies, never views
    of `ids`.
    """
    _check_args(ids, batch_size, seq_len)  # eagerly, not at the first next()
    length = _stream_len(len(ids), batch_size)
    streams = ids[: batch_size * length].reshape(batch_size, length)  # (B, L)
    return _windows(streams, seq_len)


def _windows(
    streams: torch.Tensor, seq_len: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    length = streams.shape[1]
    for start in range(0, length - 1, seq_len):
        stop = min(start + seq_len, length - 1)
        x = streams[:, start:stop].clone()  # (B, T), (B, T') for a shorter last batch
        y = streams[:, start + 1 : stop + 1].clone()  # (B, T)
        yield x, y
