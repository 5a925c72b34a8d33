"""The published zero-shot scores of Chronos, Chronos-Bolt and Seasonal Naive on M3 and Tourism.

A table of facts, not a computation: ``published_chronos.csv`` beside this module holds the WQL
and MASE that chronos-forecasting reports per dataset (:data:`SOURCE`), copied verbatim, for the
six datasets of :data:`DATASETS` (our names; the file's ``source_dataset`` column keeps theirs).
The statistical baselines of the Chronos paper (AutoETS, AutoARIMA, AutoTheta) are not among
the published result files, so they are not here. The aggregate is
:func:`lowrank_ts.evaluation.metrics.relative_scores`, as for our own scores.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources

from lowrank_ts.data.m3_tourism import DATASETS  # the benchmark's six datasets, in order
from lowrank_ts.evaluation import metrics

BASELINE = "seasonal-naive"
METRICS = ("wql", "mase")
SOURCE = {
  "repo": "github.com/amazon-science/chronos-forecasting",
  "commit": "95185d1336e5bfdf50374d44c06ad9e10b303144",
  # The result files are unchanged from this commit (the Chronos-Bolt release) to ``commit``.
  "last_changed": "72ab64166cc8caa7e5878d0bf00320fe546090b3",
  "paths": "scripts/evaluation/results/<model>-zero-shot.csv",
}
_FILE = "published_chronos.csv"


@functools.cache
def _table() -> dict[str, dict[str, dict[str, float]]]:
  """``{model: {dataset: {"wql", "mase"}}}`` read once from the shipped csv (comments skipped)."""
  text = importlib.resources.files(__package__).joinpath(_FILE).read_text(encoding="utf-8")
  lines = [line for line in text.splitlines() if line and not line.startswith("#")]
  table: dict[str, dict[str, dict[str, float]]] = {}
  for row in csv.DictReader(lines):
    table.setdefault(row["model"], {})[row["dataset"]] = {m: float(row[m]) for m in METRICS}
  return table


def models() -> list[str]:
  """The models of the table, in file order (Seasonal Naive, Chronos T5 sizes, Bolt sizes)."""
  return list(_table())


def scores(model: str) -> dict[str, dict[str, float]]:
  """``{dataset: {"wql": ..., "mase": ...}}`` of ``model`` over :data:`DATASETS`, in that order."""
  table = _table()
  if not isinstance(model, str) or model not in table:
    raise ValueError(f"model must be one of {list(table)}, got {model!r}")
  return {dataset: dict(table[model][dataset]) for dataset in DATASETS}


def relative(model: str) -> dict[str, float]:
  """Geometric mean over :data:`DATASETS` of ``model`` / Seasonal Naive, for WQL and MASE (the
  Chronos paper's aggregate relative score; < 1 beats Seasonal Naive)."""
  return metrics.relative_scores(scores(model), scores(BASELINE))
