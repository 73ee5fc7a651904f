"""``keras-inception train``: the training recipe from the command line (the main job)."""

import json


def register(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a network (default: InceptionV3 on the embedded digits)",
        description="Train a network with the papers' recipe, evaluate it on the "
        "held-out split and export it (SavedModel + TFLite) into saved_models/. "
        "With no arguments it trains on the embedded digits dataset. Settings "
        "resolve as: preset, then --config file, then --set pairs, then the "
        "named flags. An interrupted run resumes when the same command is run again.",
    )
    parser.add_argument(
        "--preset", default="quick", help="named preset: quick (default), paper, finetune, smoke"
    )
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file of config fields")
    parser.add_argument(
        "--data", metavar="SRC", help="dataset: image directory, tfds:NAME, TFRecords, or digits"
    )
    parser.add_argument("--model", metavar="NAME", help="registry name, e.g. inception_v3")
    parser.add_argument("--epochs", type=int, metavar="N", help="number of epochs")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field (repeatable)",
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="run directory (default runs/<model>_<data>)"
    )
    parser.add_argument(
        "--no-export", action="store_true", help="skip the SavedModel/TFLite export"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resolved, validated config and exit"
    )
    parser.set_defaults(func=run)


def run(args):
    from keras_inception import training

    config = training.resolve_config(
        preset=args.preset,
        file=args.config,
        overrides=args.overrides,
        data=args.data,
        model=args.model,
        epochs=args.epochs,
        run_dir=args.run_dir,
        export=False if args.no_export else None,
    )
    if args.dry_run:
        print(json.dumps(config.validate().to_dict(), indent=2))
        return 0
    result = training.train(config)
    print(f"validation top-1: {100 * result.metrics['accuracy']:.2f} %")
    return 0
