"""Flax Chronos vs transformers' T5 on locally built checkpoints; import/export round trips."""

import copy
import json

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from lowrank_ts.interop import hf  # noqa: E402
from lowrank_ts.interop.hf_reference import chronos_checkpoint  # noqa: E402
from tests.helpers import fp32_tol, rel_diff  # noqa: E402
from lowrank_ts.models import t5_ops  # noqa: E402

CONFIGS = {
    # inner_dim 64 == d_model; long inputs reach the log buckets and max_distance clipping.
    "tiny_like": dict(length=140),
    # inner_dim 4 * 16 = 64 != d_model 48 (as chronos-t5-mini), 3 decoder layers, short
    # max_distance so clipping is exercised cheaply.
    "mini_like": dict(length=40, d_model=48, num_decoder_layers=3,
                      relative_attention_max_distance=12),
    # T5 v1.1 style: gated GELU, untied LM head without rescaling.
    "gated_untied": dict(length=24, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                         n_tokens=100),
}


def _inputs(length, n_tokens, seed=0):
  rng = np.random.default_rng(seed)
  ids = rng.integers(0, n_tokens, size=(2, length))
  mask = np.ones((2, length), bool)
  mask[1, : length // 3] = False  # left padding, as ragged Chronos contexts have
  decoder_ids = np.concatenate([np.zeros((2, 1), int), rng.integers(0, n_tokens, (2, 6))], 1)
  return ids, mask, decoder_ids


@nnx.jit
def _forward(model, ids, mask, decoder_ids):
  return model.encode(ids, mask), model(ids, mask, decoder_ids)


def _reference_outputs(reference, ids, mask, decoder_ids):
  with torch.no_grad():
    encoder = reference.encoder(input_ids=torch.tensor(ids),
                                attention_mask=torch.tensor(mask)).last_hidden_state.numpy()
    logits = reference(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                       decoder_input_ids=torch.tensor(decoder_ids)).logits.numpy()
  return encoder, logits


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_chronos_matches_transformers(tmp_path, name):
  kwargs = dict(CONFIGS[name])
  length = kwargs.pop("length")
  reference = chronos_checkpoint(tmp_path, **kwargs)
  model = hf.load(tmp_path)
  ids, mask, decoder_ids = _inputs(length, reference.config.vocab_size)
  ref_encoder, ref_logits = _reference_outputs(reference, ids, mask, decoder_ids)
  # The same reference in float64: its distance from ref32 is the fp32 round-off to allow.
  exact_encoder, exact_logits = _reference_outputs(copy.deepcopy(reference).double(), ids, mask,
                                                   decoder_ids)
  encoder, logits = _forward(model, jnp.asarray(ids), jnp.asarray(mask), jnp.asarray(decoder_ids))
  enc_diff, logit_diff = rel_diff(encoder, ref_encoder), rel_diff(logits, ref_logits)
  enc_tol, logit_tol = fp32_tol(ref_encoder, exact_encoder), fp32_tol(ref_logits, exact_logits)
  print(f"{name}: encoder rel-diff {enc_diff:.2e} (tol {enc_tol:.2e}), "
        f"logits {logit_diff:.2e} (tol {logit_tol:.2e})")
  assert enc_diff <= enc_tol  # tolerance: fp32_tol, 4x the reference's own fp32 round-off
  assert logit_diff <= logit_tol  # same reason


def test_export_import_round_trip_is_exact(tmp_path):
  chronos_checkpoint(tmp_path / "ref", d_model=48, num_decoder_layers=3)
  original = hf.read_tensors(tmp_path / "ref")
  model = hf.load(tmp_path / "ref")
  hf.save(model, tmp_path / "ours")
  exported = hf.read_tensors(tmp_path / "ours")
  assert set(exported) == set(original)
  for name, value in original.items():
    np.testing.assert_array_equal(exported[name], value, err_msg=name)
  again = hf.to_tensors(hf.load(tmp_path / "ours"))
  for name, value in exported.items():
    np.testing.assert_array_equal(again[name], value, err_msg=name)


def test_reference_pipeline_loads_export_and_embeddings_match(tmp_path):
  from chronos import BaseChronosPipeline
  chronos_checkpoint(tmp_path / "ref", d_model=48)
  hf.save(hf.load(tmp_path / "ref"), tmp_path / "ours")
  pipeline = BaseChronosPipeline.from_pretrained(tmp_path / "ours", dtype=torch.float32)
  rng = np.random.default_rng(1)
  context = rng.normal(size=(3, 50)).cumsum(-1).astype(np.float32)
  context[1, :20] = np.nan  # a shorter series, left-padded
  context[2, 30] = np.nan  # a missing value
  ref_embeddings, _ = pipeline.embed(torch.tensor(context))
  token_ids, mask, _ = pipeline.tokenizer.context_input_transform(torch.tensor(context))
  with torch.no_grad():  # the pipeline's encoder in float64, for the round-off to allow
    exact = pipeline.model.model.double().encoder(input_ids=token_ids,
                                                  attention_mask=mask).last_hidden_state
  ours = hf.load(tmp_path / "ours").encode(jnp.asarray(token_ids.numpy()),
                                           jnp.asarray(mask.numpy()))
  diff, tol = rel_diff(ours, ref_embeddings.numpy()), fp32_tol(ref_embeddings, exact.numpy())
  print(f"pipeline.embed vs ours: rel-diff {diff:.2e} (tol {tol:.2e})")
  assert diff <= tol  # tolerance: fp32_tol, 4x the reference's own fp32 round-off


def test_relative_position_bucket_matches_transformers():
  from transformers.models.t5.modeling_t5 import T5Attention
  relative = np.arange(-700, 700)
  for bidirectional in (True, False):
    for buckets, distance in ((32, 128), (8, 20), (16, 300)):
      ref = T5Attention._relative_position_bucket(torch.tensor(relative), bidirectional,
                                                  buckets, distance).numpy()
      ours = t5_ops.relative_position_bucket(jnp.asarray(relative), bidirectional, buckets,
                                             distance)
      np.testing.assert_array_equal(np.asarray(ours), ref)


def _tensors_and_config(tmp_path):
  chronos_checkpoint(tmp_path, d_model=32, d_kv=8, d_ff=32, num_layers=1, n_tokens=20)
  raw = json.loads((tmp_path / "config.json").read_text())
  return hf.config_from_json(raw), hf.read_tensors(tmp_path)


def test_missing_tensor_is_named(tmp_path):
  config, tensors = _tensors_and_config(tmp_path)
  del tensors["decoder.block.0.layer.1.EncDecAttention.k.weight"]
  with pytest.raises(ValueError, match=r"missing tensor 'decoder\.block\.0\.layer\.1\.EncDec"):
    hf.from_tensors(config, tensors)


def test_extra_tensor_is_named(tmp_path):
  config, tensors = _tensors_and_config(tmp_path)
  tensors["encoder.block.0.layer.0.SelfAttention.bogus"] = np.zeros(3, np.float32)
  with pytest.raises(ValueError, match=r"unexpected tensor 'encoder\.block\.0.*bogus'"):
    hf.from_tensors(config, tensors)


def test_misshaped_tensor_is_named(tmp_path):
  config, tensors = _tensors_and_config(tmp_path)
  tensors["encoder.block.0.layer.1.DenseReluDense.wi.weight"] = np.zeros((5, 32), np.float32)
  with pytest.raises(ValueError, match=r"'encoder\.block\.0\.layer\.1\.DenseReluDense\.wi\.weight"
                     r"' has shape \(5, 32\)"):
    hf.from_tensors(config, tensors)


def test_tied_copy_must_equal_shared(tmp_path):
  config, tensors = _tensors_and_config(tmp_path)
  tensors["lm_head.weight"] = tensors["shared.weight"].copy()
  hf.from_tensors(config, tensors)  # an equal tied copy (old checkpoints) is accepted
  tensors["lm_head.weight"] = tensors["shared.weight"] + 1.0
  with pytest.raises(ValueError, match="'lm_head.weight' should be a tied copy"):
    hf.from_tensors(config, tensors)


def test_bad_folder_and_config(tmp_path):
  with pytest.raises(ValueError, match="no config.json"):
    hf.load(tmp_path)
  with pytest.raises(ValueError, match="folder"):
    hf.load(3)
  with pytest.raises(ValueError, match="chronos_config"):
    hf.config_from_json({"d_model": 8})
  with pytest.raises(ValueError, match="no model.safetensors"):
    hf.read_tensors(tmp_path)
  with pytest.raises(ValueError, match="model must be"):
    hf.to_tensors(object())


def test_pytorch_bin_with_tied_copies_loads(tmp_path):
  import shutil
  reference = chronos_checkpoint(tmp_path / "ref", d_model=32, d_kv=8, d_ff=32, num_layers=1,
                                 n_tokens=20)
  (tmp_path / "bin").mkdir()
  shutil.copy(tmp_path / "ref" / "config.json", tmp_path / "bin" / "config.json")
  # Old checkpoints: a pickled state dict that repeats the shared embedding under tied names.
  state = reference.state_dict()
  assert "lm_head.weight" in state and "encoder.embed_tokens.weight" in state
  torch.save(state, tmp_path / "bin" / "pytorch_model.bin")
  from_bin = hf.to_tensors(hf.load(tmp_path / "bin"))
  for name, value in hf.read_tensors(tmp_path / "ref").items():
    np.testing.assert_array_equal(from_bin[name], value, err_msg=name)


def test_truncated_or_corrupt_checkpoint_names_the_file(tmp_path, capsys):
  chronos_checkpoint(tmp_path, d_model=32, d_kv=8, d_ff=32, num_layers=1, n_tokens=20)
  weights = tmp_path / "model.safetensors"
  weights.write_bytes(weights.read_bytes()[:-100])  # an interrupted download / copy
  with pytest.raises(ValueError, match=r"model\.safetensors cannot be read as safetensors.*"
                                       r"truncated or corrupt"):
    hf.load(tmp_path)
  (tmp_path / "config.json").write_text("{not json")
  with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
    hf.load(tmp_path)
  # The forecast CLI ends with one line naming the file, exit code 1 (bad data).
  from lowrank_ts.cli import forecast
  data = tmp_path / "series.csv"
  data.write_text("a\n1\n2\n3\n")
  capsys.readouterr()  # drop transformers' progress output from making the checkpoint
  with pytest.raises(SystemExit) as exit_info:
    forecast.main(["--model", str(tmp_path), "--input", str(data), "--horizon", "2",
                   "--out", str(tmp_path / "o.csv")])
  assert exit_info.value.code == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "config.json is not valid JSON" in err[0], err
