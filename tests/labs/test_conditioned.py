"""The genre-conditioned LSTM (rnnviz.labs.conditioned).

Losses are checked with rnnviz.train.evaluate on the fixed-label model, which
does not depend on the matrix code under test.
"""

import pytest
import torch

from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.labs import conditioned as cd
from rnnviz.train import evaluate

TEXTS = ["ab ab ab abba\n" * 30, "xy xyz xy\n" * 30, "mnm nmn\n" * 30]
VOCAB = Vocab.from_text("".join(TEXTS))
IDS = [VOCAB.encode(t) for t in TEXTS]


def _model(k=3, seed=0):
    return cd.ConditionedLM(
        len(VOCAB), k, hidden_size=16, embed_size=8, cond_size=4, seed=seed
    )


def test_genre_of_reads_the_folders():
    assert cd.genre_of("twelfth-night") == "comedy"
    assert cd.genre_of("julius-caesar") == "tragedy"  # a Roman play
    assert cd.genre_of("henry-v") == "history"
    assert cd.genre_of("the-tempest") is None  # a romance: left out
    with pytest.raises(KeyError):
        cd.genre_of("no-such-play")


def test_genre_texts_joins_each_genres_plays_of_the_split():
    corpus = load_corpus()
    train = cd.genre_texts(corpus, "train")
    valid = cd.genre_texts(corpus, "valid")
    assert list(train) == list(cd.GENRES)
    assert list(valid) == ["comedy", "tragedy"]
    assert valid["comedy"] == corpus.plays["twelfth-night"]
    assert corpus.plays["macbeth"] in train["tragedy"]
    assert corpus.plays["julius-caesar"] not in train["tragedy"]


def test_the_label_changes_the_prediction_and_is_checked():
    m = _model()
    x = IDS[0][:20].reshape(2, 10)
    a, _ = m(x, torch.tensor([0, 1]))
    b, _ = m(x, torch.tensor([0, 2]))
    assert a.shape == (2, 10, len(VOCAB))
    torch.testing.assert_close(a[0], b[0])  # row 0 has the same label
    assert not torch.allclose(a[1], b[1])
    with pytest.raises(ValueError):
        m(x, torch.tensor([0, 3]))  # no fourth genre
    with pytest.raises(ValueError):
        m(x, torch.tensor([0]))  # one label for two rows
    with pytest.raises(ValueError):
        _model(k=1)(x, torch.tensor([0, 1]))


def test_with_condition_is_the_model_with_every_row_labelled():
    m = _model()
    x = IDS[1][:30].reshape(3, 10)
    fixed = cd.with_condition(m, 2)
    torch.testing.assert_close(fixed(x)[0], m(x, torch.full((3,), 2))[0])
    with pytest.raises(ValueError):
        cd.with_condition(m, 3)


def test_genre_batches_are_balanced_windows_of_each_genres_text():
    gen = torch.Generator().manual_seed(0)
    x, y, cond = cd.genre_batches(IDS, 7, 5, gen)
    assert x.shape == y.shape == (7, 5)
    assert cond.tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert torch.equal(y[:, :-1], x[:, 1:])
    for row, k in zip(x, cond.tolist()):
        assert VOCAB.decode(row) in TEXTS[k]


def test_training_is_deterministic_and_lowers_the_loss():
    a, b = _model(), _model()
    ha = cd.train_conditioned(a, IDS, steps=60, batch_size=6, seq_len=12, seed=1)
    hb = cd.train_conditioned(b, IDS, steps=60, batch_size=6, seq_len=12, seed=1)
    assert ha.train_loss == hb.train_loss
    assert sum(ha.train_loss[-10:]) < 0.8 * sum(ha.train_loss[:10])


def test_the_control_trains_on_the_same_windows_without_a_label():
    m = _model(k=1)
    h = cd.train_conditioned(m, IDS, steps=3, batch_size=6, seq_len=12, seed=1)
    assert len(h.train_loss) == 3


def test_condition_matrix_scores_each_text_under_each_label():
    m = _model()
    cd.train_conditioned(m, IDS, steps=80, batch_size=6, seq_len=12, seed=0)
    held = {"a": IDS[0][:200], "b": IDS[1][:200]}
    matrix = cd.condition_matrix(m, held, batch_size=4)
    assert list(matrix) == ["a", "b"] and all(len(r) == 3 for r in matrix.values())
    assert matrix["b"][1] == evaluate(cd.with_condition(m, 1), held["b"], batch_size=4)
    # trained on distinct texts, each text is predicted best under its own label
    assert min(range(3), key=matrix["a"].__getitem__) == 0
    assert min(range(3), key=matrix["b"].__getitem__) == 1


def test_load_sweep_refuses_a_result_with_another_hash(monkeypatch):
    monkeypatch.setattr(cd, "SWEEP_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        cd.load_sweep()


def test_the_shipped_sweep_loads_and_matches_the_settings():
    result = cd.load_sweep()
    assert result["config"] == {**cd.SWEEP}
    assert result["genres"] == list(cd.GENRES)
    assert len(result["runs"]) == 2 * (
        len(cd.SWEEP["lrs"]) + len(cd.SWEEP["seeds"]) - 1
    )
