"""Beyond the paper: how the eps-rank (eq. 1) of a Chronos-Bolt's embedded input and of what each
attention's W_Q reads depends on the data.

Command: ``python -m experiments.rank_vs_data [--model DIR] [--seed S] [--out DIR] [--full |
--smoke]``
Runtime: see ``wall_time_s`` in figures/rank_vs_data.json.

The paper's conclusion (§6): "Our results highlight how properties of the model depend on and
interact with properties of the input data"; it measures that dependence only for a sinusoid
against white noise (App. Fig. 13) and for the patch size (Fig. 3a). Here, on the model
``--model`` names (default: the shipped one), for each data point, ``series`` contexts of the
model's context length, drawn ``draws`` times from independent streams:

- raw patches: the instance-normalised contexts cut into the model's patches, ``[k, series N]``
  (N patches per context);
- embedding: the patch embeddings entering encoder layer 1, ``[d_model, series N]``;
- W_Q inputs: the RMS-normed input of each attention's query projection
  (:func:`experiments.trained.attention_query_inputs`): encoder self-attention ``[d_model,
  series (N + 1)]`` (the REG token included), decoder self- and cross-attention ``[d_model,
  series]`` (the decoder reads one token per series).

Every point of a sweep has the same matrix shapes. Data (:mod:`lowrank_ts.data.controlled_synth`,
one characteristic changed at a time from a period-24 season, seasonal-to-noise ratio 10):
period; seasonal strength (noise 1: white noise at 0); noise level (strength 1: a pure
sinusoid at 0) -- under the model's instance norm only ratios matter, so these two are one
seasonal-to-noise axis, from each end; trend slope (per step, in the season's sd); AR(1) phi
(no season) up to the random walk; and the validation sets (:mod:`lowrank_ts.data.validation`),
disjoint draws of ``series`` contexts of full length per draw (sets with fewer are left out and
listed). Patch size: the embedding takes 2k features, so a trained model cannot be re-patched
without retraining; its dependence is measured on the raw patch matrices alone (``patch_series``
contexts cut into patches of each k), never through the model.

Rule, fixed before the run: per sweep, matrix and eps, an effect (largest minus smallest mean
eps-rank over the sweep's points) is "resolved" only when it exceeds the seed spread (the largest
range over draws at any point of the sweep); otherwise it is "not resolved". The sweeps are
findings, not checks: the paper states no claim about them.

Checks: (proxy) App. Fig. 13, "the numerical rank of the embedded input X is generally higher when
the context is random than sinusoidal": at both eps the mean embedding eps-rank of white noise
exceeds a pure sinusoid's by more than the larger seed range of the two; (by construction) a pure
sinusoid's raw patches have eps-rank <= 3 (two directions, plus the constant the instance norm
subtracts: the context is no whole number of periods) and the decoder's first layer reads one
start token for every series (its W_Q inputs have eps-rank 1). The model's precondition
(:mod:`experiments.precondition`) decides whether the run is UNINFORMATIVE.
"""

from __future__ import annotations

import sys
import time

import matplotlib.pyplot as plt
import numpy as np

from experiments import common, precondition, trained
from lowrank_ts import spectral
from lowrank_ts.data import benchmark, controlled_synth
from lowrank_ts.interop import resolve

EPS = (0.1, 0.01)  # the eps of Figs. 3a, 9 and 11 (0.1) and of Figs. 2 and 13 (0.01)
# series: contexts per point (validation sets need draws x series of full length);
# patch_series: contexts per raw-patch point (patches of 64 need >= 64 columns).
SIZES = {"smoke": dict(series=2, draws=3, patch_series=16),
         "default": dict(series=10, draws=3, patch_series=32),
         "full": dict(series=8, draws=5, patch_series=32)}
BASE = dict(period=24, strength=1.0, noise=0.1)
SWEEPS = {
    "period": [(f"{p}", dict(BASE, period=p)) for p in (4, 7, 12, 24, 52)],
    "seasonal strength": [(f"{s:g}", dict(period=24, strength=s, noise=1.0))
                          for s in (0, 0.1, 0.3, 1, 3, 10)],
    "noise level": [(f"{n:g}", dict(period=24, strength=1.0, noise=n))
                    for n in (0, 0.01, 0.03, 0.1, 0.3, 1)],
    "trend slope": [(f"{b:g}", dict(BASE, slope=b)) for b in (0, 0.001, 0.003, 0.01, 0.03, 0.1)],
    "AR(1) phi": [(f"{f:g}", dict(noise=1.0, phi=f)) for f in (0, 0.5, 0.9, 0.99, 1.0)],
}
WHITE_NOISE, SINUSOID = ("seasonal strength", "0"), ("noise level", "0")
PATCH_SIZES = (2, 4, 8, 16, 32, 64)
PATCH_FAMILIES = {"seasonal p24, SNR 10": BASE, "AR(1) 0.9": dict(noise=1.0, phi=0.9),
                  "random walk": dict(noise=1.0, phi=1.0), "white noise": dict(noise=1.0)}
VALIDATION = "validation sets"
PROXY = "the reference recipe's d_model-64 Chronos-Bolt patch embedding"


def _stream(seed: int, draw: int, group: int, point: int, series: int) -> np.random.Generator:
  return np.random.default_rng([seed, draw, group, point, series])


def controlled_contexts(spec: dict, series: int, draws: int, length: int, seed: int,
                        group: int, point: int) -> np.ndarray:
  """float32 ``[draws, series, length]`` of :func:`controlled_synth.series` (``spec``)."""
  return np.asarray([[controlled_synth.series(_stream(seed, d, group, point, i), length, **spec)
                      for i in range(series)] for d in range(draws)], np.float32)


def validation_contexts(series: int, draws: int, length: int, seed: int
                        ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
  """Per validation set, ``draws`` disjoint draws of ``series`` contexts (the last ``length``
  values of series at least that long, all finite): ``{set: [draws, series, length]}``, and
  ``{set: full-length series}`` for the sets left out."""
  by_set: dict[str, list] = {}
  for task in benchmark.tasks("validation"):
    context = task.context[-length:]
    usable = context.shape[0] == length and np.isfinite(context).all()
    by_set.setdefault(task.dataset, []).extend([context] if usable else [])
  kept, left_out = {}, {}
  for code, (name, contexts) in enumerate(sorted(by_set.items())):
    if len(contexts) < draws * series:
      left_out[name] = len(contexts)
      continue
    order = np.random.default_rng([seed, 9_000, code]).permutation(len(contexts))
    chosen = np.asarray(contexts, np.float32)[order[:draws * series]]
    kept[name] = chosen.reshape(draws, series, length)
  return kept, left_out


def eps_ranks(x_GMN: np.ndarray) -> np.ndarray:
  """eps-rank of eq. (1) of each matrix ``[..., m, n]`` at each of EPS: int ``[..., len(EPS)]``."""
  s = spectral.singular_values(np.asarray(x_GMN, np.float32))
  return np.stack([np.asarray(spectral.eps_rank_from_singular_values(s, e)) for e in EPS], -1)


def _groups(x_DC: np.ndarray, groups: int) -> np.ndarray:
  """Columns ``[d, groups * c]`` (group-major) as ``[groups, d, c]``."""
  d = x_DC.shape[0]
  return np.moveaxis(x_DC.reshape(d, groups, -1), 1, 0)


def model_ranks(model, contexts_GST: np.ndarray) -> dict[str, np.ndarray]:
  """eps-ranks ``[G, len(EPS)]`` of each matrix of the module docstring, for ``G`` groups of
  ``S`` contexts (one forward pass over all of them)."""
  groups, series, length = contexts_GST.shape
  flat = contexts_GST.reshape(groups * series, length)
  k = model.config.input_patch_size
  patches = trained.normalised_patches(list(flat), k)  # [G S N, k], group-major
  matrices = {"raw patches": _groups(patches.T, groups),
              "embedding": _groups(trained.bolt_patch_embedding(model, list(flat)), groups)}
  for name, x in trained.attention_query_inputs(model, flat).items():
    matrices[f"W_Q input: {name}"] = _groups(x, groups)
  return {name: eps_ranks(x) for name, x in matrices.items()}


def raw_patch_ranks(contexts_GST: np.ndarray, k: int) -> np.ndarray:
  """eps-ranks ``[G, len(EPS)]`` of the raw patch matrices ``[k, S T / k]`` of each group."""
  groups, series, length = contexts_GST.shape
  patches = trained.normalised_patches(list(contexts_GST.reshape(-1, length)), k)
  return eps_ranks(_groups(patches.T, groups))


def summary(ranks_PDE: np.ndarray) -> dict:
  """Per eps: each point's mean / min / max over draws, the effect (largest minus smallest mean
  over the points), the seed spread (largest range over draws at a point) and whether the effect
  is resolved (effect > spread)."""
  ranks = np.asarray(ranks_PDE, np.float64)
  out = {}
  for e, eps in enumerate(EPS):
    r = ranks[..., e]
    means = r.mean(axis=1)
    effect, spread = float(means.max() - means.min()), float((r.max(1) - r.min(1)).max())
    out[f"{eps:g}"] = {"mean": means, "min": r.min(axis=1), "max": r.max(axis=1),
                       "effect": effect, "seed_spread": spread, "resolved": effect > spread}
  return out


def compute(model, size: str, seed: int, label: str):
  p = SIZES[size]
  n, draws, length = p["series"], p["draws"], model.config.context_length
  groups, labels = [], {}
  for g, (sweep, points) in enumerate(SWEEPS.items()):
    labels[sweep] = [name for name, _ in points]
    groups += [controlled_contexts(spec, n, draws, length, seed, g, i)
               for i, (_, spec) in enumerate(points)]
  validation, left_out = validation_contexts(n, draws, length, seed)
  labels[VALIDATION] = list(validation)
  groups += list(validation.values())
  ranks = model_ranks(model, np.concatenate(groups).reshape(-1, n, length))  # [(P D), E]
  results: dict = {"sweeps": {}, "validation_left_out": left_out}
  start = 0
  for sweep, points in labels.items():
    stop = start + len(points) * draws
    per = {m: r[start:stop].reshape(len(points), draws, len(EPS)) for m, r in ranks.items()}
    results["sweeps"][sweep] = {"points": points, "ranks": per,
                                "summary": {m: summary(r) for m, r in per.items()}}
    start = stop
  patch = {}
  for f, (family, spec) in enumerate(PATCH_FAMILIES.items()):
    contexts = controlled_contexts(spec, p["patch_series"], draws, length, seed,
                                   len(SWEEPS) + 1 + f, 0)
    r = np.stack([raw_patch_ranks(contexts, k) for k in PATCH_SIZES])  # [K, D, E]
    patch[family] = {"ranks": r, "summary": summary(r)}
  results["patch_size"] = {"k": PATCH_SIZES, "families": patch}
  shapes = {"raw patches": [model.config.input_patch_size, n * (length // model.config.
                                                                   input_patch_size)]}
  params = dict(p, eps=EPS, model=label, context_length=length, base=BASE,
                sweeps={s: dict(points) for s, points in SWEEPS.items()},
                patch_sizes=PATCH_SIZES, patch_families=PATCH_FAMILIES,
                validation_sets=labels[VALIDATION], matrices=list(ranks), shapes=shapes,
                rule="resolved iff (max - min of the points' mean eps-rank) > (max over points "
                     "of the range over draws)")
  return results, params


def _draws(results, where, matrix, eps):
  sweep, point = where
  s = results["sweeps"][sweep]
  return s["ranks"][matrix][s["points"].index(point), :, EPS.index(eps)]


def _sweep_text(s: dict, matrices) -> str:
  parts = []
  for m in matrices:
    for eps, r in s["summary"][m].items():
      verdict = "resolved" if r["resolved"] else "not resolved"
      parts.append(f"{m} (eps {eps}) {'/'.join(f'{v:.3g}' for v in r['mean'])} ({verdict}: "
                   f"effect {r['effect']:.2f} vs seed spread {r['seed_spread']:.0f})")
  return "; ".join(parts)


def verdicts(results, params):
  verdict = common.Verdict()
  margins = []
  for eps in EPS:
    noise, sine = (_draws(results, w, "embedding", eps) for w in (WHITE_NOISE, SINUSOID))
    spread = max(np.ptp(noise), np.ptp(sine))
    margins.append(float(noise.mean() - sine.mean() - spread))
  verdict.check("embedding_rank_white_noise_over_sinusoid", min(margins), ">", 0.0,
                "min over eps of (mean embedding eps-rank white noise - pure sinusoid - larger "
                "seed range)", "App. Fig. 13: higher for random than sinusoidal contexts, at "
                "both eps and by more than the seed spread", kind="proxy", proxy=PROXY)
  sine_raw = max(int(_draws(results, SINUSOID, "raw patches", e).max()) for e in EPS)
  verdict.check("pure_sinusoid_raw_patch_rank", sine_raw, "<=", 3,
                "largest eps-rank of a pure sinusoid's raw patch matrix (any eps, any draw)",
                "sin and cos span its patches, plus the constant the instance norm subtracts",
                kind="construction")
  first = [m for m in params["matrices"] if m.startswith("W_Q input: decoder") and
           m.endswith(" 1")]
  decoder_first = max(int(np.max(s["ranks"][m])) for s in results["sweeps"].values()
                      for m in first)
  verdict.check("decoder_layer1_query_input_rank", decoder_first, "<=", 1,
                "largest eps-rank of decoder layer 1's W_Q inputs over every point",
                "layer 1 of the decoder reads the same start token for every series",
                kind="construction")
  shown = [m for m in params["matrices"] if m not in first]
  for sweep, s in results["sweeps"].items():
    verdict.finding(f"sweep_{sweep.replace(' ', '_').replace('(1)', '1')}",
                    {"points": s["points"], "summary": s["summary"]},
                    f"{sweep} {'/'.join(s['points'])}: " + _sweep_text(s, shown))
  patch = results["patch_size"]
  verdict.finding("patch_size_raw_patches", {f: v["summary"] for f, v in
                                             patch["families"].items()},
                  f"raw patch matrix only (re-patching the model needs retraining); k "
                  f"{'/'.join(map(str, patch['k']))}: " + "; ".join(
                      f"{f} (eps {eps}) {'/'.join(f'{v:.3g}' for v in r['mean'])}"
                      for f, v in patch["families"].items() for eps, r in v["summary"].items()))
  verdict.finding("validation_sets_left_out", results["validation_left_out"],
                  "fewer full-length contexts than draws x series: " + ", ".join(
                      f"{k} ({v})" for k, v in results["validation_left_out"].items()))
  return verdict


def _fails(results) -> str:
  failed = [f"{label} relative WQL {m['relative_wql']:.3f} (> {precondition.MAX_RELATIVE_WQL})"
            if m["relative_wql"] > precondition.MAX_RELATIVE_WQL else
            f"{label} rank-1 cost {m['rank1_cost']:+.1%} (< {precondition.MIN_RANK1_COST:.0%})"
            for label, m in results["precondition"].items()
            if m["relative_wql"] > precondition.MAX_RELATIVE_WQL
            or m["rank1_cost"] < precondition.MIN_RANK1_COST]
  return "; ".join(failed)


def headline(results, params):
  parts = []
  for sweep, s in results["sweeps"].items():
    r = s["summary"]["embedding"]["0.01"]
    parts.append(f"{sweep} {r['mean'].min():.3g}-{r['mean'].max():.3g} "
                 f"({'resolved' if r['resolved'] else 'not resolved'})")
  failed = _fails(results)
  note = f"; measured on a model that fails its precondition: {failed}" if failed else ""
  return "embedding eps-rank (eps 0.01) by " + ", ".join(parts) + note


def plot(results, params):
  panels = list(results["sweeps"]) + ["patch size"]
  fig, axes = plt.subplots(len(EPS), len(panels), figsize=(4.2 * len(panels), 4.2 * len(EPS)),
                           squeeze=False)
  for e, eps in enumerate(EPS):
    for j, sweep in enumerate(results["sweeps"]):
      ax, s = axes[e, j], results["sweeps"][sweep]
      x = np.arange(len(s["points"]))
      for m, ranks in s["ranks"].items():
        if m.startswith("W_Q input: decoder") and m.endswith(" 1"):
          continue  # one start token: rank 1 by construction
        r = np.asarray(ranks)[..., e]
        mean = r.mean(1)
        ax.errorbar(x, mean, yerr=[mean - r.min(1), r.max(1) - mean], marker="o", ms=3,
                    capsize=2, label=m.replace("W_Q input: ", "W_Q in: "))
      ax.set_xticks(x, s["points"], rotation=60 if sweep == VALIDATION else 0, fontsize=7,
                    ha="right" if sweep == VALIDATION else "center")
      ax.set_title(f"{sweep} (ε = {eps:g})", fontsize=9)
      ax.set_ylabel("ε-rank (mean, min-max over draws)", fontsize=8)
    ax = axes[e, -1]
    patch = results["patch_size"]
    for family, v in patch["families"].items():
      r = np.asarray(v["ranks"])[..., e]
      mean = r.mean(1)
      ax.errorbar(patch["k"], mean, yerr=[mean - r.min(1), r.max(1) - mean], marker="o", ms=3,
                  capsize=2, label=family)
    ax.plot(patch["k"], patch["k"], "k:", lw=0.8, label="k (full rank)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_title(f"raw patch matrix [k, ·] vs patch size (ε = {eps:g})", fontsize=9)
    ax.set_xlabel("patch size k")
  axes[0, 0].legend(fontsize=6)
  axes[0, -1].legend(fontsize=6)
  failed = _fails(results)
  fig.suptitle(f"{params['model']}: ε-rank against data characteristics"
               + (f" (model fails its precondition: {failed})" if failed else ""), fontsize=10)
  fig.tight_layout()
  return fig


def main(argv=None) -> int:
  args = common.parse_args(__doc__, argv, extra={"--model": trained.model_flags("")["--model"]})
  start = time.time()
  try:
    source = resolve.source(args.model, "--model")
  except ValueError as err:
    print(f"rank_vs_data: error: {err}", file=sys.stderr)
    return 2
  try:
    model = source.load()
  except (ValueError, OSError) as err:
    print(f"rank_vs_data: error: --model {args.model}: {err}", file=sys.stderr)
    return 1
  if model.sampled:  # a token model has no patch embedding to measure
    print(f"rank_vs_data: error: --model must name a Chronos-Bolt (patch) model; "
          f"{source.name} is a sampled token model", file=sys.stderr)
    return 1
  label = f"{source.name} ({source.kind})"
  results, params = compute(model, args.size, args.seed, label)
  results["precondition"] = precondition.to_json(
      precondition.measure_models({"Chronos-Bolt": model}, args.size, args.seed))
  verdict = verdicts(results, params)
  precondition.record_all(verdict, results["precondition"])
  failed = _fails(results)
  if failed:
    verdict.finding("measured_on_a_model_that_fails_its_precondition", failed,
                    f"every number here describes {label}, which fails its precondition "
                    f"({failed}): not evidence about a forecasting model")
  return common.finish("rank_vs_data", args, plot(results, params), results, params, verdict,
                       start, headline(results, params))


if __name__ == "__main__":
  sys.exit(main())
