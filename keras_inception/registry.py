"""The model registry: every network by its name, with its published facts.

``list_models()`` and ``get_model(name, **kwargs)`` are what the CLI, the tests
and the training/export code speak; each builder registers (in
``keras_inception.specs``) one ``ModelSpec`` per variant holding the facts that
the rest of the package needs (default and minimum input size, final grid,
parameter counts, auxiliary taps, feature endpoints). ``spec_of(model)`` finds
the spec a model was built from.
"""

from keras_inception import specs
from keras_inception.specs import ModelSpec
from keras_inception.specs import register_model


def _registered():
    """Every builder's specs: importing ``keras_inception.models`` registers them.

    ``import keras_inception`` is lazy (PEP 562), so a caller of this module
    may come before any builder is imported.
    """
    import keras_inception.models  # noqa: F401

    return specs.registered()


def list_models():
    """Names of all registered networks, sorted."""
    return sorted(_registered())


def list_specs():
    """The ``ModelSpec`` of every ``(network, variant)`` pair, by name then variant."""
    return [spec for name in list_models() for spec in specs.registered()[name].values()]


def get_spec(name, variant="released"):
    """The ``ModelSpec`` of a registered network's variant (the released one by default).

    Raises:
        ValueError: no such network or variant.
    """
    _registered()
    return specs.variant_spec(name, variant)


def spec_of(model):
    """The ``ModelSpec`` a model was built from, read from its marker layer.

    Works on a model reloaded from a ``.keras`` file and whatever its
    ``name``; a model not built by a builder of this package has no marker.

    Raises:
        ValueError: ``model`` holds no marker layer.
    """
    markers = {spec.marker: spec for spec in list_specs()}
    for layer in model.layers:
        if layer.name in markers:
            return markers[layer.name]
    raise ValueError(
        "This model was not built by a keras_inception builder (it has no "
        f"layer named like {list_specs()[0].marker!r}). Received: model.name={model.name!r}"
    )


def get_model(network, /, **kwargs):
    """Builds a registered network: ``get_model("inception_v3", classes=10, name="mine")``."""
    return get_spec(network).builder(**kwargs)


__all__ = [
    "ModelSpec",
    "get_model",
    "get_spec",
    "list_models",
    "list_specs",
    "register_model",
    "spec_of",
]
