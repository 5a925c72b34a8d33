"""Data-parallel forecasting: a model's parameters replicated over a ``jax.sharding`` mesh.

A model so placed runs its jitted forecasts with the batch rows split over the mesh's
``'batch'`` axes (:func:`lowrank_ts.sharding.rows_like_params` at the models' jit boundaries)
and the parameters whole on every device: GSPMD propagates the row split through the encoder,
the decode loop and the heads. The same call runs unchanged on 1 CPU, 8 GPUs or a TPU slice.
"""

from __future__ import annotations

import jax
from flax import nnx
from jax.sharding import Mesh

from lowrank_ts import sharding


def check_mesh(mesh, name: str = "mesh") -> Mesh:
  if not isinstance(mesh, Mesh):
    raise ValueError(  # noqa: TRY004 (the project raises ValueError for every bad argument)
        f"{name} must be a jax.sharding.Mesh (lowrank_ts.sharding.make_mesh), got "
        f"{type(mesh).__name__}")
  missing = [a for a in sharding.AXIS_RULES["batch"] if a not in mesh.axis_names]
  if missing:
    raise ValueError(f"{name} must have the axes {sharding.MESH_AXES}, got {mesh.axis_names}")
  return mesh


def replicate(model, mesh: Mesh):
  """A copy of ``model`` whose every parameter (and other state) is replicated on ``mesh``;
  ``model`` itself is left where it is."""
  mesh = check_mesh(mesh)
  graphdef, state = nnx.split(model)
  state = jax.device_put(state, sharding.replicated(mesh, state))
  return nnx.merge(graphdef, state)
