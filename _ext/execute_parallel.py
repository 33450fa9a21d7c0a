"""Execute the book's notebooks in parallel, into Jupyter Book's execution cache.

``make build`` runs this before ``jupyter-book build``. Jupyter Book executes
the notebooks one at a time while it reads them; here they run ``--jobs`` at a
time (default: every core), each in its own folder as the build would run it,
and their outputs go into the build's cache (``_build/.jupyter_cache``). The
build then matches every notebook in the cache (by the hash of its code cells,
as ``execute_notebooks: cache`` always does) and executes none itself. A
notebook that is already cached and unchanged is not executed again, nor one
that ``make test`` has just executed under nbval with the same rnnviz, data
and checkpoints (``_ext/nbval_stage.py``): CI executes each notebook once.

A notebook that fails is reported with its traceback and the script exits 1
(the build would fail on it too, later).

    python _ext/execute_parallel.py            # every notebook of _toc.yml
    python _ext/execute_parallel.py --jobs 1   # one at a time
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from jupyter_cache import get_cache
from jupyter_cache.base import ProjectNb
from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData
from jupyter_cache.executors.utils import ExecutionResult, single_nb_execution
from traitlets.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbval_stage import import_staged  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RNNVIZ_PROGRESS", "0")  # as under nbval (conftest.py)
TIMEOUT = 300  # seconds per cell, as execute.timeout in _config.yml
BENCH = "bench/results/notebooks.json"  # the last measured time of each notebook


def notebooks() -> list[Path]:
    """The notebooks of ``_toc.yml``, in reading order."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    entries = re.findall(r"(?:root|file):\s*(\S+)", toc)
    return [ROOT / f"{e}.ipynb" for e in entries if (ROOT / f"{e}.ipynb").is_file()]


def longest_first(uris: list[str]) -> list[str]:
    """``uris``, the slowest notebooks first, by the times of the last notebook
    benchmark (bench/results/notebooks.json; in reading order without it).

    With two workers, a slow notebook started last keeps one core busy after
    the other has finished: starting the slowest first shortens that tail.
    """
    try:
        bench = json.loads((ROOT / BENCH).read_text(encoding="utf-8"))
        seconds = {str(ROOT / r["notebook"]): r["seconds"] for r in bench["notebooks"]}
    except (OSError, ValueError, KeyError, TypeError):
        return list(uris)
    return sorted(uris, key=lambda u: -seconds.get(u, 0.0))


def ipc_kernel(folder: str) -> Config:
    """Kernel manager settings: the kernel listens on Unix sockets in ``folder``.

    Over TCP, each client picks free ports and the kernel binds them a moment
    later; two workers starting kernels at once, while killed kernels' ports are
    being released, collided ("Address already in use", the kernel died before
    replying). Sockets in a folder of their own cannot collide.
    """
    return Config({"KernelManager": {"transport": "ipc", "ip": str(Path(folder, "k"))}})


class Worker(ExecutionWorkerLocalMProc):
    """jupyter-cache's worker (the notebook runs in its own folder), but the kernel
    is killed once the last cell has replied, as nbval does, and talks over Unix
    sockets (``ipc_kernel``).

    nbclient's default asks the kernel to shut down and waits for it: up to 3 s
    per notebook here, with a core idle all the while.
    """

    @staticmethod
    def execute(project_nb: ProjectNb, data: ProcessData) -> ExecutionResult:
        with tempfile.TemporaryDirectory(prefix="rnnviz-kernel-") as sockets:
            return single_nb_execution(
                project_nb.nb,
                cwd=str(Path(project_nb.uri).parent),
                timeout=data.timeout,
                allow_errors=data.allow_errors,
                shutdown_kernel="immediate",
                config=ipc_kernel(sockets),
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cache", default=str(ROOT / "_build" / ".jupyter_cache"))
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"--jobs must be at least 1, got {args.jobs}")
    cache = get_cache(args.cache)
    uris = [str(p) for p in notebooks()]
    for uri in uris:
        cache.add_nb_to_project(uri)
    staged = import_staged(cache, ROOT, uris)
    if staged:
        print(f"{len(staged)} notebook(s) taken as nbval executed them", flush=True)
    todo = cache.list_unexecuted(uris)
    order = {uri: k for k, uri in enumerate(longest_first([r.uri for r in todo]))}
    todo = sorted(todo, key=lambda r: order[r.uri])
    print(
        f"{len(uris) - len(todo)} notebook(s) cached, executing {len(todo)} "
        f"with {args.jobs} job(s)",
        flush=True,
    )
    start = time.perf_counter()
    data = [ProcessData(r.pk, r.uri, cache, TIMEOUT, False) for r in todo]
    worker = Worker()
    failed = []
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        # one notebook per task, so that a free worker takes the next one
        for code, uri in pool.imap_unordered(worker, data, chunksize=1):
            rel = Path(uri).relative_to(ROOT)
            print(f"  {'ok' if code == 0 else 'FAILED'}  {rel}", flush=True)
            if code:
                failed.append(uri)
    print(f"executed in {time.perf_counter() - start:.0f} s", flush=True)
    for uri in failed:
        record = cache.get_project_record(uri)
        print(f"\n{uri} failed:\n{record.traceback or '(no traceback)'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
