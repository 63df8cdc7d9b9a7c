"""Method 2: end-to-end recurrent Transformer (the paper's best: RoPE, T = 4, L = 2, d = 256).

A weight-tied block applied a fixed T times on continuous states; only the
final output is supervised.
"""
from configs import common


def get_config(arg=""):
  c = common.base_config()
  c.method = "e2e_recurrent"
  c.model.d_model = 256
  c.model.num_heads = 16
  c.model.num_layers = 2
  c.model.position = "rope"
  c.train.train_iters = 4  # T: fixed number of block applications.
  return common.apply_variant(c, common.parse_arg(arg))
