"""The model registry and the new config / layout entry points reject bad input by name."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowrank_ts.models import ATTENTION_KINDS, BOLT_CONFIGS, lowrank, named_config, registry
from lowrank_ts.models.config import AttentionSpec, BoltConfig, config_from_hf
from lowrank_ts.models.layers import Attention


def test_registry_builds_every_kind_and_names_bad_arguments():
  for name in ("chronos-t5-cpu-mini", "chronos-bolt-cpu"):
    config = named_config(name)
    model = registry.build(config)
    assert model.config is config and registry.check_model(model) is model
    assert registry.parameter_count(config) > 0
  with pytest.raises(ValueError, match="config must be a ChronosConfig or BoltConfig, got str"):
    registry.build("chronos-t5-cpu")
  with pytest.raises(ValueError, match="config must be a ChronosConfig or BoltConfig"):
    registry.abstract(named_config("chronos-t5-cpu").t5)
  with pytest.raises(ValueError, match="model must be a Chronos or ChronosBolt model, got object"):
    registry.check_model(object())


def test_every_model_has_the_whole_interface():
  members = [m for m in vars(registry.ForecastModel) if not m.startswith("_")]
  members += list(registry.ForecastModel.__annotations__)
  assert {"config", "sampled", "training_batch", "loss", "encoder_inputs", "forecast"} <= set(
      members)
  for model_class in registry.MODELS.values():
    assert all(hasattr(model_class, m) for m in members if m != "config"), model_class


def test_encoder_inputs_are_what_the_model_encodes():
  """``encoder_inputs`` through the encoder equals the model's own encoding path (exact: the
  same operations in the same order)."""
  rng = np.random.default_rng(0)
  context = rng.normal(size=(3, 80)).astype(np.float32) * 5 + 20
  context[1, :30] = np.nan
  bolt = registry.build(named_config("chronos-bolt-cpu"))
  embeds, mask = bolt.encoder_inputs(context)
  hidden, bolt_mask, _, _ = bolt.encoder_outputs(context)
  np.testing.assert_array_equal(mask, bolt_mask)
  np.testing.assert_array_equal(bolt.encoder(embeds, mask), hidden)
  np.testing.assert_array_equal(bolt.encode(context), hidden)
  assert not bolt.sampled
  chronos = registry.build(named_config("chronos-t5-cpu-mini"))
  embeds, mask = chronos.encoder_inputs(context)
  ids, ids_mask, _ = chronos.config.tokenizer.tokenize(context)
  np.testing.assert_array_equal(mask, ids_mask)
  np.testing.assert_array_equal(chronos.encoder(embeds, mask), chronos.encode(ids, ids_mask))
  assert chronos.sampled
  with pytest.raises(ValueError, match="context_BT must have 2 dimensions"):
    chronos.encoder_inputs(context[0])
  with pytest.raises(ValueError, match=r"^context_BT must be a non-empty \[batch, time\] array"):
    bolt.encoder_inputs(context[0])


def test_with_attention_names_unknown_kinds():
  t5 = named_config("chronos-t5-cpu").t5
  assert t5.with_attention(dict.fromkeys(ATTENTION_KINDS)) == t5.dense() == t5
  with pytest.raises(ValueError, match="specs must map kinds of"):
    t5.with_attention({"cross": None})
  with pytest.raises(ValueError, match="specs must map kinds of"):
    t5.with_attention([None])


def test_hf_config_blocks_name_what_is_missing():
  bolt = BOLT_CONFIGS["chronos-bolt-cpu"]
  raw = bolt.to_hf()
  del raw["quantiles"]
  with pytest.raises(ValueError, match="chronos_config has no 'quantiles'"):
    BoltConfig.from_hf(bolt.t5, raw)
  with pytest.raises(ValueError, match="no chronos_config"):
    config_from_hf(bolt.t5, None)
  chronos = named_config("chronos-t5-cpu")
  with pytest.raises(ValueError, match="tokenizer_class 'Other' is not supported"):
    config_from_hf(chronos.t5, {**chronos.to_hf(), "tokenizer_class": "Other"})


def test_parse_layout_names_the_attention_argument():
  assert lowrank.parse_layout("dense") == lowrank.DenseLayout()
  assert lowrank.parse_layout("authors:3,0.27") == lowrank.AuthorsLayout(3.0, 0.27)
  with pytest.raises(ValueError, match="attention must be a string"):
    lowrank.parse_layout(3)
  with pytest.raises(ValueError, match="schedule must be one of"):
    lowrank.parse_layout("head_sketch:cubic:1")
  with pytest.raises(ValueError, match="concave takes 2 or 3 numbers"):
    lowrank.parse_layout("head_sketch:concave:1")


def test_cached_self_attention_needs_the_index():
  attention = Attention(8, AttentionSpec(2, 4), 1.0, 0.0, rngs=nnx.Rngs(0))
  cache = attention.init_cache((1, 1), 3)
  with pytest.raises(ValueError, match="index"):
    attention(jnp.ones((1, 1, 1, 8)), None, 0.0, cache)
