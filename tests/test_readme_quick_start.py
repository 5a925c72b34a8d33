"""README's quick start quotes what ``python -m experiments.fig15`` prints: its status line and
the all-d~ slope check, as the committed figures/fig15.json records them."""

import json
import pathlib

from experiments import common

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_quick_start_quotes_the_committed_fig15_summary():
  readme = (ROOT / "README.md").read_text()
  quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
  record = json.loads((ROOT / "figures" / "fig15.json").read_text())
  assert record["size"] == "default" and record["seed"] == 0
  status = common.status_line("fig15", record["verdict"]["status"], record["headline"],
                              record["size"], record["seed"], record["wall_time_s"])
  # The quote elides the wall time, which differs from run to run.
  assert status.rsplit(", ", 1)[0] + ", ... s)" in quick_start
  claims = {c["name"]: common.Claim(**c) for c in record["verdict"]["claims"]}
  assert common.check_line(claims["slope_vs_sigma_all_max"]) in quick_start
  # What the exit status means, as finish returns it (0 iff the status is a PASS).
  assert ("Exit status 0 means every check holds at this size (status PASS); 1 means at least "
          "one failed at this size (status PARTIAL or FAIL)") in " ".join(quick_start.split())
