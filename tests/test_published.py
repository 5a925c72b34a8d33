"""Tests for lowrank_ts.evaluation.published: the shipped table is complete, its Seasonal Naive
rows and the aggregate relative scores are the published figures, unknown models are refused."""

import math

import pytest

from lowrank_ts.evaluation import published

# The published figures rounded to 3 decimals (the precision this check holds them to).
RELATIVE = {
  "chronos-bolt-tiny": (0.780, 1.030), "chronos-bolt-mini": (0.764, 1.004),
  "chronos-bolt-small": (0.752, 0.980), "chronos-bolt-base": (0.716, 0.923),
  "chronos-t5-tiny": (0.821, 1.026), "chronos-t5-small": (0.815, 1.003),
  "chronos-t5-base": (0.787, 0.955),
}
SEASONAL_NAIVE = {  # (wql, mase) to 4 significant digits
  "m3-yearly": (0.1665, 3.172), "m3-quarterly": (0.1013, 1.425), "m3-monthly": (0.1485, 1.146),
  "tourism-yearly": (0.2092, 3.552), "tourism-quarterly": (0.1194, 1.699),
  "tourism-monthly": (0.1042, 1.631),
}
MODELS = ["seasonal-naive"] + [f"chronos-t5-{s}" for s in ("tiny", "mini", "small", "base", "large")
                               ] + [f"chronos-bolt-{s}" for s in ("tiny", "mini", "small", "base")]


def _significant(x, digits=4):
  return float(f"{x:.{digits}g}")


def test_every_model_scores_all_six_datasets():
  assert published.models() == MODELS
  for model in MODELS:
    table = published.scores(model)
    assert list(table) == list(published.DATASETS)
    for values in table.values():
      assert set(values) == {"wql", "mase"}
      assert all(math.isfinite(v) and v > 0 for v in values.values())


def test_seasonal_naive_is_the_published_row():
  table = published.scores("seasonal-naive")
  for dataset, (wql, mase) in SEASONAL_NAIVE.items():
    assert _significant(table[dataset]["wql"]) == wql, dataset
    assert _significant(table[dataset]["mase"]) == mase, dataset


@pytest.mark.parametrize("model", sorted(RELATIVE))
def test_relative_scores_are_the_published_figures(model):
  scores = published.relative(model)
  assert round(scores["wql"], 3) == pytest.approx(RELATIVE[model][0], abs=1e-9)
  assert round(scores["mase"], 3) == pytest.approx(RELATIVE[model][1], abs=1e-9)


def test_the_baseline_relative_to_itself_is_one():
  assert published.relative("seasonal-naive") == pytest.approx({"wql": 1.0, "mase": 1.0})


def test_scores_are_copies():
  published.scores("chronos-t5-tiny")["m3-yearly"]["wql"] = -1.0
  assert published.scores("chronos-t5-tiny")["m3-yearly"]["wql"] > 0


@pytest.mark.parametrize("model", ["chronos-t5-huge", "amazon/chronos-t5-tiny", None])
def test_unknown_model_names_the_argument_and_the_known_ones(model):
  with pytest.raises(ValueError, match=r"model must be one of \[.*'chronos-bolt-base'\]"):
    published.scores(model)
  with pytest.raises(ValueError, match="model must be one of"):
    published.relative(model)
