"""The model zoo table: one row per network of a variant, from the specs and the weights registry.

``keras-inception models`` prints it and the README shows it
(tests/test_zoo.py keeps the two equal).
"""

import dataclasses

from keras_inception import registry
from keras_inception.weights import registry as weights_registry

# How the table names the publishers of weights records.
PUBLISHERS = {"keras.applications": "Keras", "tf-slim": "TF-slim"}
COLUMNS = (
    "network",
    "registry name",
    "params",
    "multiply-adds",
    "default input",
    "min input",
    "final grid",
    "top-1 / top-5 (source)",
)


@dataclasses.dataclass(frozen=True)
class ZooRow:
    """One network of the table; ``macs`` in billions, ``accuracy`` as printed."""

    title: str
    name: str
    variant: str
    num_params: int
    macs: float
    default_size: int
    min_size: int
    final_grid: str
    accuracy: str


def accuracy(spec):
    """Published top-1 / top-5 of the spec's weights (default record first), or the spec's own."""
    records = [r for r in weights_registry.list_weights(spec.name) if r.variant == spec.variant]
    records.sort(key=lambda r: not r.default)
    published = "; ".join(
        f"{r.top1} / {r.top5} ({PUBLISHERS.get(r.source, r.source)})" for r in records
    )
    return published or spec.accuracy or "—"


def zoo_rows(variant="released"):
    """The rows of every network that has ``variant``, in registry order."""
    rows = []
    specs = sorted(
        registry.list_specs(), key=lambda s: (s.name.startswith("inception_resnet"), s.name)
    )
    for spec in specs:
        if spec.variant != variant:
            continue
        size, channels = spec.final_grid
        rows.append(
            ZooRow(
                title=spec.title,
                name=spec.name,
                variant=spec.variant,
                num_params=spec.num_params,
                macs=spec.macs,
                default_size=spec.default_size,
                min_size=spec.min_size,
                final_grid=f"{size}×{size}×{channels}",
                accuracy=accuracy(spec),
            )
        )
    return rows


def zoo_markdown(variant="released"):
    """The table as Markdown, as the README shows it."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in zoo_rows(variant):
        macs = "—" if row.macs is None else f"{row.macs:.2f} G"
        lines.append(
            f"| {row.title} | `{row.name}` | {row.num_params:,} | {macs} | "
            f"{row.default_size} | {row.min_size} | {row.final_grid} | {row.accuracy} |"
        )
    return "\n".join(lines)


__all__ = ["ZooRow", "zoo_markdown", "zoo_rows"]
