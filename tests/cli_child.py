"""``python tests/cli_child.py COMMAND ARGS``: ``lowrank-ts COMMAND ARGS`` with its output held
back, so that a test can interrupt it while the output is being written: when the output starts
(a forecast CSV's writer is made, a compressed folder's checkpoint is saved) the file named by
``MARK`` is created, and then each CSV row, and the checkpoint before and after it is saved,
takes ``SLOW`` seconds more. Like the console script, everything is imported inside the
command's signal handling."""

import os
import sys
import time

from lowrank_ts.cli import exits

MARK, SLOW = os.environ.get("MARK"), float(os.environ.get("SLOW") or 0)


def _mark():
  if MARK:
    with open(MARK, "w"):
      pass


with exits.interrupts(f"lowrank-ts {sys.argv[1]}"):
  import csv

  from lowrank_ts.cli import main
  from lowrank_ts.interop import hf

  writer, save = csv.writer, hf.save

  class SlowWriter:
    def __init__(self, f, *args, **kwargs):
      self.writer = writer(f, *args, **kwargs)

    def writerow(self, row):
      time.sleep(SLOW)
      return self.writer.writerow(row)

  def slow_writer(f, *args, **kwargs):
    _mark()
    return SlowWriter(f, *args, **kwargs)

  def slow_save(*args, **kwargs):
    _mark()
    time.sleep(SLOW)
    out = save(*args, **kwargs)
    time.sleep(SLOW)
    return out

  csv.writer, hf.save = slow_writer, slow_save
  main.command(sys.argv[1])
sys.exit(main.main(sys.argv[1:]))
