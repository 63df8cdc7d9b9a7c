"""The 2-layer, d = 256 discrete model analysed by the interpretability tools.

Addition only, no error correction (SPEC section 4).
"""
from configs import common


def get_config(arg=""):
  c = common.base_config()
  c.method = "discrete"
  c.model.d_model = 256
  c.model.num_heads = 16
  c.model.num_layers = 2
  c.model.position = "relative"
  c.model.dropout = 0.0  # Cleaner circuits for analysis.
  c.train.corrupt_batch_prob = 0.0
  return common.apply_variant(c, common.parse_arg(arg))
