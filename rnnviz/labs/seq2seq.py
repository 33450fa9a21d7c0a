"""A small encoder-decoder (sequence to sequence) with attention, and its decoders.

The task is generated, not downloaded: a number written with digits, such as
``1,204``, is translated into English words, ``one thousand two hundred four``
(:func:`number_pairs`). Which numbers are held out is decided by a seed; a
held-out number never occurs in training.

* :class:`PairVocab`: characters plus ``<pad>`` (id 0), ``<bos>`` (1) and
  ``<eos>`` (2); unknown characters and empty strings raise clear errors.
* :func:`collate`: pads a list of pairs to a :class:`Batch` with the decoder
  input (``<bos>`` + target), the decoder output (target + ``<eos>``) and the
  mask of real target positions.
* :class:`Seq2Seq`: a GRU encoder (Cho et al. 2014), a GRU decoder
  initialised with the encoder's last state (Sutskever et al. 2014) and,
  optionally, additive attention over the encoder states (Bahdanau et al. 2014).
* :func:`masked_cross_entropy`: the loss over real target positions only.
* :func:`greedy_decode` and :func:`beam_search` (any step function; for the
  model one source at a time with :func:`beam_decode`, or a batch at once
  with :func:`beam_decode_batch`).
* :func:`fit`: teacher-forced training with a held-out loss curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnviz._checks import positive_int, seeded
from rnnviz.data import Vocab
from rnnviz.train import History
from rnnviz.train import fit as train_loop

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")


# --- the task -------------------------------------------------------------------------

#: English words for 0 to 19, indexed by the number.
ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
#: English words for the tens, indexed by the tens digit ("" below 20).
TENS = (
    "",
    "",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
)


def number_words(n: int) -> str:
    """An integer in 0..999,999 in English words (American style: no "and").

    >>> number_words(1204), number_words(40), number_words(19017)
    ('one thousand two hundred four', 'forty', 'nineteen thousand seventeen')
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 1_000_000:
        raise ValueError(f"n must be an int in 0..999,999, got {n!r}")
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + (f"-{ONES[n % 10]}" if n % 10 else "")
    if n < 1000:
        return f"{ONES[n // 100]} hundred" + (
            f" {number_words(n % 100)}" if n % 100 else ""
        )
    return f"{number_words(n // 1000)} thousand" + (
        f" {number_words(n % 1000)}" if n % 1000 else ""
    )


def number_pair(n: int) -> tuple[str, str]:
    """``(source, target)``: digits with a thousands separator, and words.

    >>> number_pair(1204)
    ('1,204', 'one thousand two hundred four')
    """
    return f"{n:,}", number_words(n)


@dataclass(frozen=True)
class Pairs:
    """Training, validation and test pairs of :func:`number_pairs`; no number is in
    two of them."""

    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]


def number_pairs(
    seed: int, limit: int = 10_000, n_valid: int = 500, n_test: int = 1500
) -> Pairs:
    """Every number in ``0 .. limit - 1`` as a pair, split at random (with ``seed``).

    ``n_valid + n_test`` numbers are held out; training gets all the others,
    so a held-out number is never seen in training.
    """
    for name, v in (("limit", limit), ("n_valid", n_valid), ("n_test", n_test)):
        positive_int(name, v)
    if limit > 1_000_000 or n_valid + n_test >= limit:
        raise ValueError(
            "need n_valid + n_test < limit <= 1,000,000, "
            f"got {n_valid} + {n_test} and {limit}"
        )
    order = torch.randperm(
        limit, generator=torch.Generator().manual_seed(seed)
    ).tolist()
    pairs = [number_pair(n) for n in order]
    return Pairs(
        pairs[n_valid + n_test :], pairs[:n_valid], pairs[n_valid : n_valid + n_test]
    )


# --- vocabulary and batches -----------------------------------------------------------


class PairVocab:
    """Characters plus ``<pad>`` = 0, ``<bos>`` = 1 and ``<eos>`` = 2.

    >>> v = PairVocab("abc")
    >>> v.encode("cab", eos=True)
    [5, 3, 4, 2]
    >>> v.decode([1, 5, 3, 2, 4])  # stops at <eos>, drops <bos> and <pad>
    'ca'
    """

    def __init__(self, characters: str | Sequence[str]) -> None:
        self.chars = Vocab(characters)
        self.tokens: tuple[str, ...] = SPECIALS + self.chars.chars

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> PairVocab:
        """The sorted characters of ``texts``."""
        return cls(sorted(set("".join(texts))))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Text -> ids, optionally wrapped in ``<bos>`` ... ``<eos>``."""
        ids = (
            self.chars.encode(text) + len(SPECIALS)
        ).tolist()  # ValueError if empty or unknown
        return [BOS] * bos + ids + [EOS] * eos

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """Ids -> text, up to the first ``<eos>``; ``<bos>`` and ``<pad>`` skipped."""
        out = []
        for i in torch.as_tensor(ids).tolist():
            if i == EOS:
                break
            if not 0 <= i < len(self):
                raise ValueError(
                    f"id {i} out of range for a vocabulary of {len(self)} tokens"
                )
            if i >= len(SPECIALS):
                out.append(self.tokens[i])
        return "".join(out)


@dataclass
class Batch:
    """Padded pairs. ``S``: longest source, ``T``: longest target + 1."""

    src: Tensor  # (B, S) source ids, PAD after the end
    src_lengths: Tensor  # (B,)
    tgt_in: Tensor  # (B, T) <bos> + target, the decoder's inputs (teacher forcing)
    tgt_out: Tensor  # (B, T) target + <eos>, what the decoder must predict
    mask: Tensor  # (B, T) bool, True at real target positions (including <eos>)


def pad_rows(rows: list[list[int]]) -> Tensor:
    """Rows of ids, right-padded with ``PAD`` to the longest: (rows, max length)."""
    out = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.long)
    for k, r in enumerate(rows):
        out[k, : len(r)] = torch.tensor(r)
    return out


def collate(
    pairs: Sequence[tuple[str, str]], src_vocab: PairVocab, tgt_vocab: PairVocab
) -> Batch:
    """Encode and pad ``(source, target)`` pairs into one :class:`Batch`."""
    if not pairs:
        raise ValueError("no pairs to collate")
    src = [src_vocab.encode(s) for s, _ in pairs]
    tgt = [tgt_vocab.encode(t) for _, t in pairs]
    tgt_in, tgt_out = (
        pad_rows([[BOS] + t for t in tgt]),
        pad_rows([t + [EOS] for t in tgt]),
    )
    return Batch(
        pad_rows(src),
        torch.tensor([len(s) for s in src]),
        tgt_in,
        tgt_out,
        tgt_out != PAD,
    )


# --- the model ------------------------------------------------------------------------


@dataclass
class Memory:
    """What the encoder hands the decoder."""

    states: Tensor  # (B, S, H) encoder output at every source position
    mask: Tensor  # (B, S) bool, True at real source positions
    final: Tensor  # (B, H) encoder state after the last real source character
    keys: Tensor | None = (
        None  # (B, S, H) W_h h_j, computed once per source for attention
    )


class Seq2Seq(nn.Module):
    """GRU encoder, GRU decoder started from the encoder's final state, attention
    (optional).

    With ``attention=True`` the decoder reads, at step t, a context
    ``c_t = sum_j alpha_tj h_j`` of the encoder states with additive scores
    ``e_tj = v . tanh(W_s s_{t-1} + W_h h_j)`` (Bahdanau et al. 2014); padded
    source positions get weight 0. The decoder cell takes ``[embed(y_{t-1}), c_t]``
    and the output layer reads ``[s_t, c_t]``. Without attention ``c_t = 0``.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_size: int = 32,
        hidden_size: int = 64,
        attention: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, v in (
            ("src_vocab_size", src_vocab_size),
            ("tgt_vocab_size", tgt_vocab_size),
            ("embed_size", embed_size),
            ("hidden_size", hidden_size),
        ):
            positive_int(name, v)
        self.hidden_size, self.attention, self.tgt_vocab_size = (
            hidden_size,
            attention,
            tgt_vocab_size,
        )
        H = hidden_size
        with seeded(seed):  # the initial weights; the caller's global RNG is kept
            self.src_embed = nn.Embedding(src_vocab_size, embed_size, padding_idx=PAD)
            self.encoder = nn.GRU(embed_size, H, batch_first=True)
            self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_size, padding_idx=PAD)
            self.decoder = nn.GRUCell(embed_size + H, H)
            self.out = nn.Linear(2 * H, tgt_vocab_size)
            if attention:
                self.W_s, self.W_h, self.v = (
                    nn.Linear(H, H, bias=False),
                    nn.Linear(H, H),
                    nn.Linear(H, 1, bias=False),
                )

    def encode(self, src: Tensor, src_lengths: Tensor) -> Memory:
        """``src`` (B, S) ids padded with PAD, ``src_lengths`` (B,) -> a Memory."""
        if src.dim() != 2 or src_lengths.shape != src.shape[:1]:
            raise ValueError(
                f"src must be (B, S) and src_lengths (B,), got {tuple(src.shape)} and "
                f"{tuple(src_lengths.shape)}"
            )
        if src_lengths.min() < 1 or src_lengths.max() > src.shape[1]:
            raise ValueError(
                f"src_lengths must be in 1..{src.shape[1]}, got {src_lengths.tolist()}"
            )
        packed = pack_padded_sequence(
            self.src_embed(src),
            src_lengths.cpu(),
            batch_first=True,
            enforce_sorted=False,
        )
        out, h = self.encoder(packed)
        states, _ = pad_packed_sequence(
            out, batch_first=True, total_length=src.shape[1]
        )  # (B, S, H)
        mask = torch.arange(src.shape[1]) < src_lengths[:, None]  # (B, S)
        return Memory(states, mask, h[0], self.W_h(states) if self.attention else None)

    def step(
        self, prev: Tensor, s: Tensor, memory: Memory
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """One decoder step: ``prev`` (B,) ids, ``s`` (B, H) -> logits (B, V),
        new ``s`` (B, H), alpha (B, S)."""
        if self.attention:
            e = self.v(torch.tanh(self.W_s(s)[:, None] + memory.keys))[..., 0]  # (B, S)
            alpha = torch.softmax(
                e.masked_fill(~memory.mask, -math.inf), dim=1
            )  # (B, S)
            context = torch.bmm(alpha[:, None], memory.states)[:, 0]  # (B, H)
        else:
            alpha, context = None, torch.zeros_like(s)
        s = self.decoder(torch.cat([self.tgt_embed(prev), context], dim=1), s)
        return self.out(torch.cat([s, context], dim=1)), s, alpha

    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: the decoder reads the true previous characters ``tgt_in``
        (B, T).

        Returns logits (B, T, V) and attention weights (B, T, S) (None without
        attention).
        """
        memory = self.encode(src, src_lengths)
        s, logits, alphas = memory.final, [], []
        for t in range(tgt_in.shape[1]):
            z, s, alpha = self.step(tgt_in[:, t], s, memory)
            logits.append(z)
            alphas.append(alpha)
        return torch.stack(logits, 1), (
            torch.stack(alphas, 1) if self.attention else None
        )


def masked_cross_entropy(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy (nats) over the positions where ``mask`` is True.

    ``logits`` (B, T, V), ``targets`` (B, T), ``mask`` (B, T) bool. Every real
    target character (and each ``<eos>``) weighs the same; padding weighs nothing.
    """
    if (
        logits.dim() != 3
        or targets.shape != logits.shape[:2]
        or mask.shape != targets.shape
    ):
        raise ValueError(
            "expected logits (B, T, V), targets and mask (B, T); "
            f"got {tuple(logits.shape)}, {tuple(targets.shape)}, {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool or not mask.any():
        raise ValueError("mask must be a bool tensor with at least one True entry")
    nll = nn.functional.cross_entropy(
        logits.transpose(1, 2), targets, reduction="none"
    )  # (B, T)
    return nll[mask].mean()


@torch.no_grad()
def sequence_log_probs(model: Seq2Seq, batch: Batch) -> Tensor:
    """log P(target + ``<eos>`` | source) of every pair in ``batch``, teacher forced:
    (B,)."""
    logp = torch.log_softmax(
        model(batch.src, batch.src_lengths, batch.tgt_in)[0], dim=2
    )  # (B, T, V)
    return (logp.gather(2, batch.tgt_out[..., None])[..., 0] * batch.mask).sum(1)


# --- decoding -------------------------------------------------------------------------


@dataclass
class Hypothesis:
    """One decoded output: ``tokens`` without ``<bos>``, ending in ``<eos>`` unless
    cut at ``max_len``."""

    tokens: tuple[int, ...]
    log_prob: float  # sum of the log-probabilities of ``tokens``
    finished: bool  # False if cut at max_len without <eos>

    def score(self, length_penalty: float = 0.0) -> float:
        """``log_prob / len(tokens) ** length_penalty`` (0: the plain sum)."""
        return self.log_prob / len(self.tokens) ** length_penalty


def _check_decode_args(beam_width: int, max_len: int) -> None:
    if (
        isinstance(beam_width, bool)
        or not isinstance(beam_width, int)
        or beam_width < 1
    ):
        raise ValueError(f"beam_width must be an int >= 1, got {beam_width!r}")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")


def beam_search(
    step: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
    state: Tensor,
    beam_width: int,
    max_len: int,
    length_penalty: float = 0.0,
    banned: Sequence[int] = (PAD, BOS),
) -> list[Hypothesis]:
    """Beam search from ``<bos>``; returns hypotheses, best first.

    ``step(prev, state)`` maps the last tokens ``prev`` (K,) of K prefixes and
    their decoder state (K, ...) to log-probabilities (K, V) of the next token
    and the new state (K, ...); ``state`` is the state of the single start
    prefix (1, ...). At every step each prefix is extended by every token not
    in ``banned`` and the ``beam_width`` best extensions (by summed
    log-probability) are kept; those ending in ``<eos>`` are complete and leave
    the beam. Prefixes still open after ``max_len`` tokens are returned
    unfinished. The search stops early once no open prefix can beat the best
    complete one (exact for ``length_penalty=0``: log-probabilities only add
    negative terms). Hypotheses are ranked by :meth:`Hypothesis.score`.
    """
    _check_decode_args(beam_width, max_len)
    prev, prefixes, lp = (
        torch.tensor([BOS]),
        [()],
        torch.zeros(1),
    )  # lp: (K,) summed log-probs
    done: list[Hypothesis] = []
    for t in range(max_len):
        logp, state = step(prev, state)  # (K, V), (K, ...)
        if logp.dim() != 2 or logp.shape[0] != len(prefixes):
            raise ValueError(
                f"step must return log-probs of shape ({len(prefixes)}, V), "
                f"got {tuple(logp.shape)}"
            )
        V = logp.shape[1]
        total = (lp[:, None] + logp).index_fill(
            1, torch.tensor(list(banned), dtype=torch.long), -math.inf
        )  # (K, V)
        top = total.flatten().topk(min(beam_width, int(torch.isfinite(total).sum())))
        keep, keep_lp, keep_tok = [], [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            row, tok = divmod(flat, V)
            tokens = prefixes[row] + (tok,)
            if tok == EOS:
                done.append(Hypothesis(tokens, score, True))
            elif t == max_len - 1:
                done.append(Hypothesis(tokens, score, False))
            else:
                keep.append(row), keep_lp.append(score), keep_tok.append(tok)
        if not keep:
            break
        if (
            length_penalty == 0
            and done
            and max(h.log_prob for h in done) >= max(keep_lp)
        ):
            break
        rows = torch.tensor(keep)
        state, prev, lp = state[rows], torch.tensor(keep_tok), torch.tensor(keep_lp)
        prefixes = [prefixes[r] + (tok,) for r, tok in zip(keep, keep_tok)]
    return sorted(done, key=lambda h: -h.score(length_penalty))


def _encode_one(model: Seq2Seq, src_ids: Sequence[int]) -> Memory:
    if len(src_ids) == 0:
        raise ValueError("empty source: nothing to translate")
    return model.encode(torch.tensor([list(src_ids)]), torch.tensor([len(src_ids)]))


@torch.no_grad()
def beam_decode(
    model: Seq2Seq,
    src_ids: Sequence[int],
    beam_width: int,
    max_len: int,
    length_penalty: float = 0.0,
) -> list[Hypothesis]:
    """:func:`beam_search` with ``model`` on one source (a list of ids, no padding)."""
    memory = _encode_one(model, src_ids)

    def step(prev: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        K = prev.shape[0]
        mem = Memory(
            memory.states.expand(K, -1, -1),
            memory.mask.expand(K, -1),
            memory.final,
            None if memory.keys is None else memory.keys.expand(K, -1, -1),
        )
        logits, s, _ = model.step(prev, s, mem)
        return torch.log_softmax(logits, dim=1), s

    return beam_search(step, memory.final, beam_width, max_len, length_penalty)


@torch.no_grad()
def beam_decode_batch(
    model: Seq2Seq,
    src: Tensor,
    src_lengths: Tensor,
    beam_width: int,
    max_len: int,
    length_penalty: float = 0.0,
) -> list[Hypothesis]:
    """The search of :func:`beam_search`, run for a whole padded batch at once; the
    best hypothesis per source.

    Each source has ``beam_width`` slots, (B * K) decoder rows in all; empty
    slots score -inf. Same results as :func:`beam_decode` one source at a time.
    """
    _check_decode_args(beam_width, max_len)
    B, K = src.shape[0], beam_width
    memory = model.encode(src, src_lengths)
    rep = lambda x: x.repeat_interleave(K, 0)  # noqa: E731  (B, ...) -> (B * K, ...)
    mem = Memory(
        rep(memory.states),
        rep(memory.mask),
        rep(memory.final),
        None if memory.keys is None else rep(memory.keys),
    )
    s, prev = rep(memory.final), torch.full((B * K,), BOS)  # (B * K, H), (B * K,)
    lp = torch.full((B, K), -math.inf)
    lp[:, 0] = 0.0  # (B, K) summed log-probs; one live slot per source at the start
    prefixes: list[list[tuple[int, ...]]] = [[()] * K for _ in range(B)]
    done: list[list[Hypothesis]] = [[] for _ in range(B)]
    for t in range(max_len):
        logits, s, _ = model.step(prev, s, mem)
        logp = torch.log_softmax(logits, dim=1).index_fill(
            1, torch.tensor([PAD, BOS]), -math.inf
        )  # (B * K, V)
        V = logp.shape[1]
        top_v, top_i = (
            (lp[..., None] + logp.view(B, K, V)).view(B, K * V).topk(K, dim=1)
        )  # (B, K) each
        new_lp, new_rows, new_tok = (
            torch.full((B, K), -math.inf),
            torch.zeros(B, K, dtype=torch.long),
            torch.full((B, K), PAD),
        )
        new_prefixes = [[()] * K for _ in range(B)]
        for b, (values, flats) in enumerate(zip(top_v.tolist(), top_i.tolist())):
            n = 0
            for score, flat in zip(values, flats):
                if score == -math.inf:
                    break
                row, tok = divmod(flat, V)
                tokens = prefixes[b][row] + (tok,)
                if tok == EOS or t == max_len - 1:
                    done[b].append(Hypothesis(tokens, score, tok == EOS))
                else:
                    new_lp[b, n], new_rows[b, n], new_tok[b, n], new_prefixes[b][n] = (
                        score,
                        row,
                        tok,
                        tokens,
                    )
                    n += 1
            if (
                n
                and length_penalty == 0
                and done[b]
                and max(h.log_prob for h in done[b]) >= new_lp[b, 0]
            ):
                new_lp[b] = -math.inf  # no open prefix can beat the best complete one
        if torch.all(new_lp == -math.inf):
            break
        rows = (torch.arange(B)[:, None] * K + new_rows).view(-1)  # (B * K,)
        s, prev, lp, prefixes = s[rows], new_tok.view(-1), new_lp, new_prefixes
    return [max(d, key=lambda h: h.score(length_penalty)) for d in done]


@torch.no_grad()
def greedy_decode(
    model: Seq2Seq, src: Tensor, src_lengths: Tensor, max_len: int
) -> tuple[list[Hypothesis], Tensor | None]:
    """The most probable next token at every step, for a whole padded batch at once.

    Returns one :class:`Hypothesis` per source and the attention weights
    (B, steps, S), ``steps <= max_len`` (None without attention; a row's
    weights after its ``<eos>`` are junk). Stops when every row has its ``<eos>``.
    """
    _check_decode_args(1, max_len)
    memory = model.encode(src, src_lengths)
    B, s = src.shape[0], memory.final
    prev, tokens, lp, alphas = torch.full((B,), BOS), [], [], []
    finished = torch.zeros(B, dtype=torch.bool)
    for _ in range(max_len):
        logits, s, alpha = model.step(prev, s, memory)
        logp = torch.log_softmax(logits, dim=1).index_fill(
            1, torch.tensor([PAD, BOS]), -math.inf
        )  # (B, V)
        best, prev = logp.max(dim=1)
        tokens.append(prev), lp.append(best), alphas.append(alpha)
        finished |= prev == EOS
        if finished.all():
            break
    tokens_t, lp_t = torch.stack(tokens, 1), torch.stack(lp, 1)  # (B, steps) each
    out = []
    for b in range(B):
        row = tokens_t[b].tolist()
        n = row.index(EOS) + 1 if EOS in row else len(row)
        out.append(Hypothesis(tuple(row[:n]), lp_t[b, :n].sum().item(), EOS in row))
    return out, (torch.stack(alphas, 1) if model.attention else None)


def translate(
    model: Seq2Seq,
    sources: Sequence[str],
    src_vocab: PairVocab,
    tgt_vocab: PairVocab,
    beam_width: int | None = None,
    max_len: int = 50,
    length_penalty: float = 0.0,
    batch_size: int = 256,
) -> list[str]:
    """Decode each source text greedily (``beam_width=None``) or with a beam,
    ``batch_size`` sources at a time."""
    if isinstance(sources, str):
        raise TypeError("sources must be a sequence of strings, not one string")
    encoded = [src_vocab.encode(s) for s in sources]
    was_training = model.training
    model.eval()
    try:
        hyps = []
        for k in range(0, len(encoded), batch_size):
            chunk = encoded[k : k + batch_size]
            src, lengths = pad_rows(chunk), torch.tensor([len(c) for c in chunk])
            if beam_width is None:
                hyps += greedy_decode(model, src, lengths, max_len)[0]
            else:
                hyps += beam_decode_batch(
                    model, src, lengths, beam_width, max_len, length_penalty
                )
    finally:
        model.train(was_training)
    return [tgt_vocab.decode(h.tokens) for h in hyps]


def accuracy(
    predictions: Sequence[str], references: Sequence[str]
) -> tuple[float, float]:
    """Exact-match rate and character accuracy.

    Character accuracy: characters equal at the same position, over the
    longer of the two strings, summed over all pairs.

    >>> accuracy(["abc", "abd"], ["abc", "abcd"])
    (0.5, 0.7142857142857143)
    """
    if len(predictions) != len(references) or not references:
        raise ValueError(
            f"need equally many predictions and references (at least one), got "
            f"{len(predictions)} and {len(references)}"
        )
    exact = sum(p == r for p, r in zip(predictions, references)) / len(references)
    same = sum(
        sum(a == b for a, b in zip(p, r)) for p, r in zip(predictions, references)
    )
    return exact, same / sum(
        max(len(p), len(r)) for p, r in zip(predictions, references)
    )


# --- training -------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: Seq2Seq, batch: Batch) -> float:
    """Masked teacher-forced cross-entropy (nats per target character) on ``batch``."""
    was_training = model.training
    model.eval()
    loss = masked_cross_entropy(
        model(batch.src, batch.src_lengths, batch.tgt_in)[0], batch.tgt_out, batch.mask
    )
    model.train(was_training)
    return loss.item()


def fit(
    model: Seq2Seq,
    train: Batch,
    valid: Batch,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    clip: float | None = 1.0,
    seed: int = 0,
    eval_every: int = 50,
    progress: bool = True,
    metrics: Callable[[Seq2Seq], Mapping[str, float]] | None = None,
) -> History:
    """Adam on minibatches drawn (with ``seed``) from the collated training pairs.

    Teacher forcing; each minibatch is cut to its own longest source and
    target. The held-out loss on ``valid`` (:func:`evaluate`, nats per target
    character) is recorded in ``History.val_loss`` at step 0, every
    ``eval_every`` steps and at the end; ``metrics(model)``, if given, adds
    named numbers at the same steps to ``History.metrics`` (the model in eval
    mode). See :func:`rnnviz.train.fit`.
    """
    positive_int("batch_size", batch_size)
    if metrics is not None and not callable(metrics):
        raise TypeError(f"metrics must be callable, got {type(metrics).__name__}")
    g, n = torch.Generator().manual_seed(seed), train.src.shape[0]

    def batch(step: int) -> Batch:
        idx = torch.randint(0, n, (batch_size,), generator=g)  # (B,)
        lengths, T = train.src_lengths[idx], int(train.mask[idx].sum(1).max())
        return Batch(
            train.src[idx, : int(lengths.max())],
            lengths,
            train.tgt_in[idx, :T],
            train.tgt_out[idx, :T],
            train.mask[idx, :T],
        )

    def loss(m: Seq2Seq, b: Batch) -> Tensor:
        logits = m(b.src, b.src_lengths, b.tgt_in)[0]  # (B, T, V)
        return masked_cross_entropy(logits, b.tgt_out, b.mask)

    return train_loop(
        model,
        batch,
        loss,
        steps=steps,
        lr=lr,
        clip=clip,
        evaluate=lambda m: (
            evaluate(m, valid)
            if metrics is None
            else {"loss": evaluate(m, valid), **metrics(m)}
        ),
        eval_every=eval_every,
        eval_at_start=True,
        seed=seed,
        progress=progress,
    )
