"""The trained-model sweeps' training options: model-size overrides and the frozen fixed
Chebyshev vocabulary of appendix I (Fig. 4c, lowrank_ts.training.fixed_vocabulary)."""

import dataclasses

import jax
import numpy as np
import pytest

from lowrank_ts import embeddings
from lowrank_ts.models.tokenizer import MeanScaleUniformBins
from lowrank_ts.training import data, fixed_vocabulary
from lowrank_ts.training.config import TRAIN_CONFIGS, TrainConfig, with_overrides
from lowrank_ts.training.trainer import Trainer

TINY = TRAIN_CONFIGS["cpu-test"]


def test_model_overrides_reach_the_model_config():
  config = with_overrides(TRAIN_CONFIGS["cpu-zeroshot"], {
      "model_overrides": "d_model=32,d_ff=128,num_heads=2,d_kv=16,input_patch_size=4"})
  model = config.model_config
  assert (model.t5.d_model, model.t5.d_ff, model.t5.num_heads, model.t5.d_kv) == (32, 128, 2, 16)
  assert model.input_patch_size == model.input_patch_stride == 4  # the stride follows
  assert TRAIN_CONFIGS["cpu-zeroshot"].model_config.t5.d_model == 64  # the recipe is unchanged


@pytest.mark.parametrize("text, match", [
    ("d_modle=32", "unknown field 'd_modle'"), ("d_model=big", "d_model must be an integer"),
    ("d_model=0", "d_model"), ("encoder_attention=1", "unknown field")])
def test_bad_model_overrides_raise_naming_the_field(text, match):
  with pytest.raises(ValueError, match=match):
    dataclasses.replace(TINY, model_overrides=text)


def test_fixed_vocabulary_needs_a_t5_and_rank_at_most_d():
  with pytest.raises(ValueError, match="fixed_vocabulary_rank needs a Chronos-T5"):
    TrainConfig(model="chronos-bolt-cpu", fixed_vocabulary_rank=2)
  with pytest.raises(ValueError, match="fixed_vocabulary_rank=49 must be <= d_model=48"):
    dataclasses.replace(TINY, fixed_vocabulary_rank=49)
  with pytest.raises(ValueError, match="fixed_vocabulary_rank"):
    dataclasses.replace(TINY, fixed_vocabulary_rank=-1)
  assert not dataclasses.replace(TINY, fixed_vocabulary_rank=3).model_config.t5.tie_word_embeddings


def test_chebyshev_vocabulary_rows_are_the_appendix_i_embedding():
  tok = MeanScaleUniformBins(n_tokens=64)  # small: the construction is size-free
  table = np.asarray(fixed_vocabulary.chebyshev_vocabulary(tok, 3, 16, jax.random.key(0)),
                     np.float64)
  assert table.shape == (tok.n_tokens, 16)
  s = np.linalg.svd(table, compute_uv=False)
  assert s[3] < 1e-5 * s[0] and s[2] > 0.1 * s[0]  # rank exactly 3 (fp32 round-off ~1e-7)
  assert not table[tok.pad_token_id].any()
  # bin i's row is the Chebyshev embedding of its centre, with the same u_1..u_3
  first = tok.n_special_tokens + 1
  centres = tok.bin_centers()[[0, 20, tok.n_bins - 1]]
  direct = np.asarray(embeddings.chebyshev_embedding(
      np.concatenate([np.zeros(tok.n_tokens - 3, np.float32), centres]), 3, 16,
      jax.random.key(0))).T[-3:]
  # 1e-6: fp32 evaluation of the same recurrence and product, entries of size ~1
  np.testing.assert_allclose(table[[first, first + 20, first + tok.n_bins - 1]], direct,
                             atol=1e-6)


@pytest.mark.slow  # ~10 s of compilation: CI's second step
def test_fixed_vocabulary_is_unchanged_by_training_and_the_rest_trains():
  config = dataclasses.replace(TINY, fixed_vocabulary_rank=4, learning_rate=1e-2)
  trainer = Trainer(config, jax.devices()[:1])
  state, rest = trainer.init()
  before = jax.tree.map(np.array, state["params"])
  pipe = data.make_pipeline(config)
  for step in range(3):
    batch = trainer.shard_batch(trainer.abstract_model.training_batch(pipe.batch_at(step)))
    state, _ = trainer.step_fn(state, rest, batch)
  after = jax.tree.map(np.array, state["params"])
  table0, table = (np.asarray(p["shared"][...]) for p in (before, after))
  expected = fixed_vocabulary.chebyshev_vocabulary(
      config.model_config.tokenizer, 4, 48, jax.random.fold_in(jax.random.key(0), 0xC4EB))
  # the init is the fixed table; 1e-6: the same fp32 product compiled inside the init's jit
  np.testing.assert_allclose(table0, np.asarray(expected), atol=1e-6)
  np.testing.assert_array_equal(table, table0)  # bit-identical after three AdamW steps
  moved = [float(np.abs(np.asarray(a) - np.asarray(b)).max())
           for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(before))]
  assert sum(m > 0 for m in moved) == len(moved) - 1  # every other parameter moved
