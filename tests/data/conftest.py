"""Single-threaded BLAS for the data tests when threadpoolctl is installed: on a shared 2-core
machine OpenBLAS's threads spin against other processes and a Cholesky slows down ~20x."""

import contextlib

import pytest

try:
  from threadpoolctl import threadpool_limits
except ImportError:  # optional: the tests are only slower without it
  threadpool_limits = None


@pytest.fixture(autouse=True)
def _single_threaded_blas():
  with threadpool_limits(1) if threadpool_limits else contextlib.nullcontext():
    yield
