"""One training run per workdir: ``WORKDIR/train.lock``.

The lock file holds its holder's pid and host (JSON) and an exclusive ``flock`` for as long as
the run lasts. The kernel drops a flock when its process ends, however it ends, so a lock file
left by a killed run is stale and the next run takes it over; while the holder lives, a second
run is refused with one line naming it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time

LOCK_FILE = "train.lock"


def _holder(path: str) -> str:
  """``process PID on host HOST`` from the lock file at ``path`` (the holder writes it just
  after taking the lock: wait a moment for it)."""
  for _ in range(40):
    try:
      with open(path) as f:
        text = f.read()
    except OSError:
      text = ""
    if text:
      try:
        record = json.loads(text)
        return f"process {int(record['pid'])} on host {record['host']}"
      except (ValueError, KeyError, TypeError):
        break
    time.sleep(0.05)
  return "another process"


class WorkdirLock:
  """Holds ``workdir``'s lock until :meth:`release`; a ValueError naming the holder if another
  live process holds it."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    for _ in range(100):
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        os.close(fd)
        raise ValueError(f"workdir {workdir!r} is in use by {_holder(self.path)} (lock file "
                         f"{self.path}): wait for that run to end or use another --workdir"
                         ) from None
      # A releasing holder unlinks the file: a lock on an unlinked file locks nothing.
      try:
        if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
          break
      except FileNotFoundError:
        pass
      os.close(fd)
    else:  # pragma: no cover (the file replaced a hundred times while we locked it)
      raise ValueError(f"cannot take the lock file {self.path}: it keeps being replaced")
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
    os.fsync(fd)
    self._fd: int | None = fd

  def release(self) -> None:
    """Removes the lock file and drops the lock (once)."""
    if self._fd is None:
      return
    try:
      os.unlink(self.path)
    except FileNotFoundError:
      pass
    os.close(self._fd)
    self._fd = None
