"""Execution time of every notebook and of the whole book, against the budgets.

Budgets (docs/DESIGN.md): at most 90 s per notebook, at most 15 min for the
whole book, on 2 CPU cores. Executes each notebook of `_toc.yml` in a fresh
kernel (from its own folder, as the book build does), ``--jobs`` notebooks at a
time as ``make test`` runs them under nbval (two workers, one torch thread
each: run it with OMP_NUM_THREADS=1, as ``make bench`` does). The wall time of
that first pass is the whole-book figure. Notebooks that took less than
``--repeat-below`` seconds are then run again until each has ``--repeat``
runs, and the median is reported. Also lists the slowest cells of the slowest
notebooks. Prints a table and writes bench/results/notebooks.json.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/bench_notebooks.py
     [--jobs 2] [--repeat 3] [--only lstm]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

from benchlib import BUDGETS, ROOT, format_table, result, status, write_result

Cell = tuple[
    int, float, str
]  # (index among all cells, seconds, first line of the source)


def toc_notebooks(toc: str | None = None) -> list[str]:
    """Paths of the notebooks `_toc.yml` lists, in reading order.

    The paths are relative to the repository.
    """
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8") if toc is None else toc
    files = re.findall(r"^\s*-?\s*(?:root|file):\s*(\S+)", toc, flags=re.M)
    return [f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()]


def cell_seconds(metadata: dict) -> float:
    """A cell's execution time, from the timestamps nbclient records in its metadata.

    0 if they are absent.
    """
    ex = metadata.get("execution", {})
    start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
    if not (start and end):
        return 0.0

    def parse(s: str) -> datetime:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def run_once(rel: str) -> tuple[float, list[Cell]]:
    """Execute one notebook in a fresh kernel.

    Returns (wall seconds, its 3 slowest code cells).
    """
    import sys

    import nbformat
    from nbclient import NotebookClient

    sys.path.insert(0, str(ROOT / "_ext"))
    from execute_parallel import ipc_kernel

    path = ROOT / rel
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="rnnviz-kernel-") as sockets:
        client = NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            # run as the build's executor runs it (_ext/execute_parallel.py): killed
            # once its last cell has replied, as nbval does too (a graceful shutdown
            # waits up to seconds, the core idle), over Unix sockets
            shutdown_kernel="immediate",
            config=ipc_kernel(sockets),
        )
        t = time.perf_counter()
        client.execute()
        total = time.perf_counter() - t
    cells = [
        (
            k,
            cell_seconds(c.get("metadata", {})),
            c.source.strip().splitlines()[0][:60] if c.source.strip() else "",
        )
        for k, c in enumerate(nb.cells)
        if c.cell_type == "code"
    ]
    return total, sorted(cells, key=lambda c: -c[1])[:3]


def summarise(rel: str, runs: list[tuple[float, list[Cell]]]) -> dict:
    """One notebook's row: median seconds, all runs, and slowest cells.

    The slowest cells are those of the run nearest the median.
    """
    median = statistics.median(r[0] for r in runs)
    slowest = min(runs, key=lambda r: abs(r[0] - median))[1]
    return {
        "notebook": rel,
        "seconds": median,
        "runs": [r[0] for r in runs],
        "status": status(median, BUDGETS["notebook_seconds"]),
        "slowest_cells": [
            {"cell": k, "seconds": s, "source": src} for k, s, src in slowest
        ],
    }


def to_repeat(first: dict[str, float], repeat: int, below: float) -> list[str]:
    """The notebooks to run ``repeat - 1`` more times.

    Those whose first run took under ``below`` s.
    """
    return [rel for rel, s in first.items() if repeat > 1 and s < below]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="notebooks executed at once (make test uses 2)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each cheap notebook; the median is reported",
    )
    ap.add_argument(
        "--repeat-below",
        type=float,
        default=20.0,
        help="repeat only notebooks whose first run took less than this many seconds",
    )
    ap.add_argument(
        "--only",
        default="",
        help="substring of the notebook paths to run (a partial, quick run)",
    )
    ap.add_argument(
        "--out", default=None, help="output JSON (default bench/results/notebooks.json)"
    )
    args = ap.parse_args(argv)
    if args.jobs < 1 or args.repeat < 1:
        raise SystemExit("--jobs and --repeat must be at least 1")
    paths = [p for p in toc_notebooks() if args.only in p]
    if not paths:
        raise SystemExit(f"no notebook of _toc.yml matches {args.only!r}")
    runs: dict[str, list[tuple[float, list[Cell]]]] = {p: [] for p in paths}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        start = time.perf_counter()
        for rel, r in zip(paths, pool.map(run_once, paths)):
            runs[rel].append(r)
            print(f"{rel:50s} {r[0]:6.1f} s", flush=True)
        book_wall = time.perf_counter() - start
        again = to_repeat(
            {p: runs[p][0][0] for p in paths}, args.repeat, args.repeat_below
        )
        if again:
            print(
                f"running {len(again)} notebooks under {args.repeat_below:g} s "
                f"{args.repeat - 1} more times",
                flush=True,
            )
        extra = [p for p in again for _ in range(args.repeat - 1)]
        for rel, r in zip(extra, pool.map(run_once, extra)):
            runs[rel].append(r)
    rows = [summarise(p, runs[p]) for p in paths]
    total = sum(r["seconds"] for r in rows)
    data = result(
        "notebooks",
        {
            "jobs": args.jobs,
            "repeat": args.repeat,
            "repeat_below_seconds": args.repeat_below,
            "only": args.only or None,
            "toc_notebooks": toc_notebooks(),
            "notebooks": rows,
            "book_wall_seconds": book_wall,
            "total_seconds": total,
            "budgets": {
                "notebook_seconds": BUDGETS["notebook_seconds"],
                "book_seconds": BUDGETS["book_seconds"],
            },
        },
        quick=bool(args.only),
    )
    path = write_result(data, args.out)
    print(
        format_table(
            ["notebook", "median s", "runs", "budget 90 s"],
            [
                [r["notebook"], round(r["seconds"], 1), len(r["runs"]), r["status"]]
                for r in rows
            ],
        )
    )
    print(
        f"whole book, {args.jobs} at a time: {book_wall:.0f} s wall "
        f"({status(book_wall, BUDGETS['book_seconds'])} against 15 min); "
        f"sum of medians {total:.0f} s"
    )
    print("slowest cells of the three slowest notebooks:")
    print(
        format_table(
            ["notebook", "cell", "s", "source"],
            [
                [r["notebook"], c["cell"], round(c["seconds"], 1), c["source"]]
                for r in sorted(rows, key=lambda r: -r["seconds"])[:3]
                for c in r["slowest_cells"]
            ],
        )
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
