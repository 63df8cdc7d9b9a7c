"""OOD evaluation over fixed sets: rollouts, bucketing, correction, chain-of-thought parsing."""
import json

import numpy as np
import pytest
from flax import nnx

from configs import cot as cot_config
from configs import discrete as discrete_config
from configs import feedforward as feedforward_config
from recur_latent.data import cot as cot_lib
from recur_latent.data import eval_sets
from recur_latent.data import problems as problems_lib
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.data import vocab as vocab_lib
from recur_latent.evaluation import metrics
from recur_latent.evaluation import ood
from recur_latent.evaluation import runners
from recur_latent.models import factory


def _tiny(module, **eval_fields):
  config = module.get_config("size=tiny")
  for key, value in eval_fields.items():
    config.eval[key] = value
  return config


def _exact_state(inputs_BLF, vocab):
  """What a perfect model outputs: the solved state, computed from the input tokens alone."""
  out_BLF = np.array(inputs_BLF, copy=True)
  for b, tokens_LF in enumerate(out_BLF):
    values, _ = problems_lib.solve(tokenize_lib.detokenize(tokens_LF, vocab))
    syntax_L = tokens_LF[:, vocab_lib.SYNTAX]
    for i in np.flatnonzero((syntax_L[1:] == vocab_lib.VAR_TOKEN) & (syntax_L[:-1] == vocab_lib.EQUALS)) + 1:
      tokens_LF[i, vocab_lib.VALUE] = values[problems_lib.var_name(int(tokens_LF[i, vocab_lib.VARIABLE]))]
  return out_BLF


def test_perfect_single_pass_model_solves_everything_across_padded_batches(monkeypatch):
  config = _tiny(feedforward_config)
  vocab = factory.vocab_from_config(config)
  monkeypatch.setattr(runners.FactoredRunner, "single_pass", lambda self, x: _exact_state(x, vocab))
  model = factory.build_model(config, nnx.Rngs(0))
  # 20 graphs in batches of 8: the last batch repeats a graph to fill it.
  settings = ood.EvalSettings(sizes=(8, 12), num_graphs=20, batch_size=8)
  evaluation = ood.evaluate_model(model, config, settings, log=lambda _: None)
  assert list(evaluation["results"]) == [ood.SINGLE_PASS_LABEL]
  for n in ("8", "12"):
    summary = evaluation["results"][ood.SINGLE_PASS_LABEL][n]
    assert summary["num_graphs"] == 20
    assert summary["fully_solved"] == 1.0 and summary["node_accuracy"] == 1.0
  json.dumps(evaluation)


def test_recurrent_rollouts_bucket_lengths_and_count_iterations(monkeypatch):
  config = _tiny(discrete_config, max_iters=8)
  model = factory.build_model(config, nnx.Rngs(0))
  shapes = []
  real_rollout = runners.FactoredRunner.rollout

  def spy(self, inputs_BLF, *args, **kwargs):
    shapes.append((kwargs["halting"], inputs_BLF.shape))
    return real_rollout(self, inputs_BLF, *args, **kwargs)

  monkeypatch.setattr(runners.FactoredRunner, "rollout", spy)
  settings = ood.EvalSettings(sizes=(8, 24), num_graphs=6, halting=("oracle", "fixed_point"), oracle_slack=1,
                              max_iters=8, batch_size=8, correction_graphs=6)
  evaluation = ood.evaluate_model(model, config, settings, log=lambda _: None)
  lengths = sorted({shape[1] for _, shape in shapes})
  assert len(lengths) == 2 and lengths[0] < lengths[1]  # Each size has its own padded length.
  oracle = evaluation["results"]["oracle"]["8"]
  # Oracle halting runs exactly depth + 1 + slack iterations.
  assert oracle["iterations"]["mean_minus_needed"] == pytest.approx(1.0)
  fixed = evaluation["results"]["fixed_point"]["24"]
  assert 1 <= fixed["iterations"]["min"] <= fixed["iterations"]["max"] <= 8
  assert len(fixed["solved_after_iters"]) == fixed["iterations"]["max"]
  for summary in (oracle, fixed):
    assert 0.0 <= summary["fully_solved"] <= summary["node_accuracy"] <= 1.0
  correction = evaluation["correction"]["8"]
  assert correction["num_wrong"] > 0 and 0 <= correction["num_corrected"] <= correction["num_wrong"]
  json.dumps(evaluation)


def test_graphs_per_batch_shrinks_with_length():
  settings = ood.EvalSettings(batch_size=512, attention_budget=2 ** 31)
  assert settings.graphs_per_batch(64, num_heads=16) == 512
  assert settings.graphs_per_batch(2048, num_heads=16) == 32
  assert settings.graphs_per_batch(2048, num_heads=4) == 128
  assert settings.graphs_per_batch(10 ** 6, num_heads=16) == 1
  assert settings.graphs_per_batch(64, num_heads=16, num_graphs=32) == 32  # Never more than the set.
  assert settings.graphs_per_batch(2048, num_heads=16, num_graphs=1000) == 32


class _RecordingRunner:
  """Returns each rollout's inputs as its answer and records how many rows it was given."""
  num_heads = 1

  def __init__(self):
    self.rows = []

  def rollout(self, inputs_BLF, targets_BLF, oracle_iters_B, *, halting, max_iters):
    self.rows.append(inputs_BLF.shape[0])
    num = inputs_BLF.shape[0]
    return {"tokens_BLF": targets_BLF, "iters_B": np.ones(num, np.int32),
            "solved_BT": np.ones((num, max_iters), bool)}


def test_a_set_smaller_than_the_batch_is_not_padded_up_to_it():
  batch = tokenize_lib.tokenize_graphs(eval_sets.eval_set(12, num_graphs=20, num_names=48))
  runner = _RecordingRunner()
  records = ood._evaluate_factored(runner, batch, ood.EvalSettings(batch_size=128), "oracle")
  assert runner.rows == [20]
  assert metrics.summarize(records)["fully_solved"] == 1.0  # The targets, returned, solve every graph.
  runner = _RecordingRunner()
  ood._evaluate_factored(runner, batch, ood.EvalSettings(batch_size=8), "oracle")
  assert runner.rows == [8, 8, 8]  # Larger sets keep full batches (one compile).


def test_corrupted_states_only_change_computed_values_and_make_them_wrong():
  graphs = eval_sets.eval_set(24, num_graphs=64, num_names=48)
  batch = tokenize_lib.tokenize_graphs(graphs)
  state_BLF, t_B = runners.corrupted_states(batch, np.random.default_rng(0), corrupt_prob=0.5, modulus=23)
  assert np.all((t_B >= 1) & (t_B <= batch["graph_depth_B"]))
  depth_BL = batch["node_depth_BL"]
  values_BL = state_BLF[..., vocab_lib.VALUE]
  true_BL = batch["targets_BLF"][..., vocab_lib.VALUE]
  computed_BL = (depth_BL >= 0) & (depth_BL < t_B[:, None])
  changed_BL = computed_BL & (values_BL != true_BL)
  assert 0.35 < changed_BL.sum() / computed_BL.sum() < 0.65
  assert np.all(values_BL[(depth_BL >= 0) & ~computed_BL] == 23 + 1)  # Not computed yet: EMPTY.
  assert np.all(values_BL[changed_BL] < 23)
  np.testing.assert_array_equal(np.delete(state_BLF, vocab_lib.VALUE, axis=-1),
                                np.delete(batch["inputs_BLF"], vocab_lib.VALUE, axis=-1))


def test_cot_trace_parsing_scores_true_and_broken_traces():
  graphs = eval_sets.eval_set(10, num_graphs=3, num_names=48)
  batch = cot_lib.cot_batch(graphs)
  runner = runners.CotRunner(model=None, modulus=23, num_names=48)
  generated = [batch["tokens_BL"][b, batch["prompt_length_B"][b]:batch["length_B"][b]] for b in range(3)]
  width = max(len(g) for g in generated)
  generated_BT = np.stack([np.pad(g, (0, width - len(g))) for g in generated])
  assert runner.node_correct(generated_BT, graphs.names_GN, graphs.values_GN).all()
  flat = vocab_lib.FlatVocab(23, 48)
  value_positions = np.flatnonzero((generated_BT[1] >= flat.VALUE_BASE) & (generated_BT[1] < flat.name_base))
  broken = generated_BT.copy()
  last = value_positions[-1]  # The value of the last equation's trace step.
  broken[1, last] = flat.VALUE_BASE + (broken[1, last] - flat.VALUE_BASE + 1) % 23
  correct_BN = runner.node_correct(broken, graphs.names_GN, graphs.values_GN)
  assert correct_BN[0].all() and correct_BN[2].all()
  assert correct_BN[1].sum() == graphs.num_nodes - 1


def test_validation_fn_scores_each_validation_size():
  config = _tiny(discrete_config)
  config.train.val_sizes, config.train.val_num_graphs = (9,), 4
  model = factory.build_model(config, nnx.Rngs(0))
  scores = ood.validation_fn(config, log=lambda _: None)(model, config)
  assert list(scores) == [9] and 0.0 <= scores[9] <= 1.0
  test = ood.test_graphs(config, 9, 4)
  val = ood.validation_graphs(config, 9, 4)
  assert not np.array_equal(test.values_GN, val.values_GN)  # Different graphs from the test set.


def test_validation_halting_defaults_to_the_first_eval_rule_and_can_be_set():
  config = _tiny(discrete_config)
  config.train.val_sizes, config.train.val_num_graphs = (9,), 4
  config.eval.halting = ("fixed_point", "oracle")
  model = factory.build_model(config, nnx.Rngs(0))
  for val_halting, expected in (("", "fixed_point"), ("oracle", "oracle")):
    config.train.val_halting = val_halting
    lines = []
    ood.validation_fn(config, log=lines.append)(model, config)
    assert lines == [lines[0]] and f", {expected}):" in lines[0]


def test_progress_eta_is_fitted_to_finished_sizes():
  lines = []
  progress = ood._Progress((8, 16, 32), num_graphs=4, log=lines.append, heartbeat_s=0.0)
  progress.size_done(8, 10.0, 1, "")
  progress.size_done(16, 12.0, 1, "")
  # Fit: 10 = a + b*4*64, 12 = a + b*4*256 -> N=32 takes a + b*4*1024 = 20 seconds.
  assert lines[-1].endswith("ETA 20s") and "[2/3 sizes]" in lines[-1]
  progress.beat(32, "oracle", 2, 4)
  assert lines[-1].startswith("N=32 oracle: 2/4 graphs")


def test_cot_model_is_evaluated_by_greedy_decoding():
  config = _tiny(cot_config)
  model = factory.build_model(config, nnx.Rngs(0))
  settings = ood.EvalSettings(sizes=(8,), num_graphs=5, batch_size=2, cot_slack_tokens=4)
  evaluation = ood.evaluate_model(model, config, settings, log=lambda _: None)
  assert list(evaluation["results"]) == [ood.COT_LABEL]
  assert evaluation["results"][ood.COT_LABEL]["8"]["num_graphs"] == 5
  generation = evaluation["cot_generation"]["8"]
  batch = cot_lib.cot_batch(ood.test_graphs(config, 8, 5))
  longest_trace = int((batch["length_B"] - batch["prompt_length_B"]).max())
  assert 0 < generation["mean_generated_tokens"] <= longest_trace + 4  # Bounded by the slack.
  assert 0.0 <= generation["finished"] <= 1.0
  json.dumps(evaluation)
