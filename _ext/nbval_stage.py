"""Hand the notebooks that nbval executed to the book's build, so CI runs each once.

``make test`` executes every notebook under nbval; ``make build`` then executes
every notebook again into Jupyter Book's execution cache. This pytest plugin
(registered by the repository's ``conftest.py``) keeps what nbval's kernel
produced: when every code cell of a notebook has passed, the notebook is written
with those outputs into a staging folder (``_build/.nbval_executed``, or
``$RNNVIZ_NBVAL_STAGE``), beside a fingerprint of everything a notebook reads
besides its own cells (the rnnviz package, the checkpoints, the chapters' data
files, the pinned versions and the Python version). ``_ext/execute_parallel.py``
calls :func:`import_staged` before it executes anything: a staged notebook whose
fingerprint still matches goes into the cache as executed, which is what the
build reads, and is then deleted; one that does not match is deleted unused, and
its notebook runs again.

The outputs are nbval's, unsanitized: what its kernel printed and displayed, in
order, with the streams of a cell merged. nbval drops the widget comm messages,
so a staged notebook carries no widget state; the book shows no live widget
(a widget cell's output is removed and a static view follows it), so no page
changes. ``tests/test_nbval_stage.py`` checks that a staged notebook holds the
outputs an nbclient execution gives, and that a stale one is not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_cache.base import CacheBundleIn

STAGE_ENV = "RNNVIZ_NBVAL_STAGE"
#: What a notebook reads besides its own cells, relative to the repository.
FINGERPRINT_TREES = ("rnnviz", "checkpoints", "chapters")
FINGERPRINT_FILES = ("requirements/constraints.txt", "pyproject.toml")
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}


def stage_dir(root: Path) -> Path:
    """The staging folder: ``$RNNVIZ_NBVAL_STAGE``, else ``_build/.nbval_executed``."""
    env = os.environ.get(STAGE_ENV)
    return Path(env) if env else Path(root) / "_build" / ".nbval_executed"


def fingerprint(root: Path) -> str:
    """sha256 of the files a notebook may read besides its own cells.

    Every file under ``rnnviz/``, ``checkpoints/`` and ``chapters/`` (notebooks
    excluded: their code is matched by the cache's own hash), the pinned
    versions, and the Python version. A change to any of them makes the staged
    outputs stale.
    """
    root = Path(root)
    h = hashlib.sha256(sys.version.encode())
    paths = [root / f for f in FINGERPRINT_FILES]
    for tree in FINGERPRINT_TREES:
        paths += (root / tree).rglob("*") if (root / tree).is_dir() else []
    for p in sorted(paths):
        if not p.is_file() or p.suffix == ".ipynb" or _SKIP_PARTS & set(p.parts):
            continue
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _staged_paths(stage: Path, rel: Path) -> tuple[Path, Path]:
    nb = stage / rel
    return nb, nb.with_name(nb.name + ".json")


def write_staged(
    root: Path,
    path: Path,
    outputs: dict[int, list],
    seconds: float,
    digest: str,
) -> Path | None:
    """Write ``path`` executed, with ``outputs[k]`` as the outputs of code cell k.

    Returns the staged notebook's path, or None when ``path`` is outside
    ``root`` or an output is missing for some code cell.
    """
    root, path = Path(root).resolve(), Path(path).resolve()
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if sorted(outputs) != list(range(len(code))):
        return None
    for k, cell in enumerate(code):
        cell.execution_count = k + 1
        cell.outputs = [nbformat.from_dict(dict(o)) for o in outputs[k]]
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = k + 1
    nb_path, meta_path = _staged_paths(stage_dir(root), rel)
    nb_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = nb_path.with_name(nb_path.name + ".tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(nb_path)
    meta = {"fingerprint": digest, "execution_seconds": seconds}
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return nb_path


def import_staged(cache, root: Path, uris: list[str]) -> list[str]:
    """Put each staged notebook of ``uris`` whose fingerprint matches into ``cache``.

    ``cache`` is a jupyter-cache cache; every staged file looked at is deleted
    (used or stale). Returns the uris taken from the staging folder.
    """
    root = Path(root).resolve()
    stage = stage_dir(root)
    if not stage.is_dir():
        return []
    digest = fingerprint(root)
    taken = []
    for uri in uris:
        rel = Path(uri).resolve().relative_to(root)
        nb_path, meta_path = _staged_paths(stage, rel)
        if not (nb_path.is_file() and meta_path.is_file()):
            continue
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        staged = nbformat.read(str(nb_path), as_version=4)
        nb_path.unlink()
        meta_path.unlink()
        source = nbformat.read(uri, as_version=4)
        if meta.get("fingerprint") != digest or _code(staged) != _code(source):
            continue
        data = {"execution_seconds": meta["execution_seconds"], "executor": "nbval"}
        cache.cache_notebook_bundle(
            CacheBundleIn(nb=staged, uri=uri, data=data), overwrite=True
        )
        taken.append(uri)
    return taken


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


# The pytest plugin: collect nbval's outputs cell by cell, stage a notebook whose
# cells all passed.

_runs: dict[str, dict] = {}


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "test_outputs")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    if _is_nbval_cell(item):
        run = _runs.setdefault(item.parent.nodeid, {"outputs": {}, "ok": True})
        run.setdefault("start", time.perf_counter())
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _is_nbval_cell(item):
        return
    rep = outcome.get_result()
    run = _runs.setdefault(item.parent.nodeid, {"outputs": {}, "ok": True})
    if rep.failed or rep.skipped:
        run["ok"] = False
    elif rep.when == "call":
        run["outputs"][item.cell_num] = list(item.test_outputs or [])


def pytest_runtest_teardown(item, nextitem):
    if not _is_nbval_cell(item):
        return
    if nextitem is not None and nextitem.parent is item.parent:
        return
    run = _runs.pop(item.parent.nodeid, None)
    if not run or not run["ok"]:
        return
    root = item.config.rootpath
    seconds = time.perf_counter() - run["start"]
    write_staged(root, Path(item.parent.path), run["outputs"], seconds, _digest(root))


_digests: dict[Path, str] = {}


def _digest(root: Path) -> str:
    # computed once per process, before any notebook is staged: a file changed
    # during the run makes the staged notebooks stale, not falsely fresh
    if root not in _digests:
        _digests[root] = fingerprint(root)
    return _digests[root]


def pytest_sessionstart(session):
    _digest(session.config.rootpath)
