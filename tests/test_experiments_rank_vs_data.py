"""experiments.rank_vs_data: its eps-ranks and W_Q inputs against inputs with a known answer,
the resolution rule, bad --model, and a smoke run that writes png + json."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import rank_vs_data, trained
from lowrank_ts import spectral
from lowrank_ts.data import controlled_synth
from lowrank_ts.interop import hf
from lowrank_ts.models import named_config, registry

EPS = rank_vs_data.EPS


def _contexts(spec: dict, series: int, draws: int = 2, length: int = 256) -> np.ndarray:
  return rank_vs_data.controlled_contexts(spec, series, draws, length, seed=0, group=0, point=0)


def test_raw_patch_rank_of_a_sinusoid_is_at_most_two_and_of_white_noise_full():
  k = 16
  # period 32: whole periods in 256 values, so the instance norm subtracts nothing and the
  # patches lie in span{sin, cos} of the patch's phase
  sine = rank_vs_data.raw_patch_ranks(_contexts(dict(period=32, strength=1.0), 8), k)
  assert sine.max() <= 2 and sine.min() >= 2  # exactly two directions at every eps
  # period 24 (not whole): plus the constant the norm subtracts, the construction check's 3
  assert rank_vs_data.raw_patch_ranks(_contexts(dict(period=24, strength=1.0), 8), k).max() <= 3
  # white noise, 8 x 256 / 16 = 128 columns of 16 i.i.d. values: sigma_16 / sigma_1 ~ 0.5
  noise = rank_vs_data.raw_patch_ranks(_contexts(dict(noise=1.0), 8), k)
  np.testing.assert_array_equal(noise, k)
  # each patch is a row of the context: the matrix reads whole, in-order patches
  x = _contexts(dict(noise=1.0), 1, draws=1)[0]
  patches = trained.normalised_patches(list(x), 16)
  normed = (x[0] - x[0].mean()) / x[0].std()
  np.testing.assert_allclose(patches, normed.reshape(16, 16), atol=1e-5)  # float32 norm


def test_eps_ranks_is_eq1_at_each_eps():
  s = np.array([1.0, 0.5, 0.05, 0.02, 0.005, 1e-4])
  w = np.stack([np.asarray(spectral.matrix_with_spectrum(jax.random.key(i), s, 12, 9))
                for i in range(3)])
  np.testing.assert_array_equal(rank_vs_data.eps_ranks(w),
                                [[int(np.sum(s > e)) for e in EPS]] * 3)  # [[2, 4]] * 3


def test_summary_resolves_only_effects_larger_than_the_seed_spread():
  # 3 points x 3 draws x 2 eps; eps 0.1: means 2, 3, 5 with a range of 2 at the last point
  # (effect 3 > spread 2); eps 0.01: means 10, 11, 10 with a range of 2 (effect 1 < 2)
  ranks = np.array([[[2, 10], [2, 9], [2, 11]], [[3, 11], [3, 11], [3, 11]],
                    [[4, 10], [5, 10], [6, 10]]])
  out = rank_vs_data.summary(ranks)
  np.testing.assert_allclose(out["0.1"]["mean"], [2, 3, 5])
  assert out["0.1"]["effect"] == 3 and out["0.1"]["seed_spread"] == 2 and out["0.1"]["resolved"]
  assert out["0.01"]["effect"] == 1 and out["0.01"]["seed_spread"] == 2
  assert not out["0.01"]["resolved"]
  tie = rank_vs_data.summary(np.array([[[1, 1], [2, 2]], [[2, 2], [3, 3]]]))
  assert not tie["0.1"]["resolved"]  # effect 1 equals spread 1: not resolved


def _rms(x, w, eps):
  x = np.asarray(x, np.float64)
  return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + eps) * np.asarray(w, np.float64)


@pytest.fixture(scope="module")
def bolt():
  """A random-init d_model-64 Chronos-Bolt whose norm weights differ per norm, so that reading
  the wrong norm shows."""
  model = registry.build(named_config("chronos-bolt-cpu-zs"), seed=5)
  rng = np.random.default_rng(5)
  for stack in (model.encoder, model.decoder):
    for layer in stack.layers:
      for norm in (layer.self_norm, *([layer.cross_norm] if layer.has_cross else [])):
        norm.weight[...] = jnp.asarray(rng.uniform(0.5, 2.0, norm.weight[...].shape),
                                       jnp.float32)
  return model


def test_attention_query_inputs_are_what_each_query_projection_reads(bolt):
  rng = np.random.default_rng(0)
  contexts = rng.standard_normal((3, 256)).astype(np.float32).cumsum(1)
  got = trained.attention_query_inputs(bolt, contexts)
  d, eps, patches = 64, bolt.config.t5.layer_norm_epsilon, 256 // 16
  assert set(got) == {f"{s} {i}" for s in ("encoder self", "decoder self", "decoder cross")
                      for i in (1, 2)}
  embeds, mask = bolt.encoder_inputs(contexts)
  hidden = bolt.encoder.hidden_states(embeds, mask)
  for i, layer in enumerate(bolt.encoder.layers):
    x = got[f"encoder self {i + 1}"]
    assert x.shape == (d, 3 * (patches + 1))  # patches + REG of each series, series-major
    want = _rms(hidden[i], layer.self_norm.weight[...], eps).reshape(-1, d).T
    np.testing.assert_allclose(x, want, rtol=2e-5, atol=2e-6)  # float32 norm vs float64
  # the decoder reads one start token per series: layer 1's self-attention input is its norm
  layer = bolt.decoder.layers[0]
  start = np.asarray(bolt.shared[...])[bolt.config.t5.decoder_start_token_id]
  np.testing.assert_allclose(got["decoder self 1"],
                             np.repeat(_rms(start, layer.self_norm.weight[...], eps)[:, None],
                                       3, 1), rtol=2e-5, atol=2e-6)
  # over a single key the softmax is 1: self-attention = o(v(x)); the cross-attention reads
  # the norm of the residual sum
  h = jnp.asarray(np.broadcast_to(start, (3, 1, d)))
  attended = layer.self_attention.o(layer.self_attention.v(layer.self_norm(h)))
  want = _rms(h + attended, layer.cross_norm.weight[...], eps)[:, 0].T
  np.testing.assert_allclose(got["decoder cross 1"], want, rtol=2e-5, atol=2e-6)
  # decoder layer 2 reads the encoder through layer 1's cross-attention: series differ
  for name in ("decoder self 2", "decoder cross 2"):
    assert got[name].shape == (d, 3) and np.ptp(got[name], axis=1).max() > 1e-3


def test_bad_model_is_one_line(tmp_path, capsys):
  assert rank_vs_data.main(["--smoke", "--out", str(tmp_path), "--model",
                            str(tmp_path / "none")]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "--model" in err and "no such folder" in err
  t5 = hf.save(registry.build(named_config("chronos-t5-cpu-mini"), seed=1), tmp_path / "t5")
  assert rank_vs_data.main(["--smoke", "--out", str(tmp_path), "--model", str(t5)]) == 1
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "Chronos-Bolt" in err
  assert not (tmp_path / "rank_vs_data.json").exists()


@pytest.mark.slow  # ~60 s with its precondition (the shipped model's validation forecasts)
def test_smoke_run_writes_the_findings_and_its_precondition(tmp_path):
  code = rank_vs_data.main(["--smoke", "--out", str(tmp_path)])
  assert (tmp_path / "rank_vs_data.png").stat().st_size > 0
  record = json.loads((tmp_path / "rank_vs_data.json").read_text())
  assert record["command"] == f"python -m experiments.rank_vs_data --smoke --out {tmp_path}"
  assert record["verdict"]["thresholds"] == {
      "embedding_rank_white_noise_over_sinusoid": [">", 0.0, "proxy"],
      "pure_sinusoid_raw_patch_rank": ["<=", 3.0, "construction"],
      "decoder_layer1_query_input_rank": ["<=", 1.0, "construction"],
      "precondition_Chronos-Bolt_relative_wql": ["<=", 1.0, "precondition"],
      "precondition_Chronos-Bolt_rank1_cost": [">=", 0.15, "precondition"]}
  p, data = record["params"], record["data"]
  draws, n = p["draws"], p["series"]
  assert draws >= 3 and data["precondition"]["Chronos-Bolt"]["num_series"] == 2 * 17
  assert set(data["sweeps"]) == {*rank_vs_data.SWEEPS, rank_vs_data.VALIDATION}
  assert set(p["matrices"]) == {"raw patches", "embedding", *(
      f"W_Q input: {s} {i}" for s in ("encoder self", "decoder self", "decoder cross")
      for i in (1, 2))}
  caps = {"raw patches": 16, "embedding": 64, "W_Q input: encoder self 1": 64}
  for sweep, s in data["sweeps"].items():
    for m in p["matrices"]:
      r = np.asarray(s["ranks"][m])
      assert r.shape == (len(s["points"]), draws, len(EPS))
      assert (r >= 0).all() and (r[..., 0] <= r[..., 1]).all()  # smaller eps, larger rank
      assert r.max() <= caps.get(m, n if "decoder" in m else 64)
      assert s["summary"][m]["0.01"]["resolved"] == (
          s["summary"][m]["0.01"]["effect"] > s["summary"][m]["0.01"]["seed_spread"])
  assert set(data["validation_left_out"]) >= {"val-short-p4", "val-short-trend"}
  names = {f["name"] for f in record["verdict"]["findings"]}
  assert names >= {"sweep_period", "sweep_seasonal_strength", "sweep_noise_level",
                   "sweep_trend_slope", "sweep_AR1_phi", "sweep_validation_sets",
                   "patch_size_raw_patches", "validation_sets_left_out"}
  failed = [c for c in record["verdict"]["claims"]
            if c["kind"] == "precondition" and not c["passed"]]
  assert (record["verdict"]["status"] == "UNINFORMATIVE") == bool(failed)
  assert ("measured_on_a_model_that_fails_its_precondition" in names) == bool(failed)
  assert code == (0 if record["verdict"]["status"].startswith("PASS") else 1)
