"""Where derived data files are cached between runs: ``$LOWRANK_TS_CACHE`` if set, else
``$XDG_CACHE_HOME/lowrank_ts``, else ``~/.cache/lowrank_ts``. Files are written atomically
(a temporary file renamed), so a reader never sees half a file; an unwritable folder only
means no cache."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import tempfile

import numpy as np


def folder() -> pathlib.Path:
  """The cache folder (not created)."""
  if explicit := os.environ.get("LOWRANK_TS_CACHE"):
    return pathlib.Path(explicit)
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return pathlib.Path(base) / "lowrank_ts"


def key(*parts: str) -> str:
  """A short hex digest naming a cached file after everything it was computed from."""
  return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def load_npz(name: str) -> dict[str, np.ndarray] | None:
  """The arrays of the cached file ``name`` (an ``.npz``), or None when absent or unreadable."""
  path = folder() / name
  try:
    with np.load(path, allow_pickle=False) as data:
      return {k: data[k] for k in data.files}
  except (OSError, ValueError):
    return None


def save_npz(name: str, arrays: dict[str, np.ndarray]) -> bool:
  """Writes ``arrays`` to the cached file ``name``; False when the folder is not writable."""
  target = folder() / name
  temporary = None
  try:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".npz")
    with os.fdopen(handle, "wb") as f:
      np.savez(f, **arrays)
    os.replace(temporary, target)
  except OSError:
    if temporary is not None:
      with contextlib.suppress(OSError):
        os.unlink(temporary)
    return False
  return True
