"""The hand-written TensorBoard event writer, read back by TensorBoard's own reader."""

import struct

import numpy as np
import pytest

from lowrank_ts import tensorboard as tb


def test_crc32c_known_vectors():
  # RFC 3720 (iSCSI) B.4 check value and the empty string.
  assert tb.crc32c(b"123456789") == 0xE3069283
  assert tb.crc32c(b"") == 0
  assert tb.crc32c(bytes(32)) == 0x8A9136AA


def test_record_framing():
  framed = tb.record(b"abc")
  assert struct.unpack("<Q", framed[:8])[0] == 3 and framed[12:15] == b"abc"
  assert len(framed) == 8 + 4 + 3 + 4


def test_scalars_round_trip_through_tensorboard(tmp_path):
  accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
  values = {"train/loss": [2.5, 1.25, np.float32(0.1)], "train/lr": [1e-3, 5e-4, 0.0]}
  with tb.SummaryWriter(str(tmp_path)) as writer:
    for i, step in enumerate((0, 10, 2**40)):  # a step past 32 bits: int64 varint
      writer.scalars(step, {k: v[i] for k, v in values.items()})
  acc = accumulator.EventAccumulator(str(tmp_path))
  acc.Reload()
  assert sorted(acc.Tags()["scalars"]) == sorted(values)
  for tag, expected in values.items():
    events = acc.Scalars(tag)
    assert [e.step for e in events] == [0, 10, 2**40]
    # simple_value is a float32 field: exact after rounding to float32.
    np.testing.assert_array_equal([e.value for e in events], np.float32(expected))


def test_bad_arguments_name_the_argument(tmp_path):
  with pytest.raises(ValueError, match="logdir"):
    tb.SummaryWriter("")
  with tb.SummaryWriter(str(tmp_path)) as writer:
    with pytest.raises(ValueError, match="step"):
      writer.scalars(-1, {"a": 1.0})
    with pytest.raises(ValueError, match="values"):
      writer.scalars(0, {1: 1.0})
