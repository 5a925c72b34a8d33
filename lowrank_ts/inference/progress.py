"""A progress bar over forecast batches: tqdm's when it is installed, else one line on stderr
rewritten in place. Disabled, it prints nothing."""

from __future__ import annotations

import sys
import time


class _Line:
  """``series done / total`` and the rate, on one stderr line (no tqdm)."""

  def __init__(self, total: int, desc: str):
    self.total, self.desc, self.done, self.start = total, desc, 0, time.perf_counter()

  def update(self, n: int) -> None:
    self.done += n
    rate = self.done / max(time.perf_counter() - self.start, 1e-9)
    print(f"\r{self.desc}: {self.done}/{self.total} series ({rate:.1f}/s)", end="",
          file=sys.stderr, flush=True)

  def close(self) -> None:
    print(file=sys.stderr, flush=True)


class _Silent:
  def update(self, n: int) -> None:
    pass

  def close(self) -> None:
    pass


def bar(total: int, enabled: bool, desc: str = "forecast"):
  """An object with ``update(n)`` and ``close()`` counting ``total`` series."""
  if not enabled:
    return _Silent()
  try:
    from tqdm.auto import tqdm
  except ImportError:
    return _Line(total, desc)
  return tqdm(total=total, desc=desc, unit="series", file=sys.stderr)
