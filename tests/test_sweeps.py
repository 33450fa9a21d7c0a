"""The sweeps behind the chapters: each script in sweeps/ writes one JSON result that
a notebook loads under a pinned sha256 (rnnviz.checkpoints.load_result) and checks by
rerunning one of its runs live (under nbval). These checks are static: a pin that no
longer matches its file, a result no page reads, a script no page names."""

import ast
import json
import re
from pathlib import Path

import pytest

from rnnviz.checkpoints import sha256_file

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "sweeps").glob("*.py"))
NOTEBOOKS = sorted((ROOT / "chapters").glob("*/*.ipynb"))
LOAD = re.compile(
    r"""load_(?:result|weights)\(\s*["']([^"']+)["'],\s*sha256=["']([0-9a-f]+)["']"""
)


def _sources(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] != "code")
    return code, text


PINS = [
    (nb, rel, sha) for nb in NOTEBOOKS for rel, sha in LOAD.findall(_sources(nb)[0])
]


def _default_output(script):
    """The chapters/.../data/*.json path a script writes by default."""
    found = set(re.findall(r"chapters/[\w-]+/data/[\w-]+\.json", script.read_text()))
    assert len(found) == 1, f"{script.name} names {sorted(found)}, expected one result"
    return found.pop()


def test_there_are_sweeps_and_pins():
    assert SCRIPTS and PINS


@pytest.mark.parametrize(
    "nb, rel, sha", PINS, ids=lambda v: v.name if isinstance(v, Path) else ""
)
def test_every_pinned_result_exists_and_matches_its_pin(nb, rel, sha):
    assert re.fullmatch(r"chapters/[\w-]+/data/[\w-]+\.(json|pt)", rel), rel
    path = ROOT / rel
    assert path.is_file(), f"{nb.name} loads {rel}, which does not exist"
    assert sha256_file(path) == sha, (
        f"{nb.name} pins {sha[:12]}... but {rel} hashes to {sha256_file(path)[:12]}...:"
        " rerun the sweep's script and update the pin, or restore the file"
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_is_documented_and_runs_on_one_thread(script):
    source = script.read_text(encoding="utf-8")
    tree = ast.parse(source)
    doc = ast.get_docstring(tree)
    assert doc and f"sweeps/{script.name}" in doc, (
        f"{script.name}: the docstring should say how to run it"
    )
    assert "torch.set_num_threads(1)" in source  # the notebooks' rerun is on one thread
    assert "--out" in source and "save_result" in source


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_result_is_read_and_named_by_a_page(script):
    rel = _default_output(script)
    readers = [nb for nb, r, _ in PINS if r == rel]
    assert readers, f"no notebook loads {rel}, the result of {script.name}"
    for nb in readers:
        _, text = _sources(nb)
        assert f"sweeps/{script.name}" in text, (
            f"{nb.name} loads {rel} but its text never names sweeps/{script.name}"
        )
