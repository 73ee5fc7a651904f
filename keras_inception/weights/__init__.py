"""Loading weights into a freshly built model."""

import os


def load_weights(model, weights, *, model_name, variant, include_top, classes):
    """Loads ``weights`` (a file path) into ``model``.

    Raises:
        ValueError: the weights are unknown or do not fit the model.
    """
    del model_name, variant, include_top, classes
    if os.path.exists(weights):
        model.load_weights(weights)
        return model
    raise ValueError(
        "`weights` must be None or the path of an existing weights file. "
        f"Received: weights={weights!r}"
    )
