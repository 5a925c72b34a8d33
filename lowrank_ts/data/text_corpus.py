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
from collections.abc import Sequence
from typing import Any

import numpy as np

from lowrank_ts import checks
from lowrank_ts.data import pipeline

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


class TextPipeline(pipeline.SeededBatches):
  """Batches of model inputs ``{input_ids [B, C + 1], attention_mask [B, C + 1], labels [B, H]}``
  (numpy): a context of ``context`` bytes (EOS appended, as Chronos' encoder reads) and the next
  ``horizon`` bytes as labels, at a uniformly drawn offset of the training part.

  Rows and checkpointable state as :class:`lowrank_ts.data.pipeline.InputPipeline`'s
  (:class:`~lowrank_ts.data.pipeline.SeededBatches`): batch ``s`` is a pure function of (seed,
  step, row), so a resumed run sees exactly the batches of an uninterrupted one.
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
    super().__init__(seed)

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
