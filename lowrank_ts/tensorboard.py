"""A dependency-free TensorBoard scalar writer (event files readable by ``tensorboard``).

An event file is a sequence of TFRecords (``uint64`` length, masked CRC-32C of the length,
payload, masked CRC-32C of the payload), each payload a serialised ``tensorflow.Event``
protocol buffer. Only the fields scalars need are written, encoded by hand:

- ``Event``: ``wall_time`` (1, double), ``step`` (2, int64), ``file_version`` (3, string),
  ``summary`` (5, message);
- ``Summary``: repeated ``value`` (1, message); ``Summary.Value``: ``tag`` (1, string),
  ``simple_value`` (2, float).

``tensorboard --logdir DIR`` then shows the scalars; tests read them back with TensorBoard's own
``EventAccumulator``.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Mapping


def _crc32c_table() -> list[int]:
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)  # reflected Castagnoli polynomial
    table.append(crc)
  return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli) of ``data``."""
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
  out = bytearray()
  value &= (1 << 64) - 1  # int64 two's complement, as protobuf encodes negative varints
  while True:
    bits = value & 0x7F
    value >>= 7
    if value:
      out.append(bits | 0x80)
    else:
      out.append(bits)
      return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, file_version: str | None = None,
           summary: bytes | None = None) -> bytes:
  out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3) + _varint(step)
  if file_version is not None:
    out += _field_bytes(3, file_version.encode())
  if summary is not None:
    out += _field_bytes(5, summary)
  return out


def _scalar_summary(values: Mapping[str, float]) -> bytes:
  out = b""
  for tag, value in values.items():
    inner = _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5) + struct.pack("<f", value)
    out += _field_bytes(1, inner)
  return out


def record(payload: bytes) -> bytes:
  """``payload`` framed as one TFRecord."""
  header = struct.pack("<Q", len(payload))
  return (header + struct.pack("<I", _masked_crc(header)) + payload
          + struct.pack("<I", _masked_crc(payload)))


class SummaryWriter:
  """Appends scalars to a new event file in ``logdir`` (created if missing).

  ``scalars(step, {"loss": 0.5, ...})`` writes one event; every call is flushed, so an
  interrupted run loses nothing already written. Non-finite values are written as they are
  (TensorBoard shows them as NaN / inf).
  """

  def __init__(self, logdir: str):
    if not isinstance(logdir, (str, os.PathLike)) or not str(logdir):
      raise ValueError(f"logdir must be a non-empty path, got {logdir!r}")
    os.makedirs(logdir, exist_ok=True)
    now = time.time()
    name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}"
    self.path = os.path.join(logdir, name)
    self._file = open(self.path, "ab")  # noqa: SIM115 (open for the writer's lifetime)
    self._write(_event(now, 0, file_version="brain.Event:2"))

  def _write(self, payload: bytes) -> None:
    self._file.write(record(payload))
    self._file.flush()

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
      raise ValueError(f"step must be a non-negative int, got {step!r}")
    if not isinstance(values, Mapping) or not all(isinstance(k, str) for k in values):
      raise ValueError(f"values must be a mapping of str tags to floats, got {values!r}")
    self._write(_event(time.time(), step,
                       summary=_scalar_summary({k: float(v) for k, v in values.items()})))

  def close(self) -> None:
    self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
