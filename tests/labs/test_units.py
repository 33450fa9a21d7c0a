"""rnnviz.labs.units: text features by hand, a planted unit found, saturation and
losses against direct counts."""

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from rnnviz.data import Vocab
from rnnviz.labs import features, units
from rnnviz.models import CharLM
from rnnviz.ngram import KneserNey, NGramCounts
from rnnviz.probe import LayerTrace, Trace, probe
from rnnviz.train import evaluate

PLAY = (
    "Brutus:\nPeace! count the clock.\nThe clock hath stricken three:\n\n"
    "Cassius:\nI'll go.\n"
)


def _trace(kind="LSTM", T=300, H=6, layers=2, seed=0):
    """A real probe of a random torch module on random inputs: (T, 1, H) per series."""
    gen = torch.Generator().manual_seed(seed)
    cls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        m = cls(3, H, layers)
    return probe(m, torch.randn(T, 1, 3, generator=gen))


def _replace(tr, layer, name, values):
    """A copy of trace `tr` whose series `name` of `layer` is `values` (T, 1, H)."""
    layers = list(tr.layers)
    lt = layers[layer]
    if name == "h":
        layers[layer] = LayerTrace(h=values, c=lt.c, gates=lt.gates)
    elif name == "c":
        layers[layer] = LayerTrace(h=lt.h, c=values, gates=lt.gates)
    else:
        layers[layer] = LayerTrace(h=lt.h, c=lt.c, gates={**lt.gates, name: values})
    return Trace(**{**tr.__dict__, "layers": tuple(layers)})


# --- features -------------------------------------------------------------------------


def test_features_by_hand():
    f = units.text_features(PLAY)
    assert list(f) == list(units.FEATURES) and all(
        v.shape == (len(PLAY),) for v in f.values()
    )
    lines = PLAY.splitlines(keepends=True)
    pos = [k for line in lines for k in range(len(line))]
    assert f["line_position"].tolist() == pos
    assert f["line_start"].tolist() == [float(k == 0) for k in pos]
    # "The clock hath stricken three:" ends in ':' but follows a spoken line: not a name
    name = [float(line in ("Brutus:\n", "Cassius:\n")) for line in lines for _ in line]
    assert f["name_line"].tolist() == name
    # speech position restarts after each name line's newline
    first = PLAY.index("Peace")
    assert f["speech_position"][first] == 0 and f["speech_position"][first + 5] == 5
    assert f["speech_position"][PLAY.index("I'll")] == 0
    assert (
        f["speech_position"][PLAY.index("\n\nCassius") + 1]
        == PLAY.index("\n\nCassius") + 1 - first
    )
    per_line = [0, 1, 2, 3, 0, 1]  # Brutus: / 2 lines / blank line / Cassius: / 1 line
    assert f["speech_line"].tolist() == [
        float(n) for n, line in zip(per_line, lines) for _ in line
    ]
    w = PLAY.index("I'll")
    assert f["word_position"][w : w + 8].tolist() == [1, 2, 3, 4, 0, 1, 2, 0]
    assert f["in_word"][w : w + 8].tolist() == [1, 1, 1, 1, 0, 1, 1, 0]
    assert f["vowel"][w : w + 8].tolist() == [1, 0, 0, 0, 0, 0, 1, 0]


def test_feature_errors():
    with pytest.raises(ValueError, match="empty text"):
        features.line_position("")
    with pytest.raises(ValueError, match="empty text"):
        units.text_features("")
    with pytest.raises(TypeError, match="must be a str"):
        features.name_line(b"All:\n")
    with pytest.raises(KeyError, match="unknown features"):
        units.text_features(PLAY, ["bracket_depth"])


def test_speech_passage_keeps_whole_speeches():
    text = PLAY + "\nBrutus:\nGo.\n\nAll:\nAy.\n"
    assert (
        units.speech_passage(text, 0, 10) == PLAY[: PLAY.index("\n\n") + 1]
    )  # one speech, whole
    assert units.speech_passage(text, 1, 1000) == text[PLAY.index("Cassius") :]
    got = units.speech_passage(text, 1, len("Cassius:\nI'll go.\n\nBrutus:\nGo.\n") + 1)
    assert got == "Cassius:\nI'll go.\n\nBrutus:\nGo.\n"
    with pytest.raises(ValueError, match="no speech starts"):
        units.speech_passage(text, len(text) - 3, 10)


# --- unit search ----------------------------------------------------------------------


def test_search_finds_a_planted_unit():
    tr = _trace(T=400)
    feat = features.line_position(
        ("To be, or not to be, that is the question:\n" * 10)[:400]
    )
    noise = np.random.default_rng(1).normal(size=400)
    planted = tr.series("c", 1).copy()
    planted[:, 0, 4] = feat + 2.0 * noise  # r about 0.9
    tr = _replace(tr, 1, "c", planted)
    anti = tr.series("f", 0).copy()
    anti[:, 0, 2] = 1 - feat / 100  # exactly anti-correlated
    tr = _replace(tr, 0, "f", anti)
    rows = units.search_units(tr, {"line_position": feat}, top=3)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    best, second = rows[0], rows[1]
    assert (best["layer"], best["series"], best["unit"]) == (0, "f", 2) and best[
        "r"
    ] == pytest.approx(-1)
    assert (second["layer"], second["series"], second["unit"]) == (1, "c", 4)
    assert second["r"] == pytest.approx(
        np.corrcoef(feat, planted[:, 0, 4])[0, 1], abs=1e-12
    )
    # every correlation equals numpy's
    names, blocks, R = units.correlations(tr, {"line_position": feat})
    assert names == ["line_position"] and R.shape == (1, 2 * 6, 6)
    assert blocks[:6] == [(0, "h"), (0, "c"), (0, "i"), (0, "f"), (0, "g"), (0, "o")]
    x = tr.series("o", 1)[:, 0, 3].astype(float)
    np.testing.assert_allclose(
        R[0, blocks.index((1, "o")), 3], np.corrcoef(feat, x)[0, 1], atol=1e-12
    )


def test_spearman_sees_a_monotone_unit_pearson_underrates():
    tr = _trace(T=200, layers=1)
    feat = np.arange(200.0) % 50
    h = tr.series("h", 0).copy()
    h[:, 0, 1] = np.exp(feat / 5)  # monotone in the feature, far from linear
    tr = _replace(tr, 0, "h", h)
    sp = units.search_units(tr, {"x": feat}, top=1, method="spearman")[0]
    pe = units.correlations(tr, {"x": feat}, names=["h"])[2][0, 0, 1]
    assert (sp["series"], sp["unit"]) == ("h", 1) and sp["r"] == pytest.approx(1.0)
    assert pe < 0.8


def test_evidence_measures_the_same_unit_on_another_trace():
    a, b = _trace(seed=0), _trace(seed=5)
    fa, fb = (
        units.text_features((PLAY * 10)[:300]),
        units.text_features((PLAY * 10)[7:307]),
    )
    rows = units.search_units(a, fa, top=2)
    before = [dict(r) for r in rows]
    ev = units.evidence(rows, b, fb)
    assert rows == before and len(ev) == len(rows)
    for r in ev:
        x = b.series(r["series"], r["layer"])[:, 0, r["unit"]].astype(float)
        assert r["r_evidence"] == pytest.approx(
            np.corrcoef(fb[r["feature"]], x)[0, 1], abs=1e-9
        )
        assert {k: r[k] for k in before[0]} in before


def test_search_errors():
    tr = _trace(T=50, layers=1)
    with pytest.raises(ValueError, match="shape"):
        units.search_units(tr, {"x": np.arange(49.0)})
    with pytest.raises(ValueError, match="constant"):
        units.search_units(tr, {"x": np.zeros(50)})
    with pytest.raises(ValueError, match="no features"):
        units.search_units(tr, {})
    with pytest.raises(ValueError, match="feature 'x' contains NaN"):
        units.search_units(tr, {"x": np.r_[np.nan, np.arange(49.0)]})
    with pytest.raises(ValueError, match="top"):
        units.search_units(tr, {"x": np.arange(50.0)}, top=0)
    with pytest.raises(ValueError, match="method"):
        units.search_units(tr, {"x": np.arange(50.0)}, method="kendall")
    bad = tr.series("g", 0).copy()
    bad[3, 0, 1] = np.nan
    nan_tr = _replace(tr, 0, "g", bad)
    with pytest.raises(ValueError, match="'g' of layer 0 contains NaN"):
        units.search_units(nan_tr, {"x": np.arange(50.0)})
    with pytest.raises(ValueError, match="NaN"):
        units.evidence(
            [dict(feature="x", layer=0, series="g", unit=1, r=0.5)],
            nan_tr,
            {"x": np.arange(50.0)},
        )
    with pytest.raises(KeyError, match="'y'"):
        units.evidence(
            [dict(feature="y", layer=0, series="g", unit=1, r=0.5)],
            tr,
            {"x": np.arange(50.0)},
        )


def test_constant_unit_gets_zero_correlation():
    tr = _trace(T=60, layers=1)
    h = tr.series("h", 0).copy()
    h[:, 0, 0] = 0.25
    R = units.correlations(
        _replace(tr, 0, "h", h), {"x": np.arange(60.0)}, names=["h"]
    )[2]
    assert R[0, 0, 0] == 0 and np.isfinite(R).all()


# --- saturation -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_saturation_matches_a_direct_count(kind):
    tr = _trace(kind, T=120)
    rows = units.saturation(tr, lo=0.3, hi=0.7)
    gates = {"LSTM": ["i", "f", "o"], "GRU": ["r", "z"]}[kind]
    assert [(r["layer"], r["gate"]) for r in rows] == [
        (l, g) for l in range(2) for g in gates
    ]
    for r in rows:
        v = tr.series(r["gate"], r["layer"])[:, 0]  # (T, H)
        for u in range(v.shape[1]):
            assert r["left"][u] == sum(x < 0.3 for x in v[:, u]) / 120
            assert r["right"][u] == sum(x > 0.7 for x in v[:, u]) / 120
    cand = {"LSTM": "g", "GRU": "n"}[kind]
    (row,) = [r for r in units.saturation(tr, gates=[cand]) if r["layer"] == 0]
    v = tr.series(cand, 0)[:, 0]
    np.testing.assert_array_equal(row["left"], (v < -0.8).mean(0))
    np.testing.assert_array_equal(row["right"], (v > 0.8).mean(0))


def test_saturation_errors():
    tr = _trace(T=20)
    with pytest.raises(ValueError, match="0 < lo < hi < 1"):
        units.saturation(tr, lo=0.9, hi=0.1)
    with pytest.raises(KeyError, match="gates to measure"):
        units.saturation(tr, gates=["z"])
    bad = tr.series("f", 1).copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="'f' of layer 1 contains NaN"):
        units.saturation(_replace(tr, 1, "f", bad))


def test_saturation_plots(no_global_changes):
    res = {
        "LSTM": units.saturation(_trace("LSTM", T=30)),
        "GRU": units.saturation(_trace("GRU", T=30)),
    }
    assert isinstance(units.plot_saturation(res), Figure)
    assert isinstance(units.plot_saturation_units(res["LSTM"], title="LSTM"), Figure)


# --- losses ---------------------------------------------------------------------------


def test_model_bits_sum_to_the_evaluated_loss():
    vocab = Vocab.from_text(PLAY)
    model = CharLM(
        len(vocab), hidden_size=16, num_layers=2, cell="lstm", seed=3, vocab=vocab
    ).eval()
    ids = vocab.encode(PLAY)
    b = units.model_bits(model.probe(PLAY), ids.numpy())
    assert b.shape == (len(PLAY) - 1,) and (b > 0).all()
    nats = evaluate(
        model, ids, batch_size=1, seq_len=len(PLAY)
    )  # one stream, full left context
    assert b.sum() * math.log(2) == pytest.approx(nats * (len(PLAY) - 1), rel=1e-5)


def test_ngram_bits_sum_to_the_models_own_total():
    vocab = Vocab.from_text(PLAY)
    model = KneserNey(NGramCounts(PLAY * 3, vocab, max_n=4), 4, discount=0.7)
    b = units.ngram_bits(model, PLAY[5:60])
    assert b.shape == (54,)
    assert b.sum() == pytest.approx(model.bpc(PLAY[5:60]) * 54, rel=1e-12)


def test_model_bits_errors():
    vocab = Vocab.from_text(PLAY)
    model = CharLM(len(vocab), hidden_size=8, cell="gru", seed=0, vocab=vocab).eval()
    tr = model.probe(PLAY[:20])
    with pytest.raises(ValueError, match="ids have 19 entries"):
        units.model_bits(tr, vocab.encode(PLAY[:19]).numpy())
    with pytest.raises(ValueError, match="no logits"):
        units.model_bits(
            Trace(**{**tr.__dict__, "logits": None}), vocab.encode(PLAY[:20]).numpy()
        )
    logits = tr.logits.copy()
    logits[0, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        units.model_bits(
            Trace(**{**tr.__dict__, "logits": logits}), vocab.encode(PLAY[:20]).numpy()
        )
    with pytest.raises(ValueError, match="at least 2"):
        units.model_bits(model.probe(PLAY[:1]), vocab.encode(PLAY[:1]).numpy())


def test_group_means():
    rows = units.group_means(
        np.array([1.0, 2.0, 3.0, 5.0]), ["a", "b", "a", "b"], order=["b", "a", "z"]
    )
    assert rows == [dict(group="b", mean=3.5, n=2), dict(group="a", mean=2.0, n=2)]
    with pytest.raises(ValueError, match="equal length"):
        units.group_means(np.zeros(3), ["a", "b"])


def test_plot_unit_feature(no_global_changes):
    text = (PLAY * 4)[:200]
    tr = _trace(T=200)
    row = dict(feature="line_position", layer=1, series="c", unit=2, r=0.5)
    fig = units.plot_unit_feature(
        tr, row, features.line_position(text), text=text, start=10, stop=150
    )
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="start"):
        units.plot_unit_feature(
            tr, row, features.line_position(text), start=150, stop=10
        )


# --- pattern queries (LSTMVis) --------------------------------------------------------


def _brute_select(x, start, stop, thr):
    """Units on at every step of [start, stop) and off just outside, one at a time."""
    T, H = x.shape
    out = []
    for u in range(H):
        inside = all(x[t, u] > thr for t in range(start, stop))
        before = start == 0 or x[start - 1, u] <= thr
        after = stop == T or x[stop, u] <= thr
        if inside and before and after:
            out.append(u)
    return out


def _brute_match(x, chosen, thr, min_length, slack):
    """Every span (a, b) checked directly: all its steps match, both ends maximal."""
    T = len(x)

    def hit(t):
        return sum(x[t, u] <= thr for u in chosen) <= slack

    return [
        (a, b)
        for a in range(T)
        for b in range(a + min_length, T + 1)
        if all(hit(t) for t in range(a, b))
        and (a == 0 or not hit(a - 1))
        and (b == T or not hit(b))
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pattern_queries_match_a_brute_force_reference(seed):
    tr = _trace(T=80, H=8, seed=seed)
    rng = np.random.default_rng(seed)
    for layer, series in ((0, "h"), (1, "c"), (1, "o")):
        x = np.asarray(tr.series(series, layer)[:, 0], dtype=float)  # (T, H)
        for thr in np.quantile(x, [0.3, 0.5, 0.7]):
            for start, stop in [(0, 1), (0, 3), (10, 12), (77, 80), (40, 41)]:
                got = units.select_pattern(
                    tr, start, stop, threshold=thr, series=series, layer=layer
                )
                assert got.tolist() == _brute_select(x, start, stop, thr)
            chosen = sorted(rng.choice(8, size=3, replace=False).tolist())
            for min_length, slack in ((1, 0), (2, 0), (3, 1), (1, 2)):
                got = units.match_pattern(
                    tr,
                    chosen,
                    threshold=thr,
                    series=series,
                    layer=layer,
                    min_length=min_length,
                    slack=slack,
                )
                assert got == _brute_match(x, chosen, thr, min_length, slack)


def test_pattern_query_finds_a_planted_pattern():
    tr = _trace(T=120, H=6, seed=3)
    h = np.asarray(tr.series("h", 1), dtype=np.float32).copy() * 0.1  # all below 0.5
    spans = [(5, 9), (40, 44), (90, 93)]
    for a, b in spans:
        h[a:b, 0, [1, 4]] = 0.9  # units 1 and 4 switch on together
    h[60:70, 0, 1] = 0.9  # unit 1 alone: not the pattern
    tr = _replace(tr, 1, "h", h)
    chosen = units.select_pattern(tr, 40, 44, threshold=0.5, layer=1)
    assert chosen.tolist() == [1, 4]
    assert units.match_pattern(tr, chosen, threshold=0.5, layer=1) == spans
    assert units.match_pattern(tr, chosen, threshold=0.5, layer=1, min_length=4) == [
        (5, 9),
        (40, 44),
    ]
    assert units.match_pattern(tr, chosen, threshold=0.5, layer=1, slack=1) == [
        (5, 9),
        (40, 44),
        (60, 70),
        (90, 93),
    ]


def test_match_text_shows_each_passage_with_its_context():
    text = "abcdefghijklmnopqrstuvwxyz"
    shown, mask, pos = units.match_text(text, [(2, 4), (20, 22)], context=1)
    assert shown == "bcde\n\ntuvw"
    assert mask.tolist() == [0, 1, 1, 0, 0, 0, 0, 1, 1, 0]
    assert pos.tolist() == [1, 2, 3, 4, -1, -1, 19, 20, 21, 22]
    assert all(text[p] == c for p, c in zip(pos, shown) if p >= 0)
    assert units.match_text(text, [(0, 2), (5, 6)], context=3, limit=1)[0] == "abcde"


def test_pattern_query_errors():
    tr = _trace(T=20, H=4)
    with pytest.raises(ValueError, match="start < stop"):
        units.select_pattern(tr, 5, 5, threshold=0.0)
    with pytest.raises(ValueError, match="start < stop"):
        units.select_pattern(tr, 0, 21, threshold=0.0)
    with pytest.raises(ValueError, match="no units"):
        units.match_pattern(tr, [], threshold=0.0)
    with pytest.raises(IndexError, match="units must be"):
        units.match_pattern(tr, [4], threshold=0.0)
    with pytest.raises(ValueError, match="slack"):
        units.match_pattern(tr, [0, 1], threshold=0.0, slack=2)
    with pytest.raises(ValueError, match="no matches"):
        units.match_text("abc", [])
    with pytest.raises(ValueError, match="outside"):
        units.match_text("abc", [(2, 5)])
