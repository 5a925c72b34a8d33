"""experiments.runtimes: the runtime column comes from each run's json (``wall_time_s``) and
the ledger's totals, and README.md's experiment table is the one it prints."""

import json
import pathlib

from experiments import all as run_all
from experiments import runtimes

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _write_records(folder, sizes):
  for i, (name, _) in enumerate(runtimes.ROWS):
    if name in sizes:
      record = {"wall_time_s": 7.4 + 20.0 * i, "size": sizes[name], "environment": {"cpus": 4}}
      (folder / f"{name}.json").write_text(json.dumps(record))


def test_runtime_column_reads_the_records(tmp_path):
  sizes = {name: "default" for name, _ in runtimes.ROWS}
  sizes["fig3"] = "smoke"
  del sizes["depth"]  # never run
  _write_records(tmp_path, sizes)
  ledger = tmp_path / "ledger.md"
  ledger.write_text("Timing: `python -m experiments.all` (default size) took 2.5 min in all\n"
                    "Paper sizes: `python -m experiments.all --full --out /x` took **9.1 min**\n")
  lines = runtimes.table(str(tmp_path), str(ledger)).splitlines()
  assert lines[0] == "| command | checks | default runtime (4 cores) |"
  cells = {line.split(" | ")[0].strip("| `"): line.rsplit(" | ", 1)[1].rstrip(" |")
           for line in lines[2:]}
  assert list(cells) == [f"python -m experiments.{n}" for n, _ in runtimes.ROWS] + [
      "python -m experiments.all"]
  assert cells["python -m experiments.thm1"] == "7 s"  # 7.4 s
  assert cells["python -m experiments.fig3"] == "27 s (smoke size)"  # 27.4 s
  assert cells["python -m experiments.fig15"] == "1.1 min"  # 67.4 s
  assert cells["python -m experiments.depth"] == "not run"
  assert cells["python -m experiments.all"] == "2.5 min (`--full`, the paper's sizes: 9.1 min)"
  ledger.write_text("no timing recorded")
  assert runtimes.table(str(tmp_path), str(ledger)).splitlines()[-1].endswith(
      "| see `paper_repro.md` |")


def test_every_experiment_has_a_row():
  assert sorted(name for name, _ in runtimes.ROWS) == sorted(run_all.EXPERIMENTS)


def test_readme_table_is_generated_from_the_figures():
  text = (ROOT / "README.md").read_text()
  start, end = runtimes.table_span(text)
  assert text[start:end] == runtimes.table(), (
      "README's experiment table is stale: run python -m experiments.runtimes --write")


def test_write_replaces_only_that_table(tmp_path, monkeypatch):
  readme = tmp_path / "README.md"
  head, tail = "# x\n\n## The experiments\n\n", "\nafter\n\n## Next\n\n| other |\n"
  readme.write_text(head + "| old |\n|---|\n" + tail)
  monkeypatch.setattr(runtimes, "README", str(readme))
  assert runtimes.main(["--write"]) == 0
  assert readme.read_text() == head + runtimes.table() + tail
