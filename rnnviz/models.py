"""Character-level language models built on the fused ``torch.nn`` recurrent layers."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from rnnviz._checks import positive_int, probability, seeded
from rnnviz.data import Vocab, check_ids
from rnnviz.probe import Trace, probe_lm

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharLM(nn.Module):
    """Embedding -> ``nn.RNN``/``nn.LSTM``/``nn.GRU`` -> dropout -> linear head.

    ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)``: a
    :class:`~rnnviz.protocols.RecurrentCharModel`, so :func:`rnnviz.probe` and
    :mod:`rnnviz.gradients` replay it and :func:`rnnviz.sampling.generate`
    decodes it. The recurrent layer is ``batch_first``. ``seed`` makes the
    initial weights reproducible without touching the global random state.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        embed_size: int = 32,
        dropout: float = 0.0,
        seed: int | None = None,
        vocab: Vocab | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        for name, v in (
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("embed_size", embed_size),
        ):
            positive_int(name, v)
        probability("dropout", dropout)
        if vocab is not None and len(vocab) != vocab_size:
            raise ValueError(
                f"vocab has {len(vocab)} characters but vocab_size={vocab_size}"
            )
        self.cell, self.vocab = cell, vocab
        self._config = dict(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            embed_size=embed_size,
            dropout=dropout,
        )
        with seeded(seed):
            self.embed = nn.Embedding(vocab_size, embed_size)
            self.rnn = CELLS[cell](
                embed_size,
                hidden_size,
                num_layers,
                batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
            )
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden_size, vocab_size)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable), for checkpoints."""
        return dict(self._config)

    @property
    def vocab_size(self) -> int:
        return self._config["vocab_size"]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_ids(self, ids: Tensor) -> Tensor:
        """Validate character ids: an integer tensor (B, T) with values in [0, V)."""
        return check_ids(ids, self.vocab_size)

    def forward(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Scores for the next character: ids (B, T) -> (logits (B, T, V), state).

        ``state`` is the recurrent layer's: ``h`` (L, B, H), or ``(h, c)`` for
        an LSTM; ``None`` starts from zeros.
        """
        ids = self.check_ids(ids)
        out, state = self.rnn(self.embed(ids), state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)

    def probe(self, inputs, state=None, force=None, force_layers=None) -> Trace:
        """Trace of every gate on ``inputs`` (ids (B, T) or (T,), or a string).

        The same as ``rnnviz.probe(self, ...)``; see :func:`rnnviz.probe.probe_lm`.
        """
        return probe_lm(self, inputs, state, force, force_layers)
