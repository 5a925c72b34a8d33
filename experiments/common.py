"""Shared scaffolding for the experiment scripts: arguments, claims, results files.

Every script ``python -m experiments.<name>`` parses the same flags (``--seed``, ``--out``,
``--full``, ``--smoke``) and is split the same way: ``compute`` runs the experiment and returns
its results (the json's ``data``), ``verdicts(results, params)`` records each checked claim
with :class:`Verdict`, ``plot(results, params)`` draws the figure from the results alone, and
a short ``main`` calls them and ends with :func:`finish`, which writes ``<out>/<name>.png`` and
``<out>/<name>.json``, prints a short summary and returns the process exit code (non-zero unless
the status is PASS or "PASS (proxy: ...)"; see :class:`Verdict` for the vocabulary). The json records the run's ``wall_time_s``: runtimes are read from there
(``python -m experiments.runtimes`` tabulates them), not kept in docstrings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from typing import Any

import jax
import matplotlib
import numpy as np

from lowrank_ts import xla

matplotlib.use("Agg")  # headless: scripts only write files

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "figures")

# Heavy float64 calls compile without XLA:CPU's YNNPACK fusions (2.5-6x faster attention
# here); see lowrank_ts.xla.
cpu_jit = xla.jit


def parse_args(description: str, argv: list[str] | None = None,
               extra: dict[str, dict] | None = None) -> argparse.Namespace:
  """The flags every experiment accepts. ``size`` is 'smoke', 'default' or 'full'.
  ``extra``: a script's own flags, ``{flag: add_argument keywords}`` (listed by ``--help``)."""
  parser = argparse.ArgumentParser(description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  for flag, kwargs in (extra or {}).items():
    parser.add_argument(flag, **kwargs)
  parser.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
  parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: figures/)")
  size = parser.add_mutually_exclusive_group()
  size.add_argument("--full", action="store_true", help="the paper's exact sizes")
  size.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), for tests")
  args = parser.parse_args(argv)
  args.argv = list(sys.argv[1:] if argv is None else argv)  # for the json's "command"
  args.size = "full" if args.full else "smoke" if args.smoke else "default"
  return args


def _jsonable(value: Any) -> Any:
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, (jax.Array, np.ndarray)):
    return _jsonable(np.asarray(value).tolist())
  if isinstance(value, (np.integer,)):
    return int(value)
  if isinstance(value, (np.floating, float)):
    value = float(value)
    return value if math.isfinite(value) else str(value)  # JSON has no NaN/inf
  if isinstance(value, np.bool_):
    return bool(value)
  return value


# What a check is evidence of. Only "claim" and "proxy" checks are evidence for the paper's
# statement; "erratum" checks reproduce a printed statement failing; "construction" checks
# hold by how the experiment is built (an identity, a bound many orders loose, an implementation
# self-check) and are recorded but never counted as evidence. "precondition" checks ask whether
# the model or setting can carry the claim at all (experiments.precondition: it forecasts, it
# uses its attention); when one fails, no other check is evidence either way.
KINDS = {
    "claim": "the paper's statement, in its stated setting",
    "proxy": "the paper's statement in a stand-in setting (named in ``proxy``)",
    "erratum": "a printed statement shown to fail (the check passes when it fails as stated)",
    "construction": "by construction: satisfied by how the experiment is built, not evidence",
    "precondition": "the model or setting can carry the claim (else the status is UNINFORMATIVE)",
}
STATUSES = ("PASS", "PASS (proxy: ...)", "PARTIAL", "FAIL", "UNINFORMATIVE")


@dataclasses.dataclass
class Claim:
  name: str
  statistic: float
  threshold: float
  relation: str  # the statistic must satisfy: statistic <relation> threshold
  passed: bool
  description: str
  reason: str = ""  # why the threshold is that number, decided from the claim
  kind: str = "claim"  # one of KINDS
  proxy: str = ""  # for kind "proxy": the stand-in setting


@dataclasses.dataclass
class Finding:
  """A measured number reported as such (no pass/fail): what the checks do not cover, or
  what goes against the paper's reading."""
  name: str
  value: Any
  text: str


class Verdict:
  """Collects the checks an experiment makes and its findings.

  The experiment's status (:attr:`status`) is one of STATUSES: PASS when every check passes
  and none is a proxy; "PASS (proxy: ...)" when every check passes and some evidence comes
  from a stand-in setting; PARTIAL when some claim/proxy checks fail and others pass; FAIL
  when every claim/proxy check fails, when a construction or erratum check fails (the
  experiment itself is then wrong), or when nothing is checked; UNINFORMATIVE when the set-up
  is right but a precondition check fails (the model cannot carry the claim, so neither a pass
  nor a failure of its checks is evidence).
  """

  _RELATIONS = {
      "<=": lambda s, t: s <= t,
      "<": lambda s, t: s < t,
      ">=": lambda s, t: s >= t,
      ">": lambda s, t: s > t,
  }

  def __init__(self):
    self.claims: list[Claim] = []
    self.findings: list[Finding] = []

  def check(self, name: str, statistic: float, relation: str, threshold: float,
            description: str, reason: str, kind: str = "claim", proxy: str = "") -> bool:
    """Records ``statistic <relation> threshold`` (NaN always fails). ``reason`` says in one
    line why the threshold is that number, from the claim (required)."""
    if not reason.strip():
      raise ValueError(f"check {name!r}: reason must say why the threshold is {threshold}")
    if relation not in self._RELATIONS:
      raise ValueError(f"relation must be one of {sorted(self._RELATIONS)}, got {relation!r}")
    if kind not in KINDS:
      raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    if kind == "proxy" and not proxy:
      raise ValueError(f"check {name!r}: kind 'proxy' needs the stand-in setting in proxy=")
    statistic, threshold = float(statistic), float(threshold)
    passed = (not math.isnan(statistic)) and bool(self._RELATIONS[relation](statistic, threshold))
    self.claims.append(Claim(name, statistic, threshold, relation, passed, description, reason,
                             kind, proxy))
    return passed

  def finding(self, name: str, value: Any, text: str) -> None:
    """Records a measured number that is reported, not checked."""
    self.findings.append(Finding(name, value, text))

  @property
  def passed(self) -> bool:
    """Every check passed (and there was one)."""
    return bool(self.claims) and all(c.passed for c in self.claims)

  @property
  def status(self) -> str:
    evidence = [c for c in self.claims if c.kind in ("claim", "proxy")]
    if not evidence or any(not c.passed for c in self.claims
                           if c.kind in ("construction", "erratum")):
      return "FAIL"
    if any(not c.passed for c in self.claims if c.kind == "precondition"):
      return "UNINFORMATIVE"
    passed = [c for c in evidence if c.passed]
    if not passed:
      return "FAIL"
    if len(passed) < len(evidence):
      return "PARTIAL"
    proxies = list(dict.fromkeys(c.proxy for c in evidence if c.kind == "proxy"))
    return f"PASS (proxy: {'; '.join(proxies)})" if proxies else "PASS"

  @property
  def thresholds(self) -> dict:
    """{check name: [relation, threshold, kind]}: the table tests pin."""
    return {c.name: [c.relation, c.threshold, c.kind] for c in self.claims}

  def to_json(self) -> dict:
    return {"status": self.status, "passed": self.passed,
            "claims": [dataclasses.asdict(c) for c in self.claims],
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "thresholds": self.thresholds}


def run(name: str, doc: str, argv, compute, verdicts, plot, headline) -> int:
  """The body of every experiment's ``main``: parse the arguments, ``compute(size, seed) ->
  (results, params)``, then ``verdicts(results, params)``, ``plot(results, params)`` and
  ``headline(results, params)``, and :func:`finish` (png + json, exit code)."""
  args = parse_args(doc, argv)
  start = time.time()
  results, params = compute(args.size, args.seed)
  verdict = verdicts(results, params)
  return finish(name, args, plot(results, params), results, params, verdict, start,
                headline(results, params))


def status_line(name: str, status: str, headline: str, size: str, seed: int,
                wall: float) -> str:
  """The summary's first line, as :func:`finish` prints it (README's quick start quotes it)."""
  return f"[{name}] {status}: {headline}  ({size} size, seed {seed}, {wall:.1f} s)"


def check_line(c: Claim) -> str:
  """One check of the summary: PASS/FAIL, name, kind label, statistic, threshold, description."""
  mark = "PASS" if c.passed else "FAIL"
  label = {"claim": "", "proxy": f" [proxy: {c.proxy}]", "erratum": " [erratum]",
           "construction": " [by construction]", "precondition": " [precondition]"}[c.kind]
  return (f"  {mark}  {c.name}{label}: {c.statistic:.4g} {c.relation} {c.threshold:.4g}  -- "
          f"{c.description}")


def finish(name: str, args: argparse.Namespace, fig, data: dict, params: dict, verdict: Verdict,
           start_time: float, headline: str, script: str | None = None) -> int:
  """Writes the png and json (``<name>.*``), prints the summary, returns the exit code (0 iff
  the status is PASS or PASS (proxy: ...)). ``script``: the ``experiments.<script>`` that was
  run, where it is not ``name`` (fig3's --model mode writes fig3_model, fig7 writes table4)."""
  os.makedirs(args.out, exist_ok=True)
  png = os.path.join(args.out, f"{name}.png")
  fig.savefig(png, dpi=110, bbox_inches="tight")
  wall = time.time() - start_time
  record = {
      "experiment": name,
      "command": " ".join(["python -m experiments." + (script or name),
                           *getattr(args, "argv", [])]),
      "size": args.size,
      "seed": args.seed,
      "params": params,
      "wall_time_s": round(wall, 2),
      "environment": {"python": platform.python_version(), "jax": jax.__version__,
                      "backend": jax.default_backend(), "cpus": os.cpu_count()},
      "verdict": verdict.to_json(),
      "headline": headline,
      "data": data,
  }
  path = os.path.join(args.out, f"{name}.json")
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(_jsonable(record), f, indent=1)
  os.replace(tmp, path)  # atomic: an interrupted run never leaves a half-written json
  print(status_line(name, verdict.status, headline, args.size, args.seed, wall))
  for c in verdict.claims:
    print(check_line(c))
  for f in verdict.findings:
    print(f"  FINDING  {f.name}: {f.text}")
  print(f"  wrote {png} and {path}")
  if not verdict.claims:
    print("  FAIL  no claim was checked")
  return 0 if verdict.status.startswith("PASS") else 1
