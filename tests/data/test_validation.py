"""The validation protocol (lowrank_ts.data.validation): disjoint from training and from every
scored benchmark, deterministic, and the one the README states."""

import dataclasses
import os
import re

import numpy as np
import pytest

from lowrank_ts.data import benchmark, corpus, validation
from lowrank_ts.training import data
from lowrank_ts.training.config import TRAIN_CONFIGS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_held_out_is_a_fixed_function_of_the_name_at_the_stated_share():
  names = [f"pkg/item{i}" for i in range(4000)]
  share = np.mean([validation.held_out(n) for n in names])
  # 4 000 draws at p = 0.2: binomial sd 0.0063, so +-0.025 is 4 sd.
  assert abs(share - validation.HELD_OUT_PERCENT / 100) < 0.025, share
  assert [validation.held_out(n) for n in names[:50]] == [validation.held_out(n)
                                                          for n in names[:50]]
  with pytest.raises(ValueError, match="name"):
    validation.held_out("")


def test_the_reference_recipe_never_trains_on_a_validation_series():
  config = TRAIN_CONFIGS["cpu-reference"]
  assert config.corpus_holdout and config.real_corpus
  held = [v for n, v in corpus.load() if validation.held_out(n)]
  assert held  # the real validation set is not empty
  pipe = data.make_pipeline(dataclasses.replace(config, kernel_synth_series=2))
  sources = {s.tobytes() for s in pipe._sources}
  assert not any(v.astype(np.float32).tobytes() in sources for v in held)
  # ... while without the holdout they would be training sources (the check can fail)
  open_pipe = data.make_pipeline(dataclasses.replace(config, kernel_synth_series=2,
                                                     corpus_holdout=False))
  assert all(v.astype(np.float32).tobytes() in {s.tobytes() for s in open_pipe._sources}
             for v in held)


def test_validation_tasks_share_no_window_with_a_scored_benchmark_series():
  # The real set is where a leak could come from; the synthetic sets are generated from seeds
  # (some smooth KernelSynth stretches match a benchmark stretch at 4 digits by chance: the
  # guard's 12-value test is conservative, so they are not run through it).
  tasks = validation.tasks()
  real = [np.concatenate([t.context, t.target]) for t in tasks
          if t.dataset.startswith("val-real")]
  assert real and corpus.shared_windows(real, corpus.benchmark_series()) == []
  names = {t.dataset for t in tasks}
  assert {"val-real-A", "val-real-Q", "val-real-M"} <= names and not any(n.startswith(("m3", "tourism")) for n in names)


def test_validation_is_deterministic_and_a_benchmark_of_its_own():
  a, b = validation.synthetic_tasks(3), validation.synthetic_tasks(3)
  assert [t.series for t in a] == [t.series for t in b]
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x.context, y.context)
  assert "validation" in benchmark.BENCHMARKS
  short = [t for t in a if t.dataset == "val-short-trend"]
  assert all(8 <= t.context.shape[0] <= 40 and t.horizon == 6 for t in short)


def test_the_readme_states_the_protocol_the_code_runs():
  with open(os.path.join(ROOT, "README.md")) as f:
    text = f.read()
  section = text[text.index("**Validation protocol**"):]
  section = section[:section.index("\n\n")]
  assert f"{validation.HELD_OUT_PERCENT} %" in section
  assert "relative WQL" in section and "Seasonal Naive" in section
  for name in ("val-real-A", "val-short-trend", "val-short-p4", "val-kernel-synth"):
    assert name in section, name
  assert re.search(r"scored once", section)
