"""benchmarks.finetune: a quick run writes its results with the expected keys, and the PyTorch
reference computes our loss on the same weights and window. Timings are never asserted."""

import json

import pytest

from benchmarks import finetune



@pytest.mark.slow
def test_quick_run_writes_both_stacks_side_by_side(tmp_path):
  out = tmp_path / "finetune.json"
  assert finetune.main(["--quick", "--out", str(out)]) == 0
  record = json.loads(out.read_text())
  assert {"model_class", "batch_size", "context_length", "horizon", "machine", "matmul",
          "torch", "loss_batch0", "rounds_measured", "ratio_median", "command"} <= set(record)
  assert record["model_class"] == "ChronosBolt" and record["matmul"]["gflops_best"] > 0
  (measured,) = record["rounds_measured"]
  assert measured["ours"]["seconds"].keys() == {"2", "4"}  # steps and 2 x steps
  assert measured["reference"]["windows_per_s"] > 0
  # the same loss on the same exported weights and window: a mis-mapped tensor or a dropout
  # left on shows here (fp32 over 9 x 24 terms; measured relative difference 2e-7)
  losses = record["loss_batch0"]
  assert losses["reference"] == pytest.approx(losses["ours"], rel=1e-4)
