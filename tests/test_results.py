"""Pinned experiment results: rnnviz.checkpoints.save_result and load_result."""

import hashlib
import json
import math

import pytest

from rnnviz.checkpoints import ChecksumError, load_result, save_result


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
