"""What every command line of lowrank_ts does with a user's error: one line naming the
argument or file and what was wrong, no traceback; exit code 2 for bad usage (an argument),
1 for bad data (a file's content, a checkpoint). Library functions raise ``ValueError`` with
that line; the CLIs choose the exit code by the phase the error comes from."""

from __future__ import annotations

import argparse
import contextlib
import sys

USAGE, DATA = 2, 1


def fail(parser: argparse.ArgumentParser, message: str, code: int) -> None:
  """Prints ``prog: error: message`` on stderr and exits with ``code``."""
  print(f"{parser.prog}: error: {message}", file=sys.stderr)
  sys.exit(code)


@contextlib.contextmanager
def on_error(parser: argparse.ArgumentParser, code: int, *also: type[Exception]):
  """Turns a ``ValueError`` (or a missing / unreadable file, or any of ``also``) raised inside
  into :func:`fail`."""
  try:
    yield
  except (ValueError, OSError, *also) as err:
    fail(parser, str(err) or type(err).__name__, code)
