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
    FALLBACK_DISCOUNTS,
    SMOOTHINGS,
    AddK,
    KneserNey,
    ModifiedKneserNey,
    NGramCounts,
    baseline,
    best_of,
    chen_goodman_discounts,
    make_model,
    sweep,
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


_rng = random.Random(5)
_WORDS = (
    "a bad cab dab bar rad crab bread zebra barbara read dread abra cadaver rabid"
    " bred can dad"
).split()
# Zipf-distributed words with some punctuation: counts of counts 1..4 all occur, so
# the closed-form discounts of modified Kneser-Ney are defined at most orders
ZIPF = "".join(
    ch if _rng.random() > 0.03 else _rng.choice(",.!;")
    for ch in " ".join(
        _rng.choices(_WORDS, weights=[1 / (i + 1) for i in range(18)], k=500)
    )
)


@pytest.fixture(scope="module")
def counts():
    return NGramCounts(TRAIN, VOCAB, max_n=4)


@pytest.fixture(scope="module")
def zipf_counts():
    return NGramCounts(ZIPF, VOCAB, max_n=4)


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


@functools.cache
def ref_discounts(text, n, m, own):
    """(D1, D2, D3+) of order m: the closed form on the counts of counts of the raw
    (own order) or continuation counts, (0.5, 1, 1.5) if undefined or out of range.
    """
    c, cont = ref_counts(text, n)
    a = c if own else cont
    nk = [sum(1 for g, v in a.items() if len(g) == m and v == k) for k in range(5)]
    if min(nk[1], nk[2], nk[3]) == 0:
        return (0.5, 1.0, 1.5)
    Y = nk[1] / (nk[1] + 2 * nk[2])
    d = tuple(k - (k + 1) * Y * nk[k + 1] / nk[k] for k in (1, 2, 3))
    return d if all(0 < d[k - 1] <= k for k in (1, 2, 3)) else (0.5, 1.0, 1.5)


def ref_modified_kneser_ney(text, n, context, w, D=None):
    """Interpolated modified Kneser-Ney (Chen and Goodman 1998), written recursively.

    D None: each order's discounts from `ref_discounts`; else one triple for all.
    """
    c, cont = ref_counts(text, n)
    h = context[max(0, len(context) - n + 1) :] if n > 1 else ""

    def p(h, w, own):
        if h is None:
            return 1 / V
        a = c if own else cont
        lower = p(h[1:] if h else None, w, False)
        follow = [a[h + x] for x in CHARS]
        total = sum(follow)
        if total == 0:
            return lower
        d1, d2, d3 = ref_discounts(text, n, len(h) + 1, own) if D is None else D
        n1, n2 = follow.count(1), follow.count(2)
        n3 = sum(1 for f in follow if f >= 3)
        gamma = (d1 * n1 + d2 * n2 + d3 * n3) / total
        k = a[h + w]
        return (k - {0: 0.0, 1: d1, 2: d2}.get(k, d3)) / total + gamma * lower

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


# ------------------------------------------------ modified Kneser-Ney


def test_chen_goodman_discounts_by_hand():
    """Counts small enough to count by hand: 'abbcccdddd'."""
    counts = NGramCounts("abbcccdddd", Vocab.from_text("abcd"), max_n=2)
    # a once, b twice, c three times, d four times
    assert counts.counts_of_counts(1) == (1, 1, 1, 1)
    # Y = 1/(1 + 2) = 1/3: D1 = 1 - 2/3, D2 = 2 - 3/3, D3+ = 3 - 4/3
    np.testing.assert_allclose(
        ModifiedKneserNey(counts, 1).discounts, [(1 / 3, 1.0, 5 / 3)], rtol=1e-14
    )
    # P(d) = (4 - 5/3)/10 + gamma/4 with gamma = (1/3 + 1 + 2 * 5/3)/10
    p = ModifiedKneserNey(counts, 1).next_probs("")
    assert p[3] == pytest.approx((4 - 5 / 3) / 10 + (14 / 3) / 10 / 4, rel=1e-14)
    assert p[0] == pytest.approx((1 - 1 / 3) / 10 + (14 / 3) / 10 / 4, rel=1e-14)
    # bigrams ab bb bc cc cd dd seen 1 1 1 2 1 3 times: D2 = 2 - 3 (2/3) 1/1 = 0,
    # out of range; b, c, d each follow two distinct characters: n1 = 0, undefined
    assert counts.counts_of_counts(2) == (4, 1, 1, 0)
    assert counts.counts_of_counts(1, continuation=True) == (0, 3, 0, 0)
    assert ModifiedKneserNey(counts, 2).discounts == (FALLBACK_DISCOUNTS,) * 2
    assert chen_goodman_discounts(4, 1, 1, 0) == pytest.approx((2 / 3, 0.0, 3.0))
    assert chen_goodman_discounts(10, 5, 2, 1) == pytest.approx((0.5, 1.4, 2.0))
    with pytest.raises(ValueError, match="needs n1, n2, n3 > 0"):
        chen_goodman_discounts(0, 3, 0, 0)


def test_estimated_discounts_use_the_counts_of_each_order(zipf_counts):
    """Own order from raw counts, lower orders from continuation counts."""
    c, cont = ref_counts(ZIPF, 4)
    for m, table in ((4, c), (3, cont), (2, cont), (2, c)):
        nk = [
            sum(1 for g, v in table.items() if len(g) == m and v == k)
            for k in range(1, 5)
        ]
        assert zipf_counts.counts_of_counts(m, table is cont) == tuple(nk)
    model = ModifiedKneserNey(zipf_counts, 4)
    want = [ref_discounts(ZIPF, 4, m, m == 4) for m in (1, 2, 3, 4)]
    np.testing.assert_allclose(model.discounts, want, rtol=1e-14)
    # orders 2 and 4 have defined estimates in range (not the fallback)
    for m in (2, 4):
        nk = zipf_counts.counts_of_counts(m, continuation=m < 4)
        assert model.discounts[m - 1] == chen_goodman_discounts(*nk)
        assert model.discounts[m - 1] != FALLBACK_DISCOUNTS
    assert model.estimated(2, continuation=False) != model.discounts[1]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_modified_kneser_ney_sums_to_one(counts, zipf_counts, n):
    """Every context up to length 2 (seen or not), and 300 random ones of length 3."""
    rng = random.Random(2)
    longer = ["".join(rng.choices(CHARS, k=3)) for _ in range(300)] + ["abr", "xxa"]
    for model in (
        ModifiedKneserNey(zipf_counts, n),
        ModifiedKneserNey(counts, n),
        ModifiedKneserNey(counts, n, discount=(0.4, 0.9, 2.6)),
        ModifiedKneserNey(counts, n, discount=((1.0, 2.0, 3.0),) * n),
    ):
        for h in itertools.chain(contexts(2), longer if n == 4 else []):
            p = model.next_probs(h)
            assert p.shape == (V,) and (p > 0).all()
            assert abs(p.sum() - 1) < 1e-12, (model, h)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("D", [None, (0.3, 1.1, 2.5)])
def test_modified_kneser_ney_matches_reference(counts, zipf_counts, n, D):
    for text, c in ((ZIPF, zipf_counts), (TRAIN, counts)):
        model = ModifiedKneserNey(c, n, discount=D)
        for h in ["", "a", "ra", "bra", "abra", "xx", "x", "d b", "cad", ",", "! "]:
            want = [ref_modified_kneser_ney(text, n, h, w, D) for w in CHARS]
            np.testing.assert_allclose(model.next_probs(h), want, rtol=1e-12)
    # and on a held-out text, every character (short contexts at the start too)
    model = ModifiedKneserNey(zipf_counts, n, discount=D)
    want = [
        math.log2(ref_modified_kneser_ney(ZIPF, n, HELD[:i], HELD[i], D))
        for i in range(1, len(HELD))
    ]
    np.testing.assert_allclose(model.log2probs(HELD), want, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_modified_with_equal_discounts_is_kneser_ney(zipf_counts, n):
    """D1 = D2 = D3+ = D: gamma(h) = D T(h) / a(h), plain interpolated Kneser-Ney."""
    counts = zipf_counts
    held = counts.held_out(HELD)
    Ds = (0.2, 0.5, 0.8, 1.0)[:n]
    pairs = [(KneserNey(counts, n, discount=D), (D, D, D)) for D in (0.3, 0.75, 1.0)]
    pairs.append((KneserNey(counts, n, discount=Ds), tuple((d, d, d) for d in Ds)))
    for kn, triples in pairs:
        mkn = ModifiedKneserNey(counts, n, discount=triples)
        for h in ["", "a", "ra", "bra", "abra", "xx", "d b", "! "]:
            np.testing.assert_allclose(mkn.next_probs(h), kn.next_probs(h), rtol=1e-12)
        np.testing.assert_allclose(mkn.log2probs(held), kn.log2probs(held), rtol=1e-12)
    # and with the estimated discounts it is another model
    assert ModifiedKneserNey(counts, n).bpc(held) != KneserNey(counts, n).bpc(held)


# ------------------------------------------------ evaluation


@pytest.mark.parametrize("n", [1, 2, 4])
def test_bpc_is_mean_minus_log2_of_each_prediction(counts, n):
    for model in (
        AddK(counts, n, k=0.1),
        KneserNey(counts, n, discount=0.8),
        ModifiedKneserNey(counts, n),
    ):
        direct = [
            -math.log2(model.next_probs(HELD[:i])[VOCAB.stoi[HELD[i]]])
            for i in range(1, len(HELD))
        ]
        held = counts.held_out(HELD)
        assert len(held) == len(HELD) - 1
        np.testing.assert_allclose(-model.log2probs(HELD), direct, rtol=1e-12)
        assert model.bpc(held) == pytest.approx(sum(direct) / len(direct), rel=1e-12)
        # and against the references, including the short contexts at the start
        if isinstance(model, ModifiedKneserNey):
            want = [
                -math.log2(ref_modified_kneser_ney(TRAIN, n, HELD[:i], HELD[i]))
                for i in range(1, len(HELD))
            ]
        else:
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
    for model in (
        AddK(counts, 3, k=0.1),
        KneserNey(counts, 4, discount=0.8),
        ModifiedKneserNey(counts, 4),
    ):
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
    assert tuple(table) == SMOOTHINGS
    assert [r["n"] for r in table["kneser-ney"]] == [1, 2, 3]
    assert [r["param"] for r in table["modified-kneser-ney"]] == [None] * 3
    assert table["modified-kneser-ney"][2]["bpc"] == ModifiedKneserNey(counts, 3).bpc(
        held
    )
    best = best_of(table)
    assert best["bpc"] == min(r["bpc"] for rows in table.values() for r in rows)
    assert sweep(held, "modified-kneser-ney", 2).shape == (1,)
    assert tuple(validation_table(held, [2], smoothings=("add-k",))) == ("add-k",)


def test_baseline_on_a_small_corpus():
    corpus = SimpleNamespace(
        train=TRAIN,
        valid=HELD,
        test="a cab; a bad bard, rabbi.",
        text=TRAIN + HELD + "x",
    )
    b = baseline(corpus, max_n=4)
    assert b == baseline(corpus, max_n=4)  # deterministic
    assert b["n"] in range(1, 5) and b["smoothing"] in SMOOTHINGS
    assert tuple(b["table"]) == SMOOTHINGS
    counts = NGramCounts(TRAIN, Vocab.from_text(corpus.text), max_n=4)
    model = make_model(counts, b["smoothing"], b["n"], b["param"])
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
    ("modified-kneser-ney", 3, None),
    ("modified-kneser-ney", 4, (0.4, 0.9, 2.0)),
]


def _make(counts, smoothing, n, param):
    return make_model(counts, smoothing, n, param)


def _ref(smoothing, n, param, context, w):
    if smoothing == "modified-kneser-ney":
        return ref_modified_kneser_ney(TRAIN, n, context, w, param)
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
    for D in (
        0.5,
        (1.5, 1, 1),
        (0, 1, 1),
        (0.5, 2.5, 1),
        (0.5, 1, 3.5),
        ((0.5, 1, 1),),
    ):
        with pytest.raises(ValueError, match="discount must be None"):
            ModifiedKneserNey(counts, 3, discount=D)
    with pytest.raises(ValueError, match="no continuation counts of order 4"):
        counts.counts_of_counts(4, continuation=True)
    with pytest.raises(ValueError, match="smoothing must be one of"):
        make_model(counts, "witten-bell", 2, 1.0)
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
