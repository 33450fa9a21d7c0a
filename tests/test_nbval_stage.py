"""nbval's executed notebooks go to the build's cache only when they are what the
build would produce, and only while nothing they read has changed
(``_ext/nbval_stage.py``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import nbval_stage  # on sys.path through the repository's conftest.py
import pytest
from jupyter_cache import get_cache
from nbclient import NotebookClient

EXT = Path(__file__).resolve().parents[1] / "_ext"

CELLS = [
    "print('a line')\nprint('another')",
    "from IPython.display import display, Markdown\n"
    "display(Markdown('**bold**'), metadata={'scrapbook': {'name': 'x'}})",
    "import math\nmath.pi * 2",
    "x = [k * k for k in range(5)]",
    "x",
]


def _notebook(root: Path, cells, name="chapters/nb.ipynb") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A title")]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells]
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _run_nbval(root: Path, path: Path, stage: Path) -> subprocess.CompletedProcess:
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(EXT), RNNVIZ_NBVAL_STAGE=str(stage))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "nbval_stage", "-p", "no:xdist"]
    cmd += ["-p", "no:randomly", "-p", "no:cacheprovider", "--nbval-lax"]
    cmd += ["--nbval-current-env", "--rootdir", str(root), str(path)]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)


def _outputs(nb) -> list[list[str]]:
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        norm = []
        for o in cell.outputs:
            o = {k: v for k, v in o.items() if k != "execution_count"}
            if not o.get("metadata"):
                o.pop("metadata", None)
            norm.append(json.dumps(o, sort_keys=True))
        out.append(norm)
    return out


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / "rnnviz").mkdir()
    (root / "rnnviz" / "mod.py").write_text("X = 1\n", encoding="utf-8")
    path = _notebook(root, CELLS)
    stage = root / "stage"
    proc = _run_nbval(root, path, stage)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, path, stage


def test_staged_outputs_are_an_nbclient_execution(staged):
    root, path, stage = staged
    got = nbformat.read(str(stage / "chapters" / "nb.ipynb"), as_version=4)
    ref = nbformat.read(str(path), as_version=4)
    where = {"metadata": {"path": str(path.parent)}}
    NotebookClient(ref, kernel_name="python3", resources=where).execute()
    assert _outputs(got) == _outputs(ref)
    counts = [c.execution_count for c in got.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(CELLS) + 1))
    assert any(_outputs(got)), "the notebook produced no outputs to compare"


def test_a_matching_staged_notebook_fills_the_cache(staged, tmp_path, monkeypatch):
    root, path, stage = staged
    copy = tmp_path / "stage"
    subprocess.run(["cp", "-r", str(stage), str(copy)], check=True)
    monkeypatch.setenv(nbval_stage.STAGE_ENV, str(copy))
    cache = get_cache(str(tmp_path / "cache"))
    cache.add_nb_to_project(str(path))
    assert [r.uri for r in cache.list_unexecuted([str(path)])] == [str(path)]
    assert nbval_stage.import_staged(cache, root, [str(path)]) == [str(path)]
    assert cache.list_unexecuted([str(path)]) == []
    assert not (copy / "chapters" / "nb.ipynb").exists(), "a staged file is used once"
    cached = cache.get_cache_bundle(cache.match_cache_file(str(path)).pk).nb
    want = nbformat.read(str(stage / "chapters" / "nb.ipynb"), as_version=4)
    assert _outputs(cached) == _outputs(want)


@pytest.mark.parametrize("change", ["package", "code"])
def test_a_stale_staged_notebook_is_not_used(staged, tmp_path, monkeypatch, change):
    root0, path0, stage0 = staged
    root = tmp_path / "repo"
    subprocess.run(["cp", "-r", str(root0), str(root)], check=True)
    path = root / path0.relative_to(root0)
    monkeypatch.setenv(nbval_stage.STAGE_ENV, str(root / "stage"))
    if change == "package":  # rnnviz changed after the test run
        (root / "rnnviz" / "mod.py").write_text("X = 2\n", encoding="utf-8")
    else:  # the notebook's code changed after the test run
        _notebook(root, CELLS[:-1] + ["x[1:]"])
    cache = get_cache(str(tmp_path / "cache"))
    cache.add_nb_to_project(str(path))
    assert nbval_stage.import_staged(cache, root, [str(path)]) == []
    assert [r.uri for r in cache.list_unexecuted([str(path)])] == [str(path)]
    assert not (root / "stage" / "chapters" / "nb.ipynb").exists()


def test_a_notebook_with_a_failing_cell_is_not_staged(tmp_path):
    path = _notebook(tmp_path, ["y = 1", "assert y == 2, 'wrong'", "print(y)"])
    proc = _run_nbval(tmp_path, path, tmp_path / "stage")
    assert proc.returncode != 0, "the failing cell should fail nbval"
    assert not (tmp_path / "stage" / "chapters" / "nb.ipynb").exists()


def test_write_staged_needs_every_code_cell(tmp_path, monkeypatch):
    path = _notebook(tmp_path, ["1", "2"])
    monkeypatch.delenv(nbval_stage.STAGE_ENV, raising=False)
    assert nbval_stage.write_staged(tmp_path, path, {0: []}, 1.0, "d") is None
    out = nbval_stage.write_staged(tmp_path, path, {0: [], 1: []}, 1.0, "d")
    assert out == tmp_path / "_build" / ".nbval_executed" / "chapters" / "nb.ipynb"


def test_the_parallel_build_starts_the_slowest_notebooks_first(tmp_path, monkeypatch):
    sys.path.insert(0, str(EXT))
    import execute_parallel

    root = execute_parallel.ROOT
    bench = tmp_path / "notebooks.json"
    times = {"chapters/a.ipynb": 5.0, "chapters/b.ipynb": 50.0, "chapters/c.ipynb": 20}
    rows = [{"notebook": k, "seconds": v} for k, v in times.items()]
    bench.write_text(json.dumps({"notebooks": rows}))
    monkeypatch.setattr(execute_parallel, "BENCH", str(bench))  # absolute: read as is
    uris = [str(root / k) for k in ("chapters/a.ipynb", "chapters/new.ipynb")]
    uris += [str(root / "chapters/b.ipynb"), str(root / "chapters/c.ipynb")]
    ordered = execute_parallel.longest_first(uris)
    assert [Path(u).name for u in ordered] == [
        "b.ipynb",
        "c.ipynb",
        "a.ipynb",
        "new.ipynb",
    ]
    bench.write_text("not json")  # no usable benchmark: reading order
    assert execute_parallel.longest_first(uris) == uris


def _run_worker(tmp_path: Path, path: Path) -> nbformat.NotebookNode:
    """``path`` executed by the build's worker into a cache; the cached notebook."""
    sys.path.insert(0, str(EXT))
    import execute_parallel
    from jupyter_cache.executors.basic import ProcessData

    cache = get_cache(str(tmp_path / "cache"))
    cache.add_nb_to_project(str(path))
    (record,) = cache.list_unexecuted([str(path)])
    worker = execute_parallel.Worker()
    code, uri = worker(ProcessData(record.pk, record.uri, cache, 60, False))
    assert (code, uri) == (0, str(path))
    assert cache.list_unexecuted([str(path)]) == []
    return cache.get_cache_bundle(cache.match_cache_file(str(path)).pk).nb


def test_the_parallel_worker_caches_what_nbclient_produces(tmp_path):
    """The build's worker kills each kernel once its last cell has replied: the
    cached notebook still holds every output, the last cell's included, as a
    plain nbclient run (which shuts the kernel down gracefully) gives them."""
    path = _notebook(
        tmp_path, CELLS + ["import sys\nprint('the end', file=sys.stderr)"]
    )
    cached = _run_worker(tmp_path, path)
    ref = nbformat.read(str(path), as_version=4)
    where = {"metadata": {"path": str(path.parent)}}
    NotebookClient(ref, kernel_name="python3", resources=where).execute()
    assert _outputs(cached) == _outputs(ref)
    assert _outputs(cached)[-1], "the last cell's output is missing"


def test_the_parallel_workers_kernels_use_unix_sockets(tmp_path):
    """Over TCP, two workers starting kernels at once collided on ports (a kernel
    died before replying); the worker's kernels listen on Unix sockets."""
    cell = (
        "import json\nfrom ipykernel import get_connection_info\n"
        "print(json.loads(get_connection_info())['transport'])"
    )
    cached = _run_worker(tmp_path, _notebook(tmp_path, [cell]))
    (out,) = [c for c in cached.cells if c.cell_type == "code"][0].outputs
    assert out["text"].strip() == "ipc"
