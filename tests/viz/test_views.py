"""The static HTML views: their inline data equals the trace or the values given,
and nothing loads from outside."""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from rnnviz import probe
from rnnviz.probe import LayerTrace, Trace
from rnnviz.viz.palette import BLUE, SERIES
from rnnviz.viz.views import series_view, text_view

TEXT = "Friends, Romans,\ncountrymen"


def _trace():
    torch.manual_seed(0)
    m = torch.nn.LSTM(3, 5)
    return probe(
        m, torch.randn(len(TEXT), 1, 3, generator=torch.Generator().manual_seed(1))
    )


def _data(html):
    return json.loads(
        re.search(r"var D = (\{.*?\});\n", html).group(1).replace("<\\/", "</")
    )


def test_inline_data_decodes_to_the_trace_values():
    tr = _trace()
    html = text_view(tr, TEXT, units=[1, 3]).data
    d = _data(html)
    assert d["text"] == TEXT and d["units"] == [1, 3]
    assert list(d["series"]) == ["i", "f", "g", "o", "c", "h"]
    for name, s in d["series"].items():
        q = (
            np.frombuffer(base64.b64decode(s["b64"]), dtype=np.uint8)
            .reshape(len(TEXT), 2)
            .astype(float)
        )
        decoded = s["lo"] + (s["hi"] - s["lo"]) * q / 255
        np.testing.assert_allclose(
            decoded, tr.series(name)[:, 0, [1, 3]], atol=(s["hi"] - s["lo"]) / 255
        )


def test_view_is_self_contained_and_deterministic():
    html = text_view(_trace(), TEXT).data
    assert not re.search(r"(src|href)=\"?https?:", html) and "cdn" not in html.lower()
    assert text_view(_trace(), TEXT).data == html
    ids = set(re.findall(r'id="(rv-[0-9a-f]+)"', html))
    assert len(ids) == 1 and f'getElementById("{ids.pop()}")' in html


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_view_script_is_valid_javascript(tmp_path):
    html = text_view(_trace(), TEXT).data
    script = re.search(r"<script>(.*)</script>", html, re.S).group(1)
    path = tmp_path / "view.js"
    path.write_text(script)
    subprocess.run(["node", "--check", str(path)], check=True)


def test_view_errors():
    tr = _trace()
    with pytest.raises(ValueError, match="need the text"):
        text_view(tr, "short")
    with pytest.raises(IndexError, match="units must be"):
        text_view(tr, TEXT, units=[7])
    with pytest.raises(KeyError, match="no series 'q'"):
        text_view(tr, TEXT, names=["q"])


# --- per-character values: series_view ------------------------------------------------


def _one_unit_trace(text, series):
    """The values wrapped as a one-unit RNN Trace, as the old ``units.series_trace``
    did so that ``text_view`` could show them: the reference for series_view."""
    T, zeros = len(text), np.zeros((len(text), 1, 1), np.float32)
    gates = {n: np.asarray(v, np.float32).reshape(T, 1, 1) for n, v in series.items()}
    return Trace(
        kind="RNN",
        layers=(LayerTrace(h=zeros, gates=gates),),
        output=zeros,
        h_n=zeros[-1:],
        c_n=None,
        batch_first=False,
        text=text,
    )


def test_series_view_is_the_text_view_of_the_same_values():
    T = len(TEXT)
    series = {
        "bits saved": np.arange(T) / 4 - 3,  # signed, exact in float32
        "line position": np.arange(T) % 7 / 8,
    }
    expected = text_view(_one_unit_trace(TEXT, series), names=list(series), units=[0])
    got = series_view(TEXT, series, colors=dict.fromkeys(series, BLUE))
    assert got.data == expected.data  # the same markup, script and data
    # with one series, the default colour is the trace view's too
    one = {"bits saved": series["bits saved"]}
    assert (
        series_view(TEXT, one).data
        == text_view(_one_unit_trace(TEXT, one), names=list(one), units=[0]).data
    )


def test_series_view_data_decode_to_the_values():
    rng = np.random.default_rng(0)
    T = len(TEXT)
    p = rng.uniform(0, 1, size=(T, 3))  # three columns: the slider offers 0, 1, 2
    z = rng.normal(size=(T, 3))
    html = series_view(TEXT, {"p": p, "z": z}, ranges={"p": (0, 1)}).data
    d = _data(html)
    assert d["text"] == TEXT and d["units"] == [0, 1, 2]
    assert 'max="2"' in html and [s["label"] for s in d["series"].values()] == [
        "p",
        "z",
    ]
    assert [s["color"] for s in d["series"].values()] == list(SERIES[:2])
    m = float(np.abs(z).max())
    assert (d["series"]["p"]["lo"], d["series"]["p"]["hi"]) == (0.0, 1.0)
    assert (d["series"]["z"]["lo"], d["series"]["z"]["hi"]) == (-m, m)
    for name, values in (("p", p), ("z", z)):
        s = d["series"][name]
        q = np.frombuffer(base64.b64decode(s["b64"]), np.uint8).reshape(T, 3)
        decoded = s["lo"] + (s["hi"] - s["lo"]) * q / 255
        np.testing.assert_allclose(decoded, values, atol=(s["hi"] - s["lo"]) / 510)
    # outside the given range: clipped to its ends
    clipped = _data(series_view(TEXT, {"p": 2 * p}, ranges={"p": (0, 1)}).data)
    q = np.frombuffer(base64.b64decode(clipped["series"]["p"]["b64"]), np.uint8)
    np.testing.assert_array_equal(q.reshape(T, 3) == 255, 2 * p >= 1 - 1 / 510)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_series_view_script_is_valid_javascript(tmp_path):
    html = series_view(TEXT, {"x": np.linspace(-1, 1, len(TEXT))}).data
    script = re.search(r"<script>(.*)</script>", html, re.S).group(1)
    path = tmp_path / "series.js"
    path.write_text(script)
    subprocess.run(["node", "--check", str(path)], check=True)


def test_series_view_errors():
    T, ok = len(TEXT), np.zeros(len(TEXT))
    with pytest.raises(ValueError, match="non-empty str"):
        series_view("", {"x": ok})
    with pytest.raises(ValueError, match="non-empty mapping"):
        series_view(TEXT, {})
    with pytest.raises(ValueError, match=rf"shape \({T - 1},\), the text has {T}"):
        series_view(TEXT, {"x": ok[:-1]})
    with pytest.raises(ValueError, match="2 columns, the others 1"):
        series_view(TEXT, {"x": ok, "y": np.zeros((T, 2))})
    with pytest.raises(ValueError, match="NaN or infinite"):
        series_view(TEXT, {"x": np.full(T, np.nan)})
    with pytest.raises(ValueError, match=r"ranges\['x'\] must be two finite"):
        series_view(TEXT, {"x": ok}, ranges={"x": (1, 0)})
    with pytest.raises(KeyError, match="not shown"):
        series_view(TEXT, {"x": ok}, ranges={"y": (0, 1)})
    with pytest.raises(TypeError, match="names must be str"):
        series_view(TEXT, {1: ok})
    # the inputs are left as they were
    values = np.linspace(-1, 1, T)
    before = values.copy()
    series_view(TEXT, {"x": values})
    np.testing.assert_array_equal(values, before)


# --- the sampling lab's views ---------------------------------------------------------


def _generations():
    from rnnviz.data import Vocab
    from rnnviz.models import CharLM
    from rnnviz.sampling import run_lab

    vocab = Vocab.from_text(TEXT + "<&>\"'")
    model = CharLM(len(vocab), hidden_size=8, embed_size=4, seed=0, vocab=vocab)
    return run_lab(model, vocab, "Friends,\n", 30, seed=3)


def _cells(html_text):
    """(character, title, classes) of every generated character's cell, in order."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        cells, cur = [], None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if (
                tag == "span"
                and "c" in a.get("class", "").split()
                and "pr" not in a["class"].split()
            ):
                self.cur = [None, a.get("title"), a["class"].split()]
                self.cells.append(self.cur)

        def handle_data(self, data):
            if self.cur is not None and self.cur[0] is None:
                self.cur[0] = data

        def handle_endtag(self, tag):
            if tag == "span":
                self.cur = None

    p = P()
    p.cells = []
    p.feed(html_text)
    return p.cells


def test_sampling_view_shows_every_probability_and_entropy():
    from rnnviz.viz.views import sampling_view

    gen = _generations()["T = 1.3"]
    page = sampling_view(gen).data
    cells = _cells(page)
    assert len(cells) == len(gen.steps) == 30
    for (shown, title, classes), step in zip(cells, gen.steps):
        assert shown == {"\n": "\u21b5", " ": "\u00a0"}.get(step.char, step.char)
        p = float(re.search(r" p (1|\.\d{3})", title).group(1))
        assert p == pytest.approx(step.prob, abs=5e-4)
        assert f"H {step.entropy:.2f} bits" in title
        assert "drawn with " in title
        assert f"h{round(14 * step.prob)}" in classes  # bar height in px out of 14
        assert (
            f"e{min(15, int(step.entropy / 4 * 15 + 0.5))}" in classes
        )  # entropy colour level
        alternatives = title.split("top: ")[1].split(" ")[::2]
        assert len(alternatives) == 5
    assert "<script" not in page  # works inside an ipywidgets.HTML too
    assert (
        "mean surprisal" in page and f"{gen.stats()['surprisal_bits']:.2f} bits" in page
    )


def test_sampling_views_are_self_contained_and_deterministic():
    from rnnviz.viz.views import sampling_lab_view, sampling_view

    gens = _generations()
    for view in (sampling_view(gens["greedy"]), sampling_lab_view(gens)):
        page = view.data
        assert (
            not re.search(r"(src|href)\s*=\s*\"?'?https?:", page)
            and "cdn" not in page.lower()
        )
        assert "http://" not in page and "https://" not in page
    lab = sampling_lab_view(gens).data
    assert sampling_lab_view(_generations()).data == lab
    ids = set(re.findall(r'id="(rs-[0-9a-f]+)"', lab))
    assert len(ids) == 1 and f'getElementById("{ids.pop()}")' in lab
    assert re.findall(r'<option value="([^"]+)">', lab) == list(gens)
    assert (
        lab.count('class="rs-gen"') == len(gens)
        and lab.count('style="display: none"') == len(gens) - 1
    )
    assert len(_cells(lab)) == 30 * len(gens)
    # the prompt is shown, escaped, without bars
    assert lab.count('class="c pr"') == len("Friends,\n") * len(gens)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_lab_view_script_is_valid_javascript(tmp_path):
    from rnnviz.viz.views import sampling_lab_view

    script = re.search(
        r"<script>(.*)</script>", sampling_lab_view(_generations()).data, re.S
    ).group(1)
    path = tmp_path / "lab.js"
    path.write_text(script)
    subprocess.run(["node", "--check", str(path)], check=True)


def test_sampling_view_escapes_html():
    from rnnviz.sampling import Generation, Step
    from rnnviz.viz.views import sampling_view

    steps = tuple(
        Step(
            char=c,
            prob=0.5,
            prob_filtered=1.0,
            entropy=1.0,
            entropy_filtered=0.0,
            support=1,
            top=((c, 0.5), ('"', 0.2)),
        )
        for c in "<&\"'"
    )
    page = sampling_view(
        Generation("<script>", steps, "greedy", None, None, None, 0, 5)
    ).data
    assert "<script" not in page and "&lt;" in page
    assert [c for c, _, _ in _cells(page)] == list("<&\"'")


def test_sampling_lab_view_errors():
    from rnnviz.viz.views import sampling_lab_view

    with pytest.raises(ValueError, match="no generations"):
        sampling_lab_view({})
    g = _generations()["greedy"]
    with pytest.raises(ValueError, match="labels must be distinct"):
        sampling_lab_view([g, g])


def test_every_control_of_a_view_keeps_its_keys_in_jupyterlab():
    """The suppressing attribute on the view's root is not enough in JupyterLab:
    each control carries it (see ``rnnviz.viz.animate.keep_keys``)."""
    html = re.sub(
        r"<script\b.*?</script>", "", text_view(_trace(), TEXT).data, flags=re.S
    )
    controls = re.findall(r"<(?:button|input|select)\b[^>]*>", html)
    assert len(controls) == 4  # the series menu, the unit slider, previous, next
    assert all("data-lm-suppress-shortcuts" in c for c in controls), controls
