"""The pandas API (lowrank_ts.inference.dataframe) and the CLI's --long format: long frames in,
forecast frames with future timestamps, mean and quantile columns out."""

import sys

import numpy as np
import pytest

from lowrank_ts.cli import forecast as forecast_cli
from lowrank_ts.inference import dataframe, forecasting
from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, registry

pd = pytest.importorskip("pandas")

COLUMNS = ["item_id", "timestamp", "mean", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7",
           "0.8", "0.9"]


@pytest.fixture(scope="module")
def bolt():
  return registry.build(BOLT_CONFIGS["chronos-bolt-cpu"], seed=0)


def _long_frame(seed=0):
  """Three daily items of different lengths and ends, rows shuffled, one value missing."""
  rng = np.random.default_rng(seed)
  parts = []
  for item, length, end in (("x", 30, "2024-03-05"), ("y", 20, "2024-02-28"),
                            ("z", 25, "2024-03-01")):
    stamps = pd.date_range(end=end, periods=length, freq="D")
    values = 10 + rng.normal(size=length).cumsum()
    parts.append(pd.DataFrame({"item_id": item, "timestamp": stamps, "target": values,
                               "other": 1}))
  frame = pd.concat(parts, ignore_index=True)
  frame.loc[3, "target"] = np.nan
  return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_forecast_frame_layout_timestamps_and_values(bolt):
  frame = _long_frame()
  out = dataframe.forecast_df(bolt, frame, 4)
  assert list(out.columns) == COLUMNS and len(out) == 3 * 4
  order = list(pd.unique(frame["item_id"]))  # first appearance in the (shuffled) frame
  assert list(out["item_id"][::4]) == order
  for item in order:
    rows = out[out["item_id"] == item]
    last = frame.loc[frame["item_id"] == item, "timestamp"].max()
    expected = pd.date_range(last + pd.Timedelta(days=1), periods=4, freq="D")
    assert list(rows["timestamp"]) == list(expected)
  # The values are forecast() of each item's targets in time order.
  series = [frame[frame["item_id"] == i].sort_values("timestamp")["target"].to_numpy(np.float32)
            for i in order]
  direct = forecasting.forecast(bolt, series, 4)
  np.testing.assert_array_equal(out["mean"].to_numpy().reshape(3, 4), direct["mean"])
  np.testing.assert_array_equal(out["0.9"].to_numpy().reshape(3, 4), direct["quantiles"][..., 8])


def test_month_start_frequency_is_inferred(bolt):
  frame = pd.DataFrame({"item_id": "m", "timestamp": pd.date_range("2023-01-01", periods=14,
                                                                    freq="MS"),
                        "target": np.arange(14.0)})
  out = dataframe.forecast_df(bolt, frame, 3)
  assert list(out["timestamp"]) == list(pd.to_datetime(["2024-03-01", "2024-04-01",
                                                         "2024-05-01"]))


def test_irregular_or_short_series_are_forecast_at_the_shared_frequency(bolt):
  frame = _long_frame()
  odd = pd.DataFrame({"item_id": ["odd"] * 3 + ["short"] * 2,
                      "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-07",
                                                   "2024-01-01", "2024-01-02"]),
                      "target": [1.0, 2.0, 3.0, 4.0, 5.0]})
  with pytest.warns(dataframe.IrregularSeriesWarning, match=r"2 series .*'odd', 'short'"):
    out = dataframe.forecast_df(bolt, pd.concat([frame, odd]), 2)
  rows = out[out["item_id"] == "odd"]
  assert list(rows["timestamp"]) == list(pd.to_datetime(["2024-01-08", "2024-01-09"]))
  assert np.isfinite(rows["mean"]).all()


def test_unobserved_item_is_named_and_forecast(bolt):
  frame = _long_frame()
  frame.loc[frame["item_id"] == "y", "target"] = np.nan
  with pytest.warns(forecasting.UnobservedSeriesWarning, match=r"\('y'\)"):
    out = dataframe.forecast_df(bolt, frame, 2)
  assert np.isfinite(out.loc[out["item_id"] == "y", COLUMNS[2:]].to_numpy()).all()


def test_without_timestamps_rows_are_in_order(bolt):
  frame = pd.DataFrame({"series": ["b", "a", "a", "b", "a"], "value": [4, 1, np.nan, 5, 3]})
  out = dataframe.forecast_df(bolt, frame, 2, id_column="series", timestamp_column=None,
                              target="value")
  assert list(out.columns[:3]) == ["series", "step", "mean"]
  assert list(out["series"]) == ["b", "b", "a", "a"] and list(out["step"]) == [1, 2, 1, 2]
  direct = forecasting.forecast(bolt, [np.float32([4, 5]), np.float32([1, np.nan, 3])], 2)
  np.testing.assert_array_equal(out["mean"].to_numpy().reshape(2, 2), direct["mean"])


@pytest.mark.parametrize("change, kwargs, match", [
    (lambda f: f.drop(columns="target"), {}, r"^target: df has no column 'target'"),
    (lambda f: f, {"id_column": "id"}, r"^id_column: df has no column 'id'"),
    (lambda f: f, {"timestamp_column": "time"}, r"^timestamp_column: df has no column"),
    (lambda f: f.assign(target="x"), {}, r"^target: column 'target' row 0 holds 'x', which is not a number"),
    (lambda f: f.assign(timestamp="soon"), {}, r"^timestamp_column: .* does not hold"),
    (lambda f: pd.concat([f, f.iloc[:1]]), {}, r"^timestamp_column: series '\w' has two rows"),
    (lambda f: f.iloc[:0], {}, r"^df has no rows"),
    (lambda f: f, {"freq": "fortnightly"}, r"^freq must be a pandas frequency"),
])
def test_bad_frames_name_the_argument(bolt, change, kwargs, match):
  with pytest.raises(ValueError, match=match):
    dataframe.forecast_df(bolt, change(_long_frame()), 2, **kwargs)


def test_frequencies_must_agree_or_be_given(bolt):
  frame = _long_frame()
  hourly = pd.DataFrame({"item_id": "h", "timestamp": pd.date_range("2024-01-01", periods=5,
                                                                     freq="h"),
                         "target": np.arange(5.0)})
  with pytest.raises(ValueError, match=r"^freq: series have different frequencies"):
    dataframe.forecast_df(bolt, pd.concat([frame, hourly]), 2)
  with pytest.raises(ValueError, match=r"^freq: no series has 3 .* pass freq"):
    dataframe.forecast_df(bolt, hourly.iloc[:2], 2)
  out = dataframe.forecast_df(bolt, hourly.iloc[:2], 2, freq="h")
  assert list(out["timestamp"]) == list(pd.to_datetime(["2024-01-01 02:00",
                                                         "2024-01-01 03:00"]))
  with pytest.raises(ValueError, match=r"^df must be a pandas DataFrame"):
    dataframe.forecast_df(bolt, {"item_id": [1]}, 2)


def test_missing_pandas_is_a_clear_error(bolt, monkeypatch):
  monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
  with pytest.raises(ImportError, match="needs pandas, which is not installed"):
    dataframe.forecast_df(bolt, None, 2)


def test_cli_long_format(bolt, tmp_path, capsys):
  folder = tmp_path / "bolt"
  hf.save(bolt, folder)
  frame = _long_frame()
  frame.to_csv(tmp_path / "long.csv", index=False)
  out = tmp_path / "out.csv"
  assert forecast_cli.main(["--model", str(folder), "--input", str(tmp_path / "long.csv"),
                            "--long", "--horizon", "3", "--quiet", "--out", str(out)]) == 0
  written = pd.read_csv(out, parse_dates=["timestamp"])
  expected = dataframe.forecast_df(hf.load(folder), frame, 3)
  assert list(written.columns) == COLUMNS
  assert list(written["timestamp"]) == list(expected["timestamp"])
  # The CSV holds 7 significant digits.
  np.testing.assert_allclose(written[COLUMNS[2:]].to_numpy(), expected[COLUMNS[2:]].to_numpy(),
                             rtol=1e-6)
  (tmp_path / "old.csv").write_text("series,value\na,1\na,2\nb,5\n")
  assert forecast_cli.main(["--model", str(folder), "--input", str(tmp_path / "old.csv"),
                            "--long", "--id-column", "series", "--target-column", "value",
                            "--timestamp-column", "", "--horizon", "2", "--quiet",
                            "--out", str(out)]) == 0
  assert out.read_text().splitlines()[0].startswith("series,step,mean,0.1")
  with pytest.raises(SystemExit) as exc:
    forecast_cli.main(["--model", str(folder), "--input", str(tmp_path / "old.csv"), "--long",
                       "--horizon", "2", "--out", str(out)])
  assert exc.value.code == 1
  assert "error: --id-column: input " in capsys.readouterr().err  # the flag's name
