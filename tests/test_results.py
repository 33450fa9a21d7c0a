"""Pinned experiment results and weights: rnnviz.checkpoints.save_result,
load_result, save_weights and load_weights."""

import hashlib
import json
import math

import pytest
import torch
from torch import nn

from rnnviz.checkpoints import (
    ChecksumError,
    load_result,
    load_weights,
    save_result,
    save_weights,
)


def test_a_saved_result_loads_back_under_its_sha256(tmp_path):
    path = tmp_path / "sub" / "sweep.json"
    result = {"runs": [{"lr": 0.01, "bpc": 2.5}], "seeds": [0, 1, 2]}
    digest = save_result(path, result)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_result(path, digest) == result
    assert json.loads(path.read_text()) == result  # plain JSON, readable anywhere


def test_a_changed_file_is_refused(tmp_path):
    path = tmp_path / "sweep.json"
    digest = save_result(path, {"bpc": 2.5})
    path.write_text(path.read_text().replace("2.5", "2.4"))
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        load_result(path, digest)


def test_a_missing_file_and_a_malformed_pin_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no result at"):
        load_result(tmp_path / "absent.json", "0" * 64)
    save_result(tmp_path / "r.json", {"a": 1})
    with pytest.raises(ValueError, match="64 hex digits"):
        load_result(tmp_path / "r.json", "abc")


def test_nan_and_non_dicts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="NaN or infinity"):
        save_result(tmp_path / "r.json", {"bpc": math.nan})
    with pytest.raises(TypeError, match="a result is a dict"):
        save_result(tmp_path / "r.json", [1, 2])


def test_relative_paths_are_paths_in_the_book():
    with pytest.raises(FileNotFoundError, match="chapters/no-such-part/x.json"):
        load_result("chapters/no-such-part/x.json", "0" * 64)


def _pair(seed):
    torch.manual_seed(seed)
    return {"rnn": nn.GRU(3, 4, batch_first=True), "head": nn.Linear(4, 2)}


def test_saved_weights_load_into_fresh_models_and_compute_the_same(tmp_path):
    trained = _pair(0)
    digest = save_weights(tmp_path / "w.pt", trained)
    assert digest == hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()
    fresh = load_weights(tmp_path / "w.pt", digest, _pair(1))
    x = torch.randn(2, 5, 3)
    assert torch.equal(fresh["rnn"](x)[0], trained["rnn"](x)[0])
    assert torch.equal(fresh["head"].weight, trained["head"].weight)
    assert not fresh["rnn"].training  # ready to evaluate
    # tensors only: a plain weights_only load reads the file
    assert set(torch.load(tmp_path / "w.pt", weights_only=True)) == {"rnn", "head"}


def test_weights_are_refused_when_changed_or_not_matching_the_models(tmp_path):
    path = tmp_path / "w.pt"
    digest = save_weights(path, _pair(0))
    with pytest.raises(ValueError, match="holds"):
        load_weights(path, digest, {"rnn": nn.GRU(3, 4, batch_first=True)})
    with pytest.raises(ValueError, match=r"rnn.weight_ih_l0: the file has shape"):
        load_weights(path, digest, {"rnn": nn.GRU(3, 5), "head": nn.Linear(4, 2)})
    with pytest.raises(ValueError, match="parameters"):
        load_weights(path, digest, {"rnn": nn.Linear(3, 4), "head": nn.Linear(4, 2)})
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        load_weights(path, digest, _pair(0))
    with pytest.raises(ValueError, match="non-empty dict"):
        save_weights(tmp_path / "x.pt", {})
