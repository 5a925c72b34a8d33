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

:func:`compress` is that rule at one eps. :func:`compress_to_ranks` takes any ranks (from
:mod:`lowrank_ts.models.allocation`: one eps, a target ratio, a global budget;
:func:`compress_to` those of an ``allocation.Request``) and a storage mode: ``efficient`` as above, or ``paper``, which truncates *every* matrix at its rank (the
function the paper's Table 2 evaluates) and stores a matrix whose factors would not save work
as the dense product ``W_r``.

Unlike the authors' code, which writes ``W_r`` back as a dense matrix (no speed or memory
gain), the compressed model really holds the factors. SVDs are computed in the weights' dtype
(fp32, as the authors do) with :mod:`lowrank_ts.spectral`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import jax
import numpy as np
from flax import nnx

from lowrank_ts import checks, spectral
from lowrank_ts.models import allocation, lowrank, registry
from lowrank_ts.models.config import ATTENTION_KINDS, ProjectionSpec

# (stack attribute, attention attribute) of each kind of attention layer.
_MODULES = {"encoder": ("encoder", "self_attention"),
            "decoder_self": ("decoder", "self_attention"),
            "decoder_cross": ("decoder", "cross_attention")}


@dataclasses.dataclass(frozen=True)
class ProjectionReport:
  """What happened to one attention matrix. ``rank`` is None when it is stored dense."""
  name: str                 # e.g. "decoder_cross.3.v"
  shape: tuple[int, int]    # (d_in, d_out) as stored ([in, out])
  eps_rank: int | None      # eq. (1) at the requested eps (None: ranks not chosen by one eps)
  rank: int | None          # rank of the stored factorisation, None = dense
  relative_error: float     # ||W - W_stored||_2 / ||W||_2: sigma_{t+1} / sigma_1, 0 if untouched
  truncation_rank: int = 0  # singular values kept (min(shape) when untruncated)


@dataclasses.dataclass(frozen=True)
class CompressionReport:
  eps: float | None
  projections: tuple[ProjectionReport, ...]
  parameters_before: int
  parameters_after: int
  attention_parameters_before: int
  attention_parameters_after: int
  attention_size_ratio: float   # stored attention parameters, new T5 over the old one
  mode: str = "efficient"
  rank_ratio: float = 1.0       # the paper's Table 2 "Ratio" (allocation.rank_ratio)
  parameter_bytes_before: int = 0
  parameter_bytes_after: int = 0

  def ranks(self) -> dict[str, int | None]:
    return {p.name: p.rank for p in self.projections}


def factorised_rank(eps_rank: int, d_in: int, d_out: int) -> int | None:
  """The rank to store for a ``d_in x d_out`` matrix of the given eps-rank, or None (dense)
  when a factorisation would cost at least as many FLOPs (``r >= d_in d_out / (d_in + d_out)``)."""
  eps_rank = checks.positive_int(eps_rank, "eps_rank", allow_zero=True)
  d_in, d_out = checks.positive_int(d_in, "d_in"), checks.positive_int(d_out, "d_out")
  rank = max(eps_rank, 1)
  return rank if allocation.saves_work(rank, d_in, d_out) else None


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


def _param_leaves(model):
  return jax.tree.leaves(nnx.state(model, nnx.Param))


def _param_count(model) -> int:
  return sum(int(np.prod(x.shape)) for x in _param_leaves(model))


def parameter_bytes(model: registry.ForecastModel) -> int:
  """Bytes of all of ``model``'s parameters in their stored dtype."""
  registry.check_model(model)
  return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in _param_leaves(model))


def spectra(model: registry.ForecastModel) -> tuple[allocation.Spectrum, ...]:
  """The singular values (computed in the weights' dtype, returned as float64) of every
  attention matrix, in :func:`attention_projections` order."""
  out = []
  for name, *_, module in attention_projections(model):
    w = module.dense_kernel()
    s = np.asarray(jax.device_get(spectral.singular_values(w)), np.float64)
    out.append(allocation.Spectrum(name, int(w.shape[0]), int(w.shape[1]), s))
  return tuple(out)


def compress(model: registry.ForecastModel, eps: float
             ) -> tuple[registry.ForecastModel, CompressionReport]:
  """``(compressed_model, report)``: every attention matrix truncated at its eps-rank where
  factors save work, the rest kept dense (efficient mode; module docstring). All other
  parameters are copied; the input model is left unchanged."""
  registry.check_model(model)
  eps = checks.positive_float(eps, "eps")
  if eps >= 1.0:  # sigma_j > eps sigma_1 would keep nothing
    raise ValueError(f"eps must be < 1, got {eps!r}")
  found = spectra(model)
  return compress_to_ranks(model, allocation.eps_ranks(found, eps), "efficient",
                           found_spectra=found, eps=eps)


def compress_to_ranks(model: registry.ForecastModel, ranks, mode: str, *,
                      found_spectra: tuple[allocation.Spectrum, ...] | None = None,
                      eps: float | None = None, factors_for_training: bool = False
                      ) -> tuple[registry.ForecastModel, CompressionReport]:
  """``model`` with attention matrix ``i`` (:func:`attention_projections` order) truncated at
  ``ranks[i]`` as ``mode`` stores it (:mod:`.allocation`); ``found_spectra`` reuses
  :func:`spectra`; ``eps`` is recorded (and eq. 1's ranks at it) when the ranks came from one.
  ``factors_for_training``: every truncated matrix is stored as factors of its rank, also where
  they cost more than the dense product (paper mode), so that training keeps the rank."""
  registry.check_model(model)
  allocation.check_mode(mode)
  found = spectra(model) if found_spectra is None else tuple(found_spectra)
  ranks = tuple(ranks)
  if len(ranks) != len(found):
    raise ValueError(f"ranks must hold one rank per attention matrix ({len(found)}), got "
                     f"{len(ranks)}")
  for r, s in zip(ranks, found):
    checks.positive_int(r, "ranks", upper=s.full_rank)
  eps_ranks = allocation.eps_ranks(found, eps) if eps is not None else (None,) * len(found)
  as_factors = allocation.stored_as_factors(found, ranks, mode)
  kept = allocation.truncation_ranks(found, ranks, mode)
  if factors_for_training:
    as_factors = tuple(f or k < s.full_rank for f, k, s in zip(as_factors, kept, found))
  config = model.config
  t5 = config.t5
  factors, reports = {}, []
  specs = {kind: list(t5.attention_specs(kind)) for kind in ATTENTION_KINDS}
  for (name, kind, layer, proj, module), spectrum, rank, factor, keep, r_eps in zip(
      attention_projections(model), found, ranks, as_factors, kept, eps_ranks):
    w = module.dense_kernel()
    if factor:
      rank = keep if factors_for_training else rank
      spec = ProjectionSpec("shared_sketch", rank)
      sketch, lift = _truncated(w, rank)
      factors[name] = {"sketch": sketch, "lift": lift}
    else:
      spec = ProjectionSpec()
      if keep < spectrum.full_rank:  # paper mode: the truncated matrix, stored dense
        sketch, lift = _truncated(w, keep)
        w = sketch @ lift
      factors[name] = {"kernel": w}
    s = spectrum.singular_values
    error = float(s[keep] / s[0]) if keep < spectrum.full_rank and s[0] > 0 else 0.0
    specs[kind][layer] = dataclasses.replace(specs[kind][layer], **{proj: spec})
    reports.append(ProjectionReport(name, (spectrum.d_in, spectrum.d_out), r_eps,
                                    rank if factor else None, error, keep))
  new_t5 = t5.with_attention(specs)
  compressed = _build(model, dataclasses.replace(config, t5=new_t5), factors)
  report = CompressionReport(
      eps=eps, projections=tuple(reports), parameters_before=_param_count(model),
      parameters_after=_param_count(compressed),
      attention_parameters_before=lowrank.attention_parameters(t5),
      attention_parameters_after=lowrank.attention_parameters(new_t5),
      attention_size_ratio=lowrank.attention_size_ratio(new_t5, reference=t5), mode=mode,
      rank_ratio=allocation.rank_ratio(found, ranks, mode),
      parameter_bytes_before=parameter_bytes(model),
      parameter_bytes_after=parameter_bytes(compressed))
  return compressed, report


def _truncated(w: jax.Array, rank: int) -> tuple[np.ndarray, np.ndarray]:
  """:func:`spectral.truncated_svd` ``(a, b)`` at ``rank``: the full-rank factors (one
  compilation per matrix shape) sliced in NumPy, where eager slicing of jax arrays compiles
  once per rank (seconds per compressed model in a sweep). Column j of ``a`` and row j of
  ``b`` carry ``sqrt(sigma_j)`` whatever the rank, so the slices are the same numbers."""
  a, b = (np.asarray(x) for x in jax.device_get(spectral.truncated_svd(w, rank=min(w.shape))))
  return a[:, :rank], b[:rank]


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


def compress_to(model: registry.ForecastModel, request: allocation.Request,
                model_spectra: Sequence[allocation.Spectrum] | None = None, *,
                for_training: bool = False) -> tuple[registry.ForecastModel, CompressionReport]:
  """``model`` compressed as ``request`` says: its ranks (:func:`allocation.ranks_for`) through
  :func:`compress_to_ranks` (``model_spectra``: :func:`spectra`, when already computed, e.g.
  for a sweep; ``for_training``: every truncated matrix held as factors)."""
  if not isinstance(request, allocation.Request):
    raise ValueError(f"request must be a Request, got {type(request).__name__}")
  model_spectra = spectra(model) if model_spectra is None else model_spectra
  ranks, eps = allocation.ranks_for(model_spectra, request)
  return compress_to_ranks(model, ranks, request.mode, found_spectra=model_spectra, eps=eps,
                           factors_for_training=for_training)
