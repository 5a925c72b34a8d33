"""One benchmark run, as ``lowrank-ts evaluate`` makes it: a baseline (Seasonal Naive, AutoETS,
AutoTheta, AutoARIMA) or a model (what ``--model`` names, :mod:`lowrank_ts.interop.resolve`;
compressed post hoc if asked) scored on a benchmark against Seasonal Naive, with
``per_series`` and ``per_dataset`` tables written as CSV and markdown; on ``m3-tourism`` also the
published Chronos rows beside ours and fan charts of a few forecasts. Also the zero-shot scores
a shipped model records (:func:`zero_shot_scores`, :func:`record_scores`).

The steps are separate functions, so that the CLI can tell a bad checkpoint (:func:`load_model`,
:func:`make_forecaster`) from an option the model does not take (:func:`score`); :func:`run`
chains them.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
from collections.abc import Sequence

from lowrank_ts.data import benchmark
from lowrank_ts.evaluation import baselines, metrics, plots, published, scoring
from lowrank_ts.interop import resolve
from lowrank_ts.models import posthoc, registry

SEASONAL_NAIVE = "seasonal-naive"
STATISTICAL = ("auto-ets", "auto-theta", "auto-arima")  # evaluation.statistical.BASELINES
BASELINE_NAMES = (SEASONAL_NAIVE, *STATISTICAL)
PER_SERIES_COLUMNS = ("dataset", "series", "horizon", "seasonality", "wql", "mase")
PER_DATASET_COLUMNS = ("dataset", "num_series", "wql", "mase", "relative_wql", "relative_mase")


@dataclasses.dataclass(frozen=True)
class Scores:
  """A forecaster's scores on a benchmark: ``rows`` per series (:func:`scoring.evaluate`),
  ``datasets`` and ``baseline`` per dataset for it and Seasonal Naive, ``aggregate`` the
  relative WQL / MASE (geometric mean over datasets of model / Seasonal Naive)."""
  rows: list[dict]
  datasets: dict[str, dict[str, float]]
  baseline: dict[str, dict[str, float]]
  aggregate: dict[str, float]


def load_model(model: str | pathlib.Path | None) -> registry.ForecastModel | str:
  """A baseline's name (:data:`BASELINE_NAMES`) as is; else the model ``model`` names
  (:func:`lowrank_ts.interop.resolve.load_model`: a checkpoint folder, a training workdir, a
  shipped model's name, None for the shipped default)."""
  if isinstance(model, str) and model in BASELINE_NAMES:
    return model
  return resolve.load_model(model)


def make_forecaster(model: registry.ForecastModel | str, seed: int = 0,
                    num_samples: int | None = None, posthoc_eps: float | None = None,
                    benchmark_name: str = "real", processes: int = 1
                    ) -> tuple[scoring.Forecaster, dict[str, float]]:
  """``(forecaster, extra)`` for what :func:`load_model` returned: a baseline by name (Seasonal
  Naive as ``benchmark_name`` scores it, :func:`baseline_forecaster`; a statistical one over
  ``processes`` workers, :class:`~lowrank_ts.evaluation.statistical.StatisticalForecaster`),
  else :func:`scoring.model_forecaster` of the model, compressed first when ``posthoc_eps`` is
  given (truncated SVD at that eps-rank, :func:`lowrank_ts.models.posthoc.compress`; ``extra``
  then holds its ``attention_size_ratio``)."""
  if isinstance(model, str):
    if model not in BASELINE_NAMES:
      raise ValueError(f"model must be one of {list(BASELINE_NAMES)} or a loaded model, got "
                       f"{model!r}")
    if posthoc_eps is not None:
      raise ValueError(f"posthoc_eps needs a model checkpoint, not {model}")
    if model == SEASONAL_NAIVE:
      return baseline_forecaster(benchmark_name), {}
    from lowrank_ts.evaluation import statistical

    return statistical.StatisticalForecaster(model, processes=processes), {}
  extra = {}
  if posthoc_eps is not None:
    model, compression = posthoc.compress(model, posthoc_eps)
    extra["attention_size_ratio"] = compression.attention_size_ratio
  return scoring.model_forecaster(model, seed=seed, num_samples=num_samples), extra


def baseline_forecaster(benchmark_name: str) -> scoring.Forecaster:
  """The Seasonal Naive a benchmark's relative scores divide by: the point forecast on
  ``m3-tourism`` (as chronos-forecasting's published scores) and on ``validation`` (which
  selects the model scored there), the Gaussian one otherwise
  (:mod:`lowrank_ts.evaluation.baselines`)."""
  if benchmark_name not in benchmark.BENCHMARKS:
    raise ValueError(f"benchmark must be one of {list(benchmark.BENCHMARKS)}, got "
                     f"{benchmark_name!r}")
  if benchmark_name in ("m3-tourism", "validation"):
    return baselines.seasonal_naive_point_forecaster
  return baselines.seasonal_naive_forecaster


def score(forecaster: scoring.Forecaster, tasks: Sequence[benchmark.Task],
          baseline: dict[str, dict[str, float]] | None = None,
          naive: scoring.Forecaster = baselines.seasonal_naive_forecaster) -> Scores:
  """The :class:`Scores` of ``forecaster`` on ``tasks`` relative to the Seasonal Naive
  ``naive`` (:func:`baseline_forecaster` of the benchmark). ``baseline``: ``naive``'s
  :func:`scoring.per_dataset` on the same tasks when already computed (a learning curve scores
  many checkpoints against one); Seasonal Naive is never run twice."""
  rows = scoring.evaluate(forecaster, tasks)
  datasets = scoring.per_dataset(rows)
  if baseline is None:
    baseline = datasets if forecaster is naive else scoring.per_dataset(
        scoring.evaluate(naive, tasks))
  return Scores(rows, datasets, baseline, metrics.relative_scores(datasets, baseline))


def geometric_means(scores: Scores) -> dict[str, float]:
  """Absolute WQL / MASE aggregated as the relative ones are (geometric mean over datasets)."""
  return {metric: metrics.geometric_mean([s[metric] for s in scores.datasets.values()])
          for metric in ("wql", "mase")}


def dataset_table(scores: Scores) -> list[dict]:
  """One row per dataset (absolute and relative WQL / MASE), then the geometric-mean row."""
  base = scores.baseline
  table = [{"dataset": d, "num_series": s["num_series"], "wql": s["wql"], "mase": s["mase"],
            "relative_wql": s["wql"] / base[d]["wql"],
            "relative_mase": s["mase"] / base[d]["mase"]} for d, s in scores.datasets.items()]
  table.append({"dataset": "aggregate (geometric mean)", "num_series": len(scores.rows),
                **geometric_means(scores), "relative_wql": scores.aggregate["wql"],
                "relative_mase": scores.aggregate["mase"]})
  return table


def write_table(rows: Sequence[dict], columns: Sequence[str], path: pathlib.Path) -> None:
  """``path.csv`` and ``path.md`` with ``columns`` of ``rows`` (floats to 4 significant)."""
  def fmt(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)
  with open(path.with_suffix(".csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({c: r[c] for c in columns} for r in rows)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows]
  path.with_suffix(".md").write_text("\n".join(lines) + "\n")


def write_tables(scores: Scores, out: pathlib.Path) -> None:
  """``out/per_series.{csv,md}`` and ``out/per_dataset.{csv,md}`` (``out`` is created)."""
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  write_table(scores.rows, PER_SERIES_COLUMNS, out / "per_series")
  write_table(dataset_table(scores), PER_DATASET_COLUMNS, out / "per_dataset")


def benchmark_tasks(benchmark_name: str, max_series: int | None = None) -> list[benchmark.Task]:
  """The benchmark's tasks; ``max_series`` (m3-tourism only) keeps the first of each dataset."""
  if max_series is None:
    return benchmark.tasks(benchmark_name)
  if benchmark_name != "m3-tourism":
    raise ValueError(f"max_series applies to the m3-tourism benchmark only, not {benchmark_name!r}")
  return benchmark.tasks(benchmark_name, max_series=max_series)


def fallbacks_by_dataset(forecaster, tasks: Sequence[benchmark.Task]) -> dict[str, int]:
  """Per dataset, the series a statistical forecaster answered with Seasonal Naive after
  :func:`scoring.evaluate` ran it on ``tasks`` (in the order of :func:`scoring.horizon_groups`)."""
  order = [i for group in scoring.horizon_groups(tasks) for i in group]
  counts = dict.fromkeys(dict.fromkeys(t.dataset for t in tasks), 0)
  for i, _ in getattr(forecaster, "failures", []):
    counts[tasks[order[i]].dataset] += 1
  return counts


def published_rows() -> list[dict]:
  """The published zero-shot rows (:mod:`lowrank_ts.evaluation.published`) as table rows:
  relative WQL / MASE over the six datasets for every published model."""
  return [{"model": m, **{f"relative_{k}": v for k, v in published.relative(m).items()}}
          for m in published.models()]


def run(model: str | pathlib.Path | None, benchmark_name: str, out: pathlib.Path,
        seed: int = 0, num_samples: int | None = None, posthoc_eps: float | None = None,
        processes: int = 1, max_series: int | None = None) -> dict[str, float]:
  """Evaluates ``model`` (a baseline name, a checkpoint folder, None for the shipped model) on
  a benchmark; writes the tables to ``out`` (and ``fan_charts.png``). Returns the aggregate
  relative WQL / MASE against the benchmark's Seasonal Naive, plus ``attention_size_ratio``
  when ``posthoc_eps`` compresses the model first. ``max_series``: only the first series of each
  m3-tourism dataset (a smoke run, not the benchmark)."""
  tasks = benchmark_tasks(benchmark_name, max_series)
  forecaster, extra = make_forecaster(load_model(model), seed, num_samples, posthoc_eps,
                                      benchmark_name, processes)
  scores = score(forecaster, tasks, naive=baseline_forecaster(benchmark_name))
  write_tables(scores, out)
  plots.fan_charts(tasks, scores.rows, pathlib.Path(out) / "fan_charts.png")
  return {**scores.aggregate, **extra}


def zero_shot_scores(model: registry.ForecastModel) -> dict:
  """``model``'s zero-shot scores on the ``m3-tourism`` benchmark, as a shipped model's
  ``scores.json`` records them: aggregate relative WQL / MASE and per-dataset WQL / MASE."""
  scores = score(scoring.model_forecaster(model), benchmark.tasks("m3-tourism"),
                 naive=baseline_forecaster("m3-tourism"))
  return {"benchmark": "m3-tourism", "relative_wql": scores.aggregate["wql"],
          "relative_mase": scores.aggregate["mase"],
          "datasets": {d: {"wql": s["wql"], "mase": s["mase"]}
                       for d, s in scores.datasets.items()}}


def record_scores(folder: str | pathlib.Path, **provenance) -> dict:
  """Scores the checkpoint ``folder`` (:func:`zero_shot_scores`) and writes the scores, with
  ``provenance`` (recipe, step, training time, command), to its ``scores.json``, as a shipped
  model records them; returns what was written."""
  folder = pathlib.Path(folder)
  record = {**zero_shot_scores(resolve.load_model(folder)), **provenance}
  (folder / "scores.json").write_text(json.dumps(record, indent=1) + "\n")
  return record

