"""``keras-inception data``: convert a directory tree to TFRecords, or describe a source."""

import json


def register(subparsers):
    parser = subparsers.add_parser(
        "data",
        help="convert image folders to TFRecords, or describe a data source",
        description="Work with the input data: `convert` writes a class-folder tree "
        "as sharded TFRecords; `info` prints a source's classes, example counts and "
        "skipped files.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    convert = actions.add_parser(
        "convert",
        help="write a class-folder tree as sharded TFRecords",
        description="Write DIR (root/<class>/<image>, or root/train + root/val) as "
        "train-*/validation-* TFRecord shards in OUT, with class_names.json and "
        "dataset_info.json. Every image is decoded once; unusable files are listed "
        "in OUT/skipped_files.txt. OUT must be absent or empty unless --overwrite is "
        "given; it is replaced whole, never mixed with an earlier conversion.",
    )
    convert.add_argument("dir", help="the image directory")
    convert.add_argument("out", help="output directory for the shards")
    convert.add_argument("--shards", type=int, default=8, help="training shards (default 8)")
    convert.add_argument(
        "--validation-shards",
        type=int,
        default=None,
        help="validation shards (default: shards x validation split, at least 1)",
    )
    convert.add_argument(
        "--validation-split",
        type=float,
        default=0.1,
        help="fraction held out when DIR has no val tree (default 0.1)",
    )
    convert.add_argument("--seed", type=int, default=1337, help="split/order seed (default 1337)")
    convert.add_argument(
        "--verify",
        choices=("full", "quick", "auto"),
        default="full",
        help="decode every file (full, default) or check headers (quick)",
    )
    convert.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="largest image (width x height) kept (default 40,000,000)",
    )
    convert.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT")
    convert.set_defaults(func=run_convert)

    info = actions.add_parser(
        "info",
        help="print a source's classes, counts and skipped files",
        description="Open SOURCE (a directory, TFRecords, tfds:NAME or digits) and "
        "print its classes, the examples per split and the files that would be skipped.",
    )
    info.add_argument("source", help="directory, TFRecord file/glob/dir, tfds:NAME or digits")
    info.add_argument(
        "--validation-split",
        type=float,
        default=None,
        help="held-out fraction (default 0.1; 0.2 for digits)",
    )
    info.add_argument(
        "--verify",
        choices=("auto", "full", "quick"),
        default="auto",
        help="how files and TFRecord shards are checked (default auto: full "
        "up to 50,000 files or 1 GiB of records)",
    )
    info.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="largest image (width x height) accepted (default 40,000,000)",
    )
    info.add_argument("--data-dir", default=None, help="TFDS data directory")
    info.add_argument("--download", action="store_true", help="let TFDS download the data")
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.set_defaults(func=run_info)


def _max_pixels(args):
    from keras_inception.data import files

    value = files.DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels
    if value < 1:
        raise ValueError(f"--max-pixels must be positive. Received: {value}")
    return value


def _one_line_errors(run):
    """TensorFlow errors (a file changed under us, ...) as one ``error:`` line, not a traceback."""

    def wrapped(args):
        import tensorflow as tf

        from keras_inception.data import files

        try:
            return run(args)
        except tf.errors.OpError as error:
            raise ValueError(files.one_line(error.message)) from None

    return wrapped


@_one_line_errors
def run_convert(args):
    from keras_inception import data

    info = data.write_tfrecords(
        args.dir,
        args.out,
        num_shards=args.shards,
        validation_shards=args.validation_shards,
        validation_split=args.validation_split,
        seed=args.seed,
        verify=args.verify,
        max_pixels=_max_pixels(args),
        overwrite=args.overwrite,
    )
    for split, entry in info["splits"].items():
        print(f"{split}: {entry['num_examples']} examples in {len(entry['files'])} shards")
    print(
        f"{len(info['class_names'])} classes; {info['skipped']} files skipped"
        + (f" (listed in {info['skipped_log']})" if info["skipped"] else "")
    )
    print(f"written to {args.out}")
    return 0


@_one_line_errors
def run_info(args):
    from keras_inception.data import sources

    splits = {}
    for split in sources.SPLITS:
        src = sources.open_source(
            args.source,
            split=split,
            validation_split=args.validation_split,
            verify=args.verify,
            max_pixels=_max_pixels(args),
            data_dir=args.data_dir,
            download=args.download,
        )
        splits[split] = src.num_examples
    report = {
        "source": args.source,
        "kind": src.kind,
        "classes": src.class_names,
        "num_classes": len(src.class_names),
        "examples": splits,
        "skipped": src.skipped,
        "skipped_log": src.skipped_log,
        "verified": src.verified,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.source} ({src.kind}): {len(src.class_names)} classes")
    print("classes: " + ", ".join(src.class_names))
    for split, count in splits.items():
        print(f"{split}: {count} examples")
    print(
        f"skipped: {len(src.skipped)} files"
        + (f" (listed in {src.skipped_log})" if src.skipped else "")
    )
    for path, reason in sorted(src.skipped.items()):
        print(f"  {path}: {reason}")
    return 0
