"""``keras-inception predict``: top-k classes of image files."""

import json
import sys

from keras_inception.cli import add_precision_argument
from keras_inception.image_header import DEFAULT_MAX_PIXELS


def register(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="top-k classes of images with a .keras, SavedModel or .tflite model",
        description="Predict the top-k classes of image files. Unreadable files get "
        "an error line and the others are still predicted; the exit code is 1 if "
        "any file failed.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument(
        "--model",
        required=True,
        help="a .keras file, a run directory, a SavedModel directory or a .tflite file",
    )
    parser.add_argument("--top-k", type=int, default=5, help="classes per image (default 5)")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="images of more pixels (read from the header) are refused, not decoded "
        "(default %(default)s)",
    )
    add_precision_argument(parser, "a Keras model")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def run(args):
    from keras_inception.predict import predict_files

    results = predict_files(
        args.images,
        args.model,
        top_k=args.top_k,
        max_pixels=args.max_pixels,
        precision=args.precision,
    )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "error" in result:
                print(f"{result['path']}: error: {result['error']}", file=sys.stderr)
                continue
            print(result["path"])
            for p in result["predictions"]:
                print(f"  {p['score']:.4f}  {p['label']}")
    return 1 if any("error" in result for result in results) else 0
