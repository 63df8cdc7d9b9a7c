"""The factored token vocabulary shared by data, models and evaluation.

Every position of a problem is a tuple of four factors
(syntax, variable, operation, value); `tokens[..., F]` arrays store them in
that order as int32 ids.
"""
import dataclasses

import numpy as np

# Factor indices along the last axis of a `tokens_BLF` array.
SYNTAX, VARIABLE, OPERATION, VALUE = 0, 1, 2, 3
FACTOR_NAMES = ("syntax", "variable", "operation", "value")
NUM_FACTORS = 4
MAX_OPERANDS = 3  # An equation has at most 3 operands (and 2 operators).

# Syntax ids. PAD is 0 so that zero-filled arrays are padding.
PAD, VAR_TOKEN, OP_TOKEN, VALUE_TOKEN, EQUALS, SEPARATOR = 0, 1, 2, 3, 4, 5
NUM_SYNTAX = 6
SYNTAX_NAMES = ("PAD", "VARIABLE", "OPERATION", "VALUE", "EQUALS", "SEPARATOR")

# Operation ids; OP_NA marks tokens that are not operators.
ADD, SUB, MUL = 0, 1, 2
OP_NA = 3
NUM_OPERATIONS = 4
OP_SYMBOLS = ("+", "-", "*")
OP_NAMES = ("add", "sub", "mul")


def op_ids(names):
  """Maps operation names ('add', 'sub', 'mul') to ids, rejecting unknown ones."""
  ids = []
  for name in names:
    if name not in OP_NAMES:
      raise ValueError(f"unknown operation {name!r}; expected some of {OP_NAMES}")
    ids.append(OP_NAMES.index(name))
  if not ids:
    raise ValueError("at least one operation is required")
  return tuple(ids)


def apply_op(op, a, b, modulus):
  """Applies operation id `op` elementwise (works on ints and numpy arrays)."""
  if op == ADD:
    return (a + b) % modulus
  if op == SUB:
    return (a - b) % modulus
  if op == MUL:
    return (a * b) % modulus
  raise ValueError(f"unknown operation id {op}")


@dataclasses.dataclass(frozen=True)
class Vocab:
  """Sizes of the factor vocabularies for a modulus and a name pool."""

  modulus: int = 23  # Values live in Z_modulus.
  num_names: int = 128  # Variable names x_0 .. x_{num_names-1}.

  def __post_init__(self):
    if self.modulus < 2:
      raise ValueError(f"modulus must be >= 2, got {self.modulus}")
    if self.num_names < 1:
      raise ValueError(f"num_names must be >= 1, got {self.num_names}")

  @property
  def var_na(self) -> int:
    """Variable id of tokens that are not variables."""
    return self.num_names

  @property
  def value_na(self) -> int:
    """Value id of tokens that carry no value (operators, '=', ';', PAD)."""
    return self.modulus

  @property
  def value_empty(self) -> int:
    """Value id of a variable whose value is not computed yet."""
    return self.modulus + 1

  @property
  def factor_sizes(self) -> tuple[int, int, int, int]:
    return (NUM_SYNTAX, self.num_names + 1, NUM_OPERATIONS, self.modulus + 2)


@dataclasses.dataclass(frozen=True)
class FlatVocab:
  """A flat (one id per token) vocabulary over the same problems.

  Used by the chain-of-thought baseline and, internally, to build factored
  tokens by table lookup. Layout: PAD, BOS, EOS, TRACE (starts the trace),
  '=', ';', the operators '+ - *', the values 0..p-1, then the names
  x_0..x_{V-1}.
  """

  modulus: int = 23
  num_names: int = 128

  PAD = 0
  BOS = 1
  EOS = 2
  TRACE = 3
  EQUALS = 4
  SEPARATOR = 5
  OP_BASE = 6  # Id of operation id `op` is OP_BASE + op.
  VALUE_BASE = OP_BASE + len(OP_SYMBOLS)  # Id of value v is VALUE_BASE + v.

  def __post_init__(self):
    Vocab(self.modulus, self.num_names)  # Same argument checks.

  @property
  def name_base(self) -> int:
    """Id of name x_n is name_base + n."""
    return self.VALUE_BASE + self.modulus

  @property
  def size(self) -> int:
    return self.name_base + self.num_names

  def token_strings(self) -> list[str]:
    """The text of every id (for printing sequences)."""
    return (["<pad>", "<bos>", "<eos>", "<trace>", "=", ";"] + list(OP_SYMBOLS)
            + [str(v) for v in range(self.modulus)]
            + [f"x_{n}" for n in range(self.num_names)])

  def factored_table(self):
    """[size, 4] factored input row of each flat id (values EMPTY at names).

    BOS, EOS and TRACE have no factored counterpart and map to the PAD row.
    """
    factored = Vocab(self.modulus, self.num_names)
    table = np.empty((self.size, NUM_FACTORS), dtype=np.int32)
    table[:] = (PAD, factored.var_na, OP_NA, factored.value_na)
    table[self.EQUALS, SYNTAX] = EQUALS
    table[self.SEPARATOR, SYNTAX] = SEPARATOR
    ops = slice(self.OP_BASE, self.VALUE_BASE)
    table[ops, SYNTAX], table[ops, OPERATION] = OP_TOKEN, range(len(OP_SYMBOLS))
    values = slice(self.VALUE_BASE, self.name_base)
    table[values, SYNTAX], table[values, VALUE] = VALUE_TOKEN, range(self.modulus)
    names = slice(self.name_base, self.size)
    table[names, SYNTAX], table[names, VARIABLE] = VAR_TOKEN, range(self.num_names)
    table[names, VALUE] = factored.value_empty
    return table
