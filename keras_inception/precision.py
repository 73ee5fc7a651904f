"""``precision="auto"``: the Keras dtype policy that suits the hardware.

Mixed precision pays where the hardware multiplies bfloat16 or float16
matrices natively; elsewhere it only adds casts. The rule:

- ``mixed_bfloat16`` on TPUs, on GPUs of compute capability 8.0 or more
  (Ampere and later), and on x86 CPUs with AMX (``amx_bf16`` in the CPU
  flags): bf16 matrix units, measured 2.7x float32 for Inception-v3 training
  at 299 px on a 2-core AMX host (issue 13);
- ``mixed_float16`` on older GPUs with tensor cores (compute capability 7.x);
- ``float32`` everywhere else, including CPUs with AVX512-BF16 but no AMX,
  where bf16 gained only 1.2-1.4x in our benchmarks at the cost of accuracy
  headroom: measure with ``benchmarks/bench_training.py`` before choosing it.
"""

import os

import tensorflow as tf

from keras_inception import hostinfo

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
AUTO = "auto"


def detect(*, flags=None, gpus=None, tpus=None):
    """``(policy, reason)``: the mixed-precision policy this machine runs fastest.

    Args:
        flags: CPU flags, default ``None`` (read from ``/proc/cpuinfo``).
        gpus: ``[(name, (major, minor))]`` compute capabilities, default
            ``None`` (asked of TensorFlow).
        tpus: number of TPU devices, default ``None`` (asked of TensorFlow).

    Returns:
        A policy of ``PRECISIONS`` and a one-line reason.
    """
    if tpus is None:
        tpus = len(tf.config.list_logical_devices("TPU"))
    if tpus:
        return "mixed_bfloat16", f"{tpus} TPU core(s): bfloat16 matrix units"
    if gpus is None:
        gpus = _gpu_capabilities()
    if gpus:
        name, capability = min(gpus, key=lambda g: g[1])
        version = ".".join(map(str, capability))
        if capability >= (8, 0):
            return "mixed_bfloat16", f"GPU {name} (compute capability {version}): bf16 tensor cores"
        if capability >= (7, 0):
            return "mixed_float16", (
                f"GPU {name} (compute capability {version}): float16 tensor cores, no bf16"
            )
        return "float32", f"GPU {name} (compute capability {version}): no tensor cores"
    flags = hostinfo.cpu_flags() if flags is None else set(flags)
    if "amx_bf16" in flags:
        return "mixed_bfloat16", "CPU with AMX (amx_bf16): bf16 matrix units"
    if "avx512_bf16" in flags:
        return "float32", (
            "CPU with AVX512-BF16 but no AMX: bf16 gained only 1.2-1.4x here, "
            "float32 kept (measure with benchmarks/bench_training.py)"
        )
    return "float32", "CPU without bf16 matrix units"


def resolve(precision):
    """``(policy, reason)`` for a ``precision`` setting: ``"auto"`` or a policy name.

    Raises:
        ValueError: ``precision`` is neither.
    """
    if precision == AUTO:
        return detect()
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be 'auto' or one of {PRECISIONS}. Received: precision={precision!r}"
        )
    return precision, "set by the user"


def _gpu_capabilities():
    found = []
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return found
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        if capability:
            found.append((details.get("device_name", gpu.name), tuple(capability)))
    return found


# Layers that stay in float32 under a mixed policy: the classifier heads (so
# logits and softmax keep their precision, as the builders make them) and the
# output activations.
_FLOAT32_CLASSES = ("Dense", "Softmax", "Activation")


def with_policy(model, policy):
    """A copy of a Functional ``model`` that computes under the dtype ``policy``.

    A ``.keras`` file records each layer's dtype policy, so loading it under a
    mixed global policy still computes in float32, and one trained under a mixed
    policy (``precision="auto"`` on a host with AMX) still computes in bfloat16.
    This rebuilds the graph with ``policy`` in every layer (for a mixed policy,
    all but the dense heads and output activations) and copies the weights
    (variables stay float32 under a mixed policy).

    Args:
        model: a Functional ``keras.Model`` (nested Functional models included).
        policy: a name of ``PRECISIONS``.

    Returns:
        ``model`` itself for ``"float32"`` when all its layers compute in
        float32 already, else the copy.
    """
    import keras

    if policy not in PRECISIONS:
        raise ValueError(f"`policy` must be one of {PRECISIONS}. Received: policy={policy!r}")
    if policy == "float32" and all(
        layer.dtype_policy.name == "float32" for layer in _all_layers(model)
    ):
        return model
    config = model.get_config()
    _set_policy(config, policy)
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy if isinstance(copy, keras.Model) else model


def _all_layers(model):
    """The layers of ``model`` and of the models nested in it."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _set_policy(config, policy):
    kept = ("InputLayer",) if policy == "float32" else _FLOAT32_CLASSES + ("InputLayer",)
    for layer in config.get("layers", ()):
        inner = layer.get("config", {})
        if "layers" in inner:
            _set_policy(inner, policy)
        elif layer.get("class_name") not in kept:
            inner["dtype"] = policy
