"""The ``keras-inception`` command line.

Each subcommand lives in its own module of this package with two functions,
``register(subparsers)`` (adds its parser, sets ``func``) and the handler it
points to. The handlers only parse arguments and call the library.

The command line is quiet by default: what TensorFlow's C++ runtime writes to
the process's standard error (oneDNN and CPU-feature notices, ``cuInit``
errors, the TFLite converter's MLIR log, absl's pre-init warning) and its
Python loggers below ERROR are dropped, so a user sees the command's own
output, its closing summary and its errors. ``--verbose`` keeps everything.
"""

import argparse
import contextlib
import importlib
import logging
import os
import sys
import warnings

from keras_inception._extras import MissingExtraError

# Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("models", "data", "export", "predict", "evaluate", "benchmark", "convert", "train")


def add_precision_argument(parser, what):
    """``--precision``, shared by the commands that run Keras models (``what``)."""
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
        help=f"dtype policy of {what} (default auto: mixed bfloat16 where the "
        "hardware has bf16 matrix units, else float32)",
    )


VERBOSE_HELP = "show TensorFlow's native and INFO/WARNING log lines (hidden by default)"


def build_parser():
    """The top-level argument parser with every subcommand registered."""
    from keras_inception import __version__

    parser = argparse.ArgumentParser(
        prog="keras-inception",
        description="Train, evaluate, export and serve the Inception family of networks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        importlib.import_module(f"keras_inception.cli.{module_name}").register(subparsers)
    _add_verbose(subparsers)
    return parser


def _add_verbose(subparsers):
    """``--verbose`` after any (sub)command too; SUPPRESS keeps one given before it."""
    for subparser in subparsers.choices.values():
        subparser.add_argument(
            "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
        for action in subparser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_verbose(action)


def is_verbose(argv):
    """Whether ``--verbose`` is among the options of ``argv`` (before any ``--``).

    Read before the parser is built, because the quieting has to be in place
    before anything imports TensorFlow.
    """
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--verbose" in options


@contextlib.contextmanager
def quiet_tensorflow():
    """Drops TensorFlow's log lines for the duration; Python's ``sys.stderr`` still gets through.

    TensorFlow writes its C++ log (absl, most of it before absl is
    initialized, so ``TF_CPP_MIN_LOG_LEVEL`` cannot filter it) straight to
    file descriptor 2. That descriptor is pointed at ``os.devnull`` and, when
    ``sys.stderr`` writes to it, ``sys.stderr`` is rebound to a duplicate of
    the original, so this command's errors, warnings and tracebacks are
    still shown. The ``tensorflow`` and ``absl`` Python loggers drop records
    below ERROR (a filter, which TensorBoard's or absl's own resetting of the
    levels does not undo) and are raised to
    ERROR, and the Python warnings TensorFlow and LiteRT issue from their own
    modules (deprecation notices, the converter's remarks) are ignored.
    Everything is restored on exit.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # also for child processes
    loggers = {name: logging.getLogger(name) for name in ("tensorflow", "absl")}
    levels = {name: logger.level for name, logger in loggers.items()}

    def errors_only(record):
        return record.levelno >= logging.ERROR

    for logger in loggers.values():
        logger.setLevel(logging.ERROR)
        logger.addFilter(errors_only)
    caught = warnings.catch_warnings()
    caught.__enter__()
    warnings.filterwarnings("ignore", module=r"(tensorflow|ai_edge_litert)(\.|$)")
    python_stderr = sys.stderr
    python_stderr.flush()
    original = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        writes_to_fd2 = python_stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        writes_to_fd2 = False  # a captured stream (pytest's capsys, a StringIO)
    if writes_to_fd2:
        sys.stderr = open(
            original,
            "w",
            buffering=1,
            encoding=python_stderr.encoding,
            errors="backslashreplace",
            closefd=False,
        )
    try:
        yield
    finally:
        if writes_to_fd2:
            sys.stderr.flush()
            sys.stderr = python_stderr
        os.dup2(original, 2)
        os.close(original)
        for name, logger in loggers.items():
            logger.removeFilter(errors_only)
            logger.setLevel(levels[name])
        caught.__exit__(None, None, None)


def main(argv=None):
    """Entry point of ``keras-inception``; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet = contextlib.nullcontext() if is_verbose(argv) else quiet_tensorflow()
    with quiet:
        return run(argv)


def run(argv):
    """Parses ``argv`` and runs its subcommand; errors are one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError, OSError, MissingExtraError) as error:
        print(f"keras-inception {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
