"""The training loop's prefetcher yields exactly the pipeline's batches and state."""

import numpy as np
import pytest

from lowrank_ts.training import data
from lowrank_ts.training.config import TRAIN_CONFIGS


def test_prefetcher_equals_iterating_the_pipeline_and_follows_a_restore():
  config = TRAIN_CONFIGS["cpu-test"]
  direct, fetched = data.make_pipeline(config), data.make_pipeline(config)
  prefetch = data.Prefetcher(fetched, lambda b: b, depth=3)
  try:
    for _ in range(4):
      a, b = next(direct), prefetch.next()
      assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
    assert int(fetched.get_state()["step"]) == 4
    fetched.set_state({"seed": np.int64(0), "step": np.int64(1)})  # as a checkpoint restore does
    again = prefetch.next()
    assert np.array_equal(again["target"], data.make_pipeline(config).batch_at(1)["target"],
                          equal_nan=True)
    assert int(fetched.get_state()["step"]) == 2
  finally:
    prefetch.close()


def test_prefetcher_raises_the_batch_error_and_checks_its_pipe():
  config = TRAIN_CONFIGS["cpu-test"]

  def broken(batch):
    raise RuntimeError("cannot prepare this batch")
  prefetch = data.Prefetcher(data.make_pipeline(config), broken)
  try:
    with pytest.raises(RuntimeError, match="cannot prepare this batch"):
      prefetch.next()
  finally:
    prefetch.close()
  with pytest.raises(ValueError, match="pipe must be an InputPipeline"):
    data.Prefetcher([], lambda b: b)
  pipe = data.make_pipeline(config)
  with pytest.raises(ValueError, match="^prepare must be callable, got int"):
    data.Prefetcher(pipe, 3)
  with pytest.raises(ValueError, match="^depth must be"):
    data.Prefetcher(pipe, lambda b: b, depth=0)
