"""Process memory for the benchmark workers (Linux ``/proc/self/status``): the current RSS, its
high-water mark (VmHWM) and restarting that mark once a model is loaded, so a worker's peak is
that of forecasting alone."""

from __future__ import annotations

import gc
import resource


def _status_bytes(field: str) -> int:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) * 1024  # reported in kB
  raise RuntimeError(f"/proc/self/status has no {field}")


def rss_bytes() -> int:
  """This process's resident set size now."""
  return _status_bytes("VmRSS")


def reset_peak_rss() -> bool:
  """Restarts this process's RSS high-water mark (Linux >= 4.0); False where not possible."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    return True
  except OSError:
    return False


def settle() -> dict:
  """After loading: the process's peak so far, then a fresh peak from the idle loaded state."""
  gc.collect()
  setup_peak = peak_rss_bytes()
  reset = reset_peak_rss()
  return {"setup_peak_rss_bytes": setup_peak, "peak_rss_reset_after_setup": reset}


def peak_rss_bytes() -> int:
  """This process's peak RSS. Linux carries ``ru_maxrss`` over from the forking parent across
  exec (a worker would report at least the driver's RSS), so read the high-water mark of this
  process's own address space (VmHWM) and use ``ru_maxrss`` only where that is missing."""
  try:
    return _status_bytes("VmHWM")
  except (OSError, RuntimeError):
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
