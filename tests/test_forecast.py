"""Forecasts vs chronos-forecasting's pipelines (greedy Chronos, Bolt), and the CLI."""

import jax
import numpy as np
import pytest

from lowrank_ts.cli import forecast
from lowrank_ts.inference import forecasting

torch = pytest.importorskip("torch")
pytest.importorskip("chronos")

from lowrank_ts.interop import hf  # noqa: E402
from lowrank_ts.interop.hf_reference import bolt_checkpoint, chronos_checkpoint  # noqa: E402
from tests.helpers import fp32_tol, rel_diff  # noqa: E402


def _series():
  rng = np.random.default_rng(0)
  long = (5 + rng.normal(size=50).cumsum()).astype(np.float32)
  short = (1 + rng.normal(size=30)).astype(np.float32)
  short[7] = np.nan
  return [long, short]


@pytest.fixture(scope="module")
def chronos_folder(tmp_path_factory):
  folder = tmp_path_factory.mktemp("chronos")
  chronos_checkpoint(folder, d_model=48, context_length=64, prediction_length=8)
  return folder


def test_greedy_chronos_matches_reference_pipeline_with_chunking(chronos_folder):
  from chronos import BaseChronosPipeline
  pipeline = BaseChronosPipeline.from_pretrained(chronos_folder, dtype=torch.float32)
  # horizon 20 > prediction_length 8: two medians fed back, the context outgrows 64.
  ref = pipeline.predict([torch.tensor(s) for s in _series()], prediction_length=20,
                         num_samples=2, top_k=1).numpy()
  ours = forecasting.predict(hf.load(chronos_folder), _series(), 20, jax.random.key(0),
                            num_samples=2, top_k=1)
  assert ours.shape == ref.shape == (2, 2, 20)
  # Greedy decoding: identical tokens, so identical values (bin centre x scale); 1e-6 = 16 ulp
  # for the scale, a mean of |x| summed in another order, and one product.
  np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_chronos_forecast_summary(chronos_folder):
  model = hf.load(chronos_folder)
  result = forecasting.forecast(model, _series(), 5, jax.random.key(1), num_samples=7)
  assert result["mean"].shape == (2, 5) and result["quantiles"].shape == (2, 5, 9)
  assert np.all(np.diff(result["quantiles"], axis=-1) >= 0)
  again = forecasting.forecast(model, _series(), 5, jax.random.key(1), num_samples=7)
  np.testing.assert_array_equal(result["quantiles"], again["quantiles"])
  # The summary is of the sample paths the same key draws: the mean their average, the median
  # their 4th of 7 sorted values, the 0.1 level 0.6 of the way from the 1st to the 2nd.
  paths = np.asarray(forecasting.predict(model, _series(), 5, jax.random.key(1),
                                         num_samples=7), np.float64)
  ordered = np.sort(paths, axis=1)
  # 1e-6: float32 paths averaged in another order (7 terms: a few ulp).
  np.testing.assert_allclose(result["mean"], paths.sum(axis=1) / 7, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(result["quantiles"][..., 4], ordered[:, 3], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(result["quantiles"][..., 0],
                             ordered[:, 0] + 0.6 * (ordered[:, 1] - ordered[:, 0]),
                             rtol=1e-6, atol=1e-6)
  with pytest.raises(ValueError, match=r"^key is required to sample Chronos forecasts"):
    forecasting.forecast(model, _series(), 5)
  with pytest.raises(ValueError, match="horizon"):
    forecasting.predict(model, _series(), 0, jax.random.key(0))
  with pytest.raises(ValueError, match="model must be a Chronos or ChronosBolt"):
    forecasting.forecast(object(), _series(), 3, jax.random.key(0))
  with pytest.raises(ValueError, match="unknown sampling options"):
    forecasting.forecast(model, _series(), 3, jax.random.key(0), top_q=3)
  with pytest.raises(ValueError, match="series"):
    forecasting.forecast(model, [np.zeros(3), np.zeros(0)], 3, jax.random.key(0))


def test_bolt_long_horizon_matches_reference_pipeline(tmp_path):
  from chronos import BaseChronosPipeline
  bolt_checkpoint(tmp_path, d_model=48, context_length=64,
                  prediction_length=16)
  pipeline = BaseChronosPipeline.from_pretrained(tmp_path, dtype=torch.float32)
  # 40 > 16: two rounds of feeding the 9 quantile paths back.
  ref = pipeline.predict([torch.tensor(s) for s in _series()], prediction_length=40).numpy()
  pipeline.model.double()  # the same pipeline in float64: the fp32 round-off to allow
  exact = pipeline.predict([torch.tensor(s).double() for s in _series()],
                           prediction_length=40).numpy()
  model = hf.load(tmp_path)
  ours = forecasting.predict(model, _series(), 40)
  diff, tol = rel_diff(ours, ref), fp32_tol(ref, exact)
  print(f"bolt 40-step forecast vs pipeline: rel-diff {diff:.2e} (tol {tol:.2e})")
  assert diff <= tol  # fp32_tol: 4x the reference's own fp32 round-off (tests/helpers.py)
  result = forecasting.forecast(model, _series(), 40)
  np.testing.assert_array_equal(result["mean"], ours[:, 4])
  with pytest.raises(ValueError, match="sampling arguments"):
    forecasting.forecast(model, _series(), 4, num_samples=3)


def test_cli_end_to_end(chronos_folder, tmp_path, capsys):
  data = tmp_path / "series.csv"
  data.write_text("a,b\n1.0,\n2.5,\n3.0,4.0\n,5.0\n4.5,6.5\n")
  out = tmp_path / "forecast.csv"
  assert forecast.main(["--model", str(chronos_folder), "--input", str(data), "--horizon", "3",
                        "--num-samples", "4", "--seed", "1", "--out", str(out)]) == 0
  lines = out.read_text().splitlines()
  assert lines[0] == "series,step,mean,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"
  assert len(lines) == 1 + 2 * 3 and lines[1].startswith("a,1,") and lines[4].startswith("b,1,")
  # The values are the Python API's forecast of the same series with the same seed.
  series = [np.array([1.0, 2.5, 3.0, np.nan, 4.5]), np.array([np.nan, np.nan, 4.0, 5.0, 6.5])]
  api = forecasting.forecast(hf.load(chronos_folder), series, 3, jax.random.key(1), num_samples=4)
  table = np.array([[float(v) for v in line.split(",")[2:]] for line in lines[1:]])
  expected = np.concatenate([api["mean"].reshape(6, 1), api["quantiles"].reshape(6, 9)], 1)
  np.testing.assert_allclose(table, expected, rtol=1e-6)  # written with 7 significant digits
  # --long: the same series as (item_id, timestamp, target) rows forecasts the same values.
  long = tmp_path / "long.csv"
  rows = [f"{name},2020-01-{t + 1:02d},{'' if np.isnan(v) else v}"
          for name, values in zip("ab", series) for t, v in enumerate(values)]
  long.write_text("item_id,timestamp,target\n" + "\n".join(rows) + "\n")
  out_long = tmp_path / "forecast_long.csv"
  assert forecast.main(["--model", str(chronos_folder), "--input", str(long), "--long",
                        "--horizon", "3", "--num-samples", "4", "--seed", "1",
                        "--out", str(out_long)]) == 0
  long_lines = out_long.read_text().splitlines()
  assert long_lines[0] == "item_id,timestamp,mean,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"
  assert [line.split(",")[:2] for line in long_lines[1:4]] == [
      ["a", "2020-01-06"], ["a", "2020-01-07"], ["a", "2020-01-08"]]  # daily, after the last
  assert [line.split(",")[2:] for line in long_lines[1:]] == [
      line.split(",")[2:] for line in lines[1:]]


@pytest.mark.parametrize("content, extra, match, code", [
    ("a,b\n1,x\n2,3\n", [], "series.csv, column 'b', row 2 holds 'x', which is not a number",
     1),
    ("a,b\n", [], "has a header but no rows of values", 1),
    ("a\n1\n2\n", ["--horizon", "0"], "--horizon must be > 0", 2),
])
def test_cli_errors(chronos_folder, tmp_path, capsys, content, extra, match, code):
  data = tmp_path / "series.csv"
  data.write_text(content)
  args = ["--model", str(chronos_folder), "--input", str(data), "--out",
          str(tmp_path / "o.csv")]
  args += extra or ["--horizon", "2"]
  with pytest.raises(SystemExit) as exit_:
    forecast.main(args)
  assert exit_.value.code == code  # 1: bad data in a file, 2: a bad argument
  err = capsys.readouterr().err
  assert match in err and len(err.strip().splitlines()) == 1  # one line, no traceback
