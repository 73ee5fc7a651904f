"""Weights keyed by our layer names, their file format, and putting them into a model.

Every converter produces a ``NamedWeights``: ``{layer name: {variable name:
array}}`` in this package's naming, plus what the classifier holds (its
width, the label offset of TF-slim's background class, the auxiliary heads).
``apply`` is the one place where weights enter a model: it checks everything
first (missing, unexpected and mis-shaped variables, all reported by name) and
assigns only when nothing is wrong, so a failed load leaves the model as it was.

Converted files (``keras-inception convert``, the cache of converted TF-slim
checkpoints) are HDF5 files holding ``layers/<layer>/<variable>`` datasets and
the metadata as attributes, with the sha256 of their content as an attribute
and the sha256 of the whole file in a ``<file>.sha256`` sidecar; both are
checked on every load. They are keyed by layer name, so one file fills a
model with or without its classifier or auxiliary heads; load them with
``weights=PATH``, not with ``keras.Model.load_weights``.
"""

import dataclasses
import hashlib
import json
import os
import warnings

import h5py
import numpy as np

from keras_inception.weights import files

FORMAT = "keras_inception.named_weights.v1"
PREDICTIONS = "predictions"
# How many names an error message lists before it only counts the rest.
_LISTED = 12


@dataclasses.dataclass
class NamedWeights:
    """Weights keyed by this package's layer names.

    Attributes:
        layers: ``{layer name: {variable name: numpy array}}``.
        classes: width of the classifier(s) in the source, or ``None`` if it has none.
        label_offset: index of the first real class in the classifier (1 for
            TF-slim's background class 0), default 0.
        heads: names of the auxiliary heads the source holds, default ``()``.
        source: where the weights come from, for messages.
        source_names: optional ``(layer, variable) -> name in the source`` for
            messages about variables the source lacks.
        origin: ``{layer name: name in the source}``, for messages.
    """

    layers: dict
    classes: int = None
    label_offset: int = 0
    heads: tuple = ()
    source: str = ""
    source_names: object = None
    origin: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_model(cls, model, *, label_offset=0, source=""):
        """The weights of ``model`` (every layer that has some)."""
        layers = {
            layer.name: {v.name: np.asarray(v) for v in layer.weights}
            for layer in model.layers
            if layer.weights
        }
        classes = layers[PREDICTIONS]["kernel"].shape[-1] if PREDICTIONS in layers else None
        return cls(
            layers,
            classes=classes,
            label_offset=label_offset,
            heads=auxiliary_heads(model),
            source=source or model.name,
        )

    def save(self, path):
        """Writes the converted-weights file and its ``.sha256`` sidecar.

        The file is written atomically (a partial file never appears under
        ``path``) and holds the sha256 of its own content; the sidecar, the
        sha256 of the whole file, is published only once the file is complete,
        so a file without one was cut short by a crash (``load`` checks both).

        Returns:
            ``path``.
        """
        sidecar = files.checksum_path(path)
        if os.path.lexists(sidecar):
            os.remove(sidecar)

        def write(temporary):
            with h5py.File(temporary, "w") as f:
                f.attrs["format"] = FORMAT
                f.attrs["classes"] = -1 if self.classes is None else self.classes
                f.attrs["label_offset"] = self.label_offset
                f.attrs["heads"] = json.dumps(list(self.heads))
                f.attrs["source"] = self.source
                f.attrs["content_sha256"] = self.content_digest()
                group = f.create_group("layers")
                for layer, variables in self.layers.items():
                    for name, value in variables.items():
                        group.create_dataset(f"{layer}/{name}", data=value)

        files.write_atomic(path, write, fault="convert.weights")
        files.write_checksum(path)
        return path

    def content_digest(self):
        """sha256 of the arrays (names, dtypes, shapes, bytes) and the classifier metadata."""
        hasher = hashlib.sha256()
        meta = [self.classes, self.label_offset, list(self.heads)]
        hasher.update(json.dumps(meta).encode())
        for layer in sorted(self.layers):
            for name in sorted(self.layers[layer]):
                value = np.ascontiguousarray(self.layers[layer][name])
                header = json.dumps([layer, name, value.dtype.str, list(value.shape)])
                hasher.update(header.encode())
                hasher.update(value)
        return hasher.hexdigest()

    @classmethod
    def load(cls, path):
        """Reads a converted-weights file written by ``save``, checking its checksums.

        Raises:
            ValueError: ``path`` is not such a file, is truncated or corrupt, or
                does not match its ``.sha256`` sidecar or its content digest.
        """
        path = os.fspath(path)
        expected = files.read_checksum(path)
        if expected is not None:
            files.verify_checksum(path, expected)
        with files.reading(path, "converted-weights file"), h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise ValueError(
                    f"Not a keras_inception converted-weights file. Received: path={path!r}"
                )
            files.vet_hdf5(f, path)
            layers = {}
            for layer, group in f["layers"].items():
                if not isinstance(group, h5py.Group) or not all(
                    isinstance(item, h5py.Dataset) for item in group.values()
                ):
                    raise ValueError(
                        f"Cannot read converted-weights file {path!r}: layers/{layer} is "
                        "not a group of variables."
                    )
                layers[layer] = {name: np.asarray(item[()]) for name, item in group.items()}
            try:
                classes = int(f.attrs["classes"])
                weights = cls(
                    layers,
                    classes=None if classes < 0 else classes,
                    label_offset=int(f.attrs["label_offset"]),
                    heads=tuple(json.loads(f.attrs["heads"])),
                    source=str(f.attrs["source"]),
                )
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"Cannot read converted-weights file {path!r}: bad metadata "
                    f"({files.one_line(error)})."
                ) from None
            recorded = f.attrs.get("content_sha256")
        if recorded is not None and recorded != weights.content_digest():
            raise ValueError(
                f"Refusing to load {path!r}: its arrays do not match the digest recorded "
                "when it was written; the file is corrupt. Delete it (and its .sha256 "
                "sidecar) and convert the weights again."
            )
        return weights


def auxiliary_heads(model):
    """Names of ``model``'s auxiliary outputs (its dict outputs besides ``predictions``)."""
    outputs = model.output
    if not isinstance(outputs, dict):
        return ()
    return tuple(sorted(name for name in outputs if name != PREDICTIONS))


def in_heads(layer_name, heads):
    """Whether a layer belongs to one of ``heads`` (named ``<head>`` or ``<head>_...``)."""
    return any(layer_name == h or layer_name.startswith(f"{h}_") for h in heads)


def apply(model, weights):
    """Puts ``weights`` (a ``NamedWeights``) into ``model``, or changes nothing.

    Classifier weights are fitted to the model: a source with TF-slim's
    background class (``label_offset=1``, 1001 classes) fills a 1000-class
    model with the background row dropped, or a 1001-class model as is. The
    classifier and auxiliary heads of the source are dropped when the model
    has none. Auxiliary heads of the model that the source lacks (e.g.
    ``keras.applications`` weights) keep their random initialisation, with a
    warning.

    Returns:
        ``{"assigned": number of variables, "dropped": [layers of the source
        the model has no use for], "random": [heads left randomly initialised]}``.

    Raises:
        ValueError: variables are missing, unexpected, of the wrong shape or
            hold NaN, infinite or non-numeric values, or the classifier's classes
            do not fit; every offending name is listed.
    """
    heads = auxiliary_heads(model)
    classifiers = {PREDICTIONS, *heads}
    source_top = {PREDICTIONS, *weights.heads}
    missing, mismatched, unexpected, unusable, assignments = [], [], [], [], []
    random_heads = set()
    present = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        present.add(layer.name)
        values = weights.layers.get(layer.name)
        head_not_in_source = in_heads(layer.name, heads) and not in_heads(layer.name, weights.heads)
        if values is None and head_not_in_source:
            random_heads.update(h for h in heads if in_heads(layer.name, (h,)))
            continue
        values = values or {}
        for variable in layer.weights:
            value = values.get(variable.name)
            if value is None:
                missing.append(_describe(weights, layer.name, variable.name))
                continue
            value = np.asarray(value)
            if value.dtype.kind not in "biuf" or (
                value.dtype.kind == "f" and not np.isfinite(value).all()
            ):
                unusable.append(f"{variable.path} ({_source_name(weights, layer.name)})")
                continue
            if layer.name in classifiers:
                value = _fit_classes(value, variable.shape, weights, layer.name)
            if tuple(value.shape) != tuple(variable.shape):
                mismatched.append(
                    f"{variable.path}: {_source_name(weights, layer.name)} has shape "
                    f"{tuple(value.shape)}, the model {tuple(variable.shape)}"
                )
            else:
                assignments.append((variable, value))
        unexpected.extend(
            f"{_source_name(weights, layer.name)}/{name}"
            for name in values
            if name not in {v.name for v in layer.weights}
        )
    dropped = sorted(
        name for name in weights.layers if name not in present and in_heads(name, source_top)
    )
    unexpected.extend(
        _source_name(weights, name)
        for name in weights.layers
        if name not in present and not in_heads(name, source_top)
    )
    problems = [
        (missing, "missing from the weights"),
        (unexpected, "in the weights but not in the model"),
        (mismatched, "of the wrong shape"),
        (unusable, "holding NaN, infinite or non-numeric values"),
    ]
    if any(names for names, _ in problems):
        report = "; ".join(
            f"{len(names)} {what}: {_listing(names)}" for names, what in problems if names
        )
        raise ValueError(
            f"The weights do not fit model {model.name!r}: {report}. "
            f"Received: weights={weights.source!r}"
        )
    for variable, value in assignments:
        variable.assign(value)
    if random_heads:
        warnings.warn(
            f"{weights.source!r} holds no weights for the auxiliary head(s) "
            f"{sorted(random_heads)}; they keep their random initialisation.",
            stacklevel=3,
        )
    return {"assigned": len(assignments), "dropped": dropped, "random": sorted(random_heads)}


def _fit_classes(value, shape, weights, layer_name):
    """The classifier variable ``value`` with its class axis fitted to ``shape``."""
    have, want = value.shape[-1], shape[-1]
    if have == want:
        return value
    if weights.label_offset and have - weights.label_offset == want:
        return value[..., weights.label_offset :]
    real = have - weights.label_offset
    options = f"{have}"
    if weights.label_offset:
        options = f"{real} or {have} (keeping the background class 0)"
    raise ValueError(
        f"The classifier {layer_name!r} of {weights.source!r} has {have} classes: "
        f"build the model with `classes={options}`, or with `include_top=False` "
        f"to fine-tune a new classifier. Received: classes={want}"
    )


def _source_name(weights, layer_name):
    return weights.origin.get(layer_name, layer_name)


def _describe(weights, layer_name, variable_name):
    where = f"{layer_name}/{variable_name}"
    if weights.source_names is None:
        return where
    return f"{where} ({weights.source_names(layer_name, variable_name)})"


def _listing(names):
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown} and {len(names) - _LISTED} more"
