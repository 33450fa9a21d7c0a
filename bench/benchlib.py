"""What the benchmark scripts share: the machine, the budgets, the table, the JSON file.

Every result file in ``bench/results/`` is one JSON object with at least the keys
of :data:`COMMON_KEYS` (``schema``, ``benchmark``, ``date``, ``machine``,
``quick``) and the keys :data:`REQUIRED_KEYS` lists for its benchmark; the
results page of the book (``chapters/06-appendix/benchmarks.ipynb``) reads them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SCHEMA = 1

#: The budgets of docs/DESIGN.md, in seconds, bytes and nats per character, and
#: the download of one live view with all three page models (rnnviz.pretrain).
BUDGETS: dict[str, float] = {
    "notebook_seconds": 90.0,
    "book_seconds": 15 * 60.0,
    "book_fresh_seconds": 9 * 60.0,  # make book from a fresh clone (install + build)
    "ci_seconds": 20 * 60.0,  # .ci/run from a fresh clone (its make test installs)
    "page_bytes": 2 * 1024 * 1024,
    "site_bytes": 40 * 1024 * 1024,
    "probe_max_abs_diff": 1e-5,
    "lstm_test_nats": 1.45,
    "live_view_bytes": 4_000_000,
}

COMMON_KEYS = ("schema", "benchmark", "date", "machine", "quick")
MACHINE_KEYS = ("cpu", "cores", "python", "torch", "numpy", "platform", "load_average")
#: benchmark name (= file stem) -> keys its JSON must have besides COMMON_KEYS.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "notebooks": (
        "jobs",
        "repeat",
        "notebooks",
        "book_wall_seconds",
        "total_seconds",
        "budgets",
    ),
    "probe": (
        "probe_max_abs_diff",
        "probe_1000_chars_s",
        "fused_forward_1000_chars_s",
        "train_step_fused_s",
        "train_step_reference_cells_s",
        "sizes",
    ),
    "numpy": ("rows", "threads"),
    "quality": ("seconds_per_model", "models", "ngram", "checkpoints"),
    "page_weight": ("pages", "site_bytes", "budgets"),
    "install": ("commit", "steps", "total_seconds"),
    "live": ("chromium", "lengths", "models", "engine", "view_all_models"),
}


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform knows.

    ``cpuinfo``, if given, is read instead of /proc/cpuinfo.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(
                encoding="utf-8", errors="replace"
            )
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, Python, torch and numpy versions, OS, the load average now."""
    versions = {}
    for name in ("torch", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
        "platform": platform.platform(terse=True),
        "load_average": load,
    }


def describe_machine(machine: Mapping[str, Any]) -> str:
    """One line: 'AMD EPYC, 2 cores, Python 3.11.7, torch 2.13.0'."""
    parts = [
        str(machine.get("cpu", "unknown CPU")),
        f"{machine.get('cores', '?')} cores",
        f"Python {machine.get('python', '?')}",
    ]
    if machine.get("torch"):
        parts.append(f"torch {machine['torch']}")
    return ", ".join(parts)


def result(
    benchmark: str,
    payload: Mapping[str, Any],
    *,
    quick: bool = False,
    machine: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The common keys (schema, benchmark, date, machine, quick), then ``payload``.

    ``machine`` defaults to :func:`machine_info` now; pass the one taken before
    the run to record the load average at its start.
    """
    if benchmark not in REQUIRED_KEYS:
        raise ValueError(
            f"unknown benchmark {benchmark!r}; known: {sorted(REQUIRED_KEYS)}"
        )
    head = {
        "schema": SCHEMA,
        "benchmark": benchmark,
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": dict(machine) if machine is not None else machine_info(),
        "quick": bool(quick),
    }
    data = head | dict(payload)
    errors = validate(benchmark, data)
    if errors:
        raise ValueError(f"{benchmark} result is incomplete: {'; '.join(errors)}")
    return data


def validate(benchmark: str, data: Any) -> list[str]:
    """The ways ``data`` falls short of the schema of ``benchmark``.

    Empty if it conforms.
    """
    if not isinstance(data, Mapping):
        return [f"expected a JSON object, got {type(data).__name__}"]
    errors = [
        f"missing key {k!r}"
        for k in COMMON_KEYS + REQUIRED_KEYS.get(benchmark, ())
        if k not in data
    ]
    if benchmark not in REQUIRED_KEYS:
        errors.append(f"unknown benchmark {benchmark!r}")
    if "schema" in data and data["schema"] != SCHEMA:
        errors.append(f"schema {data['schema']!r}, expected {SCHEMA}")
    if "benchmark" in data and data["benchmark"] != benchmark:
        errors.append(f"benchmark {data['benchmark']!r} in the file of {benchmark!r}")
    if isinstance(data.get("machine"), Mapping):
        errors += [
            f"machine lacks {k!r}" for k in MACHINE_KEYS if k not in data["machine"]
        ]
    elif "machine" in data:
        errors.append("machine must be an object")
    return errors


def write_result(data: Mapping[str, Any], out: str | Path | None = None) -> Path:
    """Write a :func:`result` to ``out``; return the path.

    ``out`` defaults to ``bench/results/<benchmark>.json``.
    """
    path = Path(out) if out is not None else RESULTS / f"{data['benchmark']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def status(value: float, budget: float) -> str:
    """'ok' if ``value`` is within ``budget`` (inclusive), else 'OVER'."""
    if not (isinstance(value, (int, float)) and isinstance(budget, (int, float))):
        raise TypeError(f"value and budget must be numbers, got {value!r}, {budget!r}")
    return "ok" if value <= budget else "OVER"


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, markdown: bool = False
) -> str:
    """A plain-text table (columns padded, numbers right-aligned), or a Markdown one.

    >>> print(format_table(["name", "s"], [["a", 1.5], ["bb", 10]]))
    name    s
    ----  ---
    a     1.5
    bb     10
    """
    if any(len(r) != len(headers) for r in rows):
        raise ValueError(
            f"every row needs {len(headers)} cells, "
            f"got lengths {sorted({len(r) for r in rows})}"
        )
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    numeric = [
        all(isinstance(r[j], (int, float)) for r in rows) and bool(rows)
        for j in range(len(headers))
    ]
    if markdown:
        lines = [
            "| " + " | ".join(cells[0]) + " |",
            "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
        ]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]])
    widths = [max(len(r[j]) for r in cells) for j in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(r, widths, numeric)
        ).rstrip()

    return "\n".join(
        [line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])]
    )


def median_time(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``repeat`` calls after one warm-up call, in seconds."""
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
