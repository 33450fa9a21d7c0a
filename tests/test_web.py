"""rnnviz.web: the live models' file format, read back exactly, checked and pinned."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnviz import web
from rnnviz.checkpoints import ChecksumError
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.models import CharLM
from rnnviz.pretrain import PAGE_CONFIGS, load_pretrained
from rnnviz.train import bits, evaluate

VOCAB = Vocab.from_text("abcdefgh ,.\n")


def _model(cell="lstm", layers=2, seed=0):
    return CharLM(
        len(VOCAB),
        hidden_size=12,
        num_layers=layers,
        cell=cell,
        embed_size=6,
        seed=seed,
        vocab=VOCAB,
    ).eval()


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_float32_round_trip_is_exact(tmp_path, cell):
    m = _model(cell)
    web.export_web(m, tmp_path / "m.js", name="m", dtype="float32")
    back = web.read_web(tmp_path / "m.js")
    assert back.model.config == m.config and back.vocab == VOCAB and back.name == "m"
    for k, v in m.state_dict().items():
        assert torch.equal(back.model.state_dict()[k], v), k


def test_float16_round_trip_is_torch_half_rounding(tmp_path):
    m = _model("gru")
    web.export_web(m, tmp_path / "m.js", name="m", dtype="float16")
    back = web.read_web(tmp_path / "m.js").model.state_dict()
    for k, v in m.state_dict().items():
        assert torch.equal(back[k], v.half().float()), k


def test_int8_stores_matrices_per_row_within_half_a_step(tmp_path):
    m = _model("lstm")
    web.export_web(m, tmp_path / "m.js", name="m", dtype="int8")
    back = web.read_web(tmp_path / "m.js").model.state_dict()
    for k, v in m.state_dict().items():
        if v.dim() == 2:
            step = v.abs().amax(dim=1, keepdim=True) / 127  # one scale per row
            assert ((back[k] - v).abs() <= step / 2 + 1e-7).all(), k
            assert not torch.equal(back[k], v)
        else:  # the biases stay float32
            assert torch.equal(back[k], v), k


def test_quantize_rows_reconstructs_from_int8_and_float32_scales():
    w = torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [3.0, 1.5, -0.75]])
    q, scale = web.quantize_rows(w)
    assert q.dtype == np.int8 and scale.dtype == np.float32
    assert q[0].tolist() == [64, -127, 32] and q[1].tolist() == [0, 0, 0]
    assert scale[1] == 1.0  # a row of zeros
    back = web.dequantize_rows(q, scale)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, w.numpy(), atol=3.0 / 127 / 2)
    with pytest.raises(ValueError, match="NaN"):
        web.quantize_rows(torch.tensor([[1.0, math.nan]]))


def test_the_file_is_one_line_of_json_registered_under_its_name(tmp_path):
    digest = web.export_web(_model(), tmp_path / "m.js", name="my-model", dtype="int8")
    lines = (tmp_path / "m.js").read_text().split("\n")
    assert (
        lines[1]
        == '(window.rnnvizLiveData = window.rnnvizLiveData || {})["my-model"] ='
    )
    spec = json.loads(lines[2][:-1])
    assert spec["format"] == web.FORMAT and spec["config"]["cell"] == "lstm"
    assert (tmp_path / "m.js.sha256").read_text().split() == [digest, "m.js"]


def test_export_is_deterministic(tmp_path):
    a = web.export_web(_model(seed=3), tmp_path / "a.js", name="x")
    b = web.export_web(_model(seed=3), tmp_path / "b.js", name="x")
    assert a == b


def test_read_web_refuses_changed_bytes(tmp_path):
    path = tmp_path / "m.js"
    web.export_web(_model(), path, name="m")
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        web.read_web(path, sha256="0" * 64)
    text = path.read_text()
    path.write_text(text.replace('"payload":"', '"payload":"AAAA', 1))
    digest = web.sha256_file(path)
    with pytest.raises((ChecksumError, ValueError), match="payload"):
        web.read_web(path, sha256=digest)  # the file hash matches; its payload does not
    (tmp_path / "bare.js").write_text(text)
    with pytest.raises(ChecksumError, match="refusing an unverified"):
        web.read_web(tmp_path / "bare.js")
    with pytest.raises(FileNotFoundError, match="no live model"):
        web.read_web(tmp_path / "missing.js")


def test_read_web_refuses_what_it_did_not_write(tmp_path):
    path = tmp_path / "x.js"
    path.write_text("alert(1);\n")
    with pytest.raises(ValueError, match="not a live model"):
        web.read_web(path, sha256=web.sha256_file(path))


def test_export_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="name must be"):
        web.export_web(_model(), tmp_path / "m.js", name="Bad Name")
    with pytest.raises(ValueError, match="dtype must be"):
        web.export_web(_model(), tmp_path / "m.js", name="m", dtype="int4")
    with pytest.raises(TypeError, match="CharLM"):
        web.export_web(torch.nn.Linear(2, 2), tmp_path / "m.js", name="m")
    no_vocab = CharLM(len(VOCAB), hidden_size=4)
    with pytest.raises(ValueError, match="no vocab"):
        web.export_web(no_vocab, tmp_path / "m.js", name="m")
    broken = _model()
    with torch.no_grad():
        broken.head.bias[0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        web.export_web(broken, tmp_path / "m.js", name="m")
    with pytest.raises(ValueError, match="cell must be"):
        web.page_model_path("transformer")


# ------------------------------------------------------------ the shipped models
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_shipped_live_model_is_its_pinned_checkpoint_exported(tmp_path, cell):
    """The file is the page checkpoint, exported again byte for byte."""
    live = web.load_page_model(cell)
    ck = load_pretrained(cell, page=True)
    assert live.metadata["checkpoint_sha256"] == ck.sha256
    assert live.model.config == {
        **PAGE_CONFIGS[cell]["model"],
        "cell": cell,
        "vocab_size": len(ck.vocab),
    }
    again = web.export_web(
        ck.model,
        tmp_path / "m.js",
        name=web.PAGE_MODELS[cell],
        dtype=live.dtype,
        metadata=live.metadata,
    )
    assert again == live.sha256 == web.WEB_SHA256[web.PAGE_MODELS[cell]]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_shipped_live_model_states_its_own_held_out_loss(cell):
    """The test loss in the metadata is recomputed on the weights the page runs."""
    live = web.load_page_model(cell)
    test_ids = live.vocab.encode(load_corpus().test)
    nats = evaluate(live.model, test_ids, batch_size=32)
    meta = live.metadata
    assert nats == pytest.approx(meta["test_nats"], abs=1e-4)
    assert meta["test_bpc"] == pytest.approx(bits(meta["test_nats"]))
    # int8 per row costs the page models almost nothing
    assert abs(meta["test_nats"] - meta["checkpoint_test_nats"]) < 0.01


def test_all_three_live_models_fit_one_view_s_download_budget():
    sizes = [web.page_model_path(c).stat().st_size for c in ("rnn", "gru", "lstm")]
    engine = web.web_dir().parent / "rnnviz-live.js"
    views = web.web_dir().parent / "rnnviz-live-views.js"
    total = sum(sizes) + engine.stat().st_size + views.stat().st_size
    assert total <= 4_000_000, total
