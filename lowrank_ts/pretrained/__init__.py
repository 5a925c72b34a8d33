"""Pretrained models shipped inside the package (Hugging Face format folders beside this file).

``cpu-zeroshot`` (:data:`DEFAULT`): a Chronos-Bolt of 0.34 M parameters trained on this
project's CPU recipe ``cpu-zeroshot`` — data with no M-competition or Tourism series — and scored
zero-shot on the ``m3-tourism`` benchmark. Its folder holds ``config.json``,
``model.safetensors``, ``scores.json`` (the benchmark scores recorded when it was exported,
which ``tests/test_pretrained.py`` reproduces) and ``README.md`` with the command that trains
it. ``python -m lowrank_ts.forecast`` and ``python -m lowrank_ts.evaluate`` use it when
``--model`` is not given.
"""

from __future__ import annotations

import importlib.resources
import json
import pathlib

DEFAULT = "cpu-zeroshot"
NAMES = ("cpu-zeroshot",)


def path(name: str = DEFAULT) -> pathlib.Path:
  """The folder of the shipped model ``name`` (a checkpoint folder ``interop.hf.load`` reads)."""
  if name not in NAMES:
    raise ValueError(f"name must be one of the shipped models {list(NAMES)}, got {name!r}")
  folder = pathlib.Path(str(importlib.resources.files(__package__).joinpath(name)))
  if not (folder / "model.safetensors").is_file():
    raise FileNotFoundError(f"the shipped model {name!r} is missing from {folder} (a broken "
                            "install? reinstall with pip install -e .)")
  return folder


def load(name: str = DEFAULT):
  """The shipped model ``name`` (:func:`lowrank_ts.interop.hf.load`)."""
  from lowrank_ts.interop import hf

  return hf.load(path(name))


def recorded_scores(name: str = DEFAULT) -> dict:
  """The scores recorded in the model's ``scores.json`` when it was exported."""
  return json.loads((path(name) / "scores.json").read_text())


def benchmark_scores(model) -> dict:
  """``model``'s zero-shot scores on the ``m3-tourism`` benchmark, as ``scores.json`` records
  them: aggregate relative WQL / MASE and per-dataset WQL / MASE (deterministic for Bolt)."""
  from lowrank_ts.data import benchmark
  from lowrank_ts.evaluation import report, scoring

  scores = report.score(scoring.model_forecaster(model), benchmark.tasks("m3-tourism"),
                        naive=report.baseline_forecaster("m3-tourism"))
  return {"benchmark": "m3-tourism", "relative_wql": scores.aggregate["wql"],
          "relative_mase": scores.aggregate["mase"],
          "datasets": {d: {"wql": s["wql"], "mase": s["mase"]}
                       for d, s in scores.datasets.items()}}


def record_scores(name: str = DEFAULT, **provenance) -> dict:
  """Scores the shipped model ``name`` and writes them, with ``provenance`` (step, training
  time, command), to its ``scores.json``; returns what was written."""
  record = {**benchmark_scores(load(name)), **provenance}
  (path(name) / "scores.json").write_text(json.dumps(record, indent=1) + "\n")
  return record
