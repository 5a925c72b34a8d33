"""Pretrained models shipped inside the package: Hugging Face format folders beside this file,
each with the scores recorded when it was exported.

:data:`DEFAULT` is the model every command line uses when ``--model`` is not given
(:mod:`lowrank_ts.interop.resolve`); its folder's ``README.md`` says what it is and how it was
trained. A folder holds ``config.json``, ``model.safetensors``, ``scores.json`` (written by
:func:`lowrank_ts.evaluation.report.record_scores`, which ``tests/test_pretrained.py``
reproduces) and that ``README.md``.
"""

from __future__ import annotations

import importlib.resources
import json
import pathlib

# The reference model with the larger seasonal share (validation relative WQL 0.928, against
# cpu-reference's 1.157 and cpu-zeroshot's 1.795) is the default; the other two stay shipped,
# for the results measured on them.
DEFAULT = "cpu-reference-seasonal"
NAMES = (DEFAULT, "cpu-reference", "cpu-zeroshot")


def path(name: str = DEFAULT) -> pathlib.Path:
  """The folder of the shipped model ``name`` (a checkpoint folder)."""
  if name not in NAMES:
    raise ValueError(f"name must be one of the shipped models {list(NAMES)}, got {name!r}")
  folder = pathlib.Path(str(importlib.resources.files(__package__).joinpath(name)))
  if not (folder / "model.safetensors").is_file():
    raise FileNotFoundError(f"the shipped model {name!r} is missing from {folder} (a broken "
                            "install? reinstall with pip install -e .)")
  return folder


def recorded_scores(name: str = DEFAULT) -> dict:
  """The scores recorded in the model's ``scores.json`` when it was exported."""
  return json.loads((path(name) / "scores.json").read_text())
