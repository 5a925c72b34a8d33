"""Table 3 without its confound, post hoc: rank growing with depth inside each stack against one
rank everywhere, and self- against cross-attention, at equal stored attention size.

Command: ``python -m experiments.table3_depth [--model DIR] [--seed S] [--out DIR] [--full |
--smoke]``
Runtime: see ``wall_time_s`` in figures/table3_depth.json.

The paper's Table 3 (§5, flow-of-ranks): at equal size, a rank that differs per layer and grows
with depth (``d_l = d0 (1 + l)^alpha``) beats a layer-independent one. experiments.table3's
"flow" layouts number the layers as the authors do (cross-attention after the self-attention
layers), so they move rank from self- to cross-attention as much as along depth. Here the two
are separated, on the model ``--model`` names (default: the shipped one), by truncated SVD of
every attention matrix (:func:`lowrank_ts.models.posthoc.compress_to_ranks`, each q / k / v / o
of a layer at that layer's rank). Arms at each uniform rank ``r`` (:data:`RANKS`):

- ``uniform``: ``r`` in every layer;
- ``depth-growing``: in each stack (encoder self-attention by encoder depth, decoder self- and
  cross-attention each by decoder depth) the power schedule ``ceil(d0 (1 + l)^alpha)``,
  ``d0 = r / 2`` (Table 3's "d0 half the uniform size"), alpha such that the stack keeps the
  uniform total (2 layers: ``(r/2, 3r/2)``, alpha = log2 3);
- ``depth-shrinking``: the same ranks in reverse order (the control: the paper predicts it
  loses);
- ``encoder-growing`` / ``decoder-growing``: depth-growing in one stack only, uniform in the
  other (which stack carries the depth effect; Moirai, the paper's Table 3 model, has only an
  encoder);
- ``cross-heavy``: self-attention layers ``3r/4``, cross-attention what keeps the total
  (2+2 layers: ``3r/2``), the direction experiments.table3's layouts moved rank;
- ``self-heavy``: cross-attention ``r/2``, self-attention what keeps the total (``5r/4``).

Every arm stores the same attention parameter count (a construction check): all ranks are below
``d_in d_out / (d_in + d_out)``, so each matrix is stored as factors of ``r (d_in + d_out)``
parameters; size ratio ``r / 32`` of the dense attention (0.125, 0.25, 0.5 at d_model 64).
The decoder reads one token, so its self-attention's q and k cannot change the forecast
(softmax over one key); the self-heavy arm spends r more of its budget on them than uniform,
the cross-heavy r less (the comparisons are between budgets, not between useful ranks).

Score: the precondition's scorer, on validation series only (never a scored benchmark):
aggregate WQL relative to Seasonal Naive for each arm, and, per series, the scaled quantile loss
(:func:`lowrank_ts.evaluation.metrics.scaled_quantile_loss`). A comparison of arm B against
arm A is the paired difference SQL(A) - SQL(B) of each series (positive: B better); its effect
is the mean over validation sets of each set's mean difference (the sets weigh equally, as in
the aggregate score), its SE sqrt(sum_set s_set^2 / n_set) / sets. Truncated SVD is
deterministic: the spread is over validation series, not seeds (``--seed`` changes nothing the
model computes; it is recorded).

Decided before the run:
- claim (proxy: post-hoc truncation of the reference model, not pretraining): "growing rank
  with depth beats a uniform rank at equal size". Resolved in favour when depth-growing beats
  uniform by >= 2 SE at every rank: PASS; against when uniform beats it by >= 2 SE at some
  rank: FAIL; otherwise "not resolved". Two checks carry it, ``depth_growing_beats_uniform``
  (min over ranks of the effect in SE >= 2) and ``uniform_not_better_than_depth_growing`` (max
  over ranks of the reverse effect in SE < 2), so the status is PASS (proxy) when resolved in
  favour, PARTIAL when not resolved, FAIL when resolved against.
- findings, each "resolved" only at >= 2 SE: depth-shrinking vs uniform and vs depth-growing
  (whether the measurement can tell schedules apart at all); encoder-growing and
  decoder-growing vs uniform (the depth effect stack by stack); cross-heavy and self-heavy vs
  uniform and against each other (the self- vs cross-attention split, named as such).
Precondition (experiments/precondition.py): the model forecasts and uses its attention;
otherwise the status is UNINFORMATIVE.
"""

from __future__ import annotations

import math
import sys
import time

import matplotlib.pyplot as plt
import numpy as np

from experiments import common, precondition, trained
from lowrank_ts.evaluation import metrics, report, scoring
from lowrank_ts.interop import hf, resolve
from lowrank_ts.models import allocation, lowrank, posthoc
from lowrank_ts.models.config import ATTENTION_KINDS

# Uniform ranks r (size ratio r (d_in + d_out) / (d_in d_out) = r / 32 at d_model 64).
RANKS = {"smoke": (8,), "default": (4, 8, 16), "full": (4, 8, 16)}
# Validation series per set: 40 puts every set at (nearly) its full size but val-real-A's 941.
SERIES_PER_SET = {"smoke": 2, "default": 40, "full": None}
ARMS = ("uniform", "depth-growing", "depth-shrinking", "encoder-growing", "decoder-growing",
        "cross-heavy", "self-heavy")
# (arm B, arm A): the effect is SQL(A) - SQL(B), positive when B is better.
COMPARISONS = (("depth-growing", "uniform"), ("depth-shrinking", "uniform"),
               ("depth-growing", "depth-shrinking"), ("encoder-growing", "uniform"),
               ("decoder-growing", "uniform"), ("cross-heavy", "uniform"),
               ("self-heavy", "uniform"), ("cross-heavy", "self-heavy"))
STYLES = {"uniform": "-o", "depth-growing": "-o", "depth-shrinking": "-o",
          "encoder-growing": ":^", "decoder-growing": ":v", "cross-heavy": "--s",
          "self-heavy": "--s"}
RESOLVED_SE = 2.0  # an effect counts only at >= 2 SE (about 95 % two-sided)
SELF_KINDS, CROSS_KINDS = ("encoder", "decoder_self"), ("decoder_cross",)
PROXY = "post-hoc truncation of the shipped d_model-64 Chronos-Bolt, not pretrained layouts"


def growing(num_layers: int, mean_rank: int) -> tuple[int, ...]:
  """Power-schedule ranks ``ceil(d0 (1 + l)^alpha)`` over ``num_layers`` layers, ``d0 =
  mean_rank / 2``, alpha (by bisection) the smallest whose total is ``num_layers mean_rank``;
  a ValueError when no alpha hits that total exactly."""
  target = num_layers * mean_rank
  def total(alpha):
    return sum(lowrank.PowerLawSchedule(mean_rank / 2, alpha).ranks(num_layers))
  lo, hi = 0.0, 8.0
  if num_layers < 2 or total(hi) < target:
    raise ValueError(f"no power schedule from {mean_rank / 2:g} has mean {mean_rank} over "
                     f"{num_layers} layers")
  for _ in range(100):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if total(mid) < target else (lo, mid)
  ranks = lowrank.PowerLawSchedule(mean_rank / 2, hi).ranks(num_layers)
  if sum(ranks) != target:
    raise ValueError(f"no power schedule from {mean_rank / 2:g} has total {target} over "
                     f"{num_layers} layers exactly (nearest {ranks})")
  return ranks


def _split(layers: dict[str, int], rank: int, self_rank=None, cross_rank=None) -> dict:
  """Self-attention layers at ``self_rank`` or cross-attention at ``cross_rank``, the other
  kind at the rank that keeps the uniform total ``rank`` x layers."""
  n_self = sum(layers[k] for k in SELF_KINDS)
  n_cross = sum(layers[k] for k in CROSS_KINDS)
  total = rank * (n_self + n_cross)
  if self_rank is None:
    self_rank = (total - cross_rank * n_cross) / n_self
  else:
    cross_rank = (total - self_rank * n_self) / n_cross
  if not (float(self_rank).is_integer() and float(cross_rank).is_integer()):
    raise ValueError(f"rank {rank}: the split is not whole ({self_rank}, {cross_rank})")
  return {k: (int(self_rank if k in SELF_KINDS else cross_rank),) * layers[k] for k in layers}


def arm_layer_ranks(arm: str, rank: int, layers: dict[str, int]) -> dict[str, tuple[int, ...]]:
  """``{attention kind: rank of each layer}`` of ``arm`` at uniform rank ``rank``; ``layers``:
  ``{kind: number of layers}``."""
  if arm == "uniform":
    return {k: (rank,) * n for k, n in layers.items()}
  if arm == "depth-growing":
    return {k: growing(n, rank) for k, n in layers.items()}
  if arm == "depth-shrinking":
    return {k: growing(n, rank)[::-1] for k, n in layers.items()}
  if arm in ("encoder-growing", "decoder-growing"):
    grown = ("encoder",) if arm == "encoder-growing" else ("decoder_self", "decoder_cross")
    return {k: growing(n, rank) if k in grown else (rank,) * n for k, n in layers.items()}
  if arm == "cross-heavy":
    return _split(layers, rank, self_rank=3 * rank / 4)
  if arm == "self-heavy":
    return _split(layers, rank, cross_rank=rank / 2)
  raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")


def layer_counts(model) -> dict[str, int]:
  t5 = model.config.t5
  return {k: len(t5.attention_specs(k)) for k in ATTENTION_KINDS}


def matrix_ranks(layer_ranks: dict[str, tuple[int, ...]], spectra) -> tuple[int, ...]:
  """One rank per attention matrix, in :func:`posthoc.attention_projections` order."""
  out = []
  for s in spectra:
    kind, layer, _ = s.name.split(".")
    out.append(layer_ranks[kind][int(layer)])
  return tuple(out)


def paired(sql_a: np.ndarray, sql_b: np.ndarray, datasets: list[str]) -> dict:
  """Effect (mean over sets of the set's mean of SQL(A) - SQL(B)), its SE and effect / SE."""
  diff = np.asarray(sql_a, np.float64) - np.asarray(sql_b, np.float64)
  datasets = np.asarray(datasets)
  names = list(dict.fromkeys(datasets.tolist()))
  means, variances = [], []
  for name in names:
    d = diff[datasets == name]
    if d.size < 2:
      raise ValueError(f"validation set {name} has {d.size} series; a paired SE needs >= 2")
    means.append(d.mean())
    variances.append(d.var(ddof=1) / d.size)
  effect = float(np.mean(means))
  se = float(math.sqrt(sum(variances)) / len(names))
  z = effect / se if se > 0 else (math.inf * np.sign(effect) if effect else 0.0)
  return {"effect": effect, "se": se, "z": float(z), "resolved": abs(z) >= RESOLVED_SE,
          "series": int(diff.size), "sets": len(names)}


def _series_sql(rows) -> np.ndarray:
  return np.concatenate([metrics.scaled_quantile_loss(r["target"][None], r["quantiles"][None],
                                                      [r["seasonal_error"]]) for r in rows])


def compute(model, size: str, seed: int, label: str):
  tasks = precondition.validation_tasks(SERIES_PER_SET[size])
  naive = report.baseline_forecaster("validation")
  baseline = scoring.per_dataset(scoring.evaluate(naive, tasks))
  spectra = posthoc.spectra(model)
  layers = layer_counts(model)
  dense_count = sum(s.d_in * s.d_out for s in spectra)

  def score(m):
    s = report.score(scoring.model_forecaster(m, seed=seed), tasks, baseline, naive)
    return {"relative_wql": s.aggregate["wql"], "relative_mase": s.aggregate["mase"],
            "sql": _series_sql(s.rows)}

  dense = score(model)
  arms = {}
  for rank in RANKS[size]:
    for arm in ARMS:
      layer_ranks = arm_layer_ranks(arm, rank, layers)
      ranks = matrix_ranks(layer_ranks, spectra)
      compressed, _ = posthoc.compress_to_ranks(model, ranks, "paper", found_spectra=spectra)
      # Scored multiplied out (the same function to fp32 round-off, tests/test_compress.py):
      # the dense model's shapes, so every arm reuses one compilation.
      product = hf.from_tensors(hf.dense_config(compressed.config), hf.to_tensors(compressed))
      stored = allocation.stored_parameters(spectra, ranks, "efficient")
      arms[f"{arm} r{rank}"] = {"arm": arm, "rank": rank, "layer_ranks": layer_ranks,
                                "stored_attention_parameters": stored,
                                "size_ratio": stored / dense_count,
                                "rank_ratio": allocation.rank_ratio(spectra, ranks, "paper"),
                                **score(product)}
      a = arms[f"{arm} r{rank}"]
      print(f"  r {rank} {arm:<16} size {a['size_ratio']:.3f} rel WQL {a['relative_wql']:.4f} "
            f"mean SQL {a['sql'].mean():.4f}", flush=True)
  datasets = [t.dataset for t in tasks]
  comparisons = {f"{b} vs {a} r{rank}": {"b": b, "a": a, "rank": rank, **paired(
      arms[f"{a} r{rank}"]["sql"], arms[f"{b} r{rank}"]["sql"], datasets)}
      for rank in RANKS[size] for b, a in COMPARISONS}
  results = {"dense": dense, "arms": arms, "comparisons": comparisons, "datasets": datasets,
             "series": [t.series for t in tasks]}
  params = {"model": label, "ranks": RANKS[size], "series_per_set": SERIES_PER_SET[size],
            "num_series": len(tasks), "arms": ARMS, "comparisons": COMPARISONS,
            "layers": layers, "resolved_se": RESOLVED_SE,
            "mode": "paper (every matrix truncated at its rank; every rank below d_in d_out / "
                    "(d_in + d_out), so each is stored as factors)",
            "dense_attention_parameters": dense_count}
  return results, params


def _z(results, b, a):
  return {c["rank"]: c["z"] for c in results["comparisons"].values()
          if (c["b"], c["a"]) == (b, a)}


def outcome(z_by_rank: dict) -> str:
  """The claim's three-way status: resolved in favour at every rank, against at some rank, or
  not resolved."""
  if min(z_by_rank.values()) >= RESOLVED_SE:
    return "PASS (proxy)"
  if max(-z for z in z_by_rank.values()) >= RESOLVED_SE:
    return "FAIL"
  return "not resolved"


def _text(c) -> str:
  return (f"r {c['rank']}: {c['effect']:+.4f} +- {c['se']:.4f} ({c['z']:+.2f} SE, "
          f"{'resolved' if c['resolved'] else 'not resolved'})")


def verdicts(results, params):
  v = common.Verdict()
  counts = {}
  for a in results["arms"].values():
    counts.setdefault(a["rank"], set()).add(a["stored_attention_parameters"])
  v.check("equal_stored_parameters", max(len(c) for c in counts.values()) - 1, "<=", 0,
          "distinct stored attention parameter counts among the arms at one rank, minus 1",
          "every comparison is at equal stored size", kind="construction")
  z = _z(results, "depth-growing", "uniform")
  v.check("depth_growing_beats_uniform", min(z.values()), ">=", RESOLVED_SE,
          "min over ranks of (SQL uniform - SQL depth-growing) in SE of the paired differences",
          "Table 3: a rank growing with depth beats a uniform one at equal size; resolved at "
          "2 SE", kind="proxy", proxy=PROXY)
  v.check("uniform_not_better_than_depth_growing", max(-x for x in z.values()), "<",
          RESOLVED_SE, "max over ranks of (SQL depth-growing - SQL uniform) in SE",
          "the claim is contradicted where uniform wins by a resolved 2 SE", kind="proxy",
          proxy=PROXY)
  v.finding("claim_depth_growing_beats_uniform", outcome(z),
            f"depth-growing vs uniform: {outcome(z)} (PASS at >= 2 SE in favour at every rank, "
            "FAIL at >= 2 SE against at some rank)")
  for b, a in COMPARISONS[1:]:
    found = [c for c in results["comparisons"].values() if (c["b"], c["a"]) == (b, a)]
    v.finding(f"{b}_vs_{a}".replace("-", "_"), {c["rank"]: c for c in found},
              f"SQL({a}) - SQL({b}) per series: " + "; ".join(_text(c) for c in found))
  precondition.record_all(v, results["precondition"])
  return v


def plot(results, params):
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
  ax = axes[0]
  for i, arm in enumerate(ARMS):
    rows = sorted((a for a in results["arms"].values() if a["arm"] == arm),
                  key=lambda a: a["size_ratio"])
    ax.plot([a["size_ratio"] for a in rows], [a["relative_wql"] for a in rows],
            STYLES[arm], color=f"C{i}", label=arm)
  ax.axhline(results["dense"]["relative_wql"], color="k", lw=0.8, label="dense")
  ax.axhline(1.0, color="grey", lw=0.5, ls=":")
  ratios = sorted({a["size_ratio"] for a in results["arms"].values()})
  ax.set_xticks(ratios, [f"{r:.3g}" for r in ratios])
  ax.set(xlabel="stored attention parameters / dense (equal across arms)",
         ylabel="validation WQL relative to Seasonal Naive",
         title="post-hoc arms at equal stored size")
  ax.legend(fontsize=7)
  ax = axes[1]
  ranks = list(params["ranks"])
  width = 0.8 / len(COMPARISONS)
  for j, (b, a) in enumerate(COMPARISONS):
    z = _z(results, b, a)
    ax.bar(np.arange(len(ranks)) + (j - (len(COMPARISONS) - 1) / 2) * width,
           [z[r] for r in ranks], width, label=f"{b} better than {a}")
  for y in (RESOLVED_SE, -RESOLVED_SE):
    ax.axhline(y, color="k", lw=0.6, ls="--")
  ax.set_xticks(range(len(ranks)), [f"r {r}" for r in ranks])
  ax.set(ylabel="paired effect / SE (per-series SQL)",
         title=f"paired differences, {params['num_series']} validation series (±2 SE)")
  ax.legend(fontsize=6)
  fig.suptitle(f"{params['model']}: Table 3 without the confound (SE over series: truncated "
               "SVD is deterministic)", fontsize=10)
  fig.tight_layout()
  return fig


def headline(results, params):
  z = _z(results, "depth-growing", "uniform")
  parts = [f"depth-growing vs uniform {outcome(z)} (" + ", ".join(
      f"r {r}: {x:+.2f} SE" for r, x in z.items()) + ")"]
  for b, a in COMPARISONS[1:]:
    parts.append(f"{b} vs {a} " + ", ".join(f"{x:+.2f}" for x in _z(results, b, a).values()))
  return "; ".join(parts) + " (SE units, positive: the first arm better)"


def main(argv=None) -> int:
  args = common.parse_args(__doc__, argv, extra={"--model": trained.model_flags("")["--model"]})
  start = time.time()
  try:
    source = resolve.source(args.model, "--model")
  except ValueError as err:
    print(f"table3_depth: error: {err}", file=sys.stderr)
    return 2
  try:
    model = source.load()
  except (ValueError, OSError) as err:
    print(f"table3_depth: error: --model {args.model}: {err}", file=sys.stderr)
    return 1
  if model.sampled:  # scored as a quantile forecaster, as the precondition scores Bolt
    print(f"table3_depth: error: --model must name a Chronos-Bolt (patch) model; "
          f"{source.name} is a sampled token model", file=sys.stderr)
    return 1
  label = f"{source.name} ({source.kind})"
  try:
    results, params = compute(model, args.size, args.seed, label)
  except ValueError as err:  # a model whose layer counts give no equal-size arms
    print(f"table3_depth: error: --model {source.name}: {err}", file=sys.stderr)
    return 1
  results["precondition"] = precondition.to_json(
      precondition.measure_models({"Chronos-Bolt": model}, args.size, args.seed))
  verdict = verdicts(results, params)
  return common.finish("table3_depth", args, plot(results, params), results, params, verdict,
                       start, headline(results, params))


if __name__ == "__main__":
  sys.exit(main())
