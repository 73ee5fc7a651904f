"""Multi-scale feature maps from any network of the family, by name."""

import keras

from keras_inception import registry


def default_endpoints(model):
    """The registry's endpoints ``{label: layer_name}`` for a model built by this package."""
    for name in registry.list_models():
        spec = registry.get_spec(name)
        if model.name == name or model.name.startswith(name + "_"):
            return dict(spec.endpoints)
    raise ValueError(
        "Cannot tell which network this is from its name; pass `endpoints` "
        f"explicitly. Received: model.name={model.name!r}"
    )


def feature_extractor(model, endpoints=None):
    """A model returning named feature maps of ``model`` (weights shared).

    Args:
        model: a model built by this package (with or without top).
        endpoints: ``None`` for the network's standard pyramid
            (``{"P1": ..., "P5": ...}``, stride 2 to 32), a list of layer
            names, or a dict ``{label: layer_name}``.

    Returns:
        A ``keras.Model`` whose outputs are a dict ``{label: feature_map}``.
    """
    if endpoints is None:
        endpoints = default_endpoints(model)
    elif not isinstance(endpoints, dict):
        endpoints = {layer_name: layer_name for layer_name in endpoints}
    outputs = {}
    for label, layer_name in endpoints.items():
        try:
            outputs[label] = model.get_layer(layer_name).output
        except ValueError:
            raise ValueError(
                f"No layer named {layer_name!r} in model {model.name!r}. "
                f"Received: endpoints={endpoints!r}"
            ) from None
    return keras.Model(model.inputs, outputs, name=f"{model.name}_features")
