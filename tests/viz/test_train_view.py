"""rnnviz.viz.train_view: the training view's block, its config and its errors."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from rnnviz.labs.tasks import ADDING_BASELINE_MSE
from rnnviz.viz import palette
from rnnviz.viz.train_view import BASELINE_MSE, training_live_view

ROOT = Path(__file__).resolve().parents[2]


def _config(block):
    m = re.search(r'data-config="([^"]*)"', block.data)
    return json.loads(html.unescape(m.group(1)))


def test_the_block_holds_the_config_the_script_reads():
    cfg = _config(training_live_view())
    assert cfg["view"] == "train" and cfg["key"] == "train"
    assert (cfg["T"], cfg["hidden"], cfg["optimizer"], cfg["seed"]) == (
        20,
        16,
        "adam",
        0,
    )
    assert cfg["lr"] == 0.01 and cfg["stepsPerFrame"] == 10
    assert cfg["batch"] == 32 and cfg["clip"] == 1.0 and cfg["forgetBias"] == 1.0
    assert cfg["maxSteps"] == 3000 and cfg["autostart"] is False
    assert cfg["lengths"] == [10, 20, 40, 60, 100]
    assert cfg["hiddens"] == [4, 8, 16, 32, 64]
    assert cfg["lrs"] == sorted(cfg["lrs"]) and cfg["lr"] in cfg["lrs"]
    assert set(cfg) == {
        "view",
        "key",
        "T",
        "hidden",
        "lr",
        "optimizer",
        "seed",
        "stepsPerFrame",
        "batch",
        "clip",
        "forgetBias",
        "maxSteps",
        "autostart",
        "baseline",
        "lengths",
        "hiddens",
        "lrs",
        "colors",
    }


def test_the_baseline_is_the_labs_baseline():
    assert BASELINE_MSE == ADDING_BASELINE_MSE
    assert _config(training_live_view())["baseline"] == pytest.approx(1 / 6, abs=0)


def test_colours_come_from_the_palette():
    c = _config(training_live_view())["colors"]
    assert c["model"] == {
        "RNN": palette.MODEL_COLORS["RNN"],
        "LSTM": palette.MODEL_COLORS["LSTM"],
    }
    assert (c["ink"], c["muted"], c["track"]) == (
        palette.INK,
        palette.DARK_GREY,
        palette.TRACK,
    )
    assert c["baseline"] == palette.GREY and c["error"] == palette.VERMILLION
    assert c["background"] == palette.WHITE
    source = (ROOT / "rnnviz" / "viz" / "train_view.py").read_text(encoding="utf-8")
    assert not re.search(r"#[0-9A-Fa-f]{6}\b", source)  # no hex literals


def test_chosen_values_are_passed_and_added_to_the_menus():
    cfg = _config(
        training_live_view(
            T=30,
            hidden=12,
            lr=0.05,
            optimizer="sgd",
            seed=7,
            steps_per_frame=3,
            key="mine",
            batch=16,
            clip=None,
            forget_bias=None,
            max_steps=500,
            autostart=True,
        )
    )
    assert (
        cfg["T"] == 30
        and 30 in cfg["lengths"]
        and cfg["lengths"] == sorted(cfg["lengths"])
    )
    assert cfg["hidden"] == 12 and 12 in cfg["hiddens"]
    assert cfg["lr"] == 0.05 and 0.05 in cfg["lrs"]
    assert (cfg["optimizer"], cfg["seed"], cfg["stepsPerFrame"]) == ("sgd", 7, 3)
    assert cfg["key"] == "mine" and cfg["batch"] == 16
    assert cfg["clip"] is None and cfg["forgetBias"] is None
    assert cfg["maxSteps"] == 500 and cfg["autostart"] is True
    assert isinstance(cfg["lr"], float)


def test_the_block_boots_the_script_from_the_static_folder_and_has_a_fallback():
    block = training_live_view(T=40, hidden=8).data
    assert block.startswith('<div class="rnnviz-train" id="rt-')
    assert 'data-content_root")' in block
    assert 'root + "_static/live/rnnviz-train.js"' in block
    assert "window.rnnvizTrain.mountAll()" in block
    fallback = re.search(r'<div class="rt-fallback"[^>]*>([^<]*)</div>', block)
    text = html.unescape(fallback.group(1))
    assert "in your browser" in text and "online book" in text
    assert "length 40" in text and "8 hidden" in text
    # the script the block boots is the one in web/live (served as _static/live)
    assert (ROOT / "web" / "live" / "rnnviz-train.js").is_file()


def test_the_id_depends_on_the_config_only():
    a, b = training_live_view(seed=1).data, training_live_view(seed=1).data
    c = training_live_view(seed=2).data
    ids = [re.search(r'id="(rt-[0-9a-f]{12})"', x).group(1) for x in (a, b, c)]
    assert ids[0] == ids[1] != ids[2]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"T": 1}, "T must be an int >= 2"),
        ({"T": 20.0}, "T must be an int"),
        ({"T": 5000}, "T must be at most"),
        ({"hidden": 0}, "hidden must be an int >= 1"),
        ({"hidden": 1000}, "hidden must be at most"),
        ({"hidden": True}, "hidden must be an int"),
        ({"lr": 0}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"lr": "0.1"}, "lr must be a number"),
        ({"lr": 100.0}, "lr must be at most"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"seed": 10**9}, "seed must be at most"),
        ({"steps_per_frame": 0}, "steps_per_frame must be an int >= 1"),
        ({"key": ""}, "key must be a non-empty string"),
        ({"batch": 0}, "batch must be an int >= 1"),
        ({"clip": -1.0}, "clip must be a finite number > 0"),
        ({"forget_bias": float("inf")}, "forget_bias must be finite"),
        ({"forget_bias": "1"}, "forget_bias must be a number"),
        ({"max_steps": 0}, "max_steps must be a positive int"),
        ({"max_steps": 10**7}, "max_steps must be at most"),
        ({"autostart": 1}, "autostart must be True or False"),
    ],
)
def test_bad_arguments_raise_errors_that_name_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        training_live_view(**kwargs)
