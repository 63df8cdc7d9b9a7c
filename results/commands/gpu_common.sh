# Sourced by the GPU run scripts: installs the carried wheels and sets up JAX.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
# The device image lacks these two of setup.py's requirements; without them a
# plan's trainings fail seconds in (session 9 lost its CPU jobs that way).
python3 -c "import ml_collections, tensorboardX" || {
  echo "carry .whl/ with the ml-collections and tensorboardX wheels (pip download --no-deps)"; exit 1; }
export PYTHONUNBUFFERED=1
# Several trainings share the GPU: no process may grab most of its memory.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export NCCL_NVLS_ENABLE=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, flax, optax, orbax.checkpoint as o; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
