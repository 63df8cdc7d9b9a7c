"""Method 1: end-to-end feedforward (the paper's best: DeBERTa, L = 8, d = 256, 16 heads).

One pass of 8 layers maps the input state to the final state.
"""
from configs import common


def get_config(arg=""):
  c = common.base_config()
  c.method = "feedforward"
  c.model.d_model = 256
  c.model.num_heads = 16
  c.model.num_layers = 8
  c.model.position = "relative"
  return common.apply_variant(c, common.parse_arg(arg))
