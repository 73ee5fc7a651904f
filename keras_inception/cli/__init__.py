"""The ``keras-inception`` command line.

Each subcommand lives in its own module of this package with two functions,
``register(subparsers)`` (adds its parser, sets ``func``) and the handler it
points to. The handlers only parse arguments and call the library.
"""

import argparse
import importlib
import os
import sys

# Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("models", "data", "export", "predict", "evaluate", "benchmark", "convert", "train")


def add_precision_argument(parser, what):
    """``--precision``, shared by the commands that run Keras models (``what``)."""
    parser.add_argument(
        "--precision", default="auto",
        choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
        help=f"dtype policy of {what} (default auto: mixed bfloat16 where the "
        "hardware has bf16 matrix units, else float32)",
    )


def build_parser():
    """The top-level argument parser with every subcommand registered."""
    from keras_inception import __version__

    parser = argparse.ArgumentParser(
        prog="keras-inception",
        description="Train, evaluate, export and serve the Inception family of networks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        importlib.import_module(f"keras_inception.cli.{module_name}").register(subparsers)
    return parser


def main(argv=None):
    """Entry point of ``keras-inception``; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"keras-inception {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
