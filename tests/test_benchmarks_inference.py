"""benchmarks.inference: FLOP counts against hand counts, the workers and the results record
(in-process, tiny shapes), and the whole --quick run (slow). Timings are never asserted."""

import dataclasses
import json
import subprocess
import sys

import pytest

from benchmarks import flops as flop_counts
from benchmarks import inference
from lowrank_ts.models import BoltConfig, T5Config, lowrank

# d_model 4, inner 2 heads x 3 = 6, d_ff 6, one layer per stack, vocabulary 10.
T5_HAND = T5Config(vocab_size=10, d_model=4, d_ff=6, num_layers=1, num_heads=2, d_kv=3)


def test_chronos_flops_match_a_hand_count():
  flops = flop_counts.chronos_forecast_flops(T5_HAND, batch=2, context_tokens=5, horizon=3,
                                           num_samples=2)
  # Multiply-adds. q, k, v, o: 4 x 6 = 24 each per token; feed-forward 2 x 4 x 6 = 48.
  # Encoder, per series of 5 tokens: 5 (4 x 24 + 48) + scores and mixing 2 heads x 3 x 5 x 5
  # twice = 720 + 300 = 1020.
  assert flops["encoder"] == 2 * 2 * 1020
  # Cross-attention k, v over 5 encoder tokens, per series: 5 x 2 x 24 = 240.
  assert flops["cross_kv"] == 2 * 2 * 240
  # A decoder token at step t: self q, k, v, o 96 + attention over t + 1 cached positions
  # 2 x 2 x 3 (t + 1); cross q, o 48 + attention over 5 positions 60; feed-forward 48.
  per_sequence = sum(96 + 12 * (t + 1) + 48 + 60 + 48 for t in range(3))  # 828
  assert flops["decoder"] == 2 * (2 * 2) * per_sequence  # 2 series x 2 samples
  assert flops["lm_head"] == 2 * (2 * 2 * 3) * 4 * 10  # 12 tokens x d_model x vocabulary
  assert flops["total"] == 2 * (2 * 1020 + 2 * 240 + 4 * 828 + 12 * 40) == 12624


def test_flops_follow_the_low_rank_layout():
  # Every q as a rank-2 shared sketch: 2 (4 + 6) = 20 multiply-adds per token instead of 24.
  sketched = lowrank.low_rank_t5(T5_HAND, lowrank.UniformSchedule(2), "shared_sketch",
                                 projections=("q",))
  dense = flop_counts.chronos_forecast_flops(T5_HAND, 2, 5, 3, 2)
  low = flop_counts.chronos_forecast_flops(sketched, 2, 5, 3, 2)
  # 10 encoder tokens, 12 decoder tokens (self and cross q): 4 saved each.
  assert dense["total"] - low["total"] == 2 * 4 * (10 + 12 + 12)
  # Heads of size 1 instead of 3: projections 4 x 2 and attention 2 x 1 per position.
  reduced = lowrank.low_rank_t5(T5_HAND, lowrank.UniformSchedule(1), "reduced_head_size")
  assert flop_counts.chronos_forecast_flops(reduced, 1, 5, 1, 1)["encoder"] == 2 * (
      5 * (4 * 8 + 48) + 2 * 2 * 1 * 25)


def test_bolt_flops_match_a_hand_count():
  config = BoltConfig(dataclasses.replace(T5_HAND, vocab_size=2), context_length=32,
                      prediction_length=2, input_patch_size=4, input_patch_stride=4,
                      quantiles=(0.1, 0.5, 0.9))
  flops = flop_counts.bolt_forecast_flops(config, batch=1, context=10)
  # ceil(10 / 4) = 3 patches + REG = 4 encoder tokens; patch features 2 x 4 = 8.
  assert flops["patch_embedding"] == 2 * 3 * (8 * 6 + 6 * 4 + 8 * 4)
  assert flops["encoder"] == 2 * (4 * (96 + 48) + 12 * 16)
  assert flops["cross_kv"] == 2 * 4 * 48
  assert flops["decoder"] == 2 * (96 + 12 * 1 + 48 + 12 * 4 + 48)
  assert flops["quantile_head"] == 2 * (4 * 6 + 6 * 6 + 4 * 6)  # 3 quantiles x 2 steps = 6
  assert flops["total"] == 2 * (312 + 768 + 192 + 252 + 84)


@pytest.fixture(scope="module")
def chronos_folder(tmp_path_factory):
  pytest.importorskip("torch")
  pytest.importorskip("chronos")
  from lowrank_ts.interop.hf_reference import chronos_checkpoint
  folder = tmp_path_factory.mktemp("chronos")
  chronos_checkpoint(folder, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                     context_length=16, prediction_length=2)
  return str(folder)


@pytest.mark.slow  # over 15 s: CI's second step
def test_workers_and_results_record(chronos_folder):
  # 16 x 16 matrices with spectrum j^-3: eps-rank 4 at 1e-2 (4^-3 > 0.01 > 5^-3), below the
  # break-even rank 8, so the post-hoc model really is factorised.
  base = dict(family="chronos", folder=chronos_folder, batch=1, context=16, horizon=2,
              samples=2, repeats=1, spectrum_exponent=3.0)
  rows = []
  for impl, variant in (("reference", "dense"), ("ours", "dense"), ("ours", "posthoc"),
                        ("ours", "ratio-0.075")):
    result = inference.run_worker(dict(base, impl=impl, variant=variant))
    rows.append({"size": "hand", "family": "chronos", "impl": impl, "variant": variant,
                 **result})
  record = {"matmul": {"gflops_best": 50.0}, "rows": rows}
  inference._derive(record)
  ref, dense, posthoc, layout = rows
  for r in rows:
    assert r["median_s"] > 0 and r["first_s"] > 0 and r["peak_rss_bytes"] >= r["idle_rss_bytes"]
    assert r["param_bytes"] > 0 and r["gflops_per_s"] > 0
  # Context 16 + EOS, every row counts the dense model's work except the compressed ones.
  t5 = T5Config(vocab_size=4096, d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8)
  assert ref["flops_total"] == dense["flops_total"] == flop_counts.chronos_forecast_flops(
      t5, 1, 17, 2, 2)["total"]
  assert dense["working_bytes"] == (dense["xla_memory"]["argument_bytes"]
                                    + dense["xla_memory"]["temp_bytes"])
  assert ref["working_bytes"] == ref["peak_rss_bytes"] - ref["idle_rss_bytes"]
  assert dense["time_vs_dense"] == 1.0 and "time_vs_reference" in dense
  for r in rows:  # the stable per-row keys scripts read
    assert r["matmul_fraction"] == r["gflops_per_s"] / 50.0
    assert r["speedup_vs_reference"] == ref["median_s"] / r["median_s"]
  assert ref["speedup_vs_reference"] == 1.0
  assert posthoc["eps_ranks"] == [4] and posthoc["factorised"] == posthoc["projections"] == 12
  assert posthoc["flops_vs_dense"] < 1 and posthoc["attention_size_ratio"] == 0.5  # 4 x 32
  # 2 heads of size p2(3 k^0.27) = 4 instead of 8 in every layer (k = 1, 2): half the size.
  assert layout["attention_size_ratio"] == 0.5 and layout["flops_vs_dense"] < 1
  lines = record["table"].splitlines()
  assert len(lines) == 2 + len(rows) and all(line.count("|") == 16 for line in lines)
  assert [t["target"] for t in record["targets"]] == [
      "hand: post-hoc eps=1e-2 time / dense (< 1)"]
  json.dumps(record)  # the record is JSON


def test_bad_sizes():
  with pytest.raises(SystemExit):
    inference.main(["--sizes", "huge"])
  with pytest.raises(SystemExit):
    inference.main(["--quick", "--repeats", "0"])


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
  out = tmp_path / "inference.json"
  proc = subprocess.run([sys.executable, "-m", "benchmarks.inference", "--quick", "--out",
                         str(out)], capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  record = json.loads(out.read_text())
  assert {(r["family"], r["impl"], r["variant"]) for r in record["rows"]} == {
      ("chronos", "reference", "dense"), ("chronos", "ours", "dense"),
      ("chronos", "ours", "posthoc"), ("chronos", "ours", "ratio-0.075"),
      ("bolt", "reference", "dense"), ("bolt", "ours", "dense")}
  assert record["table"] in proc.stdout


def test_scale_ratios_pair_each_point():
  from benchmarks import scale
  mb = 2 ** 20
  rows = [{"sweep": "series", "series": 8, "context": 512, "impl": "reference", "seconds": 2.0,
           "peak_rss_bytes": 800 * mb},
          {"sweep": "series", "series": 8, "context": 512, "impl": "ours", "seconds": 0.5,
           "peak_rss_bytes": 400 * mb},
          {"sweep": "context", "series": 512, "context": 64, "impl": "reference", "seconds": 1.0,
           "peak_rss_bytes": 700 * mb}]  # an interrupted sweep: no "ours" row yet
  record = {"rows": rows}
  scale._ratios(record)
  assert record["ratios"] == [{"sweep": "series", "series": 8, "context": 512,
                               "speedup_vs_reference": 4.0, "peak_rss_vs_reference": 0.5}]


@pytest.mark.slow
def test_scale_quick_run_end_to_end(tmp_path):
  """Every point's worker runs (both implementations) and reports its own memory."""
  out = tmp_path / "scale.json"
  proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--quick", "--out", str(out),
                         "--plot", str(tmp_path / "scale.png")], capture_output=True, text=True,
                        timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  record = json.loads(out.read_text())
  assert {r["impl"] for r in record["rows"]} == {"ours", "reference"}
  assert {r["sweep"] for r in record["rows"]} == {"series", "context"}
  assert all(r["peak_rss_bytes"] >= r["idle_rss_bytes"] > 0 for r in record["rows"])
  assert len(record["ratios"]) == len(record["rows"]) // 2  # one per point
  assert (tmp_path / "scale.png").stat().st_size > 0
