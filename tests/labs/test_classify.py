"""Variable-length batches: collate, packed and padded runs against per-example runs,
the classifier."""

import pytest
import torch
from torch import nn

from rnnviz.data import Vocab
from rnnviz.labs.classify import (
    Examples,
    SequenceClassifier,
    accuracy,
    batch_indices,
    collate,
    encode_labels,
    fit,
    last_outputs,
    majority_accuracy,
    masked_mean,
    predict,
    run_rnn,
    speech_examples,
    speeches,
)

LENGTHS = [7, 1, 4, 7, 2]  # unsorted, with a tie and a length-1 sequence


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_seqs(lengths=LENGTHS, vocab=11, seed=0):
    g = gen(seed)
    return [torch.randint(0, vocab, (n,), generator=g) for n in lengths]


def make_rnn(cell, bidirectional=False, num_layers=1, seed=0):
    torch.manual_seed(seed)
    return {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](
        5, 6, num_layers, batch_first=True, bidirectional=bidirectional
    )


def padded_inputs(lengths=LENGTHS, seed=0):
    g = gen(seed)
    lengths = torch.tensor(lengths)
    x = torch.randn(len(lengths), int(lengths.max()), 5, generator=g)  # (B, T, E)
    x[torch.arange(x.shape[1]) >= lengths[:, None]] = (
        99.0  # loud padding: any leak shows
    )
    return x, lengths


# ------------------------------------------------------------------ collate


def test_collate_shapes_lengths_mask():
    seqs = random_seqs()
    b = collate(seqs, labels=[0, 1, 2, 1, 0], pad_id=3)
    assert b.ids.shape == (5, 7) and b.ids.dtype == torch.long
    assert b.lengths.tolist() == LENGTHS
    assert b.mask.dtype == torch.bool and b.mask.sum(1).tolist() == LENGTHS
    for i, s in enumerate(seqs):
        assert torch.equal(b.ids[i, : len(s)], s)
        assert (b.ids[i, len(s) :] == 3).all()
        assert b.mask[i, : len(s)].all() and not b.mask[i, len(s) :].any()
    assert b.labels.tolist() == [0, 1, 2, 1, 0]
    assert collate(seqs).labels is None


def test_collate_does_not_mutate_inputs():
    seqs = random_seqs()
    copies = [s.clone() for s in seqs]
    collate(seqs, pad_id=0).ids.fill_(5)
    assert all(torch.equal(a, b) for a, b in zip(seqs, copies))


@pytest.mark.parametrize(
    "seqs, match",
    [
        ([], "empty batch"),
        (
            [torch.tensor([1, 2]), torch.tensor([], dtype=torch.long)],
            "sequence 1 is empty",
        ),
        ([torch.tensor([[1, 2]])], "1-D"),
        ([[1, 2]], "1-D"),
        ([torch.tensor([1.0, 2.0])], "integer ids"),
    ],
)
def test_collate_rejects_bad_sequences(seqs, match):
    with pytest.raises(ValueError, match=match):
        collate(seqs)


@pytest.mark.parametrize(
    "labels, match",
    [([0], "2 integers"), ([0.5, 1.0], "2 integers"), ([0, -1], ">= 0")],
)
def test_collate_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        collate(random_seqs([2, 3]), labels=labels)


# ---------------------------------------------------------- packed, padded, per example


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_packed_final_states_equal_separate_runs(cell, num_layers):
    rnn = make_rnn(cell, num_layers=num_layers)
    x, lengths = padded_inputs()
    out, final = run_rnn(rnn, x, lengths, "packed")
    assert out.shape == (5, 7, 6) and final.shape == (5, 6)
    for b, n in enumerate(lengths.tolist()):
        o, state = rnn(x[b : b + 1, :n])  # the sequence alone, through the same module
        h = state[0] if cell == "lstm" else state
        torch.testing.assert_close(final[b], h[-1, 0], atol=1e-6, rtol=0)
        torch.testing.assert_close(out[b, :n], o[0], atol=1e-6, rtol=0)
        assert (out[b, n:] == 0).all()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padded_with_mask_equals_packed_and_per_example(cell):
    rnn = make_rnn(cell)
    x, lengths = padded_inputs()
    ref_out, ref_final = run_rnn(rnn, x, lengths, "per_example")
    for method in ("packed", "padded"):
        out, final = run_rnn(rnn, x, lengths, method)
        torch.testing.assert_close(final, ref_final, atol=1e-6, rtol=0)
        torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=0)
    mask = torch.arange(x.shape[1]) < lengths[:, None]
    torch.testing.assert_close(masked_mean(out, mask)[1], ref_out[1, :1].mean(0))


def test_padded_last_step_without_mask_is_wrong():
    """The bug the chapter shows: out[:, -1] ran through the padding of shorter ones."""
    rnn = make_rnn("lstm")
    x, lengths = padded_inputs()
    out, _ = rnn(x)
    _, ref = run_rnn(rnn, x, lengths, "per_example")
    wrong = (out[:, -1] - ref).abs().amax(1)  # (B,)
    full = lengths == lengths.max()
    assert (wrong[full] < 1e-6).all() and (wrong[~full] > 1e-3).all()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bidirectional_final_state_equals_manual_reversal(cell):
    rnn = make_rnn(cell, bidirectional=True)
    x, lengths = padded_inputs()
    out, final = run_rnn(rnn, x, lengths, "packed")
    assert final.shape == (5, 12)
    # the backward direction by hand: a unidirectional layer with the *_reverse weights,
    # run on each sequence reversed within its own length
    back = make_rnn(cell)
    with torch.no_grad():
        for name, p in back.named_parameters():
            p.copy_(getattr(rnn, name + "_reverse"))
    fwd = make_rnn(cell)
    with torch.no_grad():
        for name, p in fwd.named_parameters():
            p.copy_(getattr(rnn, name))
    for b, n in enumerate(lengths.tolist()):
        seq = x[b : b + 1, :n]
        o_f, _ = fwd(seq)
        o_b, _ = back(seq.flip(1))
        torch.testing.assert_close(final[b, :6], o_f[0, -1], atol=1e-6, rtol=0)
        torch.testing.assert_close(final[b, 6:], o_b[0, -1], atol=1e-6, rtol=0)
        torch.testing.assert_close(
            out[b, :n, 6:], o_b[0].flip(0), atol=1e-6, rtol=0
        )  # step t: read t..n-1
    torch.testing.assert_close(
        last_outputs(out, lengths, True), final, atol=1e-6, rtol=0
    )


def test_bidirectional_padded_is_refused_and_would_be_wrong():
    rnn = make_rnn("gru", bidirectional=True)
    x, lengths = padded_inputs()
    with pytest.raises(ValueError, match="backward direction"):
        run_rnn(rnn, x, lengths, "padded")
    out, _ = rnn(
        x
    )  # what 'padded' would compute: the backward half read the padding first
    _, ref = run_rnn(rnn, x, lengths, "per_example")
    wrong = (last_outputs(out, lengths, True) - ref).abs().amax(1)
    short = lengths < lengths.max()
    assert (wrong[short] > 1e-3).all()


def test_pad_value_does_not_matter():
    model = SequenceClassifier(
        11, 3, hidden_size=8, embed_size=4, bidirectional=True, readout="mean", seed=0
    )
    seqs = random_seqs()
    a, b = collate(seqs, pad_id=0), collate(seqs, pad_id=10)
    with torch.no_grad():
        torch.testing.assert_close(
            model(a.ids, a.lengths), model(b.ids, b.lengths), atol=1e-6, rtol=0
        )


def test_run_rnn_rejects_bad_input():
    rnn = make_rnn("lstm")
    x, lengths = padded_inputs()
    with pytest.raises(ValueError, match="lengths must lie"):
        run_rnn(rnn, x, torch.tensor([7, 0, 4, 7, 2]))
    with pytest.raises(ValueError, match="lengths must lie"):
        run_rnn(rnn, x, torch.tensor([8, 1, 4, 7, 2]))
    with pytest.raises(ValueError, match=r"\(B, T, E\)"):
        run_rnn(rnn, x[0], lengths)
    with pytest.raises(ValueError, match="method"):
        run_rnn(rnn, x, lengths, "sorted")
    with pytest.raises(ValueError, match="batch_first"):
        run_rnn(nn.LSTM(5, 6), x, lengths)


# ------------------------------------------------------------------ the classifier


@pytest.mark.parametrize("readout", ["last", "mean"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_methods_agree(readout, bidirectional):
    model = SequenceClassifier(
        11,
        3,
        hidden_size=8,
        embed_size=4,
        cell="lstm",
        bidirectional=bidirectional,
        readout=readout,
        seed=0,
    )
    b = collate(random_seqs())
    with torch.no_grad():
        ref = model(b.ids, b.lengths, "per_example")
        assert ref.shape == (5, 3)
        torch.testing.assert_close(
            model(b.ids, b.lengths, "packed"), ref, atol=1e-6, rtol=0
        )
        if not bidirectional:
            torch.testing.assert_close(
                model(b.ids, b.lengths, "padded"), ref, atol=1e-6, rtol=0
            )
        # and each sequence alone in a batch of one
        for i, s in enumerate(random_seqs()):
            alone = model(s[None], torch.tensor([len(s)]))
            torch.testing.assert_close(alone[0], ref[i], atol=1e-6, rtol=0)


def test_classifier_rejects_bad_input():
    model = SequenceClassifier(11, 3, hidden_size=8, embed_size=4, seed=0)
    b = collate(random_seqs())
    with pytest.raises(ValueError, match="ids must lie"):
        model(b.ids + 20, b.lengths)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(b.ids[0], b.lengths)
    with pytest.raises(ValueError, match="lengths must be"):
        model(b.ids, b.lengths[:2])
    with pytest.raises(ValueError, match="labels must lie"):
        accuracy(model, random_seqs(), torch.tensor([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match="readout"):
        SequenceClassifier(11, 3, readout="max")
    with pytest.raises(ValueError, match="cell"):
        SequenceClassifier(11, 3, cell="transformer")
    with pytest.raises(ValueError, match="num_classes"):
        SequenceClassifier(11, 1)


def _toy_task(n=120, seed=0):
    """Class 1 iff the sequence contains id 3; lengths 1..12."""
    g = gen(seed)
    seqs = [
        torch.randint(
            0, 6, (int(torch.randint(1, 13, (1,), generator=g)),), generator=g
        )
        for _ in range(n)
    ]
    return seqs, torch.tensor([int((s == 3).any()) for s in seqs])


def test_fit_is_deterministic_and_learns():
    seqs, labels = _toy_task()
    held = _toy_task(60, seed=1)
    models, hists = [], []
    for _ in range(2):
        m = SequenceClassifier(
            6, 2, hidden_size=16, embed_size=8, readout="mean", seed=3
        )
        hists.append(
            fit(
                m,
                seqs,
                labels,
                steps=150,
                batch_size=16,
                lr=1e-2,
                seed=5,
                held_out=held,
                eval_every=50,
            )
        )
        models.append(m)
    assert hists[0].train_loss == hists[1].train_loss
    assert all(
        torch.equal(a, b)
        for a, b in zip(models[0].parameters(), models[1].parameters())
    )
    assert hists[0].eval_step == [50, 100, 150]
    assert hists[0].metrics["accuracy"][-1] > 0.85
    assert not models[0].training
    other = SequenceClassifier(
        6, 2, hidden_size=16, embed_size=8, readout="mean", seed=3
    )
    fit(other, seqs, labels, steps=20, batch_size=16, lr=1e-2, seed=6)
    assert not torch.equal(
        other.head.weight, SequenceClassifier(6, 2, 16, 8, seed=3).head.weight
    )


def test_fit_leaves_global_random_state_alone():
    seqs, labels = _toy_task(30)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(
        SequenceClassifier(6, 2, hidden_size=4, embed_size=2, seed=0),
        seqs,
        labels,
        steps=3,
        batch_size=8,
    )
    assert torch.equal(torch.rand(3), expected)


def test_fit_rejects_bad_labels():
    seqs, _ = _toy_task(10)
    model = SequenceClassifier(6, 2, hidden_size=4, embed_size=2, seed=0)
    with pytest.raises(ValueError, match="labels must lie"):
        fit(model, seqs, torch.full((10,), 2), steps=1)
    with pytest.raises(ValueError, match="labels of shape"):
        fit(model, seqs, torch.zeros(9, dtype=torch.long), steps=1)


def test_predict_order_matches_inputs():
    seqs, _ = _toy_task(40)
    model = SequenceClassifier(6, 2, hidden_size=4, embed_size=2, seed=0)
    p = predict(model, seqs, batch_size=7)
    assert p.shape == (40,)
    assert torch.equal(p, torch.stack([predict(model, [s])[0] for s in seqs]))


def _mean_spread(batches, lengths):
    """Mean over batches of (longest - shortest) length: the padding a batch carries."""
    spreads = [
        max(lengths[i] for i in b.tolist()) - min(lengths[i] for i in b.tolist())
        for b in batches
    ]
    return sum(spreads) / len(spreads)


def test_batch_indices_cover_each_epoch_once_and_bucket():
    lengths = [int(v) for v in torch.randint(1, 200, (100,), generator=gen(2))]
    it = batch_indices(lengths, 8, gen(0), bucket=4)
    epoch = []  # chunks of 32, 32, 32, 4 examples: 13 batches
    while sum(len(b) for b in epoch) < 100:
        epoch.append(next(it))
    assert sum(len(b) for b in epoch) == 100
    assert sorted(torch.cat(epoch).tolist()) == list(range(100))
    plain = batch_indices(lengths, 8, gen(0), bucket=1)
    assert _mean_spread(epoch, lengths) < 0.5 * _mean_spread(
        [next(plain) for _ in range(13)], lengths
    )
    again, first = (
        batch_indices(lengths, 8, gen(0), bucket=4),
        batch_indices(lengths, 8, gen(0), bucket=4),
    )
    assert all(torch.equal(next(again), next(first)) for _ in range(30))


# ------------------------------------------------------------------ examples from plays

PLAYS = {
    "alpha": (
        "Anna:\nOne line.\n\nBen:\nTwo\nlines.\n\n"
        "Anna:\nA third speech, which is longer.\n"
    ),
    "beta": "Carl:\nHello.\n\nAnna:\nHi.\n",
}


def test_speeches_parse_names_and_text():
    assert speeches(PLAYS["alpha"]) == [
        ("Anna", "One line."),
        ("Ben", "Two\nlines."),
        ("Anna", "A third speech, which is longer."),
    ]
    with pytest.raises(ValueError, match="not a speech"):
        speeches("Anna said hello\n")


def test_speech_examples_by_play_and_speaker():
    ex = speech_examples(PLAYS, ["beta", "alpha"], max_chars=10)
    assert ex.classes == ("beta", "alpha")
    assert ex.labels == (0, 0, 1, 1, 1)
    assert ex.texts[-1] == "A third sp" and max(map(len, ex.texts)) == 10
    assert ex.counts() == {"beta": 2, "alpha": 3}
    by_speaker = speech_examples(PLAYS, ["Anna", "Carl"], by="speaker")
    assert by_speaker.labels == (0, 0, 1, 0) and by_speaker.texts[-1] == "Hi."


@pytest.mark.parametrize(
    "classes, by, match",
    [
        (["alpha", "gamma"], "play", "unknown play"),
        (["Anna", "Zed"], "speaker", "unknown speaker"),
        (["alpha"], "play", "two distinct"),
        (["alpha", "alpha"], "play", "two distinct"),
        (["alpha", "beta"], "genre", "by must be"),
    ],
)
def test_speech_examples_errors(classes, by, match):
    with pytest.raises(ValueError, match=match):
        speech_examples(PLAYS, classes, by=by)


def test_examples_validate_and_split_deterministically():
    with pytest.raises(ValueError, match="empty example"):
        Examples(("ab", ""), (0, 1), ("x", "y"))
    with pytest.raises(ValueError, match="label 2"):
        Examples(("ab", "c"), (0, 2), ("x", "y"))
    with pytest.raises(ValueError, match="unknown label"):
        encode_labels(["x", "z"], ["x", "y"])
    ex = Examples(tuple("abcdefghij"), tuple([0, 1] * 5), ("x", "y"))
    tr, ho = ex.split(0.3, seed=4)
    assert len(tr) == 7 and len(ho) == 3
    assert sorted(tr.texts + ho.texts) == list("abcdefghij")
    assert ex.split(0.3, seed=4) == (tr, ho)
    assert ex.split(0.3, seed=5) != (tr, ho)
    with pytest.raises(ValueError, match="empty part"):
        ex.split(0.01, seed=0)
    v = Vocab.from_text("abcdefghij")
    assert [t.tolist() for t in tr.encode(v)] == [
        v.encode(t).tolist() for t in tr.texts
    ]


def test_majority_accuracy():
    assert majority_accuracy([0, 1, 1, 2], [1, 1, 0, 2]) == 0.5
    with pytest.raises(ValueError):
        majority_accuracy([], [1])
