"""``lowrank-ts COMMAND [ARGS]``: the console script over the command lines of :mod:`lowrank_ts.cli`
(``python -m lowrank_ts COMMAND [ARGS]`` is the same).

A command's module (and with it JAX, Flax, Orbax) is imported once the command is known, inside
:func:`lowrank_ts.cli.exits.interrupts`: those imports take seconds, and a SIGINT or SIGTERM
during them ends the command with one line, as one arriving later does."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from lowrank_ts.cli import exits

COMMANDS = {"forecast": "forecast", "evaluate": "evaluate", "train": "train",
            "compress": "compress", "learning-curve": "learning_curve",
            "finetune": "finetune"}  # name -> module
USAGE = """usage: lowrank-ts COMMAND [ARGS]   (or python -m lowrank_ts COMMAND [ARGS])

  forecast        forecast CSV series with a model
  evaluate        score a model or a baseline on a benchmark
  train           pretrain a model with exact resume
  compress        compress a model's attention by truncated SVD
  learning-curve  score every kept checkpoint of a training run
  finetune        fine-tune a model on your own series, scored on a hold-out

lowrank-ts COMMAND --help describes each."""


def main(argv: Sequence[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ("-h", "--help"):
    print(USAGE)
    return 0 if argv else 2
  if argv[0] not in COMMANDS:
    print(f"lowrank-ts: error: unknown command {argv[0]!r}; commands: "
          f"{', '.join(COMMANDS)}", file=sys.stderr)
    return 2
  with exits.interrupts(f"lowrank-ts {argv[0]}"):
    module = command(argv[0])
  return module.main(argv[1:]) or 0


def command(name: str) -> ModuleType:
  """The module of the command ``name`` (a key of :data:`COMMANDS`)."""
  return importlib.import_module(f"lowrank_ts.cli.{COMMANDS[name]}")


if __name__ == "__main__":
  sys.exit(main())
