"""Bad training data is named or skipped with a count, before the first step."""

import dataclasses

import numpy as np
import pytest

from lowrank_ts.data import corpus, real_series, validation
from lowrank_ts.training import data
from lowrank_ts.training.config import TRAIN_CONFIGS

TINY = TRAIN_CONFIGS["cpu-test"]


def test_all_missing_and_constant_series_are_skipped_with_a_count(tmp_path, capfd):
  pool = np.random.default_rng(0).normal(size=(6, 256)).astype(np.float32)
  pool[1] = np.nan
  pool[2] = 3.0
  pool[4, :10] = np.inf  # non-finite values are missing values, the series stays
  path = tmp_path / "pool.npy"
  np.save(path, pool)
  pipe = data.make_pipeline(dataclasses.replace(TINY, kernel_synth_path=str(path)))
  err = capfd.readouterr().err
  assert "skipped 2 of 6 series" in err and "1 all missing" in err and "1 constant" in err
  assert str(path) in err
  assert len(pipe._kernel_synth) == 4
  assert np.isfinite(pipe.batch_at(0)["context"][~np.isnan(pipe.batch_at(0)["context"])]).all()


@pytest.mark.parametrize("array, message", [
    (np.array([["a", "b"], ["c", "d"]]), "expected a real 2-D array"),
    (np.zeros(5), "expected a real 2-D array"),
    (np.full((3, 8), np.nan), "no usable series"),
])
def test_unusable_pools_are_refused_naming_the_file(tmp_path, array, message):
  path = tmp_path / "bad.npy"
  np.save(path, array)
  with pytest.raises(ValueError, match=message) as err:
    data.make_pipeline(dataclasses.replace(TINY, kernel_synth_path=str(path)))
  assert str(path) in str(err.value)


def test_an_unreadable_pool_is_named(tmp_path):
  path = tmp_path / "text.npy"
  path.write_text("not numpy")
  with pytest.raises(ValueError, match="cannot read") as err:
    data.make_pipeline(dataclasses.replace(TINY, kernel_synth_path=str(path)))
  assert str(path) in str(err.value)


def test_table_weighting_gives_each_source_table_one_dataset_share():
  config = dataclasses.replace(TRAIN_CONFIGS["cpu-reference"], kernel_synth_series=2,
                               real_series=False)
  pipe = data.make_pipeline(config)
  names = [n for n, _ in corpus.load() if not validation.held_out(n)]
  tables = sorted({"/".join(n.split("/")[:2]) for n in names})
  weights = pipe._weights
  assert weights.shape == (2 + len(names),)
  share = 1 / (1 + len(tables))  # the KernelSynth pool is one more dataset
  np.testing.assert_allclose(weights[:2].sum(), share, rtol=1e-9)  # float64 sums
  sizes = {}
  for n in names:
    sizes[n.split("/")[0] + "/" + n.split("/")[1]] = sizes.get(
        n.split("/")[0] + "/" + n.split("/")[1], 0) + 1
  big = max(sizes, key=sizes.get)
  assert sizes[big] > 10  # a panel: its series share one table's weight
  assert weights[2:].max() <= share / 1 + 1e-12 and weights[2:].min() < share / 10


def test_frequency_weighting_gives_each_frequency_bucket_an_equal_share():
  config = dataclasses.replace(TRAIN_CONFIGS["cpu-reference"], kernel_synth_series=3,
                               tsmixup_weighting="frequency")
  pipe = data.make_pipeline(config)
  kept = [s for s in corpus.series() if not validation.held_out(s.name)]
  real = real_series.load()
  buckets = [data._bucket(r.freq) for r in real] + [data._bucket(s.freq) for s in kept]
  weights = pipe._weights
  assert weights.shape == (3 + len(buckets),)
  share = 1 / (1 + len(set(buckets)))  # the KernelSynth pool is one more share
  np.testing.assert_allclose(weights[:3].sum(), share, rtol=1e-9)  # float64 sums
  for bucket in set(buckets):
    mask = np.array([b == bucket for b in buckets])
    np.testing.assert_allclose(weights[3:][mask].sum(), share, rtol=1e-9)
  # yearly series are most of the corpus, yet get no more than the monthly ones together
  assert sum(b == "A" for b in buckets) > 5 * sum(b == "M" for b in buckets)
