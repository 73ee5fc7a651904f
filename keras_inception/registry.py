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
        input_resolutions: ``{input_resolution: min_size}`` for a builder
            with an ``input_resolution`` argument (Inception-v3's stems of its
            paper's Sec. 9): each accepted value, which is also that stem's
            default input size, and that stem's smallest input. Empty (the
            default) for the others. See ``at_resolution``.
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
    input_resolutions: dict = dataclasses.field(default_factory=dict)

    def at_resolution(self, input_resolution):
        """The spec of the network built with ``input_resolution``.

        Its ``default_size`` and ``min_size`` are those of that stem; the
        other facts are shared (the stems change strides and pooling, not
        weights). ``None``, or the default size itself, gives this spec.

        Raises:
            ValueError: the network has no such stem.
        """
        if input_resolution is None:
            return self
        choices = tuple(self.input_resolutions) or (self.default_size,)
        is_int = isinstance(input_resolution, int) and not isinstance(input_resolution, bool)
        if not is_int or input_resolution not in choices:
            raise ValueError(
                f"`input_resolution` of {self.name} must be one of {choices}. "
                f"Received: input_resolution={input_resolution!r}"
            )
        if input_resolution == self.default_size:
            return self
        return dataclasses.replace(
            self, default_size=input_resolution,
            min_size=self.input_resolutions[input_resolution],
        )


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


def _registered():
    """Every builder's specs: importing ``keras_inception.models`` registers them.

    ``import keras_inception`` is lazy (PEP 562), so a caller of this module
    may come before any builder is imported.
    """
    import keras_inception.models  # noqa: F401

    return _REGISTRY


def list_models():
    """Names of all registered networks, sorted."""
    return sorted(_registered())


def get_spec(name):
    """The ``ModelSpec`` of a registered network."""
    try:
        return _registered()[name]
    except KeyError:
        raise ValueError(
            f"Unknown model. Available models: {', '.join(list_models())}. "
            f"Received: name={name!r}"
        ) from None


def get_model(name, **kwargs):
    """Builds a registered network: ``get_model("inception_v3", classes=10)``."""
    return get_spec(name).builder(**kwargs)
