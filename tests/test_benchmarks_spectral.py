"""benchmarks.spectral at tiny shapes: the record's structure and its eps-rank guard."""

import numpy as np
import pytest

from benchmarks import spectral as bench


def test_run_records_every_method_with_ratios_to_scipy():
  record = bench.run(count=2, width=8, rows=4, cols=16, repeats=1)
  assert record["shapes"] == {"count": 2, "width": 8, "rows": 4, "cols": 16}
  assert len(record["workloads"]) == 2
  for timings in record["workloads"].values():
    assert set(timings) == {"ours", "numpy loop", "scipy gesdd loop"}
    assert timings["scipy gesdd loop"]["ratio_to_scipy"] == 1.0  # the reference itself
    for t in timings.values():
      assert t["ratio_to_scipy"] == t["median_s"] / timings["scipy gesdd loop"]["median_s"]
  assert record["table"].count("\n") == 1 + 2 * 3  # header, rule, 3 methods x 2 workloads


def test_differing_eps_ranks_fail_the_run(monkeypatch, capsys):
  monkeypatch.setattr(bench.spectral, "eps_rank", lambda w, eps: np.zeros(w.shape[0], int))
  assert bench.run(count=2, width=8, rows=4, cols=16, repeats=1) is None
  assert "eps-ranks differ between ours and numpy" in capsys.readouterr().err


def test_repeats_must_be_positive(capsys):
  with pytest.raises(SystemExit):
    bench.main(["--repeats", "0"])
  assert "--repeats must be >= 1, got 0" in capsys.readouterr().err
