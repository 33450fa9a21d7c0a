"""Notebooks are stored without outputs, except the semantic cells nbval compares."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p
    for p in (ROOT / "chapters").rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
MARK = "# NBVAL_CHECK_OUTPUT"


def _code_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _source(cell):
    return "".join(cell["source"])


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under chapters/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_checked_cells_keep_outputs(path):
    for i, cell in enumerate(_code_cells(path)):
        if MARK in _source(cell):
            # nbval never compares a cell whose stored execution_count is empty
            assert cell["outputs"], (
                f"cell {i} is marked {MARK} but stores no output to compare"
            )
            assert cell["execution_count"] is not None, (
                f"cell {i} is marked {MARK} but has no execution_count"
            )
            assert cell["metadata"].get("keep_output") is True, (
                f"cell {i}: set metadata keep_output: true"
            )
        else:
            assert not cell["outputs"], (
                f"cell {i} stores outputs: strip them (nbstripout --keep-count)"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_notebook_checks_some_output(path):
    assert any(MARK in _source(c) for c in _code_cells(path)), (
        f"{path.name} has no {MARK} cell"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebooks_are_in_the_toc(path):
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert str(path.relative_to(ROOT).with_suffix("")) in toc, (
        f"{path} is not listed in _toc.yml"
    )


RELATIVE_DATA = re.compile(r"""(?<![\w/.])["'](?:\./)?data/""")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_data_files_are_found_outside_a_clone(path):
    # A notebook opened alone (Colab, an installed rnnviz) has no data/ beside it:
    # it reads its chapter's files through rnnviz.paths.book_file, which the wheel
    # serves (pyproject.toml ships every chapters/*/data file).
    bad = [
        k
        for k, cell in enumerate(_code_cells(path))
        if RELATIVE_DATA.search(_source(cell))
    ]
    assert not bad, f"code cells {bad} open data/ by a relative path: use book_file"


def test_every_data_file_is_of_a_kind_the_wheel_ships():
    assert RELATIVE_DATA.search('Path("data/x.json")')
    assert not RELATIVE_DATA.search('book_file("chapters/05-future/data/x.json")')
    files = [p for p in (ROOT / "chapters").glob("*/data/*") if p.is_file()]
    assert files, "no chapter data files found"
    kinds = (".txt", ".json", ".pt")
    odd = [str(p.relative_to(ROOT)) for p in files if p.suffix not in kinds]
    assert not odd, f"pyproject.toml ships {kinds} from chapters/*/data: {odd}"
