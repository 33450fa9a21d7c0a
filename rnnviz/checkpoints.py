"""Save and load trained ``CharLM`` models safely.

A checkpoint is one file written by ``torch.save`` that holds only tensors,
strings and numbers: the state dict, the model configuration, the vocabulary
and free metadata (as a JSON string). Loading uses ``torch.load(...,
weights_only=True)``, which refuses arbitrary pickled objects, and first checks
the file's sha256 against a pinned value or the ``.sha256`` file written beside
it (the format of ``sha256sum``, so ``sha256sum -c`` works too).

Unlike the decoders, which take any character model
(:class:`~rnnviz.protocols.CharModel`), a checkpoint stores a ``CharLM`` and
nothing else: loading rebuilds the model from its JSON configuration and
never unpickles code, so :func:`save_checkpoint` checks the class
(``isinstance``) of what it can rebuild.

The result of an experiment too long for a page (a sweep of learning rates
and seeds, run once by a script in ``sweeps/``) is a JSON file written by
:func:`save_result`; a notebook reads it with :func:`load_result`, which
refuses it unless its sha256 is the one the notebook pins. Where the page
needs the trained models of such a sweep, not only their numbers, the script
saves their weights with :func:`save_weights` (tensors only) and the page
loads them into models it builds itself with :func:`load_weights`, under a
pinned sha256 too. The page's own rerun of one of those runs is compared with
the record by :func:`check_rerun`: equal on the script's machine, equal but for
rounding on another CPU.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from rnnviz.data import Vocab
from rnnviz.models import CharLM
from rnnviz.paths import book_file

FORMAT = "rnnviz-charlm/1"
#: Tolerances of :func:`check_rerun`: a page's live rerun of a script's run must
#: agree with the record this closely (see the function for why not exactly).
RERUN_RTOL = 1e-3
RERUN_ATOL = 1e-6
M = TypeVar("M", bound=nn.Module)


class ChecksumError(ValueError):
    """The checkpoint's bytes do not match the expected sha256."""


@dataclass(frozen=True)
class Checkpoint:
    model: CharLM
    vocab: Vocab
    metadata: dict[str, Any]
    sha256: str


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: Path, sha256: str | None, what: str) -> str:
    """Check ``path`` against ``sha256`` or, without it, the ``.sha256`` file beside
    it; return the hash. A file with neither, or other bytes, is refused; ``what``
    names the file in the errors ("checkpoint", "live model")."""
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    if sha256 is None:
        side = Path(f"{path}.sha256")
        if not side.is_file():
            raise ChecksumError(
                f"no sha256 given and no {side.name} beside {path}: "
                f"refusing an unverified {what}"
            )
        sha256 = side.read_text().split()[0]
    actual = sha256_file(path)
    if actual != sha256.lower():
        raise ChecksumError(
            f"sha256 mismatch for {path}: expected {sha256}, got {actual} "
            "(file changed or corrupt)"
        )
    return actual


def _result_path(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else book_file(str(path))


def save_result(path: str | Path, result: dict) -> str:
    """Write ``result`` as JSON (sorted keys, one space of indent) and return
    the file's sha256, the value a notebook pins for :func:`load_result`.

    A relative ``path`` is a path in the book (``chapters/...``). The result
    must be plain JSON: NaN and infinities are refused (they are not JSON).
    """
    if not isinstance(result, dict):
        raise TypeError(f"a result is a dict, got {type(result).__name__}")
    try:
        text = json.dumps(result, indent=1, sort_keys=True, allow_nan=False)
    except ValueError as err:
        raise ValueError(f"result for {path} holds NaN or infinity: {err}") from None
    out = _result_path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    return sha256_file(out)


def load_result(path: str | Path, sha256: str) -> dict:
    """The JSON result at ``path`` (a path in the book, or absolute), refused
    with :class:`ChecksumError` unless its sha256 is ``sha256``."""
    if not (isinstance(sha256, str) and len(sha256) == 64):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    path = _result_path(path)
    verify_sha256(path, sha256, "result")
    return json.loads(path.read_text(encoding="utf-8"))


def save_weights(path: str | Path, modules: dict[str, nn.Module]) -> str:
    """Save the weights of named modules in one file; return its sha256.

    The file holds only tensors (``{name: state_dict}``, written by
    ``torch.save``), so :func:`load_weights` reads it with ``weights_only=True``.
    A relative ``path`` is a path in the book (``chapters/...``).
    """
    if not isinstance(modules, dict) or not modules:
        raise ValueError("modules must be a non-empty dict of name -> nn.Module")
    states = {}
    for name, module in modules.items():
        if not isinstance(name, str) or not isinstance(module, nn.Module):
            raise TypeError(f"{name!r}: expected a str name and an nn.Module")
        states[name] = {k: v.detach().clone() for k, v in module.state_dict().items()}
    out = _result_path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(states, out)
    return sha256_file(out)


def load_weights(
    path: str | Path, sha256: str, modules: dict[str, nn.Module]
) -> dict[str, nn.Module]:
    """Load the weights saved by :func:`save_weights` into ``modules`` (same
    names, same architectures) and return them, in eval mode.

    The file is refused unless its sha256 is ``sha256``; it is read with
    ``weights_only=True`` (no arbitrary objects). A name missing on either
    side, or a tensor of another shape, is named in the error.
    """
    if not (isinstance(sha256, str) and len(sha256) == 64):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    path = _result_path(path)
    verify_sha256(path, sha256, "weights file")
    states = torch.load(path, map_location="cpu", weights_only=True)
    if set(states) != set(modules):
        raise ValueError(
            f"{path.name} holds {sorted(states)}, the models given are "
            f"{sorted(modules)}"
        )
    for name, module in modules.items():
        own = module.state_dict()
        if set(own) != set(states[name]):
            raise ValueError(
                f"{name}: the file's parameters {sorted(states[name])} are not the "
                f"model's {sorted(own)}"
            )
        for key, tensor in states[name].items():
            if tensor.shape != own[key].shape:
                raise ValueError(
                    f"{name}.{key}: the file has shape {tuple(tensor.shape)}, "
                    f"the model {tuple(own[key].shape)}"
                )
        module.load_state_dict(states[name])
        module.eval()
    return modules


def save_checkpoint(
    path: str | Path,
    model: CharLM,
    vocab: Vocab,
    metadata: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
) -> str:
    """Write ``model`` to ``path`` and its sha256 to ``path.sha256``; return the hash.

    ``dtype=torch.float16`` stores the floating-point weights at half size;
    they are loaded back into a float32 model (call :func:`round_weights` first
    so that the model you evaluate is exactly the one stored).
    """
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(
            f"dtype must be torch.float32, float16 or bfloat16, got {dtype}"
        )
    if not isinstance(model, CharLM):  # the one class load_checkpoint can rebuild
        raise TypeError(
            f"save_checkpoint saves a CharLM, got {type(model).__name__}: other "
            "models have no configuration that loading could rebuild them from"
        )
    if len(vocab) != model.vocab_size:
        raise ValueError(
            f"vocab has {len(vocab)} characters, the model expects {model.vocab_size}"
        )
    path = Path(path)
    payload = {
        "format": FORMAT,
        "config": json.dumps(model.config, sort_keys=True),
        "vocab": json.dumps(vocab.to_dict(), sort_keys=True),
        "metadata": json.dumps(
            metadata or {}, sort_keys=True
        ),  # raises TypeError if not JSON-able
        "state_dict": {
            k: v.detach().cpu().to(dtype if v.is_floating_point() else v.dtype).clone()
            for k, v in model.state_dict().items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    digest = sha256_file(path)
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return digest


@torch.no_grad()
def round_weights(model: M, dtype: torch.dtype = torch.float16) -> M:
    """Round any module's floating-point weights, in place, to ``dtype`` and back.

    After this, saving with ``dtype`` and loading gives back exactly these weights.
    """
    for t in model.state_dict().values():
        if t.is_floating_point():
            t.copy_(t.to(dtype))
    return model


def load_checkpoint(path: str | Path, sha256: str | None = None) -> Checkpoint:
    """Verify and load a checkpoint written by :func:`save_checkpoint`.

    ``sha256`` pins the expected hash; without it the ``.sha256`` file beside the
    checkpoint is used, and a checkpoint with neither is refused.
    """
    path = Path(path)
    actual = verify_sha256(path, sha256, "checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as e:  # the restricted unpickler refuses anything but tensors and plain data
        raise ValueError(f"{path} is not a safe rnnviz checkpoint: {e}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an {FORMAT} checkpoint")
    config = json.loads(payload["config"])
    vocab = Vocab.from_dict(json.loads(payload["vocab"]))
    model = CharLM(**config, vocab=vocab)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return Checkpoint(
        model=model,
        vocab=vocab,
        metadata=json.loads(payload["metadata"]),
        sha256=actual,
    )


class RerunMismatch(AssertionError):
    """A run trained again on the page does not match the script's record of it."""


@dataclass(frozen=True)
class RerunAgreement:
    """How closely a live rerun matched its record: the largest float difference
    over all leaves, absolute and relative (to the largest recorded value of its
    leaf), and the leaf that used the most of its tolerance, with how much (1 is
    the limit)."""

    max_abs: float
    max_rel: float
    where: str
    used: float


def _leaves(live: Any, stored: Any, path: str):
    """Pairs (path, live leaf, stored leaf), walking both structures in step; a
    difference of structure (keys, lengths, shapes, types) raises RerunMismatch."""
    if isinstance(live, nn.Module):
        live = live.state_dict()
    if isinstance(stored, nn.Module):
        stored = stored.state_dict()
    if isinstance(live, torch.Tensor):
        live = live.detach().cpu().double().numpy()
    if isinstance(stored, torch.Tensor):
        stored = stored.detach().cpu().double().numpy()
    if isinstance(live, dict) or isinstance(stored, dict):
        if not (isinstance(live, dict) and isinstance(stored, dict)):
            raise RerunMismatch(f"{path}: one side is a dict, the other is not")
        if set(live) != set(stored):
            only_live = sorted(set(live) - set(stored), key=str)
            only_stored = sorted(set(stored) - set(live), key=str)
            raise RerunMismatch(
                f"{path}: keys differ, live only {only_live}, "
                f"recorded only {only_stored}"
            )
        for key in stored:
            yield from _leaves(live[key], stored[key], f"{path}[{key!r}]")
        return
    if isinstance(live, np.ndarray) or isinstance(stored, np.ndarray):
        a, b = np.asarray(live), np.asarray(stored)
        if a.shape != b.shape:
            raise RerunMismatch(f"{path}: shape {a.shape} live, {b.shape} recorded")
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            yield path, a.astype(float), b.astype(float)
        elif not np.array_equal(a, b):
            raise RerunMismatch(f"{path}: the live values are not the recorded ones")
        return
    if isinstance(live, (list, tuple)) or isinstance(stored, (list, tuple)):
        if not (isinstance(live, (list, tuple)) and isinstance(stored, (list, tuple))):
            raise RerunMismatch(f"{path}: one side is a sequence, the other is not")
        if len(live) != len(stored):
            raise RerunMismatch(
                f"{path}: {len(live)} items live, {len(stored)} recorded"
            )
        for k, (a, b) in enumerate(zip(live, stored)):
            yield from _leaves(a, b, f"{path}[{k}]")
        return
    if isinstance(live, float) or isinstance(stored, float):
        if any(v is None or isinstance(v, (bool, str)) for v in (live, stored)):
            raise RerunMismatch(f"{path}: {live!r} live, {stored!r} recorded")
        yield path, np.asarray(float(live)), np.asarray(float(stored))
        return
    if live != stored:  # ints, strings, booleans, None: equal or wrong
        raise RerunMismatch(f"{path}: {live!r} live, {stored!r} recorded")


def check_rerun(
    live: Any,
    stored: Any,
    *,
    rtol: float = RERUN_RTOL,
    atol: float = RERUN_ATOL,
    what: str = "rerun",
) -> RerunAgreement:
    """Check that a run trained again here is the script's run, and say how close.

    ``live`` and ``stored`` are the same structure of dicts, lists, tuples,
    arrays, tensors, state dicts (or modules), floats, ints and strings.
    Everything that is not a float must be equal. Each float leaf (a number, an
    array, one tensor of a state dict) must agree to a relative error of at most
    ``rtol`` in the max norm, ``max|live - stored| <= rtol * max|stored|``, or
    to ``atol`` where the record is all zeros.

    Why not exactly: on the machine that ran the script, one thread, the rerun
    is the same to the bit. On another CPU the same code sums in another order
    (other vector widths, another BLAS code path), and those rounding
    differences grow a little with every training step. The default tolerance
    is far above what that drift was measured to reach in the book's reruns and
    far below what a change to the code makes (another seed, learning rate or
    number of steps moves the numbers by percent): see "Reruns on another CPU"
    in docs/ENVIRONMENT.md.

    Returns the worst agreement found; raises :class:`RerunMismatch` (an
    ``AssertionError``) naming the first place that differs in structure, a
    NaN in the live run, or the worst leaf outside the tolerance.
    """
    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"tolerances must be >= 0, got rtol={rtol}, atol={atol}")
    max_abs = max_rel = used_max = worst_diff = worst_rel = 0.0
    where = ""
    for path, a, b in _leaves(live, stored, what):
        if not np.isfinite(a).all():
            raise RerunMismatch(f"{path}: the live run has NaN or infinity")
        if not a.size:
            continue
        diff = float(np.abs(a - b).max())
        scale = float(np.abs(b).max())
        rel = diff / scale if scale else (0.0 if diff == 0 else float("inf"))
        limit = rtol * scale if scale else atol
        used = diff / limit if limit else (float("inf") if diff else 0.0)
        max_abs, max_rel = max(max_abs, diff), max(max_rel, rel)
        if used > used_max or not where:
            used_max, where, worst_diff, worst_rel = used, path, diff, rel
    if used_max > 1:
        raise RerunMismatch(
            f"{where}: the live run is not the script's: it differs from the "
            f"record by up to {worst_diff:.3g} (relative {worst_rel:.3g}), "
            f"{used_max:.3g} times the tolerance (rtol={rtol:g}, atol={atol:g})"
        )
    return RerunAgreement(max_abs, max_rel, where, used_max)
