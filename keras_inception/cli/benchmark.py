"""``keras-inception benchmark``: parameters, multiply-adds and speed, beside keras.applications."""


def register(subparsers):
    parser = subparsers.add_parser(
        "benchmark",
        help="parameters, multiply-adds, inference/training speed (vs keras.applications)",
        description="Measure a network on this machine: parameters, multiply-adds "
        "from the graph, inference images/second in float32, mixed bfloat16 and "
        "XLA, training-step images/second, and the same for keras.applications' "
        "model where it has one (inception_v3, inception_resnet_v2), with ratios. "
        "Medians of --repeats runs after --warmup uncounted ones.",
    )
    parser.add_argument("--model", required=True, help="registry name, e.g. inception_v3")
    parser.add_argument(
        "--size", type=int, default=None, help="input size (default the network's own)"
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[1, 32],
        help="inference batch sizes (default 1 32)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted runs (default 2)")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["float32", "bfloat16", "xla"],
        choices=("float32", "bfloat16", "xla"),
        help="precisions/compilers to time (default all)",
    )
    parser.add_argument(
        "--train-batch-size",
        type=int,
        default=32,
        help="batch of the training-step figure; 0 skips it (default 32)",
    )
    parser.add_argument(
        "--no-compare", action="store_true", help="do not measure keras.applications"
    )
    parser.add_argument(
        "--depth-multiplier",
        type=float,
        default=1.0,
        help="width multiplier of our network (default 1.0; no comparison unless 1)",
    )
    parser.add_argument("--out", default=None, help="write the JSON result to this file")
    parser.add_argument("--quiet", action="store_true", help="do not print figures as measured")
    parser.set_defaults(func=run)


def run(args):
    from keras_inception import benchmark

    report = benchmark.benchmark_model(
        args.model,
        size=args.size,
        batch_sizes=tuple(args.batch_sizes),
        repeats=args.repeats,
        warmup=args.warmup,
        modes=tuple(args.modes),
        train_batch_size=args.train_batch_size or None,
        compare=not args.no_compare,
        depth_multiplier=args.depth_multiplier,
        verbose=not args.quiet,
    )
    print(benchmark.format_report(report))
    if args.out:
        from keras_inception import atomic

        atomic.write_json(args.out, report)
        print(f"wrote {args.out}")
    return 0
