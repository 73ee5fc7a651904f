"""The model registry: every network by its name, with its published facts.

``list_models()`` and ``get_model(name, **kwargs)`` are what the CLI, the tests
and the training/export code speak; each builder registers itself with a
``ModelSpec`` holding the facts that the rest of the package needs (default and
minimum input size, final grid, auxiliary-loss weight, feature endpoints).
"""

import dataclasses

_REGISTRY = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Published facts about one network.

    Attributes:
        name: registry name, e.g. ``"inception_v3"``.
        builder: the public builder function.
        paper: the paper the network comes from.
        default_size: default (and ImageNet-weights) input size in pixels.
        min_size: smallest input size the graph accepts.
        final_grid: ``(size, channels)`` of the last feature map at ``default_size``.
        num_params: ``count_params()`` with the 1000-class top, no aux head.
        num_params_aux: the same with the auxiliary head(s), or ``None``.
        aux_loss_weight: weight of each auxiliary loss in the papers.
        endpoints: feature endpoints ``{label: layer_name}``, finest first.
        variants: accepted values of the builder's ``variant`` argument.
    """

    name: str
    builder: object
    paper: str
    default_size: int
    min_size: int
    final_grid: tuple
    num_params: int
    num_params_aux: int = None
    aux_loss_weight: float = 0.4
    endpoints: dict = dataclasses.field(default_factory=dict)
    variants: tuple = ("released",)


def register_model(**facts):
    """Decorator that registers a builder: ``@register_model(name=..., ...)``."""

    def wrap(builder):
        spec = ModelSpec(builder=builder, **facts)
        if spec.name in _REGISTRY:
            raise ValueError(f"Model {spec.name!r} is already registered.")
        _REGISTRY[spec.name] = spec
        builder.spec = spec
        return builder

    return wrap


def list_models():
    """Names of all registered networks, sorted."""
    return sorted(_REGISTRY)


def get_spec(name):
    """The ``ModelSpec`` of a registered network."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model. Available models: {', '.join(list_models())}. "
            f"Received: name={name!r}"
        ) from None


def get_model(name, **kwargs):
    """Builds a registered network: ``get_model("inception_v3", classes=10)``."""
    return get_spec(name).builder(**kwargs)
