"""Where a recurrent model is stuck: one-step accuracy by iteration and fan-in.

Teacher-forces iteration t (the input is the true state after t - 1) and
scores the values the model writes, split by what each node needs:
  k = 0  a leaf (copy the value token next to it),
  k = 1  a copy (retrieve one operand's value from where it is defined),
  k = 2, 3  a sum (retrieve two or three values, then add mod p),
plus the nodes already computed (must be kept) and those not yet computable
(must stay EMPTY). Copies right while sums fail points at the arithmetic;
copies failing points at the retrieval.
"""
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from recur_latent.data import tokenize as tokenize_lib
from recur_latent.data import vocab as vocab_lib
from recur_latent.models import recurrence


def one_step_accuracy(model, graphs, *, max_iteration=None):
  """{t: {'k0'..'k3': (accuracy, count), 'kept': ..., 'empty': ...}} for t = 0..max_iteration."""
  batch = {k: jnp.asarray(v) for k, v in tokenize_lib.tokenize_graphs(graphs).items()}
  inputs_BLF, targets_BLF = batch["inputs_BLF"], batch["targets_BLF"]
  node_depth_BL = batch["node_depth_BL"]
  names_BLS, _ = recurrence.operand_names(inputs_BLF, model.vocab.var_na)
  fan_in_BL = np.asarray((names_BLS != model.vocab.var_na).sum(-1))
  depth_BL = np.asarray(node_depth_BL)
  graphdef, params = nnx.split(model)

  @jax.jit
  def predict(params, state_BLF):
    logits = nnx.merge(graphdef, params)(state_BLF)
    return jnp.argmax(logits[vocab_lib.VALUE], -1)

  last = int(depth_BL.max()) if max_iteration is None else max_iteration
  report = {}
  for t in range(last + 1):
    t_B = jnp.full(inputs_BLF.shape[:1], t, jnp.int32)
    state_in, state_out = recurrence.teacher_forced_pair(inputs_BLF, targets_BLF,
                                                         node_depth_BL, t_B)
    right_BL = np.asarray(predict(params, state_in)) == np.asarray(state_out[..., vocab_lib.VALUE])
    groups = {f"k{k}": (depth_BL == t) & (fan_in_BL == k) for k in range(vocab_lib.MAX_OPERANDS + 1)}
    groups["kept"] = (depth_BL >= 0) & (depth_BL < t)
    groups["empty"] = depth_BL > t
    report[t] = {name: (float(right_BL[mask].mean()) if mask.any() else float("nan"),
                        int(mask.sum())) for name, mask in groups.items()}
  return report


def format_report(report):
  """A Markdown table of `one_step_accuracy`'s result."""
  columns = ["k0", "k1", "k2", "k3", "kept", "empty"]
  lines = ["| t | leaf (k=0) | copy (k=1) | k=2 | k=3 | kept | stays EMPTY |",
           "|---|---|---|---|---|---|---|"]
  for t, row in report.items():
    cells = [f"{row[c][0]:.2f} ({row[c][1]})" if row[c][1] else "" for c in columns]
    lines.append(f"| {t} | " + " | ".join(cells) + " |")
  return "\n".join(lines)
