"""Method 3: chain-of-thought (the paper's best: NoPE, L = 8, d = 512).

A causal LM over flat tokens; after the equations it writes a trace that
evaluates them in input order; loss on the trace only; greedy decoding with a
KV cache at test time. Trained on N drawn from [8, 32].
"""
from configs import common


def get_config(arg=""):
  c = common.base_config()
  c.method = "cot"
  c.model.d_model = 512
  c.model.num_heads = 16
  c.model.num_layers = 8
  c.model.position = "none"
  c.data.train_min_nodes = 8
  c.data.train_max_nodes = 32
  c.data.size_chunks = 4  # Each batch mixes 4 sizes from [8, 32].
  return common.apply_variant(c, common.parse_arg(arg))
