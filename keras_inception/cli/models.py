"""``keras-inception models``: list the registry, or build one network and summarize it."""

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
        "--stages", action="store_true",
        help="print the stage-by-stage table (grid, parameters, multiply-adds)",
    )
    parser.add_argument("--variant", default="released", help="paper or released (default released)")
    parser.add_argument(
        "--input-resolution", type=int, default=None, metavar="N",
        help="inception_v3 only: the stem for receptive field 299, 151 or 79 "
        "(the paper's Sec. 9); default the network's standard stem",
    )
    parser.add_argument("--aux-logits", action="store_true", help="build with the auxiliary head(s)")
    parser.add_argument("--classes", type=int, default=1000, help="number of classes (default 1000)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def run(args):
    import keras_inception

    if args.name is None:
        rows = []
        for name in keras_inception.list_models():
            spec = keras_inception.get_spec(name)
            rows.append({
                "name": name, "default_size": spec.default_size, "min_size": spec.min_size,
                "final_grid": f"{spec.final_grid[0]}x{spec.final_grid[0]}x{spec.final_grid[1]}",
                "num_params": spec.num_params, "paper": spec.paper,
            })
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print(f"{'name':<22}{'input':>7}{'min':>6}  {'final grid':<12}{'params':>12}")
            for r in rows:
                print(f"{r['name']:<22}{r['default_size']:>7}{r['min_size']:>6}  "
                      f"{r['final_grid']:<12}{r['num_params']:>12,}")
        return 0
    options = {}
    if args.input_resolution is not None:
        spec = keras_inception.get_spec(args.name)
        spec.at_resolution(args.input_resolution)  # a one-line error for a stem it lacks
        if spec.input_resolutions:
            options["input_resolution"] = args.input_resolution
    model = keras_inception.get_model(
        args.name, classes=args.classes, aux_logits=args.aux_logits, variant=args.variant,
        **options,
    )
    if args.summary:
        model.summary()
    if args.stages:
        from keras_inception.architecture import markdown_table, stage_table

        print(markdown_table(stage_table(model)))
    info = {"name": args.name, "params": model.count_params(),
            "outputs": {k: list(v.shape) for k, v in _outputs(model).items()}}
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
