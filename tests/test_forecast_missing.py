"""One bad series never loses the batch: a series with no observed value is forecast as
chronos-forecasting forecasts it (from an empty context), a warning names it, the others are
unchanged, and the CLI exits 0."""

import jax
import numpy as np
import pytest

from lowrank_ts.cli import forecast
from lowrank_ts.inference import forecasting

torch = pytest.importorskip("torch")
pytest.importorskip("chronos")

from lowrank_ts.interop import hf
from lowrank_ts.interop.hf_reference import bolt_checkpoint, chronos_checkpoint
from tests.helpers import max_abs_diff


def _series():
  rng = np.random.default_rng(3)
  observed = (5 + rng.normal(size=40).cumsum()).astype(np.float32)
  empty = np.full(25, np.nan, np.float32)
  return [observed, empty, observed[::-1].copy()]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  chronos = tmp_path_factory.mktemp("chronos")
  chronos_checkpoint(chronos, d_model=48, context_length=64, prediction_length=8)
  bolt = tmp_path_factory.mktemp("bolt")
  bolt_checkpoint(bolt, d_model=48, initializer_factor=0.1, context_length=64,
                  prediction_length=16)
  return {"chronos": chronos, "bolt": bolt}


def _reference(folder, series, **kwargs):
  from chronos import BaseChronosPipeline
  pipeline = BaseChronosPipeline.from_pretrained(folder, dtype=torch.float32)
  return pipeline.predict([torch.tensor(s) for s in series], **kwargs).numpy()


def test_bolt_unobserved_series_matches_reference(folders):
  ref = _reference(folders["bolt"], _series(), prediction_length=12)  # [B, 9, H]
  model = hf.load(folders["bolt"])
  with pytest.warns(forecasting.UnobservedSeriesWarning, match=r"1 series .*\('b'\)"):
    out = forecasting.forecast(model, _series(), 12, names=["a", "b", "c"])
  assert np.isfinite(out["quantiles"]).all()
  # The Bolt pipeline's levels are ours (0.1 ... 0.9): compare every level of every series.
  diff = max_abs_diff(np.moveaxis(out["quantiles"], -1, 1), ref)
  print(f"bolt with an all-NaN series vs pipeline: max-abs-diff {diff:.2e}")
  assert diff <= 1e-4  # the bound of test_forecast.py's Bolt comparison: fp32, values ~10


def test_greedy_chronos_unobserved_series_matches_reference(folders):
  ref = _reference(folders["chronos"], _series(), prediction_length=8, num_samples=2,
                   top_k=1)
  model = hf.load(folders["chronos"])
  with pytest.warns(forecasting.UnobservedSeriesWarning, match=r"\(1\)"):
    out = forecasting.forecast(model, _series(), 8, jax.random.key(0), num_samples=2, top_k=1)
  # Greedy decoding: the same tokens (bin centre x scale 1 for the empty series), so the same
  # values up to fp32 rounding of the bin centres.
  np.testing.assert_allclose(out["quantiles"][..., 4], ref[:, 0], rtol=1e-6)
  np.testing.assert_allclose(out["mean"], ref[:, 0], rtol=1e-6)


def test_other_series_are_unchanged_by_an_unobserved_one(folders):
  model = hf.load(folders["bolt"])
  with pytest.warns(forecasting.UnobservedSeriesWarning):
    together = forecasting.forecast(model, _series(), 5)
  alone = forecasting.forecast(model, [_series()[0], _series()[2]], 5)
  # 1e-5: the same rows in a batch of 3 vs 2 (XLA may block the matmuls differently).
  np.testing.assert_allclose(together["quantiles"][[0, 2]], alone["quantiles"], rtol=1e-5,
                             atol=1e-5)


def test_cli_forecasts_an_all_nan_column(folders, tmp_path, capsys):
  data = tmp_path / "series.csv"
  data.write_text("a,b,c\n1.0,,2\n2.5,,3\n3.0,,2.5\n4.0,,\n")
  out = tmp_path / "forecast.csv"
  assert forecast.main(["--model", str(folders["bolt"]), "--input", str(data), "--horizon", "3",
                        "--quiet", "--out", str(out)]) == 0
  err = capsys.readouterr().err
  assert "warning: 1 series with no observed value ('b')" in err
  lines = out.read_text().splitlines()
  assert len(lines) == 1 + 3 * 3
  rows_b = [line.split(",") for line in lines if line.startswith("b,")]
  assert len(rows_b) == 3 and all(np.isfinite(float(v)) for r in rows_b for v in r[2:])
