"""Post-hoc compression of a dense Chronos / Chronos-Bolt model by truncated SVD (§5).

Every attention matrix ``W`` (q, k, v, o of the encoder self-, decoder self- and decoder
cross-attention layers; ``d_in x d_out`` as stored, ``[in, out]``) is replaced by its rank-``r``
truncated SVD with ``r = rank_eps(W)``, the eps-rank of eq. (1):

  ``r = |{j : sigma_j(W) > eps * sigma_1(W)}|``,  so  ``||W - W_r||_2 = sigma_{r+1} <= eps ||W||_2``

(Eckart–Young; ``sigma_{r+1} = 0`` when ``r = min(d_in, d_out)``). The factors are stored as
eq. (19)'s ``shared_sketch`` (``W_r = sketch @ lift``, ``sketch = U_r S_r^1/2`` ``[d_in, r]``,
``lift = S_r^1/2 V_r^T`` ``[r, d_out]``), a truncated SVD of the whole ``d_model x (H d_kv)``
matrix (all heads together). A projection stays dense when the factors would not save work:
per token they cost ``r (d_in + d_out)`` multiply-adds against ``d_in d_out``, so it is
factorised only when ``r < d_in d_out / (d_in + d_out)`` (then parameters shrink too).
A zero matrix (eps-rank 0) becomes a rank-1 factorisation of zeros (exact). Meant for dense
models; an already factorised projection (eqs. 19-20) is multiplied out first and judged the
same way (so one that stays dense is stored dense). Heads and head sizes are never changed.

Unlike the authors' code, which writes ``W_r`` back as a dense matrix (no speed or memory
gain), the compressed model really holds the factors. SVDs are computed in the weights' dtype
(fp32, as the authors do) with :mod:`lowrank_ts.spectral`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import jax
import numpy as np
from flax import nnx

from lowrank_ts import checks, spectral
from lowrank_ts.models import lowrank, registry
from lowrank_ts.models.config import ATTENTION_KINDS, ProjectionSpec

# (stack attribute, attention attribute) of each kind of attention layer.
_MODULES = {"encoder": ("encoder", "self_attention"),
            "decoder_self": ("decoder", "self_attention"),
            "decoder_cross": ("decoder", "cross_attention")}


@dataclasses.dataclass(frozen=True)
class ProjectionReport:
  """What happened to one attention matrix. ``rank`` is None when it was kept dense."""
  name: str                 # e.g. "decoder_cross.3.v"
  shape: tuple[int, int]    # (d_in, d_out) as stored ([in, out])
  eps_rank: int             # eq. (1) at the requested eps
  rank: int | None          # rank of the stored factorisation, None = dense
  relative_error: float     # ||W - W_stored||_2 / ||W||_2: sigma_{r+1} / sigma_1, 0 if dense


@dataclasses.dataclass(frozen=True)
class CompressionReport:
  eps: float
  projections: tuple[ProjectionReport, ...]
  parameters_before: int
  parameters_after: int
  attention_parameters_before: int
  attention_parameters_after: int
  attention_size_ratio: float   # lowrank.attention_size_ratio of the new T5 vs the old one

  def ranks(self) -> dict[str, int | None]:
    return {p.name: p.rank for p in self.projections}


def factorised_rank(eps_rank: int, d_in: int, d_out: int) -> int | None:
  """The rank to store for a ``d_in x d_out`` matrix of the given eps-rank, or None (dense)
  when a factorisation would cost at least as many FLOPs (``r >= d_in d_out / (d_in + d_out)``)."""
  eps_rank = checks.positive_int(eps_rank, "eps_rank", allow_zero=True)
  d_in, d_out = checks.positive_int(d_in, "d_in"), checks.positive_int(d_out, "d_out")
  rank = max(eps_rank, 1)
  return None if rank * (d_in + d_out) >= d_in * d_out else rank


def attention_projections(model: registry.ForecastModel
                          ) -> Iterator[tuple[str, str, int, str, nnx.Module]]:
  """``(name, kind, layer, projection, module)`` for every q/k/v/o of ``model``, in config
  order: ``kind`` is one of :data:`ATTENTION_KINDS`."""
  registry.check_model(model)
  for kind in ATTENTION_KINDS:
    stack, attention = _MODULES[kind]
    for layer, block in enumerate(getattr(model, stack).layers):
      attn = getattr(block, attention)
      for proj in "qkvo":
        yield f"{kind}.{layer}.{proj}", kind, layer, proj, getattr(attn, proj)


def _param_count(model) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


def compress(model: registry.ForecastModel, eps: float
             ) -> tuple[registry.ForecastModel, CompressionReport]:
  """``(compressed_model, report)``: every attention matrix truncated at its eps-rank (module
  docstring). All other parameters are copied; the input model is left unchanged."""
  registry.check_model(model)
  eps = checks.positive_float(eps, "eps")
  if eps >= 1.0:  # sigma_j > eps sigma_1 would keep nothing
    raise ValueError(f"eps must be < 1, got {eps!r}")
  config = model.config
  t5 = config.t5
  factors, reports = {}, []
  specs = {kind: list(t5.attention_specs(kind)) for kind in ATTENTION_KINDS}
  for name, kind, layer, proj, module in attention_projections(model):
    w = module.dense_kernel()
    d_in, d_out = w.shape
    s = spectral.singular_values(w)
    r_eps = int(spectral.eps_rank_from_singular_values(s, eps))
    rank = factorised_rank(r_eps, d_in, d_out)
    if rank is None:
      spec, error = ProjectionSpec(), 0.0
      factors[name] = {"kernel": w}
    else:
      spec = ProjectionSpec("shared_sketch", rank)
      sketch, lift = spectral.truncated_svd(w, rank=rank)
      factors[name] = {"sketch": sketch, "lift": lift}
      top = float(s[0])
      error = float(s[rank]) / top if rank < s.shape[0] and top > 0 else 0.0
    specs[kind][layer] = dataclasses.replace(specs[kind][layer], **{proj: spec})
    reports.append(ProjectionReport(name, (int(d_in), int(d_out)), r_eps, rank, error))
  new_t5 = t5.with_attention(specs)
  new_config = dataclasses.replace(config, t5=new_t5)
  compressed = _build(model, new_config, factors)
  report = CompressionReport(
      eps=eps, projections=tuple(reports), parameters_before=_param_count(model),
      parameters_after=_param_count(compressed),
      attention_parameters_before=lowrank.attention_parameters(t5),
      attention_parameters_after=lowrank.attention_parameters(new_t5),
      attention_size_ratio=lowrank.attention_size_ratio(new_t5, reference=t5))
  return compressed, report


def _build(model, new_config, factors: dict[str, dict[str, jax.Array]]):
  """The model of ``new_config`` holding ``model``'s parameters, with the attention
  projections' parameters taken from ``factors`` (``name -> {param name: value}``)."""
  params = {path: variable[...] for path, variable in
            nnx.to_flat_state(nnx.state(model, nnx.Param))}
  for name, values in factors.items():
    kind, layer, proj = name.split(".")
    stack, attention = _MODULES[kind]
    prefix = (stack, "layers", int(layer), attention, proj)
    for path in [p for p in params if p[:5] == prefix]:  # the old form of this projection
      del params[path]
    params.update({prefix + (leaf,): value for leaf, value in values.items()})
  return registry.with_config(model, new_config, params)
