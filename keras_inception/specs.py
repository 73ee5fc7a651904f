"""What the registry knows about each network: one ``ModelSpec`` per (network, variant).

The builders of ``keras_inception.models`` register themselves here with
``register_model``; ``keras_inception.registry`` looks them up. This module
imports nothing of the package, so the builders and the registry both depend
on it and not on each other.
"""

import dataclasses

_REGISTRY = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Published facts about one variant of one network.

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
        variants: every value the builder's ``variant`` argument accepts.
        input_resolutions: ``{input_resolution: min_size}`` for a builder
            with an ``input_resolution`` argument (Inception-v3's stems of its
            paper's Sec. 9): each accepted value, which is also that stem's
            default input size, and that stem's smallest input. Empty (the
            default) for the others. See ``at_resolution``.
        variant: the variant this spec describes, default ``"released"``.
        aux_taps: ``{auxiliary output name: layer_name}``, the map each
            auxiliary head reads.
        keras_applications_names: ``{keras.applications layer name: ours}``
            for the variant that keras.applications also builds, else empty.
        macs: multiply-adds at ``default_size`` in billions (``model_macs``,
            two decimals), or ``None``.
        accuracy: published ImageNet accuracy where no weights record holds
            one (e.g. a paper's table), else ``""``.
        title: the network's usual name, e.g. ``"GoogLeNet (Inception-v1)"``;
            default ``""`` (then ``name``).
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
    variant: str = "released"
    aux_taps: dict = dataclasses.field(default_factory=dict)
    keras_applications_names: dict = dataclasses.field(default_factory=dict)
    macs: float = None
    accuracy: str = ""
    title: str = ""

    @property
    def marker(self):
        """The name of the layer that ties a built model to this spec (see ``spec_of``).

        The builders name the model's input layer so (or, on an
        ``input_tensor`` of the caller's, an ``Identity`` layer right after
        it); it is a plain layer name, so it survives ``.keras`` files.
        """
        return f"{self.name}_{self.variant}_image"

    def for_variant(self, variant):
        """The spec of another variant of the same network.

        Raises:
            ValueError: the network has no such variant.
        """
        return variant_spec(self.name, variant)

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
            self,
            default_size=input_resolution,
            min_size=self.input_resolutions[input_resolution],
        )


def register_model(*, variants=None, **facts):
    """Decorator that registers a builder: ``@register_model(name=..., ...)``.

    ``facts`` are those of the released variant; ``variants`` maps each
    variant name to the facts in which it differs (``{"released": {},
    "paper": {"num_params": ...}}``), default only ``"released"``. The
    builder's ``spec`` attribute is the released variant's.
    """
    variants = {"released": {}} if variants is None else dict(variants)

    def wrap(builder):
        name = facts["name"]
        if name in _REGISTRY:
            raise ValueError(f"Model {name!r} is already registered.")
        base = ModelSpec(builder=builder, variants=tuple(variants), **facts)
        _REGISTRY[name] = {
            variant: dataclasses.replace(base, variant=variant, **overrides)
            for variant, overrides in variants.items()
        }
        builder.spec = _REGISTRY[name]["released"]
        return builder

    return wrap


def registered():
    """``{name: {variant: ModelSpec}}`` of the builders registered so far."""
    return _REGISTRY


def variant_spec(name, variant):
    """The registered spec of ``name``'s ``variant``.

    Raises:
        ValueError: no such network or variant is registered.
    """
    try:
        variants = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model. Available models: {', '.join(sorted(_REGISTRY))}. "
            f"Received: name={name!r}"
        ) from None
    try:
        return variants[variant]
    except (KeyError, TypeError):
        raise ValueError(
            f"`variant` must be one of {tuple(variants)}. Received: variant={variant!r}"
        ) from None
