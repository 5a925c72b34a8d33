"""Runs every theory experiment and rewrites the theory rows of ``paper_repro.md``.

Command: ``python -m experiments.all [--seed S] [--out DIR] [--full | --smoke]``
Runtime on 2 CPU cores: see the "Timing" line that paper_repro.md records from the last run.

Each script runs in its own process (``python -m experiments.<name>``) with the same flags;
its JSON is then read back and one row per result is written, with the experiment's status
(PASS, PASS (proxy: ...), PARTIAL or FAIL; see ``experiments.common.Verdict``), between the markers
``<!-- BEGIN theory -->`` and ``<!-- END theory -->`` of ``paper_repro.md`` (only when the
outputs went to the repository's ``figures/`` folder, so smoke runs into a temporary folder
never touch the ledger). Exits non-zero unless every script's status is PASS or PASS (proxy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from experiments import common

# (result, the paper's claim with its numbers, experiment script)
ROWS = [
    ("Theorem 1", "smooth embeddings of [-1,1]: sigma_{j+1}(Psi) <= 2V sqrt(dL)/(pi nu (j-1-nu)^nu) "
     "(nu-smooth) and <= 2M sqrt(dL) rho^{-j+1}/(rho-1) (analytic in the Bernstein ellipse)",
     "thm1"),
    ("Corollary 2", "Time-MoE embedding: sigma_{j+1} = O(sqrt(dL)(beta+1/beta)(1+pi/(2 beta))^{-j+1})",
     "thm1"),
    ("Theorem 2 / Fig. 3", "residual-MLP embedding: #{sigma_j > eps ||W2|| ||W1 X||} <= "
     "min(d, (1+eps^-2) k); rank grows with patch size k; angles (eq. 2) small for smooth "
     "patches", "fig3"),
    ("Appendix I / Fig. 14", "Chebyshev embedding of 4096 points in [-15, 15], d = 768, has "
     "algebraic rank exactly k", "fig14"),
    ("Theorem 3 / Fig. 15", "||Y - Y~||_F = O(sqrt(d) sigma_{d~+1}) (erratum 15: O(sqrt(dL) "
     "sigma_{d~+1}), so the gap to the lower bound sigma_{d~+1}/4 is sqrt(dL), not the printed "
     "'tight up to sqrt(d)'): log-log slope 1 vs sigma_{d~+1} and 1/2 vs d (d = 512, "
     "N = 4096); lower bound >= sigma_{d~+1}/4 for every d, L >= d, spectrum", "fig15"),
    ("Theorem 5", "multi-head: ||MH-Att - MH-Att~||_F = O(sqrt(d) sigma_{d~+1}) (with erratum "
     "15's sqrt(L)), constant depending only on C, not on h", "thm5"),
    ("Theorem 6", "rank-d~ W~_V errs >= sigma_{d~+1}/2; sparse head-dependent sketch errs "
     "<= 4 sqrt(h) sigma_{h d~+1}", "thm6"),
    ("Theorem 6 / Fig. 16", "sparse head-dependent sketches, d = 2048, L = 4096, d~ = 4: the "
     "index j with error <= sigma_{j+1} grows proportionally to h", "fig16"),
    ("Theorem 4 / Fig. 17", "eps-rank of MH-Attention(X) + X grows with h; upper "
     "bound eq. (5) for every k; lower-bound construction attains eq. (6)", "fig17"),
    ("Corollary 1", "D = 1: sigma_k(Z) <= O(h) sigma_{floor((k+1)/(h+1))+1} (erratum 11: "
     "index floor((k-1)/(h+1))+1); construction: sigma_k(Z) >= O(1) sigma_{ceil(k/h)}; eq. (5) "
     "where its depth hypothesis holds", "cor1"),
    ("Flow-of-ranks (random weights)", "eps-rank of the input to each layer grows with depth "
     "(Fig. 5c); with attention-only blocks it also grows with h (Fig. 17)", "depth"),
]
EXPERIMENTS = list(dict.fromkeys(name for _, _, name in ROWS))
REPRO = os.path.join(os.path.dirname(common.DEFAULT_OUT), "paper_repro.md")
BEGIN, END = "<!-- BEGIN theory -->", "<!-- END theory -->"


def run_all(args, names=None) -> dict[str, dict]:
  """Runs each script of ``names`` (default: every theory script) in its own process with the
  shared flags; ``{name: {returncode, wall_s, record}}`` (record: the json it wrote, or None)."""
  flags = ["--seed", str(args.seed)]
  if os.path.abspath(args.out) != os.path.abspath(common.DEFAULT_OUT):
    flags += ["--out", args.out]  # otherwise the scripts' own default, kept out of the json
  flags += {"full": ["--full"], "smoke": ["--smoke"], "default": []}[args.size]
  results = {}
  for name in EXPERIMENTS if names is None else names:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", f"experiments.{name}", *flags],
                          capture_output=True, text=True)
    wall = time.time() - start
    sys.stdout.write(proc.stdout)
    path = os.path.join(args.out, f"{name}.json")
    record = None
    if os.path.exists(path) and os.path.getmtime(path) >= start:
      with open(path) as f:
        record = json.load(f)
    if proc.returncode not in (0, 1) or record is None:  # 1 = a claim failed, json written
      sys.stderr.write(proc.stderr[-4000:])
    results[name] = {"returncode": proc.returncode, "wall_s": wall, "record": record}
  return results


_LABELS = {"claim": "", "proxy": " [proxy]", "erratum": " [erratum]",
           "construction": " [by construction]", "precondition": " [precondition]"}


def status_of(record: dict | None) -> str:
  if record is None:
    return "FAIL"
  verdict = record["verdict"]
  return verdict.get("status", "PASS" if verdict["passed"] else "FAIL")


def _cell(record: dict | None, returncode: int) -> tuple[str, str]:
  if record is None:
    return f"crashed (exit {returncode})", "**FAIL**"
  claims = record["verdict"]["claims"]
  parts = [f"{c['name']}{_LABELS[c.get('kind', 'claim')]}: {c['statistic']:.4g} "
           f"{c['relation']} {c['threshold']:.4g} ({'PASS' if c['passed'] else 'FAIL'})"
           for c in claims]
  parts += [f"finding {f['name']}: {f['text']}" for f in record["verdict"].get("findings", [])]
  status = status_of(record)
  verdict = status if status.startswith("PASS") else f"**{status}**"
  return (record.get("headline", "") + "<br>" + "<br>".join(parts)).replace("|", "/"), verdict


def ledger_rows(results: dict[str, dict], args, rows=None, command="experiments.all") -> str:
  """The ledger's table of ``rows`` (default: the theory rows) from ``run_all``'s results."""
  lines = ["| Result | Paper's claim | Our command | Our number | Verdict | Notes |",
           "|---|---|---|---|---|---|"]
  for result, claim, name in ROWS if rows is None else rows:
    res = results[name]
    number, verdict = _cell(res["record"], res["returncode"])
    script = f"`python -m experiments.{name}`"
    note = f"seed {args.seed}, {args.size} size, {res['wall_s']:.0f} s on {os.cpu_count()} cores"
    lines.append(f"| {result} | {claim} | {script} | {number} | {verdict} | {note} |")
  total = sum(r["wall_s"] for r in results.values())
  lines.append("")
  lines.append(f"Timing: `python -m {command}` ({args.size} size) took {total / 60:.1f} min "
               f"in all on {os.cpu_count()} cores ({time.strftime('%Y-%m-%d')}).")
  return "\n".join(lines)


def write_ledger(rows: str, path: str = REPRO, begin: str = BEGIN, end: str = END):
  """Replaces the text between the markers ``begin`` / ``end`` of ``path`` with ``rows``."""
  with open(path) as f:
    text = f.read()
  if begin not in text or end not in text:
    raise ValueError(f"{path} lacks the markers {begin} / {end}")
  head, rest = text.split(begin, 1)
  _, tail = rest.split(end, 1)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(head + begin + "\n" + rows + "\n" + end + tail)
  os.replace(tmp, path)


def main(argv=None) -> int:
  args = common.parse_args(__doc__, argv)
  results = run_all(args)
  failed = [f"{n} ({status_of(r['record'])})" for n, r in results.items()
            if not status_of(r["record"]).startswith("PASS")]
  if os.path.abspath(args.out) == os.path.abspath(common.DEFAULT_OUT) and args.size != "smoke":
    write_ledger(ledger_rows(results, args))
    print(f"updated {REPRO}")
  print(f"{len(results) - len(failed)}/{len(results)} experiments PASS (or PASS with proxies)"
        + (f"; not passing: {', '.join(failed)}" if failed else ""))
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
