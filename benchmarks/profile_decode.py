"""Where Chronos-T5 sampling spends its time: the pieces of the forecast timed as jitted programs.

Command: ``python -m benchmarks.profile_decode [--size small] [--batch 8] [--samples 20]
[--repeats 20] [--out FILE]`` (about 2 minutes for small on 2 cores).

Random weights at a chronos-t5 size (speed does not depend on them), context 512 (+ EOS),
horizon 64, ``--samples`` paths per series. Each piece is one jitted program over the shapes
it has inside the decode loop (``[B, N, 1, D]`` decoder rows, caches of 64 positions, the
encoder's 513 keys), timed as the median over ``--repeats`` calls after a warm-up; the whole
forecast (:func:`lowrank_ts.inference.sampling.sample`) is timed beside them, so the share of
each piece in ``horizon`` steps can be compared with the total (dispatch of a separate program
adds ~10-50 us per piece that the fused loop does not pay). The pieces per decoder layer:
self-attention with its cache update, cross-attention over the shared encoder keys, the
feed-forward block (with its norm and residual); then the LM head and the top-k / categorical
draw over the vocabulary, and the encoder (once per forecast).
"""

from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp
from flax import nnx

from benchmarks import common, inference


def _time(fn, *args, repeats):
  out = fn(*args)
  jax.block_until_ready(out)
  return common.timed(lambda: jax.block_until_ready(fn(*args)), repeats)["median_s"]


def run(size: str = "small", batch: int = 8, samples: int = 20, context: int = 512,
        horizon: int = 64, repeats: int = 20) -> dict:
  from lowrank_ts.inference import sampling
  from lowrank_ts.models import ChronosConfig, registry, sampler
  from lowrank_ts.models.config import T5Config
  d_model, d_ff, layers, heads, d_kv = inference.SIZES[size]
  t5 = T5Config(vocab_size=4096, d_model=d_model, d_ff=d_ff, num_layers=layers,
                num_heads=heads, d_kv=d_kv, initializer_factor=0.05)
  model = registry.build(ChronosConfig(t5), seed=0)
  graphdef, state = nnx.split(model)
  ids = jax.random.randint(jax.random.key(1), (batch, context + 1), 3, 4096)
  mask = jnp.ones(ids.shape, bool)
  key = jax.random.key(0)
  record = {"machine": common.machine(), "matmul": common.matmul_gflops(),
            "settings": dict(size=size, batch=batch, samples=samples, context=context,
                             horizon=horizon, repeats=repeats), "pieces": {}}
  pieces = record["pieces"]

  def whole():
    return sampling.sample(model, ids, mask, key, num_samples=samples, horizon=horizon)
  pieces["whole forecast"] = {"seconds": _time(whole, repeats=max(3, repeats // 5)),
                              "per_forecast": 1}

  @jax.jit
  def encode(state):
    return nnx.merge(graphdef, state).encode(ids, mask)
  pieces["encoder"] = {"seconds": _time(encode, state, repeats=max(3, repeats // 5)),
                       "per_forecast": 1}
  encoder = encode(state)

  @jax.jit
  def init_cache(state, encoder):
    return nnx.merge(graphdef, state).init_decode_cache(encoder, mask, samples, horizon)
  pieces["cross K/V (init_decode_cache)"] = {
      "seconds": _time(init_cache, state, encoder, repeats=repeats), "per_forecast": 1}
  cache = init_cache(state, encoder)
  h = jax.random.normal(jax.random.key(2), (batch, samples, 1, d_model))
  index = jnp.int32(horizon // 2)

  @jax.jit
  def self_attention(state, h, cache):
    dec = nnx.merge(graphdef, state).decoder
    layer = dec.layers[0]
    bias = dec.position_bias(1, horizon, query_offset=index)
    new, out = layer.self_attention(layer.self_norm(h), None, bias, cache.self_attention[0],
                                    index)
    return new, h + out

  @jax.jit
  def cross_attention(state, h, cache):
    layer = nnx.merge(graphdef, state).decoder.layers[0]
    _, out = layer.cross_attention(layer.cross_norm(h), None, cache.cross_bias,
                                   cache.cross_attention[0])
    return h + out

  @jax.jit
  def feed_forward(state, h):
    layer = nnx.merge(graphdef, state).decoder.layers[0]
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

  @jax.jit
  def cache_update(cache, h):
    c = cache.self_attention[0]
    new = jnp.swapaxes(h[..., None, :d_kv] * jnp.ones((heads, 1)), -3, -2)
    return (jax.lax.dynamic_update_slice_in_dim(c.keys, new, index, c.keys.ndim - 2),
            jax.lax.dynamic_update_slice_in_dim(c.values, new, index, c.values.ndim - 2))

  per_step = horizon
  per_layer = horizon * layers
  pieces["self-attention + cache write, per layer-step"] = {
      "seconds": _time(self_attention, state, h, cache, repeats=repeats),
      "per_forecast": per_layer}
  pieces["  of which the cache write alone"] = {
      "seconds": _time(cache_update, cache, h, repeats=repeats), "per_forecast": per_layer,
      "included_above": True}
  pieces["cross-attention, per layer-step"] = {
      "seconds": _time(cross_attention, state, h, cache, repeats=repeats),
      "per_forecast": per_layer}
  pieces["feed-forward, per layer-step"] = {
      "seconds": _time(feed_forward, state, h, repeats=repeats), "per_forecast": per_layer}
  pieces["LM head [B*N, d] x [d, 4096], per step"] = {
      "seconds": _time(lm_head, state, h, repeats=repeats), "per_forecast": per_step}
  pieces["top-k 50 + softmax + draw over 4096, per step"] = {
      "seconds": _time(choose, logits, repeats=repeats), "per_forecast": per_step}
  total = pieces["whole forecast"]["seconds"]
  summed = 0.0
  for name, p in pieces.items():
    p["seconds_per_forecast"] = p["seconds"] * p["per_forecast"]
    p["share_of_whole"] = p["seconds_per_forecast"] / total
    if name != "whole forecast" and not p.get("included_above"):
      summed += p["seconds_per_forecast"]
  record["sum_of_pieces_s"] = summed
  return record


def table(record: dict) -> str:
  lines = ["| piece | ms per call | calls per forecast | s per forecast | share of the whole |",
           "|---|---|---|---|---|"]
  for name, p in record["pieces"].items():
    lines.append(f"| {name.strip()} | {1e3 * p['seconds']:.3f} | {p['per_forecast']} | "
                 f"{p['seconds_per_forecast']:.3f} | {100 * p['share_of_whole']:.0f} % |")
  lines.append(f"| sum of the pieces (separate programs) |  |  | {record['sum_of_pieces_s']:.3f}"
               " |  |")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--size", default="small", choices=["tiny", "small", "base", "cpu"])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--samples", type=int, default=20)
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--out", default=None)
  args = parser.parse_args(argv)
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
