"""The paper's six-method comparison (SPEC section 3): one run per method.

`get_sweep("")` trains each method's default config and evaluates it at the
paper's sizes N = 8 ... 128; any other arg (e.g. `size=small`) is passed to
every config file, which then keeps its own evaluation sizes.
  python -m experiments.sweep --sweep=configs/sweeps/paper_methods.py
  python -m experiments.sweep --sweep=configs/sweeps/paper_methods.py:size=small
"""
from recur_latent.models.factory import METHODS

PAPER_SIZES = (8, 16, 32, 48, 64, 96, 128)  # The sizes of the paper's table.


def get_sweep(arg=""):
  overrides = {} if arg else {"eval.sizes": PAPER_SIZES}
  return [(method, f"configs/{method}.py:{arg}", dict(overrides)) for method in METHODS]
