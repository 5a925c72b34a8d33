"""experiments.common.run: png + json written, and the exit code is 1 when a claim fails."""

import json

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

from experiments import common  # noqa: E402


def _experiment(statistic: float):
  def compute(size, seed):
    return {"value": statistic, "size": size, "seed": seed}, {"threshold": 1.0}

  def verdicts(results, params):
    verdict = common.Verdict()
    verdict.check("below_one", results["value"], "<", params["threshold"], "value < 1",
                  "a toy threshold")
    return verdict

  def plot(results, params):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [results["value"]] * 2)
    return fig

  return compute, verdicts, plot, lambda results, params: f"value {results['value']}"


def test_run_writes_png_and_json_and_fails_on_a_failed_claim(tmp_path):
  for statistic, code in ((0.5, 0), (2.0, 1), (float("nan"), 1)):
    out = tmp_path / str(statistic)
    assert common.run("toy", "a toy experiment", ["--smoke", "--out", str(out)],
                      *_experiment(statistic)) == code
    record = json.loads((out / "toy.json").read_text())
    assert (out / "toy.png").stat().st_size > 0
    assert record["verdict"]["passed"] is (code == 0)
    assert record["size"] == "smoke" and record["data"]["seed"] == 0
    assert record["command"] == f"python -m experiments.toy --smoke --out {out}"


def test_finish_records_the_script_that_ran_not_the_output_name(tmp_path):
  """fig3 --model writes fig3_model.json, fig7 writes table4.json: their command must be one
  that exists (python -m experiments.fig3 / fig7), so the json says how to regenerate it."""
  compute, verdicts, plot, headline = _experiment(0.5)
  args = common.parse_args("a toy", ["--smoke", "--out", str(tmp_path), "--model"],
                           extra={"--model": {"action": "store_true"}})
  results, params = compute(args.size, args.seed)
  assert common.finish("toy_model", args, plot(results, params), results, params,
                       verdicts(results, params), 0.0, headline(results, params),
                       script="toy") == 0
  record = json.loads((tmp_path / "toy_model.json").read_text())
  assert record["experiment"] == "toy_model"
  assert record["command"] == f"python -m experiments.toy --smoke --out {tmp_path} --model"
