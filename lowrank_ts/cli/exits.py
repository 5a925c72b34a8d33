"""What every command line of lowrank_ts does with a user's error: one line naming the
argument or file and what was wrong, no traceback; exit code 2 for bad usage (an argument),
1 for bad data (a file's content, a checkpoint). Library functions raise ``ValueError`` with
that line; the CLIs choose the exit code by the phase the error comes from. SIGINT / SIGTERM
end a command wrapped in :func:`interruptible` with one line and exit 130 / 143."""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
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


class Interrupted(KeyboardInterrupt):
  """SIGINT or SIGTERM (``signum``), raised in the main thread like Ctrl-C's KeyboardInterrupt,
  so that ``finally`` blocks (closing files, releasing locks) run."""

  def __init__(self, signum: int):
    super().__init__(signal.Signals(signum).name)
    self.signum = signum


@contextlib.contextmanager
def interrupts(prog: str):
  """SIGINT / SIGTERM inside raise :class:`Interrupted`; once it has unwound, one line
  ``prog: interrupted by SIGTERM; <the notes the code attached>`` on stderr and exit 128 +
  the signal's number (130 / 143). Further signals during that unwinding are ignored."""
  signals = (signal.SIGINT, signal.SIGTERM)

  def handler(signum, frame):
    del frame
    for s in signals:
      signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)

  previous = {s: signal.signal(s, handler) for s in signals}
  try:
    yield
  except KeyboardInterrupt as err:
    signum = getattr(err, "signum", signal.SIGINT)
    notes = "".join(f"; {note}" for note in getattr(err, "__notes__", ()))
    print(f"{prog}: interrupted by {signal.Signals(signum).name}{notes}", file=sys.stderr,
          flush=True)
    sys.exit(128 + signum)
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


def interruptible(prog: str):
  """Decorates a command line's ``main`` to run inside :func:`interrupts` (``prog``)."""
  def wrap(main):
    @functools.wraps(main)
    def run(*args, **kwargs):
      with interrupts(prog):
        return main(*args, **kwargs)
    return run
  return wrap
