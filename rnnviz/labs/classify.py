"""Sequence classification with variable-length batches (many-to-one).

The examples are speeches of the corpus, labelled with the play (or the
speaker) they come from. Speeches differ in length, so a batch is padded to its
longest speech (:func:`collate`), and the recurrent layer must not let the
padding reach the features it reads out. Three exact ways to run a batch
(:func:`run_rnn`):

* ``"packed"``: ``pack_padded_sequence``; every sequence stops at its own
  length, in both directions; the final state ``h_n`` is each sequence's own.
* ``"padded"``: the padded batch as is, read out with the mask: the output at
  ``length - 1``, or the mean over the real steps. Exact for a unidirectional
  layer only (padding comes *after* the text, and a forward RNN is causal); a
  backward direction would read the padding first, so it is refused.
* ``"per_example"``: each sequence alone, the reference the others must match.

Limitations: one label per sequence, characters only, CPU-sized models; the
train/held-out split is by speech, so held-out speeches come from the same
plays (and scenes) as training speeches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnviz._checks import int_at_least, positive_int, seeded
from rnnviz.data import Vocab
from rnnviz.train import History
from rnnviz.train import fit as train_loop

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
METHODS = ("packed", "padded", "per_example")
READOUTS = ("last", "mean")


# ------------------------------------------------------------------ examples


def speeches(play: str) -> list[tuple[str, str]]:
    """``(speaker, text)`` for every speech of one play in the corpus layout.

    >>> speeches("All:\\nSpeak, speak.\\n\\nFirst Citizen:\\nYou are\\nresolved?\\n")
    [('All', 'Speak, speak.'), ('First Citizen', 'You are\\nresolved?')]
    """
    out = []
    for block in play.strip("\n").split("\n\n"):
        name, _, text = block.partition("\n")
        if not name.endswith(":") or not text.strip():
            raise ValueError(f"not a speech ('Name:' then text): {block[:60]!r}")
        out.append((name[:-1], text))
    return out


@dataclass(frozen=True)
class Examples:
    """Texts with integer labels; ``classes[k]`` names label ``k``."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")
        if any(not t for t in self.texts):
            first = next(i for i, t in enumerate(self.texts) if not t)
            raise ValueError(f"empty example at index {first}")
        bad = [
            y
            for y in self.labels
            if not (isinstance(y, int) and 0 <= y < len(self.classes))
        ]
        if bad:
            raise ValueError(
                f"label {bad[0]!r} is not one of 0..{len(self.classes) - 1} "
                f"({len(self.classes)} classes)"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def label_tensor(self) -> Tensor:
        return torch.tensor(self.labels, dtype=torch.long)  # (N,)

    def counts(self) -> dict[str, int]:
        """Class name -> number of examples."""
        c = Counter(self.labels)
        return {name: c[k] for k, name in enumerate(self.classes)}

    def subset(self, indices: Sequence[int]) -> Examples:
        return Examples(
            tuple(self.texts[i] for i in indices),
            tuple(self.labels[i] for i in indices),
            self.classes,
        )

    def split(self, held_out: float, seed: int) -> tuple[Examples, Examples]:
        """``(train, held_out)`` by a seeded random permutation of the examples."""
        if not 0.0 < held_out < 1.0:
            raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out!r}")
        n_held = round(len(self) * held_out)
        if not 0 < n_held < len(self):
            raise ValueError(
                f"held_out={held_out} of {len(self)} examples leaves an empty part"
            )
        order = torch.randperm(
            len(self), generator=torch.Generator().manual_seed(seed)
        ).tolist()
        return self.subset(sorted(order[n_held:])), self.subset(sorted(order[:n_held]))

    def encode(self, vocab: Vocab) -> list[Tensor]:
        """Every text as character ids, a list of (T_i,) int64 tensors."""
        return [vocab.encode(t) for t in self.texts]


def encode_labels(names: Sequence[str], classes: Sequence[str]) -> tuple[int, ...]:
    """Class names -> their indices in ``classes``; an unknown name is an error."""
    index = {c: k for k, c in enumerate(classes)}
    unknown = sorted({n for n in names if n not in index})
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}; the classes are {list(classes)}")
    return tuple(index[n] for n in names)


def speech_examples(
    plays: Mapping[str, str],
    classes: Sequence[str],
    by: str = "play",
    max_chars: int = 200,
) -> Examples:
    """Speeches labelled by play (``classes`` are play slugs) or by speaker.

    Each text is a speech without its ``Name:`` line, cut to its first
    ``max_chars`` characters. With ``by="speaker"`` every speech of the plays
    whose speaker is one of ``classes`` is used.
    """
    positive_int("max_chars", max_chars)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"need at least two distinct classes, got {list(classes)}")
    if by == "play":
        unknown = sorted(set(classes) - set(plays))
        if unknown:
            raise ValueError(
                f"unknown play(s) {unknown}; the plays are {sorted(plays)}"
            )
        pairs = [(text, slug) for slug in classes for _, text in speeches(plays[slug])]
    elif by == "speaker":
        pairs = [
            (text, who)
            for slug in plays
            for who, text in speeches(plays[slug])
            if who in classes
        ]
        missing = sorted(set(classes) - {who for _, who in pairs})
        if missing:
            raise ValueError(f"unknown speaker(s) {missing}: no speech in these plays")
    else:
        raise ValueError(f"by must be 'play' or 'speaker', got {by!r}")
    return Examples(
        tuple(t[:max_chars] for t, _ in pairs),
        encode_labels([n for _, n in pairs], classes),
        tuple(classes),
    )


def majority_accuracy(train_labels: Sequence[int], held_labels: Sequence[int]) -> float:
    """Held-out accuracy of always answering the most frequent training class."""
    if not train_labels or not held_labels:
        raise ValueError("need non-empty train and held-out labels")
    top = Counter(train_labels).most_common(1)[0][0]
    return sum(y == top for y in held_labels) / len(held_labels)


# ------------------------------------------------------------------ batches


@dataclass(frozen=True)
class Batch:
    """A padded batch: ids (B, T), lengths (B,), mask (B, T) True at real steps,
    labels (B,) or None."""

    ids: Tensor
    lengths: Tensor
    mask: Tensor
    labels: Tensor | None = None


def collate(
    seqs: Sequence[Tensor],
    labels: Sequence[int] | Tensor | None = None,
    pad_id: int = 0,
) -> Batch:
    """Pad 1-D id tensors of different lengths into one batch.

    >>> b = collate([torch.tensor([5, 6, 7]), torch.tensor([8])], labels=[1, 0])
    >>> b.ids.tolist(), b.lengths.tolist(), b.mask.int().tolist()
    ([[5, 6, 7], [8, 0, 0]], [3, 1], [[1, 1, 1], [1, 0, 0]])
    """
    if len(seqs) == 0:
        raise ValueError("empty batch: give at least one sequence")
    for i, s in enumerate(seqs):
        if not isinstance(s, Tensor) or s.dim() != 1:
            shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
            raise ValueError(f"sequence {i} must be a 1-D tensor of ids, got {shape}")
        if s.dtype.is_floating_point or s.dtype.is_complex or s.dtype == torch.bool:
            raise ValueError(f"sequence {i} must hold integer ids, got dtype {s.dtype}")
        if s.numel() == 0:
            raise ValueError(
                f"sequence {i} is empty: an example needs at least one step"
            )
    lengths = torch.tensor([len(s) for s in seqs])  # (B,)
    ids = torch.full(
        (len(seqs), int(lengths.max())), pad_id, dtype=torch.long
    )  # (B, T)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
    mask = torch.arange(ids.shape[1]) < lengths[:, None]  # (B, T)
    y = None
    if labels is not None:
        y = torch.as_tensor(labels)
        if (
            y.shape != (len(seqs),)
            or y.dtype.is_floating_point
            or y.dtype == torch.bool
        ):
            raise ValueError(
                f"labels must be {len(seqs)} integers, "
                f"got shape {tuple(y.shape)}, dtype {y.dtype}"
            )
        if len(y) and int(y.min()) < 0:
            raise ValueError(f"labels must be >= 0, got {int(y.min())}")
        y = y.long()
    return Batch(ids, lengths, mask, y)


def batch_indices(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator, bucket: int = 8
) -> Iterator[Tensor]:
    """Endless shuffled epochs of index batches, each (B,) (an epoch's last may be
    shorter).

    With ``bucket = k > 1``, each run of ``k * batch_size`` shuffled examples is
    sorted by length before it is cut into batches, so a batch holds speeches of
    similar length (less padding), and the batches are then shuffled.
    """
    positive_int("batch_size", batch_size)
    positive_int("bucket", bucket)
    lens = torch.as_tensor(lengths)
    if len(lens) == 0:
        raise ValueError("no examples to batch")
    while True:
        order = torch.randperm(len(lens), generator=generator)
        chunk = batch_size * bucket
        batches = []
        for s in range(0, len(order), chunk):
            part = order[s : s + chunk]
            if bucket > 1:
                part = part[torch.argsort(lens[part], stable=True)]
            batches += list(part.split(batch_size))
        for k in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[k]


# ------------------------------------------------------- running a recurrent layer


def last_layer_state(h_n: Tensor, rnn: nn.RNNBase) -> Tensor:
    """The last layer's final hidden state, both directions concatenated: (B, D * H).

    ``h_n`` is (num_layers * D, B, H), the layers outermost, forward before backward.
    """
    D = 2 if rnn.bidirectional else 1
    last = h_n[-D:]  # (D, B, H)
    return torch.cat(list(last), dim=-1)  # (B, D * H)


def last_outputs(out: Tensor, lengths: Tensor, bidirectional: bool) -> Tensor:
    """Read each sequence's final state from padded outputs ``out`` (B, T, D * H).

    Forward direction: the output at ``length - 1``. Backward direction: the
    output at step 0, where it ends. (Exact only if ``out`` was computed without
    letting padding in, e.g. from a packed run.)
    """
    rows = torch.arange(out.shape[0])
    if not bidirectional:
        return out[rows, lengths - 1]  # (B, H)
    H = out.shape[-1] // 2
    return torch.cat([out[rows, lengths - 1, :H], out[:, 0, H:]], dim=-1)  # (B, 2H)


def masked_mean(out: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``out`` (B, T, F) over the real steps ``mask`` (B, T): (B, F)."""
    m = mask.to(out.dtype)[..., None]  # (B, T, 1)
    return (out * m).sum(1) / m.sum(1)


def run_rnn(
    rnn: nn.RNNBase, x: Tensor, lengths: Tensor, method: str = "packed"
) -> tuple[Tensor, Tensor]:
    """Run a batch_first ``nn.RNN``/``nn.LSTM``/``nn.GRU`` on padded inputs, exactly.

    x: (B, T, E), lengths: (B,). Returns ``(out, final)``: outputs (B, T, D * H),
    zero at padded steps, and each sequence's final state (B, D * H) (last
    layer). ``method`` is ``"packed"``, ``"padded"`` (unidirectional only) or
    ``"per_example"``; all three agree to float rounding.
    """
    if not rnn.batch_first:
        raise ValueError("run_rnn expects a batch_first recurrent layer")
    if x.dim() != 3 or lengths.shape != (x.shape[0],):
        raise ValueError(
            "need x (B, T, E) and lengths (B,), "
            f"got {tuple(x.shape)} and {tuple(lengths.shape)}"
        )
    if int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]:
        raise ValueError(f"lengths must lie in 1..{x.shape[1]}, got {lengths.tolist()}")
    mask = (torch.arange(x.shape[1]) < lengths[:, None])[..., None]  # (B, T, 1)
    if method == "packed":
        packed = pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, state = rnn(packed)
        out, _ = pad_packed_sequence(
            out, batch_first=True, total_length=x.shape[1]
        )  # (B, T, D*H)
        h_n = (
            state[0] if isinstance(state, tuple) else state
        )  # (L*D, B, H), in the batch's own order
        return out, last_layer_state(h_n, rnn)
    if method == "padded":
        if rnn.bidirectional:
            raise ValueError(
                "method='padded' is wrong for a bidirectional layer: its backward "
                "direction reads the padding before the text; use method='packed'"
            )
        out, _ = rnn(x)  # (B, T, H); steps t < length never saw the padding
        return out * mask, last_outputs(out, lengths, False)
    if method == "per_example":
        outs, finals = [], []
        for b, n in enumerate(lengths.tolist()):
            o, state = rnn(
                x[b : b + 1, :n]
            )  # (1, n, D*H): this sequence alone, no padding
            outs.append(nn.functional.pad(o[0], (0, 0, 0, x.shape[1] - n)))
            finals.append(
                last_layer_state(state[0] if isinstance(state, tuple) else state, rnn)[
                    0
                ]
            )
        return torch.stack(outs), torch.stack(finals)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# ------------------------------------------------------------------ the classifier


class SequenceClassifier(nn.Module):
    """Embedding -> ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (maybe bidirectional) -> linear.

    ``forward(ids (B, T), lengths (B,), method="packed") -> logits (B, C)``. The
    features are each sequence's final state (``readout="last"``: forward at
    ``length - 1``, backward at step 0) or the mean of its outputs over its real
    steps (``readout="mean"``). ``seed`` fixes the initial weights without
    touching the global random state.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        hidden_size: int = 64,
        embed_size: int = 32,
        cell: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        readout: str = "mean",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        for name, v in (
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("embed_size", embed_size),
            ("num_layers", num_layers),
        ):
            positive_int(name, v)
        int_at_least("num_classes", num_classes, 2)
        self.readout, self.num_classes, self.vocab_size = (
            readout,
            num_classes,
            vocab_size,
        )
        with seeded(seed):
            self.embed = nn.Embedding(vocab_size, embed_size)
            self.rnn = CELLS[cell](
                embed_size,
                hidden_size,
                num_layers,
                batch_first=True,
                bidirectional=bidirectional,
            )
            self.head = nn.Linear(
                hidden_size * (2 if bidirectional else 1), num_classes
            )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def features(self, ids: Tensor, lengths: Tensor, method: str = "packed") -> Tensor:
        """What the head reads: (B, D * H)."""
        if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
            got = getattr(ids, "shape", type(ids).__name__)
            raise ValueError(f"ids must be an int64 tensor (B, T), got {got}")
        if not isinstance(lengths, Tensor) or lengths.shape != (ids.shape[0],):
            got = getattr(lengths, "shape", lengths)
            raise ValueError(
                f"lengths must be a tensor of shape ({ids.shape[0]},), got {got}"
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(
                f"ids must lie in [0, {self.vocab_size}), "
                f"got [{int(ids.min())}, {int(ids.max())}]"
            )
        out, final = run_rnn(
            self.rnn, self.embed(ids), lengths, method
        )  # (B, T, D*H), (B, D*H)
        if self.readout == "last":
            return final
        return masked_mean(out, torch.arange(ids.shape[1]) < lengths[:, None])

    def forward(self, ids: Tensor, lengths: Tensor, method: str = "packed") -> Tensor:
        """Class logits (B, C) for padded ``ids`` (B, T) with true ``lengths`` (B,)."""
        return self.head(self.features(ids, lengths, method))  # (B, C)


def _check_labels(labels: Tensor, num_classes: int) -> None:
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in 0..{num_classes - 1}, "
            f"got {sorted(set(labels.tolist()))}"
        )


@torch.no_grad()
def predict(
    model: SequenceClassifier,
    seqs: Sequence[Tensor],
    batch_size: int = 256,
    method: str = "packed",
) -> Tensor:
    """The most likely class of every sequence: (N,) int64."""
    was_training = model.training
    model.eval()
    preds = []
    for s in range(0, len(seqs), batch_size):
        b = collate(seqs[s : s + batch_size])
        preds.append(model(b.ids, b.lengths, method).argmax(-1))
    model.train(was_training)
    return torch.cat(preds)


def accuracy(
    model: SequenceClassifier,
    seqs: Sequence[Tensor],
    labels: Tensor,
    batch_size: int = 256,
    method: str = "packed",
) -> float:
    """Fraction of ``seqs`` whose predicted class equals ``labels`` (N,)."""
    labels = torch.as_tensor(labels)
    if labels.shape != (len(seqs),):
        raise ValueError(
            f"{len(seqs)} sequences but labels of shape {tuple(labels.shape)}"
        )
    _check_labels(labels, model.num_classes)
    return float((predict(model, seqs, batch_size, method) == labels).float().mean())


def fit(
    model: SequenceClassifier,
    seqs: Sequence[Tensor],
    labels: Tensor,
    *,
    steps: int = 500,
    batch_size: int = 32,
    lr: float = 5e-3,
    clip: float | None = 1.0,
    seed: int = 0,
    method: str = "packed",
    bucket: int = 8,
    held_out: tuple[Sequence[Tensor], Tensor] | None = None,
    eval_every: int = 100,
) -> History:
    """Train ``model`` with Adam and norm clipping on shuffled (bucketed) batches.

    ``held_out = (seqs, labels)`` is scored every ``eval_every`` steps and at
    the end, as ``History.metrics["accuracy"]``. Deterministic for a seed; the
    global random state is left as it was. See :func:`rnnviz.train.fit`.
    """
    labels = torch.as_tensor(labels)
    if labels.shape != (len(seqs),):
        raise ValueError(
            f"{len(seqs)} sequences but labels of shape {tuple(labels.shape)}"
        )
    _check_labels(labels, model.num_classes)
    gen = torch.Generator().manual_seed(seed)
    order = batch_indices([len(s) for s in seqs], batch_size, gen, bucket)

    def batch(step: int) -> Batch:
        idx = next(order)  # (B,)
        return collate([seqs[i] for i in idx.tolist()], labels[idx])

    def loss(m: SequenceClassifier, b: Batch) -> Tensor:
        return nn.functional.cross_entropy(m(b.ids, b.lengths, method), b.labels)

    def score(m: SequenceClassifier) -> dict[str, float]:
        return {"accuracy": accuracy(m, held_out[0], held_out[1], method=method)}

    return train_loop(
        model,
        batch,
        loss,
        steps=steps,
        lr=lr,
        clip=clip,
        evaluate=None if held_out is None else score,
        eval_every=eval_every,
        seed=seed,
    )
