"""Shared helpers for the benchmark scripts: timing, machine facts, results files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Callable

import jax
import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict:
  """Wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs.

  ``fn`` must block until its result is ready (call ``block_until_ready`` on JAX outputs).
  The first warm-up run is reported separately as ``first_s`` (it includes compilation).
  """
  first = None
  for i in range(warmup):
    start = time.perf_counter()
    fn()
    if i == 0:
      first = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return {"first_s": first, "min_s": min(times), "median_s": statistics.median(times),
          "max_s": max(times), "repeats": repeats}


def machine() -> dict:
  import scipy
  return {"python": platform.python_version(), "jax": jax.__version__, "numpy": np.__version__,
          "scipy": scipy.__version__, "backend": jax.default_backend(),
          "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
          "load_average_at_start": os.getloadavg()}


def write(name: str, record: dict) -> str:
  os.makedirs(RESULTS, exist_ok=True)
  path = os.path.join(RESULTS, f"{name}.json")
  with open(path + ".tmp", "w") as f:
    json.dump(record, f, indent=1)
  os.replace(path + ".tmp", path)
  return path
