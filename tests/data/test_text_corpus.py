"""The text control's data: Python's own prose as bytes, split by document, and its seeded,
resumable pipeline of byte windows; a text run trains and resumes exactly."""

import csv
import dataclasses
import os

import jax
import numpy as np
import pytest

from lowrank_ts.data import text_corpus
from lowrank_ts.training import loop
from lowrank_ts.training.config import TRAIN_CONFIGS, TrainConfig

pytestmark = pytest.mark.usefixtures("compilation_cache")


def test_corpus_is_split_by_whole_documents():
  docs = text_corpus.documents()
  names = [name for name, _ in docs]
  assert len(names) == len(set(names)) > 500
  held = [name for name in names if text_corpus._is_validation(name)]
  # The hash split holds out about VALIDATION_SHARE of the documents (binomial sd ~0.6 %).
  assert 0.02 < len(held) / len(names) < 0.09
  c = text_corpus.corpus()
  sizes = {"train": 0, "validation": 0}
  for name, text in docs:
    sizes["validation" if name in held else "train"] += len(text.encode()) + 2
  for part in sizes:  # every document lands whole in its part (joined by blank lines)
    assert c[part].size == sizes[part] - 2, part
  assert c["train"].size > 1_000_000 and c["validation"].size > 20_000


def _pipe(**kw):
  data = np.frombuffer(b"The quick brown fox jumps over the lazy dog. " * 20, np.uint8)
  return text_corpus.TextPipeline(**{"batch_size": 4, "context": 8, "horizon": 3, "seed": 1,
                                     "data": data, **kw}), data


def test_batches_are_next_byte_windows_of_the_data():
  pipe, data = _pipe()
  batch = pipe.batch_at(5)
  assert batch["input_ids"].shape == (4, 9) and batch["labels"].shape == (4, 3)
  assert np.all(batch["input_ids"][:, -1] == 1) and batch["attention_mask"].all()  # EOS last
  text = data.tobytes()
  for ids, labels in zip(batch["input_ids"][:, :-1], batch["labels"], strict=True):
    window = bytes((np.concatenate([ids, labels]) - text_corpus.N_SPECIAL).astype(np.uint8))
    assert window in text  # the labels are the bytes that follow the context
  assert np.array_equal(pipe.batch_at(5)["labels"], batch["labels"])  # a pure function of step
  assert not np.array_equal(pipe.batch_at(6)["labels"], batch["labels"])
  rows = pipe.batch_at(5, rows=[2, 0])
  assert np.array_equal(rows["input_ids"], batch["input_ids"][[2, 0]])


def test_state_round_trips_and_bad_input_names_the_argument():
  pipe, _ = _pipe()
  pipe.set_state({"seed": np.int64(1), "step": np.int64(7)})
  assert {k: int(v) for k, v in pipe.get_state().items()} == {"seed": 1, "step": 7}
  with pytest.raises(ValueError, match="state"):
    pipe.set_state({"step": 3})
  with pytest.raises(ValueError, match="rows"):
    pipe.set_rows([4])
  with pytest.raises(ValueError, match="context"):
    _pipe(context=0)
  with pytest.raises(ValueError, match="data must be 1-D bytes"):
    _pipe(context=5000)
  with pytest.raises(ValueError, match="text_corpus needs a Chronos-T5 model with 258 tokens"):
    TrainConfig(model="chronos-bolt-cpu-zs", text_corpus=True)


def test_the_recipe_is_the_reference_recipe_on_text():
  text, series = TRAIN_CONFIGS["cpu-reference-text"], TRAIN_CONFIGS["cpu-reference-seasonal"]
  assert dataclasses.replace(text, model=series.model, text_corpus=False) == series
  t5_text, t5_series = text.model_config.t5, series.model_config.t5
  same = ("d_model", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "d_kv")
  assert [getattr(t5_text, f) for f in same] == [getattr(t5_series, f) for f in same]
  assert t5_text.vocab_size == text_corpus.VOCAB


TINY = TrainConfig(model="chronos-t5-bytes-cpu", text_corpus=True, steps=30, batch_size=8,
                   model_overrides="d_model=16,d_ff=32,d_kv=4", learning_rate=3e-2,
                   checkpoint_every=10, log_every=1)


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.csv")) as f:
    return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.mark.slow  # two training runs with their compilation: CI's second step
def test_a_text_run_learns_and_resumes_exactly(tmp_path):
  full = loop.train(TINY, str(tmp_path / "full"), progress=False)
  losses = _losses(tmp_path / "full")
  # From ln 258 = 5.55 nats (uniform bytes) towards the corpus's unigram entropy, 3.3 nats: a
  # run that learns the byte frequencies at all falls by more than 0.5.
  assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 0.5, losses
  loop.train(TINY, str(tmp_path / "resumed"), progress=False, stop_after=15)  # killed at 15
  resumed = loop.train(TINY, str(tmp_path / "resumed"), progress=False)  # resumes from 10
  for a, b in zip(jax.tree.leaves(full["params"]), jax.tree.leaves(resumed["params"]),
                  strict=True):
    assert np.array_equal(np.asarray(a), np.asarray(b))
  assert _losses(tmp_path / "resumed") == losses
