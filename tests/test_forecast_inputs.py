"""Forecast helpers without the reference stack: context preparation, Bolt chunks, CSV I/O."""

import numpy as np
import pytest
from flax import nnx

from lowrank_ts.inference import csv_io, forecasting
from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, CHRONOS_CONFIGS, ChronosBolt


def test_prepare_context():
  ragged = forecasting.prepare_context([np.arange(3.0), np.arange(5.0)])
  assert ragged.shape == (2, 5) and np.isnan(ragged[0, :2]).all() and ragged.dtype == np.float32
  assert forecasting.prepare_context(np.arange(4.0)).shape == (1, 4)
  with pytest.raises(ValueError, match="context"):
    forecasting.prepare_context(np.zeros((2, 3, 4)))
  with pytest.raises(ValueError, match="context"):
    forecasting.prepare_context(np.zeros((2, 0)))
  with pytest.raises(ValueError, match="context"):
    forecasting.prepare_context("1,2,3")


@pytest.fixture(scope="module")
def bolt():
  return ChronosBolt(BOLT_CONFIGS["chronos-bolt-cpu"], rngs=nnx.Rngs(0))


def test_bolt_chunked_forecast_continues_the_first_chunk(bolt):
  context = np.sin(np.arange(100) / 5.0).astype(np.float32)[None]
  first = forecasting.predict(bolt, context, 10)
  longer = forecasting.predict(bolt, context, 70)  # 64 + one fed-back chunk
  assert first.shape == (1, 9, 10) and longer.shape == (1, 9, 70)
  np.testing.assert_array_equal(longer[..., :10], first)
  assert np.all(np.diff(longer[..., 64:], axis=1) >= 0)  # re-reduced quantiles stay sorted
  with pytest.raises(ValueError, match="horizon"):
    forecasting.predict(bolt, context, 0)


def test_csv_round_trip_and_errors(tmp_path, bolt):
  path = tmp_path / "in.csv"
  path.write_text("x,y\n,1\n2,\n3,4\n")
  names, values = csv_io.read_wide_csv(path)
  assert names == ["x", "y"]
  np.testing.assert_array_equal(values[0], [np.nan, 2, 3])
  path.write_text("x\n1,2\n")
  with pytest.raises(ValueError, match=r"in\.csv, row 2: 2 cells, but the header names 1 columns"):
    csv_io.read_wide_csv(path)
  path.write_text("")
  with pytest.raises(ValueError, match="header"):
    csv_io.read_wide_csv(path)
  path.write_text("x,y\n")
  with pytest.raises(ValueError, match=r"^input .*in\.csv has a header but no rows of values$"):
    csv_io.read_wide_csv(path)
  result = forecasting.forecast(bolt, values, 3)
  csv_io.write_forecast_csv(tmp_path / "out.csv", names, result)
  lines = (tmp_path / "out.csv").read_text().splitlines()
  assert len(lines) == 7
  # Each row is (name, step, mean, 9 quantiles) of the result, to the 7 digits written.
  assert [line.split(",")[:2] for line in lines[1:]] == [[n, str(h)] for n in names
                                                        for h in (1, 2, 3)]
  table = np.array([[float(v) for v in line.split(",")[2:]] for line in lines[1:]])
  expected = np.concatenate([result["mean"][..., None], result["quantiles"]], -1).reshape(6, 10)
  np.testing.assert_allclose(table, expected, rtol=1e-6)  # 7 significant digits
  with pytest.raises(ValueError, match="names"):
    csv_io.write_forecast_csv(tmp_path / "o.csv", ["x"], result)
  with pytest.raises(ValueError, match="result"):
    csv_io.write_forecast_csv(tmp_path / "o.csv", names, {"mean": 1})


def test_config_json_helpers_reject_bad_input():
  with pytest.raises(ValueError, match="config"):
    hf.config_to_json(CHRONOS_CONFIGS["chronos-t5-cpu"].t5)
  with pytest.raises(ValueError, match="config"):
    hf.dense_config(None)
  with pytest.raises(ValueError, match=r"^t5 must be a T5Config, got NoneType"):
    hf.t5_entries(None)
  with pytest.raises(ValueError, match="config"):
    hf.entries_for("chronos")
  with pytest.raises(ValueError, match=r"^raw must be a dict, got list"):
    hf.config_from_json([])


def test_config_json_round_trip():
  for config in (CHRONOS_CONFIGS["chronos-t5-mini"], BOLT_CONFIGS["chronos-bolt-small"]):
    assert hf.config_from_json(hf.config_to_json(config)) == config


def test_missing_input_file_names_it(tmp_path):
  with pytest.raises(ValueError, match=r"input .*nope\.csv does not exist"):
    csv_io.read_wide_csv(tmp_path / "nope.csv")
