"""The paper's published numbers (% fully solved per N), for reference lines and tables.

Source: Altabaa et al. 2025, figure data, as listed in SPEC section 3. Keys are
the `method` names of our configs.
"""

PAPER_SIZES = (8, 16, 32, 48, 64, 96, 128)

_ROWS = {
    "discrete_ec": (1.000, 1.000, 1.000, 1.000, 1.000, 1.000, 1.000),
    "discrete": (1.000, .995, .993, .987, .976, .966, .948),
    "continuous": (1.000, .988, .943, .886, .839, .624, .548),
    "cot": (.993, .988, .969, .686, 0.0, 0.0, 0.0),
    "e2e_recurrent": (.999, .894, .174, 0.0, 0.0, 0.0, 0.0),
    "feedforward": (1.000, .846, .119, .002, 0.0, 0.0, 0.0),
}

# method -> {N: fraction fully solved}
PAPER_FULLY_SOLVED = {method: dict(zip(PAPER_SIZES, row)) for method, row in _ROWS.items()}

METHOD_TITLES = {
    "feedforward": "End-to-end feedforward",
    "e2e_recurrent": "End-to-end recurrent",
    "cot": "Chain-of-thought",
    "continuous": "Continuous latent supervision",
    "discrete": "Discrete latent supervision",
    "discrete_ec": "Discrete + error correction",
}
