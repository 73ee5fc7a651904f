"""SavedModel export for TF Serving: signatures vs Keras, REST bodies, CLI, layout, limits.

The serving fuzz suite is in ``test_fuzz_serving.py``.
"""

import base64
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import export_support as support
from keras_inception import data
from keras_inception import export
from keras_inception.cli import main as cli_main
from keras_inception.preprocessing import preprocess_input

LABELS = ["tabby_cat", "golden_dog", "moray_eel"]


def encode(pixels, fmt, mode=None):
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    (image.convert(mode) if mode else image).save(buffer, fmt)
    return buffer.getvalue()


def random_pixels(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A thin softmax Inception-v3 exported with three named classes and top-2 outputs."""
    with support.built_once(tmp_path_factory, "tiny_saved_model") as (directory, missing):
        if missing:
            directory.mkdir()
            model = support.tiny_model()
            model.save(directory / "tiny.keras")
            export.export_saved_model(
                model, base_dir=directory, model_name="tiny", class_names=LABELS, top_k=2
            )
    path = str(directory / "tiny" / "1")
    return keras.saving.load_model(directory / "tiny.keras"), path, tf.saved_model.load(path)


def keras_probabilities(model, scaled_pixels):
    return model(np.asarray(scaled_pixels, np.float32), training=False).numpy()


def test_pixel_signatures_match_keras(exported):
    model, _, loaded = exported
    pixels = random_pixels((2, 75, 75, 3))
    expected = keras_probabilities(model, preprocess_input(pixels))
    for name, dtype in (("serving_pixels", tf.float32), ("serving_pixels_uint8", tf.uint8)):
        out = loaded.signatures[name](pixels=tf.constant(pixels, dtype))
        probabilities = out["probabilities"].numpy()
        assert np.max(np.abs(probabilities - expected)) <= 1e-4
        order = np.argsort(-probabilities, axis=1)[:, :2]
        np.testing.assert_array_equal(out["top_k_indices"].numpy(), order)
        np.testing.assert_allclose(
            out["top_k_scores"].numpy(), np.take_along_axis(probabilities, order, 1)
        )
        labels = [[label.decode() for label in row] for row in out["top_k_labels"].numpy()]
        assert labels == [[LABELS[i] for i in row] for row in order]


def test_image_bytes_signature_matches_the_eval_pipeline(exported):
    model, _, loaded = exported
    images = [random_pixels((90, 110, 3), 1), random_pixels((60, 40, 3), 2)]
    blobs = [encode(images[0], "PNG"), encode(images[1], "BMP")]
    expected = keras_probabilities(
        model,
        [data.preprocess_for_eval(data.decode_image(blob), 75, 75, scale=True) for blob in blobs],
    )
    out = loaded.signatures["serving_default"](image_bytes=tf.constant(blobs))
    assert np.max(np.abs(out["probabilities"].numpy() - expected)) <= 1e-4


def test_one_bad_image_fails_its_request(exported):
    _, _, loaded = exported
    good = encode(random_pixels((40, 40, 3)), "PNG")
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_default"](image_bytes=tf.constant([good, good[:30]]))


def test_labels_are_an_asset_not_constants(exported, tmp_path):
    _, path, _ = exported
    assert (open(os.path.join(path, "assets", "labels.txt")).read().splitlines()) == LABELS
    assert b"moray_eel" not in open(os.path.join(path, "saved_model.pb"), "rb").read()
    relabelled = tmp_path / "relabelled"
    shutil.copytree(path, relabelled)
    (relabelled / "assets" / "labels.txt").write_text("a\nb\nc\n")
    out = tf.saved_model.load(str(relabelled)).signatures["serving_pixels_uint8"](
        pixels=tf.constant(random_pixels((1, 75, 75, 3)))
    )
    assert {label.decode() for label in out["top_k_labels"].numpy()[0]} <= {"a", "b", "c"}


def rest_inputs(body, signature):
    """Decodes a TF Serving REST body into the signature's inputs, as the server does.

    Row (``instances``) and columnar (``inputs``) forms; a signature with one
    input takes bare values; ``{"b64": ...}`` is base64 binary; every value
    becomes a tensor of the dtype the signature declares.
    """
    specs = signature.structured_input_signature[1]

    def unwrap(value):
        if isinstance(value, dict) and set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        return [unwrap(v) for v in value] if isinstance(value, list) else value

    if "instances" in body:
        rows = body["instances"]
        named = all(isinstance(row, dict) and set(row) <= set(specs) for row in rows)
        if not named:
            (name,) = specs
            rows = [{name: row} for row in rows]
        columns = {name: [row[name] for row in rows] for name in specs}
    else:
        inputs = body["inputs"]
        columns = inputs if isinstance(inputs, dict) else {next(iter(specs)): inputs}
    return {
        name: tf.constant(unwrap(columns[name]), dtype=spec.dtype) for name, spec in specs.items()
    }


def rest_response(outputs):
    """The row-format JSON answer: one object of named outputs per instance."""
    lists = {
        key: [[v.decode() for v in row] if value.dtype == object else row for row in value.tolist()]
        for key, value in ((k, v.numpy()) for k, v in outputs.items())
    }
    size = len(next(iter(lists.values())))
    return json.loads(
        json.dumps({"predictions": [{key: lists[key][i] for key in lists} for i in range(size)]})
    )


def test_rest_request_bodies(exported):
    model, _, loaded = exported
    images = [random_pixels((80, 80, 3), 3), random_pixels((75, 75, 3), 4)]
    blobs = [encode(images[0], "JPEG"), encode(images[1], "PNG")]
    b64 = [base64.b64encode(blob).decode("ascii") for blob in blobs]
    direct = loaded.signatures["serving_default"](image_bytes=tf.constant(blobs))
    expected_labels = [[LABELS[i] for i in row] for row in direct["top_k_indices"].numpy()]
    bodies = [
        {"instances": [{"b64": s} for s in b64]},
        {"instances": [{"image_bytes": {"b64": s}} for s in b64]},
        {"signature_name": "serving_default", "inputs": {"image_bytes": [{"b64": s} for s in b64]}},
        {"inputs": [{"b64": s} for s in b64]},
    ]
    for body in bodies:
        body = json.loads(json.dumps(body))
        signature = loaded.signatures[body.get("signature_name", "serving_default")]
        answer = rest_response(signature(**rest_inputs(body, signature)))["predictions"]
        assert [row["top_k_labels"] for row in answer] == expected_labels
        np.testing.assert_allclose(
            [row["probabilities"] for row in answer], direct["probabilities"].numpy(), atol=1e-6
        )
    body = json.loads(
        json.dumps({"signature_name": "serving_pixels_uint8", "instances": [images[1].tolist()]})
    )
    signature = loaded.signatures["serving_pixels_uint8"]
    answer = rest_response(signature(**rest_inputs(body, signature)))["predictions"]
    expected = keras_probabilities(model, preprocess_input(images[1][None]))
    assert np.max(np.abs(np.array(answer[0]["probabilities"]) - expected[0])) <= 1e-4


def test_saved_model_cli_shows_the_signatures(exported):
    _, path, _ = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run(
        [cli, "show", "--all", "--dir", path],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    ).stdout
    blocks = dict(re.findall(r"signature_def\['(\w+)'\]:(.*?)(?=signature_def\[|\Z)", shown, re.S))
    assert {"serving_default", "serving_pixels", "serving_pixels_uint8"} <= set(blocks)

    def tensor(block, kind, name):
        found = re.search(
            rf"{kind}\['{name}'\] tensor_info:\s+dtype: (\w+)\s+shape: \(([^)]*)\)", block
        )
        return found.group(1), found.group(2).replace(" ", "")

    assert tensor(blocks["serving_default"], "inputs", "image_bytes") == ("DT_STRING", "-1")
    assert tensor(blocks["serving_pixels"], "inputs", "pixels") == ("DT_FLOAT", "-1,75,75,3")
    assert tensor(blocks["serving_pixels_uint8"], "inputs", "pixels") == ("DT_UINT8", "-1,75,75,3")
    for block in (blocks["serving_default"], blocks["serving_pixels"]):
        assert tensor(block, "outputs", "probabilities") == ("DT_FLOAT", "-1,3")
        assert tensor(block, "outputs", "top_k_indices") == ("DT_INT32", "-1,2")
        assert tensor(block, "outputs", "top_k_scores") == ("DT_FLOAT", "-1,2")
        assert tensor(block, "outputs", "top_k_labels") == ("DT_STRING", "-1,2")


def png_header(width, height):
    def chunk(kind, payload):
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def huge_headers():
    """Files whose headers claim enormous images, in each format."""
    jpeg = bytearray(encode(random_pixels((16, 16, 3)), "JPEG"))
    at = jpeg.find(b"\xff\xc0")
    jpeg[at + 5 : at + 9] = struct.pack(">HH", 65000, 65000)
    gif = bytearray(encode(random_pixels((16, 16, 3)), "GIF"))
    gif[6:10] = struct.pack("<HH", 65535, 65535)  # the screen, then the first frame
    frame = 13 + (3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0)
    while gif[frame] == 0x21:  # extension blocks: label, then sized sub-blocks
        frame += 2
        while gif[frame]:
            frame += gif[frame] + 1
        frame += 1
    gif[frame + 5 : frame + 9] = struct.pack("<HH", 65535, 65535)
    bmp = bytearray(encode(random_pixels((16, 16, 3)), "BMP"))
    bmp[18:26] = struct.pack("<ii", 60000, 60000)
    return [png_header(60000, 60000), png_header(2**31 - 1, 1), bytes(jpeg), bytes(gif), bytes(bmp)]


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """A few-layer model's SavedModel: the same serving graph, a model that costs nothing."""
    base = tmp_path_factory.mktemp("small_saved_models")
    model = support.small_model("softmax")
    return tf.saved_model.load(export.export_saved_model(model, base_dir=base))


def test_empty_batch_gets_an_empty_answer(small_export):
    for name, inputs in (
        ("serving_default", {"image_bytes": tf.constant([], tf.string)}),
        ("serving_pixels", {"pixels": tf.zeros([0, 16, 16, 3])}),
    ):
        out = small_export.signatures[name](**inputs)
        assert out["probabilities"].shape == (0, 3) and out["top_k_labels"].shape == (0, 3)


def test_versions_layout_and_meta(tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2

    model = support.small_model()
    first = export.export_saved_model(model, base_dir=tmp_path, model_name="m")
    second = export.export_saved_model(model, base_dir=tmp_path, model_name="m")
    pinned = export.export_saved_model(model, base_dir=tmp_path, model_name="m", version=7)
    other = export.export_saved_model(model, base_dir=tmp_path, model_name="other")
    assert [first, second, pinned, other] == [
        str(tmp_path / "m" / "1"),
        str(tmp_path / "m" / "2"),
        str(tmp_path / "m" / "7"),
        str(tmp_path / "other" / "1"),
    ]
    assert export.export_saved_model(model, base_dir=tmp_path, model_name="m").endswith("8")
    with pytest.raises(ValueError, match="version=7"):
        export.export_saved_model(model, base_dir=tmp_path, model_name="m", version=7)
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2", "7", "8"]  # no staging left

    config = (tmp_path / "models.config").read_text()
    assert re.findall(r'name: "(\w+)"\s+base_path: "([^"]+)"', config) == [
        ("m", "/models/m"),
        ("other", "/models/other"),
    ]
    assert config.count('model_platform: "tensorflow"') == 2
    assert "max_batch_size { value: 32 }" in (tmp_path / "batching_parameters.txt").read_text()

    meta = json.loads((tmp_path / "m" / "1" / "assets.extra" / "export_meta.json").read_text())
    proto = saved_model_pb2.SavedModel.FromString(
        (tmp_path / "m" / "1" / "saved_model.pb").read_bytes()
    )
    assert meta["tensorflow_version"] == tf.__version__
    assert proto.meta_graphs[0].meta_info_def.tensorflow_version == tf.__version__
    assert meta["model_output"] == "logits" and meta["input_range"] == [-1.0, 1.0]


def test_failed_export_leaves_no_version(tmp_path, monkeypatch):
    def broken_save(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_saved_model(support.small_model(), base_dir=tmp_path, model_name="m")
    assert os.listdir(tmp_path / "m") == []
    assert not (tmp_path / "models.config").exists()


@pytest.mark.parametrize("include_preprocessing", [False, True])
def test_logits_and_input_scaling_are_handled(tmp_path, include_preprocessing):
    model = support.small_model(activation=None, include_preprocessing=include_preprocessing)
    loaded = tf.saved_model.load(export.export_saved_model(model, base_dir=tmp_path))
    pixels = random_pixels((3, 16, 16, 3))
    model_input = pixels if include_preprocessing else preprocess_input(pixels)
    expected = tf.nn.softmax(model(np.asarray(model_input, np.float32))).numpy()
    got = loaded.signatures["serving_pixels_uint8"](pixels=tf.constant(pixels))["probabilities"]
    assert np.max(np.abs(got.numpy() - expected)) <= 1e-5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(top_k=0), "top_k=0"),
        (dict(version=0), "version=0"),
        (dict(model_name="a/b"), "model_name='a/b'"),
        (dict(class_names=["x"]), "class_names of length 1"),
        (dict(max_pixels=0), "max_pixels=0"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        export.export_saved_model(support.small_model(), base_dir=tmp_path, **kwargs)


def test_run_directory_and_cli(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    model = support.small_model("softmax")
    model.save(run / "best.keras")
    data.save_class_names(str(run / "class_names.json"), LABELS)
    (run / "config.json").write_text(
        json.dumps({"model": "small_net", "image_size": 16, "central_fraction": 0.5})
    )
    code = cli_main(["export", str(run), "--out", str(tmp_path / "served"), "--json"])
    assert code == 0
    path = json.loads(capsys.readouterr().out)["path"]
    assert path == str(tmp_path / "served" / "small_net" / "1")
    assert open(os.path.join(path, "assets", "labels.txt")).read().splitlines() == LABELS
    # serving_default crops as the run evaluated: the central half.
    blob = encode(random_pixels((40, 40, 3), 6), "PNG")
    expected = keras_probabilities(
        model, [data.preprocess_for_eval(data.decode_image(blob), 16, 16, 0.5, scale=True)]
    )
    out = tf.saved_model.load(path).signatures["serving_default"](image_bytes=tf.constant([blob]))
    assert np.max(np.abs(out["probabilities"].numpy() - expected)) <= 1e-5
    assert cli_main(["export", str(tmp_path / "missing.keras")]) == 1
    assert "missing.keras" in capsys.readouterr().err


def test_load_source_gives_one_output_and_a_static_size(tmp_path):
    model, names, meta = export.load_source(support.tiny_model(aux_logits=True))
    assert model.output.shape == (None, 3) and names is None
    assert meta["output"] == "probabilities" and meta["input_range"] == [-1.0, 1.0]
    assert meta["image_size"] == [75, 75] and meta["central_fraction"] == 0.875

    run = tmp_path / "run"
    run.mkdir()
    support.small_model(size=None, include_preprocessing=True).save(run / "last.keras")
    with pytest.raises(ValueError, match="any input size"):
        export.load_source(run)
    (run / "config.json").write_text(json.dumps({"image_size": 20, "central_fraction": None}))
    model, _, meta = export.load_source(run)
    assert model.input_shape == (None, 20, 20, 3) and meta["image_size"] == [20, 20]
    assert meta["input_range"] == [0.0, 255.0] and meta["output"] == "logits"
    assert meta["central_fraction"] == 0.875

    inputs = keras.Input((16, 16, 3))
    features = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="include_top=True"):
        export.load_source(features)


def test_serving_refuses_header_bombs_before_decoding(small_export):
    serve = small_export.signatures["serving_default"]
    good = encode(random_pixels((30, 30, 3)), "PNG")
    for blob in huge_headers():
        # The decoders would fail too (there is no pixel data), but only after
        # allocating the whole image; the limit answers first.
        with pytest.raises(tf.errors.InvalidArgumentError, match="over max_pixels=40000000"):
            serve(image_bytes=tf.constant([good, blob]))


def test_max_pixels_is_chosen_at_export_and_recorded(tmp_path, capsys):
    support.small_model("softmax").save(tmp_path / "m.keras")
    code = cli_main(
        [
            "export",
            str(tmp_path / "m.keras"),
            "--out",
            str(tmp_path / "served"),
            "--max-pixels",
            "1000",
            "--json",
        ]
    )
    assert code == 0
    path = json.loads(capsys.readouterr().out)["path"]
    meta = json.loads(open(os.path.join(path, "assets.extra", "export_meta.json")).read())
    assert meta["max_pixels"] == 1000
    serve = tf.saved_model.load(path).signatures["serving_default"]
    within = encode(random_pixels((25, 40, 3)), "PNG")
    assert serve(image_bytes=tf.constant([within]))["probabilities"].shape == (1, 3)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=re.escape("image is 41x25 = 1025 pixels, over max_pixels=1000"),
    ):
        serve(image_bytes=tf.constant([within, encode(random_pixels((25, 41, 3)), "JPEG")]))
    frames = [Image.fromarray(random_pixels((20, 20, 3), seed)) for seed in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(tf.errors.InvalidArgumentError, match="1200 pixels in all frames"):
        serve(image_bytes=tf.constant([buffer.getvalue()]))


def dead_pid():
    """The pid of a process that has exited (and was reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask022", "umask077"])
def test_published_tree_follows_the_umask(tmp_path, umask):
    base = tmp_path / "served"
    previous = os.umask(umask)
    try:
        export.export_saved_model(support.small_model(), base_dir=base, model_name="m")
    finally:
        os.umask(previous)
    modes = {}
    for root, folders, files in os.walk(base):
        for name in folders + files:
            path = os.path.join(root, name)
            modes[os.path.relpath(path, base)] = os.stat(path).st_mode & 0o777
    assert {"m", "m/1", "m/1/variables", "m/1/saved_model.pb", "models.config"} <= set(modes)
    for relative, mode in modes.items():
        is_dir = os.path.isdir(base / relative)
        assert mode == (0o777 if is_dir else 0o666) & ~umask, (relative, oct(mode))


def test_rerun_removes_the_staging_of_dead_exports_and_passes_its_fault_points(
    tmp_path, monkeypatch
):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    stale = model_dir / f".staging-{dead_pid()}-k2x9_abc"
    stale.mkdir()
    (stale / "saved_model.pb").write_bytes(b"half a model")
    # A concurrent export (its process is alive) keeps its staging directory.
    live = model_dir / f".staging-{os.getppid()}-q8v3_def"
    live.mkdir()
    trace = tmp_path / "trace"
    monkeypatch.setenv("KERAS_INCEPTION_FAULT_TRACE", str(trace))
    export.export_saved_model(support.small_model(), base_dir=tmp_path, model_name="m")
    assert sorted(os.listdir(model_dir)) == sorted([live.name, "1"])
    assert trace.read_text().split() == [
        "export.model_saved",
        "export.meta_written",
        "export.before_publish",
        "export.published",
        "export.before_models_config",
        "export.models_config_written",
    ]


@pytest.mark.slow
def test_export_killed_before_publishing_is_cleaned_by_the_rerun(tmp_path):
    support.small_model().save(tmp_path / "m.keras")
    command = [
        sys.executable,
        "-m",
        "keras_inception",
        "export",
        str(tmp_path / "m.keras"),
        "--out",
        str(tmp_path / "served"),
        "--model-name",
        "m",
    ]
    env = {
        **os.environ,
        "KERAS_INCEPTION_FAULT": "export.before_publish",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    killed = subprocess.run(command, env=env, capture_output=True, timeout=600)
    assert killed.returncode == -9
    left = os.listdir(tmp_path / "served" / "m")
    assert left and all(name.startswith(".staging-") for name in left)
    env.pop("KERAS_INCEPTION_FAULT")
    subprocess.run(command, env=env, capture_output=True, timeout=600, check=True)
    assert os.listdir(tmp_path / "served" / "m") == ["1"]
