"""``keras-inception export``: a SavedModel for TF Serving or a TFLite file."""

import json
import os

from keras_inception.image_header import DEFAULT_MAX_PIXELS


def register(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="export a model as a TF Serving SavedModel or a TFLite file",
        description="Export a .keras file, a run directory or a registry name as a "
        "SavedModel (TF Serving layout, with models.config) or a TFLite file checked "
        "against the Keras model in the LiteRT interpreter.",
    )
    parser.add_argument("source", help="a .keras file, a run directory or a registry name")
    parser.add_argument(
        "--format",
        choices=("saved_model", "tflite"),
        default="saved_model",
        help="artifact to write (default saved_model)",
    )
    parser.add_argument(
        "--out",
        help="saved_model: the base directory (default saved_models); "
        "tflite: the .tflite file (default <source name>_<mode>.tflite)",
    )
    parser.add_argument(
        "--mode",
        choices=("float32", "float16", "dynamic", "int8"),
        default="float32",
        help="TFLite mode (default float32)",
    )
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="saved_model: compute in float32 (default) or bfloat16, for CPUs with "
        "bfloat16 matrix units (AMX); inputs, outputs and signatures are the same",
    )
    parser.add_argument(
        "--calibration-data",
        "--parity-data",
        dest="calibration_data",
        metavar="SRC",
        help="images of your data to calibrate int8 on and to check parity with (the "
        "held-out images that follow the calibration ones): a class-folder directory, "
        "TFRecords, tfds:NAME or digits",
    )
    parser.add_argument(
        "--num-calibration-images",
        type=int,
        default=200,
        help="int8 calibration images (default 200)",
    )
    parser.add_argument(
        "--io-type",
        choices=("uint8", "int8"),
        default="uint8",
        help="input/output type of an int8 TFLite model (default uint8)",
    )
    parser.add_argument(
        "--no-parity-check",
        dest="check_parity",
        action="store_false",
        help="skip the parity check of the exported graph against the Keras model",
    )
    parser.add_argument("--model-name", help="served model name (default: the model's name)")
    parser.add_argument("--version", type=int, help="SavedModel version (default: the next one)")
    parser.add_argument(
        "--top-k", type=int, default=5, help="top_k outputs of the SavedModel (default 5)"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="saved_model: serving_default refuses images of more pixels, read from "
        "the header before decoding (default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def run(args):
    from keras_inception import export
    from keras_inception.export import parity

    if args.format == "saved_model":
        path = export.export_saved_model(
            args.source,
            base_dir=args.out or "saved_models",
            model_name=args.model_name,
            version=args.version,
            top_k=args.top_k,
            max_pixels=args.max_pixels,
            precision=args.precision,
            parity_data=args.calibration_data,
            check_parity=args.check_parity,
        )
        with open(os.path.join(path, export.META_FILE), encoding="utf-8") as f:
            meta = json.load(f)
        report = {
            "format": "saved_model",
            "path": path,
            "precision": args.precision,
            "parity": meta["parity"],
        }
        summary = f"SavedModel ({args.precision}) written to {path}"
        if meta["parity"]:
            summary += f"\n{parity.describe(meta['parity'])}"
    else:
        stem = os.path.splitext(os.path.basename(os.path.normpath(args.source)))[0]
        out = args.out or f"{stem}_{args.mode}.tflite"
        report = export.export_tflite(
            args.source,
            out,
            mode=args.mode,
            calibration_data=args.calibration_data,
            check_parity=args.check_parity,
            io_type=args.io_type,
            num_calibration_images=args.num_calibration_images,
        )
        summary = f"TFLite {args.mode} model written to {out} ({report['size_bytes']:,} bytes)"
        if report["parity"]:
            summary += f"\n{parity.describe(report['parity'])}"
    print(json.dumps(report, indent=2) if args.json else summary)
    return 0
