"""``keras-inception models``: the zoo table, or build one network and summarize it."""

import dataclasses
import json


def register(subparsers):
    parser = subparsers.add_parser(
        "models",
        help="list the networks, or build one and print its summary",
        description="List the registered networks, or build one and print its "
        "summary and parameter count.",
    )
    parser.add_argument("name", nargs="?", help="registry name, e.g. inception_v3")
    parser.add_argument("--summary", action="store_true", help="print the layer-by-layer summary")
    parser.add_argument(
        "--stages",
        action="store_true",
        help="print the stage-by-stage table (grid, parameters, multiply-adds)",
    )
    parser.add_argument(
        "--variant", default="released", help="paper or released (default released)"
    )
    parser.add_argument(
        "--input-resolution",
        type=int,
        default=None,
        metavar="N",
        help="inception_v3 only: the stem for receptive field 299, 151 or 79 "
        "(the paper's Sec. 9); default the network's standard stem",
    )
    parser.add_argument(
        "--aux-logits", action="store_true", help="build with the auxiliary head(s)"
    )
    parser.add_argument(
        "--classes", type=int, default=1000, help="number of classes (default 1000)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def run(args):
    import keras_inception

    if args.name is None:  # the README's model zoo table, of the variant asked for
        from keras_inception import zoo

        if args.json:
            print(
                json.dumps(
                    [dataclasses.asdict(row) for row in zoo.zoo_rows(args.variant)], indent=2
                )
            )
        else:
            print(zoo.zoo_markdown(args.variant))
        return 0
    options = {}
    if args.input_resolution is not None:
        spec = keras_inception.get_spec(args.name)
        spec.at_resolution(args.input_resolution)  # a one-line error for a stem it lacks
        if spec.input_resolutions:
            options["input_resolution"] = args.input_resolution
    model = keras_inception.get_model(
        args.name,
        classes=args.classes,
        aux_logits=args.aux_logits,
        variant=args.variant,
        **options,
    )
    if args.summary:
        model.summary()
    if args.stages:
        from keras_inception.architecture import markdown_table
        from keras_inception.architecture import stage_table

        print(markdown_table(stage_table(model)))
    info = {
        "name": args.name,
        "params": model.count_params(),
        "outputs": {k: list(v.shape) for k, v in _outputs(model).items()},
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{args.name}: {info['params']:,} parameters")
        for key, shape in info["outputs"].items():
            print(f"  output {key}: {shape}")
    return 0


def _outputs(model):
    out = model.output
    return out if isinstance(out, dict) else {"predictions": out}
