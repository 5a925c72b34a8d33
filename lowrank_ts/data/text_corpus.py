"""English text that ships with Python, as bytes, and a seeded, resumable pipeline of byte
windows: the data of the text control of Fig. 2 (the reference architecture trained on text at
the same width, depth and steps; README "The reference model").

The corpus is the interpreter's own prose: the help topics of ``pydoc_data.topics`` and the
docstrings of the standard library's modules, classes and functions (tests and the IDLE / 2to3
trees left out), read with :mod:`ast` without importing anything. About 2 MB on Python 3.11.
Whole modules go to the validation part by a hash of their path, so no sentence is in both.
A byte ``b`` is the token ``b + N_SPECIAL`` (0 = pad, 1 = EOS, as Chronos' tokenizer numbers its
special tokens), so the vocabulary is 258 tokens.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import pydoc_data.topics
import sysconfig
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lowrank_ts import checks

N_SPECIAL = 2  # pad 0, EOS 1
VOCAB = 256 + N_SPECIAL
SEPARATOR = b"\n\n"
VALIDATION_SHARE = 0.05  # of modules (and help topics), by a hash of the name
_SKIPPED_DIRS = ("test", "tests", "site-packages", "idlelib", "lib2to3", "__pycache__",
                 "dist-packages")


def _is_validation(name: str) -> bool:
  digest = hashlib.sha256(name.encode()).digest()
  return int.from_bytes(digest[:8], "little") / 2.0 ** 64 < VALIDATION_SHARE


def _docstrings(path: str) -> list[str]:
  try:
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read())
  except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
    return []
  nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
  return [doc for node in ast.walk(tree) if isinstance(node, nodes)
          if (doc := ast.get_docstring(node))]


def documents() -> list[tuple[str, str]]:
  """``(name, text)`` of every document, in a fixed order: the help topics, then each standard
  library module's docstrings joined."""
  docs = [(f"pydoc:{key}", pydoc_data.topics.topics[key])
          for key in sorted(pydoc_data.topics.topics)]
  stdlib = sysconfig.get_paths()["stdlib"]
  for root, dirs, files in os.walk(stdlib):
    dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
    for name in sorted(f for f in files if f.endswith(".py")):
      path = os.path.join(root, name)
      if texts := _docstrings(path):
        docs.append((os.path.relpath(path, stdlib), "\n\n".join(texts)))
  return docs


@functools.cache
def corpus() -> dict[str, Any]:
  """``{"train": uint8 [N], "validation": uint8 [M], "sha256": str, "documents": int}``: the
  documents' UTF-8 bytes joined by blank lines; ``sha256`` of both parts identifies the corpus
  (it changes with the Python version)."""
  parts: dict[str, list[bytes]] = {"train": [], "validation": []}
  docs = documents()
  for name, text in docs:
    parts["validation" if _is_validation(name) else "train"].append(text.encode("utf-8"))
  out = {k: np.frombuffer(SEPARATOR.join(v), np.uint8) for k, v in parts.items()}
  digest = hashlib.sha256(out["train"].tobytes() + b"\0" + out["validation"].tobytes())
  return {**out, "sha256": digest.hexdigest(), "documents": len(docs)}


def tokens(data: np.ndarray) -> np.ndarray:
  """Token ids (int32) of bytes."""
  return np.asarray(data, np.int32) + N_SPECIAL


def _state(seed: Any, step: Any) -> dict[str, np.ndarray]:
  return {"seed": np.asarray(seed, np.int64), "step": np.asarray(step, np.int64)}


class TextPipeline:
  """Batches of model inputs ``{input_ids [B, C + 1], attention_mask [B, C + 1], labels [B, H]}``
  (numpy): a context of ``context`` bytes (EOS appended, as Chronos' encoder reads) and the next
  ``horizon`` bytes as labels, at a uniformly drawn offset of the training part.

  The same interface as :class:`lowrank_ts.data.pipeline.InputPipeline` (``get_state`` /
  ``set_state`` / ``batch_at`` / ``rows``): batch ``s`` is a pure function of (seed, step, row),
  so a resumed run sees exactly the batches of an uninterrupted one.
  """

  def __init__(self, *, batch_size: int, context: int, horizon: int, seed: int,
               data: np.ndarray | None = None):
    self.batch_size = checks.positive_int(batch_size, "batch_size")
    self.context = checks.positive_int(context, "context")
    self.horizon = checks.positive_int(horizon, "horizon")
    self._data = corpus()["train"] if data is None else np.asarray(data, np.uint8)
    if self._data.ndim != 1 or self._data.size < self.context + self.horizon:
      raise ValueError(f"data must be 1-D bytes of at least context + horizon = "
                       f"{self.context + self.horizon}, got shape {self._data.shape}")
    self._state = _state(checks.positive_int(seed, "seed", allow_zero=True), 0)
    self._rows: list[int] | None = None

  def set_rows(self, rows: Sequence[int] | None) -> None:
    """Yields only these rows of each global batch (None: all)."""
    if rows is not None:
      rows = [checks.positive_int(int(r), "rows[i]", allow_zero=True) for r in rows]
      if not rows or max(rows) >= self.batch_size or len(set(rows)) != len(rows):
        raise ValueError(f"rows must be distinct indices below batch_size={self.batch_size}, "
                         f"got {rows}")
    self._rows = rows

  @property
  def rows(self) -> list[int] | None:
    return None if self._rows is None else list(self._rows)

  def get_state(self) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in self._state.items()}

  def set_state(self, state: Mapping[str, Any]) -> None:
    if not isinstance(state, Mapping) or set(state) != {"seed", "step"}:
      raise ValueError(f"state must be a mapping with keys seed and step, got {state!r}")
    values = [np.asarray(state[k]) for k in ("seed", "step")]
    if any(v.shape != () or not np.issubdtype(v.dtype, np.integer) or v < 0 for v in values):
      raise ValueError(f"state values must be non-negative integer scalars, got {state!r}")
    self._state = _state(int(values[0]), int(values[1]))

  def batch_at(self, step: int, rows: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """The batch number ``step`` (random access), or only its ``rows``."""
    step = checks.positive_int(step, "step", allow_zero=True)
    seed = int(self._state["seed"])
    width = self.context + self.horizon
    starts = [int(np.random.default_rng([seed, step, row]).integers(self._data.size - width + 1))
              for row in (range(self.batch_size) if rows is None else rows)]
    windows = tokens(np.stack([self._data[s:s + width] for s in starts]))
    eos = np.ones((len(starts), 1), np.int32)
    input_ids = np.concatenate([windows[:, :self.context], eos], axis=1)
    return {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids, bool),
            "labels": windows[:, self.context:]}
