"""Decoding: filter_logits against plain reference implementations, sampling
frequencies, generate's records, and generate on every kind of character model
against the decoding loop written out in the test."""

import math

import numpy as np
import pytest
import torch

from rnnviz.data import UnknownCharacterError, Vocab
from rnnviz.labs.mingru import MinGRULM
from rnnviz.labs.normalized import NormCharLM
from rnnviz.labs.transformer import CharTransformer, Uncached
from rnnviz.models import CharLM
from rnnviz.sampling import (
    LAB_SETTINGS,
    Loop,
    choose,
    describe,
    distinct_n,
    entropy_bits,
    filter_logits,
    find_loop,
    generate,
    generate_many,
    run_lab,
    sample,
)
from rnnviz.viz.sampling_widgets import sampling_lab

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
VOCAB = Vocab.from_text(TEXT)


def _model(cell="lstm"):
    return CharLM(
        len(VOCAB), hidden_size=16, embed_size=8, cell=cell, seed=0, vocab=VOCAB
    )


# --- plain references, written without the code under test ----------------------


def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z[np.isfinite(z)].max())
    return e / e.sum()


def ref_filter(z, temperature=1.0, top_k=None, top_p=None):
    """One row: temperature, then keep the k best, then the smallest best set
    reaching p (ties: the lower index first)."""
    z = np.asarray(z, dtype=float) / temperature
    keep = np.ones(len(z), dtype=bool)
    if top_k is not None:
        ranked = sorted(range(len(z)), key=lambda i: (-z[i], i))
        keep[:] = False
        keep[ranked[:top_k]] = True
    if top_p is not None and top_p < 1:
        q = softmax(np.where(keep, z, -np.inf))
        ranked = sorted(range(len(z)), key=lambda i: (-q[i], i))
        nucleus, total = np.zeros(len(z), dtype=bool), 0.0
        for i in ranked:
            if total >= top_p:
                break
            nucleus[i] = True
            total += q[i]
        keep &= nucleus
    return np.where(keep, z, -np.inf)


CASES = [
    dict(temperature=t, top_k=k, top_p=p)
    for t in (0.3, 1.0, 1.7)
    for k in (None, 1, 3, 10, 100)
    for p in (None, 0.05, 0.5, 0.9, 1.0)
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"T{c['temperature']}-k{c['top_k']}-p{c['top_p']}"
)
def test_filter_logits_matches_the_reference(case):
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(6, 40, generator=gen, dtype=torch.float64) * 2  # (B, V)
    out = filter_logits(z, **case)
    assert out.shape == z.shape and out.dtype == z.dtype
    for row, got in zip(z, out):
        np.testing.assert_array_equal(got.numpy(), ref_filter(row.numpy(), **case))
    np.testing.assert_array_equal(
        filter_logits(z[2], **case).numpy(), out[2].numpy()
    )  # (V,) works the same


def test_temperature_is_softmax_of_z_over_t_and_greedy_is_argmax():
    z = torch.tensor([1.5, -0.3, 2.2, 0.0, 2.2, -4.0], dtype=torch.float64)
    for t in (0.1, 0.5, 1.0, 2.0, 10.0):
        expected = np.exp(z.numpy() / t) / np.exp(z.numpy() / t).sum()
        np.testing.assert_allclose(
            torch.softmax(filter_logits(z, t), -1).numpy(), expected, rtol=1e-12
        )
    assert int(choose(z, "greedy")) == 2  # argmax, the lower index of the tie
    batch = torch.randn(50, 9, generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(
        choose(batch, "greedy").numpy(), batch.numpy().argmax(1)
    )
    # the limits: T -> 0 puts everything on the argmax, T -> infinity is uniform
    np.testing.assert_allclose(
        torch.softmax(filter_logits(batch, 1e-4), -1).numpy(),
        np.eye(9)[batch.numpy().argmax(1)],
        atol=1e-12,
    )
    np.testing.assert_allclose(
        torch.softmax(filter_logits(batch, 1e6), -1).numpy(), 1 / 9, rtol=1e-4
    )


def test_cuts_keep_at_least_one_and_break_ties_by_index():
    z = torch.tensor([1.0, 3.0, 3.0, 0.0, 3.0])
    assert torch.isfinite(filter_logits(z, top_k=2)).tolist() == [
        False,
        True,
        True,
        False,
        False,
    ]
    flat = torch.zeros(4)
    assert torch.isfinite(filter_logits(flat, top_p=0.5)).tolist() == [
        True,
        True,
        False,
        False,
    ]  # .25+.25 reach .5
    assert torch.isfinite(filter_logits(flat, top_p=0.51)).tolist() == [
        True,
        True,
        True,
        False,
    ]
    for p in (1e-12, 0.01):
        assert (
            torch.isfinite(filter_logits(flat, top_p=p)).sum() == 1
        )  # the nucleus is never empty
        assert torch.isfinite(filter_logits(z, top_p=p)).tolist() == [
            False,
            True,
            False,
            False,
            False,
        ]
    assert torch.isfinite(filter_logits(z, top_k=50)).all()  # k >= V keeps everything
    many = torch.zeros(
        2, 5000
    )  # long rows of ties, where an unstable sort would scramble the order
    many[:, ::7] = 1.0
    np.testing.assert_array_equal(
        torch.isfinite(filter_logits(many, top_k=20))[0].nonzero().squeeze(1).numpy(),
        np.arange(0, 20 * 7, 7),
    )
    q = np.arange(0, 5000, 7)  # the tied best ones, in order
    top = (
        torch.isfinite(filter_logits(many, top_p=0.01))[1].nonzero().squeeze(1).numpy()
    )
    np.testing.assert_array_equal(top, q[: len(top)])
    masked = torch.tensor([0.0, -math.inf, 1.0])  # -inf logits stay excluded
    assert torch.isfinite(filter_logits(masked, 2.0, top_k=3, top_p=1.0)).tolist() == [
        True,
        False,
        True,
    ]


def test_filter_logits_does_not_change_its_input():
    z = torch.randn(3, 7, generator=torch.Generator().manual_seed(1))
    before = z.clone()
    filter_logits(z, 0.5, top_k=2)
    filter_logits(z, top_p=0.3)
    assert torch.equal(z, before)


def test_entropy_in_bits():
    assert float(entropy_bits(torch.zeros(8))) == pytest.approx(3.0)
    assert float(
        entropy_bits(torch.tensor([0.0, -math.inf, 0.0, -math.inf]))
    ) == pytest.approx(1.0)
    z = torch.randn(
        5, 11, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    expected = [-(softmax(r) * np.log2(softmax(r))).sum() for r in z.numpy()]
    np.testing.assert_allclose(entropy_bits(z).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [
        dict(strategy="temperature", temperature=0.7),
        dict(strategy="top-k", top_k=4, temperature=1.3),
        dict(strategy="top-p", top_p=0.8),
    ],
    ids=lambda kw: kw["strategy"],
)
def test_sampled_frequencies_match_the_filtered_probabilities(kw):
    z = torch.tensor([2.0, 1.5, 1.4, 0.3, 0.0, -0.5, -1.0, -2.5])  # (V,)
    N = 200_000
    ids = choose(
        z.expand(N, -1), generator=torch.Generator().manual_seed(42), **kw
    )  # (N,)
    counts = np.bincount(ids.numpy(), minlength=len(z))
    q = softmax(
        ref_filter(
            z.numpy(), kw.get("temperature", 1.0), kw.get("top_k"), kw.get("top_p")
        )
    )
    assert (counts[q == 0] == 0).all(), "a character outside the cut was drawn"
    kept = q > 0
    chi2 = (((counts[kept] - N * q[kept]) ** 2) / (N * q[kept])).sum()
    df = kept.sum() - 1
    assert chi2 < df + 6 * math.sqrt(2 * df), (
        f"chi-square {chi2:.1f} with {df} degrees of freedom"
    )


def test_generate_is_deterministic_and_leaves_global_state_alone():
    m = _model()
    m.train()
    rng = torch.random.get_rng_state()
    a = generate(m, VOCAB, "Bef", 40, strategy="top-p", top_p=0.9, seed=5)
    b = generate(m, VOCAB, "Bef", 40, strategy="top-p", top_p=0.9, seed=5)
    c = generate(m, VOCAB, "Bef", 40, strategy="top-p", top_p=0.9, seed=6)
    assert a == b and a.text != c.text and len(a.text) == 40
    assert torch.equal(torch.random.get_rng_state(), rng), (
        "generate touched the global random state"
    )
    assert m.training, "generate must put the model back in training mode"


def ref_decode(model, vocab, prompts, n, strategy, temperature=1.0, **cut):
    """The decoding loop written out: read the prompts, then one character at a time.

    Greedy is the argmax; otherwise one draw per row from softmax(ref_filter(z))
    with torch.multinomial and one generator seeded 0 (what the book's samplers
    did: the models' sample, the Transformer's generate, the challenge lab).
    """
    gen = torch.Generator().manual_seed(cut.pop("seed", 0))
    ids = torch.stack([vocab.encode(p) for p in prompts])  # (B, P)
    out = []
    with torch.no_grad():
        logits, state = model(ids, None)
        for _ in range(n):
            z = logits[:, -1]  # (B, V)
            if strategy == "greedy":
                nxt = torch.from_numpy(z.double().numpy().argmax(-1))
            else:
                rows = [ref_filter(r, temperature, **cut) for r in z.double().numpy()]
                q = torch.from_numpy(np.stack(rows)).to(z.dtype)
                nxt = torch.multinomial(torch.softmax(q, -1), 1, generator=gen)[:, 0]
            out.append(nxt)
            logits, state = model(nxt[:, None], state)
    return [
        "".join(vocab.chars[i] for i in row) for row in torch.stack(out, 1).tolist()
    ]


def _models():
    """One of each character model of the book, over VOCAB, in eval mode."""
    V = len(VOCAB)
    tf = CharTransformer(
        V, d_model=16, num_layers=2, num_heads=2, context=12, seed=0, vocab=VOCAB
    )
    return {
        "CharLM lstm": _model(),
        "CharLM gru": _model("gru"),
        "CharTransformer": tf,  # its state is the KV cache; 12 positions: restarts
        "CharTransformer, no cache": Uncached(tf),
        "MinGRULM": MinGRULM(V, d_model=16, num_layers=2, seed=0),
        "NormCharLM": NormCharLM(V, hidden_size=16, norm="layer", embed_size=8),
    }


SETTINGS = [
    dict(strategy="greedy"),
    dict(strategy="temperature", temperature=0.7),
    dict(strategy="temperature", temperature=1.3),
    dict(strategy="top-k", top_k=5, temperature=0.9),
    dict(strategy="top-p", top_p=0.8),
]


@pytest.mark.parametrize("name", list(_models()))
@pytest.mark.parametrize(
    "kw", SETTINGS, ids=lambda kw: describe(**{"temperature": 1.0, **kw})
)
def test_generate_runs_every_character_model_as_the_loop_written_out(name, kw):
    model = _models()[name].eval()
    cut = {k: v for k, v in kw.items() if k in ("top_k", "top_p")}
    T = kw.get("temperature", 1.0)
    want = ref_decode(model, VOCAB, ["Bef"], 40, kw["strategy"], T, seed=7, **cut)[0]
    gen = generate(model, VOCAB, "Bef", 40, seed=7, **kw)
    assert gen.text == want
    assert sample(model, VOCAB, "Bef", 40, seed=7, **kw) == "Bef" + want


def test_several_prompts_are_read_side_by_side():
    m = _model()
    prompts = ["First", "hear ", "we pr"]
    gens = generate_many(m, VOCAB, prompts, 30, 1, temperature=0.9, seed=1)
    want = ref_decode(m, VOCAB, prompts, 30, "temperature", 0.9, seed=1)
    assert [g.text for g in gens] == want and [g.prompt for g in gens] == prompts
    two = generate_many(m, VOCAB, prompts[:2], 10, 2, strategy="greedy")
    assert [g.prompt for g in two] == ["First", "First", "hear ", "hear "]
    alone = generate(m, VOCAB, "First", 10, strategy="greedy").text
    assert two[0].text == two[1].text == alone


class _Counting(torch.nn.Module):
    """A character model that counts its calls and the positions it reads."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls, self.positions = inner, 0, 0

    def forward(self, ids, state=None):
        self.calls, self.positions = self.calls + 1, self.positions + ids.shape[1]
        return self.inner(ids, state)


def test_the_prompt_is_read_once_then_one_character_per_call():
    m = _Counting(_model())
    generate(m, VOCAB, "First", 25, seed=0)
    assert m.calls == 25 and m.positions == 5 + 24  # no call after the last draw


@pytest.mark.parametrize(
    "kw",
    [dict(strategy="greedy"), dict(strategy="top-k", top_k=3, temperature=0.8)],
    ids=["greedy", "top-k"],
)
def test_every_record_matches_one_teacher_forced_pass(kw):
    """The records agree with the model read once over prompt + generated text."""
    m = _model()
    prompt = "hear "
    gen = generate(m, VOCAB, prompt, 30, seed=2, top=4, **kw)
    with torch.no_grad():
        logits, _ = m(VOCAB.encode(prompt + gen.text)[None])
    z = (
        logits[0, len(prompt) - 1 : -1].double().numpy()
    )  # (n, V): the scores before each generated character
    ids = VOCAB.encode(gen.text).numpy()
    for t, step in enumerate(gen.steps):
        p = softmax(z[t])
        assert step.prob == pytest.approx(p[ids[t]], rel=1e-5)
        assert step.entropy == pytest.approx(-(p * np.log2(p)).sum(), rel=1e-5)
        assert [c for c, _ in step.top] == [
            VOCAB.chars[i] for i in np.argsort(-p, kind="stable")[:4]
        ]
        if kw["strategy"] == "greedy":
            assert (
                ids[t] == z[t].argmax()
                and step.prob_filtered == 1.0
                and step.support == 1
            )
        else:
            q = softmax(ref_filter(z[t], 0.8, 3))
            assert q[ids[t]] > 0 and step.support == 3
            assert step.prob_filtered == pytest.approx(q[ids[t]], rel=1e-5)
            assert step.entropy_filtered == pytest.approx(
                -(q[q > 0] * np.log2(q[q > 0])).sum(), rel=1e-5
            )
    assert gen.surprisal == pytest.approx(-np.log2(gen.probs))
    st = gen.stats()
    assert st["surprisal_bits"] == pytest.approx(gen.surprisal.mean())
    assert st["entropy_bits"] == pytest.approx(gen.entropies.mean())


def test_generate_many_and_the_lab():
    m = _model()
    gens = generate_many(
        m, VOCAB, "we ", 25, 3, strategy="temperature", temperature=1.2, seed=0
    )
    assert (
        len(gens) == 3
        and len({g.text for g in gens}) == 3
        and all(g.prompt == "we " for g in gens)
    )
    assert (
        generate(m, VOCAB, "we", 0).text == ""
        and generate(m, VOCAB, "we", 0).steps == ()
    )
    with pytest.raises(ValueError, match="need at least 4 generated characters"):
        generate(m, VOCAB, "we", 3).stats()
    lab = run_lab(m, VOCAB, "we ", 10, seed=1)
    assert list(lab) == [label for label, _ in LAB_SETTINGS]
    assert all(g.label == label for label, g in lab.items())
    assert describe("top-p", 0.8, None, 0.9) == "top-p, p = 0.9, T = 0.8"


def test_sample_is_deterministic_and_greedy_is_argmax():
    """Moved from test_models_train (it tested rnnviz.models.sample, now removed)."""
    m = _model().eval()
    a = sample(m, VOCAB, "we pr", 20, temperature=0.8, seed=1)
    assert a == sample(m, VOCAB, "we pr", 20, temperature=0.8, seed=1)
    assert a.startswith("we pr") and len(a) == 25
    g = sample(m, VOCAB, "we pr", 1, strategy="greedy")
    logits, _ = m(VOCAB.encode("we pr").unsqueeze(0))
    assert g[-1] == VOCAB.chars[int(logits[0, -1].argmax())]
    with pytest.raises(ValueError, match="prompt is empty"):
        sample(m, VOCAB, "", 5)


class _Fake:
    """A model that returns whatever it is told to, to test the checks."""

    def __init__(self, make):
        self.make = make

    def forward(self, ids, state=None):
        return self.make(ids)

    __call__ = forward


def test_bad_models_get_clear_errors():
    V = len(VOCAB)
    with pytest.raises(TypeError, match="must be a character model"):
        generate(object(), VOCAB, "we", 5)
    wide = _Fake(lambda ids: (torch.zeros(*ids.shape, V + 1), None))
    with pytest.raises(ValueError, match=rf"expected \(B, T, V\) = \(1, 2, {V}\)"):
        generate(wide, VOCAB, "we", 5)
    flat = _Fake(lambda ids: (torch.zeros(ids.shape[0], V), None))  # (B, V)
    with pytest.raises(ValueError, match="logits of shape"):
        generate(flat, VOCAB, "we", 5)
    nan = _Fake(lambda ids: (torch.full((*ids.shape, V), float("nan")), None))
    with pytest.raises(ValueError, match="logits contain NaN"):
        generate(nan, VOCAB, "we", 5)
    ints = _Fake(lambda ids: (torch.zeros(*ids.shape, V, dtype=torch.long), None))
    with pytest.raises(TypeError, match="floating-point"):
        generate(ints, VOCAB, "we", 5)
    with pytest.raises(TypeError, match="must return a pair"):
        generate(_Fake(lambda ids: torch.zeros(*ids.shape, V)), VOCAB, "we", 5)
    other = Vocab(VOCAB.chars[::-1])  # the same size, another order
    with pytest.raises(ValueError, match="differs from the model's own vocab"):
        generate(_model(), other, "we", 5)
    with pytest.raises(TypeError, match="vocab must be a rnnviz Vocab"):
        generate(_model(), "abc", "we", 5)
    with pytest.raises(ValueError, match="same length"):
        generate_many(_model(), VOCAB, ["we", "hear"], 5)
    with pytest.raises(TypeError, match="generate_many reads several prompts"):
        generate(_model(), VOCAB, ["we"], 5)
    with pytest.raises(TypeError, match="non-empty sequence"):
        generate_many(_model(), VOCAB, [], 5)


def test_errors_name_the_problem():
    m = _model()
    with pytest.raises(ValueError, match="prompt is empty"):
        generate(m, VOCAB, "", 5)
    with pytest.raises(UnknownCharacterError, match=r"\['!', 'Q', 'x'\]"):
        generate(m, VOCAB, "Qu!x", 5)
    with pytest.raises(ValueError, match="strategy='greedy'"):
        generate(m, VOCAB, "we", 5, temperature=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        filter_logits(torch.zeros(3), -1.0)
    with pytest.raises(ValueError, match="top_k must be an int >= 1"):
        generate(m, VOCAB, "we", 5, strategy="top-k", top_k=0)
    for p in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
            generate(m, VOCAB, "we", 5, strategy="top-p", top_p=p)
    with pytest.raises(ValueError, match="n must be an int >= 0"):
        generate(m, VOCAB, "we", -1)
    with pytest.raises(ValueError, match="strategy must be one of"):
        generate(m, VOCAB, "we", 5, strategy="beam")
    with pytest.raises(ValueError, match="'top-k' needs top_k"):
        generate(m, VOCAB, "we", 5, strategy="top-k")
    with pytest.raises(ValueError, match="top_p is used only by strategy 'top-p'"):
        generate(m, VOCAB, "we", 5, top_p=0.5)
    with pytest.raises(ValueError, match="vocab must be the model's"):
        generate(m, Vocab.from_text("ab"), "a", 5)
    with pytest.raises(ValueError, match="NaN"):
        filter_logits(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="entirely -inf"):
        filter_logits(torch.full((2, 3), -math.inf))
    with pytest.raises(ValueError, match=r"shape \(V,\) or \(B, V\)"):
        filter_logits(torch.zeros(2, 3, 4))
    with pytest.raises(TypeError, match="floating-point"):
        filter_logits(torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Generator"):
        choose(torch.zeros(3))


def test_repetition_measures():
    assert distinct_n("abcd", 2) == 1.0
    assert distinct_n("aaaa", 1) == 0.25
    assert distinct_n("abab", 2) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no 3-grams"):
        distinct_n("ab", 3)
    assert find_loop("intro: " + "the king, " * 4) == Loop(
        start=6, period=10
    )  # the space before 'the' repeats too
    assert find_loop("xyz" + "ab" * 2) is None  # two repeats are not enough
    assert find_loop("xyz" + "ab" * 2, min_repeats=2) == Loop(start=3, period=2)
    assert find_loop("the quick brown fox") is None
    assert find_loop("aaaa") == Loop(0, 1)


def test_sampling_lab_widget_regenerates_when_a_control_changes():
    m = _model()
    lab = sampling_lab(m, VOCAB, prompt="hear", length=30)
    first = lab.output.value
    assert 'class="rnnviz-sampling"' in first and first.count('class="c h') == 30
    lab.temperature.value = 0.5
    second = lab.output.value
    assert second != first and "T = 0.5" in second
    expected = generate(
        m, VOCAB, "hear", 30, strategy="temperature", temperature=0.5, seed=0
    )
    assert lab.settings() == dict(strategy="temperature", seed=0, temperature=0.5)
    assert f"{expected.stats()['surprisal_bits']:.2f} bits" in second
    lab.strategy.value = "top-k"
    assert (
        "top-k, k = 10" in lab.output.value
        and not lab.top_k.disabled
        and lab.top_p.disabled
    )
    lab.strategy.value = "greedy"
    assert lab.temperature.disabled and lab.output.value.count('class="c h') == 30
    lab.length.value = 50
    assert lab.output.value.count('class="c h') == 50
    lab.prompt.value = "Qu!x"
    assert (
        "not in the vocabulary" in lab.output.value
        and "&#x27;!&#x27;" in lab.output.value
    )
    lab.prompt.value = "hear"
    lab.seed.value = 1
    assert lab.output.value.count('class="c h') == 50
