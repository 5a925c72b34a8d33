"""benchmarks/bolt_rate.py: the FLOP count and the record it writes (tiny sizes, seconds)."""

import json

import pytest

from benchmarks import bolt_rate
from lowrank_ts.models import config as model_configs
from lowrank_ts.models import registry


@pytest.mark.slow  # two 2048^2 matmul-rate measurements and three compiles: ~30 s on 2 cores
def test_flops_scale_with_rows_and_the_record_is_consistent(tmp_path):
  model = registry.build(model_configs.named_config("chronos-bolt-tiny"), seed=0)
  one, four = bolt_rate.call_flops(model, 1, 64), bolt_rate.call_flops(model, 4, 64)
  # Rows are independent: 4 rows cost 4x one row, up to the row-count-free parts (tiny).
  assert four == pytest.approx(4 * one, rel=0.01)
  out = tmp_path / "rate"
  assert bolt_rate.main(["--size", "tiny", "--series", "3", "--context", "64", "--repeats", "1",
                         "--out", str(out)]) == 0
  record = json.loads(out.with_suffix(".json").read_text())
  assert record["calls"] == 1 and record["rows_per_call"] == 3
  assert record["flops"] == pytest.approx(3 * one, rel=0.01)  # same linearity
  best = max(record["matmul_before"]["gflops_best"], record["matmul_after"]["gflops_best"])
  assert record["matmul_fraction"] == pytest.approx(
      record["flops"] / record["timing"]["median_s"] / 1e9 / best, rel=1e-12)  # its definition


def test_bad_arguments_are_refused_naming_them():
  with pytest.raises(SystemExit):
    bolt_rate.main(["--series", "0"])
  with pytest.raises(SystemExit):
    bolt_rate.main(["--size", "tiny", "--context", "4096"])
