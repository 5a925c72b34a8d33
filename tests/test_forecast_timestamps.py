"""Long-format timestamps on a regular grid: a missing timestamp is a missing value (NaN), not a
dropped step; integer timestamps are steps, not nanoseconds; a frequency that does not fit the
data is refused, naming it."""

import warnings

import numpy as np
import pytest

from lowrank_ts.cli import forecast as forecast_cli
from lowrank_ts.inference import dataframe, forecasting
from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, registry

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def bolt():
  return registry.build(BOLT_CONFIGS["chronos-bolt-cpu-h16"], seed=0)


def _daily(days=30, drop=()):
  values = np.sin(np.arange(days) / 3) + 5
  frame = pd.DataFrame({"item_id": "a", "timestamp": pd.date_range("2024-01-01", periods=days),
                        "target": values})
  return frame.drop(index=list(drop)), values


@pytest.mark.parametrize("freq", ["D", None])
def test_missing_days_are_missing_values(bolt, freq):
  frame, values = _daily(drop=[10, 11, 12])
  frame = pd.concat([frame, _daily()[0].assign(item_id="b")])  # b lets "D" be inferred
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    _, series, _ = dataframe.series_from_df(frame, freq=freq)
  # Inferred, "a" has no frequency of its own (its gap): it is placed on b's, and told so.
  assert [str(w.message)[:44] for w in caught] == (
      [] if freq else ["1 series without a frequency of their own (f"])
  expected = values.astype(np.float32)
  expected[10:13] = np.nan
  np.testing.assert_array_equal(series[0], expected)  # 30 steps, not 27
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", dataframe.IrregularSeriesWarning)
    out = dataframe.forecast_df(bolt, frame, 3, freq=freq)
  direct = forecasting.forecast(bolt, [expected, values.astype(np.float32)], 3)
  np.testing.assert_array_equal(out["mean"].to_numpy().reshape(2, 3), direct["mean"])
  assert list(out["timestamp"][:3]) == list(pd.date_range("2024-01-31", periods=3))


def test_integer_timestamps_are_steps_not_nanoseconds(bolt):
  frame, values = _daily(drop=[4])
  frame["timestamp"] = 60 + 5 * frame.index.to_numpy()  # 60, 65, ..., 70 missing
  _, series, future = dataframe.series_from_df(frame)
  expected = values.astype(np.float32)
  expected[4] = np.nan
  np.testing.assert_array_equal(series[0], expected)
  np.testing.assert_array_equal(future(2), [60 + 5 * 30, 60 + 5 * 31])
  out = dataframe.forecast_df(bolt, frame, 2)
  assert out["timestamp"].tolist() == [210, 215]
  with pytest.raises(ValueError, match=r"^freq: column 'timestamp' holds integer steps, not "
                                       r"dates; leave the frequency out"):
    dataframe.series_from_df(frame, freq="D")
  with pytest.raises(ValueError, match=r"^timestamp_column: column 'timestamp' holds numbers, "
                                       r"not timestamps"):
    dataframe.series_from_df(frame.assign(timestamp=frame["timestamp"] + 0.5))


@pytest.mark.parametrize("freq, match", [
    ("MS", (r"^freq: series 'a' has the timestamp 2024-01-02 00:00:00, which is not a step of "
            r"freq 'MS' from its first, 2024-01-01 00:00:00: the frequency does not fit")),
    ("2D", (r"^freq: series 'a' has the timestamp 2024-01-02 00:00:00, which is not a step of "
            r"freq '2D'")),
    ("W-MON", r"^freq: series 'a' has the timestamp 2024-01-02"),  # the first day is a Monday
    ("min", r"^freq: series 'a' spans more than 1000000 steps of 'min'"),
])
def test_a_frequency_that_does_not_fit_the_data_is_refused(freq, match):
  with pytest.raises(ValueError, match=match):
    dataframe.series_from_df(_daily(days=800)[0], freq=freq)


def test_a_series_off_the_inferred_grid_is_refused_naming_it():
  frame = pd.concat([_daily()[0], pd.DataFrame({
      "item_id": "odd", "timestamp": [pd.Timestamp("2024-01-01"),
                                      pd.Timestamp("2024-01-02 12:00")],
      "target": [1.0, 2.0]})])
  with pytest.warns(dataframe.IrregularSeriesWarning), pytest.raises(ValueError, match=r"^freq: series 'odd' has the timestamp 2024-01-02 "
                                       r"12:00:00, which is not a step of the frequency "
                                       r"inferred from the other series 'D'"):
    dataframe.series_from_df(frame)


def test_cli_names_the_flag_and_exits_2_for_a_frequency_that_does_not_fit(bolt, tmp_path,
                                                                        capsys):
  hf.save(bolt, tmp_path / "bolt")
  _daily()[0].to_csv(tmp_path / "daily.csv", index=False)
  with pytest.raises(SystemExit) as exit_info:
    forecast_cli.main(["--model", str(tmp_path / "bolt"), "--input", str(tmp_path / "daily.csv"),
                       "--long", "--freq", "MS", "--horizon", "2", "--out",
                       str(tmp_path / "out.csv")])
  lines = capsys.readouterr().err.strip().splitlines()
  assert exit_info.value.code == 2
  assert len(lines) == 1 and lines[0].startswith(
      "lowrank-ts forecast: error: --freq: series 'a' has the timestamp 2024-01-02"), lines
  assert not (tmp_path / "out.csv").exists()
