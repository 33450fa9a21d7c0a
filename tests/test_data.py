"""Tests for rnnviz.data: vocabulary, random windows, contiguous streams."""

import json

import pytest
import torch

from rnnviz.data import (
    UnknownCharacterError,
    Vocab,
    num_stream_batches,
    random_windows,
    stream_batches,
)

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"


# ---------------------------------------------------------------- Vocab


def test_vocab_from_text():
    v = Vocab.from_text("banana")
    assert v.chars == ("a", "b", "n") and len(v) == 3
    assert v.stoi == {"a": 0, "b": 1, "n": 2}
    assert v.encode("banana").tolist() == [1, 0, 2, 0, 2, 0]


def test_round_trip():
    v = Vocab.from_text(TEXT)
    assert v.chars == tuple(sorted(set(TEXT)))
    ids = v.encode(TEXT)
    assert ids.dtype == torch.long and ids.shape == (len(TEXT),)
    assert ids.tolist() == [v.chars.index(ch) for ch in TEXT]  # independent lookup
    assert v.decode(ids) == TEXT
    assert v.decode(ids.tolist()) == TEXT
    assert v.decode(ids.to(torch.int32)) == TEXT


def test_unknown_character_message():
    v = Vocab.from_text(TEXT)
    bad = "Before we proceed \u00e9 any further ZZ"
    with pytest.raises(UnknownCharacterError) as err:
        v.encode(bad)
    msg = str(err.value)
    assert repr("\u00e9") in msg
    assert "position 18" in msg  # bad.index("é") == 18
    assert "proceed" in msg  # context
    n_unknown = sum(ch not in set(TEXT) for ch in bad)  # é, Z, Z
    assert n_unknown == 3 and f"{n_unknown} unknown" in msg
    assert isinstance(err.value, ValueError)


def test_empty_text():
    with pytest.raises(ValueError, match="empty text"):
        Vocab.from_text("")
    with pytest.raises(ValueError, match="empty text"):
        Vocab.from_text("abc").encode("")


@pytest.mark.parametrize(
    "ids",
    [[0, 3], [-1], torch.tensor([[0, 1]]), torch.tensor(1), torch.tensor([0.0, 1.0])],
)
def test_decode_bad_ids(ids):
    with pytest.raises(ValueError):
        Vocab.from_text("abc").decode(ids)


def test_decode_error_names_the_id():
    with pytest.raises(ValueError, match="id 7 out of range.* 3 characters"):
        Vocab.from_text("abc").decode([0, 7])


def test_dict_round_trip_and_equality():
    v = Vocab.from_text(TEXT)
    d = json.loads(json.dumps(v.to_dict()))
    w = Vocab.from_dict(d)
    assert w == v and hash(w) == hash(v) and w.stoi == v.stoi
    assert Vocab.from_text("abc") != Vocab.from_text("abd")
    assert Vocab.from_text("abc") != "abc"
    with pytest.raises(ValueError):
        Vocab.from_dict({"chars": "aa"})
    with pytest.raises(ValueError):
        Vocab.from_dict({})


def test_encode_does_not_mutate_and_is_independent():
    v = Vocab.from_text("abc")
    ids = v.encode("abc")
    ids[0] = 2
    assert v.encode("abc").tolist() == [0, 1, 2]


# ---------------------------------------------------------------- random windows


def ids_range(n: int) -> torch.Tensor:
    return torch.arange(n)  # ids[i] == i, so a window shows its own offset


def test_random_windows_shapes_and_shift():
    ids = ids_range(100)
    x, y = random_windows(ids, 8, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16)
    assert x.dtype == y.dtype == ids.dtype
    assert torch.equal(y[:, :-1], x[:, 1:])
    starts = x[:, 0]
    assert torch.equal(x, starts[:, None] + torch.arange(16))  # contiguous windows
    assert torch.equal(y, x + 1)
    assert int(starts.min()) >= 0 and int(y.max()) <= 99


def test_random_windows_reach_both_ends():
    ids = ids_range(10)
    x, _ = random_windows(ids, 2000, 4, torch.Generator().manual_seed(1))
    assert set(x[:, 0].tolist()) == set(range(0, 6))  # offsets 0..N-T-1, all drawn


def test_random_windows_determinism():
    ids = ids_range(1000)
    a = random_windows(ids, 4, 32, torch.Generator().manual_seed(123))
    b = random_windows(ids, 4, 32, torch.Generator().manual_seed(123))
    c = random_windows(ids, 4, 32, torch.Generator().manual_seed(124))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_random_windows_does_not_mutate():
    ids = ids_range(50)
    before = ids.clone()
    x, _ = random_windows(ids, 4, 8, torch.Generator().manual_seed(0))
    x.zero_()
    assert torch.equal(ids, before)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=2.0), "batch_size"),
        (dict(batch_size=True), "batch_size"),
        (dict(seq_len=-3), "seq_len"),
        (dict(seq_len=20), "seq_len=20"),  # len(ids) == 20 is not > seq_len
        (dict(ids=torch.zeros(20)), "dtype"),
        (dict(ids=torch.zeros(4, 5, dtype=torch.long)), "1-D"),
        (dict(ids=list(range(20))), "ids"),
    ],
)
def test_random_windows_bad_arguments(kwargs, name):
    args = dict(
        ids=ids_range(20),
        batch_size=2,
        seq_len=4,
        generator=torch.Generator().manual_seed(0),
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        random_windows(**args)


# ---------------------------------------------------------------- streams


@pytest.mark.parametrize("n, B, T", [(103, 4, 5), (100, 4, 8), (41, 2, 4), (10, 5, 3)])
def test_stream_batches_continuity(n, B, T):
    ids = ids_range(n)
    batches = list(stream_batches(ids, B, T))
    L = n // B
    assert len(batches) == num_stream_batches(n, B, T)
    for x, y in batches[:-1]:
        assert x.shape == y.shape == (B, T)
    assert batches[-1][0].shape[1] == (L - 1) - (len(batches) - 1) * T  # may be shorter
    for b in range(B):
        stream = ids[b * L : (b + 1) * L]  # the b-th contiguous stream
        xs = torch.cat([x[b] for x, _ in batches])
        ys = torch.cat([y[b] for _, y in batches])
        assert torch.equal(xs, stream[:-1]) and torch.equal(ys, stream[1:])


def test_num_stream_batches_by_hand():
    assert num_stream_batches(103, 4, 5) == 5  # L = 25, 24 inputs: 5+5+5+5+4
    assert num_stream_batches(100, 4, 8) == 3  # L = 25, 24 inputs: 8+8+8
    assert num_stream_batches(10, 5, 3) == 1  # L = 2, 1 input


def test_stream_batches_copies():
    ids = ids_range(40)
    before = ids.clone()
    for x, y in stream_batches(ids, 2, 4):
        x.zero_()
        y.zero_()
    assert torch.equal(ids, before)


@pytest.mark.parametrize(
    "args, name",
    [
        ((ids_range(20), 0, 4), "batch_size"),
        ((ids_range(20), 2, 0), "seq_len"),
        ((ids_range(20), 11, 4), "too short"),  # streams of 1 id
        ((torch.zeros(20), 2, 4), "dtype"),
        ((ids_range(20).view(4, 5), 2, 4), "1-D"),
    ],
)
def test_stream_batches_bad_arguments(args, name):
    with pytest.raises(ValueError, match=name):
        stream_batches(*args)  # raises at the call, not at the first next()


def test_num_stream_batches_bad_arguments():
    with pytest.raises(ValueError, match="n_ids"):
        num_stream_batches(-1, 2, 3)
    with pytest.raises(ValueError, match="seq_len"):
        num_stream_batches(100, 2, 0)
    with pytest.raises(ValueError, match="too short"):
        num_stream_batches(3, 2, 3)


def test_corpus_vocabulary():
    from rnnviz.corpus import load_corpus

    c = load_corpus()
    v = Vocab.from_text(c.text)
    assert len(v) == len(set(c.text)) == 70
    assert v.decode(v.encode(c.test)) == c.test  # held-out plays encode without error
