"""Tests for the frequency-aware synthetic series and the short training contexts."""

import dataclasses

import numpy as np
import pytest

from lowrank_ts.data import instances, pipeline, seasonal_synth


def test_series_are_seeded_finite_and_independent_of_the_count():
  a = seasonal_synth.seasonal_synth(6, seed=3, length=300)
  b = seasonal_synth.seasonal_synth(9, seed=3, length=300)
  assert a.shape == (6, 300) and a.dtype == np.float32 and np.isfinite(a).all()
  np.testing.assert_array_equal(a, b[:6])  # series i depends on (seed, i) only
  assert not np.array_equal(a, seasonal_synth.seasonal_synth(6, seed=4, length=300))


@pytest.mark.parametrize("family", seasonal_synth.FAMILIES)
def test_every_family_gives_finite_non_constant_series(family):
  values = np.stack([seasonal_synth.sample(np.random.default_rng([1, i]), 200, family)
                     for i in range(20)])
  assert np.isfinite(values).all()
  assert (values.std(axis=1) > 0).all()
  if family == "intermittent":  # zeros between occurrences, positive sizes
    assert (values >= 0).all() and ((values == 0).mean(axis=1) > 0.2).all()


@pytest.mark.parametrize("period", seasonal_synth.PERIODS)
def test_clean_seasonal_repeats_exactly_with_its_period(period):
  values = seasonal_synth.clean_seasonal(np.random.default_rng(period), 5 * period, period)
  np.testing.assert_array_equal(values[period:], values[:-period])
  # ... and not with a shorter lag: the profile is a random draw over the whole period
  assert not np.array_equal(values[1:], values[:-1])


def test_bad_arguments_name_themselves():
  with pytest.raises(ValueError, match="family"):
    seasonal_synth.sample(np.random.default_rng(0), 10, "weekly")
  with pytest.raises(ValueError, match="length"):
    seasonal_synth.sample(np.random.default_rng(0), 0)
  with pytest.raises(ValueError, match="period"):
    seasonal_synth.clean_seasonal(np.random.default_rng(0), 10, 0)
  with pytest.raises(ValueError, match="num_series"):
    seasonal_synth.seasonal_synth(0, seed=0)
  with pytest.raises(ValueError, match="seasonal_synth_weight"):
    pipeline.PipelineConfig(kernel_synth_weight=0.8, seasonal_synth_weight=0.3)
  with pytest.raises(ValueError, match="short_context_max"):
    instances.InstanceConfig(min_past=60, short_context_probability=0.5, short_context_max=10)


def _pipe(**instance):
  cfg = pipeline.PipelineConfig(
      batch_size=16, kernel_synth_weight=0.0, seasonal_synth_weight=1.0,
      instance=instances.InstanceConfig(context_length=128, prediction_length=8, min_past=8,
                                        **instance))
  return pipeline.InputPipeline(cfg, kernel_synth_series=[], tsmixup_sources=[], seed=0)


def test_short_contexts_keep_between_min_past_and_short_context_max_values():
  batch = _pipe(short_context_probability=1.0, short_context_max=40).batch_at(0)
  # The observed stretch is the last k values, k in [8, 40] (augmentation may drop some).
  first = np.argmax(~np.isnan(batch["context"]), axis=1)
  kept = batch["context"].shape[1] - first
  assert (kept >= 1).all() and (kept <= 40).all()
  assert (kept > 8).sum() > 4  # log-uniform k: not all at the minimum
  long = _pipe().batch_at(0)["context"]
  assert ((~np.isnan(long)).sum(axis=1) > 40).sum() > 8  # without it, most contexts are long


def test_short_context_probability_sets_the_share_of_short_contexts():
  pipe = _pipe(short_context_probability=0.5, short_context_max=40)
  observed = np.concatenate([~np.isnan(pipe.batch_at(s)["context"]) for s in range(4)])
  first = np.argmax(observed, axis=1)
  share = float(((observed.shape[1] - first) <= 40).mean())
  # 64 rows, p = 0.5 (+ the rare naturally short ones): binomial sd 0.0625, so +-0.25 is 4 sd.
  assert 0.25 <= share <= 0.75, share


def test_constant_contexts_before_a_jump_are_redrawn_when_asked():
  series = np.zeros(400, np.float32)
  series[::50] = 5.0  # intermittent: most 8-value contexts are all zeros
  cfg = instances.InstanceConfig(context_length=64, prediction_length=8, min_past=8,
                                 short_context_probability=1.0, short_context_max=8,
                                 max_target_zscore=1000.0)
  rng = np.random.default_rng(0)
  for _ in range(50):
    example = instances.sample_instance(series, rng, cfg, max_tries=1000)
    assert example is not None
    observed = example[0][~np.isnan(example[0])]
    # within 1 000 sds of the context; a constant context only before the same constant
    assert np.abs(example[1] - observed.mean()).max() <= 1000 * observed.std()
  # without the flag such contexts come through (the check above can fail)
  plain = dataclasses.replace(cfg, max_target_zscore=0.0)
  examples = [instances.sample_instance(series, rng, plain) for _ in range(50)]
  assert any(np.nanmin(c) == np.nanmax(c) and t.max() > np.nanmax(c) for c, t in examples)
