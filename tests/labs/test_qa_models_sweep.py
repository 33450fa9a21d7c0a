"""The models Q&A's sweep (rnnviz.labs.qa_models_sweep): early stopping, one run.

early_stop is checked against curves whose answer is known by construction;
run is checked against rnnviz.train.evaluate, which it does not implement.
"""

import json
import math

import pytest

from rnnviz.data import Vocab
from rnnviz.labs import qa_models_sweep as qs
from rnnviz.train import evaluate

TEXT = "abcabc abd bcd bcd abc\n" * 60
VOCAB = Vocab.from_text(TEXT)
IDS = VOCAB.encode(TEXT)


@pytest.mark.parametrize(
    ("val", "patience", "expected"),
    [
        ([3.0, 2.0, 1.0], None, (2, 2)),  # still falling: the last one, no stop
        ([3.0, 1.0, 2.0, 2.5, 0.5], None, (4, 4)),  # no patience: the global minimum
        ([3.0, 1.0, 2.0, 2.5, 0.5], 2, (1, 3)),  # stops before the later minimum
        ([3.0, 1.0, 2.0, 0.9, 2.5, 2.6], 2, (3, 5)),  # a new minimum resets the wait
        ([1.0, 1.0, 1.0], 1, (0, 1)),  # equal is not better
        ([2.0], 3, (0, 0)),
    ],
)
def test_early_stop_on_known_curves(val, patience, expected):
    assert qs.early_stop(val, patience) == expected


def test_early_stop_refuses_an_empty_curve():
    with pytest.raises(ValueError, match="empty"):
        qs.early_stop([])


def test_run_records_both_losses_and_honours_stop():
    model = qs.make_model("lstm", 8, 0, VOCAB)
    hist = qs.run(model, 1e-2, 0, IDS, IDS[:300], steps=6, eval_every=2)
    assert hist.eval_step == [2, 4, 6]
    assert len(hist.val_loss) == len(hist.metrics["train"]) == 3
    assert hist.val_loss[-1] == pytest.approx(evaluate(model, IDS[:300]))
    assert hist.metrics["train"][-1] == pytest.approx(evaluate(model, IDS))
    stopped = qs.run(
        qs.make_model("gru", 8, 0, VOCAB),
        1e-2,
        0,
        IDS,
        IDS[:300],
        steps=10,
        eval_every=2,
        train_bpc=False,
        stop=lambda h: len(h.val_loss) == 2,
    )
    assert stopped.eval_step == [2, 4] and "train" not in stopped.metrics


def test_run_is_deterministic_for_a_seed():
    def curve(seed):
        model = qs.make_model("lstm", 8, seed, VOCAB)
        return qs.run(model, 1e-2, seed, IDS, IDS[:300], steps=4, eval_every=2).val_loss

    assert curve(0) == curve(0) and curve(0) != curve(1)


def test_shipped_result_matches_its_config():
    path = qs.DEFAULT_OUT
    if not path.exists():
        pytest.skip("the sweep has not been run")
    result = json.loads(path.read_text())
    cfg = result["config"]
    assert cfg["lrs"] == list(qs.LRS) and cfg["cell_lrs"] == list(qs.CELL_LRS)
    assert cfg["seeds"] == list(qs.SEEDS)
    assert cfg["sizes"] == list(qs.SIZES) and cfg["size_steps"] == qs.SIZE_STEPS
    n_evals = qs.SIZE_STEPS // qs.EVAL_EVERY
    for hidden, runs in result["sizes"].items():
        assert len(runs) == len(qs.LRS) * len(qs.SEEDS), hidden
        for rec in runs.values():
            assert len(rec["val_bpc"]) == len(rec["train_bpc"]) == n_evals
            assert all(0 < v < math.log2(100) for v in rec["val_bpc"])
    for cell, runs in result["cells"].items():
        assert cell in qs.CELLS and len(runs) == len(qs.CELL_LRS) * len(qs.SEEDS)
