"""Batched forecasting (lowrank_ts.inference.batching through forecasting.forecast): fixed-shape
batches compile once, equal the unbatched forecast, show a progress bar; the CLI's
--batch-size and --plot."""

import jax
import numpy as np
import pytest

from lowrank_ts.cli import forecast as forecast_cli
from lowrank_ts.inference import batching, csv_io, forecasting, programs
from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, CHRONOS_CONFIGS, registry


@pytest.fixture(scope="module")
def bolt():
  return registry.build(BOLT_CONFIGS["chronos-bolt-cpu"], seed=0)


@pytest.fixture(scope="module")
def chronos():
  return registry.build(CHRONOS_CONFIGS["chronos-t5-cpu"], seed=0)


def _ragged(num_series, longest, seed=0):
  rng = np.random.default_rng(seed)
  lengths = rng.integers(longest // 2, longest + 1, size=num_series)
  lengths[0] = longest
  return [(20 + rng.normal(size=n).cumsum()).astype(np.float32) for n in lengths]


def test_batch_plan_and_padding():
  assert batching.batch_rows(10, 4) == 4
  assert batching.batch_rows(3, 64) == 3  # a small input is not padded up to the batch
  assert batching.batch_rows(10, None) == 10
  assert batching.batch_rows(10, 3, multiple=4) == 4 and batching.batch_rows(5, None, 8) == 8
  rows = [np.float32([1, 2, 3]), np.float32([4]), np.float32([5, 6, 7, 8, 9])]
  assert batching.window_length(rows, 4) == 4 and batching.window_length(rows, 64) == 5
  batch = batching.padded_batch(rows, 1, 3, 4)
  np.testing.assert_array_equal(batch[0], [np.nan, np.nan, np.nan, 4])
  np.testing.assert_array_equal(batch[1], [6, 7, 8, 9])  # its last 4 values
  assert np.isnan(batch[2]).all()  # filler row past the last series
  with pytest.raises(ValueError, match="batch_size"):
    batching.batch_rows(3, 0)
  with pytest.raises(ValueError, match="context series 1"):
    batching.series_rows([np.zeros(2), np.zeros((2, 2))])


def test_bolt_batches_compile_once_and_equal_one_call(bolt, capsys):
  series = _ragged(10, 41)  # a length no other test uses: the first batch must compile
  whole = forecasting.forecast(bolt, series, 7)
  before = programs._apply._cache_size()
  batched = forecasting.forecast(bolt, series, 7, batch_size=4, progress=True)
  # Batches of 4, 4 and 2 + 2 filler rows: one program for all three.
  assert programs._apply._cache_size() == before + 1
  assert "10/10" in capsys.readouterr().err  # the progress bar counted every series
  # 1e-5: the same rows in batches of 4 vs 10 (XLA may block the matmuls differently).
  np.testing.assert_allclose(batched["quantiles"], whole["quantiles"], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(batched["mean"], whole["mean"], rtol=1e-5, atol=1e-5)
  quiet = forecasting.forecast(bolt, series, 7, batch_size=4)
  assert capsys.readouterr().err == ""
  np.testing.assert_array_equal(quiet["quantiles"], batched["quantiles"])


def test_greedy_chronos_batches_compile_once_and_equal_one_call(chronos):
  series = _ragged(5, 29, seed=1)
  options = dict(num_samples=2, top_k=1)
  whole = forecasting.forecast(chronos, series, 6, jax.random.key(0), **options)
  before = programs._apply._cache_size()
  batched = forecasting.forecast(chronos, series, 6, jax.random.key(0), batch_size=2,
                                 **options)
  assert programs._apply._cache_size() == before + 1  # batches 2, 2, 1 + 1 filler
  # Greedy: the same tokens; 1e-6 for the per-row fp32 mean scale in a batch of 2 vs 5.
  np.testing.assert_allclose(batched["quantiles"], whole["quantiles"], rtol=1e-6)


def test_sampled_batches_use_their_own_keys(chronos):
  """Batch b samples with fold_in(key, b): its rows are those of a single call on that batch
  (filled up to the batch shape) with that key."""
  series = _ragged(3, 20, seed=2)
  key = jax.random.key(5)
  batched = forecasting.forecast(chronos, series, 4, key, batch_size=2, num_samples=3)
  second = batching.padded_batch(series, 2, 2, 20)
  with pytest.warns(forecasting.UnobservedSeriesWarning):  # the filler row
    alone = forecasting.forecast(chronos, second, 4, jax.random.fold_in(key, 1), num_samples=3)
  np.testing.assert_array_equal(batched["quantiles"][2], alone["quantiles"][0])


def test_cli_batches_and_plot(bolt, tmp_path):
  folder = tmp_path / "bolt"
  hf.save(bolt, folder)
  data = tmp_path / "series.csv"
  data.write_text("a,b,c\n1,5,\n2,4,7\n3,,8\n4,6,9\n")
  out, png = tmp_path / "out.csv", tmp_path / "fan.png"
  assert forecast_cli.main(["--model", str(folder), "--input", str(data), "--horizon", "4",
                            "--batch-size", "2", "--quiet", "--plot", str(png),
                            "--plot-series", "2", "--out", str(out)]) == 0
  assert png.read_bytes()[:4] == b"\x89PNG"
  _, context = csv_io.read_wide_csv(data)
  expected = forecasting.forecast(hf.load(folder), context, 4)
  written = np.loadtxt(out, delimiter=",", skiprows=1, usecols=range(2, 12))
  # 7 significant digits in the CSV; 1e-5 also covers batches of 2 vs 3 (see above).
  np.testing.assert_allclose(written[:, 1:].reshape(3, 4, 9), expected["quantiles"], rtol=1e-5,
                             atol=1e-5)
  for bad, match in ((["--batch-size", "0"], "--batch-size must be > 0"),
                     (["--plot", "fan.pdf"], "--plot must name a .png file")):
    with pytest.raises(SystemExit) as exc:
      forecast_cli.main(["--model", str(folder), "--input", str(data), "--horizon", "2",
                         "--out", str(out), *bad])
    assert exc.value.code == 2, match


def test_bad_arguments_name_themselves(bolt):
  series = _ragged(2, 41)
  with pytest.raises(ValueError, match=r"^mesh must be a jax.sharding.Mesh"):
    forecasting.forecast(bolt, series, 2, mesh="all")
  with pytest.raises(ValueError, match=r"^names has 1 entries for 2 series"):
    forecasting.forecast(bolt, series, 2, names=["a"])
  with pytest.raises(ValueError, match=r"^batch_size must be"):
    forecasting.forecast(bolt, series, 2, batch_size=-1)


@pytest.mark.slow  # three compilations (~20 s on 2 cores)
def test_bolt_row_blocks_equal_one_call_and_see_parameter_updates(monkeypatch):
  model = registry.build(BOLT_CONFIGS["chronos-bolt-cpu"], seed=3)  # its own: it is mutated
  context = forecasting.prepare_context(_ragged(10, 37))
  whole = forecasting.predict(model, context, 7)
  monkeypatch.setattr(programs, "ROW_BLOCK", 4)  # blocks of 4, 4, 2 + 2 filler rows
  blocked = forecasting.predict(model, context, 7)
  # 1e-5: the same rows in blocks of 4 vs 10 (XLA may block the matmuls differently).
  np.testing.assert_allclose(blocked, whole, rtol=1e-5, atol=1e-5)
  # The cached split reads the Variables at every call: an in-place update is used.
  kernel = model.output_patch_embedding.residual_layer.kernel
  kernel[...] = 10 * kernel[...]
  updated = forecasting.predict(model, context, 7)
  programs._SPLITS.clear()  # a fresh split of the updated model
  np.testing.assert_array_equal(updated, forecasting.predict(model, context, 7))
  assert not np.allclose(updated, whole, rtol=1e-2, atol=1e-2)
