"""A user's series split for fine-tuning: the last ``horizon`` values of each held out, and
training windows drawn only from the values before them.

Each series is trimmed of its leading missing values (the start of a shorter column of a wide
CSV). With a hold-out, its last ``horizon`` values are held out and the rest is its training
part; without one, the whole series is. A training window ends its context at a cut ``c`` of
the training part, ``min_context <= c <= n - target_length``, and its target is the
``target_length`` values after the cut, so no window reads a held-out value. Batch ``step`` is
a pure function of ``(seed, step)``: each row picks a series uniformly, then a cut uniformly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from lowrank_ts import checks


@dataclasses.dataclass(frozen=True)
class Split:
  """The series kept (``names``, their ``train`` parts and ``held`` values, ``[0]``-long without
  a hold-out) and those ``left_out`` with the reason, ``(name, reason)``."""
  names: list[str]
  train: list[np.ndarray]
  held: list[np.ndarray]
  left_out: list[tuple[str, str]]
  horizon: int
  target_length: int
  min_context: int

  @property
  def needed(self) -> int:
    """The fewest values a series needs: the hold-out plus one training window."""
    return self.horizon + self.min_context + self.target_length


def _trimmed(values) -> np.ndarray:
  observed = np.flatnonzero(np.isfinite(values))
  return values[observed[0]:] if observed.size else values[:0]


def split(series: Sequence, names: Sequence[str], horizon: int, target_length: int,
          min_context: int) -> Split:
  """The :class:`Split` of ``series`` (1-D arrays, NaN = missing; ``horizon`` 0: no hold-out).

  A series shorter than :attr:`Split.needed`, or whose training part is constant or has no
  observed value, is left out (named in ``left_out``); a ValueError saying what is missing when
  none is left."""
  horizon = checks.positive_int(horizon, "horizon", allow_zero=True)
  target_length = checks.positive_int(target_length, "target_length")
  min_context = checks.positive_int(min_context, "min_context")
  if len(names) != len(series):
    raise ValueError(f"names has {len(names)} entries for {len(series)} series")
  if not len(series):
    raise ValueError("series is empty")
  kept_names, train, held, left_out = [], [], [], []
  needed = horizon + min_context + target_length
  for name, values in zip(names, series):
    values = _trimmed(checks.float_vector(values, f"series {name!r}"))
    n = values.shape[0]
    part = values[:n - horizon]
    finite = part[np.isfinite(part)]
    if n < needed:
      left_out.append((str(name), f"{n} values, {needed} needed"))
    elif finite.size < 2 or finite.min() == finite.max():
      left_out.append((str(name), "its training part is constant or has < 2 observed values"))
    else:
      kept_names.append(str(name))
      train.append(part)
      held.append(values[n - horizon:])
  if not kept_names:
    longest = max(_trimmed(np.asarray(v, np.float32)).shape[0] for v in series)
    hold = (f"holding out the last {horizon} values (horizon) and training on " if horizon
            else "training on ")
    raise ValueError(
        f"series: none of the {len(series)} series can be used: {hold}windows of "
        f"{min_context} context + {target_length} target values needs {needed} observed-from-"
        f"the-start values per series with a non-constant training part; the longest has "
        f"{longest} (give longer series, a smaller horizon"
        + (", or no hold-out)" if horizon else ")"))
  return Split(kept_names, train, held, left_out, horizon, target_length, min_context)


def window_batch(split_: Split, seed: int, step: int, batch_size: int,
                 context_length: int) -> dict[str, np.ndarray]:
  """Training batch ``step``: ``{context [B, context_length] (left-padded with NaN), target
  [B, target_length]}`` float32 from the training parts only (module docstring)."""
  rng = np.random.default_rng([checks.positive_int(seed, "seed", allow_zero=True),
                               checks.positive_int(step, "step", allow_zero=True)])
  batch_size = checks.positive_int(batch_size, "batch_size")
  context_length = checks.positive_int(context_length, "context_length")
  length = split_.target_length
  context = np.full((batch_size, context_length), np.nan, np.float32)
  target = np.empty((batch_size, length), np.float32)
  rows = rng.integers(len(split_.train), size=batch_size)
  for b, i in enumerate(rows):
    part = split_.train[i]
    cut = int(rng.integers(split_.min_context, part.shape[0] - length + 1))
    window = part[max(0, cut - context_length):cut]
    context[b, context_length - window.shape[0]:] = window
    target[b] = part[cut:cut + length]
  return {"context": context, "target": target}
