"""A trained model as a small, self-contained file set (no orbax, no optimizer state).

An exported directory holds three files:
  config.json    the run's ConfigDict (the same file a training workdir has).
  params.npz     every nnx.Param of the model, one array per parameter, keyed by
                 its path in the module tree joined with '/', e.g.
                 'transformer/layers/0/attn/w_q' or 'heads/3/kernel' (list
                 entries are their index). Written with np.savez_compressed.
                 float32 arrays are stored as float32; bfloat16 arrays (which the
                 .npy format cannot name) as uint16 holding the bfloat16 bit
                 pattern: float32 = (uint32(bits) << 16) viewed as float32.
  metadata.json  format version, method, the stored dtype, parameter count,
                 training sizes, and the source run/commit when given.

The paper's full model (4 layers, d = 384) has 8.43M parameters: 16.86 MB of
raw bfloat16, about 13.5 MB once compressed (bfloat16 exponents are
predictable), so a shipped model stays under SHIPPED_MAX_BYTES.

`load_exported` rebuilds the model with factory.build_model's structure
(under nnx.eval_shape, so nothing is initialized) and fills in the arrays.
"""
import datetime
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from recur_latent.models import factory
from recur_latent.training import checkpoints

FORMAT = "recur_latent.export"
FORMAT_VERSION = 1
PARAMS_FILE = "params.npz"
METADATA_FILE = "metadata.json"
CONFIG_FILE = checkpoints.CONFIG_FILE
STORAGE_DTYPES = ("bfloat16", "float32")
SHIPPED_MAX_BYTES = 16 * 10 ** 6  # Budget of a model shipped in the package (recur_latent/assets).


def _flatten(pure, prefix=""):
  """{'a': {0: {'b': x}}} -> {'a/0/b': x}."""
  flat = {}
  for key, value in pure.items():
    path = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(_flatten(value, path + "/"))
    else:
      flat[path] = value
  return flat


def flat_params(model) -> dict[str, jax.Array]:
  """Every parameter of `model`, keyed by its '/'-joined path."""
  return _flatten(nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def _storage_dtype(dtype) -> str:
  name = jnp.dtype(dtype).name
  if name not in STORAGE_DTYPES:
    raise ValueError(f"export dtype must be one of {STORAGE_DTYPES}, got {name!r}")
  return name


def encode_array(array, dtype: str) -> np.ndarray:
  """A parameter as stored: float32, or bfloat16 (round to nearest) as its uint16 bits."""
  if dtype == "float32":
    return np.asarray(array, np.float32)
  return np.asarray(jnp.asarray(array, jnp.bfloat16)).view(np.uint16)


def decode_array(stored: np.ndarray, dtype: str) -> np.ndarray:
  """The float32 values of a stored parameter (exact for both storage dtypes)."""
  if dtype == "float32":
    if stored.dtype != np.float32:
      raise ValueError(f"expected float32 arrays, found {stored.dtype}")
    return stored
  if stored.dtype != np.uint16:
    raise ValueError(f"expected bfloat16 bits (uint16), found {stored.dtype}")
  return (stored.astype(np.uint32) << 16).view(np.float32)


def write_params(path: str, params: dict, dtype: str = "bfloat16") -> int:
  """Writes flat params to `path` (params.npz layout); returns the file size in bytes."""
  dtype = _storage_dtype(dtype)
  with open(path, "wb") as f:
    np.savez_compressed(f, **{key: encode_array(value, dtype) for key, value in params.items()})
  return os.path.getsize(path)


def abstract_params(config) -> dict[str, jax.ShapeDtypeStruct]:
  """Shapes of the parameters of `config`'s model, without initializing it."""
  model = nnx.eval_shape(lambda: factory.build_model(config, nnx.Rngs(0)))
  return flat_params(model)


def raw_param_bytes(config, dtype="bfloat16") -> int:
  """Bytes of the parameter arrays of `config`'s model before compression."""
  itemsize = jnp.dtype(_storage_dtype(dtype)).itemsize
  return sum(int(np.prod(p.shape)) * itemsize for p in abstract_params(config).values())


def _training_sizes(config) -> dict:
  d = config.data
  return {"min_nodes": d.train_min_nodes, "max_nodes": d.train_max_nodes,
          "max_depth": d.train_max_depth, "ops": list(d.ops), "modulus": d.modulus,
          "num_names": d.num_names}


def export_model(model, config, path: str, *, dtype="bfloat16", source_workdir: str | None = None,
                 source_commit: str | None = None, extra: dict | None = None) -> dict:
  """Writes config.json, params.npz and metadata.json of `model` into directory `path`.

  Args:
    model: the NNX model built by factory.build_model(config, ...).
    config: its ConfigDict.
    path: output directory (created; the three files are overwritten).
    dtype: 'bfloat16' (default, half the size) or 'float32' (exact).
    source_workdir, source_commit: recorded in the metadata when given.
    extra: more JSON-serializable metadata (e.g. the validation score).

  Returns:
    The metadata written, with `bytes` (total size of the three files).
  """
  dtype = _storage_dtype(dtype)
  params = flat_params(model)
  expected = abstract_params(config)
  if set(params) != set(expected):
    raise ValueError(f"the model does not match config.method={config.method!r}: parameters "
                     f"{sorted(set(params) ^ set(expected))[:5]} differ")
  os.makedirs(path, exist_ok=True)
  checkpoints.save_config(config, path)
  params_bytes = write_params(os.path.join(path, PARAMS_FILE), params, dtype)
  metadata = {
      "format": FORMAT, "format_version": FORMAT_VERSION, "method": config.method,
      "param_dtype": dtype, "num_params": sum(int(np.prod(p.shape)) for p in params.values()),
      "params_bytes": params_bytes, "training": _training_sizes(config),
      "model": {k: config.model.get(k) for k in ("d_model", "num_layers", "num_heads", "position")},
      "source_workdir": os.path.abspath(source_workdir) if source_workdir else None,
      "source_commit": source_commit,
      "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      **(extra or {})}
  with open(os.path.join(path, METADATA_FILE), "w") as f:
    json.dump(metadata, f, indent=2, sort_keys=True)
  metadata["bytes"] = sum(os.path.getsize(os.path.join(path, name))
                          for name in (CONFIG_FILE, PARAMS_FILE, METADATA_FILE))
  return metadata


def is_exported(path: str) -> bool:
  return all(os.path.isfile(os.path.join(path, name))
             for name in (CONFIG_FILE, PARAMS_FILE, METADATA_FILE))


def read_metadata(path: str) -> dict:
  with open(os.path.join(path, METADATA_FILE)) as f:
    metadata = json.load(f)
  if metadata.get("format") != FORMAT or metadata.get("format_version") != FORMAT_VERSION:
    raise ValueError(f"{path} is not a {FORMAT} v{FORMAT_VERSION} export "
                     f"(format {metadata.get('format')!r} v{metadata.get('format_version')!r})")
  return metadata


def load_exported(path: str, dtype=jnp.float32):
  """Rebuilds (model, config) from an exported directory; parameters cast to `dtype`.

  Raises ValueError if the stored parameters do not match the config's model.
  """
  if not is_exported(path):
    raise FileNotFoundError(f"{path} is not an exported model (needs {CONFIG_FILE}, "
                            f"{PARAMS_FILE} and {METADATA_FILE})")
  metadata = read_metadata(path)
  config = checkpoints.load_config(path)
  abstract = nnx.eval_shape(lambda: factory.build_model(config, nnx.Rngs(0)))
  graphdef, state = nnx.split(abstract)
  pure = nnx.to_pure_dict(state)
  with np.load(os.path.join(path, PARAMS_FILE)) as stored:
    stored = dict(stored)
  expected = _flatten(pure)
  missing, unexpected = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
  if missing or unexpected:
    raise ValueError(f"{path}: parameters do not match the {config.method!r} model of its config "
                     f"(missing {missing[:5]}, unexpected {unexpected[:5]})")

  def fill(tree, prefix=""):
    for key, value in tree.items():
      name = f"{prefix}{key}"
      if isinstance(value, dict):
        fill(value, name + "/")
        continue
      array = decode_array(stored[name], metadata["param_dtype"])
      if array.shape != value.shape:
        raise ValueError(f"{path}: parameter {name} has shape {array.shape}, the model "
                         f"expects {value.shape}")
      tree[key] = jnp.asarray(array, dtype)

  fill(pure)
  nnx.replace_by_pure_dict(state, pure)
  return nnx.merge(graphdef, state), config
