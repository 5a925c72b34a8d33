"""Tests for lowrank_ts.evaluate: WQL and MASE vs gluonts (test-only dependency) on random
forecasts, Seasonal Naive, the relative score, the forecaster plug, the CLI tables, bad input."""

import csv

import numpy as np
import pytest

from lowrank_ts import evaluate
from lowrank_ts.data import benchmark

LEVELS = evaluate.QUANTILE_LEVELS


def _random_dataset(seed, n_series=6, horizon=7):
  rng = np.random.default_rng(seed)
  histories = [rng.normal(10, 3, size=n) for n in (8, 30, 41, 55, 13, 100)[:n_series]]
  histories[2][[3, 17]] = np.nan  # missing history values
  targets = rng.normal(10, 3, size=(n_series, horizon))
  targets[1, 2] = np.nan  # a missing target value
  quantiles = np.sort(rng.normal(10, 3, size=(n_series, len(LEVELS), horizon)), axis=1)
  return histories, targets, quantiles


def _gluonts_scores(histories, targets, quantiles, seasonality):
  """MASE and mean WQL from gluonts' own evaluate_forecasts."""
  pd = pytest.importorskip("pandas")
  pytest.importorskip("gluonts")
  from gluonts.dataset.split import split
  from gluonts.ev.metrics import MASE, MeanWeightedSumQuantileLoss
  from gluonts.model.evaluation import evaluate_forecasts
  from gluonts.model.forecast import QuantileForecast

  start = pd.Period("2000-01-01", freq="D")
  data = [{"start": start, "target": np.concatenate([h, t]), "item_id": str(i)}
          for i, (h, t) in enumerate(zip(histories, targets))]
  _, test_template = split(data, offset=-targets.shape[1])
  test_data = test_template.generate_instances(prediction_length=targets.shape[1], windows=1)
  keys = [str(x) for x in LEVELS]
  forecasts = [QuantileForecast(q, start_date=label["start"], forecast_keys=keys)
               for q, (_, label) in zip(quantiles, test_data)]
  # seasonality given explicitly: gluonts' get_seasonality does not parse pandas 3 aliases.
  frame = evaluate_forecasts(forecasts, test_data=test_data, axis=None, seasonality=seasonality,
                             metrics=[MASE(), MeanWeightedSumQuantileLoss(LEVELS)])
  return float(frame["MASE[0.5]"].iloc[0]), float(frame["mean_weighted_sum_quantile_loss"].iloc[0])


@pytest.mark.parametrize("seasonality, seed", [(1, 0), (4, 1), (12, 2)])
def test_wql_and_mase_match_gluonts(seasonality, seed):
  histories, targets, quantiles = _random_dataset(seed)
  ref_mase, ref_wql = _gluonts_scores(histories, targets, quantiles, seasonality)
  wql = evaluate.weighted_quantile_loss(targets, quantiles)
  scales = np.array([evaluate.seasonal_error(h, seasonality) for h in histories])
  mase = evaluate.mean_absolute_scaled_error(targets, quantiles[:, 4], scales)
  # Same float64 formulas, different summation order: agreement to ~1e-15 relative.
  assert wql == pytest.approx(ref_wql, rel=1e-12)
  assert mase == pytest.approx(ref_mase, rel=1e-12)


def test_geometric_mean_by_hand():
  assert evaluate.geometric_mean([2.0, 8.0]) == pytest.approx(4.0, rel=1e-15)  # sqrt(16)


def test_metrics_by_hand():
  target = np.array([[1.0, -2.0]])
  quantiles = np.tile(np.array([[0.0, 0.0]]), (9, 1))[None]  # every quantile predicts 0
  # Level q: 2 * (|1 - 0| * q + |-2 - 0| * (1 - q)) / 3 = 2 (2 - q) / 3; mean over q = 1.
  assert evaluate.weighted_quantile_loss(target, quantiles) == pytest.approx(1.0, rel=1e-15)
  assert evaluate.mean_absolute_scaled_error(target, [[0.0, 0.0]], [0.5]) == pytest.approx(3.0)
  assert evaluate.seasonal_error([1.0, 2.0, 4.0, 7.0], 2) == pytest.approx(4.0)  # |4-1|, |7-2|
  assert evaluate.seasonal_error([1.0, 2.0, 4.0], 3) == pytest.approx(1.5)  # m >= len -> m = 1


def test_seasonal_naive_repeats_the_last_season_with_growing_gaussian_spread():
  context = np.array([1.0, 5.0, 3.0, 2.0, 6.0, 4.0, 3.0, 7.0, 5.0])
  q = evaluate.seasonal_naive(context, horizon=7, seasonality=3)
  np.testing.assert_array_equal(q[4], [3.0, 7.0, 5.0, 3.0, 7.0, 5.0, 3.0])  # the median
  residuals = context[3:] - context[:-3]  # all 1: sigma = 1
  sigma = np.sqrt(np.mean(residuals ** 2))
  spread = q[8] - q[4]  # z_0.9 * sigma * sqrt(1 + floor(h / m))
  np.testing.assert_allclose(spread, 1.2815515655446004 * sigma * np.sqrt([1, 1, 1, 2, 2, 2, 3]),
                             rtol=1e-12)
  np.testing.assert_allclose(q[0] + q[8], 2 * q[4], rtol=1e-12)  # symmetric quantiles
  short = evaluate.seasonal_naive([1.0, 2.0, 4.0], horizon=2, seasonality=12)
  np.testing.assert_array_equal(short[4], [4.0, 4.0])  # m >= len: naive (m = 1)


def test_evaluate_plugs_any_forecaster_and_relative_scores():
  tasks = benchmark.real_tasks(["AirPassengers", "Nile"])
  perfect = {t.series: np.tile(t.target, (9, 1)) for t in tasks}
  oracle = evaluate.per_series(lambda context, horizon, m: perfect[_which(tasks, context)])
  rows = evaluate.evaluate(oracle, tasks)
  assert [r["wql"] for r in rows] == [0.0, 0.0] and [r["mase"] for r in rows] == [0.0, 0.0]
  base = evaluate.per_dataset(evaluate.evaluate(evaluate.seasonal_naive_forecaster, tasks))
  half = {d: {"wql": s["wql"] / 2, "mase": s["mase"] * 2} for d, s in base.items()}
  scores = evaluate.relative_scores(half, base)
  assert scores["wql"] == pytest.approx(0.5) and scores["mase"] == pytest.approx(2.0)
  with pytest.raises(ValueError, match="forecaster returned shape"):
    evaluate.evaluate(evaluate.per_series(lambda c, h, m: np.zeros((3, h))), tasks)


def test_evaluate_batches_by_horizon():
  tasks = benchmark.real_tasks(["AirPassengers", "Nile", "nottem", "lynx"])
  calls = []

  def recording(contexts, horizon, seasonalities):
    calls.append((len(contexts), horizon, tuple(seasonalities)))
    return evaluate.seasonal_naive_forecaster(contexts, horizon, seasonalities)

  rows = evaluate.evaluate(recording, tasks)
  assert calls == [(2, 12, (12, 12)), (2, 6, (1, 1))]  # one call per horizon, order kept
  assert [r["series"] for r in rows] == ["AirPassengers", "Nile", "nottem", "lynx"]


def test_model_forecaster_adapts_the_forecast_api(monkeypatch):
  jax = pytest.importorskip("jax")
  from lowrank_ts import forecast
  from lowrank_ts.models import Chronos

  model = object.__new__(Chronos)  # only its type matters: forecast() is stubbed below
  seen = []

  def fake_forecast(model_, batch, horizon, key=None, **kwargs):
    seen.append((batch.shape, horizon, key, kwargs))
    last = batch[:, -1]
    q_BHQ = last[:, None, None] + np.arange(9)[None, None, :] + np.zeros((1, horizon, 1))
    return {"mean": q_BHQ[..., 4], "quantiles": q_BHQ}

  monkeypatch.setattr(forecast, "forecast", fake_forecast)
  tasks = benchmark.real_tasks(["AirPassengers", "Nile", "lynx"])
  rows = evaluate.evaluate(evaluate.model_forecaster(model, seed=3, num_samples=5), tasks)
  for r, t in zip(rows, tasks):  # [N, H, 9] came back as [9, H] per series
    np.testing.assert_array_equal(r["quantiles"], t.context[-1] + np.arange(9)[:, None]
                                  + np.zeros((1, t.horizon)))
  (shape1, h1, key1, kw1), (shape2, h2, key2, kw2) = seen
  assert (shape1, h1, shape2, h2) == ((1, 132), 12, (2, 108), 6)  # left-padded to the longest
  assert kw1 == kw2 == {"num_samples": 5}
  assert not np.array_equal(jax.random.key_data(key1), jax.random.key_data(key2))


def _tiny_chronos():
  flax = pytest.importorskip("flax")
  from lowrank_ts.models import Chronos, ChronosConfig, T5Config

  t5 = T5Config(vocab_size=4096, d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8,
                num_decoder_layers=1)
  return Chronos(ChronosConfig(t5, context_length=32, prediction_length=8, num_samples=4),
                 rngs=flax.nnx.Rngs(0))


@pytest.mark.slow
def test_model_forecaster_with_a_real_chronos_model():
  # ~50 s on 2 shared cores (model init and sampler compilation).
  model = _tiny_chronos()
  tasks = benchmark.real_tasks(["Nile", "lynx"])  # horizon 6 <= prediction_length: one chunk
  rows = evaluate.evaluate(evaluate.model_forecaster(model, seed=0), tasks)
  again = evaluate.evaluate(evaluate.model_forecaster(model, seed=0), tasks)
  for r, s in zip(rows, again):
    assert r["quantiles"].shape == (9, 6) and np.isfinite(r["quantiles"]).all()
    assert np.all(np.diff(r["quantiles"], axis=0) >= 0)  # sample quantiles are ordered
    np.testing.assert_array_equal(r["quantiles"], s["quantiles"])  # same seed, same samples


@pytest.mark.slow
def test_cli_evaluates_a_checkpoint_folder(tmp_path):
  # ~4 min on 2 shared cores: 16 series in 5 horizon groups, each compiling its sampler.
  from lowrank_ts import hf

  folder = hf.save(_tiny_chronos(), tmp_path / "ckpt")
  evaluate.main(["--model", str(folder), "--out", str(tmp_path / "eval"), "--num-samples", "2"])
  with open(tmp_path / "eval" / "per_dataset.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 17 and all(np.isfinite(float(r["relative_wql"])) for r in rows)


def test_posthoc_eps_compresses_before_scoring(tmp_path):
  import flax

  from lowrank_ts import hf
  from lowrank_ts.models import BOLT_CONFIGS, ChronosBolt

  folder = hf.save(ChronosBolt(BOLT_CONFIGS["chronos-bolt-cpu-h16"], rngs=flax.nnx.Rngs(0)),
                   tmp_path / "bolt")
  dense = evaluate.run(str(folder), "real", tmp_path / "dense")
  # Random weights have no singular value below 1e-6 sigma_1: nothing is truncated, and the
  # scores are those of the dense model exactly.
  same = evaluate.run(str(folder), "real", tmp_path / "same", posthoc_eps=1e-6)
  assert same == {**dense, "attention_size_ratio": 1.0}
  cut = evaluate.run(str(folder), "real", tmp_path / "cut", posthoc_eps=0.5)
  assert cut["attention_size_ratio"] < 1.0 and cut["wql"] != dense["wql"]


def _which(tasks, context):
  return next(t.series for t in tasks if t.context is context)


def test_cli_writes_per_series_and_per_dataset_tables(tmp_path):
  evaluate.main(["--model", "seasonal-naive", "--out", str(tmp_path)])
  for name in ("per_series", "per_dataset"):
    assert (tmp_path / f"{name}.csv").exists() and (tmp_path / f"{name}.md").exists()
  with open(tmp_path / "per_series.csv") as f:
    series = list(csv.DictReader(f))
  with open(tmp_path / "per_dataset.csv") as f:
    datasets = list(csv.DictReader(f))
  assert len(series) == 16 and len(datasets) == 17
  assert datasets[-1]["dataset"].startswith("aggregate")
  assert float(datasets[-1]["relative_wql"]) == 1.0  # the baseline against itself
  air = next(r for r in series if r["series"] == "AirPassengers")
  assert float(air["wql"]) == pytest.approx(0.07505, rel=1e-3)  # recorded on the first run


def test_synthetic_benchmark_runs(tmp_path):
  scores = evaluate.run("seasonal-naive", "synthetic", tmp_path)
  assert scores == {"wql": 1.0, "mase": 1.0}
  with open(tmp_path / "per_series.csv") as f:
    assert len(list(csv.DictReader(f))) == 32


@pytest.mark.parametrize("call, name", [
    (lambda: evaluate.weighted_quantile_loss(np.ones((2, 3)), np.ones((2, 8, 3))), "quantiles"),
    (lambda: evaluate.weighted_quantile_loss(np.zeros((1, 3)), np.ones((1, 9, 3))), "target"),
    (lambda: evaluate.weighted_quantile_loss(np.ones(3), np.ones((9, 3)), levels=[1.5]),
     "levels"),
    (lambda: evaluate.mean_absolute_scaled_error(np.ones(3), np.ones(4), 1.0), "median"),
    (lambda: evaluate.mean_absolute_scaled_error(np.ones(3), np.ones(3), 0.0), "seasonal_errors"),
    (lambda: evaluate.seasonal_error([1.0], 1), "history"),
    (lambda: evaluate.seasonal_error([1.0, 2.0], 0), "seasonality"),
    (lambda: evaluate.seasonal_naive([1.0, np.nan], 2, 1), "context"),
    (lambda: evaluate.seasonal_naive([1.0, 2.0], 0, 1), "horizon"),
    (lambda: evaluate.evaluate("naive", benchmark.real_tasks(["Nile"])), "forecaster"),
    (lambda: evaluate.evaluate(evaluate.seasonal_naive_forecaster, []), "tasks"),
    (lambda: evaluate.relative_scores({"a": {"wql": 1, "mase": 1}}, {}), "baseline"),
    (lambda: evaluate.run("chronos", "real", None), "model"),
    (lambda: evaluate.run("seasonal-naive", "real", None, posthoc_eps=0.1), "posthoc_eps"),
    (lambda: evaluate.model_forecaster("chronos"), "model"),
    (lambda: evaluate.per_series(3), "fn"),
    (lambda: evaluate.geometric_mean([1.0, 0.0]), "values"),
    (lambda: evaluate.geometric_mean([]), "values"),
    (lambda: evaluate.geometric_mean("12"), "values"),
    (lambda: benchmark.tasks("m4"), "benchmark"),
])
def test_bad_input_names_the_argument(call, name):
  with pytest.raises(ValueError, match=name):
    call()
