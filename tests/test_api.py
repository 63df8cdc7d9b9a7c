"""The notebook API: load (exported, workdir, shipped name), solve / solve_many, halting, evaluate."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import discrete_ec as discrete_ec_config
from recur_latent import api
from recur_latent import export
from recur_latent.data import graphs as graphs_lib
from recur_latent.data import problems as problems_lib
from recur_latent.data import text as text_lib
from recur_latent.data import vocab as vocab_lib
from recur_latent.models import factory
from recur_latent.models import recurrence
from recur_latent.training import checkpoints
from recur_latent.training import train_step

# Five variables of depth <= 1: the oracle runs depth + 1 + slack = 3 iterations.
FIVE = "1 = x_1 ; 2 = x_2 ; 3 = x_3 ; 4 = x_4 ; x_1 + x_2 = x_5"


@pytest.fixture(scope="module")
def config():
  return discrete_ec_config.get_config("size=tiny")


@pytest.fixture(scope="module")
def bundle(config):
  return api.Bundle(factory.build_model(config, nnx.Rngs(0)), config)


class ScriptedModel(nnx.Module):
  """Stand-in whose iterations we control: the state is the tokens themselves.

  Each iteration writes a value into the first defining token still EMPTY: the
  true value of that variable when `values` ({name: value}) has it, else 0.
  With `oscillate`, it instead flips the first defining token between 1 and 2
  forever (never a fixed point). `fill=False` changes nothing.
  """

  def __init__(self, vocab, values=None, *, oscillate=False, fill=True):
    self.vocab = vocab
    table = [0] * vocab.num_names
    for name, value in (values or {}).items():
      table[problems_lib.name_index(name)] = value
    self.table = tuple(table)
    self.oscillate, self.fill = oscillate, fill

  def embed(self, tokens_BLF):
    return tokens_BLF.astype(jnp.float32)

  def body(self, x_BLD, *, dropout_key=None):
    del dropout_key
    tokens_BLF = x_BLD.astype(jnp.int32)
    rhs_BL = recurrence.rhs_mask(tokens_BLF)
    value_BL = tokens_BLF[..., vocab_lib.VALUE]
    if self.oscillate:
      first_BL = rhs_BL & (jnp.cumsum(rhs_BL, axis=-1) == 1)
      new_BL = jnp.where(first_BL, jnp.where(value_BL == 1, 2, 1), value_BL)
    elif self.fill:
      empty_BL = rhs_BL & (value_BL == self.vocab.value_empty)
      first_BL = empty_BL & (jnp.cumsum(empty_BL, axis=-1) == 1)
      true_BL = jnp.asarray(self.table, jnp.int32)[tokens_BLF[..., vocab_lib.VARIABLE]]
      new_BL = jnp.where(first_BL, true_BL, value_BL)
    else:
      new_BL = value_BL
    return tokens_BLF.at[..., vocab_lib.VALUE].set(new_BL).astype(jnp.float32)

  def readout(self, h_BLD):
    return tuple(10.0 * jax.nn.one_hot(h_BLD[..., f].astype(jnp.int32), n)
                 for f, n in enumerate(self.vocab.factor_sizes))


def _scripted(config, text=FIVE, **kwargs):
  vocab = factory.vocab_from_config(config)
  values, _ = problems_lib.solve(text_lib.parse(text))
  return api.Bundle(ScriptedModel(vocab, values, **kwargs), config)


def test_solve_returns_a_value_or_none_for_every_variable(bundle):
  text = "20 = x_7 ; 2 = x_42 ; x_7 + x_42 = x_23 ; x_23 * x_7 - x_42 = x_11"
  out = api.solve(bundle, text)
  assert list(out["values"]) == ["x_7", "x_42", "x_23", "x_11"]
  assert all(v is None or 0 <= v < 23 for v in out["values"].values())
  assert 1 <= out["iterations"] <= bundle.config.eval.max_iters
  assert isinstance(out["solved"], bool)
  # A Problem object gives the same answer as its text.
  assert api.solve(bundle, text_lib.parse(text)) == out


def test_malformed_text_raises_the_parser_error_naming_the_equation(bundle):
  with pytest.raises(text_lib.ProblemParseError, match=r"equation 1 \(column 16\): unknown operator '%'"):
    api.solve(bundle, "20 = x_7 ; x_7 % x_3 = x_4")
  with pytest.raises(text_lib.ProblemParseError, match="equation 0.*outside the vocabulary x_0..x_47"):
    api.solve(bundle, "1 = x_99")  # The tiny model knows 48 names.
  with pytest.raises(text_lib.ProblemParseError, match="line 2: equation 1.*x_9 is used before"):
    api.solve_many(bundle, ["1 = x_1", "1 = x_1 ; x_9 = x_2"])
  with pytest.raises(ValueError, match="mod 29"):
    api.solve(bundle, text_lib.parse("1 = x_1", modulus=29))


def test_scripted_model_solves_and_halts_at_the_fixed_point(config):
  out = api.solve(_scripted(config), FIVE)
  assert out["values"] == {"x_1": 1, "x_2": 2, "x_3": 3, "x_4": 4, "x_5": 3}
  assert out["solved"]
  # One iteration per variable, then one that changes nothing.
  assert out["iterations"] == 6


def test_halting_rules_on_hand_made_cases(config):
  scripted = _scripted(config)
  filled = api.solve(scripted, FIVE, halting="all_filled")
  assert filled["iterations"] == 5 and filled["solved"]
  oracle = api.solve(scripted, FIVE, halting="oracle")  # depth 1 + 1 + slack 1.
  assert oracle["iterations"] == 3
  assert oracle["values"] == {"x_1": 1, "x_2": 2, "x_3": 3, "x_4": None, "x_5": None}
  assert not oracle["solved"]
  # An unfinished state continues until the bound, never past it.
  bounded = api.solve(scripted, FIVE, max_iters=2)
  assert bounded["iterations"] == 2 and bounded["values"]["x_3"] is None
  oscillating = api.solve(_scripted(config, oscillate=True), FIVE, max_iters=7)
  assert oscillating["iterations"] == 7
  # A state that is already a fixed point halts after one iteration (and nothing was computed).
  idle = api.solve(_scripted(config, fill=False), FIVE)
  assert idle["iterations"] == 1 and set(idle["values"].values()) == {None}


def test_solve_many_keeps_order_and_halts_per_problem(config):
  texts = [FIVE, "7 = x_9", "5 = x_3 ; x_3 + x_3 = x_8 ; x_8 = x_1"]
  values = {}
  for text in texts:
    values.update(problems_lib.solve(text_lib.parse(text))[0])
  vocab = factory.vocab_from_config(config)
  # One value table for all three: the last problem's x_1 and x_3 overwrite FIVE's, so only FIVE is wrong.
  scripted = api.Bundle(ScriptedModel(vocab, values), config)
  outs = api.solve_many(scripted, texts, batch_size=2)
  assert [list(o["values"]) for o in outs] == [["x_1", "x_2", "x_3", "x_4", "x_5"], ["x_9"],
                                                ["x_3", "x_8", "x_1"]]
  assert [o["iterations"] for o in outs] == [6, 2, 4]
  assert outs[1]["solved"] and outs[2]["solved"] and not outs[0]["solved"]
  assert outs[2]["values"] == {"x_3": 5, "x_8": 10, "x_1": 10}


def test_load_exported_directory_workdir_and_shipped_name(bundle, config, tmp_path, monkeypatch):
  export.export_model(bundle.model, config, str(tmp_path / "assets" / "demo"), dtype="float32")
  monkeypatch.setattr(api, "assets_dir", lambda: str(tmp_path / "assets"))
  assert api.shipped_models() == ["demo"]
  text = "20 = x_7 ; 2 = x_42 ; x_7 + x_42 = x_23"
  expected = api.solve(bundle, text)
  by_name = api.load("demo")
  assert by_name.metadata["method"] == "discrete_ec" and by_name.source.endswith("demo")
  assert api.solve(by_name, text) == expected
  assert api.solve(str(tmp_path / "assets" / "demo"), text) == expected  # A path works as well.

  workdir = str(tmp_path / "run")
  _, _, state = train_step.init_state(bundle.model, config.train)
  checkpointer = checkpoints.Checkpointer(workdir)
  checkpointer.save(0, state)
  checkpointer.close()
  checkpoints.save_config(config, workdir)
  from_run = api.load(workdir)
  assert from_run.metadata == {} and api.solve(from_run, text) == expected

  with pytest.raises(FileNotFoundError, match="Shipped models .*: demo"):
    api.load("nope")
  with pytest.raises(FileNotFoundError, match="holds neither an exported model .* nor a training workdir"):
    api.load(str(tmp_path))


def test_evaluate_reports_percent_fully_solved_per_size(bundle):
  scores = api.evaluate(bundle, sizes=(8, 12), num_graphs=4, max_iters=4)
  assert sorted(scores) == [8, 12]
  assert all(0.0 <= s <= 100.0 for s in scores.values())
  with pytest.raises(ValueError, match="exceed the model's 48 variable names"):
    api.evaluate(bundle, sizes=(64,), num_graphs=1)


def test_the_shipped_model_solves_typed_problems_with_no_oracle():
  """The model in recur_latent/assets/default (trained on the H200) really solves."""
  assert "default" in api.shipped_models()
  shipped = api.load()
  assert shipped.metadata["method"] == "discrete_ec"
  texts = [
      "20 = x_7 ; 2 = x_42 ; x_7 + x_42 = x_23 ; x_23 = x_5 ; x_5 + x_7 + x_23 = x_100",
      # Depth 4, names far apart in the pool, a three-operand sum of earlier sums.
      "5 = x_0 ; 17 = x_127 ; 9 = x_64 ; x_0 + x_127 = x_3 ; x_3 + x_64 = x_90 ; "
      "x_90 = x_11 ; x_11 + x_3 + x_0 = x_50",
  ]
  outs = api.solve_many(shipped, texts)
  for text, out in zip(texts, outs):
    problem = text_lib.parse(text, num_names=shipped.config.data.num_names)
    values, _ = problems_lib.solve(problem)
    assert out["values"] == values, text
    assert out["solved"]


def test_the_shipped_interp_model_shows_the_papers_operand_groups():
  """recur_latent/assets/interp (configs/interp.py, trained on the H200): its
  probes are answered, and each operand slot has layer-1 heads that track it
  and layer-2 heads that read that operand's definition."""
  from recur_latent.interp import analysis, capture, heads, probes  # pylint: disable=g-import-not-at-top
  assert "interp" in api.shipped_models()
  shipped = api.load("interp")
  assert shipped.metadata["method"] == "discrete" and shipped.config.model.num_layers == 2
  model = capture.float32_copy(shipped.model, shipped.config)
  vocab = factory.vocab_from_config(shipped.config)
  bases = probes.solved_bases(graphs_lib.sample_graphs(
      0, 1, 32, max_depth=6, modulus=vocab.modulus, num_names=vocab.num_names))
  fn = capture.make_capture_fn(model, analysis.HEAD_KEYS)
  found = analysis.analyze_heads(fn, bases, vocab, num_settings=2)
  assert found["slot_probe_accuracy"] > 0.95
  for layer in (0, 1):
    groups = heads.groups_by_slot(found["groups_LH"][layer], probes.NUM_SLOTS)
    assert all(groups[slot] for slot in range(probes.NUM_SLOTS)), (layer, groups)
  layer2 = found["groups_LH"][1]
  grouped = np.flatnonzero(layer2 != heads.NO_GROUP)
  to_definition = found["attn_to_definitions_LHS"][1, grouped, layer2[grouped]]
  assert to_definition.mean() > 0.4
