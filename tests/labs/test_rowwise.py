"""Images read as sequences (rnnviz.labs.rowwise).

References: scikit-learn's own copy of the digits, torch's fused modules run
directly, and a chance / majority baseline for the trained classifier.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from rnnviz.labs import rowwise

DIGITS = rowwise.load_digits_split(test_fraction=0.25, seed=0)


def test_split_is_disjoint_complete_seeded_and_matches_sklearn():
    d = DIGITS
    assert not set(d.train_index) & set(d.test_index)
    assert sorted(np.concatenate([d.train_index, d.test_index]).tolist()) == list(
        range(1797)
    )
    assert len(d.test_labels) == round(0.25 * 1797) and d.train_images.shape == (
        1797 - 449,
        8,
        8,
    )
    ref = load_digits()
    np.testing.assert_allclose(
        d.test_images.numpy(), ref.images[d.test_index] / 16.0, rtol=1e-6
    )
    assert d.test_labels.tolist() == ref.target[d.test_index].tolist()
    again, other = (
        rowwise.load_digits_split(0.25, seed=0),
        rowwise.load_digits_split(0.25, seed=1),
    )
    assert np.array_equal(again.test_index, d.test_index) and not np.array_equal(
        other.test_index, d.test_index
    )
    assert float(d.train_images.min()) == 0.0 and float(d.train_images.max()) == 1.0
    counts = np.bincount(d.train_labels.numpy(), minlength=10)
    assert d.majority_accuracy() == pytest.approx(
        float((d.test_labels == counts.argmax()).float().mean())
    )


def test_readings_shapes_and_order():
    img = torch.arange(2 * 8 * 8, dtype=torch.float32).view(2, 8, 8)
    rows, cols, pix = (
        rowwise.as_sequence(img, r) for r in ("rows", "columns", "pixels")
    )
    assert rows.shape == cols.shape == (2, 8, 8) and pix.shape == (2, 64, 1)
    assert torch.equal(rows[1, 3], img[1, 3])  # step 3 = row 3
    assert torch.equal(cols[1, 3], img[1, :, 3])  # step 3 = column 3
    assert torch.equal(pix[1, :, 0], img[1].flatten())  # row after row
    rows[0, 0, 0] = -1.0
    assert (
        img[0, 0, 0] == 0.0
    )  # a copy: the images are never changed through the sequence


def test_reader_applies_the_head_at_every_step_like_torch():
    model = rowwise.SequenceReader(8, 16, "gru", seed=0)
    x = torch.randn(5, 8, 8, generator=torch.Generator().manual_seed(0))
    logits = model(x)
    assert logits.shape == (5, 8, 10)
    ref_rnn = torch.nn.GRU(8, 16, batch_first=True)
    ref_rnn.load_state_dict(model.rnn.state_dict())
    with torch.no_grad():
        h, _ = ref_rnn(x)
        torch.testing.assert_close(
            logits.detach(), h @ model.head.weight.T + model.head.bias
        )
    p = rowwise.stepwise_probs(model, x)
    torch.testing.assert_close(p.sum(-1), torch.ones(5, 8))
    assert torch.equal(
        rowwise.SequenceReader(8, 16, "gru", seed=0).rnn.weight_hh_l0,
        model.rnn.weight_hh_l0,
    )


def test_training_beats_majority_and_is_deterministic():
    torch.set_num_threads(1)
    d = DIGITS
    x, xt = (
        rowwise.as_sequence(d.train_images, "rows"),
        rowwise.as_sequence(d.test_images, "rows"),
    )
    accs = []
    for _ in range(2):
        model = rowwise.SequenceReader(8, 32, "lstm", seed=0)
        losses = rowwise.fit(model, x, d.train_labels, steps=120, seed=0).train_loss
        accs.append(rowwise.accuracy(model, xt, d.test_labels))
    assert accs[0].shape == (8,) and np.array_equal(accs[0], accs[1])
    assert accs[0][-1] > 0.8 > 5 * d.majority_accuracy() and losses[-1] < losses[0]
    anytime = rowwise.SequenceReader(8, 32, "lstm", seed=0)
    rowwise.fit(anytime, x, d.train_labels, steps=120, anytime=True, seed=0)
    acc = rowwise.accuracy(anytime, xt, d.test_labels)
    assert (
        acc[0] < acc[-1] and acc[3] > 0.3
    )  # trained at every row: useful before the end


def test_errors():
    model = rowwise.SequenceReader(8, 4, seed=0)
    x, y = torch.zeros(3, 8, 8), torch.zeros(3, dtype=torch.int64)
    with pytest.raises(ValueError, match="reading"):
        rowwise.as_sequence(x, "diagonals")
    with pytest.raises(ValueError, match=r"\(N, height, width\)"):
        rowwise.as_sequence(torch.zeros(8, 8))
    with pytest.raises(ValueError, match="NaN"):
        rowwise.as_sequence(torch.full((1, 8, 8), float("nan")))
    with pytest.raises(TypeError, match="floating"):
        rowwise.as_sequence(torch.zeros(1, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        model(torch.zeros(3, 64, 1))
    with pytest.raises(ValueError, match="cell"):
        rowwise.SequenceReader(8, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size"):
        rowwise.SequenceReader(8, 0)
    with pytest.raises(ValueError, match="labels"):
        rowwise.fit(model, x, y.float())
    with pytest.raises(ValueError, match="N = 2 labels"):
        rowwise.fit(model, x, y[:2])
    with pytest.raises(ValueError, match="steps"):
        rowwise.fit(model, x, y, steps=0)
    with pytest.raises(ValueError, match="lr"):
        rowwise.fit(model, x, y, lr=float("nan"))
    with pytest.raises(TypeError, match="SequenceReader"):
        rowwise.accuracy(torch.nn.Linear(8, 10), x, y)
    with pytest.raises(ValueError, match="test_fraction"):
        rowwise.load_digits_split(1.5)
