"""Wall time of `make install` and of every step of CI (`.ci/run`), in a fresh clone.

Clones the repository's committed HEAD (uncommitted changes are not in it) into
a temporary folder (the repository stands alone: nothing outside it is needed),
then runs there, in the order of ``.ci/run``: ``make install`` (creates .venv,
installs the pinned environment), ``make test`` (unit tests and every notebook
under nbval, two workers), ``make build`` (the strict book build), ``make
test-site`` and ``make test-browser``, then ``make build`` once more from an
empty ``_build``, with this checkout's virtual environment removed from the
environment. Two figures are derived: ``make book`` from a fresh clone
(install, then the build with nothing cached) and ``.ci/run`` from a fresh
clone (install and CI's steps). The whole run takes about 20 to 25 minutes and
keeps both cores busy.
Prints a table and writes bench/results/install.json; the clone is deleted
afterwards unless ``--keep``.

Run: .venv/bin/python bench/bench_install.py [--dry-run] [--skip-test] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from benchlib import BUDGETS, ROOT, format_table, result, status, write_result

#: (name, command) run in the clone, in order: `make install`, then `.ci/run`'s steps.
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("make install", ("make", "install")),
    ("make test", ("make", "test")),
    ("make build", ("make", "build")),
    ("make test-site", ("make", "test-site")),
    ("make test-browser", ("make", "test-browser")),
)
#: After CI's steps: the build again from an empty _build. In CI, `make build`
#: takes the notebooks `make test` has just executed (_ext/nbval_stage.py);
#: `make book` on a fresh clone has no test run before it and executes them all.
COLD_BUILD = ("make build, nothing cached", ("sh", "-c", "rm -rf _build && make build"))
#: The steps of ``make book`` from a fresh clone (it builds, then opens a browser).
BOOK_STEPS = ("make install", COLD_BUILD[0])


def derived(steps: list[dict]) -> dict[str, float | None]:
    """``make book`` and ``.ci/run`` from a fresh clone, in seconds, from the steps
    (None unless every step they need ran and succeeded)."""
    ok = {s["name"]: s["seconds"] for s in steps if s["returncode"] == 0}
    book = sum(ok[n] for n in BOOK_STEPS) if all(n in ok for n in BOOK_STEPS) else None
    ci_names = [n for n, _ in STEPS]
    ci = sum(ok[n] for n in ci_names) if all(n in ok for n in ci_names) else None
    return {"book_fresh_seconds": book, "ci_seconds": ci}


def plan(skip_test: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """The steps to run: install, then CI's steps and a build with nothing cached,
    unless ``skip_test``."""
    return list(STEPS[:1] if skip_test else (*STEPS, COLD_BUILD))


def clean_env(env: Mapping[str, str], root: Path) -> dict[str, str]:
    """``env`` without this checkout's virtual environment or make's flags.

    The virtual environment is VIRTUAL_ENV and its bin/ on PATH.
    """
    venv = os.path.realpath(env.get("VIRTUAL_ENV", root / ".venv"))
    keep = [
        p
        for p in env.get("PATH", "").split(os.pathsep)
        if p
        and not os.path.realpath(p).startswith(venv + os.sep)
        and os.path.realpath(p) != venv
    ]
    drop = (
        "VIRTUAL_ENV",
        "PYTHONHOME",
        "PYTHONPATH",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
    )  # a fresh shell has none
    out = {k: v for k, v in env.items() if k not in drop}
    out["PATH"] = os.pathsep.join(keep)
    return out


def tail(text: str, lines: int = 30) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.splitlines()[-lines:])


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def clone(workdir: Path) -> tuple[Path, float]:
    """A fresh clone of this repository in ``workdir``; (path, seconds)."""
    start = time.perf_counter()
    dest = workdir / ROOT.name
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest)], check=True
    )
    return dest, time.perf_counter() - start


def run_step(
    name: str, cmd: tuple[str, ...], cwd: Path, env: Mapping[str, str], log: Path
) -> dict:
    """Run one step, its output to ``log``.

    Returns its wall time, exit code and, on failure, the last lines.
    """
    start = time.perf_counter()
    with log.open("w") as f:
        rc = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=dict(env),
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        ).returncode
    seconds = time.perf_counter() - start
    text = log.read_text(errors="replace")
    return {
        "name": name,
        "command": " ".join(cmd),
        "seconds": seconds,
        "returncode": rc,
        "log_tail": tail(text, 5 if rc == 0 else 40),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dry-run",
        action="store_true",
        help="clone and check the layout, print the commands, "
        "run nothing, write nothing",
    )
    ap.add_argument(
        "--skip-test", action="store_true", help="only make install (several minutes)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone")
    ap.add_argument(
        "--workdir",
        default=None,
        help="where to make the temporary folder (default: the system's)",
    )
    ap.add_argument(
        "--out", default=None, help="output JSON (default bench/results/install.json)"
    )
    args = ap.parse_args(argv)
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    if dirty:
        print(
            "note: this checkout has uncommitted changes; "
            "the clone has only the committed HEAD",
            flush=True,
        )
    workdir = Path(tempfile.mkdtemp(prefix="rnnviz-install-", dir=args.workdir))
    steps: list[dict] = []
    try:
        dest, clone_seconds = clone(workdir)
        assert git("rev-parse", "HEAD", cwd=dest) == commit
        todo = plan(args.skip_test)
        print(f"cloned {commit[:12]} into {dest} in {clone_seconds:.1f} s", flush=True)
        if args.dry_run:
            for name, cmd in todo:
                print(f"would run in {dest}: {' '.join(cmd)}")
            return 0
        env = clean_env(os.environ, ROOT)
        for name, cmd in todo:
            print(f"{name} ...", flush=True)
            steps.append(
                run_step(
                    name, cmd, dest, env, workdir / f"{name.replace(' ', '-')}.log"
                )
            )
            print(
                f"{name}: {steps[-1]['seconds']:.0f} s, "
                f"exit code {steps[-1]['returncode']}",
                flush=True,
            )
            if steps[-1]["returncode"] != 0:
                print(steps[-1]["log_tail"])
                break
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    total = sum(s["seconds"] for s in steps)
    data = result(
        "install",
        {
            "commit": commit,
            "dirty_checkout": dirty,
            "clone_seconds": clone_seconds,
            "skip_test": args.skip_test,
            "steps": steps,
            "total_seconds": total,
            **derived(steps),
            "budget_book_seconds": BUDGETS["book_seconds"],
            "budget_book_fresh_seconds": BUDGETS["book_fresh_seconds"],
            "budget_ci_seconds": BUDGETS["ci_seconds"],
        },
    )
    path = write_result(data, args.out)
    rows = [[s["name"], round(s["seconds"], 1), s["returncode"]] for s in steps]
    print(
        format_table(
            ["step", "wall s", "exit code"], rows + [["total", round(total, 1), "-"]]
        )
    )
    test = [s for s in steps if s["name"] == "make test"]
    if test:
        print(
            "make test (every notebook under nbval, 2 workers): "
            f"{test[0]['seconds'] / 60:.1f} min, "
            f"{status(test[0]['seconds'], BUDGETS['book_seconds'])} "
            "against the 15 min budget of the whole book"
        )
    for key, what, budget in (
        ("book_fresh_seconds", "make book from a fresh clone", "book_fresh_seconds"),
        ("ci_seconds", ".ci/run from a fresh clone", "ci_seconds"),
    ):
        if data[key] is not None:
            print(
                f"{what}: {data[key] / 60:.1f} min, "
                f"{status(data[key], BUDGETS[budget])} "
                f"against {BUDGETS[budget] / 60:.0f} min"
            )
    print(f"wrote {path}")
    return max((s["returncode"] for s in steps), default=0)


if __name__ == "__main__":
    raise SystemExit(main())
