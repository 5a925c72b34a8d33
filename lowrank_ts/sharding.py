"""Device mesh ``('data', 'fsdp')`` and the one table mapping logical axes to mesh axes.

The batch is split over both mesh axes (every device sees its own rows; FSDP devices hold a
slice of each parameter and all-gather it for the forward pass). A parameter (or optimizer
moment) is sharded over ``'fsdp'`` along its largest dimension that ``fsdp`` divides, and
replicated otherwise -- model code names no ``PartitionSpec``.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp")
# Logical axis -> mesh axes (the only place they meet).
AXIS_RULES = {"batch": ("data", "fsdp"), "param_shard": "fsdp"}


def make_mesh(mesh_shape: tuple[int, int], devices=None) -> Mesh:
  """A ``('data', 'fsdp')`` mesh over ``devices`` (default: all), whose sizes multiply to their
  count."""
  devices = jax.devices() if devices is None else list(devices)
  if (not isinstance(mesh_shape, tuple) or len(mesh_shape) != 2
      or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in mesh_shape)):
    raise ValueError(f"mesh_shape must be a (data, fsdp) tuple of positive ints, got "
                     f"{mesh_shape!r}")
  if mesh_shape[0] * mesh_shape[1] != len(devices):
    raise ValueError(f"mesh_shape {mesh_shape} has {mesh_shape[0] * mesh_shape[1]} devices but "
                     f"{len(devices)} are available: data x fsdp must equal the device count")
  return Mesh(np.asarray(devices, dtype=object).reshape(mesh_shape), MESH_AXES)


def batch_sharding(mesh: Mesh, ndim: int) -> NamedSharding:
  """Rows over the ``'batch'`` mesh axes, other dimensions replicated."""
  return NamedSharding(mesh, PartitionSpec(AXIS_RULES["batch"], *([None] * (ndim - 1))))


def param_sharding(mesh: Mesh, shape: tuple[int, ...]) -> NamedSharding:
  """Largest dimension divisible by the ``'fsdp'`` size sharded over it; else replicated."""
  axis = AXIS_RULES["param_shard"]
  size = mesh.shape[axis]
  spec = [None] * len(shape)
  if size > 1:
    candidates = [i for i, n in enumerate(shape) if n % size == 0]
    if candidates:
      spec[max(candidates, key=lambda i: shape[i])] = axis
  return NamedSharding(mesh, PartitionSpec(*spec))


def state_shardings(mesh: Mesh, abstract_tree: Any) -> Any:
  """Shardings for a pytree of ``jax.ShapeDtypeStruct`` (params, optimizer state, step)."""
  return jax.tree.map(lambda x: param_sharding(mesh, tuple(x.shape)), abstract_tree)


def replicated(mesh: Mesh, tree: Any) -> Any:
  return jax.tree.map(lambda _: NamedSharding(mesh, PartitionSpec()), tree)


def params_mesh(tree: Any) -> Mesh | None:
  """The mesh a model's parameters were placed on (:func:`replicated` / :func:`state_shardings`)
  when it spans more than one device, else None (a single-device model)."""
  for leaf in jax.tree.leaves(tree):
    sharding = getattr(leaf, "sharding", None)
    if isinstance(sharding, NamedSharding) and sharding.mesh.size > 1:
      return sharding.mesh
  return None


def batch_shards(mesh: Mesh) -> int:
  """How many pieces the ``'batch'`` axis is split into on ``mesh``."""
  return int(np.prod([mesh.shape[a] for a in AXIS_RULES["batch"]]))


def rows_like_params(params: Any, *arrays: Any) -> tuple[jax.Array, ...]:
  """``arrays`` (host or device, rows first) as device arrays, their rows split over the mesh
  of ``params`` (:func:`params_mesh`) when it has one: what makes a jitted call of a model
  placed on a mesh data-parallel (GSPMD propagates the row split; the replicated parameters
  stay whole). Row counts must be divisible by the mesh's :func:`batch_shards`."""
  mesh = params_mesh(params)
  if mesh is None:
    return tuple(jax.numpy.asarray(a) for a in arrays)
  shards, out = batch_shards(mesh), []
  for a in arrays:
    if np.ndim(a) < 1 or np.shape(a)[0] % shards:
      raise ValueError(f"rows: a batch of {np.shape(a)[:1]} rows cannot be split over the "
                       f"{shards} data-parallel devices of the model's mesh; pad it to a "
                       f"multiple of {shards}")
    out.append(jax.device_put(a, batch_sharding(mesh, np.ndim(a))))
  return tuple(out)
