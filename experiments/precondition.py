"""Whether a trained model can carry a model-level claim of the paper.

A rank structure, a flow of ranks or a compression curve is evidence about forecasting
transformers only when it is measured on a model that forecasts and that uses its attention.
Every model-level experiment records two checks of kind ``"precondition"`` on each model its
claims rest on (the model it reads; every run of a training sweep; the dense run of a
compression comparison); when one fails, the experiment's status is UNINFORMATIVE
(:class:`common.Verdict`), never PASS or FAIL:

- accuracy: relative WQL against the point Seasonal Naive on the validation sets
  (:mod:`lowrank_ts.data.validation`, never a scored benchmark) at most ``MAX_RELATIVE_WQL``;
- attention used: truncating every attention matrix to rank 1 (post-hoc, eps = 0.999, the
  ``compress --eps 0.999 --mode paper`` cut) raises that relative WQL by at least
  ``MIN_RANK1_COST``.

Both thresholds are decided from the claims, before any run they judge.
"""

from __future__ import annotations

import dataclasses
import json
import os

from experiments import common
from lowrank_ts.data import benchmark
from lowrank_ts.evaluation import report, scoring
from lowrank_ts.interop import resolve
from lowrank_ts.models import allocation, posthoc

# A model worse than Seasonal Naive does not forecast: its ranks are not those of a forecaster.
MAX_RELATIVE_WQL = 1.0
# A model that loses less than this at rank 1 barely uses its attention, so a claim about the
# rank its attention needs cannot fail on it.
MIN_RANK1_COST = 0.15
# Validation series per set by experiment size (all 17 sets each time; None: every series). At
# the default size the two thresholds are coarse (1.0 and +15 %), wider than the subset's
# sampling error; the smoke size only exercises the code.
SERIES_PER_SET = {"smoke": 2, "default": 24, "full": None}
# What :func:`measure_cached` keeps in a training workdir.
CACHE_FILE = "precondition.json"


@dataclasses.dataclass(frozen=True)
class Measured:
  relative_wql: float
  rank1_relative_wql: float
  num_series: int

  @property
  def rank1_cost(self) -> float:
    return self.rank1_relative_wql / self.relative_wql - 1


def rank_one(model):
  """``model`` with every attention matrix truncated to its eps = 0.999 rank (rank 1)."""
  found = posthoc.spectra(model)
  compressed, _ = posthoc.compress_to_ranks(model, allocation.eps_ranks(found, 0.999), "paper",
                                            found_spectra=found, eps=0.999)
  return compressed


def validation_tasks(series_per_set: int | None = None) -> list:
  """The validation tasks; ``series_per_set``: the first that many of each set."""
  tasks = benchmark.tasks("validation")
  if series_per_set is None:
    return tasks
  kept, seen = [], {}
  for task in tasks:
    seen[task.dataset] = seen.get(task.dataset, 0) + 1
    if seen[task.dataset] <= series_per_set:
      kept.append(task)
  return kept


def relative_wqls(models: dict, series_per_set: int | None = SERIES_PER_SET["default"],
                  seed: int = 0) -> dict[str, float]:
  """Validation relative WQL against Seasonal Naive of each ``{label: model}`` (one Seasonal
  Naive run for all)."""
  tasks = validation_tasks(series_per_set)
  naive = report.baseline_forecaster("validation")
  baseline = scoring.per_dataset(scoring.evaluate(naive, tasks))
  return {label: report.score(scoring.model_forecaster(model, seed=seed), tasks, baseline,
                              naive).aggregate["wql"] for label, model in models.items()}


def measure(model, series_per_set: int | None = SERIES_PER_SET["default"],
            seed: int = 0) -> Measured:
  """Validation relative WQL of ``model`` and of its rank-1 cut (one Seasonal Naive run)."""
  wql = relative_wqls({"dense": model, "cut": rank_one(model)}, series_per_set, seed)
  return Measured(wql["dense"], wql["cut"], len(validation_tasks(series_per_set)))


def record(verdict: common.Verdict, measured: Measured, label: str = "model") -> bool:
  """Records the two precondition checks of ``measured`` on ``verdict``; True if both pass."""
  accurate = verdict.check(
      f"precondition_{label}_relative_wql", measured.relative_wql, "<=", MAX_RELATIVE_WQL,
      f"{label}: validation relative WQL against Seasonal Naive ({measured.num_series} series)",
      "a model worse than Seasonal Naive does not forecast", kind="precondition")
  uses = verdict.check(
      f"precondition_{label}_rank1_cost", measured.rank1_cost, ">=", MIN_RANK1_COST,
      f"{label}: validation relative WQL lost when every attention matrix is cut to rank 1",
      "a model that keeps its accuracy at rank 1 does not use its attention",
      kind="precondition")
  return accurate and uses


def check(verdict: common.Verdict, model, size: str = "default", label: str = "model",
          seed: int = 0) -> Measured:
  """:func:`measure` (``SERIES_PER_SET[size]`` series of each validation set), then
  :func:`record`."""
  if size not in SERIES_PER_SET:
    raise ValueError(f"size must be one of {list(SERIES_PER_SET)}, got {size!r}")
  measured = measure(model, SERIES_PER_SET[size], seed)
  record(verdict, measured, label)
  return measured


def measure_models(models: dict, size: str, seed: int = 0) -> dict[str, Measured]:
  """:func:`measure` of each ``{label: model}`` at ``size`` (None models are left out)."""
  if size not in SERIES_PER_SET:
    raise ValueError(f"size must be one of {list(SERIES_PER_SET)}, got {size!r}")
  return {label: measure(model, SERIES_PER_SET[size], seed)
          for label, model in models.items() if model is not None}


def measure_cached(workdir: str, size: str, seed: int = 0, load=None) -> Measured:
  """:func:`measure` of the model trained in ``workdir`` (``SERIES_PER_SET[size]`` series of
  each validation set), kept in ``workdir/CACHE_FILE`` and read from there when it was taken
  with the same series and seed. ``load()`` gives the model (default: the workdir's latest
  checkpoint); it is called only when nothing is cached."""
  if size not in SERIES_PER_SET:
    raise ValueError(f"size must be one of {list(SERIES_PER_SET)}, got {size!r}")
  path = os.path.join(workdir, CACHE_FILE)
  key = {"series_per_set": SERIES_PER_SET[size], "seed": seed}
  if os.path.exists(path):
    with open(path) as f:
      cached = json.load(f)
    if {k: cached.get(k) for k in key} == key:
      return from_json({"model": cached["measured"]})["model"]
  model = load() if load is not None else resolve.load_model(workdir)
  measured = measure(model, SERIES_PER_SET[size], seed)
  os.makedirs(workdir, exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump({**key, "measured": to_json({"model": measured})["model"]}, f, indent=1)
  os.replace(path + ".tmp", path)
  return measured


def measure_workdirs(workdirs: dict[str, str], size: str, seed: int = 0,
                     loaders: dict | None = None) -> dict:
  """:func:`measure_cached` of each ``{label: workdir}``, in :func:`to_json`'s form;
  ``loaders``: ``{label: load}`` where a model is not the workdir's latest checkpoint."""
  return to_json({label: measure_cached(path, size, seed, (loaders or {}).get(label))
                  for label, path in workdirs.items()})


def to_json(measured: dict[str, Measured]) -> dict:
  """What an experiment's json records of :func:`measure_models` (the rank-1 cost included)."""
  return {label: {**dataclasses.asdict(m), "rank1_cost": m.rank1_cost}
          for label, m in measured.items()}


def from_json(recorded: dict) -> dict[str, Measured]:
  """The inverse of :func:`to_json`."""
  return {label: Measured(r["relative_wql"], r["rank1_relative_wql"], r["num_series"])
          for label, r in recorded.items()}


def record_all(verdict: common.Verdict, recorded: dict) -> bool:
  """:func:`record` of each model in ``recorded`` (:func:`to_json`'s form); True if all pass."""
  return all([record(verdict, m, label.replace(" ", "_"))
              for label, m in from_json(recorded).items()])
