"""The experiment table of README.md ("## The experiments") with its runtime column read from
the runs' own records, so that no runtime is kept by hand.

Command: ``python -m experiments.runtimes [--figures DIR] [--write]``

Each script's runtime is the ``wall_time_s`` that :func:`experiments.common.finish` wrote into
``<figures>/<name>.json``; the row of ``experiments.all`` quotes the totals ``paper_repro.md``
records: the "Timing" line that ``experiments.all`` writes between its markers and the
``--full`` timing noted below them. Prints the markdown table; ``--write`` replaces the table
in README.md instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from experiments import common

ROOT = os.path.dirname(common.DEFAULT_OUT)
README = os.path.join(ROOT, "README.md")
LEDGER = os.path.join(ROOT, "paper_repro.md")
SECTION = "## The experiments"

# (script, what it checks), in the README's order
ROWS = [
    ("thm1", "Theorem 1 (both statements), Corollary 2"),
    ("fig3", "Theorem 2 / Fig. 3 (random-init residual MLP)"),
    ("fig14", "Appendix I / Fig. 14 (Chebyshev embeddings)"),
    ("fig15", "Theorem 3 / Fig. 15 (+ Theorem 3 lower bound, errata 15–16)"),
    ("fig16", ("Theorem 6 / Fig. 16 (sparse head-dependent sketching; reduced to d = 512, "
               "L = 1024 by default)")),
    ("thm6", "Theorem 6, both claims on its construction"),
    ("thm5", "Theorem 5 (multi-head compression, constant vs h)"),
    ("fig17", "Theorem 4 / Fig. 17"),
    ("cor1", "Corollary 1 (D = 1 bounds; eq. (5) at admissible depths)"),
    ("depth", "flow-of-ranks through depth, random weights"),
]
ALL_CHECKS = "all of the above, rewrites `paper_repro.md`"
# What experiments.all writes (see all.ledger_rows), and the note on the --full run below it.
_DEFAULT_TOTAL = re.compile(r"Timing: `python -m experiments\.all` \(default size\) took "
                            r"([\d.]+) min")
_FULL_TOTAL = re.compile(r"`python -m experiments\.all --full[^`]*` took \*\*([\d.]+) min\*\*")


def duration(seconds: float) -> str:
  """Whole seconds under a minute, else minutes to a tenth (the README's precision)."""
  return f"{seconds:.0f} s" if round(seconds) < 60 else f"{seconds / 60:.1f} min"


def _record(figures: str, name: str) -> dict | None:
  path = os.path.join(figures, f"{name}.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _runtime(record: dict | None) -> str:
  if record is None:
    return "not run"
  cell = duration(record["wall_time_s"])
  return cell if record["size"] == "default" else f"{cell} ({record['size']} size)"


def _total(ledger_text: str) -> str:
  default, full = _DEFAULT_TOTAL.search(ledger_text), _FULL_TOTAL.search(ledger_text)
  cell = f"{default.group(1)} min" if default else "see `paper_repro.md`"
  return cell + (f" (`--full`, the paper's sizes: {full.group(1)} min)" if full else "")


def table(figures: str = common.DEFAULT_OUT, ledger: str = LEDGER) -> str:
  """The markdown table, one row per script and one for ``experiments.all``."""
  records = {name: _record(figures, name) for name, _ in ROWS}
  cpus = sorted({r["environment"]["cpus"] for r in records.values() if r is not None})
  cores = f" ({cpus[0]} cores)" if len(cpus) == 1 else ""
  lines = [f"| command | checks | default runtime{cores} |", "|---|---|---|"]
  for name, checks in ROWS:
    lines.append(f"| `python -m experiments.{name}` | {checks} | {_runtime(records[name])} |")
  ledger_text = ""
  if os.path.exists(ledger):
    with open(ledger) as f:
      ledger_text = f.read()
  lines.append(f"| `python -m experiments.all` | {ALL_CHECKS} | {_total(ledger_text)} |")
  return "\n".join(lines) + "\n"


def table_span(text: str) -> tuple[int, int]:
  """Character span of the table (its consecutive ``|`` lines) under ``SECTION`` in ``text``."""
  head = text.index(SECTION + "\n")
  start = text.index("\n|", head) + 1
  end = start
  while text.startswith("|", end):
    newline = text.find("\n", end)
    end = len(text) if newline < 0 else newline + 1
  return start, end


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--figures", default=common.DEFAULT_OUT,
                      help="folder of the runs' json files (default: figures/)")
  parser.add_argument("--write", action="store_true", help="replace the table in README.md")
  args = parser.parse_args(argv)
  rows = table(args.figures)
  if not args.write:
    sys.stdout.write(rows)
    return 0
  with open(README) as f:
    text = f.read()
  start, end = table_span(text)
  tmp = README + ".tmp"
  with open(tmp, "w") as f:
    f.write(text[:start] + rows + text[end:])
  os.replace(tmp, README)
  print(f"updated the table of {SECTION!r} in {README}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
