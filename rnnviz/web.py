"""Character models for the online book's live views: ``python -m rnnviz.web``.

The book's pages run small models in plain JavaScript
(``web/live/rnnviz-live.js``, served as ``_static/live/``). This module writes a
:class:`~rnnviz.models.CharLM` in the form the page reads, and reads that form
back into a ``CharLM``, so that Python can check exactly the weights the page
runs.

The form is a script, not a JSON file, because Chromium refuses ``fetch`` on a
book opened from ``file://`` but runs a ``<script src>``::

    /* rnnviz live model ... */
    (window.rnnvizLiveData = window.rnnvizLiveData || {})["lstm-page"] =
    {"format": "rnnviz-web/1", "config": {...}, "vocab": [...], "tensors": [...],
     "payload": "<base64>", "payload_bytes": ..., "sha256": "...", ...};

The payload holds every tensor of the state dict, little-endian, each starting at
a multiple of 4 bytes. With ``dtype="int8"`` a matrix is stored as int8 with one
float32 scale per row, ``w ~ q * scale`` with ``scale = max|row| / 127`` (the
embedding is a matrix too: one scale per character); vectors (the biases) stay
float32. Dequantising is ``float32(q * scale)`` on both sides, so the page and
:func:`read_web` hold bit-identical float32 weights. ``sha256`` is the
payload's; the whole file's hash is written beside it (``.sha256``) and the
shipped files' hashes are pinned in :data:`WEB_SHA256`.

:func:`export_page_models` exports the three page models
(:data:`rnnviz.pretrain.PAGE_CONFIGS`) and records the held-out loss of the
exported weights next to that of the checkpoint they come from.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnviz.checkpoints import ChecksumError, sha256_file, verify_sha256
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.models import CharLM
from rnnviz.paths import book_file
from rnnviz.pretrain import checkpoint_path, load_pretrained
from rnnviz.train import bits, evaluate

FORMAT = "rnnviz-web/1"
DTYPES = ("int8", "float16", "float32")
#: The names of the shipped live models, one per cell.
PAGE_MODELS = {"rnn": "rnn-page", "gru": "gru-page", "lstm": "lstm-page"}
#: sha256 of the shipped files in ``web/live/models/``.
WEB_SHA256: dict[str, str] = {
    "rnn-page": "d9039c12c074832b75dff6731f556df12e3a6ad56ebade284c5ee47c087e2544",
    "gru-page": "391ef16959f89987d7df8bc6f99d6dd307c9373de3fc6b2c3c00a53c6e02fc5e",
    "lstm-page": "abab80053179f790647ff801d21ca2ce5b6f9cac0a63d9674f67845f7834d1f7",
}

_NAME = re.compile(r"^[a-z0-9-]+$")
_HEAD = '(window.rnnvizLiveData = window.rnnvizLiveData || {})["%s"] =\n'


@dataclass(frozen=True)
class WebModel:
    """A live model read back: the ``CharLM`` the page runs and what came with it."""

    name: str
    model: CharLM
    vocab: Vocab
    metadata: dict[str, Any]
    dtype: str
    sha256: str  # of the file


def web_dir() -> Path:
    """The ``web/live/models/`` folder: the repository's, or in an installed wheel
    the copy it ships (:func:`rnnviz.paths.book_root`); its parent holds the engine."""
    return book_file("web", "live", "models")


def quantize_rows(w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """int8 values and float32 scales, one per row: ``w[r] ~ q[r] * scale[r]``.

    A row of zeros gets scale 1 (its values are all 0 either way).
    """
    a = w.detach().cpu().double().reshape(w.shape[0], -1).numpy()
    if not np.isfinite(a).all():
        raise ValueError("cannot quantise a tensor that holds NaN or inf")
    peak = np.abs(a).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(a / scale[:, None].astype(np.float64)), -127, 127)
    return q.astype(np.int8), scale


def dequantize_rows(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float32(q * scale): exact in float64, then one rounding, as in the page."""
    return (q.astype(np.float64) * scale.astype(np.float64)[:, None]).astype(np.float32)


def _encode(state: dict[str, torch.Tensor], dtype: str) -> tuple[bytes, list[dict]]:
    chunks: list[bytes] = []
    size = 0
    tensors = []

    def put(raw: bytes) -> int:
        nonlocal size
        at = size
        raw += b"\0" * (-len(raw) % 4)
        chunks.append(raw)
        size += len(raw)
        return at

    for name, t in state.items():
        if not t.is_floating_point():
            raise TypeError(f"{name} is not a floating-point tensor ({t.dtype})")
        entry: dict[str, Any] = {"name": name, "shape": list(t.shape)}
        if dtype == "int8" and t.dim() == 2:
            q, scale = quantize_rows(t)
            entry |= {"dtype": "int8", "offset": put(q.tobytes())}
            entry["scale_offset"] = put(scale.astype("<f4").tobytes())
        else:
            kind = "float16" if dtype == "float16" else "float32"
            a = t.detach().cpu().numpy().astype("<f2" if kind == "float16" else "<f4")
            entry |= {"dtype": kind, "offset": put(a.tobytes())}
        tensors.append(entry)
    return b"".join(chunks), tensors


def export_web(
    model: CharLM,
    path: str | Path,
    *,
    name: str,
    dtype: str = "int8",
    metadata: dict[str, Any] | None = None,
) -> str:
    """Write ``model`` for the page to ``path`` (a ``.js`` file); return its sha256.

    ``name`` is the key the page loads it by (``rnnvizLive.load(name)``): lower-case
    letters, digits and ``-``. ``dtype`` is ``"int8"`` (per-row scales),
    ``"float16"`` or ``"float32"``. ``metadata`` must be JSON-serialisable.
    """
    if not isinstance(model, CharLM):
        raise TypeError(f"export_web writes a CharLM, got {type(model).__name__}")
    if model.vocab is None:
        raise ValueError("the model has no vocab: build it with CharLM(..., vocab=)")
    if not (isinstance(name, str) and _NAME.match(name)):
        raise ValueError(
            f"name must be lower-case letters, digits and '-', got {name!r}"
        )
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    state = model.state_dict()
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise ValueError(f"{k} holds NaN or inf: refusing to export it")
    payload, tensors = _encode(state, dtype)
    spec = {
        "format": FORMAT,
        "name": name,
        "config": model.config,
        "vocab": list(model.vocab.chars),
        "dtype": dtype,
        "metadata": metadata or {},
        "tensors": tensors,
        "payload_bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": base64.b64encode(payload).decode("ascii"),
    }
    body = json.dumps(spec, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"/* rnnviz live model {name!r}: written by rnnviz.web, do not edit */\n"
        + _HEAD % name
        + body
        + ";\n",
        encoding="ascii",
    )
    digest = sha256_file(path)
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def _parse(text: str, path: Path) -> dict[str, Any]:
    lines = text.split("\n")
    m = re.fullmatch(r'\(window\.rnnvizLiveData = .*\)\["([a-z0-9-]+)"\] =', lines[1])
    if len(lines) != 4 or not m or not lines[2].endswith(";") or lines[3]:
        raise ValueError(f"{path} is not a live model written by rnnviz.web")
    spec = json.loads(lines[2][:-1])
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ValueError(f"{path} is not in the {FORMAT} format")
    if spec.get("name") != m.group(1):
        raise ValueError(f"{path} registers {m.group(1)!r} but is named {spec['name']}")
    return spec


def read_web(path: str | Path, sha256: str | None = None) -> WebModel:
    """Read a live model back into a ``CharLM`` holding exactly the page's weights.

    The file's sha256 is checked against ``sha256`` or, without it, against the
    ``.sha256`` file beside it; then the payload's own sha256. Nothing is
    unpickled: the file is JSON inside one line of JavaScript.
    """
    path = Path(path)
    actual = verify_sha256(path, sha256, "live model")
    spec = _parse(path.read_text(encoding="ascii"), path)
    payload = base64.b64decode(spec["payload"], validate=True)
    if len(payload) != spec["payload_bytes"]:
        raise ValueError(f"{path}: the payload has {len(payload)} bytes")
    if hashlib.sha256(payload).hexdigest() != spec["sha256"]:
        raise ChecksumError(f"{path}: the payload does not match its sha256")
    vocab = Vocab(spec["vocab"])
    model = CharLM(**spec["config"], vocab=vocab)
    state = {}
    for t in spec["tensors"]:
        shape, n = tuple(t["shape"]), int(np.prod(t["shape"]))
        if t["dtype"] == "int8":
            q = np.frombuffer(payload, np.int8, n, t["offset"]).reshape(shape[0], -1)
            scale = np.frombuffer(payload, "<f4", shape[0], t["scale_offset"])
            a = dequantize_rows(q, scale).reshape(shape)
        elif t["dtype"] in ("float16", "float32"):
            kind = "<f2" if t["dtype"] == "float16" else "<f4"
            a = np.frombuffer(payload, kind, n, t["offset"]).astype(np.float32)
            a = a.reshape(shape)
        else:
            raise ValueError(f"{path}: tensor {t['name']} has dtype {t['dtype']!r}")
        state[t["name"]] = torch.from_numpy(a.copy())
    model.load_state_dict(state)
    model.eval()
    return WebModel(
        name=spec["name"],
        model=model,
        vocab=vocab,
        metadata=spec["metadata"],
        dtype=spec["dtype"],
        sha256=actual,
    )


def page_model_path(cell: str, out: str | Path | None = None) -> Path:
    """Where the live model of ``cell`` ('rnn', 'gru', 'lstm') is written."""
    if cell not in PAGE_MODELS:
        raise ValueError(f"cell must be one of {sorted(PAGE_MODELS)}, got {cell!r}")
    return Path(out or web_dir()) / f"{PAGE_MODELS[cell]}.js"


def load_page_model(cell: str) -> WebModel:
    """The shipped live model of ``cell``, checked against :data:`WEB_SHA256`."""
    path = page_model_path(cell)
    name = PAGE_MODELS[cell]
    if name not in WEB_SHA256:
        raise FileNotFoundError(f"no {name} is pinned: run python -m rnnviz.web")
    return read_web(path, sha256=WEB_SHA256[name])


def export_page_models(
    out: str | Path | None = None,
    cells: tuple[str, ...] = ("rnn", "gru", "lstm"),
    dtype: str = "int8",
) -> dict[str, dict[str, Any]]:
    """Export the page checkpoints (``charlm-<cell>-page.pt``) for the page.

    The metadata of each file records the held-out losses of the exported
    weights (``valid_nats``, ``test_nats``, bits per character) and of the float16
    checkpoint they come from (``checkpoint_valid_nats``, ...), measured here.
    Returns a summary per cell.
    """
    corpus = load_corpus()
    summary = {}
    for cell in cells:
        ck = load_pretrained(cell, page=True)
        valid_ids, test_ids = (ck.vocab.encode(t) for t in (corpus.valid, corpus.test))
        before = [
            evaluate(ck.model, ids, batch_size=32) for ids in (valid_ids, test_ids)
        ]
        path = page_model_path(cell, out)
        tmp = path.with_suffix(".tmp.js")
        export_web(ck.model, tmp, name=PAGE_MODELS[cell], dtype=dtype)
        exported = read_web(tmp).model
        after = [
            evaluate(exported, ids, batch_size=32) for ids in (valid_ids, test_ids)
        ]
        tmp.unlink()
        Path(f"{tmp}.sha256").unlink()
        keys = ("steps", "seconds", "threads", "parameters", "characters_seen", "train")
        meta = {k: ck.metadata[k] for k in keys} | {
            "checkpoint": checkpoint_path(cell, page=True).name,
            "checkpoint_sha256": ck.sha256,
            "valid_nats": after[0],
            "test_nats": after[1],
            "valid_bpc": bits(after[0]),
            "test_bpc": bits(after[1]),
            "checkpoint_valid_nats": before[0],
            "checkpoint_test_nats": before[1],
        }
        digest = export_web(
            ck.model, path, name=PAGE_MODELS[cell], dtype=dtype, metadata=meta
        )
        summary[cell] = {
            "path": str(path),
            "bytes": path.stat().st_size,
            "sha256": digest,
            "test_bpc": meta["test_bpc"],
            "test_nats_change": after[1] - before[1],
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rnnviz.web", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("cells", nargs="*", default=["rnn", "gru", "lstm"])
    ap.add_argument("--out", default=None, help="default: web/live/models/")
    ap.add_argument("--dtype", default="int8", choices=DTYPES)
    args = ap.parse_args(argv)
    bad = sorted(set(args.cells) - set(PAGE_MODELS))
    if bad:
        ap.error(f"unknown cell(s) {bad}: choose from {sorted(PAGE_MODELS)}")
    summary = export_page_models(args.out, tuple(args.cells), args.dtype)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
