"""The evaluate / solve / sweep scripts on tiny random models saved through the checkpoint API."""
import json
import os
import subprocess
import sys

import pytest
from flax import nnx

from configs import discrete as discrete_config
from experiments import sweep
from recur_latent.evaluation import artifacts
from recur_latent.models import factory
from recur_latent.training import checkpoints
from recur_latent.training import config_checks
from recur_latent.training import train_step

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def save_random_model(config, workdir):
  """A workdir that `checkpoints.load_model` reads: config.json + an untrained step-0 checkpoint."""
  model = factory.build_model(config, nnx.Rngs(config.seed))
  _, _, state = train_step.init_state(model, config.train)
  checkpointer = checkpoints.Checkpointer(workdir)
  checkpointer.save(0, state)
  checkpointer.close()
  checkpoints.save_config(config, workdir)
  return {"final_step": 0}


def _run(module, *flags):
  return subprocess.run([sys.executable, "-m", module, *flags], cwd=REPO, capture_output=True, text=True,
                        timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("run"))
  config = discrete_config.get_config("size=tiny")
  save_random_model(config, workdir)
  return workdir


def test_solve_reports_malformed_lines_and_solves_the_rest(run_dir, tmp_path):
  problems = tmp_path / "problems.jsonl"
  lines = [
      {"problem": "20 = x_7 ; 2 = x_42 ; x_7 + x_42 = x_23", "values": {"x_7": 20, "x_42": 2, "x_23": 22}},
      {"problem": "20 = x_7 ; x_7 % x_3 = x_4"},
      None,  # Not JSON at all.
      {"problem": "3 = x_1 ; x_1 * x_1 - x_1 = x_2 ; x_2 = x_5"},
  ]
  problems.write_text("\n".join("{oops" if r is None else json.dumps(r) for r in lines) + "\n")
  output = tmp_path / "solved.jsonl"
  result = _run("experiments.solve", f"--checkpoint={run_dir}", f"--input={problems}", f"--output={output}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "line 2: equation 1 (column 16): unknown operator '%'" in result.stderr
  assert "line 3: not valid JSON" in result.stderr
  assert "fully solved: 0/1" in result.stdout or "fully solved: 1/1" in result.stdout
  records = [json.loads(line) for line in output.read_text().splitlines()]
  assert [r["line"] for r in records] == [1, 2, 3, 4]
  assert "error" in records[1] and "equation 1" in records[1]["error"] and "'%'" in records[1]["error"]
  assert "error" in records[2]
  for record in (records[0], records[3]):
    assert "error" not in record and record["iterations"] >= 1
  assert set(records[0]["values"]) == {"x_7", "x_42", "x_23"} and "solved" in records[0]
  assert set(records[3]["values"]) == {"x_1", "x_2", "x_5"} and "solved" not in records[3]


def test_evaluate_writes_json_markdown_and_plots(run_dir, tmp_path):
  output = tmp_path / "eval"
  result = _run("experiments.evaluate", f"--workdir={run_dir}", f"--output={output}", "--sizes=8",
                "--num_graphs=4", "--halting=oracle,fixed_point", "--correction_prob=0")
  assert result.returncode == 0, result.stderr[-3000:]
  evaluation = artifacts.read_evaluation(str(output))
  assert set(evaluation["results"]) == {"oracle", "fixed_point"}
  assert evaluation["results"]["oracle"]["8"]["num_graphs"] == 4
  assert artifacts.halting_results(str(output / "eval.json"), "oracle")["8"]["num_graphs"] == 4
  with pytest.raises(KeyError, match="all_filled"):
    artifacts.halting_results(str(output), "all_filled")
  assert "## Fraction fully solved" in (output / "eval.md").read_text()
  assert (output / "accuracy_vs_size.png").exists() and (output / "iterations_fixed_point.png").exists()


def test_evaluate_can_run_the_parameters_through_another_attention_path(run_dir, tmp_path):
  outputs = {}
  for scores in ("dense", "flash"):
    outputs[scores] = tmp_path / scores
    result = _run("experiments.evaluate", f"--workdir={run_dir}", f"--output={outputs[scores]}",
                  "--sizes=8", "--num_graphs=4", "--halting=oracle", "--correction_prob=0",
                  f"--relative_scores={scores}", "--nopaper")
    assert result.returncode == 0, result.stderr[-3000:]
  dense, flash = (artifacts.read_evaluation(str(outputs[s])) for s in ("dense", "flash"))
  assert (dense["relative_scores"], flash["relative_scores"]) == ("dense", "flash")
  # The same function: the untrained model's per-node accuracy agrees (up to rare argmax ties).
  accuracy = lambda e: e["results"]["oracle"]["8"]["node_accuracy"]
  assert abs(accuracy(dense) - accuracy(flash)) <= 0.02


def test_sweep_trains_evaluates_combines_and_skips_finished_runs(tmp_path):
  calls = []

  def fake_train(config, workdir):
    calls.append(config.method)
    assert config.train.num_steps == 2  # The sweep's overrides reached the config.
    return save_random_model(config, workdir)

  root = str(tmp_path / "sweep")
  evaluations = sweep.run_sweep("configs/sweeps/tiny.py", root, train_fn=fake_train, log=lambda _: None)
  assert calls == ["discrete", "feedforward"]
  assert set(evaluations) == {"discrete", "feedforward"}
  table = (tmp_path / "sweep" / "sweep.md").read_text()
  assert "| discrete |" in table and "| feedforward |" in table and "paper: " in table
  assert (tmp_path / "sweep" / "accuracy_vs_size.png").exists()
  assert os.path.exists(os.path.join(root, "discrete", "eval.json"))

  def no_train(config, workdir):
    raise AssertionError(f"{config.method} was finished and must be skipped")

  again = sweep.run_sweep("configs/sweeps/tiny.py", root, train_fn=no_train, log=lambda _: None)
  assert again["discrete"]["results"] == evaluations["discrete"]["results"]


def test_sweep_split_over_processes_combines_every_finished_run(tmp_path):
  root = str(tmp_path / "sweep")
  train = lambda config, workdir: save_random_model(config, workdir)
  sweep.run_sweep("configs/sweeps/tiny.py", root, only=["discrete"], train_fn=train, log=lambda _: None)
  sweep.run_sweep("configs/sweeps/tiny.py", root, only=["feedforward"], train_fn=train,
                  log=lambda _: None)
  table = (tmp_path / "sweep" / "sweep.md").read_text()
  assert "| discrete |" in table and "| feedforward |" in table


def test_sweep_overrides_reject_unknown_fields():
  with pytest.raises(KeyError, match="no field 'num_stepz'"):
    sweep.load_config("configs/discrete.py:size=tiny", {"train.num_stepz": 3})


def test_compare_tabulates_and_plots_finished_evaluations(tmp_path):
  for name, solved in (("a", 0.5), ("b", 1.0)):
    os.makedirs(tmp_path / name)
    evaluation = {"method": "discrete", "results": {"fixed_point": {
        "8": {"fully_solved": solved, "node_accuracy": 1.0},
        "16": {"fully_solved": solved / 2, "node_accuracy": 0.9}}}}
    (tmp_path / name / "eval.json").write_text(json.dumps(evaluation))
  output = tmp_path / "compared"
  result = _run("experiments.compare", f"--evals=first={tmp_path / 'a'},second={tmp_path / 'b'}",
                f"--output={output}")
  assert result.returncode == 0, result.stderr[-3000:]
  table = (output / "sweep.md").read_text()
  assert "| first | 0.500 | 0.250 |" in table and "| second | 1.000 | 0.500 |" in table
  assert "paper: Discrete latent supervision" in table
  assert (output / "accuracy_vs_size.png").exists()
  bad = _run("experiments.compare", "--evals=nopath", f"--output={output}")
  assert bad.returncode != 0 and "name=path" in bad.stderr


@pytest.mark.parametrize("sweep_file", sorted(
    f for f in os.listdir(os.path.join(REPO, "configs", "sweeps")) if f.endswith(".py")
    and not f.startswith("_")))
def test_every_sweep_file_builds_valid_configs(sweep_file):
  # A misspelt override key or a bad value fails here, not an hour into a GPU lease.
  runs = sweep.load_sweep(os.path.join(REPO, "configs", "sweeps", sweep_file))
  assert runs
  for name, config_path, overrides in runs:
    config = sweep.load_config(config_path, overrides)
    config_checks.check_config(config, num_devices=1)


def test_a_checkpoint_of_tied_layers_restores_them_tied(tmp_path):
  config = discrete_config.get_config("size=tiny")
  config.model.num_layers = 3
  config.model.tied_layers = (1, 2)
  save_random_model(config, str(tmp_path))
  model, loaded_config = checkpoints.load_model(str(tmp_path), which="latest")
  assert tuple(loaded_config.model.tied_layers) == (1, 2)
  layers = model.transformer.layers
  assert layers[1] is layers[2] and layers[0] is not layers[1]
