"""Training batches as a pure function of (config, step), prefetched on a thread.

Because batch `step` depends on nothing but the config and the step number, a
resumed run sees exactly the batches the uninterrupted run would have, and a
host in a multi-host job generates only its own slice of the global batch.
"""
import queue
import threading

import numpy as np

from recur_latent.data import cot as cot_lib
from recur_latent.data import graphs as graphs_lib
from recur_latent.data import tokenize as tokenize_lib

_FIXED_DATASET_SEED = 7_777  # Separates the fixed dataset's stream from online batches.


def max_factored_length(num_nodes, *, num_leaves, max_fan_in):
  """Longest token sequence of an N-node problem: every computed node at full fan-in."""
  leaf_tokens = 3 + 1  # `v = x ;`
  computed_tokens = 2 * max_fan_in + 1 + 1  # operands, operators, `=`, rhs, `;`
  return num_leaves * leaf_tokens + (num_nodes - num_leaves) * computed_tokens - 1


def _sequence_bound(num_nodes, data_cfg, method):
  """Longest sequence (tokens) an N-node problem can have for `method`."""
  longest = max_factored_length(num_nodes, num_leaves=data_cfg.num_leaves,
                                max_fan_in=data_cfg.max_fan_in)
  if method == "cot":
    # BOS + prompt + TRACE, then `x = v ;` per leaf and `x = lhs = v ;` per
    # computed node (2k + 4 tokens), then EOS.
    computed = num_nodes - data_cfg.num_leaves
    longest += 2 + 4 * data_cfg.num_leaves + computed * (2 * data_cfg.max_fan_in + 4) + 1
  return longest


def train_length(data_cfg, method, num_nodes=None):
  """Padded length of training batches whose largest graph has `num_nodes` (default:
  the largest training graph, which with `data.pad_batches = 'max'` is every batch's)."""
  n = data_cfg.train_max_nodes if num_nodes is None else num_nodes
  return tokenize_lib.padded_length(_sequence_bound(n, data_cfg, method), bucket=data_cfg.bucket)


def _sample(data_cfg, seed, num_graphs, num_nodes):
  return graphs_lib.sample_graphs(
      seed, num_graphs, num_nodes, num_leaves=data_cfg.num_leaves,
      max_depth=data_cfg.train_max_depth, ops=tuple(data_cfg.ops),
      modulus=data_cfg.modulus, num_names=data_cfg.num_names,
      max_fan_in=data_cfg.max_fan_in)


def _tokenize(graphs, method, pad_to, bucket=32):
  if method == "cot":
    return cot_lib.cot_batch(graphs, pad_to=pad_to, bucket=bucket)
  return tokenize_lib.tokenize_graphs(graphs, pad_to=pad_to, bucket=bucket)


def _concat(parts, method, pad_to):
  if method == "cot":
    return cot_lib.concat_cot_batches(parts, pad_to=pad_to)
  return tokenize_lib.concat_batches(parts, pad_to=pad_to)


class BatchSource:
  """Builds the host-local slice of the global batch for any step."""

  def __init__(self, config, *, process_index=0, process_count=1):
    self.config = config
    self.method = config.method
    data_cfg, batch_size = config.data, config.train.batch_size
    if batch_size % process_count:
      raise ValueError(f"train.batch_size={batch_size} is not divisible by "
                       f"{process_count} hosts")
    self.local_batch = batch_size // process_count
    self.process_index = process_index
    self.pad_to = train_length(data_cfg, self.method)
    # 'bucket': each batch is padded for the largest graph size drawn for it,
    # which every host knows (sizes come from seeds without the host index),
    # so the hosts' slices of a global batch always agree in shape.
    self.padding = getattr(data_cfg, "pad_batches", "max")
    # 'longest': each batch is padded for its own longest sequence, which only
    # this host sees; hosts would disagree on the shape of one global batch.
    if self.padding == "longest" and process_count > 1:
      raise ValueError("data.pad_batches='longest' needs a single process: hosts would pad "
                       "their slices of a batch differently; use 'bucket'")
    self._fixed = None
    if data_cfg.fixed_dataset_size:
      self._fixed = self._build_fixed_dataset(data_cfg.fixed_dataset_size)

  def _size_for(self, *stream):
    """Graph size of one chunk, drawn from its own seed stream."""
    lo, hi = self.config.data.train_min_nodes, self.config.data.train_max_nodes
    rng = np.random.default_rng((self.config.seed, *stream, 1))
    return int(rng.integers(lo, hi + 1))

  def _build_fixed_dataset(self, size):
    """The paper's setting: a fixed pool of graphs, cycled in epochs."""
    data_cfg = self.config.data
    chunk = 4096
    parts = []
    for start in range(0, size, chunk):
      n_graphs = min(chunk, size - start)
      num_nodes = self._size_for(_FIXED_DATASET_SEED, start)
      graphs = _sample(data_cfg, (self.config.seed, _FIXED_DATASET_SEED, start),
                       n_graphs, num_nodes)
      parts.append(_tokenize(graphs, self.method, self.pad_to))
    return _concat(parts, self.method, self.pad_to)

  def batch(self, step):
    """The host-local batch of `step` as numpy arrays."""
    if self._fixed is not None:
      return self._fixed_batch(step)
    chunks = self.config.data.size_chunks
    per_chunk = self.local_batch // chunks
    sizes = [self._size_for(step, chunk) for chunk in range(chunks)]
    if self.padding == "bucket":
      pad_to = train_length(self.config.data, self.method, max(sizes))
    elif self.padding == "longest":
      pad_to = None  # Each chunk to its bucket-rounded longest, then all to the longest chunk.
    else:
      pad_to = self.pad_to
    parts = []
    for chunk, num_nodes in enumerate(sizes):
      graphs = _sample(self.config.data,
                       (self.config.seed, step, self.process_index, chunk),
                       per_chunk, num_nodes)
      parts.append(_tokenize(graphs, self.method, pad_to, self.config.data.bucket))
    return parts[0] if chunks == 1 else _concat(parts, self.method, pad_to)

  def _fixed_batch(self, step):
    size = len(next(iter(self._fixed.values())))
    global_batch = self.config.train.batch_size
    steps_per_epoch = max(size // global_batch, 1)
    epoch, index = divmod(step, steps_per_epoch)
    order = np.random.default_rng((self.config.seed, _FIXED_DATASET_SEED, epoch)).permutation(size)
    start = index * global_batch + self.process_index * self.local_batch
    rows = order[start:start + self.local_batch]
    return {k: v[rows] for k, v in self._fixed.items()}


class Prefetcher:
  """Generates batches start_step, start_step + 1, ... on a daemon thread."""

  def __init__(self, source, start_step, depth=4):
    self._queue = queue.Queue(maxsize=max(depth, 1))
    self._stop = threading.Event()
    self._thread = threading.Thread(
        target=self._run, args=(source, start_step), daemon=True)
    self._thread.start()

  def _run(self, source, step):
    while not self._stop.is_set():
      try:
        item = (step, source.batch(step))
      except Exception as err:  # Surface generator errors in the main thread.
        item = (step, err)
      while not self._stop.is_set():
        try:
          self._queue.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      step += 1

  def next(self):
    step, batch = self._queue.get()
    if isinstance(batch, Exception):
      raise batch
    return step, batch

  def close(self):
    self._stop.set()
    self._thread.join(timeout=5)
