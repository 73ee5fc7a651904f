"""Multi-scale feature maps from any network of the family, by name.

The network and variant come from the model's marker layer
(``registry.spec_of``), not from its name, so a model built with ``name=``
or reloaded from a ``.keras`` file works as well. Layer names may be ours or,
for the two networks keras.applications also builds (Inception-v3 and
Inception-ResNet-v2, released variants), keras.applications' (``"mixed7"``,
``"block17_10_ac"``, ``"conv_7b"``); docs/architectures.md lists the map.
"""

import keras

from keras_inception import registry


def default_endpoints(model):
    """The spec's endpoints ``{label: layer_name}`` of a model built by this package.

    Raises:
        ValueError: ``model`` was not built by a builder of this package.
    """
    try:
        return dict(registry.spec_of(model).endpoints)
    except ValueError as error:
        raise ValueError(f"{error} Pass `endpoints` explicitly.") from None


def layer_name(model, name):
    """Our name for a layer given by our name or keras.applications' name.

    A name the model has is returned as it is; otherwise the spec's
    keras.applications map translates it.
    """
    if any(layer.name == name for layer in model.layers):
        return name
    try:
        spec = registry.spec_of(model)
    except ValueError:
        return name
    return spec.keras_applications_names.get(name, name)


def feature_extractor(model, endpoints=None):
    """A model returning named feature maps of ``model`` (weights shared).

    Args:
        model: a model built by this package (with or without top), any
            variant, whatever its ``name``.
        endpoints: ``None`` (default) for the network's standard pyramid
            (``{"P1": ..., "P5": ...}``, stride 2 to 32, from its spec), a
            list of layer names, or a dict ``{label: layer_name}``. Layer
            names are ours or keras.applications' (Inception-v3 ``mixed0`` ..
            ``mixed10``; Inception-ResNet-v2 ``block35_10_ac``, ``conv_7b``, ...).

    Returns:
        A ``keras.Model`` whose outputs are a dict ``{label: feature_map}``.

    Raises:
        ValueError: a layer is not in the model, or ``endpoints`` is ``None``
            for a model that was not built by this package.
    """
    if endpoints is None:
        endpoints = default_endpoints(model)
    elif not isinstance(endpoints, dict):
        endpoints = {name: name for name in endpoints}
    outputs = {}
    for label, name in endpoints.items():
        try:
            outputs[label] = model.get_layer(layer_name(model, name)).output
        except ValueError:
            raise ValueError(
                f"No layer named {name!r} in model {model.name!r}. "
                f"Received: endpoints={endpoints!r}"
            ) from None
    return keras.Model(model.inputs, outputs, name=f"{model.name}_features")
