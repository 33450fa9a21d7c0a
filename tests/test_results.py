"""Pinned experiment results and weights: rnnviz.checkpoints.save_result,
load_result, save_weights and load_weights."""

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.checkpoints import (
    RERUN_RTOL,
    ChecksumError,
    RerunMismatch,
    check_rerun,
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


# check_rerun: a page's rerun of a script's run, equal but for rounding


def _trained(seed: int, steps: int = 30, lr: float = 0.05) -> tuple[nn.Module, list]:
    """A small GRU regression trained with Adam: the model and its losses."""
    torch.manual_seed(seed)
    model = nn.GRU(3, 8, batch_first=True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(16, 12, 3, generator=g)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = model(x)[0].pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def test_a_rerun_with_the_same_seed_is_the_record():
    live, live_losses = _trained(0)
    record, record_losses = _trained(0)
    agreement = check_rerun((live, live_losses, 30), (record, record_losses, 30))
    assert agreement.max_abs == 0 and agreement.used == 0


def test_rounding_differences_pass_and_are_reported():
    model, losses = _trained(0)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    nudged = {k: v * (1 + 1e-6) for k, v in state.items()}  # last-digit changes
    agreement = check_rerun({"w": nudged, "loss": losses}, {"w": state, "loss": losses})
    assert 0 < agreement.max_rel < 2e-6 and agreement.used < 0.01
    assert agreement.where.startswith("rerun['w']")


def test_another_seed_or_step_size_is_not_the_record():
    record, record_losses = _trained(0)
    for live, live_losses in (_trained(1), _trained(0, lr=0.06)):
        with pytest.raises(RerunMismatch, match="not the script's"):
            check_rerun((live, live_losses), (record, record_losses))
    assert issubclass(RerunMismatch, AssertionError)  # a failed check in a notebook


def test_the_worst_leaf_is_named_against_its_own_scale():
    # 1e-3 of a leaf's largest value is allowed anywhere in that leaf: a weight
    # near zero may change relatively more than the tolerance
    stored = {"small": np.array([1e-6, 1.0]), "big": np.array([100.0])}
    live = {"small": np.array([5e-4, 1.0]), "big": np.array([100.0])}
    assert check_rerun(live, stored).used == pytest.approx(0.499)
    live["big"] = np.array([100.5])
    with pytest.raises(RerunMismatch, match=r"rerun\['big'\].*5 times the tolerance"):
        check_rerun(live, stored)
    assert check_rerun(live, stored, rtol=0.01).where == "rerun['big']"


@pytest.mark.parametrize(
    ("live", "stored", "message"),
    [
        ({"a": 1.0}, {"b": 1.0}, "keys differ"),
        ([1.0, 2.0], [1.0], "2 items live, 1 recorded"),
        (np.zeros(3), np.zeros(4), "shape"),
        ({"steps": 300}, {"steps": 301}, "300 live, 301 recorded"),
        ({"text": "abc"}, {"text": "abd"}, "'abc' live"),
        ([float("nan")], [1.0], "NaN"),
        (None, 2.5, "None live"),
        ({"a": 1.0}, [1.0], "dict"),
    ],
)
def test_other_structures_and_counts_are_refused(live, stored, message):
    with pytest.raises(RerunMismatch, match=message):
        check_rerun(live, stored)


def test_a_diverged_record_matches_only_a_diverged_rerun():
    assert check_rerun((None, [1.0]), (None, [1.0])).used == 0
    with pytest.raises(RerunMismatch):
        check_rerun((3.2, [1.0]), (None, [1.0]))


def test_a_zero_tolerance_asks_for_equality():
    assert check_rerun([1.0, 2.0], [1.0, 2.0], rtol=0, atol=0).used == 0
    with pytest.raises(RerunMismatch, match="inf times"):
        check_rerun([1.0, 2.0], [1.0, 2.0 + 1e-12], rtol=0)


def test_the_error_names_the_worst_leaf_with_its_own_difference():
    stored = {"loss": [3.0, 2.0], "w": np.array([1000.0, 1.0])}
    live = {"loss": [3.0, 2.1], "w": np.array([1000.5, 1.0])}  # w is within 1e-3
    with pytest.raises(RerunMismatch, match=r"rerun\['loss'\]\[1\].*up to 0\.1 "):
        check_rerun(live, stored)


def test_negative_tolerances_are_refused():
    with pytest.raises(ValueError, match="tolerances"):
        check_rerun(1.0, 1.0, rtol=-1)


def test_the_running_page_states_the_tolerance():
    text = (Path(__file__).parents[1] / "chapters/06-appendix/running.md").read_text()
    assert RERUN_RTOL == 1e-3 and "a relative 10⁻³" in text


# Another CPU, imitated on this one: torch's kernels without vector instructions
# and MKL's portable code path round differently, as another machine does.
_LSTM_RUN = """
import json, sys, torch
from torch import nn
torch.set_num_threads(1)
torch.manual_seed(0)
lstm, head = nn.LSTM(24, 48, batch_first=True), nn.Linear(48, 24)
opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=float(sys.argv[1]))
x = torch.randn(16, 20, 24, generator=torch.Generator().manual_seed(100))
losses = []
for _ in range(60):
    opt.zero_grad()
    loss = (head(lstm(x)[0]) - x.roll(1, 1)).pow(2).mean()
    loss.backward()
    opt.step()
    losses.append(loss.item())
print(json.dumps(losses))
"""


def _lstm_losses(lr: float, other_cpu: bool) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if other_cpu:
        env.update(ATEN_CPU_CAPABILITY="default", MKL_CBWR="COMPATIBLE")
    out = subprocess.run(
        [sys.executable, "-c", _LSTM_RUN, str(lr)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_a_rerun_on_another_code_path_passes_and_another_step_size_does_not():
    record = _lstm_losses(0.005, other_cpu=False)
    elsewhere = _lstm_losses(0.005, other_cpu=True)
    if elsewhere == record:
        pytest.skip("both code paths round alike on this machine")
    agreement = check_rerun(elsewhere, record)  # differs in the last digits only
    assert 0 < agreement.max_rel < 1e-5
    with pytest.raises(RerunMismatch):
        check_rerun(_lstm_losses(0.006, other_cpu=True), record)
