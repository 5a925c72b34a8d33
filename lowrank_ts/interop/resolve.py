"""What ``--model`` names, for every command line, experiment and benchmark: a checkpoint folder
(Hugging Face format, :func:`lowrank_ts.interop.hf.load`), a training workdir (its latest
checkpoint, :func:`lowrank_ts.training.checkpoints.load_model`), the name of a model shipped in
the package (:mod:`lowrank_ts.pretrained`), or nothing for the shipped default.

:func:`source` checks the name (a ValueError naming the argument: a bad argument) and
:meth:`Source.load` reads the model (a ValueError naming the file: bad data), so that a command
line can tell the two apart; :func:`load_model` does both.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

from lowrank_ts import pretrained
from lowrank_ts.interop import hf
from lowrank_ts.models import registry
from lowrank_ts.training import checkpoints

KINDS = ("shipped", "folder", "workdir")


@dataclasses.dataclass(frozen=True)
class Source:
  """A model to load: ``kind`` (one of :data:`KINDS`), its ``path`` and a short ``name`` (the
  shipped model's or the folder's)."""
  kind: str
  path: pathlib.Path
  name: str

  def load(self) -> registry.ForecastModel:
    """The model (float32, on the default device)."""
    if self.kind == "workdir":
      return checkpoints.load_model(str(self.path))
    return hf.load(self.path)


def source(model: str | os.PathLike | None = None, name: str = "model",
           alternatives: Sequence[str] = ()) -> Source:
  """The :class:`Source` that ``model`` names; ``name`` is the argument's name in the error,
  which also lists ``alternatives`` (other values the caller accepts, e.g. baselines' names)."""
  if model is None:
    model = pretrained.DEFAULT
  if isinstance(model, (str, os.PathLike)):
    path = pathlib.Path(model)
    if path.is_dir():
      if (path / hf.CONFIG_FILE).is_file():
        return Source("folder", path, path.name)
      if (path / checkpoints.CONFIG_FILE).is_file():
        return Source("workdir", path, path.name)
      reason = f"the folder has neither {hf.CONFIG_FILE} nor {checkpoints.CONFIG_FILE}"
    elif str(model) in pretrained.NAMES:
      return Source("shipped", pretrained.path(str(model)), str(model))
    else:
      reason = "no such folder"
  else:
    reason = f"not a path ({type(model).__name__})"
  others = "".join(f", {a}" for a in alternatives)
  raise ValueError(f"{name} must be a checkpoint folder ({hf.CONFIG_FILE}), a training workdir "
                   f"({checkpoints.CONFIG_FILE}) or one of {', '.join(pretrained.NAMES)}{others}"
                   f", got {str(model)!r}: {reason}")


def load_model(model: str | os.PathLike | None = None,
               name: str = "model") -> registry.ForecastModel:
  """The model ``model`` names (:func:`source`, then :meth:`Source.load`)."""
  return source(model, name).load()
