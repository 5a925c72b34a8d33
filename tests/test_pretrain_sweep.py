"""experiments/pretrain_runs.py and its command line pretrain_sweep.py: the runs' layouts and
ratios, the embedding-reuse hook of lowrank_ts.training.loop.train (fast); smoke runs of fig7 /
table3 / appe are in tests/test_experiments_thresholds.py (slow)."""

import dataclasses

import jax
import numpy as np
import pytest
from flax import nnx

from experiments import appe, fig7, pretrain_sweep, table3
from experiments import pretrain_runs as sweep
from lowrank_ts.models import config as model_configs
from lowrank_ts.models import lowrank, registry
from lowrank_ts.training import loop
from lowrank_ts.training.config import TRAIN_CONFIGS


def test_table3_pairs_have_equal_ratios_and_appe_equal_parameters():
  for size in ("default", "smoke"):
    for flow, uniform in table3.PAIRS.values():
      assert sweep.attention_size_ratio(flow, size) == sweep.attention_size_ratio(uniform, size)
      assert len(set(table3._ranks(flow, size))) > 1 and len(set(table3._ranks(uniform, size))) == 1
    counts = {lowrank.attention_parameters(sweep.run_config(n, size).model_config.t5)
              for arm in appe.ARMS for n in appe.names(arm)}
    assert len(counts) == 1
  # Table 4's layouts scaled to d_kv 16: ratios 0.0625 < 0.104 < 0.177, all below dense.
  ratios = [sweep.attention_size_ratio(n, "default") for n in fig7.LAYOUTS]
  assert ratios == sorted(ratios) and ratios[-1] < 1.0
  assert sweep.attention_size_ratio("dense", "default") == 1.0


def test_t5_runs_use_the_t5_recipe_and_the_authors_layouts():
  from experiments import fig7_t5
  for size in ("smoke", "default", "full"):
    for name in fig7_t5.NAMES:
      config = sweep.run_config(name, size)
      assert config.model.startswith("chronos-t5") and config.real_corpus == (size != "smoke")
      assert config.adam_eps == TRAIN_CONFIGS["cpu-t5-zeroshot"].adam_eps
  assert sweep.run_config("t5_dense", "full").model == "chronos-t5-base"
  # The authors' layouts, d0 scaled by 16 / 64, by the paper's count on chronos-t5-cpu; on
  # chronos-t5-base (full) they are 0.090 / 0.177 / 0.271 (tests/models/test_lowrank.py).
  ratios = [sweep.attention_size_ratio(n, "default") for n in fig7_t5.LAYOUTS]
  assert ratios == pytest.approx([0.0625, 0.1042, 0.1458], abs=1e-3)  # printed values, 3 dp
  full = [sweep.attention_size_ratio(n, "full") for n in fig7_t5.LAYOUTS]
  assert full == pytest.approx([13 / 144, 51 / 288, 39 / 144], rel=1e-12)  # exact fractions
  assert sweep.DENSE[sweep.RUNS["t5_3_0.27_emb"].family] == "t5_dense"
  with pytest.raises(ValueError, match="family must be one of"):
    sweep.base_config("default", "rnn")


def test_run_names_and_sizes_are_checked():
  with pytest.raises(ValueError, match="run must be one of"):
    sweep.run_config("nope", "default")
  with pytest.raises(ValueError, match="size must be one of"):
    sweep.run_config("dense", "huge")
  with pytest.raises(SystemExit):  # argparse's exit for an unknown run name
    pretrain_sweep.main(["--smoke", "nope"])


def _params(model):
  return nnx.state(model, nnx.Param)


@pytest.mark.slow  # builds two models: ~5-20 s on 2 cores
def test_copy_embedding_copies_the_embedding_and_keeps_attention():
  dense = registry.build(sweep.run_config("dense", "default").model_config, seed=1)
  compressed = registry.build(sweep.run_config("bolt_2_0.25", "default").model_config, seed=0)
  params = _params(compressed)
  out = sweep.copy_embedding(dense)(params)
  source = _params(dense)
  for key in sweep.EMBEDDING:
    for a, b in zip(jax.tree.leaves(out[key]), jax.tree.leaves(source[key])):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  for key in ("encoder", "decoder"):  # attention and MLPs: the run's own initialisation
    for a, b in zip(jax.tree.leaves(out[key]), jax.tree.leaves(params[key])):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # A source whose head has another horizon (64 steps vs 24) cannot be copied in.
  other = registry.build(model_configs.named_config("chronos-bolt-cpu"), seed=0)
  with pytest.raises(ValueError, match="does not match"):
    sweep.copy_embedding(other)(params)


@pytest.mark.slow  # builds a pipeline and a train state: ~5-20 s on 2 cores
def test_loop_train_applies_init_params_to_a_fresh_run(tmp_path):
  config = dataclasses.replace(TRAIN_CONFIGS["cpu-test"], steps=2)
  zero = lambda params: jax.tree.map(lambda x: x * 0.0, params)
  state = loop.train(config, str(tmp_path), progress=False, stop_after=0, init_params=zero)
  assert int(state["step"]) == 0
  assert all(float(np.abs(np.asarray(x)).max()) == 0.0 for x in jax.tree.leaves(state["params"]))


def test_saved_kernel_synth_pool_is_the_generated_one(tmp_path):
  from lowrank_ts.data import kernel_synth
  path = sweep.kernel_synth_pool("dense", "smoke", str(tmp_path))
  config = sweep.run_config("dense", "smoke")
  expected = kernel_synth.kernel_synth(config.kernel_synth_series, config.seed,
                                       length=config.kernel_synth_length)
  np.testing.assert_array_equal(np.load(path), expected)
  assert sweep.kernel_synth_pool("dense", "smoke", str(tmp_path)) == path  # reused, not redone


@pytest.mark.slow  # trains one 3-step smoke Chronos-T5 (~15 s)
def test_export_writes_a_folder_that_loads_as_the_run(tmp_path):
  from lowrank_ts.interop import hf
  assert pretrain_sweep.main(["--smoke", "--workdir", str(tmp_path / "runs"), "--export",
                     str(tmp_path / "hf"), "t5_dense"]) == 0
  exported = hf.load(str(tmp_path / "hf" / "t5_dense"))
  run = sweep.load("t5_dense", "smoke", str(tmp_path / "runs"))
  assert exported.config == run.config
  for (path, a), (_, b) in zip(nnx.to_flat_state(nnx.state(exported, nnx.Param)),
                               nnx.to_flat_state(nnx.state(run, nnx.Param))):
    np.testing.assert_array_equal(np.asarray(a[...]), np.asarray(b[...]), err_msg=str(path))


def test_a_finished_run_of_another_config_is_not_reused(tmp_path):
  import json
  import os
  path = sweep.workdir("t5_dense", "smoke", str(tmp_path))
  os.makedirs(path)
  other = dataclasses.replace(sweep.run_config("t5_dense", "smoke"), attention="authors:1,0.3")
  with open(os.path.join(path, "train_config.json"), "w") as f:
    json.dump(dataclasses.asdict(other), f)
  with pytest.raises(ValueError, match=r"other settings \(recorded -> wanted: attention: 'authors:1,0.3' -> 'dense'"):
    sweep.ensure("t5_dense", "smoke", str(tmp_path))
