"""Forecasting cost against the number of series and the context length: ours vs
chronos-forecasting, Chronos-Bolt, time and peak RSS (the scale plot).

Command: ``python -m benchmarks.scale [--quick] [--size small] [--out FILE] [--plot FILE.png]``
Runtime on 2 cores: roughly 40 minutes for the full sweep at bolt-small (the 16 384-series
points dominate: ~3 min per implementation); ``--quick`` (thin model, 8 ... 256 series,
contexts 64 ... 256) about 2 minutes, and writes nothing unless ``--out`` / ``--plot`` is
given. Run it alone on the machine: other processes distort the times and the RSS of the
shared page cache.

Two sweeps, each point in its own subprocess (so its peak RSS is its own), random weights from
a checkpoint created locally (:func:`lowrank_ts.interop.hf_reference.bolt_checkpoint`):

- series: 8, 64, 512, 4 096, 16 384 series at context 512, horizon 64;
- context: 64 ... 2 048 at 512 series, horizon 64.

Ours: :func:`lowrank_ts.inference.forecasting.forecast` with ``batch_size`` (default 256: one
compiled program, memory bounded by a batch). The reference: ``ChronosBoltPipeline.predict``
on the same batches (what its ``predict_df`` does, with its default batch of 256; torch with
2 threads). Chronos-T5 is left out: 20 sample paths for 16 384 series take hours on 2 cores
for either implementation. Per point: wall time of the whole forecast (one warm-up call first,
on one batch, so compilation is not counted), series per second, peak RSS while forecasting
(the high-water mark restarted once the model is loaded) and the loaded idle RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from benchmarks import common, inference, memory

SERIES = (8, 64, 512, 4096, 16384)
CONTEXTS = (64, 128, 256, 512, 1024, 2048)
QUICK_SERIES, QUICK_CONTEXTS = (8, 64, 256), (64, 128, 256)
FIXED_CONTEXT, FIXED_SERIES, HORIZON, BATCH = 512, 512, 64, 256


def _worker(spec: dict) -> dict:
  """One point, in this process (a fresh one: RSS is per process)."""
  context = inference._series(spec["series"], spec["context"])
  if spec["impl"] == "reference":
    import torch
    from chronos import BaseChronosPipeline
    torch.set_num_threads(2)
    pipeline = BaseChronosPipeline.from_pretrained(spec["folder"], device_map="cpu",
                                                   dtype=torch.float32)
    tensor = torch.tensor(context)

    def call(rows=None):
      rows = tensor if rows is None else tensor[:rows]
      with torch.inference_mode():
        for start in range(0, rows.shape[0], spec["batch"]):
          pipeline.predict(rows[start:start + spec["batch"]], prediction_length=spec["horizon"])
  else:
    from lowrank_ts.inference import forecasting
    from lowrank_ts.interop import hf
    model = hf.load(spec["folder"])

    def call(rows=None):
      forecasting.forecast(model, context if rows is None else context[:rows], spec["horizon"],
                           batch_size=spec["batch"])
  call(min(spec["batch"], spec["series"]))  # warm-up: compiles ours, one batch
  settled = memory.settle()
  idle = memory.rss_bytes()
  start = time.perf_counter()
  call()
  seconds = time.perf_counter() - start
  return {"seconds": seconds, "series_per_s": spec["series"] / seconds,
          "peak_rss_bytes": memory.peak_rss_bytes(), "idle_rss_bytes": idle, **settled}


def _spawn(spec: dict) -> dict:
  env = {**os.environ, "PYTHONPATH": str(inference.ROOT)}
  proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--worker", json.dumps(spec)],
                        cwd=inference.ROOT, env=env, capture_output=True, text=True, check=False)
  lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
  if proc.returncode != 0 or not lines:
    raise RuntimeError(f"scale worker {spec} failed (exit {proc.returncode}):\n"
                       f"{proc.stderr[-4000:]}")
  return json.loads(lines[-1].removeprefix("RESULT "))


def run(size: str, series=SERIES, contexts=CONTEXTS, fixed_series=FIXED_SERIES,
        batch: int = BATCH, log=print, save=None) -> dict:
  """Both sweeps for both implementations; the results record (``save(record)`` is called
  after every point, so an interrupted sweep keeps what it measured)."""
  from lowrank_ts.interop.hf_reference import bolt_checkpoint
  d_model, d_ff, layers, heads, d_kv = inference.SIZES[size]
  record = {"machine": common.machine(), "matmul": common.matmul_gflops(),
            "settings": dict(size=size, horizon=HORIZON, batch=batch,
                             fixed_context=FIXED_CONTEXT, fixed_series=fixed_series),
            "rows": []}
  # The largest batch last: an interrupted sweep (results are saved point by point) keeps the
  # whole context sweep.
  plan = [("series", n, FIXED_CONTEXT) for n in series[:-1]]
  plan += [("context", fixed_series, c) for c in contexts]
  plan += [("series", series[-1], FIXED_CONTEXT)]
  with tempfile.TemporaryDirectory() as tmp:
    bolt_checkpoint(pathlib.Path(tmp), context_length=max(max(contexts), 2048),
                    prediction_length=HORIZON, d_model=d_model, d_ff=d_ff, num_layers=layers,
                    num_heads=heads, d_kv=d_kv, initializer_factor=0.05)
    for sweep, n, context in plan:
      for impl in ("reference", "ours"):
        spec = dict(impl=impl, folder=tmp, series=n, context=context, horizon=HORIZON,
                    batch=batch)
        row = {"sweep": sweep, "impl": impl, "series": n, "context": context,
               **_spawn(spec)}
        record["rows"].append(row)
        log(f"  {sweep} {impl} {n} series x {context}: {row['seconds']:.2f} s, "
            f"{row['peak_rss_bytes'] / 2**20:.0f} MB peak RSS", flush=True)
        if save is not None:
          save(record)
  _ratios(record)
  return record


def _ratios(record: dict) -> None:
  """Per point: the reference's time / ours and our peak RSS / the reference's."""
  by_point = {}
  for r in record["rows"]:
    by_point.setdefault((r["sweep"], r["series"], r["context"]), {})[r["impl"]] = r
  record["ratios"] = [
      {"sweep": k[0], "series": k[1], "context": k[2],
       "speedup_vs_reference": v["reference"]["seconds"] / v["ours"]["seconds"],
       "peak_rss_vs_reference": v["ours"]["peak_rss_bytes"] / v["reference"]["peak_rss_bytes"]}
      for k, v in by_point.items() if {"reference", "ours"} <= set(v)]


def demo(size: str, num_series: int, batch: int = BATCH, context: int = FIXED_CONTEXT,
         every: int = 10_000, log=print) -> dict:
  """``num_series`` Chronos-Bolt series forecast batch by batch
  (:func:`forecasting.forecast_batches`, fixed shapes, one compiled program), in this process:
  wall time and RSS (current and high-water mark since the model was loaded) every ``every``
  series. The series are generated before the forecast starts (``[num_series, context]``
  float32, counted in the RSS from the start); each batch's forecast is reduced to its mean
  and dropped, as a caller writing results to disk would."""
  import numpy as np

  from lowrank_ts.inference import forecasting
  from lowrank_ts.interop import hf
  from lowrank_ts.interop.hf_reference import bolt_checkpoint
  d_model, d_ff, layers, heads, d_kv = inference.SIZES[size]
  record = {"machine": common.machine(), "matmul": common.matmul_gflops(),
            "settings": {"size": size, "num_series": num_series, "batch": batch,
                         "context": context, "horizon": HORIZON}, "points": []}
  with tempfile.TemporaryDirectory() as tmp:
    bolt_checkpoint(pathlib.Path(tmp), context_length=max(context, 2048),
                    prediction_length=HORIZON, d_model=d_model, d_ff=d_ff, num_layers=layers,
                    num_heads=heads, d_kv=d_kv, initializer_factor=0.05)
    model = hf.load(tmp)
  rng = np.random.default_rng(0)
  series = np.empty((num_series, context), np.float32)
  for start in range(0, num_series, 4096):  # random walks plus a season, in slices
    rows = min(4096, num_series - start)
    walk = rng.normal(size=(rows, context)).cumsum(-1)
    series[start:start + rows] = 50 + walk + 10 * np.sin(2 * np.pi * np.arange(context) / 24)
  record["input_bytes"] = series.nbytes
  settled = memory.settle()
  record["loaded_rss_bytes"] = memory.rss_bytes()
  record.update(settled)
  start, done, checksum, next_mark = time.perf_counter(), 0, 0.0, every
  for _, out in forecasting.forecast_batches(model, series, HORIZON, batch_size=batch):
    done += out["mean"].shape[0]
    checksum += float(np.sum(out["mean"], dtype=np.float64))
    if done >= next_mark or done == num_series:
      point = {"series_done": done, "seconds": time.perf_counter() - start,
               "rss_bytes": memory.rss_bytes(), "peak_rss_bytes": memory.peak_rss_bytes()}
      record["points"].append(point)
      log(f"  {done} series: {point['seconds']:.0f} s, RSS {point['rss_bytes'] / 2**20:.0f} "
          f"MB, peak {point['peak_rss_bytes'] / 2**20:.0f} MB", flush=True)
      next_mark += every
  record["checksum_of_means"] = checksum
  peaks = [p["peak_rss_bytes"] for p in record["points"]]
  first = next(p for p in record["points"] if p["series_done"] >= every)
  record["peak_rss_growth_after_first_mark_bytes"] = peaks[-1] - first["peak_rss_bytes"]
  record["series_per_s"] = num_series / record["points"][-1]["seconds"]
  return record


def plot(record: dict, path) -> None:
  """Time and peak RSS against the number of series and against the context length."""
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  fig, axes = plt.subplots(2, 2, figsize=(10, 7))
  for col, (sweep, x_key, label) in enumerate((("series", "series", "number of series"),
                                               ("context", "context", "context length"))):
    for impl, style in (("reference", "o--"), ("ours", "s-")):
      rows = sorted((r for r in record["rows"] if r["sweep"] == sweep and r["impl"] == impl),
                    key=lambda r: r[x_key])
      xs = [r[x_key] for r in rows]
      name = "chronos-forecasting" if impl == "reference" else "ours"
      axes[0, col].plot(xs, [r["seconds"] for r in rows], style, label=name)
      axes[1, col].plot(xs, [r["peak_rss_bytes"] / 2**20 for r in rows], style, label=name)
    for row, ylabel in ((0, "wall time, s"), (1, "peak RSS, MB")):
      ax = axes[row, col]
      ax.set_xscale("log", base=2)
      if row == 0:
        ax.set_yscale("log")
      ax.set_xlabel(label)
      ax.set_ylabel(ylabel)
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)
  s = record["settings"]
  fig.suptitle(f"chronos-bolt-{s['size']} (random weights), horizon {s['horizon']}, batch "
               f"{s['batch']}; matmul {record['matmul']['gflops_best']:.0f} GFLOP/s")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="thin model, small sweeps")
  parser.add_argument("--size", default="small", choices=sorted(inference.SIZES))
  parser.add_argument("--out", default=None, help="results file (default: results/scale.json; "
                      "--quick writes nothing unless given)")
  parser.add_argument("--plot", default=None, help="PNG of the sweeps (default beside --out)")
  parser.add_argument("--demo", type=int, default=None, metavar="N",
                      help="instead of the sweeps: N series through the batched forecast in "
                      "this process, RSS recorded every --every series (results/scale_demo.json)")
  parser.add_argument("--every", type=int, default=10_000)
  parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.worker is not None:
    print("RESULT " + json.dumps(_worker(json.loads(args.worker))))
    return 0
  if args.demo is not None:
    if args.demo < 1 or args.every < 1:
      parser.error(f"--demo and --every must be >= 1, got {args.demo} and {args.every}")
    record = demo(args.size, args.demo, every=args.every)
    if args.out:
      pathlib.Path(args.out).write_text(json.dumps(record, indent=1))
    print("wrote", args.out or common.write("scale_demo", record))
    return 0

  def save(record):
    if args.out:
      pathlib.Path(args.out).write_text(json.dumps(record, indent=1))
    elif not args.quick:
      common.write("scale", record)
  if args.quick:
    record = run("cpu", QUICK_SERIES, QUICK_CONTEXTS, fixed_series=64, batch=32, save=save)
  else:
    record = run(args.size, save=save)
  record["quick"] = args.quick
  save(record)
  out = args.out or (None if args.quick else str(pathlib.Path(common.RESULTS) / "scale.json"))
  if args.out:
    pathlib.Path(args.out).write_text(json.dumps(record, indent=1))
  if out:
    print("wrote", out)
  png = args.plot or (str(pathlib.Path(out).with_suffix(".png")) if out else None)
  if png:
    plot(record, png)
    print("wrote", png)
  return 0


if __name__ == "__main__":
  sys.exit(main())
