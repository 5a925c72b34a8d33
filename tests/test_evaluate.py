"""Tests for lowrank_ts.evaluation and its CLI lowrank-ts evaluate: WQL and MASE vs gluonts
(test-only dependency) on random forecasts, Seasonal Naive, the relative score, the forecaster
plug, the CLI tables and its errors, bad input."""

import csv

import numpy as np
import pytest

from lowrank_ts import evaluation
from lowrank_ts.cli import evaluate
from lowrank_ts.data import benchmark
from lowrank_ts.models.config import QUANTILE_LEVELS

LEVELS = QUANTILE_LEVELS


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
  wql = evaluation.weighted_quantile_loss(targets, quantiles)
  scales = np.array([evaluation.seasonal_error(h, seasonality) for h in histories])
  mase = evaluation.mean_absolute_scaled_error(targets, quantiles[:, 4], scales)
  # Same float64 formulas, different summation order: agreement to ~1e-15 relative.
  assert wql == pytest.approx(ref_wql, rel=1e-12)
  assert mase == pytest.approx(ref_mase, rel=1e-12)


def _gluonts_sql_per_series(histories, targets, quantiles, seasonality):
  """gluonts' AverageMeanScaledQuantileLoss of each series (axis=1: one value per item)."""
  pd = pytest.importorskip("pandas")
  pytest.importorskip("gluonts")
  from gluonts.dataset.split import split
  from gluonts.ev.metrics import AverageMeanScaledQuantileLoss
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
  frame = evaluate_forecasts(forecasts, test_data=test_data, axis=1, seasonality=seasonality,
                             metrics=[AverageMeanScaledQuantileLoss(LEVELS)])
  return frame.iloc[:, 0].to_numpy(np.float64)


@pytest.mark.parametrize("seasonality, seed", [(1, 0), (12, 2)])
def test_scaled_quantile_loss_matches_gluonts_series_by_series(seasonality, seed):
  histories, targets, quantiles = _random_dataset(seed)
  ref = _gluonts_sql_per_series(histories, targets, quantiles, seasonality)
  scales = np.array([evaluation.seasonal_error(h, seasonality) for h in histories])
  got = evaluation.scaled_quantile_loss(targets, quantiles, scales)
  assert got.shape == (len(histories),)
  # Same float64 formula, different summation order: agreement to ~1e-15 relative.
  np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_geometric_mean_by_hand():
  assert evaluation.geometric_mean([2.0, 8.0]) == pytest.approx(4.0, rel=1e-15)  # sqrt(16)


def test_metrics_by_hand():
  target = np.array([[1.0, -2.0]])
  quantiles = np.tile(np.array([[0.0, 0.0]]), (9, 1))[None]  # every quantile predicts 0
  # Level q: 2 * (|1 - 0| * q + |-2 - 0| * (1 - q)) / 3 = 2 (2 - q) / 3; mean over q = 1.
  assert evaluation.weighted_quantile_loss(target, quantiles) == pytest.approx(1.0, rel=1e-15)
  assert evaluation.mean_absolute_scaled_error(target, [[0.0, 0.0]], [0.5]) == pytest.approx(3.0)
  assert evaluation.seasonal_error([1.0, 2.0, 4.0, 7.0], 2) == pytest.approx(4.0)  # |4-1|, |7-2|
  # SQL: level q loses 2 q |1| + 2 (1 - q) |-2| = 4 - 2 q over the two steps, mean over steps
  # 2 - q, mean over levels 1.5; divided by the seasonal error 0.5: 3.
  np.testing.assert_allclose(evaluation.scaled_quantile_loss(target, quantiles, [0.5]), [3.0])
  assert evaluation.seasonal_error([1.0, 2.0, 4.0], 3) == pytest.approx(1.5)  # m >= len -> m = 1


def test_seasonal_naive_repeats_the_last_season_with_growing_gaussian_spread():
  context = np.array([1.0, 5.0, 3.0, 2.0, 6.0, 4.0, 3.0, 7.0, 5.0])
  q = evaluation.seasonal_naive(context, horizon=7, seasonality=3)
  np.testing.assert_array_equal(q[4], [3.0, 7.0, 5.0, 3.0, 7.0, 5.0, 3.0])  # the median
  residuals = context[3:] - context[:-3]  # all 1: sigma = 1
  sigma = np.sqrt(np.mean(residuals ** 2))
  spread = q[8] - q[4]  # z_0.9 * sigma * sqrt(1 + floor(h / m))
  np.testing.assert_allclose(spread, 1.2815515655446004 * sigma * np.sqrt([1, 1, 1, 2, 2, 2, 3]),
                             rtol=1e-12)
  np.testing.assert_allclose(q[0] + q[8], 2 * q[4], rtol=1e-12)  # symmetric quantiles
  short = evaluation.seasonal_naive([1.0, 2.0, 4.0], horizon=2, seasonality=12)
  np.testing.assert_array_equal(short[4], [4.0, 4.0])  # m >= len: naive (m = 1)


def test_evaluate_plugs_any_forecaster_and_relative_scores():
  tasks = benchmark.real_tasks(["AirPassengers", "Nile"])
  perfect = {t.series: np.tile(t.target, (9, 1)) for t in tasks}
  oracle = evaluation.per_series(lambda context, horizon, m: perfect[_which(tasks, context)])
  rows = evaluation.evaluate(oracle, tasks)
  assert [r["wql"] for r in rows] == [0.0, 0.0] and [r["mase"] for r in rows] == [0.0, 0.0]
  base = evaluation.per_dataset(evaluation.evaluate(evaluation.seasonal_naive_forecaster, tasks))
  half = {d: {"wql": s["wql"] / 2, "mase": s["mase"] * 2} for d, s in base.items()}
  scores = evaluation.relative_scores(half, base)
  assert scores["wql"] == pytest.approx(0.5) and scores["mase"] == pytest.approx(2.0)
  with pytest.raises(ValueError, match="forecaster returned shape"):
    evaluation.evaluate(evaluation.per_series(lambda c, h, m: np.zeros((3, h))), tasks)


def test_evaluate_batches_by_horizon():
  tasks = benchmark.real_tasks(["AirPassengers", "Nile", "nottem", "lynx"])
  calls = []

  def recording(contexts, horizon, seasonalities):
    calls.append((len(contexts), horizon, tuple(seasonalities)))
    return evaluation.seasonal_naive_forecaster(contexts, horizon, seasonalities)

  rows = evaluation.evaluate(recording, tasks)
  assert calls == [(2, 12, (12, 12)), (2, 6, (1, 1))]  # one call per horizon, order kept
  assert [r["series"] for r in rows] == ["AirPassengers", "Nile", "nottem", "lynx"]


def test_model_forecaster_adapts_the_forecast_api(monkeypatch):
  jax = pytest.importorskip("jax")
  from lowrank_ts.inference import forecasting
  from lowrank_ts.models import Chronos

  model = object.__new__(Chronos)  # only its type matters: forecast() is stubbed below
  seen = []

  def fake_forecast(model_, batch, horizon, key=None, **kwargs):
    seen.append((batch.shape, horizon, key, kwargs))
    last = batch[:, -1]
    q_BHQ = last[:, None, None] + np.arange(9)[None, None, :] + np.zeros((1, horizon, 1))
    return {"mean": q_BHQ[..., 4], "quantiles": q_BHQ}

  monkeypatch.setattr(forecasting, "forecast", fake_forecast)
  tasks = benchmark.real_tasks(["AirPassengers", "Nile", "lynx"])
  rows = evaluation.evaluate(evaluation.model_forecaster(model, seed=3, num_samples=5), tasks)
  for r, t in zip(rows, tasks):  # [N, H, 9] came back as [9, H] per series
    np.testing.assert_array_equal(r["quantiles"], t.context[-1] + np.arange(9)[:, None]
                                  + np.zeros((1, t.horizon)))
  (shape1, h1, key1, kw1), (shape2, h2, key2, kw2) = seen
  assert (shape1, h1, shape2, h2) == ((1, 132), 12, (2, 108), 6)  # left-padded to the longest
  assert kw1 == kw2 == {"num_samples": 5}
  assert not np.array_equal(jax.random.key_data(key1), jax.random.key_data(key2))
  # The key is fold_in(key(seed), call); num_samples is passed only when given.
  seen.clear()
  evaluation.evaluate(evaluation.model_forecaster(model, seed=3), tasks)
  (_, _, again1, kw1), (_, _, again2, kw2) = seen
  assert kw1 == kw2 == {}
  for call, key in enumerate((again1, again2)):
    expected = jax.random.fold_in(jax.random.key(3), call)
    np.testing.assert_array_equal(jax.random.key_data(key), jax.random.key_data(expected))


def _tiny_chronos():
  from lowrank_ts.models import ChronosConfig, T5Config, registry

  t5 = T5Config(vocab_size=4096, d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8,
                num_decoder_layers=1)
  return registry.build(ChronosConfig(t5, context_length=32, prediction_length=8,
                                      num_samples=4))


@pytest.fixture(scope="module")
def bolt_folder(tmp_path_factory):
  """A random Chronos-Bolt checkpoint folder (CPU-sized)."""
  from lowrank_ts.interop import hf
  from lowrank_ts.models import BOLT_CONFIGS, registry

  model = registry.build(BOLT_CONFIGS["chronos-bolt-cpu-h16"])
  return hf.save(model, tmp_path_factory.mktemp("bolt") / "ckpt")


def test_model_forecaster_keys_leave_bolt_unchanged(bolt_folder):
  # Bolt is deterministic: the key every call now gets changes nothing against the former
  # keyless call, and a sampling option is refused (not silently ignored).
  from lowrank_ts.inference import forecasting
  from lowrank_ts.interop import hf

  model = hf.load(bolt_folder)
  tasks = benchmark.real_tasks(["AirPassengers", "Nile", "lynx"])
  rows = evaluation.evaluate(evaluation.model_forecaster(model, seed=7), tasks)
  for horizon in dict.fromkeys(t.horizon for t in tasks):
    group = [i for i, t in enumerate(tasks) if t.horizon == horizon]
    keyless = forecasting.forecast(model, [tasks[i].context.astype(np.float32) for i in group],
                                   horizon)
    for i, q_HQ in zip(group, keyless["quantiles"]):
      np.testing.assert_array_equal(rows[i]["quantiles"], q_HQ.T.astype(np.float64))
  with pytest.raises(ValueError, match="num_samples"):
    evaluation.evaluate(evaluation.model_forecaster(model, num_samples=2), tasks)


@pytest.mark.slow
def test_model_forecaster_with_a_real_chronos_model():
  # ~50 s on 2 cores (model init and sampler compilation).
  model = _tiny_chronos()
  tasks = benchmark.real_tasks(["Nile", "lynx"])  # horizon 6 <= prediction_length: one chunk
  rows = evaluation.evaluate(evaluation.model_forecaster(model, seed=0), tasks)
  again = evaluation.evaluate(evaluation.model_forecaster(model, seed=0), tasks)
  for r, s in zip(rows, again):
    assert r["quantiles"].shape == (9, 6) and np.isfinite(r["quantiles"]).all()
    assert np.all(np.diff(r["quantiles"], axis=0) >= 0)  # sample quantiles are ordered
    np.testing.assert_array_equal(r["quantiles"], s["quantiles"])  # same seed, same samples


@pytest.mark.slow
def test_cli_evaluates_a_checkpoint_folder(tmp_path):
  # ~4 min on 2 cores: 16 series in 5 horizon groups, each compiling its sampler.
  from lowrank_ts.interop import hf

  folder = hf.save(_tiny_chronos(), tmp_path / "ckpt")
  evaluate.main(["--model", str(folder), "--out", str(tmp_path / "eval"), "--num-samples", "2"])
  with open(tmp_path / "eval" / "per_dataset.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 17 and all(np.isfinite(float(r["relative_wql"])) for r in rows)


@pytest.mark.slow  # over 15 s: CI's second step
def test_posthoc_eps_compresses_before_scoring(tmp_path, bolt_folder):
  folder = bolt_folder
  dense = evaluation.run(str(folder), "real", tmp_path / "dense")
  # Random weights have no singular value below 1e-6 sigma_1: nothing is truncated, and the
  # scores are those of the dense model exactly.
  same = evaluation.run(str(folder), "real", tmp_path / "same", posthoc_eps=1e-6)
  assert same == {**dense, "attention_size_ratio": 1.0}
  cut = evaluation.run(str(folder), "real", tmp_path / "cut", posthoc_eps=0.5)
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
  # 1e-12: both are float64 (the CSV keeps repr precision); only the summation order differs.
  assert float(air["wql"]) == pytest.approx(_airpassengers_wql_by_hand(), rel=1e-12)


def _airpassengers_wql_by_hand() -> float:
  """Seasonal Naive's WQL on AirPassengers' last 12 months, from numpy and the stdlib alone:
  last season repeated, Gaussian quantiles with the seasonal residual RMS, the pinball sums."""
  import statistics

  from lowrank_ts.data import real_series

  values = real_series.load(["AirPassengers"])[0].values
  history, target = values[:-12], values[-12:]
  point = history[-12:]
  sigma = np.sqrt(np.mean((history[12:] - history[:-12]) ** 2))
  losses = []
  for q in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
    pred = point + statistics.NormalDist().inv_cdf(q) * sigma  # h <= m: spread factor 1
    losses.append(2 * np.sum(np.maximum(q * (target - pred), (q - 1) * (target - pred))))
  return float(np.mean(losses) / np.sum(np.abs(target)))


def test_synthetic_benchmark_runs(tmp_path):
  scores = evaluation.run("seasonal-naive", "synthetic", tmp_path)
  assert scores == {"wql": 1.0, "mase": 1.0}
  with open(tmp_path / "per_series.csv") as f:
    assert len(list(csv.DictReader(f))) == 32


def _cli_error(capsys, argv):
  """The exit code and the stderr lines of ``lowrank-ts evaluate`` failing on argv."""
  with pytest.raises(SystemExit) as exit_info:
    evaluate.main(argv)
  return exit_info.value.code, capsys.readouterr().err.splitlines()


def test_cli_missing_model_folder_is_a_usage_error(tmp_path, capsys):
  # A --model that names nothing is a bad argument (exit 2) for every command line
  # (lowrank_ts.interop.resolve); a checkpoint that cannot be read is bad data (exit 1, below).
  missing = tmp_path / "no-such-checkpoint"
  code, lines = _cli_error(capsys, ["--model", str(missing), "--out", str(tmp_path / "eval")])
  assert code == 2 and len(lines) == 1 and "no such folder" in lines[0]
  assert lines[0].startswith("lowrank-ts evaluate: error: ") and str(missing) in lines[0]
  assert not (tmp_path / "eval").exists()


def test_cli_corrupt_checkpoint_is_a_data_error_naming_the_file(tmp_path, capsys, bolt_folder):
  import shutil

  folder = shutil.copytree(bolt_folder, tmp_path / "bolt")
  weights = folder / "model.safetensors"
  weights.write_bytes(weights.read_bytes()[:1000])  # truncated
  code, lines = _cli_error(capsys, ["--model", str(folder), "--out", str(tmp_path / "eval")])
  assert code == 1 and len(lines) == 1 and str(weights) in lines[0]


def test_cli_num_samples_with_bolt_is_a_usage_error(tmp_path, capsys, bolt_folder):
  code, lines = _cli_error(capsys, ["--model", str(bolt_folder), "--num-samples", "4",
                                    "--out", str(tmp_path / "eval")])
  assert code == 2 and len(lines) == 1 and "num_samples" in lines[0]
  assert "Chronos-Bolt" in lines[0] and not (tmp_path / "eval").exists()


@pytest.mark.parametrize("argv, name", [
    (["--model", "seasonal-naive", "--posthoc-eps", "0.1"], "--posthoc-eps"),
    (["--model", "seasonal-naive", "--seed", "-1"], "--seed"),
    (["--model", "seasonal-naive", "--num-samples", "0"], "--num-samples"),
])
def test_cli_bad_arguments_are_usage_errors_naming_them(tmp_path, capsys, argv, name):
  code, lines = _cli_error(capsys, [*argv, "--out", str(tmp_path / "eval")])
  assert code == 2 and len(lines) == 1 and name in lines[0]
  assert not (tmp_path / "eval").exists()


def test_cli_posthoc_eps_out_of_range_is_a_usage_error(tmp_path, capsys, bolt_folder):
  code, lines = _cli_error(capsys, ["--model", str(bolt_folder), "--posthoc-eps", "1.5",
                                    "--out", str(tmp_path / "eval")])
  assert code == 2 and len(lines) == 1 and "--posthoc-eps" in lines[0]


@pytest.mark.parametrize("call, name", [
    (lambda: evaluation.weighted_quantile_loss(np.ones((2, 3)), np.ones((2, 8, 3))), "quantiles"),
    (lambda: evaluation.weighted_quantile_loss(np.zeros((1, 3)), np.ones((1, 9, 3))), "target"),
    (lambda: evaluation.weighted_quantile_loss(np.ones(3), np.ones((9, 3)), levels=[1.5]),
     "levels"),
    (lambda: evaluation.mean_absolute_scaled_error(np.ones(3), np.ones(4), 1.0), "median"),
    (lambda: evaluation.mean_absolute_scaled_error(np.ones(3), np.ones(3), 0.0), "seasonal_errors"),
    (lambda: evaluation.seasonal_error([1.0], 1), "history"),
    (lambda: evaluation.seasonal_error([1.0, 2.0], 0), "seasonality"),
    (lambda: evaluation.seasonal_naive([1.0, np.nan], 2, 1), "context"),
    (lambda: evaluation.seasonal_naive([1.0, 2.0], 0, 1), "horizon"),
    (lambda: evaluation.evaluate("naive", benchmark.real_tasks(["Nile"])), "forecaster"),
    (lambda: evaluation.evaluate(evaluation.seasonal_naive_forecaster, []), "tasks"),
    (lambda: evaluation.relative_scores({"a": {"wql": 1, "mase": 1}}, {}), "baseline"),
    (lambda: evaluation.run("chronos", "real", None), "model"),
    (lambda: evaluation.run("seasonal-naive", "real", None, posthoc_eps=0.1), "posthoc_eps"),
    (lambda: evaluation.model_forecaster("chronos"), "model"),
    (lambda: evaluation.per_series(3), r"^fn must be callable, got int"),
    (lambda: evaluation.geometric_mean([1.0, 0.0]), "values"),
    (lambda: evaluation.geometric_mean([]), "values"),
    (lambda: evaluation.geometric_mean("12"), "values"),
    (lambda: benchmark.tasks("m4"), "benchmark"),
])
def test_bad_input_names_the_argument(call, name):
  with pytest.raises(ValueError, match=name):
    call()
