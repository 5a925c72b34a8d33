"""The model registry and the new config / layout entry points reject bad input by name."""

import jax.numpy as jnp
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
