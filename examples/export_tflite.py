"""Train briefly, export a full-integer (int8) TFLite model, run it in LiteRT, compare with Keras.

1. ``training.train`` with the ``"quick"`` preset (a thin Inception-v3 at
   75 px) on a dataset source: an image folder, TFRecords, ``tfds:NAME`` or the
   embedded ``digits`` (default).
2. ``export.export_tflite(..., mode="int8")``: calibrated on training images
   read through the evaluation pipeline (``data.calibration_images``), checked
   against Keras on validation images (top-1 agreement of at least 98%, else
   nothing is written), with the labels and input normalization in a JSON
   file beside the model.
3. The ``.tflite`` file in the LiteRT interpreter (``ai_edge_litert``), fed
   the validation images: its top-1 accuracy, its agreement with the Keras
   model and the largest probability difference.

    python examples/export_tflite.py                        # digits, quick preset
    python examples/export_tflite.py photos/ --out photos_int8.tflite
    python examples/export_tflite.py --smoke                # a generated folder, about a minute

The same export from the command line, for any run directory or ``.keras`` file::

    keras-inception export runs/photos --format tflite --mode int8 --calibration-data photos/
"""

import argparse
import os
import sys
import tempfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The smoke run: a thin GoogLeNet trained for one epoch on generated colour
# fields. It checks that every step works; its accuracy means nothing (the
# BatchNormalization statistics alone need hundreds of steps to settle).
SMOKE_SETTINGS = dict(
    model="inception_v1",
    image_size=64,
    depth_multiplier=0.25,
    epochs=1,
    batch_size=8,
    # One pass over the 45 training images: a check that every step works,
    # not a training run (without it the data-driven rule repeats so few
    # images to 40 steps an epoch: keras_inception.data.auto).
    steps_per_epoch=5,
    validation_split=0.25,
    precision="float32",
    verbose=2,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source",
        nargs="?",
        default="digits",
        help="dataset: an image folder, TFRecords, tfds:NAME or digits (default)",
    )
    parser.add_argument("--model", help="registry name (preset: inception_v3)")
    parser.add_argument("--epochs", type=int, help="training epochs (preset: 6)")
    parser.add_argument("--run-dir", help="run directory (default runs/<model>_<source>)")
    parser.add_argument("--out", help="the .tflite file (default <run-dir>/model_int8.tflite)")
    parser.add_argument(
        "--num-calibration-images",
        type=int,
        default=200,
        help="training images to calibrate int8 on (default 200)",
    )
    parser.add_argument(
        "--num-test-images",
        type=int,
        default=500,
        help="validation images to compare Keras and LiteRT on (default 500)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a thin network on a generated folder (about a minute)"
    )
    return parser.parse_args(argv)


def train_briefly(args, source):
    """Trains the ``"quick"`` preset (or the smoke settings) on ``source``.

    Returns:
        ``(run_dir, config)`` of the finished run.
    """
    from keras_inception import training

    fields = dict(SMOKE_SETTINGS) if args.smoke else {}
    flags = {"model": args.model, "epochs": args.epochs, "run_dir": args.run_dir}
    fields.update({k: v for k, v in flags.items() if v is not None})
    # The export below is the point of this example, so the run makes none itself.
    config = training.resolve_config(preset="quick", data=source, export=False, **fields)
    result = training.train(config)
    return result.run_dir, config


def takes_scaled_pixels(meta):
    """Whether the model takes [-1, 1] pixels (else 0-255, scaled by its own layer)."""
    return tuple(meta["input_range"]) == (-1.0, 1.0)


def calibration_then_held_out(source, config, meta, num_calibration, num_test):
    """Training images to calibrate on, then validation images for the parity check.

    ``export_tflite`` calibrates on the first ``num_calibration`` images it is
    given and compares with Keras on the rest, so the training split comes
    first (capped at its size) and up to ``num_test`` validation images after it.

    Returns:
        ``(images, num_calibration, num_held_out)``: an iterable of float32
        batches in the model's input range, and the two counts.
    """
    from keras_inception import data

    common = dict(
        image_size=tuple(meta["image_size"]),
        batch_size=32,
        scale=takes_scaled_pixels(meta),
        validation_split=config.validation_split,
        seed=config.seed,
    )
    train = list(
        data.calibration_images(source, num_images=num_calibration, split="train", **common)
    )
    held_out = list(
        data.calibration_images(source, num_images=num_test, split="validation", **common)
    )
    counts = [sum(len(batch) for batch in part) for part in (train, held_out)]
    return train + held_out, counts[0], counts[1]


def compare(tflite_path, keras_model, meta, source, config, num_test, batch_size=32):
    """Runs the ``.tflite`` model in LiteRT and the Keras model on validation images.

    Returns:
        A dict: ``images``, ``keras_top1`` and ``tflite_top1`` (accuracy),
        ``agreement`` (same top-1 class) and ``max_abs_diff`` of the outputs.
    """
    from keras_inception import data
    from keras_inception import export

    classifier = export.LiteRTClassifier(tflite_path)
    details = classifier.input
    scale, zero_point = details["quantization"]
    shape = [int(d) for d in details["shape_signature"]]
    print(
        f"LiteRT input: {np.dtype(details['dtype']).name} {shape}, scale {scale:.5f}, "
        f"zero point {zero_point} (LiteRTClassifier quantizes the float images)"
    )
    dataset, _ = data.build_dataset(
        data.DataConfig(
            source,
            split="validation",
            image_size=tuple(meta["image_size"]),
            batch_size=batch_size,
            scale=takes_scaled_pixels(meta),
            validation_split=config.validation_split,
            seed=config.seed,
        )
    )
    labels, keras_out, tflite_out = [], [], []
    for images, batch_labels in dataset.take(-(-num_test // batch_size)).as_numpy_iterator():
        labels.append(batch_labels)
        keras_out.append(np.asarray(keras_model(images, training=False)))
        tflite_out.append(classifier(images))
    labels, keras_out, tflite_out = (
        np.concatenate(a)[:num_test] for a in (labels, keras_out, tflite_out)
    )
    return {
        "images": len(labels),
        "keras_top1": float(np.mean(keras_out.argmax(-1) == labels)),
        "tflite_top1": float(np.mean(tflite_out.argmax(-1) == labels)),
        "agreement": float(np.mean(keras_out.argmax(-1) == tflite_out.argmax(-1))),
        "max_abs_diff": float(np.max(np.abs(keras_out - tflite_out))),
    }


def main(argv=None):
    args = parse_args(argv)
    from keras_inception import export
    from keras_inception.export import parity as export_parity

    with tempfile.TemporaryDirectory() as scratch:
        source = args.source
        if args.smoke:
            from finetune_folder import smoke_folder

            source = smoke_folder(scratch)
            args.run_dir = args.run_dir or os.path.join(scratch, "run")
        run_dir, config = train_briefly(args, source)
        model, class_names, meta = export.load_source(run_dir)

        out = args.out or os.path.join(run_dir, "model_int8.tflite")
        images, num_calibration, num_held_out = calibration_then_held_out(
            source, config, meta, args.num_calibration_images, args.num_test_images
        )
        report = export.export_tflite(
            model,
            out,
            mode="int8",
            calibration_data=images,
            class_names=class_names,
            num_calibration_images=num_calibration,
            num_parity_images=num_held_out,
        )
        parity = report["parity"]
        print(
            f"int8 model: {out}, {report['size_bytes']:,} bytes "
            f"({report['size_bytes'] / report['float32_weight_bytes']:.0%} of the float32 weights)"
        )
        print(
            f"export parity check: top-1 agreement {parity['top1_agreement']:.1%} on "
            f"{parity['num_images']} {parity['images']} images"
        )
        print(f"  {export_parity.describe(parity)}")
        print(f"labels and input normalization: {report['sidecar']}")

        figures = compare(out, model, meta, source, config, args.num_test_images)
        print(
            f"validation, {figures['images']} images: Keras top-1 {figures['keras_top1']:.1%}, "
            f"LiteRT int8 top-1 {figures['tflite_top1']:.1%}, agreement "
            f"{figures['agreement']:.1%}, max |p_keras - p_int8| {figures['max_abs_diff']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
