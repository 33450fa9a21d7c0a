"""What rnnviz means by "a character model", written as ``typing.Protocol`` s.

:class:`CharModel` is the interface every decoder and evaluator relies on:
``model(ids (B, T), state) -> (logits (B, T, V), state)``, where ``state=None``
starts from nothing and the returned state continues the same texts on the
next call. ``CharLM``, ``CharTransformer`` (its state is the key/value cache),
``MinGRULM``, ``NormCharLM`` and the n-gram models of :mod:`rnnviz.ngram` all
have it.

:class:`RecurrentCharModel` is the narrower structure that the replays of
:mod:`rnnviz.probe` and :mod:`rnnviz.gradients` need: an ``embed`` layer, a
fused torch ``rnn`` (``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``, ``batch_first``) and
a linear ``head`` on its outputs, ``logits = head(rnn(embed(ids)))``.
Functions check the structure (:func:`recurrent_kind`), never the class.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

#: The fused torch modules the reference cells replay, by exact type.
RNN_KINDS: dict[type[nn.Module], str] = {nn.RNN: "RNN", nn.LSTM: "LSTM", nn.GRU: "GRU"}


@runtime_checkable
class CharModel(Protocol):
    """``model(ids (B, T), state) -> (logits (B, T, V), state)``, as ``forward``.

    ``state=None`` starts afresh. A model may also have ``vocab_size`` (then
    callers check the vocabulary against it) and ``train``/``eval`` (then
    decoding runs it in eval mode and restores its mode).
    """

    def forward(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]: ...

    def __call__(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]: ...


@runtime_checkable
class RecurrentCharModel(CharModel, Protocol):
    """A :class:`CharModel` built as ``head(rnn(embed(ids)))`` on a fused torch RNN."""

    embed: nn.Embedding
    rnn: nn.RNNBase
    head: nn.Linear

    def parameters(self) -> Iterator[nn.Parameter]: ...


def check_char_model(model: object, what: str = "model") -> None:
    """Raise a ``TypeError`` unless ``model`` has ``forward`` and can be called."""
    if not callable(getattr(model, "forward", None)) or not callable(model):
        raise TypeError(
            f"{what} must be a character model, callable as model(ids, state) -> "
            f"(logits, state) with a forward method; got {type(model).__name__}"
        )


def recurrent_kind(model: object) -> str | None:
    """``'RNN'``, ``'LSTM'`` or ``'GRU'`` if ``model`` has the structure of a
    :class:`RecurrentCharModel` (``embed``, a batch-first ``rnn``, ``head``), else None.
    """
    rnn = getattr(model, "rnn", None)
    kind = RNN_KINDS.get(type(rnn))
    if (
        kind is None
        or not isinstance(getattr(model, "embed", None), nn.Embedding)
        or not isinstance(getattr(model, "head", None), nn.Linear)
        or not rnn.batch_first
    ):
        return None
    return kind


def check_recurrent(model: object, what: str) -> str:
    """The kind of a :class:`RecurrentCharModel`, or a ``TypeError`` naming the gap."""
    kind = recurrent_kind(model)
    if kind is None:
        raise TypeError(
            f"{what} needs a recurrent character model: an nn.Embedding `embed`, a "
            "batch-first torch.nn.RNN/LSTM/GRU `rnn` and an nn.Linear `head`, like "
            f"rnnviz.models.CharLM; got {type(model).__name__}"
        )
    return kind
