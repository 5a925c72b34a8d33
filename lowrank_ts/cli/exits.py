"""What every command line of lowrank_ts does with a user's error: one line naming the
argument or file and what was wrong, no traceback; exit code 2 for bad usage (an argument),
1 for bad data (a file's content, a checkpoint). Library functions raise ``ValueError`` with
that line; the CLIs choose the exit code by the phase the error comes from. SIGINT / SIGTERM
end a command wrapped in :func:`interruptible` with one line and exit 130 / 143."""

from __future__ import annotations

import argparse
import contextlib
import functools
import re
import signal
import sys
from collections.abc import Mapping

USAGE, DATA = 2, 1


def fail(parser: argparse.ArgumentParser, message: str, code: int) -> None:
  """Prints ``prog: error: message`` on stderr and exits with ``code``."""
  print(f"{parser.prog}: error: {message}", file=sys.stderr)
  sys.exit(code)


def as_flags(message: str, flags: Mapping[str, str] | None) -> str:
  """``message`` with a leading library argument name (``num_samples must be ...``) written
  as the flag the user typed (``--num-samples must be ...``); ``flags`` maps the one to the
  other."""
  for name, flag in (flags or {}).items():
    if re.match(rf"{re.escape(name)}\b(?!-)", message):
      return flag + message[len(name):]
  return message


@contextlib.contextmanager
def on_error(parser: argparse.ArgumentParser, code: int, *also: type[Exception],
             flags: Mapping[str, str] | None = None):
  """Turns a ``ValueError`` (or a missing / unreadable file, or any of ``also``) raised inside
  into :func:`fail`, its message's argument name written as a flag (:func:`as_flags`)."""
  try:
    yield
  except (ValueError, OSError, *also) as err:
    fail(parser, as_flags(str(err) or type(err).__name__, flags), code)


class Interrupted(KeyboardInterrupt):
  """SIGINT or SIGTERM (``signum``), raised in the main thread like Ctrl-C's KeyboardInterrupt,
  so that ``finally`` blocks (closing files, releasing locks) run."""

  def __init__(self, signum: int):
    super().__init__(signal.Signals(signum).name)
    self.signum = signum


def _interruption(err: BaseException | None) -> KeyboardInterrupt | None:
  """The KeyboardInterrupt ``err`` is, or was raised from: a signal arriving while a C extension
  initialises (an import) comes out as an ImportError caused by it."""
  seen = set()
  while err is not None and id(err) not in seen:
    if isinstance(err, KeyboardInterrupt):
      return err
    seen.add(id(err))
    err = err.__cause__ or err.__context__
  return None


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
  except BaseException as raised:
    err = _interruption(raised)
    if err is None:
      raise
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
