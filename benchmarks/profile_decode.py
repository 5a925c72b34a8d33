"""Where Chronos-T5 sampling spends its time: the pieces of the forecast timed as jitted programs.

Command: ``python -m benchmarks.profile_decode [--size small] [--batch 8] [--samples 20]
[--repeats 15] [--out FILE]`` (about 5 minutes for small on 2 cores).

Random weights at a chronos-t5 size (speed does not depend on them), context 512 (+ EOS),
horizon 64, ``--samples`` paths per series. Each piece is one jitted program over the shapes
it has inside the decode loop (``[B, N, 1, D]`` decoder rows, caches of 64 positions, the
encoder's 513 keys); the pieces are timed in interleaved rounds (one call of every piece per
round, ``--repeats`` rounds after a warm-up), so a change in the machine's load reaches all of
them alike, and each piece's median is reported with its FLOPs' share of the machine's jitted
matmul rate. The whole forecast (:func:`lowrank_ts.inference.sampling.sample`) is timed beside
them, so each piece's share of ``horizon`` steps can be set against the total (a separate
program pays a dispatch the fused loop does not). A self-attention cache is donated to the
program that writes it, so its write is in place as inside the loop. The reference's pieces
(marked "reference") are timed in the same rounds and left out of the sum.

The whole forecast is also timed through the unfused reference decoder. Per decoder layer two
versions of the self-attention step are timed: the sampler's
(:mod:`lowrank_ts.models.fused_decode`: q / k / v as one product of the factors concatenated once
per forecast, the bias of the step sliced from the one computed per forecast) and the unfused
reference (:meth:`T5.decode_step`'s: three projections, the bias built for the step). Then
cross-attention over the shared encoder keys, the feed-forward block, the LM head and the
top-k / categorical draw, the encoder and the once-per-forecast preparation of each path.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time

import jax
import jax.numpy as jnp
from flax import nnx

from benchmarks import common, inference
from benchmarks.flops import chronos_forecast_flops
from lowrank_ts.inference import sampling
from lowrank_ts.models import ChronosConfig, decode_ops, registry, sampler
from lowrank_ts.models.config import T5Config
from lowrank_ts.models.layers import SelfAttentionCache


class _Piece:
  """A jitted program called with fixed arguments; a donated cache is fed back each call."""

  def __init__(self, fn, *args, per_forecast: int, flops: float = 0.0, carry: bool = False,
               reference: bool = False):
    self.fn, self.args, self.per_forecast, self.flops = fn, list(args), per_forecast, flops
    self.carry, self.reference, self.times = carry, reference, []

  def call(self):
    out = self.fn(*self.args)
    jax.block_until_ready(out)
    if self.carry:  # (new cache, output): the cache goes back in for the next call
      self.args[-1] = out[0]

  def timed(self):
    start = time.perf_counter()
    self.call()
    self.times.append(time.perf_counter() - start)


def run(size: str = "small", batch: int = 8, samples: int = 20, context: int = 512,
        horizon: int = 64, repeats: int = 15) -> dict:
  d_model, d_ff, layers, heads, d_kv = inference.SIZES[size]
  t5 = T5Config(vocab_size=4096, d_model=d_model, d_ff=d_ff, num_layers=layers,
                num_heads=heads, d_kv=d_kv, initializer_factor=0.05)
  model = registry.build(ChronosConfig(t5), seed=0)
  graphdef, state = nnx.split(model)
  ids = jax.random.randint(jax.random.key(1), (batch, context + 1), 3, 4096)
  mask = jnp.ones(ids.shape, bool)
  key = jax.random.key(0)
  matmul = common.matmul_gflops()
  record = {"machine": common.machine(), "matmul": matmul,
            "settings": dict(size=size, batch=batch, samples=samples, context=context,
                             horizon=horizon, repeats=repeats), "pieces": {}}
  rows = batch * samples  # decoder rows per step
  inner = heads * d_kv

  def layer0(state):
    return nnx.merge(graphdef, state).decoder.layers[0]

  @jax.jit
  def encode(state):
    return nnx.merge(graphdef, state).encode(ids, mask)
  encoder = encode(state)

  @jax.jit
  def init_state(state, encoder):
    return nnx.merge(graphdef, state).init_decode_state(encoder, mask, samples, horizon)

  @jax.jit
  def init_cache(state, encoder):
    return nnx.merge(graphdef, state).init_decode_cache(encoder, mask, samples, horizon)
  decode_state, cache = init_state(state, encoder), init_cache(state, encoder)
  h = jax.random.normal(jax.random.key(2), (batch, samples, 1, d_model))
  index = jnp.int32(horizon // 2)

  @functools.partial(jax.jit, donate_argnums=4)
  def fused_self_attention(state, h, factor, bias_HTT, self_cache):
    layer = layer0(state)
    projections = (layer.self_attention.q, layer.self_attention.k, layer.self_attention.v)
    parts = decode_ops.split_fused(layer.self_norm(h) @ factor,
                                   [p.factor_width for p in projections])
    q, k, v = (p.from_factor(y) for p, y in zip(projections, parts, strict=True))
    new = SelfAttentionCache(decode_ops.write_cache(self_cache.keys, k, index),
                             decode_ops.write_cache(self_cache.values, v, index))
    out = decode_ops.cached_attention(q, new.keys, new.values,
                                      decode_ops.step_bias(bias_HTT, index, 1))
    return new, h + layer.self_attention.o(out)

  @functools.partial(jax.jit, donate_argnums=2)
  def reference_self_attention(state, h, self_cache):
    m = nnx.merge(graphdef, state)
    layer = m.decoder.layers[0]
    bias = m.decoder.position_bias(1, horizon, query_offset=index)
    new, out = layer.self_attention(layer.self_norm(h), None, bias, self_cache, index)
    return new, h + out

  @jax.jit
  def cross_attention(state, h, cross, cross_bias):
    layer = layer0(state)
    _, out = layer.cross_attention(layer.cross_norm(h), None, cross_bias, cross)
    return h + out

  @jax.jit
  def feed_forward(state, h):
    layer = layer0(state)
    return h + layer.ff(layer.ff_norm(h))

  @jax.jit
  def lm_head(state, h):
    m = nnx.merge(graphdef, state)
    return m.lm_logits(m.decoder.final_norm(h))
  logits = lm_head(state, h)[:, :, 0]

  @jax.jit
  def choose(logits):
    logits = logits.at[..., 1].set(-jnp.inf)
    values, idx = sampler.warp_logits(logits, jnp.float32(1.0), 50, jnp.float32(1.0))
    pick = jax.random.categorical(key, values, axis=-1)
    return jnp.take_along_axis(idx, pick[..., None], axis=-1)[..., 0]

  def whole():
    return sampling.sample(model, ids, mask, key, num_samples=samples, horizon=horizon)

  @nnx.jit
  def reference_whole(model):
    """The same forecast through the unfused reference decoder (init_decode_cache /
    decode_step), drawing as :func:`sampler.sample_tokens` does."""
    cache = model.init_decode_cache(model.encode(ids, mask), mask, samples, horizon)

    def body(carry, step):
      token_BN, cache = carry
      cache, logits = model.decode_step(token_BN[..., None], cache, step)
      values, idx = sampler.warp_logits(logits[:, :, 0].at[..., 1].set(-jnp.inf),
                                        jnp.float32(1.0), 50, jnp.float32(1.0))
      pick = jax.random.categorical(jax.random.fold_in(key, step), values, axis=-1)
      next_BN = jnp.take_along_axis(idx, pick[..., None], axis=-1)[..., 0].astype(jnp.int32)
      return (next_BN, cache), next_BN

    start = jnp.full((batch, samples), model.decoder_start_token_id, jnp.int32)
    return jax.lax.scan(body, (start, cache), jnp.arange(horizon))[1]

  per_layer = horizon * layers
  seq = context + 1
  mac = 2.0  # FLOPs per multiply-add
  # Attention products per decoder row: self over (on average) horizon / 2 cached positions
  # as the forecast counts them, cross over the seq encoder keys.
  self_flops = mac * rows * (4 * d_model * inner + 2 * inner * (horizon + 1) / 2)
  counted = chronos_forecast_flops(t5, batch, seq, horizon, samples)
  pieces = {
      "whole forecast": _Piece(whole, per_forecast=1, flops=counted["total"]),
      "reference whole forecast (unfused decode_step)": _Piece(
          reference_whole, model, per_forecast=1, flops=counted["total"], reference=True),
      "encoder": _Piece(encode, state, per_forecast=1, flops=counted["encoder"]),
      "prepare: fused factors, every step's bias, cross K/V (init_decode_state)": _Piece(
          init_state, state, encoder, per_forecast=1, flops=counted["cross_kv"]),
      "reference prepare: cross K/V (init_decode_cache)": _Piece(
          init_cache, state, encoder, per_forecast=1, reference=True),
      "self-attention (fused q/k/v) + cache write, per layer-step": _Piece(
          fused_self_attention, state, h, decode_state.qkv_factors[0], decode_state.self_bias,
          decode_state.self_attention[0], per_forecast=per_layer, flops=self_flops, carry=True),
      "reference self-attention (unfused, bias per step) + cache write, per layer-step": _Piece(
          reference_self_attention, state, h, cache.self_attention[0], per_forecast=per_layer,
          flops=self_flops, carry=True, reference=True),
      "cross-attention, per layer-step": _Piece(
          cross_attention, state, h, decode_state.cross_attention[0], decode_state.cross_bias,
          per_forecast=per_layer, flops=mac * rows * (2 * d_model * inner + 2 * inner * seq)),
      "feed-forward, per layer-step": _Piece(feed_forward, state, h, per_forecast=per_layer,
                                             flops=mac * rows * 2 * d_model * d_ff),
      "LM head, per step": _Piece(lm_head, state, h, per_forecast=horizon,
                                  flops=mac * rows * d_model * t5.vocab_size),
      "top-k 50 + softmax + draw, per step": _Piece(choose, logits, per_forecast=horizon),
  }
  for piece in pieces.values():
    piece.call()  # compiles
  for _ in range(repeats):
    for name, piece in pieces.items():
      if "whole forecast" in name and len(piece.times) >= max(3, repeats // 5):
        continue  # seconds per call: a few are enough
      piece.timed()
  rate = matmul["gflops_best"] * 1e9
  whole_s = statistics.median(pieces["whole forecast"].times)
  summed = 0.0
  for name, piece in pieces.items():
    seconds = statistics.median(piece.times)
    entry = {"seconds": seconds, "reference": piece.reference, "per_forecast": piece.per_forecast,
             "seconds_per_forecast": seconds * piece.per_forecast,
             "share_of_whole": seconds * piece.per_forecast / whole_s}
    if piece.flops:
      entry["flops"] = piece.flops
      entry["fraction_of_matmul_rate"] = piece.flops / seconds / rate
    record["pieces"][name] = entry
    if name != "whole forecast" and not piece.reference:
      summed += entry["seconds_per_forecast"]
  record["sum_of_pieces_s"] = summed
  return record


def table(record: dict) -> str:
  lines = ["| piece | ms per call | calls per forecast | s per forecast | share of the whole | "
           "its FLOPs' share of the matmul rate |", "|---|---|---|---|---|---|"]
  for name, p in record["pieces"].items():
    rate = p.get("fraction_of_matmul_rate")
    lines.append(f"| {name} | {1e3 * p['seconds']:.3f} | {p['per_forecast']} | "
                 f"{p['seconds_per_forecast']:.3f} | {100 * p['share_of_whole']:.0f} % | "
                 f"{'' if rate is None else f'{100 * rate:.0f} %'} |")
  lines.append(f"| sum of the sampler's pieces (separate programs) |  |  | {record['sum_of_pieces_s']:.3f}"
               " |  |  |")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--size", default="small", choices=["tiny", "small", "base", "cpu"])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--samples", type=int, default=20)
  parser.add_argument("--repeats", type=int, default=15)
  parser.add_argument("--out", default=None)
  args = parser.parse_args(argv)
  for name in ("batch", "samples", "repeats"):
    if getattr(args, name) < 1:
      parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
  record = run(args.size, args.batch, args.samples, repeats=args.repeats)
  record["table"] = table(record)
  print(f"matmul {record['matmul']['gflops_best']:.0f} GFLOP/s")
  print(record["table"])
  if args.out:
    with open(args.out, "w") as f:
      json.dump(record, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
