"""The character-model protocols: which models have the interface and the structure."""

import pytest
import torch
from torch import nn

from rnnviz.data import Vocab
from rnnviz.labs.mingru import MinGRULM
from rnnviz.labs.normalized import NormCharLM
from rnnviz.labs.transformer import CharTransformer, Uncached
from rnnviz.models import CharLM
from rnnviz.ngram import KneserNey, NGramCounts
from rnnviz.protocols import (
    CharModel,
    RecurrentCharModel,
    check_char_model,
    check_recurrent,
    recurrent_kind,
)

VOCAB = Vocab.from_text("to be, or not to be")
V = len(VOCAB)


def _all_models():
    tf = CharTransformer(V, d_model=8, num_layers=1, num_heads=2, context=8, seed=0)
    return {
        "CharLM": CharLM(V, 8, embed_size=4, seed=0, vocab=VOCAB),
        "CharTransformer": tf,
        "Uncached": Uncached(tf),
        "MinGRULM": MinGRULM(V, d_model=8, num_layers=1, seed=0),
        "NormCharLM": NormCharLM(V, hidden_size=8, embed_size=4, seed=0),
        "KneserNey": KneserNey(NGramCounts("to be, or not to be", VOCAB, 3), 3),
    }


@pytest.mark.parametrize("name", list(_all_models()))
def test_every_character_model_has_the_interface(name):
    model = _all_models()[name]
    assert isinstance(model, CharModel)
    check_char_model(model)
    ids = VOCAB.encode("to be")[None]  # (1, 5)
    logits, state = model(ids, None)
    assert logits.shape == (1, 5, V)
    more, _ = model(VOCAB.encode(" or")[None], state)  # the state continues the text
    assert more.shape == (1, 3, V)


def test_only_the_fused_rnn_structure_is_recurrent():
    models = _all_models()
    lm = models.pop("CharLM")
    assert isinstance(lm, RecurrentCharModel) and recurrent_kind(lm) == "LSTM"
    assert check_recurrent(CharLM(V, 4, cell="gru"), "here") == "GRU"
    for name, model in models.items():
        assert recurrent_kind(model) is None, name
        with pytest.raises(TypeError, match="here needs a recurrent character model"):
            check_recurrent(model, "here")
    sub = CharLM(V, 4)
    sub.rnn = type("MyLSTM", (nn.LSTM,), {})(32, 4, batch_first=True)  # a subclass
    assert recurrent_kind(sub) is None  # the replay reads torch's own modules only
    with pytest.raises(TypeError, match="must be a character model"):
        check_char_model(torch.zeros(3))
