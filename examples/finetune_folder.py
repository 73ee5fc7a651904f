"""Fine-tune an ImageNet Inception network on a folder of your own images.

The folder holds one sub-folder per class (``photos/cat/*.jpg``,
``photos/dog/*.jpg``, ...); a validation split is held out of it. The run uses
the ``"finetune"`` preset of ``keras_inception.training``: ImageNet weights, a
new classifier on the frozen backbone (its BatchNormalization kept in inference
mode), then the top two Inception blocks unfrozen at a tenth of the learning
rate. Everything the run writes lands in its run directory (checkpoints,
``history.csv``, TensorBoard logs, ``curves.png``, ``summary.json``); running the
same command again after an interruption resumes it.

    python examples/finetune_folder.py photos/ --run-dir runs/photos
    python examples/finetune_folder.py photos/ --model inception_v4 --set batch_size=16
    python examples/finetune_folder.py --smoke      # a generated folder, about a minute

``--set key=value`` changes any field of ``keras_inception.training.TrainConfig``
(``--set use_ema=true --set finetune_lr_scale=0.05``). The curves of any run
can be drawn again with
``training.plot_history(training.read_history("<run>/history.csv"), "curves.png")``.

Without network access, put the ImageNet weights file where
``keras_inception.weights`` looks for it (``$KERAS_INCEPTION_WEIGHTS`` or the
Keras cache; the error message names the file), or pass ``--weights none`` to
start from random weights.
"""

import argparse
import glob
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The smoke run: a thin GoogLeNet at a small input on a generated folder, so
# the whole fine-tuning path (both phases, checkpoints, curves, prediction)
# runs in about a minute on a CPU.
SMOKE_SETTINGS = dict(
    model="inception_v1",
    image_size=64,
    depth_multiplier=0.25,
    weights=None,
    epochs=1,
    finetune_epochs=1,
    batch_size=8,
    # One pass over the 45 training images: a check that every step works,
    # not a training run (without it the data-driven rule repeats so few
    # images to 40 steps an epoch: keras_inception.data.auto).
    steps_per_epoch=5,
    validation_split=0.25,
    export=False,
    verbose=2,
)
TOY_CLASSES = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 70, 220)}


def make_toy_folder(root, images_per_class=20, size=96, seed=0):
    """Writes a class-folder dataset of noisy colour fields with shapes (JPEG files).

    Each class is one colour filling the image under noise, with a grey
    rectangle or ellipse at a random place: any crop of the training
    augmentation still shows the class colour, so a small network separates
    the classes after a few steps, while the files still go through decoding,
    cropping and resizing like photographs.

    Args:
        root: the folder to fill (``root/<class>/<i>.jpg``).
        images_per_class: images written per class, default 20.
        size: side of the square images in pixels, default 96.
        seed: seed of the noise and the shapes, default 0.

    Returns:
        The paths written, sorted.
    """
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    paths = []
    for name, colour in TOY_CLASSES.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for index in range(images_per_class):
            noise = rng.normal(0, 25, (size, size, 3))
            image = Image.fromarray(np.clip(noise + colour, 0, 255).astype(np.uint8))
            x0, y0 = rng.integers(0, size // 2, 2)
            x1, y1 = rng.integers(size // 2, size, 2)
            draw = ImageDraw.Draw(image)
            shape = draw.rectangle if index % 2 else draw.ellipse
            shape((int(x0), int(y0), int(x1), int(y1)), fill=(int(rng.integers(40, 220)),) * 3)
            path = os.path.join(root, name, f"{index:03d}.jpg")
            image.save(path, "JPEG", quality=90)
            paths.append(path)
    return sorted(paths)


def smoke_folder(scratch):
    """Generates the smoke runs' dataset in ``scratch``; returns its path."""
    folder = os.path.join(scratch, "toy_colours")
    make_toy_folder(folder)
    return folder


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="class-folder dataset: FOLDER/<class>/<image>")
    parser.add_argument(
        "--model", default="inception_v3", help="registry name (default inception_v3)"
    )
    parser.add_argument("--image-size", type=int, help="input size (default: the network's own)")
    parser.add_argument(
        "--epochs", type=int, help="epochs of the frozen-backbone phase (preset: 5)"
    )
    parser.add_argument(
        "--finetune-epochs", type=int, help="epochs with the top blocks unfrozen (preset: 5)"
    )
    parser.add_argument("--batch-size", type=int, help="global batch size (preset: 32)")
    parser.add_argument("--weights", help="imagenet (preset), a weights file, or none")
    parser.add_argument("--run-dir", help="run directory (default runs/<model>_<folder>)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any TrainConfig field, e.g. --set use_ema=true (repeatable)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="fine-tune a thin network on a generated folder (about a minute)",
    )
    args = parser.parse_args(argv)
    if not args.smoke and not args.folder:
        parser.error("give the image folder, or --smoke")
    return args


def finetune_config(args, folder):
    """The ``"finetune"`` preset with the command line's changes (smoke settings first)."""
    from keras_inception import training

    fields = dict(SMOKE_SETTINGS) if args.smoke else {"model": args.model}
    flags = {
        "image_size": args.image_size,
        "epochs": args.epochs,
        "finetune_epochs": args.finetune_epochs,
        "batch_size": args.batch_size,
        "run_dir": args.run_dir,
    }
    fields.update({k: v for k, v in flags.items() if v is not None})
    if args.weights is not None:
        fields["weights"] = None if args.weights.lower() == "none" else args.weights
    # The preset, then the flags (and smoke settings), then --set.
    config = training.resolve_config(preset="finetune", overrides=args.set)
    overridden = training.parse_overrides(args.set)
    config = config.replace(**{k: v for k, v in fields.items() if k not in overridden})
    return config.replace(data=folder).validate()


def print_history(history):
    """One line per epoch: training and validation loss and top-1."""
    columns = [c for c in ("loss", "accuracy", "val_loss", "val_accuracy") if c in history]
    print("epoch  " + "  ".join(f"{c:>12}" for c in columns))
    for row, epoch in enumerate(history["epoch"]):
        print(f"{epoch + 1:>5}  " + "  ".join(f"{history[c][row]:>12.4f}" for c in columns))


def main(argv=None):
    args = parse_args(argv)
    from keras_inception import get_spec
    from keras_inception import predict
    from keras_inception import training

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder
        if args.smoke:
            folder = smoke_folder(scratch)
            print(
                f"--smoke: generated {folder} ({', '.join(TOY_CLASSES)}); "
                "random initial weights, as smoke runs download nothing"
            )
        config = finetune_config(args, folder)
        if args.smoke and not args.run_dir:
            config = config.replace(run_dir=os.path.join(scratch, "run"))
        size = config.image_size or get_spec(config.model).default_size
        print(
            f"fine-tuning {config.model} at {size} px: "
            f"{config.epochs} epoch(s) on a frozen backbone, then "
            f"{config.finetune_epochs} with the top {config.unfreeze_top_blocks} blocks unfrozen"
        )
        try:
            result = training.train(config)
        except FileNotFoundError as error:
            # Offline without the ImageNet weights: the message says where to put them.
            print(f"error: {error}", file=sys.stderr)
            return 1

        print_history(result.history)
        print(f"curves: {os.path.join(result.run_dir, 'curves.png')}")
        examples = [
            sorted(glob.glob(os.path.join(folder, name, "*")))[0] for name in result.class_names[:3]
        ]
        for item in predict.predict_files(examples, result.run_dir, top_k=2):
            best = ", ".join(f"{p['label']} {p['score']:.2f}" for p in item.get("predictions", []))
            print(f"{os.path.relpath(item['path'], folder)}: {best or item.get('error')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
