"""``keras-inception evaluate``: accuracy of a model or an ensemble, 1 to 144 crops per image."""

import json

from keras_inception.cli import add_precision_argument
from keras_inception.image_header import DEFAULT_MAX_PIXELS


def register(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="top-1/top-5 accuracy of a model or an ensemble (1, 10, 12 or 144 crops)",
        description="Evaluate one model, or an ensemble averaging the softmax of "
        "several, on a data source with the papers' single-crop or multi-crop "
        "protocol. Writes evaluation.json, evaluation.md and (up to 50 classes) "
        "confusion_matrix.png to --out.",
    )
    parser.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="a .keras file, a run directory, a SavedModel directory, a .tflite file "
        "or a registry name (ImageNet weights); several make an ensemble",
    )
    parser.add_argument(
        "--data",
        required=True,
        help="class-folder directory, TFRecords, tfds:NAME or digits",
    )
    parser.add_argument(
        "--crops",
        type=int,
        default=1,
        choices=(1, 10, 12, 144),
        help="crops per image (default 1: the central crop)",
    )
    parser.add_argument(
        "--split",
        default="validation",
        choices=("train", "validation"),
        help="split of the source (default validation)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="largest batch a model sees, crops included (default 32)",
    )
    parser.add_argument(
        "--max-images",
        type=int,
        default=None,
        help="evaluate only the first N images (default all)",
    )
    parser.add_argument(
        "--label-offset",
        type=int,
        default=0,
        help="subtracted from TFRecord labels (1 for TF-slim ImageNet records)",
    )
    parser.add_argument(
        "--out", default="evaluation", help="directory for the reports (default ./evaluation)"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="images of more pixels (read from the header) are skipped or refused, "
        "never decoded (default %(default)s)",
    )
    add_precision_argument(parser, "Keras models")
    parser.add_argument("--json", action="store_true", help="print the JSON summary")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args):
    from keras_inception import evaluation

    result = evaluation.evaluate(
        args.models,
        args.data,
        crops=args.crops,
        batch_size=args.batch_size,
        split=args.split,
        max_images=args.max_images,
        label_offset=args.label_offset,
        verbose=0 if args.quiet else 1,
        max_pixels=args.max_pixels,
        precision=args.precision,
    )
    paths = result.save(args.out)
    if args.json:
        summary = result.to_dict()
        summary.pop("per_class")
        summary.pop("confusion_matrix", None)
        print(json.dumps(summary, indent=2))
    else:
        print(evaluation.markdown_table(result))
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return 0
