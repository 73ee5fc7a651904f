"""``keras-inception convert``: published weights to a converted-weights file;
``keras-inception weights``: the registry of pretrained weights."""

import json


def register(subparsers):
    parser = subparsers.add_parser(
        "convert",
        help="convert keras.applications or TF-slim weights for a network",
        description="Convert a keras.applications weights file (.h5/.weights.h5), a "
        "TF-slim checkpoint (prefix, .index, directory or the published .tar.gz) or "
        "a registry tag into a weights file that `weights=FILE` loads into the "
        "network with or without its classifier.",
    )
    parser.add_argument("src", help="weights file, checkpoint, archive, or registry tag")
    parser.add_argument("--model", required=True, help="registry name, e.g. inception_v3")
    parser.add_argument("--out", required=True, help="file to write, e.g. inception_v3.weights.h5")
    parser.add_argument(
        "--keep-background",
        action="store_true",
        help="keep TF-slim's background class 0 (1001 classes) instead of dropping it",
    )
    parser.add_argument(
        "--exclude",
        metavar="REGEX",
        help="skip checkpoint variables matching REGEX",
    )
    parser.add_argument(
        "--depth-multiplier",
        type=float,
        default=1.0,
        help="width multiplier of the checkpoint's network (default 1.0)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run_convert)

    parser = subparsers.add_parser(
        "weights",
        help="list the pretrained weights of the registry",
        description="List the published weights each network can load with "
        "`weights=TAG`, and whether their file is already on this machine.",
    )
    parser.add_argument("model", nargs="?", help="only this network")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run_weights)


def run_convert(args):
    from keras_inception.conversion import convert_weights

    report = convert_weights(
        args.src,
        args.model,
        args.out,
        keep_background=args.keep_background,
        exclude=args.exclude,
        depth_multiplier=args.depth_multiplier,
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"wrote {report['out']}: {args.model}, {report['variables']} variables, "
        f"{report['params']:,} parameters"
    )
    print(f"  sha256 {report['sha256']} (in {report['out']}.sha256, checked on every load)")
    if report["classes"] is not None:
        background = " (class 0 = background)" if report["label_offset"] else ""
        print(f"  classifier: {report['classes']} classes{background}")
    if report["heads"]:
        print(f"  auxiliary heads: {', '.join(report['heads'])}")
    return 0


def run_weights(args):
    from keras_inception import weights
    from keras_inception.weights import download

    rows = []
    for record in weights.list_weights(args.model):
        local = download.locate(record.file)
        rows.append(
            {
                "model": record.model,
                "tag": record.tag,
                "default": record.default,
                "source": record.source,
                "classes": record.classes,
                "input_size": record.input_size,
                "top1": record.top1,
                "top5": record.top5,
                "num_params": record.num_params,
                "file": record.file.fname,
                "url": record.file.url,
                "local": local,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<21}{'tag':<16}{'source':<20}{'classes':>8}{'top-1':>7}{'top-5':>7}  file")
    for r in rows:
        tag = r["tag"] + ("*" if r["default"] else "")
        status = "on disk" if r["local"] else "not downloaded"
        print(
            f"{r['model']:<21}{tag:<16}{r['source']:<20}{r['classes']:>8}"
            f"{r['top1']:>7.1f}{r['top5']:>7.1f}  {r['file']} ({status})"
        )
    print("* = weights='imagenet'")
    return 0
