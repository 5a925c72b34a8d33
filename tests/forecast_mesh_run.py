"""Forecasts of a fixed set of series by small random Chronos / Bolt models, on a mesh of all
devices (``python tests/forecast_mesh_run.py OUT.npz`` under 8 forced CPU devices) or on one
(in-process, :func:`run` with ``data_parallel=False``), for the mesh-equivalence test.

It also records how many devices held the rows entering each compiled forecast program (a spy
on inference.programs' jit boundary), so the test knows the 8-device run really split the
batch.
"""

import sys

import jax
import numpy as np

from lowrank_ts import sharding
from lowrank_ts.inference import data_parallel as parallel
from lowrank_ts.inference import forecasting, programs
from lowrank_ts.models import BOLT_CONFIGS, CHRONOS_CONFIGS, ChronosBolt, registry, sampler

BATCH = 8
HORIZON = 6


def series() -> list[np.ndarray]:
  rng = np.random.default_rng(0)
  out = [(30 + rng.normal(size=int(n)).cumsum()).astype(np.float32)
         for n in rng.integers(12, 40, size=11)]
  out.append(np.full(16, np.nan, np.float32))  # unobserved: forecast from an empty context
  return out


def _spy(seen: dict):
  original = programs._apply

  def spied(*args, **kwargs):
    rows = args[2]  # the context / token ids after (graphdef, leaves)
    seen.setdefault(kwargs["core"], []).append(len(rows.sharding.device_set))
    return original(*args, **kwargs)
  programs._apply = spied
  return original


def run(data_parallel: bool) -> dict[str, np.ndarray]:
  mesh = sharding.make_mesh((jax.device_count(), 1)) if data_parallel else None
  seen = {}
  original = _spy(seen)
  try:
    bolt = registry.build(BOLT_CONFIGS["chronos-bolt-cpu"], seed=0)
    chronos = registry.build(CHRONOS_CONFIGS["chronos-t5-cpu"], seed=0)
    key = jax.random.key(0)
    common = dict(batch_size=BATCH, mesh=mesh)
    out = {"bolt": forecasting.forecast(bolt, series(), HORIZON, **common)["quantiles"],
           "greedy": forecasting.forecast(chronos, series(), HORIZON, key, num_samples=2,
                                          top_k=1, **common)["quantiles"]}
  finally:
    programs._apply = original
  if mesh is not None:  # a replicated model's program called with rows the mesh cannot split
    try:
      programs.Programs(parallel.replicate(bolt, mesh))(ChronosBolt.__call__,
                                                        np.ones((3, 20), np.float32))
      out["indivisible_error"] = np.asarray("")
    except ValueError as err:
      out["indivisible_error"] = np.asarray(str(err))
  out["devices_bolt"] = np.asarray(seen.get(ChronosBolt.__call__, []))
  out["devices_chronos"] = np.asarray(seen.get(sampler.sample_tokens, []))
  return out


if __name__ == "__main__":
  np.savez(sys.argv[1], **run(data_parallel=True))
