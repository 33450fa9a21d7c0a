"""Reading attention: the alignment rule, the measures, the collecting decoder, the
plots, the copy task.

References: the digit each word names, read back from the word independently
of the rule; hand-computed masses and entropies; a decoding loop written
here with ``Seq2Seq.step`` one source at a time.
"""

import hashlib
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from rnnviz.checkpoints import ChecksumError
from rnnviz.labs.attention import (
    AttentionMap,
    aligned_mass,
    aligned_positions,
    attention_entropy,
    collect_attention,
    digit_copy_pairs,
    digit_copy_split,
    load_sweep,
    plot_attention_map,
    plot_decode_step,
)
from rnnviz.labs.seq2seq import (
    BOS,
    EOS,
    PAD,
    PairVocab,
    Seq2Seq,
    number_pair,
    translate,
)

ONES = "zero one two three four five six seven eight nine".split()
TENS = {
    "twenty": 2,
    "thirty": 3,
    "forty": 4,
    "fifty": 5,
    "sixty": 6,
    "seventy": 7,
    "eighty": 8,
    "ninety": 9,
}
TEENS = (
    "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
).split()


# --- the alignment rule ---------------------------------------------------------------


def test_aligned_positions_hand_examples():
    w = lambda word, pos: [pos] * len(word)  # noqa: E731
    assert aligned_positions("9,017", "nine thousand seventeen") == (
        w("nine", (0,)) + [()] + w("thousand", (0,)) + [()] + w("seventeen", (3, 4))
    )
    assert aligned_positions("45", "forty-five") == w("forty", (0,)) + [()] + w(
        "five", (1,)
    )
    assert aligned_positions("0", "zero") == w("zero", (0,))
    assert aligned_positions("700", "seven hundred") == w("seven", (0,)) + [()] + w(
        "hundred", (0,)
    )
    assert aligned_positions("1,230", "one thousand two hundred thirty") == (
        w("one", (0,))
        + [()]
        + w("thousand", (0,))
        + [()]
        + w("two", (2,))
        + [()]
        + w("hundred", (2,))
        + [()]
        + w("thirty", (3,))
    )


def test_aligned_positions_name_their_digits_for_every_number():
    """Each digit-naming word, read back as a number, equals the digit(s) the rule
    points at."""
    for n in range(10_000):
        source, target = number_pair(n)
        pos = aligned_positions(source, target)
        assert len(pos) == len(target)
        k = 0
        for word in target.replace("-", " ").split(" "):
            p = set(pos[k : k + len(word)])
            assert len(p) == 1, (n, word)  # one rule per word
            (digits,) = p
            named = "".join(source[j] for j in digits)
            assert all(source[j].isdigit() for j in digits)
            if word in ONES:
                assert int(named) == ONES.index(word), (n, word)
            elif word in TENS:
                assert int(named) == TENS[word]
            elif word in TEENS:
                assert int(named) == 10 + TEENS.index(word)
            else:  # the scale words: their digit is the one whose word precedes them
                assert word in ("thousand", "hundred")
                assert pos[k - 2] == digits
                assert len(source) - digits[0] == (
                    5 if word == "thousand" else 3
                )  # place counted from the end
            k += len(word) + 1
        assert all(pos[i] == () for i, ch in enumerate(target) if ch in " -")


@pytest.mark.parametrize(
    "source, target",
    [
        ("1,05", "one hundred five"),
        ("1234", "one thousand two hundred thirty-four"),
        ("12,345", "twelve thousand"),
        ("x", "x"),
        ("", ""),
    ],
)
def test_aligned_positions_bad_source(source, target):
    with pytest.raises(ValueError, match="source must be a number"):
        aligned_positions(source, target)


def test_aligned_positions_bad_target_and_types():
    with pytest.raises(ValueError, match="is not number_words"):
        aligned_positions("45", "forty five")
    with pytest.raises(TypeError, match="strings"):
        aligned_positions(45, "forty-five")


# --- mass and entropy -----------------------------------------------------------------


def test_aligned_mass_by_hand():
    alpha = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6]])
    m = aligned_mass(alpha, [(0,), (), (1, 2)])
    assert m[0].item() == pytest.approx(0.7)
    assert math.isnan(m[1].item())
    assert m[2].item() == pytest.approx(0.8)
    assert torch.equal(
        alpha, torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6]])
    )  # not mutated


def test_aligned_mass_errors():
    alpha = torch.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="T = len"):
        aligned_mass(alpha, [(0,)])
    with pytest.raises(ValueError, match="out of range"):
        aligned_mass(alpha, [(0,), (3,)])
    with pytest.raises(ValueError, match="sum to 1"):
        aligned_mass(torch.ones(2, 3), [(0,), (1,)])
    with pytest.raises(ValueError, match="NaN"):
        aligned_mass(torch.tensor([[math.nan, 1.0]]), [(0,)])
    with pytest.raises(TypeError, match="floating-point"):
        aligned_mass(torch.ones(1, 1, dtype=torch.long), [(0,)])


def test_attention_entropy_by_hand():
    alpha = torch.tensor(
        [[1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.25, 0.25, 0.0]]
    )
    torch.testing.assert_close(attention_entropy(alpha), torch.tensor([0.0, 2.0, 1.5]))
    batch = torch.softmax(
        torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0)), -1
    )
    ref = -(batch * batch.log2()).sum(-1)
    torch.testing.assert_close(attention_entropy(batch), ref)
    assert attention_entropy(batch).shape == (2, 3)


def test_attention_entropy_errors():
    with pytest.raises(ValueError, match="non-negative"):
        attention_entropy(torch.tensor([1.5, -0.5]))
    with pytest.raises(ValueError, match="sum to 1"):
        attention_entropy(torch.tensor([0.5, 0.2]))
    with pytest.raises(ValueError, match="non-empty"):
        attention_entropy(torch.zeros(3, 0))


# --- collecting the weights -----------------------------------------------------------

SRC = PairVocab("0123456789,")
TGT = PairVocab("abcde ")


def reference_decode(model, source, max_len):
    """Greedy decoding of one source, written with ``Seq2Seq.step``; returns tokens
    and weights (T, S)."""
    with torch.no_grad():
        ids = torch.tensor([SRC.encode(source)])
        memory = model.encode(ids, torch.tensor([ids.shape[1]]))
        s, prev, tokens, rows = memory.final, torch.tensor([BOS]), [], []
        for _ in range(max_len):
            logits, s, alpha = model.step(prev, s, memory)
            logits[:, [PAD, BOS]] = -math.inf
            prev = logits.argmax(1)
            tokens.append(prev.item()), rows.append(alpha[0])
            if prev.item() == EOS:
                break
    return tokens, torch.stack(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_collect_attention_matches_step_loop(seed):
    model = Seq2Seq(len(SRC), len(TGT), embed_size=8, hidden_size=16, seed=seed)
    with torch.no_grad():
        model.out.bias[EOS] += 1.0 + seed  # some rows stop early, some run to max_len
    sources = ["7", "1,234", "56", "9,000"]
    maps = collect_attention(model, sources, SRC, TGT, max_len=12)
    assert model.training  # the mode is restored
    assert [m.output for m in maps] == translate(model, sources, SRC, TGT, max_len=12)
    for m, source in zip(maps, sources):
        assert isinstance(m, AttentionMap) and m.source == source
        tokens, weights = reference_decode(model, source, 12)
        assert m.finished == (tokens[-1] == EOS)
        assert m.weights.shape == (len(m.output) + m.finished, len(source))
        torch.testing.assert_close(
            m.weights, weights
        )  # padding in the batch changes nothing


def test_collect_attention_errors():
    plain = Seq2Seq(len(SRC), len(TGT), embed_size=8, hidden_size=16, attention=False)
    with pytest.raises(ValueError, match="no attention"):
        collect_attention(plain, ["1"], SRC, TGT)
    model = Seq2Seq(len(SRC), len(TGT), embed_size=8, hidden_size=16)
    with pytest.raises(TypeError, match="not one string"):
        collect_attention(model, "12", SRC, TGT)
    with pytest.raises(ValueError, match="no sources"):
        collect_attention(model, [], SRC, TGT)
    with pytest.raises(ValueError, match="x"):
        collect_attention(model, ["1x"], SRC, TGT)


# --- plots ----------------------------------------------------------------------------


def test_plot_attention_map(no_global_changes):
    w = torch.softmax(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), 1)
    fig = plot_attention_map(w, "1,2", "ab ", marks=[(0,), (), (2,)], colorbar=True)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), w.numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", ",", "2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "\u2423", "eos"]
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[0, 0], [2, 2]])
    assert len(fig.axes) == 2  # the colour bar


def test_plot_attention_map_errors(no_global_changes):
    w = torch.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="len\\(source\\)"):
        plot_attention_map(w, "123", "abc")
    with pytest.raises(ValueError, match="rows"):
        plot_attention_map(w, "12", "a")
    with pytest.raises(ValueError, match="marks"):
        plot_attention_map(w, "12", "abc", marks=[(0,)] * 4)


def test_plot_decode_step(no_global_changes):
    w = torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    fig = plot_decode_step(w, "12", "ab", t=1)
    ax = fig.axes[0]
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [0.6, 0.4])
    assert ax.get_title(loc="left") == "step 2: a[b]"
    assert (
        plot_decode_step(w, "12", "ab", t=2).axes[0].get_title(loc="left")
        == "step 3: ab[eos]"
    )
    with pytest.raises(ValueError, match="t must be"):
        plot_decode_step(w, "12", "ab", t=3)
    with pytest.raises(ValueError, match="t must be"):
        plot_decode_step(w, "12", "ab", t=True)


# --- the copy task --------------------------------------------------------------------


def test_digit_copy_pairs():
    pairs = digit_copy_pairs(500, 2, 6, seed=3)
    assert pairs == digit_copy_pairs(500, 2, 6, seed=3)
    assert pairs != digit_copy_pairs(500, 2, 6, seed=4)
    assert all(s == t and s.isdigit() and 2 <= len(s) <= 6 for s, t in pairs)
    assert {len(s) for s, _ in pairs} == {2, 3, 4, 5, 6}
    assert digit_copy_pairs(500, 2, 6, seed=3, reverse=True) == [
        (s, s[::-1]) for s, _ in pairs
    ]


@pytest.mark.parametrize(
    "args, match",
    [
        ((0, 1, 2), "n must"),
        ((5, 0, 2), "min_len"),
        ((5, 3, 2), "<="),
        ((5, 1, 2.0), "max_len"),
    ],
)
def test_digit_copy_pairs_errors(args, match):
    with pytest.raises(ValueError, match=match):
        digit_copy_pairs(*args, seed=0)


def test_digit_copy_split_keeps_held_out_strings_out_of_training():
    split = digit_copy_split(3000, 1, 4, 6, per_len=50, seed=0)
    assert split == digit_copy_split(3000, 1, 4, 6, per_len=50, seed=0)
    assert split.train != digit_copy_split(3000, 1, 4, 6, per_len=50, seed=1).train
    # at most a fifth of the strings of a length are held out for the test
    assert {n: len(p) for n, p in split.test.items()} == {
        1: 2,
        2: 20,
        3: 50,
        4: 50,
        5: 50,
        6: 50,
    }
    test = [s for p in split.test.values() for s, _ in p]
    valid = [s for s, _ in split.valid]
    train = {s for s, _ in split.train}
    assert len(set(test)) == len(test) and len(set(valid)) == len(valid)
    assert not set(test) & set(valid) and not train & (set(test) | set(valid))
    assert all(len(s) == n for n, p in split.test.items() for s, _ in p)
    assert all(s == t and s.isdigit() for s, t in split.train + split.valid)
    assert len(split.train) == 3000 and {len(s) for s in train} == {1, 2, 3, 4}
    assert {len(s) for s in valid} == {1, 2, 3, 4}
    # the one-digit strings left for training: 10 minus the held-out 2 + 2
    assert {s for s in train if len(s) == 1} == set("0123456789") - set(test + valid)


@pytest.mark.parametrize(
    "args, match",
    [
        ((10, 3, 2, 5, 5), "min_len <= max_len"),
        ((10, 1, 6, 5, 5), "min_len <= max_len"),
        ((0, 1, 2, 3, 5), "n_train"),
    ],
)
def test_digit_copy_split_errors(args, match):
    with pytest.raises(ValueError, match=match):
        digit_copy_split(*args, seed=0)
    with pytest.raises(ValueError, match="held_share"):
        digit_copy_split(10, 1, 2, 3, 5, seed=0, held_share=0.5)


def test_load_sweep_checks_the_hash(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text('{"config": {}}\n')
    good = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_sweep(path, sha256=good) == {"config": {}}
    with pytest.raises(ChecksumError):
        load_sweep(path, sha256="0" * 64)
