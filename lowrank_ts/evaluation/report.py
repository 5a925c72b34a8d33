"""One benchmark run, as ``python -m lowrank_ts.evaluate`` makes it: Seasonal Naive or a
checkpoint folder's model (compressed post hoc if asked) scored on a benchmark against Seasonal
Naive, with ``per_series`` and ``per_dataset`` tables written as CSV and markdown.

The steps are separate functions, so that the CLI can tell a bad checkpoint (:func:`load_model`,
:func:`make_forecaster`) from an option the model does not take (:func:`score`); :func:`run`
chains them.
"""

from __future__ import annotations

import csv
import dataclasses
import pathlib
from collections.abc import Sequence

from lowrank_ts.data import benchmark
from lowrank_ts.evaluation import baselines, metrics, scoring
from lowrank_ts.interop import hf
from lowrank_ts.models import posthoc, registry

SEASONAL_NAIVE = "seasonal-naive"
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


def load_model(model: str | pathlib.Path) -> registry.ForecastModel | None:
  """None for ``seasonal-naive``, else the model of the checkpoint folder ``model``
  (:func:`lowrank_ts.interop.hf.load`, which names the file of a corrupt checkpoint)."""
  if model == SEASONAL_NAIVE:
    return None
  if not isinstance(model, (str, pathlib.Path)) or not pathlib.Path(model).is_dir():
    raise ValueError(f"model must be {SEASONAL_NAIVE} or a checkpoint folder, got {model!r} "
                     "(no such folder)")
  return hf.load(model)


def make_forecaster(model: registry.ForecastModel | None, seed: int = 0,
                    num_samples: int | None = None, posthoc_eps: float | None = None
                    ) -> tuple[scoring.Forecaster, dict[str, float]]:
  """``(forecaster, extra)`` for what :func:`load_model` returned: Seasonal Naive for None,
  else :func:`scoring.model_forecaster` of the model, compressed first when ``posthoc_eps`` is
  given (truncated SVD at that eps-rank, :func:`lowrank_ts.models.posthoc.compress`; ``extra``
  then holds its ``attention_size_ratio``)."""
  if model is None:
    if posthoc_eps is not None:
      raise ValueError(f"posthoc_eps needs a model checkpoint, not {SEASONAL_NAIVE}")
    return baselines.seasonal_naive_forecaster, {}
  extra = {}
  if posthoc_eps is not None:
    model, compression = posthoc.compress(model, posthoc_eps)
    extra["attention_size_ratio"] = compression.attention_size_ratio
  return scoring.model_forecaster(model, seed=seed, num_samples=num_samples), extra


def baseline_forecaster(benchmark_name: str) -> scoring.Forecaster:
  """The Seasonal Naive a benchmark's relative scores divide by: the point forecast on
  ``m3-tourism`` (as chronos-forecasting's published scores), the Gaussian one otherwise
  (:mod:`lowrank_ts.evaluation.baselines`)."""
  if benchmark_name not in benchmark.BENCHMARKS:
    raise ValueError(f"benchmark must be one of {list(benchmark.BENCHMARKS)}, got "
                     f"{benchmark_name!r}")
  if benchmark_name == "m3-tourism":
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


def run(model: str | pathlib.Path, benchmark_name: str, out: pathlib.Path, seed: int = 0,
        num_samples: int | None = None, posthoc_eps: float | None = None) -> dict[str, float]:
  """Evaluates ``model`` (``seasonal-naive`` or a checkpoint folder) on a benchmark; writes the
  tables to ``out``. Returns the aggregate relative WQL / MASE against Seasonal Naive, plus
  ``attention_size_ratio`` when ``posthoc_eps`` compresses the model first."""
  forecaster, extra = make_forecaster(load_model(model), seed, num_samples, posthoc_eps)
  scores = score(forecaster, benchmark.tasks(benchmark_name))
  write_tables(scores, out)
  return {**scores.aggregate, **extra}
