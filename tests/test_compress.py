"""lowrank-ts compress and the rank allocation behind it: the compressed checkpoint
loads and forecasts; eps = 0 is the dense model; the ratio bisection meets its target tightly;
the global allocation respects its budget and beats one eps on its own objective; paper vs
efficient counts; factorised vs multiplied-out forecasts; error messages name the argument."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lowrank_ts import spectral
from lowrank_ts.cli import compress
from lowrank_ts.evaluation import report
from lowrank_ts.inference import forecasting
from lowrank_ts.interop import hf
from lowrank_ts.models import BOLT_CONFIGS, allocation, posthoc, registry

CONFIG = BOLT_CONFIGS["chronos-bolt-cpu-h16"]  # d_model 64, 2 + 2 layers: 24 matrices 64 x 64


def _spectrum(name, s, d=64):
  return allocation.Spectrum(name, d, d, np.asarray(s, np.float64))


# Decay rates give eps-ranks spread over 1..64 (a power law per matrix, as trained attention).
SPECTRA = tuple(_spectrum(f"m{i}", np.arange(1, 65, dtype=float) ** -p)
                for i, p in enumerate((0.5, 0.8, 1.1, 1.5, 2.0, 3.0)))


@pytest.fixture(scope="module")
def model():
  m = registry.build(CONFIG, seed=0)
  key = jax.random.key(3)
  exponents = (0.6, 0.9, 1.2, 1.6)
  for i, (*_, module) in enumerate(posthoc.attention_projections(m)):
    s = jnp.arange(1, 65, dtype=jnp.float32) ** -exponents[i % 4]
    module.kernel[...] = spectral.matrix_with_spectrum(jax.random.fold_in(key, i), s, 64, 64)
  return m


@pytest.fixture(scope="module")
def contexts():
  t = np.arange(200, dtype=np.float32)
  return np.stack([np.sin(t / 5) * 10 + 50, np.cos(t / 9) + t / 50, t % 12])


def test_eps_zero_paper_mode_is_the_dense_model(model, contexts):
  compressed, rep = posthoc.compress_to(model, allocation.Request(eps=0.0, mode="paper"))
  assert rep.rank_ratio == 1.0 and all(p.rank is None for p in rep.projections)
  assert rep.parameter_bytes_after == rep.parameter_bytes_before
  dense = forecasting.forecast(model, contexts, 16)["quantiles"]
  ours = forecasting.forecast(compressed, contexts, 16)["quantiles"]
  # Each W is rebuilt as U S V^T from its fp32 SVD (~1e-6 relative round-off per matrix),
  # carried through 4 layers to outputs of size ~50: 1e-4 relative.
  np.testing.assert_allclose(ours, dense, rtol=1e-4, atol=1e-4 * np.abs(dense).max())


def test_checkpoint_round_trip_factorised_and_multiplied_out(model, contexts, tmp_path):
  compressed, rep = posthoc.compress_to(model, allocation.Request(ratio=0.25, mode="paper"))
  assert any(p.rank is not None for p in rep.projections)
  folder = compress.write(compressed, compress.report_record(rep, allocation.Request(
      ratio=0.25, mode="paper"), "test"), tmp_path / "c")
  loaded = report.load_model(folder)  # as evaluate / forecast load any checkpoint
  assert loaded.config == compressed.config  # the factors' ranks survive
  a = forecasting.forecast(compressed, contexts, 16)["quantiles"]
  np.testing.assert_array_equal(forecasting.forecast(loaded, contexts, 16)["quantiles"], a)  # same fp32 values
  product = hf.from_tensors(hf.dense_config(compressed.config), hf.to_tensors(compressed))
  # (x S) L vs x (S L): fp32 products in another order, through 4 layers.
  np.testing.assert_allclose(forecasting.forecast(product, contexts, 16)["quantiles"], a, rtol=1e-4,
                             atol=1e-4 * np.abs(a).max())
  stored = (folder / "model.safetensors").stat().st_size
  hf.save(model, tmp_path / "dense")
  assert stored < (tmp_path / "dense" / "model.safetensors").stat().st_size
  record = json.loads((folder / compress.REPORT).read_text())
  assert record["rank_ratio"] == rep.rank_ratio <= 0.25
  assert len(record["matrices"]) == 24


def test_report_counts(model):
  _, rep = posthoc.compress_to(model, allocation.Request(eps=0.1, mode="efficient"))
  found = posthoc.spectra(model)
  ranks = allocation.eps_ranks(found, 0.1)
  assert rep.attention_size_ratio == allocation.parameter_ratio(found, ranks, "efficient")
  assert rep.attention_parameters_after == allocation.stored_parameters(found, ranks, "efficient")
  assert (rep.parameter_bytes_before - rep.parameter_bytes_after
          == 4 * (rep.attention_parameters_before - rep.attention_parameters_after))  # fp32
  for p, r in zip(rep.projections, ranks):
    assert p.eps_rank == r
    assert p.rank == (r if r * 128 < 64 * 64 else None)


def test_paper_vs_efficient_counts():
  ranks = (10, 40, 1, 64, 31, 32)  # break-even for 64 x 64 is r < 32
  full = 6 * 64
  paper = allocation.rank_ratio(SPECTRA, ranks, "paper")
  assert paper == sum(ranks) / full
  # efficient: 40, 64 and 32 do not save work -> dense and untruncated (64 kept)
  assert allocation.rank_ratio(SPECTRA, ranks, "efficient") == (10 + 64 + 1 + 64 + 31 + 64) / full
  stored = (10 + 1 + 31) * 128 + 3 * 64 * 64
  for mode in allocation.MODES:  # both store factors exactly where they save work
    assert allocation.stored_parameters(SPECTRA, ranks, mode) == stored
  assert allocation.size_ratio(SPECTRA, ranks, "efficient") == stored / (6 * 64 * 64)
  assert allocation.size_ratio(SPECTRA, ranks, "paper") == paper


@pytest.mark.parametrize("mode", allocation.MODES)
@pytest.mark.parametrize("target", [0.05, 0.15, 0.237, 0.5, 0.9])
def test_uniform_bisection_meets_the_target_tightly(mode, target):
  eps = allocation.uniform_eps(SPECTRA, target, mode)
  assert allocation.size_ratio(SPECTRA, allocation.eps_ranks(SPECTRA, eps), mode) <= target
  smaller = [c for s in SPECTRA for c in s.relative if c < eps]
  if smaller:  # the next eps down (the least truncation beyond it) misses the target
    below = max(smaller)
    assert allocation.size_ratio(SPECTRA, allocation.eps_ranks(SPECTRA, below), mode) > target


@pytest.mark.parametrize("mode", allocation.MODES)
@pytest.mark.parametrize("target", [0.1, 0.237, 0.5])
def test_global_allocation_respects_the_budget_and_its_objective(mode, target):
  ranks = allocation.global_ranks(SPECTRA, target, mode)
  assert allocation.size_ratio(SPECTRA, ranks, mode) <= target
  uniform = allocation.eps_ranks(SPECTRA, allocation.uniform_eps(SPECTRA, target, mode))
  def objective(rs):
    kept = allocation.truncation_ranks(SPECTRA, rs, mode)
    return sum(allocation.frobenius_error(s, r) ** 2 for s, r in zip(SPECTRA, kept))
  if mode == "paper":
    # The greedy is optimal for its objective in the paper count; one eps is one feasible point.
    assert objective(ranks) <= objective(uniform) + 1e-12  # float sums of the same terms
    assert sum(ranks) + 1 > target * 6 * 64  # nothing left fits: one more exceeds the budget


def test_ratio_below_rank_one_is_refused():
  with pytest.raises(ValueError, match=r"^ratio 0\.001 is below the smallest"):
    allocation.uniform_eps(SPECTRA, 0.001, "paper")
  with pytest.raises(ValueError, match=r"^ratio 0\.001 is below the smallest"):
    allocation.global_ranks(SPECTRA, 0.001, "efficient")


@pytest.mark.parametrize("argv, message", [
    (["--eps", "2"], "--eps must be a number in [0, 1), got 2.0"),
    (["--ratio", "1.5"], "--ratio must be a number in (0, 1], got 1.5"),
    (["--eps", "0.1", "--allocation", "global"], "--allocation global spends a budget"),
    (["--ratio", "0.001"], "--ratio 0.001 is below the smallest attention size ratio"),
    (["--eps", "0.1", "--model", "/no/such/folder"], "--model must be a checkpoint folder"),
])
def test_cli_errors_name_the_argument(argv, message, tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    compress.main([*argv, "--out", str(tmp_path / "out")])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("lowrank-ts compress: error: ") and message in err
  assert "Traceback" not in err


def test_cli_refuses_a_non_empty_out(tmp_path, capsys):
  (tmp_path / "x").write_text("")
  with pytest.raises(SystemExit):
    compress.main(["--eps", "0.1", "--out", str(tmp_path)])
  assert "--out" in capsys.readouterr().err


def test_cli_end_to_end(model, tmp_path, capsys, contexts):
  hf.save(model, tmp_path / "dense")
  compress.main(["--model", str(tmp_path / "dense"), "--ratio", "0.4", "--allocation", "global",
                 "--out", str(tmp_path / "c")])
  out = capsys.readouterr().out
  assert "stored attention parameters" in out and "decoder_cross.1.o" in out
  record = json.loads((tmp_path / "c" / compress.REPORT).read_text())
  assert record["mode"] == "efficient" and record["eps"] is None
  assert record["parameter_ratio"] <= 0.4 and record["attention_size_ratio"] == record[
      "parameter_ratio"]
  assert record["parameter_bytes_after"] < record["parameter_bytes_before"]
  forecast = forecasting.forecast(hf.load(tmp_path / "c"), contexts, 8)
  assert np.isfinite(forecast["quantiles"]).all()


# -- --finetune-steps: healing the factors on the recipe's data ------------------------------
TINY_RECIPE = {"model": "chronos-bolt-cpu-h16", "batch_size": 4, "context_length": 64,
               "prediction_length": 16, "min_past": 16, "kernel_synth_series": 8,
               "kernel_synth_length": 128, "learning_rate": 1e-3}


@pytest.mark.slow  # compiles a training step (~10 s on 2 cores)
def test_finetune_keeps_the_ranks_and_lowers_the_held_out_loss(model):
  from lowrank_ts.training import config as train_config
  from lowrank_ts.training import finetune
  compressed, _ = posthoc.compress_to(model, allocation.Request(ratio=0.25, mode="efficient"))
  before = {p: np.asarray(v[...]) for p, v in nnx_flat(compressed)}
  healed, record = finetune.finetune(compressed, train_config.TrainConfig(**TINY_RECIPE), 8)
  assert healed.config == compressed.config  # same graph: the ranks did not move
  after = dict(nnx_flat(healed))
  assert all(np.array_equal(np.asarray(v[...]), before[p]) for p, v in nnx_flat(compressed))
  assert any(not np.array_equal(np.asarray(after[p][...]), before[p]) for p in before)
  assert record["steps"] == 8 and record["learning_rate"] == 1e-3
  # Random weights are far from any optimum: 8 seeded (deterministic) AdamW steps at 1e-3 lower
  # the loss on the 4 held-out batches of the same stream.
  assert record["held_out_loss_after"] < record["held_out_loss_before"]


def nnx_flat(m):
  from flax import nnx
  return list(nnx.to_flat_state(nnx.state(m, nnx.Param)))


def test_finetune_refuses_a_recipe_of_another_model_kind(model):
  from lowrank_ts.training import config as train_config
  from lowrank_ts.training import finetune
  with pytest.raises(ValueError, match=r"^config trains a ChronosConfig"):
    finetune.check_compatible(model, train_config.TRAIN_CONFIGS["cpu-test"])
  with pytest.raises(ValueError, match=r"^config's context 512 exceeds"):
    finetune.check_compatible(model, train_config.TrainConfig(**{**TINY_RECIPE,
                                                                 "context_length": 512}))


@pytest.mark.slow  # compiles a training step (~10 s on 2 cores)
def test_cli_finetune_end_to_end_reads_the_models_train_config(model, tmp_path, capsys,
                                                               contexts):
  from lowrank_ts.training import checkpoints
  from lowrank_ts.training import config as train_config
  hf.save(model, tmp_path / "dense")
  checkpoints.record_config(str(tmp_path / "dense"), train_config.TrainConfig(**TINY_RECIPE))
  compress.main(["--model", str(tmp_path / "dense"), "--ratio", "0.3", "--finetune-steps", "3",
                 "--out", str(tmp_path / "c")])
  assert "held-out loss" in capsys.readouterr().out
  record = json.loads((tmp_path / "c" / compress.REPORT).read_text())
  f = record["finetune"]
  assert f["steps"] == 3 and f["recipe"].endswith(checkpoints.CONFIG_FILE)
  assert f["learning_rate"] == compress.FINETUNE_LR
  assert np.isfinite(f["held_out_loss_before"]) and np.isfinite(f["held_out_loss_after"])
  loaded = hf.load(tmp_path / "c")
  unhealed, _ = posthoc.compress_to(hf.load(tmp_path / "dense"), allocation.Request(ratio=0.3))
  assert loaded.config == unhealed.config  # the ranks of the truncation, kept through training
  assert any(s.kind == "shared_sketch" for s in _projection_specs(loaded.config))
  assert np.isfinite(forecasting.forecast(loaded, contexts, 8)["quantiles"]).all()


@pytest.mark.parametrize("argv, message", [
    (["--eps", "0.1", "--finetune-steps", "-1"], "--finetune-steps must be >= 0, got -1"),
    (["--eps", "0.1", "--finetune-steps", "2", "--finetune-lr", "0"], "--finetune-lr must be > 0"),
    (["--eps", "0.1", "--config", "cpu-test"], "--config is the fine-tuning recipe"),
    (["--eps", "0.1", "--finetune-steps", "2", "--config", "nope"], "--config must be one of"),
    (["--eps", "0.1", "--finetune-steps", "2", "--model", "FOLDER"],  # no train_config.json
     "--config: --finetune-steps needs --config NAME"),
])
def test_cli_finetune_errors_name_the_argument(argv, message, tmp_path, capsys, model):
  if "FOLDER" in argv:
    hf.save(model, tmp_path / "bolt")
    argv = [str(tmp_path / "bolt") if a == "FOLDER" else a for a in argv]
  with pytest.raises(SystemExit) as exit_info:
    compress.main([*argv, "--out", str(tmp_path / "out")])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert message in err and "Traceback" not in err


def _projection_specs(config):
  from lowrank_ts.models.config import ATTENTION_KINDS
  return [getattr(spec, p) for kind in ATTENTION_KINDS for spec in config.t5.attention_specs(kind)
          for p in "qkvo"]


def test_factors_for_training_hold_every_truncated_matrix_at_its_rank(model):
  held, rep = posthoc.compress_to(model, allocation.Request(ratio=0.5, mode="paper"),
                                for_training=True)
  kept = [p.truncation_rank for p in rep.projections]
  assert any(32 <= k < 64 for k in kept)  # ranks whose plain paper mode stores W_r dense
  for spec, k in zip(_projection_specs(held.config), kept):
    assert (spec.kind, spec.rank) == (("shared_sketch", k) if k < 64 else ("dense", None))
  (name, *_, module), k = next((m, k) for m, k in zip(posthoc.attention_projections(held), kept)
                               if 32 <= k < 64)
  original = {n: m for n, *_, m in posthoc.attention_projections(model)}[name]
  a, b = spectral.truncated_svd(original.dense_kernel(), rank=k)
  # The same fp32 factors (sliced from the full-rank SVD), multiplied in another order.
  np.testing.assert_allclose(module.dense_kernel(), a @ b, rtol=1e-5, atol=1e-6)
