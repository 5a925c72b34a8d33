"""``python tests/train_child.py ARGS``: the train CLI (``lowrank_ts.train.main(ARGS)``) with its
input pipeline held back, so that a test can act while a run is under way: each batch waits
until the file named by ``GATE`` exists (if set), then ``SLOW`` seconds (if set)."""

import os
import sys
import time

from lowrank_ts.cli import train
from lowrank_ts.data import pipeline

GATE, SLOW = os.environ.get("GATE"), float(os.environ.get("SLOW") or 0)
batch_at = pipeline.InputPipeline.batch_at


def held_back(self, step, rows=None):
  while GATE and not os.path.exists(GATE):
    time.sleep(0.02)
  time.sleep(SLOW)
  return batch_at(self, step, rows)


pipeline.InputPipeline.batch_at = held_back
train.main(sys.argv[1:])
