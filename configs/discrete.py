"""Method 5: discrete latent-space supervision without error correction.

Same model as the full method (4 layers, d = 384, 16 heads); no corruption.
"""
from configs import common


def get_config(arg=""):
  c = common.base_config()
  c.method = "discrete"
  c.model.d_model = 384
  c.model.num_heads = 16
  c.model.num_layers = 4
  c.model.position = "relative"
  c.train.corrupt_batch_prob = 0.0
  return common.apply_variant(c, common.parse_arg(arg))
