"""Low-rank attention: factorised forms equal dense, eq. (20) vs reduced head size, schedules,
size ratios, bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lowrank_ts.interop import hf
from lowrank_ts.models import CHRONOS_CONFIGS, Chronos, ChronosConfig, T5Config, lowrank, registry

T5_SMALL = T5Config(vocab_size=4096, d_model=32, d_ff=48, num_layers=2, num_heads=4, d_kv=8,
                    num_decoder_layers=2, initializer_factor=1.0)


def _chronos(t5, seed=0):
  return Chronos(ChronosConfig(t5), rngs=nnx.Rngs(seed))


@nnx.jit
def _logits(model, ids, mask, decoder_ids):
  return model(ids, mask, decoder_ids)


def _inputs():
  ids = jax.random.randint(jax.random.key(1), (2, 20), 0, 4096)
  mask = jnp.arange(20)[None] >= jnp.array([[0], [7]])
  return ids, mask, ids[:, :6]


@pytest.mark.parametrize("parameterization", ["shared_sketch", "head_sketch"])
def test_factorised_model_equals_dense_with_multiplied_factors(parameterization):
  # One layer per stack: the three attention kinds (encoder, decoder self, cross) all occur.
  t5 = dataclasses.replace(T5_SMALL, num_layers=1, num_decoder_layers=1)
  factored = _chronos(lowrank.low_rank_t5(t5, lowrank.ExplicitSchedule((2, 3)),
                                          parameterization))
  # The export path multiplies every factor pair out into a dense T5.
  dense = hf.from_tensors(hf.dense_config(factored.config), hf.to_tensors(factored))
  logits_f = _logits(factored, *_inputs())
  logits_d = _logits(dense, *_inputs())
  # Only the order of fp32 sums differs ((x S) L vs x (S L)).
  np.testing.assert_allclose(logits_f, logits_d, atol=2e-5, rtol=1e-5)
  assert np.ptp(np.asarray(logits_d)) > 0.1  # not a comparison of constants


def _per_head(kernel_DI, heads):
  """Dense [d_model, H*K] kernel -> per-head [H, d_model, K]."""
  return jnp.transpose(kernel_DI.reshape(kernel_DI.shape[0], heads, -1), (1, 0, 2))


def test_head_sketch_at_rank_r_expresses_reduced_head_size_r():
  """Eq. (20) at rank r with lifts [I_r 0] reproduces heads of size r: the per-head
  products W_Q^T W_K and W_O W_V agree, hence so do the outputs (T5 has no 1/sqrt(d))."""
  r, h = 3, T5_SMALL.num_heads
  reduced = _chronos(lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(r),
                                         "reduced_head_size"))
  sketched = _chronos(lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(r),
                                          "head_sketch"), seed=5)
  # Copy everything but attention, then set the factors from the reduced model.
  flat = dict(nnx.to_flat_state(nnx.state(reduced, nnx.Param)))
  for path, variable in nnx.to_flat_state(nnx.state(sketched, nnx.Param)):
    if path in flat and flat[path].shape == variable.shape:
      variable[...] = flat[path][...]
  lift = jnp.broadcast_to(jnp.eye(r, T5_SMALL.d_kv), (h, r, T5_SMALL.d_kv))
  for stack_name in ("encoder", "decoder"):
    for i in range(2):
      for attn_name in ("self_attention", "cross_attention"):
        if stack_name == "encoder" and attn_name == "cross_attention":
          continue
        red = getattr(getattr(reduced, stack_name).layers[i], attn_name)
        ske = getattr(getattr(sketched, stack_name).layers[i], attn_name)
        for name in "qkv":
          getattr(ske, name).sketch[...] = _per_head(getattr(red, name).kernel[...], h)
          getattr(ske, name).lift[...] = lift
        ske.o.sketch[...] = jnp.transpose(lift, (0, 2, 1))
        ske.o.lift[...] = red.o.kernel[...].reshape(h, r, -1)
        # Per head: W_Q^(i)T W_K^(i) and W_O^(i) W_V^(i) (kernels are [in, out]).
        for head in range(h):
          def qk(attn, head=head):
            q = _per_head(attn.q.dense_kernel(), h)[head]
            k = _per_head(attn.k.dense_kernel(), h)[head]
            return q @ k.T

          def ov(attn, head=head):
            v = _per_head(attn.v.dense_kernel(), h)[head]
            o = attn.o.dense_kernel().reshape(h, -1, T5_SMALL.d_model)[head]
            return v @ o
          # products of [d, r] x [r, d]: fp32 round-off only.
          np.testing.assert_allclose(qk(ske), qk(red), atol=1e-5)
          np.testing.assert_allclose(ov(ske), ov(red), atol=1e-5)
  # same products, different fp32 summation order.
  np.testing.assert_allclose(_logits(sketched, *_inputs()), _logits(reduced, *_inputs()),
                             atol=2e-5, rtol=1e-5)


def test_power_law_schedule():
  assert lowrank.PowerLawSchedule(7, 0.4).ranks(3) == (7, 10, 11)  # ceil(7 * 2^.4 = 9.24)
  assert lowrank.PowerLawSchedule(64, 0.0).ranks(4) == (64,) * 4
  assert lowrank.PowerLawSchedule(2, 1.0).ranks(3) == (2, 4, 6)


def test_concave_schedule_rises_concavely_from_r_min_to_r_max():
  ranks = np.array(lowrank.ConcaveSchedule(16, 384, 0.5).ranks(12))
  assert ranks[0] == 16 and ranks[-1] == 384
  steps = np.diff(ranks)
  assert np.all(steps > 0) and np.all(np.diff(steps) <= 1)  # decreasing steps (+ceil jitter)
  assert lowrank.ConcaveSchedule(4, 8).ranks(1) == (4,)


def test_uniform_and_explicit_schedules():
  assert lowrank.UniformSchedule(5).ranks(3) == (5, 5, 5)
  t5 = lowrank.low_rank_t5(T5_SMALL, lowrank.ExplicitSchedule((1, 2, 3, 4)), "reduced_head_size")
  assert [s.d_kv for s in t5.encoder_attention] == [1, 2]
  assert [s.d_kv for s in t5.decoder_self_attention] == [1, 2]
  assert [s.d_kv for s in t5.decoder_cross_attention] == [3, 4]  # the count continues


def test_ranks_are_capped_at_full_rank():
  t5 = lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(100), "head_sketch")
  assert t5.encoder_attention[0].q.rank == T5_SMALL.d_kv
  t5 = lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(100), "reduced_head_size")
  assert t5.encoder_attention[0].d_kv == T5_SMALL.d_model // T5_SMALL.num_heads


def _attention_leaf_count(t5):
  abstract = nnx.eval_shape(lambda: _chronos(t5))
  total = 0
  for path, var in nnx.to_flat_state(nnx.state(abstract, nnx.Param)):
    if any(p in ("self_attention", "cross_attention") for p in path):
      total += int(np.prod(var.shape))
  return total


@pytest.mark.parametrize("parameterization", lowrank.PARAMETERIZATIONS)
def test_attention_parameters_match_the_built_model(parameterization):
  t5 = lowrank.low_rank_t5(T5_SMALL, lowrank.PowerLawSchedule(2, 0.5), parameterization,
                           projections=("q", "k", "o") if parameterization != "reduced_head_size"
                           else ("q", "k", "v", "o"))
  assert lowrank.attention_parameters(t5) == _attention_leaf_count(t5)


def test_size_ratios():
  assert lowrank.attention_size_ratio(T5_SMALL) == 1.0
  quarter = lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(2), "reduced_head_size")
  assert lowrank.attention_size_ratio(quarter) == 0.25
  base = CHRONOS_CONFIGS["chronos-t5-base"].t5
  # The authors' three configs; the paper labels them 0.25, 0.15, 0.075 (see report).
  ratios = [lowrank.attention_size_ratio(lowrank.authors_layout(base, d0, beta))
            for d0, beta in ((7, 0.40), (5, 0.35), (3, 0.27))]
  # exact rationals in float64 (default rtol 1e-7 only absorbs the division).
  np.testing.assert_allclose(ratios, [39 / 144, 51 / 288, 13 / 144])


def test_parameter_count():
  assert registry.parameter_count(T5_SMALL) == sum(
      int(np.prod(x.shape)) for x in jax.tree.leaves(
          nnx.state(nnx.eval_shape(lambda: _chronos(T5_SMALL)), nnx.Param)))
  small = lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(2), "reduced_head_size")
  saved = lowrank.attention_parameters(T5_SMALL) - lowrank.attention_parameters(small)
  assert registry.parameter_count(small) == registry.parameter_count(T5_SMALL) - saved


def test_bad_input():
  with pytest.raises(ValueError, match=r"^d0 must be a finite number > 0, got 0\.0"):
    lowrank.PowerLawSchedule(0, 0.5)
  with pytest.raises(ValueError, match="alpha"):
    lowrank.PowerLawSchedule(4, -1)
  with pytest.raises(ValueError, match="r_max"):
    lowrank.ConcaveSchedule(8, 4)
  with pytest.raises(ValueError, match="values"):
    lowrank.ExplicitSchedule((2, 0))
  with pytest.raises(ValueError, match="values has 2 ranks"):
    lowrank.ExplicitSchedule((2, 3)).ranks(4)
  with pytest.raises(ValueError, match="parameterization"):
    lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(2), "svd")
  with pytest.raises(ValueError, match="projections"):
    lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(2), "head_sketch", ("x",))
  with pytest.raises(ValueError, match="schedule"):
    lowrank.low_rank_t5(T5_SMALL, 3, "head_sketch")
  with pytest.raises(ValueError, match=r"^t5 must be a T5Config, got NoneType"):
    lowrank.low_rank_t5(None, lowrank.UniformSchedule(2), "head_sketch")
  with pytest.raises(ValueError, match="num_indices"):
    lowrank.UniformSchedule(2).ranks(0)
  with pytest.raises(ValueError, match="config"):
    registry.parameter_count("chronos-t5-small")
  with pytest.raises(ValueError, match="n_heads"):  # varying heads cannot share the bias
    # 5 heads: p2(5) = 4 heads in layer 1, min(p2(10), 5) = 5 in layer 2.
    lowrank.authors_layout(dataclasses.replace(T5_SMALL, num_heads=5), 2, 0.5, alpha=1.0)


def test_export_refuses_per_layer_head_sizes():
  model = _chronos(lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(2),
                                       "reduced_head_size"))
  with pytest.raises(ValueError, match="heads of size 2"):
    hf.to_tensors(model)


def test_export_of_factorised_model_describes_a_dense_t5():
  model = _chronos(lowrank.low_rank_t5(T5_SMALL, lowrank.UniformSchedule(2), "shared_sketch"))
  config = hf.dense_config(model.config)
  assert config.t5.is_dense and dataclasses.replace(
      config.t5, encoder_attention=None) == config.t5


def test_accounting_rejects_bad_input():
  with pytest.raises(ValueError, match=r"^x must be a finite number > 0, got 0\.0"):
    lowrank.nearest_power_of_two(0, 4)
  with pytest.raises(ValueError, match="spec"):
    lowrank.projection_parameters(8, 2, 4, "dense")
  with pytest.raises(ValueError, match="d_kv"):
    lowrank.projection_parameters(8, 2, 0, lowrank.ProjectionSpec())
  with pytest.raises(ValueError, match=r"^t5 must be a T5Config, got NoneType"):
    lowrank.attention_parameters(None)
  with pytest.raises(ValueError, match=r"^t5 must be a T5Config, got str"):
    lowrank.attention_size_ratio("base")
  with pytest.raises(ValueError, match=r"^t5 must be a T5Config, got int"):
    lowrank.layer_indices(3)
  with pytest.raises(ValueError, match=r"^t5 must be a T5Config, got NoneType"):
    lowrank.authors_layout(None, 7, 0.4)
  with pytest.raises(ValueError, match="beta"):
    lowrank.authors_layout(T5_SMALL, 7, -0.4)
  assert lowrank.nearest_power_of_two(7, 64) == 8 and lowrank.nearest_power_of_two(100, 64) == 64
