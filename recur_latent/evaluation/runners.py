"""Jitted batch runners: one model call (or rollout) per evaluation batch.

Each runner splits the NNX model once and calls a module-level `jax.jit`
function with the graph definition as a static argument, so a runner compiles
once per (batch shape, halting rule) and the compilation cache is shared by
every runner of the same architecture. Runners return device arrays (the call
is asynchronous); the caller pulls them to the host when it needs them, which
lets the next batch be dispatched first.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from recur_latent.data import cot as cot_lib
from recur_latent.data import problems as problems_lib
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.data import vocab as vocab_lib
from recur_latent.models import baselines
from recur_latent.models import recurrence

RECURRENT_METHODS = ("continuous", "discrete", "discrete_ec")  # Run with input-adaptive recurrence.
SINGLE_PASS_METHODS = ("feedforward", "e2e_recurrent")  # One call maps input to the final state.
DISCRETE_METHODS = ("discrete", "discrete_ec")  # States anchored in token space (correction measurable).


def anchoring(method: str) -> str:
  """How a recurrent method feeds one iteration's output to the next."""
  return "continuous" if method == "continuous" else "discrete"


@functools.partial(jax.jit, static_argnames=("graphdef", "halting", "anchoring_mode", "max_iters",
                                             "suffix_chunks"))
def _rollout(graphdef, state, inputs_BLF, targets_BLF, oracle_iters_B, *, halting, anchoring_mode,
             max_iters, suffix_chunks):
  model = nnx.merge(graphdef, state)
  out = recurrence.rollout_while(
      model, inputs_BLF, halting=halting, max_iters=max_iters,
      oracle_iters_B=oracle_iters_B if halting == "oracle" else None,
      anchoring=anchoring_mode, targets_BLF=targets_BLF, suffix_chunks=suffix_chunks)
  return {key: out[key] for key in ("tokens_BLF", "iters_B", "solved_BT")}


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _single_pass(graphdef, state, inputs_BLF):
  model = nnx.merge(graphdef, state)
  return recurrence.decode(model(inputs_BLF), inputs_BLF)


class FactoredRunner:
  """Runs a factored-token model (every method but chain-of-thought) on batches."""

  def __init__(self, model, method: str, *, num_heads: int = 1, suffix_chunks: int = 1):
    if method == "cot":
      raise ValueError("chain-of-thought models run through CotRunner")
    self.method = method
    self.num_heads = num_heads  # Sizes batches by their attention scores.
    # Discrete rollouts recompute only what changed (recurrence.rollout_while);
    # a continuous state changes everywhere, so it always runs whole.
    self.suffix_chunks = suffix_chunks if anchoring(method) == "discrete" else 1
    self.graphdef, self.state = nnx.split(model)

  @property
  def is_recurrent(self) -> bool:
    return self.method in RECURRENT_METHODS

  def rollout(self, inputs_BLF, targets_BLF, oracle_iters_B, *, halting: str, max_iters: int) -> dict:
    """Input-adaptive recurrence: dict of tokens_BLF, iters_B, solved_BT (device arrays)."""
    if not self.is_recurrent:
      raise ValueError(f"method {self.method!r} is not recurrent; use single_pass")
    oracle_iters_B = jnp.zeros(inputs_BLF.shape[0], jnp.int32) if oracle_iters_B is None else oracle_iters_B
    return _rollout(self.graphdef, self.state, jnp.asarray(inputs_BLF), jnp.asarray(targets_BLF),
                    jnp.asarray(oracle_iters_B, jnp.int32), halting=halting,
                    anchoring_mode=anchoring(self.method), max_iters=max_iters,
                    suffix_chunks=self.suffix_chunks)

  def single_pass(self, inputs_BLF) -> jax.Array:
    """One model call, decoded: the predicted final state tokens_BLF."""
    return _single_pass(self.graphdef, self.state, jnp.asarray(inputs_BLF))

  def one_step(self, state_BLF) -> jax.Array:
    """One discrete iteration from a given (e.g. corrupted) state: the next decoded state."""
    if self.method not in DISCRETE_METHODS:
      raise ValueError(f"one-step correction needs a discrete method, not {self.method!r}")
    return _single_pass(self.graphdef, self.state, jnp.asarray(state_BLF))


def corrupted_states(batch, rng: np.random.Generator, *, corrupt_prob: float, modulus: int):
  """Inputs of the one-step correction measurement.

  Each graph gets an iteration t uniform in 1..graph depth; its teacher-forced
  input state (depths < t filled) has each computed value replaced, with
  probability `corrupt_prob`, by a uniformly drawn *different* value, so every
  replaced entry is wrong. Returns (state_BLF, t_B).
  """
  graph_depth_B = np.asarray(batch["graph_depth_B"])
  t_B = rng.integers(1, np.maximum(graph_depth_B, 1) + 1)
  node_depth_BL = np.asarray(batch["node_depth_BL"])
  targets_BLF = np.asarray(batch["targets_BLF"])
  # The true state after t iterations is the target of iteration t - 1.
  state_BLF = tokenize_lib.state_after_iteration(batch["inputs_BLF"], targets_BLF,
                                                 node_depth_BL, t_B - 1)
  computed_BL = (node_depth_BL >= 0) & (node_depth_BL < t_B[:, None])
  chosen_BL = computed_BL & (rng.random(node_depth_BL.shape) < corrupt_prob)
  shift_BL = rng.integers(1, modulus, node_depth_BL.shape)  # Never 0: the value changes.
  wrong_BL = (targets_BLF[..., vocab_lib.VALUE] + shift_BL) % modulus
  state_BLF[..., vocab_lib.VALUE] = np.where(chosen_BL, wrong_BL, state_BLF[..., vocab_lib.VALUE])
  return state_BLF, t_B


class CotRunner:
  """Greedy chain-of-thought decoding and trace parsing."""

  def __init__(self, model, *, modulus: int, num_names: int, slack_tokens: int = 16, num_heads: int = 1):
    self.model = model
    self.num_heads = num_heads  # Sizes batches by their attention scores.
    self.flat = vocab_lib.FlatVocab(modulus, num_names)
    self.slack_tokens = slack_tokens  # Tokens allowed past the longest true trace.

  def decode_shape(self, batch) -> tuple[int, int]:
    """(prompt width, tokens to generate) covering every sequence of `batch`.

    Computed once over a whole size and passed to every `decode` of it, so all
    its batches share one compiled decoder.
    """
    prompt_length_B = np.asarray(batch["prompt_length_B"])
    trace_B = np.asarray(batch["length_B"]) - prompt_length_B
    return int(prompt_length_B.max()), int(trace_B.max()) + self.slack_tokens

  def decode(self, batch, shape: tuple[int, int] | None = None) -> dict:
    """Generates traces for a cot batch (cot.COT_KEYS): device dict of tokens_BT, length_B, finished_B."""
    prompt_width, max_new = shape or self.decode_shape(batch)
    prompt_length_B = np.asarray(batch["prompt_length_B"])
    prompt_BL = np.full((prompt_length_B.shape[0], prompt_width), self.flat.PAD, np.int32)
    width = min(prompt_width, batch["tokens_BL"].shape[1])
    prompt_BL[:, :width] = batch["tokens_BL"][:, :width]
    prompt_BL[np.arange(prompt_width)[None, :] >= prompt_length_B[:, None]] = self.flat.PAD
    return baselines.greedy_decode(self.model, prompt_BL, prompt_length_B, max_new_tokens=max_new,
                                   eos_id=self.flat.EOS, pad_id=self.flat.PAD)

  def node_correct(self, generated_BT: np.ndarray, names_BN: np.ndarray, values_BN: np.ndarray) -> np.ndarray:
    """[B, N] bool: the trace gave node n of graph b its true value."""
    correct_BN = np.zeros(names_BN.shape, bool)
    for b, tokens_T in enumerate(np.asarray(generated_BT)):
      parsed = cot_lib.parse_trace(np.concatenate([[self.flat.TRACE], tokens_T]), self.flat)
      for n, (name, value) in enumerate(zip(names_BN[b], values_BN[b])):
        correct_BN[b, n] = parsed.get(problems_lib.var_name(int(name))) == int(value)
    return correct_BN
