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


def matmul_gflops(n: int = 2048, repeats: int = 5, dtype=jax.numpy.float32) -> dict:
  """This machine's jitted ``n x n @ n x n`` matmul rate (GFLOP/s, 2 n^3 FLOPs per call): the
  ceiling any implementation of a compute-bound workload can reach here."""
  key = jax.random.PRNGKey(0)
  a = jax.random.normal(key, (n, n), dtype)
  b = jax.random.normal(jax.random.fold_in(key, 1), (n, n), dtype)
  mm = jax.jit(lambda x, y: x @ y)
  t = timed(lambda: mm(a, b).block_until_ready(), repeats=repeats, warmup=2)
  flops = 2.0 * n ** 3
  return {"n": n, "dtype": jax.numpy.dtype(dtype).name, "gflops_best": flops / t["min_s"] / 1e9,
          "gflops_median": flops / t["median_s"] / 1e9, **t}
