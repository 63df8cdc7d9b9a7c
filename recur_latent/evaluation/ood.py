"""Out-of-distribution evaluation: a model over the fixed evaluation sets, per N.

Every method runs on the same graphs (recur_latent.data.eval_sets):
- recurrent methods (continuous, discrete, discrete_ec) through
  `recurrence.rollout_while` once per halting rule: 'oracle' (graph depth + 1 +
  slack iterations), 'fixed_point', 'all_filled';
- feedforward and end-to-end recurrent models with one call;
- chain-of-thought models by greedy decoding and parsing the trace.
Discrete models also get the one-step correction measurement: teacher-forced
states with some computed values made wrong, one iteration, the fraction fixed.

Each size is tokenized to its own padded length (N = 8 is not padded to N =
512's) and split into batches whose size shrinks with the length, so the
attention scores of a batch (graphs x heads x L^2) stay within a budget. The result is a
JSON-serializable dict; `tables.report` and `plots.write_all` render it.
"""
import dataclasses
import functools
import time
from typing import Callable, Sequence

import numpy as np
from absl import logging

from recur_latent.data import cot as cot_lib
from recur_latent.data import eval_sets
from recur_latent.data import graphs as graphs_lib
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.data import vocab as vocab_lib
from recur_latent.evaluation import metrics
from recur_latent.evaluation import runners

VALIDATION_SEED = 31_415  # Validation graphs (model selection) never overlap the test sets.
_CORRECTION_SEED = 27_182
SINGLE_PASS_LABEL = "single_pass"  # Result label of feedforward / end-to-end recurrent models.
COT_LABEL = "greedy"  # Result label of chain-of-thought models.


@dataclasses.dataclass(frozen=True)
class EvalSettings:
  """What to evaluate and how (defaults come from a config's `eval` block)."""

  sizes: tuple[int, ...] = (8, 16, 32, 64, 128)  # Graph sizes N.
  num_graphs: int = 2048  # Graphs per size (a prefix of the fixed set).
  halting: tuple[str, ...] = ("oracle", "fixed_point")  # Halting rules of recurrent methods.
  oracle_slack: int = 1  # Oracle halting runs graph depth + 1 + slack iterations.
  max_iters: int = 64  # Bound on iterations of every halting rule.
  batch_size: int = 512  # Most graphs per batch.
  suffix_chunks: int = 1  # Discrete rollouts recompute from the chunk that changed (1: whole).
  attention_budget: int = 2 ** 31  # Most attention scores (graphs x heads x L^2) per batch.
  correction_prob: float = 0.5  # Fraction of computed values corrupted (0: skip the measurement).
  correction_graphs: int = 512  # Graphs per size in the correction measurement.
  cot_slack_tokens: int = 16  # Chain-of-thought: tokens allowed past the longest true trace.

  @classmethod
  def from_config(cls, config, **overrides) -> "EvalSettings":
    e = config.eval
    fields = dict(sizes=tuple(e.sizes), num_graphs=e.num_graphs, halting=tuple(e.halting),
                  oracle_slack=e.oracle_slack, max_iters=e.max_iters, batch_size=e.batch_size,
                  suffix_chunks=e.get("suffix_chunks", 1))
    fields.update({k: v for k, v in overrides.items() if v is not None})
    fields["sizes"], fields["halting"] = tuple(fields["sizes"]), tuple(fields["halting"])
    return cls(**fields)

  def graphs_per_batch(self, length: int, num_heads: int = 1, num_graphs: int | None = None) -> int:
    """Graphs per batch at sequence length L: batch_size, fewer where the scores would outgrow
    the budget, and never more than the `num_graphs` there are (padding 32 validation graphs
    up to a batch of 128 quadrupled the quickstart's validation time)."""
    per_batch = max(1, min(self.batch_size, self.attention_budget // (num_heads * max(length, 1) ** 2)))
    return per_batch if num_graphs is None else max(1, min(per_batch, num_graphs))


def result_labels(method: str, settings: EvalSettings) -> tuple[str, ...]:
  """Labels of the result curves a method produces."""
  if method in runners.RECURRENT_METHODS:
    return settings.halting
  return (COT_LABEL,) if method == "cot" else (SINGLE_PASS_LABEL,)


def test_graphs(config, num_nodes: int, num_graphs: int) -> graphs_lib.GraphBatch:
  """The fixed test set of size N for a config's data settings."""
  d = config.data
  return eval_sets.eval_set(num_nodes, num_graphs=num_graphs, ops=tuple(d.ops), modulus=d.modulus,
                            num_names=d.num_names)


def validation_graphs(config, num_nodes: int, num_graphs: int) -> graphs_lib.GraphBatch:
  """Fixed validation graphs (for checkpoint selection), disjoint from the test sets by seed."""
  d = config.data
  return graphs_lib.sample_graphs((VALIDATION_SEED, num_nodes), num_graphs, num_nodes,
                                  num_leaves=d.num_leaves, max_depth=None, ops=tuple(d.ops),
                                  modulus=d.modulus, num_names=d.num_names, max_fan_in=d.max_fan_in)


def _chunks(num_graphs: int, per_batch: int, order: np.ndarray | None = None):
  """(index array of a full batch, number of real graphs); the last batch repeats its final graph.

  `order` (a permutation of the graphs) groups them into batches in that order.
  """
  order = np.arange(num_graphs) if order is None else np.asarray(order)
  for start in range(0, num_graphs, per_batch):
    index = order[np.minimum(np.arange(start, start + per_batch), num_graphs - 1)]
    yield index, min(per_batch, num_graphs - start)


def depth_order(graph_depth_B: np.ndarray) -> np.ndarray:
  """Graphs sorted by depth (stable): a rollout batch runs until its deepest graph halts,
  so batching graphs of equal depth together wastes no iterations on the shallow ones."""
  return np.argsort(np.asarray(graph_depth_B), kind="stable")


def _pipelined(chunks, dispatch: Callable, collect: Callable, beat: Callable[[int], None] | None = None) -> None:
  """Dispatches batch i + 1 before pulling batch i's results to the host; `beat(graphs done)` after each."""
  pending, done = None, 0

  def finish(chunk, out):
    nonlocal done
    collect(chunk, out)
    done += chunk[1]
    if beat is not None:
      beat(done)

  for chunk in chunks:
    out = dispatch(chunk)
    if pending is not None:
      finish(*pending)
    pending = (chunk, out)
  if pending is not None:
    finish(*pending)


def _take(batch: dict, index: np.ndarray) -> dict:
  return {key: value[index] for key, value in batch.items()}


def _evaluate_factored(runner, batch, settings: EvalSettings, label: str, beat=None) -> dict:
  """Records of one label (halting rule or single pass) over a tokenized size."""
  num_graphs, length = batch["inputs_BLF"].shape[:2]
  per_batch = settings.graphs_per_batch(length, runner.num_heads, num_graphs)
  records = []

  def dispatch(chunk):
    sub = _take(batch, chunk[0])
    if label == SINGLE_PASS_LABEL:
      return runner.single_pass(sub["inputs_BLF"])
    oracle_iters_B = sub["graph_depth_B"] + 1 + settings.oracle_slack
    return runner.rollout(sub["inputs_BLF"], sub["targets_BLF"], oracle_iters_B, halting=label,
                          max_iters=settings.max_iters)

  def collect(chunk, out):
    index, real = chunk
    sub = _take(batch, index[:real])
    if label == SINGLE_PASS_LABEL:
      records.append(metrics.batch_records(np.asarray(out)[:real], sub))
      return
    iters_B = np.asarray(out["iters_B"])[:real]
    solved_BT = np.asarray(out["solved_BT"])[:real, :max(int(iters_B.max()), 1)]
    records.append(metrics.batch_records(np.asarray(out["tokens_BLF"])[:real], sub,
                                         iters_B=iters_B, solved_BT=solved_BT))

  order = None if label == SINGLE_PASS_LABEL else depth_order(batch["graph_depth_B"])
  _pipelined(_chunks(num_graphs, per_batch, order), dispatch, collect, beat)
  return metrics.concat_records(records)


def _correction(runner, batch, settings: EvalSettings, vocab: vocab_lib.Vocab, num_nodes: int) -> dict:
  """One-step correction of corrupted teacher-forced states (discrete methods)."""
  num_graphs = min(settings.correction_graphs, batch["inputs_BLF"].shape[0])
  batch = _take(batch, np.arange(num_graphs))
  rng = np.random.default_rng((_CORRECTION_SEED, num_nodes))
  state_BLF, t_B = runners.corrupted_states(batch, rng, corrupt_prob=settings.correction_prob,
                                            modulus=vocab.modulus)
  per_batch = settings.graphs_per_batch(state_BLF.shape[1], runner.num_heads, num_graphs)
  counts = np.zeros(4, np.int64)  # wrong, corrected, due total, due right.

  def collect(chunk, out):
    index, real = chunk
    sub = _take(batch, index[:real])
    out_BLF, in_BLF = np.asarray(out)[:real], state_BLF[index[:real]]
    counts[:2] += metrics.correction_counts(in_BLF, out_BLF, sub["targets_BLF"], sub["node_depth_BL"], vocab)
    due_BL = sub["node_depth_BL"] == t_B[index[:real], None]
    right_BL = out_BLF[..., vocab_lib.VALUE] == sub["targets_BLF"][..., vocab_lib.VALUE]
    counts[2:] += (int(due_BL.sum()), int((due_BL & right_BL).sum()))

  _pipelined(_chunks(num_graphs, per_batch), lambda c: runner.one_step(state_BLF[c[0]]), collect)
  wrong, corrected, due_total, due_right = (int(c) for c in counts)
  return {"num_graphs": num_graphs, "corrupt_prob": settings.correction_prob, "num_wrong": wrong,
          "num_corrected": corrected, "rate": corrected / wrong if wrong else None,
          "due_accuracy": due_right / due_total if due_total else None}


def _evaluate_cot(runner: runners.CotRunner, graphs, settings: EvalSettings, bucket: int, beat=None):
  """Records of a chain-of-thought model over one size, plus generation statistics."""
  batch = cot_lib.cot_batch(graphs, bucket=bucket)
  per_batch = settings.graphs_per_batch(batch["tokens_BL"].shape[1], runner.num_heads,
                                       graphs.num_graphs)
  records, finished, generated = [], [], []
  shape = runner.decode_shape(batch)  # One decoder shape (one compile) for the whole size.

  def collect(chunk, out):
    index, real = chunk
    index = index[:real]
    correct_BN = runner.node_correct(np.asarray(out["tokens_BT"])[:real], graphs.names_GN[index],
                                     graphs.values_GN[index])
    records.append(metrics.records_from_correct(correct_BN, graphs.depths_GN[index],
                                                batch["graph_depth_B"][index], batch["num_nodes_B"][index]))
    finished.append(np.asarray(out["finished_B"])[:real])
    generated.append(np.asarray(out["length_B"])[:real])

  _pipelined(_chunks(graphs.num_graphs, per_batch),
             lambda chunk: runner.decode(_take(batch, chunk[0]), shape), collect, beat)
  stats = {"finished": float(np.concatenate(finished).mean()),
           "mean_generated_tokens": float(np.concatenate(generated).mean()),
           "mean_true_trace_tokens": float(np.mean(batch["length_B"] - batch["prompt_length_B"]))}
  return metrics.concat_records(records), stats


class _Progress:
  """Progress lines: sizes done, graphs/s, and an ETA fitted to the sizes done so far.

  A size's time is modelled as a + b * graphs * N^2 (a: compiling, b: attention
  cost, which dominates long sequences), fitted by least squares, so the
  compile-bound small sizes do not distort the ETA of the large ones.
  """

  def __init__(self, sizes: Sequence[int], num_graphs: int, log: Callable, heartbeat_s: float = 60.0):
    self.remaining, self.num_graphs, self.log = sorted(sizes), num_graphs, log
    self.total, self.samples = len(sizes), []  # (work, seconds) of finished sizes.
    self.start = self.last_line = time.time()
    self.heartbeat_s = heartbeat_s

  def _predict(self, num_nodes: int) -> float:
    work_S, seconds_S = (np.array(x, float) for x in zip(*self.samples))
    if len(self.samples) >= 2:
      (a, b), *_ = np.linalg.lstsq(np.stack([np.ones_like(work_S), work_S], 1), seconds_S, rcond=None)
      a, b = max(a, 0.0), max(b, 0.0)
    else:
      a, b = 0.0, seconds_S[0] / work_S[0]
    return a + b * self.num_graphs * num_nodes ** 2

  def beat(self, num_nodes: int, what: str, done: int, total: int) -> None:
    """A line inside a long size, at most every `heartbeat_s` seconds."""
    if time.time() - self.last_line >= self.heartbeat_s:
      self.last_line = time.time()
      self.log(f"N={num_nodes} {what}: {done}/{total} graphs, elapsed {time.time() - self.start:.0f}s")

  def size_done(self, num_nodes: int, seconds: float, passes: int, line: str) -> None:
    self.remaining.remove(num_nodes)
    self.samples.append((self.num_graphs * num_nodes ** 2, seconds))
    eta = sum(self._predict(n) for n in self.remaining)
    self.last_line = time.time()
    self.log(f"N={num_nodes} [{self.total - len(self.remaining)}/{self.total} sizes] {self.num_graphs} graphs "
             f"x {passes} passes in {seconds:.1f}s ({self.num_graphs * passes / max(seconds, 1e-9):.1f} "
             f"graphs/s) | {line} | elapsed {time.time() - self.start:.0f}s, ETA {eta:.0f}s")


def evaluate_model(model, config, settings: EvalSettings | None = None, *,
                   graphs_fn: Callable | None = None, log: Callable = logging.info) -> dict:
  """Evaluates `model` (of `config.method`) at every size of `settings`.

  Args:
    model: an NNX model as built by recur_latent.models.factory for `config`.
    config: its ConfigDict (method, data, eval).
    settings: defaults to EvalSettings.from_config(config).
    graphs_fn: `fn(config, num_nodes, num_graphs) -> GraphBatch`; the fixed test sets by default.
    log: progress sink (absl logging by default; `print` for scripts).

  Returns:
    {"method", "sizes", "num_graphs", "settings", "results": {label: {str(N): summary}},
     "correction": {str(N): ...} (discrete methods), "cot_generation": {str(N): ...} (cot),
     "seconds": {str(N): s}}.
  """
  settings = settings or EvalSettings.from_config(config)
  graphs_fn = graphs_fn or test_graphs
  method = config.method
  vocab = vocab_lib.Vocab(modulus=config.data.modulus, num_names=config.data.num_names)
  too_big = [n for n in settings.sizes if n > vocab.num_names]
  if too_big:
    raise ValueError(f"sizes {too_big} exceed the model's {vocab.num_names} variable names")
  labels = result_labels(method, settings)
  measure_correction = method in runners.DISCRETE_METHODS and settings.correction_prob > 0
  if method == "cot":
    runner = runners.CotRunner(model, modulus=vocab.modulus, num_names=vocab.num_names,
                               slack_tokens=settings.cot_slack_tokens, num_heads=config.model.num_heads)
  else:
    runner = runners.FactoredRunner(model, method, num_heads=config.model.num_heads,
                                    suffix_chunks=settings.suffix_chunks)
  evaluation = {"method": method, "sizes": list(settings.sizes), "num_graphs": settings.num_graphs,
                "settings": dataclasses.asdict(settings), "results": {label: {} for label in labels},
                "seconds": {}}
  if measure_correction:
    evaluation["correction"] = {}
  if method == "cot":
    evaluation["cot_generation"] = {}
  progress = _Progress(settings.sizes, settings.num_graphs, log)
  for n in sorted(settings.sizes):
    start = time.time()
    graphs = graphs_fn(config, n, settings.num_graphs)
    key = str(n)
    if method == "cot":
      beat = functools.partial(progress.beat, n, COT_LABEL, total=graphs.num_graphs)
      records, stats = _evaluate_cot(runner, graphs, settings, config.data.bucket, beat)
      evaluation["results"][COT_LABEL][key] = metrics.summarize(records)
      evaluation["cot_generation"][key] = stats
    else:
      batch = tokenize_lib.tokenize_graphs(graphs, bucket=config.data.bucket)
      deepest = int(batch["graph_depth_B"].max())
      if method in runners.RECURRENT_METHODS and deepest + 1 > settings.max_iters:
        log(f"N={n}: max_iters={settings.max_iters} is below the {deepest + 1} iterations the deepest "
            "graph needs; those graphs cannot be solved")
      for label in labels:
        beat = functools.partial(progress.beat, n, label, total=graphs.num_graphs)
        records = _evaluate_factored(runner, batch, settings, label, beat)
        evaluation["results"][label][key] = metrics.summarize(records)
      if measure_correction:
        evaluation["correction"][key] = _correction(runner, batch, settings, vocab, n)
    seconds = time.time() - start
    evaluation["seconds"][key] = seconds
    line = ", ".join(f"{label}: {evaluation['results'][label][key]['fully_solved']:.3f}" for label in labels)
    if measure_correction and evaluation["correction"][key]["rate"] is not None:
      line += f", correction rate {evaluation['correction'][key]['rate']:.3f}"
    progress.size_done(n, seconds, len(labels) + measure_correction, line)
  return evaluation


def fully_solved_by_size(evaluation: dict, label: str | None = None) -> dict[int, float]:
  """{N: fraction fully solved} of one label (the first by default)."""
  label = label or next(iter(evaluation["results"]))
  return {int(n): s["fully_solved"] for n, s in evaluation["results"][label].items()}


def validation_fn(config, *, log: Callable = logging.info) -> Callable:
  """`fn(model, config) -> {N: fully solved}` on fixed validation graphs (the training loop's hook).

  Uses `train.val_sizes` / `train.val_num_graphs` and `train.val_halting` (by
  default the first halting rule of `eval.halting`); no correction
  measurement. The graphs are sampled once.
  """
  halting = config.train.get("val_halting", "") or tuple(config.eval.halting)[0]
  settings = EvalSettings.from_config(config, sizes=tuple(config.train.val_sizes),
                                      num_graphs=config.train.val_num_graphs,
                                      halting=(halting,), correction_prob=0.0)
  cache = {}

  def cached_graphs(cfg, num_nodes, num_graphs):
    if num_nodes not in cache:
      cache[num_nodes] = validation_graphs(cfg, num_nodes, num_graphs)
    return cache[num_nodes]

  def validate(model, cfg) -> dict[int, float]:
    evaluation = evaluate_model(model, cfg, settings, graphs_fn=cached_graphs, log=lambda _: None)
    scores = fully_solved_by_size(evaluation)
    log(f"validation ({evaluation['method']}, {next(iter(evaluation['results']))}): {scores}")
    return scores

  return validate


def print_generalization_summary(workdir: str, *, num_graphs: int | None = None) -> dict:
  """Prints % fully solved at 1x, 2x and 4x the training size of a run (best checkpoint).

  num_graphs: graphs per size (default: the run's `eval.num_graphs`).
  """
  from recur_latent.training import checkpoints  # Lazy: training imports evaluation lazily too.

  model, config = checkpoints.load_model(workdir)
  num_graphs = num_graphs or config.eval.num_graphs
  train_n = config.data.train_max_nodes
  sizes = tuple(n for n in (train_n, 2 * train_n, 4 * train_n) if n <= config.data.num_names)
  settings = EvalSettings.from_config(config, sizes=sizes, num_graphs=num_graphs, correction_prob=0.0)
  evaluation = evaluate_model(model, config, settings)
  for label, by_size in evaluation["results"].items():
    cells = ", ".join(f"N={n} ({int(n) // train_n}x): {s['fully_solved']:.3f}" for n, s in by_size.items())
    print(f"{config.method} [{label}] fully solved: {cells}")
  return evaluation
