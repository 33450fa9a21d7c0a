"""Tests for rnnviz.ngram against plain-Python references written from the formulas."""

import functools
import itertools
import math
import random
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rnnviz.data import UnknownCharacterError, Vocab
from rnnviz.ngram import (
    AddK,
    KneserNey,
    NGramCounts,
    baseline,
    best_of,
    tune,
    validation_table,
)
from rnnviz.sampling import generate, sample

TRAIN = (
    "abracadabra, a cadaver! barbara bred a rabid crab; dad can read. " * 3 + "zebra"
)
HELD = "a bad cab, a dread zebra; bra!"
VOCAB = Vocab.from_text(
    TRAIN + HELD + "x"
)  # "x" never occurs: an always-unseen character
CHARS = VOCAB.chars
V = len(CHARS)


@pytest.fixture(scope="module")
def counts():
    return NGramCounts(TRAIN, VOCAB, max_n=4)


# ------------------------------------------------ plain-Python references


@functools.cache
def ref_counts(text, max_n):
    """c[g] for each substring g of length 1..max_n; cont[g]: distinct chars before."""
    c = Counter(
        text[i : i + m] for m in range(1, max_n + 1) for i in range(len(text) - m + 1)
    )
    before = {}
    for i in range(1, len(text)):
        for m in range(1, max_n):
            if i + m <= len(text):
                before.setdefault(text[i : i + m], set()).add(text[i - 1])
    cont = Counter({g: len(s) for g, s in before.items()})
    return c, cont


def ref_add_k(text, n, k, context, w):
    c, _ = ref_counts(text, n)
    h = context[max(0, len(context) - n + 1) :] if n > 1 else ""
    total = sum(c[h + x] for x in CHARS)
    return (c[h + w] + k) / (total + k * V)


def ref_kneser_ney(text, n, D, context, w):
    """Interpolated Kneser-Ney as in Chen and Goodman (1999), written recursively."""
    c, cont = ref_counts(text, n)
    h = context[max(0, len(context) - n + 1) :] if n > 1 else ""
    Ds = [D] * n if isinstance(D, float) else list(D)

    def p(h, w, own_order):
        if h is None:  # below order 1: uniform
            return 1 / V
        a = c if own_order else cont
        lower = p(h[1:] if h else None, w, False)
        total = sum(a[h + x] for x in CHARS)
        types = sum(1 for x in CHARS if a[h + x] > 0)
        if total == 0:
            return lower
        d = Ds[len(h)]
        return (max(a[h + w] - d, 0) + d * types * lower) / total

    return p(h, w, True)


def contexts(max_len):
    """Every string over CHARS of length 0..max_len (seen or not)."""
    for L in range(max_len + 1):
        for t in itertools.product(CHARS, repeat=L):
            yield "".join(t)


# ------------------------------------------------ counts


def test_counts_match_plain_counting(counts):
    c, cont = ref_counts(TRAIN, 4)
    for g in ["a", "ab", "abr", "abra", "z", "x", "xa", "bra,", "a b", "dad "]:
        assert counts.count(g) == c[g], g
    for g in ["a", "b", "ra", "a,", "cad", "x", " a "]:
        assert counts.continuation_count(g) == cont[g], g
    for n in range(1, 5):
        assert counts.distinct(n) == len({g for g in c if len(g) == n})
        assert counts.distinct(n, times=1) == sum(
            1 for g, v in c.items() if len(g) == n and v == 1
        )
    assert counts.next_counts("ab").tolist() == [c["ab" + x] for x in CHARS]
    assert counts.next_counts("").sum() == len(TRAIN)


# ------------------------------------------------ probabilities


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_distribution_sums_to_one(counts, n):
    """Every context up to length 2 (seen or not), and 300 random ones of length 3."""
    rng = random.Random(0)
    longer = ["".join(rng.choices(CHARS, k=3)) for _ in range(300)] + [
        "abr",
        "xxa",
        "d a",
    ]
    for model in (
        AddK(counts, n, k=0.3),
        KneserNey(counts, n, discount=0.7),
        KneserNey(counts, n, 1.0),
    ):
        for h in itertools.chain(contexts(2), longer if n == 4 else []):
            p = model.next_probs(h)
            assert p.shape == (V,) and (p > 0).all()
            assert abs(p.sum() - 1) < 1e-12, (model, h)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_add_k_matches_reference(counts, n):
    model = AddK(counts, n, k=0.25)
    for h in ["", "a", "ra", "bra", "abra", "xx", "x", "d b", "cad"]:
        want = [ref_add_k(TRAIN, min(n, len(h) + 1), 0.25, h, w) for w in CHARS]
        np.testing.assert_allclose(model.next_probs(h), want, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("D", [0.3, 0.75, 1.0])
def test_kneser_ney_matches_reference(counts, n, D):
    model = KneserNey(counts, n, discount=D)
    for h in ["", "a", "ra", "bra", "abra", "xx", "x", "d b", "cad", ",", "! "]:
        want = [ref_kneser_ney(TRAIN, min(n, len(h) + 1), D, h, w) for w in CHARS]
        np.testing.assert_allclose(model.next_probs(h), want, rtol=1e-12)


def test_kneser_ney_per_order_discounts(counts):
    Ds = (0.2, 0.6, 0.9)
    model = KneserNey(counts, 3, discount=Ds)
    assert model.discounts == Ds
    for h in ["ab", "x", "ra", ""]:
        want = [ref_kneser_ney(TRAIN, min(3, len(h) + 1), Ds, h, w) for w in CHARS]
        np.testing.assert_allclose(model.next_probs(h), want, rtol=1e-12)


def test_huge_k_is_uniform(counts):
    for n in (1, 3):
        np.testing.assert_allclose(
            AddK(counts, n, k=1e12).next_probs("abr"), 1 / V, rtol=1e-9
        )


def test_unigram_add_k_by_hand(counts):
    k, N = 0.5, len(TRAIN)
    p = AddK(counts, 1, k=k).next_probs("anything is ignored")
    for ch in "abz,x":
        assert p[VOCAB.stoi[ch]] == pytest.approx(
            (TRAIN.count(ch) + k) / (N + k * V), rel=1e-14
        )
    assert p[VOCAB.stoi["x"]] == pytest.approx(k / (N + k * V), rel=1e-14)


# ------------------------------------------------ evaluation


@pytest.mark.parametrize("n", [1, 2, 4])
def test_bpc_is_mean_minus_log2_of_each_prediction(counts, n):
    for model in (AddK(counts, n, k=0.1), KneserNey(counts, n, discount=0.8)):
        direct = [
            -math.log2(model.next_probs(HELD[:i])[VOCAB.stoi[HELD[i]]])
            for i in range(1, len(HELD))
        ]
        held = counts.held_out(HELD)
        assert len(held) == len(HELD) - 1
        np.testing.assert_allclose(-model.log2probs(HELD), direct, rtol=1e-12)
        assert model.bpc(held) == pytest.approx(sum(direct) / len(direct), rel=1e-12)
        # and against the references, including the short contexts at the start
        ref = ref_add_k if isinstance(model, AddK) else ref_kneser_ney
        param = model.k if isinstance(model, AddK) else model.discount
        want = [
            -math.log2(ref(TRAIN, min(n, i + 1), param, HELD[:i], HELD[i]))
            for i in range(1, len(HELD))
        ]
        np.testing.assert_allclose(direct, want, rtol=1e-12)


def test_long_held_out_text(counts):
    """Long texts take another lookup path (sorted keys): spot-check it by position."""
    text = (HELD + " ") * 300  # 9,300 characters
    rng = random.Random(1)
    for model in (AddK(counts, 3, k=0.1), KneserNey(counts, 4, discount=0.8)):
        logp = model.log2probs(text)
        for i in [1, 2, 3, 4] + rng.sample(range(5, len(text)), 200):
            p = model.next_probs(text[:i])[VOCAB.stoi[text[i]]]
            assert logp[i - 1] == pytest.approx(math.log2(p), rel=1e-12)


def test_tune_picks_the_grid_minimum(counts):
    held = counts.held_out(HELD)
    grid = [0.01, 0.1, 1.0, 10.0]
    k, bpc = tune(held, "add-k", 3, grid)
    assert bpc == min(AddK(counts, 3, k=g).bpc(held) for g in grid)
    assert bpc == AddK(counts, 3, k=k).bpc(held)
    table = validation_table(held, [1, 2, 3])
    assert [r["n"] for r in table["kneser-ney"]] == [1, 2, 3]
    best = best_of(table)
    assert best["bpc"] == min(r["bpc"] for rows in table.values() for r in rows)


def test_baseline_on_a_small_corpus():
    corpus = SimpleNamespace(
        train=TRAIN,
        valid=HELD,
        test="a cab; a bad bard, rabbi.",
        text=TRAIN + HELD + "x",
    )
    b = baseline(corpus, max_n=4)
    assert b == baseline(corpus, max_n=4)  # deterministic
    assert b["n"] in range(1, 5) and b["smoothing"] in ("add-k", "kneser-ney")
    counts = NGramCounts(TRAIN, Vocab.from_text(corpus.text), max_n=4)
    model = (
        AddK(counts, b["n"], k=b["param"])
        if b["smoothing"] == "add-k"
        else KneserNey(counts, b["n"], discount=b["param"])
    )
    assert b["valid_bpc"] == model.bpc(HELD)
    assert b["test_bpc"] == model.bpc(corpus.test)
    assert b["valid_bpc"] == min(r["bpc"] for rows in b["table"].values() for r in rows)


# ------------------------------------------------ sampling


MODELS = [
    ("add-k", 1, 1.0),
    ("add-k", 2, 0.5),
    ("add-k", 4, 0.01),
    ("kneser-ney", 1, 0.75),
    ("kneser-ney", 3, 0.8),
    ("kneser-ney", 4, 0.5),
]


def _make(counts, smoothing, n, param):
    if smoothing == "add-k":
        return AddK(counts, n, k=param)
    return KneserNey(counts, n, discount=param)


def _ref(smoothing, n, param, context, w):
    fn = ref_add_k if smoothing == "add-k" else ref_kneser_ney
    return fn(TRAIN, n, param, context, w)


@pytest.mark.parametrize("smoothing, n, param", MODELS)
def test_the_character_model_interface_returns_the_formulas(
    counts, smoothing, n, param
):
    """model(ids, state) -> (log P (B, T, V), state), every entry from the formula."""
    model = _make(counts, smoothing, n, param)
    texts = ["a bad cab", "zebra; br", "xxabraca!"]  # equal lengths, one per row
    ids = torch.stack([VOCAB.encode(t) for t in texts])  # (3, 9)
    logits, state = model(ids)
    assert logits.shape == (3, 9, V) and logits.dtype == torch.float64
    for b, text in enumerate(texts):
        for t in range(len(text)):
            want = [_ref(smoothing, n, param, text[: t + 1], w) for w in CHARS]
            np.testing.assert_allclose(logits[b, t].exp().numpy(), want, rtol=1e-12)
    assert state == tuple(t[len(t) - (n - 1) :] if n > 1 else "" for t in texts)
    # read in two calls, the state carrying the last characters: the same logits
    first, mid = model(ids[:, :4])
    rest, end = model(ids[:, 4:], mid)
    torch.testing.assert_close(torch.cat([first, rest], 1), logits, rtol=0, atol=0)
    assert end == state and model.vocab_size == V and model.vocab == VOCAB


def test_generate_draws_from_next_probs_with_the_generator(counts):
    """generate on an n-gram model = the draw written out, same torch.Generator."""
    model = KneserNey(counts, 4, discount=0.8)
    got = generate(model, VOCAB, "abr", 60, strategy="temperature", seed=3)
    gen, text = torch.Generator().manual_seed(3), "abr"
    for step in got.steps:
        p = model.next_probs(text)  # (V,): the reference distribution
        q = torch.softmax(torch.from_numpy(np.log(p))[None], -1)  # (1, V)
        text += CHARS[int(torch.multinomial(q, 1, generator=gen))]
        assert step.prob == pytest.approx(p[VOCAB.stoi[text[-1]]], rel=1e-12)
    assert "abr" + got.text == text
    assert sample(model, VOCAB, "abr", 60, seed=3) == text
    assert sample(model, VOCAB, "abr", 60, seed=4) != text
    greedy = generate(model, VOCAB, "abr", 20, strategy="greedy").text
    text = "abr"
    for _ in range(20):
        text += CHARS[int(np.argmax(model.next_probs(text)))]
    assert "abr" + greedy == text


def test_sample_frequencies_follow_the_model(counts):
    """With n = 1 every draw is independent: frequencies approach next_probs."""
    model = AddK(counts, 1, k=1.0)
    text = generate(model, VOCAB, "a", 4000, seed=0).text
    freq = np.array([text.count(ch) for ch in CHARS]) / len(text)
    assert np.abs(freq - model.next_probs("")).max() < 0.03


def test_the_interface_rejects_a_bad_state(counts):
    model = KneserNey(counts, 3)
    ids = VOCAB.encode("abc")[None]
    with pytest.raises(ValueError, match="state must be a tuple of 1 strings"):
        model(ids, ("ab", "cd"))
    with pytest.raises(ValueError, match="state must be a tuple"):
        model(ids, "ab")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, "):
        model(torch.tensor([[V]]))


# ------------------------------------------------ errors


def test_clear_errors(counts):
    with pytest.raises(ValueError, match="empty"):
        NGramCounts("", VOCAB)
    with pytest.raises(UnknownCharacterError):
        NGramCounts("abc?", VOCAB)
    with pytest.raises(ValueError, match="max_n"):
        NGramCounts(TRAIN, VOCAB, max_n=0)
    with pytest.raises(ValueError, match="overflow"):
        NGramCounts("ab", Vocab(chr(i) for i in range(32, 432)), max_n=8)
    with pytest.raises(ValueError, match="n must be"):
        AddK(counts, 0, k=1.0)
    with pytest.raises(ValueError, match="n must be"):
        KneserNey(counts, 5)  # counts only go to order 4
    for k in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="k must be"):
            AddK(counts, 2, k=k)
    for D in (0.0, 1.5, (0.5, 0.5)):
        with pytest.raises(ValueError, match="discount"):
            KneserNey(counts, 3, discount=D)
    with pytest.raises(UnknownCharacterError):
        KneserNey(counts, 3).next_probs("a?")
    with pytest.raises(UnknownCharacterError):
        counts.held_out("ab?c")
    with pytest.raises(ValueError, match="at least 2"):
        counts.held_out("a")
    with pytest.raises(ValueError, match="empty"):
        AddK(counts, 2).bpc("")
    with pytest.raises(ValueError, match="smoothing"):
        tune(counts.held_out(HELD), "witten-bell", 2)
    other = NGramCounts(TRAIN, VOCAB, max_n=4)
    with pytest.raises(ValueError, match="other counts"):
        AddK(counts, 2).bpc(other.held_out(HELD))
