"""Method 6, the paper's full method: discrete latent supervision + error correction.

4 layers, d = 384, 16 heads; every iteration's logits are decoded (argmax per
factor) and re-embedded; 5% of batches have values corrupted.
Variants: `size=small` shrinks the model and run for a CPU.
"""
from configs import common


def get_config(arg=""):
  c = common.base_config()
  c.method = "discrete_ec"
  c.model.d_model = 384
  c.model.num_heads = 16
  c.model.num_layers = 4
  c.model.position = "relative"
  c.train.corrupt_batch_prob = 0.05
  c.train.corrupt_token_prob = 0.5
  c.train.corrupt_candidates = "due"
  return common.apply_variant(c, common.parse_arg(arg))
