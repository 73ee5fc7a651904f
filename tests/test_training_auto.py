"""Training on the user's own data (issue 13): defaults from the data, precision from the
hardware, skipped files in the result, the fine-tuning path with local weights."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from PIL import ImageDraw

import keras_inception
from keras_inception import hostinfo
from keras_inception import precision
from keras_inception import training
from keras_inception.data import auto
from keras_inception.data import sources
from keras_inception.training import trainer

TINY = [
    "model=inception_v1",
    "image_size=32",
    "depth_multiplier=0.25",
    "batch_size=8",
    "steps_per_epoch=2",
    "epochs=1",
    "export=false",
    "verbose=0",
]


def write_shapes(root, per_class, *, size=32, seed=0, split=None):
    """Small colour images of three shapes (random colours, sizes and places), as PNGs."""
    rng = np.random.default_rng(seed)
    for label in ("circle", "square", "triangle"):
        folder = os.path.join(root, *([split] if split else []), label)
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            background, foreground = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
            while np.abs(background - foreground).sum() < 200:
                foreground = rng.integers(0, 256, 3)
            image = Image.new("RGB", (size, size), tuple(int(c) for c in background))
            draw = ImageDraw.Draw(image)
            r = rng.uniform(0.22, 0.4) * size
            cx, cy = rng.uniform(r, size - r, 2)
            fill = tuple(int(c) for c in foreground)
            if label == "circle":
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
            elif label == "square":
                draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
            else:
                draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
            image.save(os.path.join(folder, f"{i:04d}.png"))


def write_digits_folder(root):
    """The embedded digits as a class folder of 8x8 greyscale PNGs."""
    images, labels = sources.load_digits_rgb()
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = os.path.join(root, str(label))
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image[..., 0], "L").save(os.path.join(folder, f"{i:04d}.png"))


# ---------------------------------------------------------------- precision


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(flags={"avx512f", "amx_bf16", "amx_tile"}, gpus=[], tpus=0), "mixed_bfloat16"),
        (dict(flags={"avx512f", "avx512_bf16"}, gpus=[], tpus=0), "float32"),
        (dict(flags={"sse2"}, gpus=[], tpus=0), "float32"),
        (dict(flags=set(), gpus=[("A100", (8, 0))], tpus=0), "mixed_bfloat16"),
        (dict(flags=set(), gpus=[("T4", (7, 5))], tpus=0), "mixed_float16"),
        (dict(flags=set(), gpus=[("P100", (6, 0))], tpus=0), "float32"),
        (dict(flags={"amx_bf16"}, gpus=[("T4", (7, 5))], tpus=0), "mixed_float16"),
        (dict(flags=set(), gpus=[], tpus=8), "mixed_bfloat16"),
    ],
)
def test_auto_precision_follows_the_matrix_units(kwargs, expected):
    policy, reason = precision.detect(**kwargs)
    assert policy == expected and reason and "\n" not in reason


def test_auto_precision_on_this_host_matches_its_cpu_flags():
    policy, _ = precision.resolve("auto")
    flags = hostinfo.cpu_flags()
    assert policy == ("mixed_bfloat16" if "amx_bf16" in flags else "float32")
    assert precision.resolve("float32") == ("float32", "set by the user")
    with pytest.raises(ValueError, match="Received: precision='fp8'"):
        precision.resolve("fp8")


def test_with_policy_rebuilds_a_saved_model_in_bf16_keeping_float32_heads(tmp_path):
    import keras

    import keras_inception

    model = keras_inception.InceptionV1(
        weights=None, input_shape=(48, 48, 3), classes=5, depth_multiplier=0.25, variant="paper"
    )
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert precision.with_policy(loaded, "float32") is loaded
    mixed = precision.with_policy(loaded, "mixed_bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in mixed.layers}
    assert policies["predictions"] == "float32"
    assert sum(p == "mixed_bfloat16" for p in policies.values()) > len(policies) // 2
    x = np.random.default_rng(0).uniform(-1, 1, (4, 48, 48, 3)).astype("float32")
    reference, low = loaded.predict(x, verbose=0), mixed.predict(x, verbose=0)
    assert low.dtype == np.float32
    np.testing.assert_allclose(low, reference, atol=0.02)
    assert np.array_equal(low.argmax(-1), reference.argmax(-1))


def test_auto_is_the_default_of_every_preset():
    for name in training.PRESETS:
        config = training.get_preset(name)
        assert (config.precision, config.augment, config.central_fraction) == ("auto",) * 3


# ---------------------------------------------------------------- the rule


def _profile(short, grey=0.0, per_class=100, classes=3, own_split=False):
    return auto.DataProfile(
        source="x",
        num_examples=per_class * classes,
        num_classes=classes,
        sampled=50,
        median_height=short,
        median_width=short,
        median_short_side=short,
        greyscale_fraction=grey,
        has_validation_split=own_split,
    )


@pytest.mark.parametrize(
    "profile, size, epochs, expected",
    [
        # small colour images: mild crop with flips, whole image at evaluation, 20 % hold-out
        (_profile(32), 75, 12, ("mild", 1.0, 0.2)),
        # small greyscale scans (digits): no flip
        (_profile(8, grey=1.0, per_class=180), 75, 12, ("light", 1.0, 0.2)),
        # photographs at ImageNet size, the papers' long schedule: the papers' recipe
        (_profile(400, per_class=1300, classes=1000), 299, 100, ("inception", 0.875, 0.1)),
        # the same photographs in a short run from scratch: mild, still the papers' crop
        (_profile(400, per_class=1300), 299, 12, ("mild", 0.875, 0.1)),
        # small images stay mild even in a long run
        (_profile(64), 299, 100, ("mild", 1.0, 0.2)),
    ],
)
def test_defaults_come_from_the_data_and_the_run_length(profile, size, epochs, expected):
    chosen = auto.choose(profile, size, epochs=epochs)
    values = tuple(chosen[k].value for k in ("augment", "central_fraction", "validation_split"))
    assert values == expected
    for choice in chosen.values():
        assert choice.reason and choice.override.startswith("--set ")


@pytest.mark.parametrize(
    "short, expected",
    [
        (8, 79),
        (32, 79),
        (79, 79),
        (80, 151),
        (151, 151),
        (152, None),
        (400, None),
    ],
)
def test_small_images_choose_the_inception_v3_stem_that_holds_them(short, expected):
    spec = keras_inception.get_spec("inception_v3")
    choice = auto.choose_stem(_profile(short), spec.input_resolutions, spec.default_size)
    if expected is None:
        assert choice is None
    else:
        assert choice.value == expected and f"{expected}x{expected}" in choice.reason
        assert choice.override == "--set input_resolution=79|151|299"


@pytest.mark.parametrize("name", ["inception_v1", "inception_v4", "inception_resnet_v2"])
def test_networks_with_one_stem_get_no_stem_choice(name):
    spec = keras_inception.get_spec(name)
    assert auto.choose_stem(_profile(8), spec.input_resolutions, spec.default_size) is None


def test_a_paper_preset_run_on_small_images_trains_the_79_stem_at_79_px(tmp_path):
    root = tmp_path / "shapes"
    write_shapes(str(root), 4, size=16)
    config = training.resolve_config(
        preset="paper",
        data=str(root),
        run_dir=str(tmp_path / "run"),
        overrides=[
            "depth_multiplier=0.1",
            "batch_size=4",
            "steps_per_epoch=1",
            "epochs=1",
            "export=false",
            "verbose=0",
        ],
    )
    assert config.image_size is None and config.input_resolution is None
    result = training.train(config)
    assert result.model.input_shape == (None, 79, 79, 3)
    assert result.summary["image_size"] == 79
    assert result.summary["chosen"]["input_resolution"]["value"] == 79
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (recorded["input_resolution"], recorded["image_size"]) == (79, 79)
    text = trainer.format_summary(result.summary, str(tmp_path / "run"))
    assert "input_resolution = 79" in text


def test_a_short_run_on_few_images_repeats_them_to_enough_steps():
    assert auto.choose_steps(45, epochs=12, batch_size=32, num_examples=1437) is None
    assert auto.choose_steps(15, epochs=100, batch_size=32, num_examples=480) is None
    choice = auto.choose_steps(15, epochs=12, batch_size=32, num_examples=480)
    assert choice.value == auto.MIN_STEPS_PER_EPOCH
    assert "480 training images make 15 batch(es)" in choice.reason


def test_a_source_with_its_own_validation_split_keeps_it():
    chosen = auto.choose(_profile(32, own_split=True), 75, epochs=12)
    assert "validation_split" not in chosen


def test_profile_of_the_digits_and_of_a_colour_folder(tmp_path):
    digits = auto.profile_source("digits")
    assert (digits.median_height, digits.median_width, digits.greyscale_fraction) == (8, 8, 1.0)
    assert (digits.num_examples, digits.num_classes, digits.has_validation_split) == (
        1797,
        10,
        False,
    )
    root = str(tmp_path / "shapes")
    write_shapes(root, 6, size=20, split="train")
    write_shapes(root, 2, size=20, split="val", seed=1)
    shapes = auto.profile_source(root)
    assert (shapes.median_short_side, shapes.greyscale_fraction) == (20, 0.0)
    assert (shapes.num_examples, shapes.has_validation_split) == (18, True)


# ---------------------------------------------------------------- runs


def test_missing_weights_fail_before_any_data_work(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_INCEPTION_OFFLINE", "1")
    monkeypatch.setenv("KERAS_INCEPTION_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    config = training.resolve_config(
        preset="finetune",
        overrides=TINY,
        data=str(tmp_path / "no-such-folder"),
        run_dir=str(tmp_path / "run"),
    )
    with pytest.raises(FileNotFoundError, match="KERAS_INCEPTION_WEIGHTS"):
        training.train(config)
    assert not (tmp_path / "run" / "class_names.json").exists()


def test_a_run_directory_inside_the_dataset_is_refused(tmp_path):
    root = tmp_path / "shapes"
    write_shapes(str(root), 2, size=16)
    for run_dir in (root, root / "runs" / "a"):
        config = training.resolve_config(
            preset="smoke", overrides=TINY, data=str(root), run_dir=str(run_dir)
        )
        with pytest.raises(ValueError, match="must not be inside the dataset"):
            training.train(config)
    assert sorted(os.listdir(root)) == ["circle", "square", "triangle"]


def test_a_run_reports_its_choices_and_skipped_files(tmp_path):
    root = tmp_path / "shapes"
    write_shapes(str(root), 8, size=24)
    (root / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    run_dir = tmp_path / "run"
    config = training.resolve_config(
        preset="smoke", overrides=TINY, data=str(root), run_dir=str(run_dir)
    )
    result = training.train(config)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["skipped"]["count"] == 1
    log = summary["skipped"]["log"]
    assert os.path.dirname(log) == str(run_dir) and "broken.png" in open(log).read()
    chosen = summary["chosen"]
    assert {k: v["value"] for k, v in chosen.items()} == {
        "precision": precision.resolve("auto")[0],
        "augment": "mild",
        "central_fraction": 1.0,
        "validation_split": 0.2,
    }
    assert summary["data_profile"]["median_short_side"] == 24
    # The export serves with the crop that was chosen.
    assert json.loads((run_dir / "config.json").read_text())["central_fraction"] == 1.0
    text = trainer.format_summary(result.summary, str(run_dir))
    assert "skipped     1 file(s), listed in" in text and "augment = mild" in text


def _cli_train(tmp_path, name, *args):
    run_dir = tmp_path / name
    command = [
        sys.executable,
        "-m",
        "keras_inception",
        "train",
        "--run-dir",
        str(run_dir),
        "--no-export",
        "--set",
        "verbose=0",
        *args,
    ]
    subprocess.run(command, check=True, cwd=tmp_path, timeout=3000)
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
def test_digits_as_a_png_folder_train_like_the_embedded_digits(tmp_path):
    folder = str(tmp_path / "digits_png")
    write_digits_folder(folder)
    embedded = _cli_train(tmp_path, "embedded")
    from_files = _cli_train(tmp_path, "files", "--data", folder)
    assert embedded["chosen"] == from_files["chosen"]  # the same choices, same reasons
    a, b = embedded["validation"]["accuracy"], from_files["validation"]["accuracy"]
    print(f"embedded {a:.4f} vs PNG folder {b:.4f}")
    assert abs(a - b) <= 0.02 and min(a, b) >= 0.9


@pytest.mark.slow
def test_small_colour_images_of_a_users_folder_train_to_90_percent(tmp_path):
    # 600 32x32 colour images of three shapes whose colours carry no class
    # information: the network has to learn the outlines. The quick preset's
    # former RMSProp at the papers' rate stayed at chance on them, and one
    # pass of 15 batches an epoch was too few updates (docs/training.md).
    folder = str(tmp_path / "shapes")
    write_shapes(folder, 200, size=32)
    summary = _cli_train(tmp_path, "run", "--data", folder)
    print(json.dumps(summary["chosen"], indent=1), summary["validation"])
    assert summary["chosen"]["augment"]["value"] == "mild"
    assert summary["chosen"]["steps_per_epoch"]["value"] == auto.MIN_STEPS_PER_EPOCH
    assert summary["validation"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_finetune_preset_runs_from_imagenet_weights_in_the_weights_dir(tmp_path, monkeypatch):
    import dataclasses
    import hashlib

    import keras

    from keras_inception import weights as weights_lib
    from test_convert_keras_applications import write_legacy

    # A keras.applications-layout notop file in $KERAS_INCEPTION_WEIGHTS, under the
    # published file's name; only its checksum is the test's own.
    record = weights_lib.find_weights("inception_v3", "imagenet")
    notop = record.file_for(False)
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    keras.utils.set_random_seed(5)
    source = keras.applications.InceptionV3(weights=None, include_top=False)
    path = write_legacy(source, weights_dir / notop.fname, include_top=False)
    with open(path, "rb") as f:
        local = dataclasses.replace(
            notop, file_hash=hashlib.md5(f.read()).hexdigest(), hash_algorithm="md5"
        )
    original = type(record).file_for
    monkeypatch.setattr(
        type(record),
        "file_for",
        lambda self, include_top: (
            local if self is record and not include_top else original(self, include_top)
        ),
    )
    monkeypatch.setenv("KERAS_INCEPTION_WEIGHTS", str(weights_dir))
    monkeypatch.setenv("KERAS_INCEPTION_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    root = str(tmp_path / "shapes")
    write_shapes(root, 8, size=40)
    config = training.resolve_config(
        preset="finetune",
        data=root,
        run_dir=str(tmp_path / "run"),
        overrides=[
            "image_size=75",
            "batch_size=8",
            "steps_per_epoch=2",
            "epochs=1",
            "finetune_epochs=1",
            "export=false",
            "verbose=0",
        ],
    )
    result = training.train(config)
    assert result.summary["epochs"] == 2

    def kernels(model):
        return [w.numpy() for w in model.weights if w.path.endswith("kernel")]

    def moving(model):
        return [w.numpy() for w in model.weights if "moving_" in w.path]

    trained, published = kernels(result.model), kernels(source)
    # The backbone's conv kernels come first in both; the new head adds a Dense.
    assert len(trained) == len(published) + 1
    # Bottom blocks: the file's weights, untouched by either phase.
    np.testing.assert_array_equal(trained[0], published[0])
    np.testing.assert_array_equal(trained[50], published[50])
    # The top blocks were unfrozen in the second phase and moved.
    assert not np.array_equal(trained[len(published) - 1], published[-1])
    # BatchNormalization stayed in inference mode: its statistics are the file's.
    for after, before in zip(moving(result.model), moving(source)):
        np.testing.assert_array_equal(after, before)


def test_colour_moves_into_the_step_only_with_an_accelerator_and_colour_to_move():
    from keras_inception.data import auto as data_auto

    on_gpu = data_auto.choose_color_in_model("inception", ["/device:GPU:0"])
    assert on_gpu.value is True and "--set color_in_model=false" == on_gpu.override
    assert "'full'" in on_gpu.reason
    on_cpu = data_auto.choose_color_in_model("fast", [])
    assert on_cpu.value is False and "'fast'" in on_cpu.reason
    for recipe_without_colour in ("mild", "light", "none"):
        assert data_auto.choose_color_in_model(recipe_without_colour, ["/device:TPU:0"]) is None
