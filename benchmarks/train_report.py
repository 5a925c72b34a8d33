"""The report of benchmarks.train: the markdown table of every workload's rates and the
diagnosis of where a step's time goes in both stacks (from the forward / backward split and
the analytic forward FLOP shares)."""

from __future__ import annotations

ENCODER_PARTS = ("encoder_attention_projections", "encoder_attention_scores",
                 "encoder_feed_forward")


def diagnosis(record: dict) -> str:
  """Where a step's time goes in both stacks (from the forward / backward split)."""
  parts = []
  for stack in ("ours", "reference"):
    prof = record.get(stack, {}).get("profile")
    if prof:
      step = prof["step_s"]
      parts.append(f"{stack}: step {step:.3f} s = forward {prof['forward_s']:.3f} s "
                   f"({prof['forward_s'] / step:.0%}) + backward {prof['backward_s']:.3f} s "
                   f"({prof['backward_s'] / step:.0%}) + optimizer and rest "
                   f"{prof['optimizer_and_rest_s']:.3f} s "
                   f"({prof['optimizer_and_rest_s'] / step:.0%}); forward "
                   f"{prof['forward_gflops']:.1f} GFLOP/s, backward "
                   f"{prof['backward_gflops']:.1f} GFLOP/s, encoder forward "
                   f"{prof['encoder_forward_s']:.3f} s at {prof['encoder_forward_gflops']:.1f} "
                   f"GFLOP/s; step {record[stack]['gflops']:.1f} GFLOP/s "
                   f"({record[stack]['fraction_of_matmul_rate']:.0%} of the matmul rate)")
  flops = record["forward_flops"]
  shares = sorted(((v / flops["total"], k) for k, v in flops.items() if k != "total"),
                  reverse=True)[:3]
  parts.append("largest forward FLOP shares: " + ", ".join(f"{k} {s:.0%}" for s, k in shares)
               + "; attention scores are "
               f"{flops['encoder_attention_scores'] / sum(flops[k] for k in ENCODER_PARTS):.0%}"
               " of the encoder's FLOPs")
  return "; ".join(parts)


def table(records: list[dict], matmul_gflops: float) -> str:
  lines = [f"Jitted fp32 matmul rate here: {matmul_gflops:.1f} GFLOP/s.", "",
           ("| workload | stack | mesh | steps/s | tokens/s | train GFLOP/step | GFLOP/s | "
            "of matmul rate | first call s | ours / reference tokens/s | "
            "input pipeline batches/s |"),
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in records:
    for stack in ("ours", "reference"):
      if stack not in r:
        continue
      s = r[stack]
      ratio = f"{r['ratio_tokens_per_s']:.2f}" if stack == "ours" and "reference" in r else ""
      pipe = f"{r['pipeline']['batches_per_s']:.1f}" if stack == "ours" else ""
      lines.append(f"| {r['name']} | {stack} | {tuple(r['mesh_shape'])} | "
                   f"{s['steps_per_s']:.3f} | {s['tokens_per_s']:.0f} | "
                   f"{r['train_flops_per_step'] / 1e9:.2f} | {s['gflops']:.1f} | "
                   f"{s['fraction_of_matmul_rate']:.0%} | {s['compile_or_first_s']:.1f} | "
                   f"{ratio} | {pipe} |")
  return "\n".join(lines)
