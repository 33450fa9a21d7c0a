"""The static HTML views: their inline data equals the trace, and nothing loads from outside."""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from rnnviz import probe
from rnnviz.views import text_view

TEXT = "Friends, Romans,\ncountrymen"


def _trace():
    torch.manual_seed(0)
    m = torch.nn.LSTM(3, 5)
    return probe(m, torch.randn(len(TEXT), 1, 3, generator=torch.Generator().manual_seed(1)))


def _data(html):
    return json.loads(re.search(r"var D = (\{.*?\});\n", html).group(1).replace("<\\/", "</"))


def test_inline_data_decodes_to_the_trace_values():
    tr = _trace()
    html = text_view(tr, TEXT, units=[1, 3]).data
    d = _data(html)
    assert d["text"] == TEXT and d["units"] == [1, 3]
    assert list(d["series"]) == ["i", "f", "g", "o", "c", "h"]
    for name, s in d["series"].items():
        q = np.frombuffer(base64.b64decode(s["b64"]), dtype=np.uint8).reshape(len(TEXT), 2).astype(float)
        decoded = s["lo"] + (s["hi"] - s["lo"]) * q / 255
        np.testing.assert_allclose(decoded, tr.series(name)[:, 0, [1, 3]], atol=(s["hi"] - s["lo"]) / 255)


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
