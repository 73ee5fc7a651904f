"""Converter between TF-slim checkpoints and this package's models.

TF-slim names a variable ``<Scope>/<unit path>/<variable>``, e.g.
``InceptionV3/Mixed_6b/Branch_1/Conv2d_0b_1x7/weights`` or
``.../Conv2d_0b_1x7/BatchNorm/moving_mean`` (BatchNorm has no ``gamma``:
``scale=False``). Our layer names are the unit paths lower-cased with ``/``
written as ``_``: the conv of a unit is ``<unit>_conv``, its BatchNorm
``<unit>_bn``; a conv without BatchNorm (logits, Inception-ResNet residual
projections) is ``<unit>``. Conv kernels have the same layout in both
(``[height, width, in, out]``); the 1x1-conv logits of v1/v2/v3 become Dense
kernels.

What the mechanical rule does not cover is data, one ``SlimNames`` per
network: the scope, the names of the classifiers, and ``renames`` for the
released code's irregular names (e.g. Inception-v1's ``Mixed_5b/Branch_2``
3x3 conv is scoped ``Conv2d_0a_3x3`` where its siblings have ``Conv2d_0b_3x3``;
Inception-v3's ``Mixed_6a`` stride-2
3x3 convs are scoped ``Conv2d_1a_1x1``; Inception-ResNet-v2's modules sit in
``Repeat``/``Repeat_1``/``Repeat_2`` scopes and its last module is ``Block8``).

The published checkpoints have 1001 classes, class 0 being "background":
``convert`` records ``label_offset=1`` and ``store.apply`` drops that row for
a 1000-class model or keeps it for ``classes=1001`` (then output ``i + 1`` is
ImageNet class ``i``).
"""

import bz2
import dataclasses
import gzip
import lzma
import os
import re
import tarfile

import numpy as np
import tensorflow as tf

from keras_inception.weights import files
from keras_inception.weights import store

# Keras variable name -> TF-slim variable name, within a unit's scope.
VARIABLES = {
    "kernel": "weights",
    "bias": "biases",
    "depthwise_kernel": "depthwise_weights",
    "pointwise_kernel": "pointwise_weights",
    "gamma": "BatchNorm/gamma",
    "beta": "BatchNorm/beta",
    "moving_mean": "BatchNorm/moving_mean",
    "moving_variance": "BatchNorm/moving_variance",
}
_BATCH_NORM = {"gamma", "beta", "moving_mean", "moving_variance"}
# Training state that checkpoints may hold besides the model: never weights.
_TRAINING_STATE = re.compile(
    r"(^|/)(global_step|ExponentialMovingAverage|RMSProp(_1)?|Momentum|Adam(_1)?)(/|$)"
)
# Leading components of our unit names, and how TF-slim spells them.
_CONTAINER = re.compile(r"(mixed_\d+[a-z]|branch_\d+|block\d+_\d+|aux(?:_\d+)?)(?:_|$)")
_AUX_CLASSIFIER = re.compile(r"AuxLogits(_\d+)?/Logits")
# ImageNet's 1000 classes plus TF-slim's background class 0.
SLIM_IMAGENET_CLASSES = 1001
# Archives: the files of a checkpoint, the compressions read, and bounds.
_CHECKPOINT_FILE = re.compile(r"\.ckpt($|\.|-)|\.index$|\.data-\d+")
_DECOMPRESSORS = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_TAR_MAGIC, _TAR_MAGIC_OFFSET = b"ustar", 257
_MAX_MEMBERS = 10_000
# What TensorFlow's checkpoint reader raises on a damaged file.
_READ_ERRORS = (ValueError, IndexError, RuntimeError, tf.errors.OpError)
_READ_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class SlimNames:
    """How one network's TF-slim variables are named.

    Attributes:
        scope: the top-level variable scope, e.g. ``"InceptionV3"``.
        logits: unit path of the classifier (our ``predictions``).
        aux_logits: unit path of the auxiliary classifier (our ``aux``),
            default ``"AuxLogits/Logits"``.
        conv_logits: whether the classifiers are 1x1 convs (kernels
            ``[1, 1, in, classes]``) rather than fully connected. Default False.
        renames: ``(TF-slim path, our path)`` pairs for names the mechanical
            rule misses, both written TF-slim style; a path prefix matches, and
            ``{n}`` stands for a number. The first matching pair applies.
    """

    scope: str
    logits: str
    aux_logits: str = "AuxLogits/Logits"
    conv_logits: bool = False
    renames: tuple = ()


def _resnet_renames(blocks):
    """The ``slim.repeat`` scopes of the Inception-ResNets.

    ``blocks`` is the index our builders give the final ``Block8``.
    """
    return (
        ("Block8", f"block8_{blocks}"),
        ("Repeat/block35_{n}", "block35_{n}"),
        ("Repeat_1/block17_{n}", "block17_{n}"),
        ("Repeat_2/block8_{n}", "block8_{n}"),
    )


SLIM_NAMES = {
    "inception_v1": SlimNames(
        "InceptionV1",
        "Logits/Conv2d_0c_1x1",
        conv_logits=True,
        renames=(("Mixed_5b/Branch_2/Conv2d_0a_3x3", "Mixed_5b/Branch_2/Conv2d_0b_3x3"),),
    ),
    "inception_v2": SlimNames("InceptionV2", "Logits/Conv2d_1c_1x1", conv_logits=True),
    "inception_v3": SlimNames(
        "InceptionV3",
        "Logits/Conv2d_1c_1x1",
        aux_logits="AuxLogits/Conv2d_2b_1x1",
        conv_logits=True,
        renames=(
            ("Mixed_5c/Branch_1/Conv2d_0b_1x1", "Mixed_5c/Branch_1/Conv2d_0a_1x1"),
            ("Mixed_5c/Branch_1/Conv_1_0c_5x5", "Mixed_5c/Branch_1/Conv2d_0b_5x5"),
            ("Mixed_6a/Branch_0/Conv2d_1a_1x1", "Mixed_6a/Branch_0/Conv2d_1a_3x3"),
            ("Mixed_6a/Branch_1/Conv2d_1a_1x1", "Mixed_6a/Branch_1/Conv2d_1a_3x3"),
            ("Mixed_7b/Branch_1/Conv2d_0b_3x1", "Mixed_7b/Branch_1/Conv2d_0c_3x1"),
        ),
    ),
    "inception_v4": SlimNames(
        "InceptionV4",
        "Logits/Logits",
        aux_logits="AuxLogits/Aux_logits",
        renames=(("AuxLogits/Conv2d_2a", "AuxLogits/Conv2d_2a_5x5"),),
    ),
    # facenet's scopes (no ImageNet checkpoint exists; facenet's embedding
    # layer ``Bottleneck`` has no counterpart: pass ``exclude="Bottleneck"``).
    "inception_resnet_v1": SlimNames("InceptionResnetV1", "Logits", renames=_resnet_renames(6)),
    "inception_resnet_v2": SlimNames(
        "InceptionResnetV2", "Logits/Logits", renames=_resnet_renames(10)
    ),
}


def slim_names(model_name):
    """The ``SlimNames`` of a registered network.

    Raises:
        ValueError: no TF-slim naming is known for it.
    """
    try:
        return SLIM_NAMES[model_name]
    except KeyError:
        raise ValueError(
            f"No TF-slim variable names are known for this network; known: "
            f"{', '.join(sorted(SLIM_NAMES))}. Received: model_name={model_name!r}"
        ) from None


def variable_name(layer_name, variable, model_name):
    """TF-slim name of one of our variables, e.g.
    ``("mixed_6a_branch_0_conv2d_1a_3x3_conv", "kernel")`` ->
    ``"InceptionV3/Mixed_6a/Branch_0/Conv2d_1a_1x1/weights"``."""
    names = slim_names(model_name)
    return f"{names.scope}/{_slim_path(_unit(layer_name), names)}/{VARIABLES[variable]}"


def slim_variables(model, model_name):
    """``{TF-slim variable name: keras variable}`` for every variable of ``model``."""
    return {
        variable_name(layer.name, v.name, model_name): v
        for layer in model.layers
        for v in layer.weights
    }


def convert(checkpoint, model_name, *, label_offset=None, exclude=None):
    """Weights of a TF-slim checkpoint, keyed by our layer names.

    Args:
        checkpoint: a checkpoint prefix (``model.ckpt``, V1 or V2 format), its
            ``.index`` file, or a directory holding one checkpoint.
        model_name: registry name of the network the checkpoint belongs to.
        label_offset: index of the first real class in the classifier; default
            ``None``: 1 for 1001-class checkpoints (TF-slim's background class
            0), else 0.
        exclude: optional regular expression; variables it matches (searched in
            the full name) are skipped.

    Returns:
        A ``store.NamedWeights``; ``store.apply`` reports what is missing or
        unexpected by name.

    Raises:
        ValueError: the checkpoint cannot be read, or holds variables outside
            ``model_name``'s naming (listed).
    """
    names = slim_names(model_name)
    prefix = find_checkpoint(checkpoint)
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
    except _READ_ERRORS as error:
        raise ValueError(
            f"Cannot read a TF checkpoint at {prefix!r}: it is truncated, corrupt or not a "
            f"checkpoint ({files.one_line(error)}). Received: checkpoint={checkpoint!r}"
        ) from None
    wanted, unknown = {}, []
    budget = files.ByteBudget(prefix)
    for key in sorted(shapes):
        if _TRAINING_STATE.search(key) or (exclude and re.search(exclude, key)):
            continue
        parsed = _parse(key, names)
        if parsed is None:
            unknown.append(key)
            continue
        dtype = dtypes[key]
        if not (dtype.is_floating or dtype.is_integer):
            raise ValueError(
                f"Checkpoint variable {key!r} holds {dtype.name} data, not numbers. "
                f"Received: checkpoint={checkpoint!r}"
            )
        budget.take(np.prod(shapes[key], dtype=np.float64) * dtype.size, f"variable {key!r}")
        wanted[key] = parsed
    if unknown:
        raise ValueError(
            f"{len(unknown)} variables of the checkpoint are not {names.scope} "
            f"weights: {', '.join(unknown[:12])}. Received: checkpoint={checkpoint!r}"
        )
    units = {}
    for key, (path, variable) in wanted.items():
        try:
            units.setdefault(path, {})[variable] = reader.get_tensor(key)
        except _READ_ERRORS as error:
            raise ValueError(
                f"Cannot read variable {key!r} of the TF checkpoint at {prefix!r}: its data "
                f"file is truncated or corrupt ({files.one_line(error)}). "
                f"Received: checkpoint={checkpoint!r}"
            ) from None
    layers, origin = {}, {}
    for path, variables in units.items():
        unit = _our_unit(path, names)
        has_batch_norm = bool(_BATCH_NORM & set(variables))
        for variable, value in variables.items():
            if variable in _BATCH_NORM:
                layer = f"{unit}_bn"
            else:
                layer = f"{unit}_conv" if has_batch_norm else unit
            if _is_classifier(unit) and variable == "kernel" and value.ndim == 4:
                value = value.reshape(value.shape[-2:])
            layers.setdefault(layer, {})[variable] = value
            origin[layer] = f"{names.scope}/{path}"
    classes = _classes(layers)
    if label_offset is None:
        label_offset = 1 if classes == SLIM_IMAGENET_CLASSES else 0
    heads = tuple(
        sorted(unit for unit in layers if _is_classifier(unit) and unit != store.PREDICTIONS)
    )
    return store.NamedWeights(
        layers,
        classes=classes,
        label_offset=label_offset,
        heads=heads,
        source=str(checkpoint),
        origin=origin,
        source_names=lambda layer, variable: variable_name(layer, variable, model_name),
    )


def save_checkpoint(model, prefix, model_name, *, background_class=False):
    """Writes ``model``'s weights as a TF-slim checkpoint (V2 format).

    Args:
        model: one of our models.
        prefix: checkpoint prefix to write (``<prefix>.index`` and data).
        model_name: registry name of the network.
        background_class: prepend TF-slim's background class 0 to the
            classifiers, with zero weights and bias (logit 0), as the published
            1001-class checkpoints have it. Default False.

    Returns:
        ``prefix``.
    """
    names = slim_names(model_name)
    classifiers = {store.PREDICTIONS, *store.auxiliary_heads(model)}
    tensors = {}
    for layer in model.layers:
        for variable in layer.weights:
            value = np.asarray(variable)
            if layer.name in classifiers:
                if background_class:
                    pad = [(0, 0)] * (value.ndim - 1) + [(1, 0)]
                    value = np.pad(value, pad)
                if names.conv_logits and variable.name == "kernel":
                    value = value.reshape((1, 1) + value.shape)
            tensors[variable_name(layer.name, variable.name, model_name)] = value
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=list(tensors),
        shape_and_slices=[""] * len(tensors),
        tensors=list(tensors.values()),
    )
    return prefix


def is_checkpoint(path):
    """Whether ``path`` is a TF checkpoint: prefix, ``.index``, V1 file, or directory of one."""
    try:
        find_checkpoint(path)
    except ValueError:
        return False
    return True


def find_checkpoint(path):
    """The checkpoint prefix that ``path`` names.

    Raises:
        ValueError: ``path`` names no checkpoint, or a directory with several.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        found = tf.train.latest_checkpoint(path) or _single_checkpoint(path)
        if found:
            return found
    elif path.endswith(".index") and os.path.isfile(path):
        return path[: -len(".index")]
    elif ".data-" in os.path.basename(path) and os.path.isfile(path):
        return path[: path.rindex(".data-")]
    elif os.path.isfile(f"{path}.index") or (os.path.isfile(path) and _is_v1(path)):
        return path
    raise ValueError(
        "Expected a TF checkpoint: a prefix with a .index file, a V1 .ckpt file, "
        f"or a directory holding one. Received: checkpoint={path!r}"
    )


def is_archive(path):
    """Whether ``path`` is a tar archive (the TF-slim ``.tar.gz`` releases), maybe compressed.

    A gzip, bzip2 or xz file counts as an archive without being opened, so
    that a truncated one is reported as such by ``extract_checkpoint``.
    """
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(_TAR_MAGIC_OFFSET + len(_TAR_MAGIC))
    if head.startswith(tuple(_DECOMPRESSORS)):
        return True
    return head[_TAR_MAGIC_OFFSET:].startswith(_TAR_MAGIC)


def extract_checkpoint(archive, directory, *, limit=None):
    """Extracts the checkpoint files of a TF-slim ``.tar.gz`` into ``directory``.

    Only regular checkpoint files are extracted, each under its base name; an
    archive with a member that could write outside ``directory`` if extracted
    (an absolute path, a ``..`` component, a link, a device or FIFO) is
    refused whole, as is one whose content expands past ``limit`` bytes
    (default ``files.MAX_WEIGHTS_BYTES``) or that is truncated or corrupt.

    Returns:
        The checkpoint prefix.

    Raises:
        ValueError: the archive is refused; the message says why.
    """
    archive = os.fspath(archive)
    budget = files.ByteBudget(archive, limit)
    extracted = set()
    with files.reading(archive, "TF-slim archive"), _BoundedReader(archive, budget) as stream:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar, 1):
                problem = _unsafe_member(member)
                if problem or count > _MAX_MEMBERS:
                    raise ValueError(
                        f"Refusing archive {archive!r}: "
                        + (
                            f"member {member.name!r} {problem}."
                            if problem
                            else f"more than {_MAX_MEMBERS} members."
                        )
                    )
                name = os.path.basename(member.name)
                if not (member.isfile() and _CHECKPOINT_FILE.search(name)):
                    continue
                if name in extracted:
                    raise ValueError(
                        f"Refusing archive {archive!r}: two members are named {name!r}."
                    )
                extracted.add(name)
                target = os.path.join(directory, name)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                with (
                    tar.extractfile(member) as src,
                    os.fdopen(os.open(target, flags, 0o600), "wb") as dst,
                ):
                    while chunk := src.read(_READ_CHUNK):
                        dst.write(chunk)
        # Read to the end, so that the decompressor checks the stream's CRC.
        while stream.read(_READ_CHUNK):
            pass
    return find_checkpoint(directory)


def convert_archive(archive, model_name, **kwargs):
    """``convert`` on the checkpoint inside a TF-slim ``.tar.gz``, extracted to a scratch dir."""
    with files.scratch_dir("keras_inception_slim") as directory:
        prefix = extract_checkpoint(archive, directory)
        try:
            weights = convert(prefix, model_name, **kwargs)
        except ValueError as error:
            message = str(error).replace(directory + os.sep, "")
            raise ValueError(f"In archive {os.fspath(archive)!r}: {message}") from None
    weights.source = str(archive)
    return weights


def _unsafe_member(member):
    """Why extracting ``member`` as named could escape or harm, or ``None``."""
    parts = member.name.replace("\\", "/").split("/")
    if member.name.startswith("/") or os.path.isabs(member.name):
        return "has an absolute path"
    if ".." in parts:
        return "has a '..' component"
    if member.issym() or member.islnk():
        return f"is a link (to {member.linkname!r})"
    if not (member.isfile() or member.isdir()):
        return "is a device, FIFO or other special file"
    return None


class _BoundedReader:
    """The decompressed bytes of an archive, refusing to read past a ``ByteBudget``."""

    def __init__(self, path, budget):
        with open(path, "rb") as f:
            head = f.read(6)
        opener = next((op for magic, op in _DECOMPRESSORS.items() if head.startswith(magic)), open)
        self._file = opener(path, "rb")
        self._budget = budget

    def read(self, size=-1):
        data = self._file.read(size if size is not None and size >= 0 else _READ_CHUNK)
        self._budget.take(len(data), "its decompressed content")
        return data

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _unit(layer_name):
    for suffix in ("_conv", "_bn"):
        if layer_name.endswith(suffix):
            return layer_name[: -len(suffix)]
    return layer_name


def _is_classifier(unit):
    return unit == store.PREDICTIONS or re.fullmatch(r"aux(_\d+)?", unit) is not None


def _slim_path(unit, names):
    """Our unit name -> TF-slim unit path."""
    if unit == store.PREDICTIONS:
        return names.logits
    if unit == "aux":
        return names.aux_logits
    if re.fullmatch(r"aux_\d+", unit):
        return f"AuxLogits{unit[3:]}/Logits"
    parts, rest = [], unit
    while match := _CONTAINER.match(rest):
        parts.append(_slim_case(match.group(1)))
        rest = rest[match.end() :]
    if rest:
        parts.append(rest[:1].upper() + rest[1:])
    return _rename("/".join(parts), names.renames, to_slim=True)


def _our_unit(path, names):
    """TF-slim unit path -> our unit name."""
    if path == names.logits:
        return store.PREDICTIONS
    if path == names.aux_logits:
        return "aux"
    aux = _AUX_CLASSIFIER.fullmatch(path)
    if aux:
        return f"aux{aux.group(1) or ''}"
    path = _rename(path, names.renames, to_slim=False)
    return re.sub(r"^AuxLogits", "aux", path).replace("/", "_").lower()


def _slim_case(component):
    """``mixed_5b`` -> ``Mixed_5b``, ``branch_0`` -> ``Branch_0``, ``aux`` -> ``AuxLogits``."""
    if component.startswith("aux"):
        return "AuxLogits" + component[3:]
    if component.startswith(("mixed", "branch")):
        return component[:1].upper() + component[1:]
    return component


def _rename(path, renames, *, to_slim):
    for slim_path, our_path in renames:
        source, target = (our_path, slim_path) if to_slim else (slim_path, our_path)
        pattern = re.escape(source).replace(r"\{n\}", r"(?P<n>\d+)") + r"(?=/|$)"
        match = re.match(pattern, path)
        if match:
            return target.format(**match.groupdict()) + path[match.end() :]
    return path


def _parse(key, names):
    """``(unit path, keras variable)`` of a checkpoint key, or ``None`` if it is not a weight."""
    prefix = f"{names.scope}/"
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    for variable, suffix in VARIABLES.items():
        if rest.endswith(f"/{suffix}"):
            return rest[: -len(suffix) - 1], variable
    return None


def _classes(layers):
    bias = layers.get(store.PREDICTIONS, {}).get("bias")
    return None if bias is None else int(bias.shape[-1])


def _single_checkpoint(directory):
    prefixes = {
        os.path.join(directory, name[: -len(".index")])
        for name in os.listdir(directory)
        if name.endswith(".index")
    } | {
        os.path.join(directory, name)
        for name in os.listdir(directory)
        if name.endswith(".ckpt") and _is_v1(os.path.join(directory, name))
    }
    return prefixes.pop() if len(prefixes) == 1 else None


def _is_v1(path):
    """Whether ``path`` is a V1 (single-file) checkpoint that TensorFlow can read."""
    try:
        tf.train.load_checkpoint(path)
    except _READ_ERRORS:
        return False
    return True
