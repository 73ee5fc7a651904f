"""Fuzzes the serving signature and ``predict`` with generated images; measures peak RSS.

    .venv/bin/python tools/fuzz_serving.py --count 5000 --seed 0
    .venv/bin/python tools/fuzz_serving.py --measure-rss

A tiny classifier (Inception-v1, 75 px, ``depth_multiplier=0.25``, 3 classes)
is exported once with ``export_saved_model``; batches of cases then run in
worker subprocesses, each case through ``serving_default`` (the whole request)
and, image by image, through ``predict.load_predictor`` on the ``.keras`` file.
Every request must return finite probabilities or fail with
``InvalidArgumentError`` (``predict``: or ``ValueError``); anything else is a
failure. A worker that dies (segfault, abort, OOM kill) or hangs is a crash:
the case it was on is recorded and a new worker goes on after it.

Cases: random bytes; mutated JPEG/PNG/GIF/BMP/WebP files (bit flips,
truncation, splices, marker bytes); valid headers with huge dimensions in each
format; multi-frame GIFs (some with a huge frame); CMYK, 16-bit, greyscale,
palette and RGBA images; a real 389 KB PNG of 20000x20000 zeros; batches of
0 to 4 of these (one bad image fails the whole request).

The summary line: ``inputs=N ok=N rejected=N failures=N crashes=N
peak_rss_kib=N`` (the largest VmHWM of the workers; Linux KiB).

``--measure-rss`` loads the SavedModel in a fresh process per request kind and
reports its peak RSS (VmHWM) after one ``serving_default`` call with a batch of
4: normal photos-sized images, the PNG and JPEG 20000x20000 bombs, a GIF of
many frames, and the largest image under the limit; then the same bombs
against an export whose limit is effectively off, which is what ``main``
served before the fix.
"""

import argparse
import io
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

CASE_KINDS = (
    "random_bytes",
    "mutated",
    "huge_header",
    "multi_frame_gif",
    "colour_modes",
    "batch",
)
IMAGE_SIZE = 75
NUM_CLASSES = 3
# A worker that takes longer than this on one batch of cases is hung.
WORKER_TIMEOUT_S = 900


# ---------------------------------------------------------------------------
# Case generation (deterministic from seed and index).


def _encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _random_image(rng, size=None, mode="RGB"):
    from PIL import Image

    height, width = size or (int(rng.integers(1, 97)), int(rng.integers(1, 97)))
    if rng.random() < 0.5:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    else:
        pixels = np.full((height, width, 3), rng.integers(0, 256, 3), np.uint8)
    image = Image.fromarray(pixels)
    return image.convert(mode) if mode != "RGB" else image


def _colour_mode_image(rng):
    """A valid image in one of the formats and colour modes TensorFlow reads."""
    fmt, mode, options = [
        ("JPEG", "RGB", {}),
        ("JPEG", "L", {}),
        ("JPEG", "CMYK", {}),
        ("JPEG", "RGB", {"progressive": True}),
        ("PNG", "RGB", {}),
        ("PNG", "L", {}),
        ("PNG", "I;16", {}),
        ("PNG", "RGBA", {}),
        ("PNG", "P", {}),
        ("PNG", "LA", {}),
        ("PNG", "1", {}),
        ("GIF", "P", {}),
        ("BMP", "RGB", {}),
        ("BMP", "L", {}),
        ("WEBP", "RGB", {}),
        ("WEBP", "RGBA", {"lossless": True}),
    ][int(rng.integers(16))]
    return _encode(_random_image(rng, mode=mode), fmt, **options)


def _gif(frames, **options):
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], **options)
    return buffer.getvalue()


def _gif_descriptors(data):
    """Offsets of the image descriptors of a GIF."""
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    found = []
    while pos < len(data) and data[pos] in (0x21, 0x2C):
        if data[pos] == 0x21:
            pos += 2
        else:
            found.append(pos)
            flags = data[pos + 9]
            pos += 11 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
        pos += 1
    return found


def _multi_frame_gif(rng):
    frames = [
        _random_image(rng, size=(int(rng.integers(1, 64)), int(rng.integers(1, 64))))
        for _ in range(int(rng.integers(2, 40)))
    ]
    data = bytearray(_gif(frames, duration=10, disposal=int(rng.integers(0, 3))))
    if rng.random() < 0.3:  # one frame claims to be huge
        descriptors = _gif_descriptors(data)
        if descriptors:
            at = descriptors[int(rng.integers(len(descriptors)))]
            data[at + 5 : at + 9] = struct.pack(
                "<HH", int(rng.integers(1, 65536)), int(rng.integers(1, 65536))
            )
    return bytes(data)


def _huge_header(rng):
    """A real small file whose header is rewritten to claim large dimensions."""
    width, height = int(rng.integers(1, 65536)), int(rng.integers(1, 65536))
    fmt = ("PNG", "JPEG", "GIF", "BMP", "WEBP-VP8X", "WEBP-VP8", "WEBP-VP8L")[int(rng.integers(7))]
    base = _random_image(rng, size=(8, 8))
    if fmt == "PNG":
        data = bytearray(_encode(base, "PNG"))
        big = int(rng.integers(1, 2**31))
        data[16:24] = struct.pack(">II", big if rng.random() < 0.2 else width, height)
    elif fmt == "JPEG":
        data = bytearray(_encode(base, "JPEG"))
        at = data.find(b"\xff\xc0")
        data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    elif fmt == "GIF":
        data = bytearray(_encode(base, "GIF"))
        at = _gif_descriptors(data)[0]
        data[at + 5 : at + 9] = struct.pack("<HH", width, height)
        data[6:10] = struct.pack("<HH", width, height)
    elif fmt == "BMP":
        data = bytearray(_encode(base, "BMP"))
        sign = -1 if rng.random() < 0.5 else 1
        data[18:26] = struct.pack("<ii", width, sign * height)
    elif fmt == "WEBP-VP8X":
        chunk = (
            b"\x00\x00\x00\x00"
            + int(rng.integers(2**24)).to_bytes(3, "little")
            + int(rng.integers(2**24)).to_bytes(3, "little")
        )
        body = b"WEBP" + b"VP8X" + struct.pack("<I", len(chunk)) + chunk
        data = bytearray(b"RIFF" + struct.pack("<I", len(body)) + body)
    else:
        lossless = fmt == "WEBP-VP8L"
        data = bytearray(_encode(base, "WEBP", lossless=lossless))
        if data[12:16] == b"VP8L":
            bits = (width % 16384 - 1) % 16384 | ((height % 16384 - 1) % 16384) << 14
            data[21:25] = struct.pack("<I", bits)
        elif data[12:16] == b"VP8 ":
            data[26:30] = struct.pack("<HH", width % 16384, height % 16384)
    return bytes(data)


def _mutated(rng):
    data = bytearray(_colour_mode_image(rng) if rng.random() < 0.7 else _multi_frame_gif(rng))
    for _ in range(int(rng.integers(0, 3))):  # truncate, flip, splice, marker bytes
        if not data:
            break
        choice = int(rng.integers(4))
        at = int(rng.integers(len(data)))
        if choice == 0:
            del data[at:]
        elif choice == 1:
            for _ in range(int(rng.integers(1, 9))):
                data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        elif choice == 2:
            data[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        else:
            data[at] = int(rng.choice([0x00, 0xFF, 0xD8, 0xD9, 0xDA, 0xC0, 0x21, 0x2C, 0x3B]))
    return bytes(data)


_BOMBS = {}


def png_bomb(side=20000):
    """A real greyscale PNG of ``side`` x ``side`` zeros (389 KB at 20000; 1.2 GB as RGB)."""
    if side not in _BOMBS:

        def chunk(kind, payload):
            crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
            return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

        compressor = zlib.compressobj(9)
        row = bytes(1 + side)
        parts = [compressor.compress(row) for _ in range(side)]
        idat = b"".join(parts) + compressor.flush()
        ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
        _BOMBS[side] = (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
        )
    return _BOMBS[side]


def _single(rng, kind):
    if kind == "random_bytes":
        return rng.integers(0, 256, int(rng.integers(0, 600)), dtype=np.uint8).tobytes()
    if kind == "mutated":
        return _mutated(rng)
    if kind == "huge_header":
        return png_bomb() if rng.random() < 0.02 else _huge_header(rng)
    if kind == "multi_frame_gif":
        return _multi_frame_gif(rng)
    return _colour_mode_image(rng)


def make_case(seed, index):
    """``(kind, [encoded images])``: one request, deterministic in ``(seed, index)``."""
    rng = np.random.default_rng([seed, index])
    kind = CASE_KINDS[index % len(CASE_KINDS)]
    if kind != "batch":
        return kind, [_single(rng, kind)]
    return kind, [
        _single(rng, CASE_KINDS[int(rng.integers(len(CASE_KINDS) - 1))])
        for _ in range(int(rng.integers(0, 5)))
    ]


# ---------------------------------------------------------------------------
# Running cases (in a worker process, or in a test).


def export_tiny_model(directory, max_pixels=None):
    """Exports the fuzzing model to ``directory``; returns ``(saved_model_dir, keras_path)``."""
    import keras_inception
    from keras_inception import export

    model = keras_inception.InceptionV1(
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        depth_multiplier=0.25,
        classes=NUM_CLASSES,
        weights=None,
    )
    keras_path = os.path.join(directory, "tiny.keras")
    model.save(keras_path)
    options = {} if max_pixels is None else {"max_pixels": max_pixels}
    saved = export.export_saved_model(
        model, base_dir=os.path.join(directory, "served"), model_name="tiny", **options
    )
    return saved, keras_path


class Runner:
    """Runs cases through ``serving_default`` and through ``predict``; classifies outcomes."""

    def __init__(self, saved_model_dir, keras_path):
        import tensorflow as tf

        from keras_inception.predict import load_predictor

        self._tf = tf
        self._loaded = tf.saved_model.load(saved_model_dir)
        self._serve = self._loaded.signatures["serving_default"]
        self._predict = load_predictor(keras_path)

    def serve(self, blobs):
        """``"ok"``, ``"rejected"`` or ``"failure: ..."`` for one request."""
        tf = self._tf
        try:
            out = self._serve(image_bytes=tf.constant(blobs, tf.string))["probabilities"].numpy()
        except tf.errors.InvalidArgumentError:
            return "rejected"
        except Exception as error:  # noqa: BLE001 - any other error is the finding
            return f"failure: {type(error).__name__}: {str(error)[:200]}"
        if out.shape != (len(blobs), NUM_CLASSES) or not np.all(np.isfinite(out)):
            return f"failure: probabilities of shape {out.shape}"
        if len(blobs) and np.max(np.abs(out.sum(axis=1) - 1)) > 1e-4:
            return "failure: probabilities do not sum to 1"
        return "ok"

    def predict(self, blob):
        """The same for one image through ``predict`` (its header check, then its graph)."""
        from keras_inception import image_header

        tf = self._tf
        try:
            image_header.check_max_pixels(blob)
            out = self._predict(blob)
        except (ValueError, tf.errors.InvalidArgumentError):
            return "rejected"
        except Exception as error:  # noqa: BLE001
            return f"failure: {type(error).__name__}: {str(error)[:200]}"
        if out.shape != (NUM_CLASSES,) or not np.all(np.isfinite(out)):
            return f"failure: probabilities of shape {out.shape}"
        return "ok"

    def run(self, blobs):
        """Outcomes of one case: the request, then each image through predict."""
        return [self.serve(blobs)] + [self.predict(blob) for blob in blobs]


def _peak_rss_kib():
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _worker(args):
    runner = Runner(args.saved_model, args.keras)
    for index in range(args.start, args.stop):
        kind, blobs = make_case(args.seed, index)
        outcomes = runner.run(blobs)
        print(
            json.dumps(
                {"index": index, "kind": kind, "outcomes": outcomes, "rss_kib": _peak_rss_kib()}
            ),
            flush=True,
        )
    return 0


def _fuzz(args):
    start_time = time.time()
    workdir = tempfile.mkdtemp(prefix="fuzz_serving-")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    exported = subprocess.run(
        [sys.executable, __file__, "--export-to", workdir],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    saved_model, keras_path = json.loads(exported.stdout.strip().splitlines()[-1])
    totals = {"inputs": 0, "ok": 0, "rejected": 0, "failures": 0, "crashes": 0}
    peak = 0
    findings = []
    next_index = 0
    while next_index < args.count:
        stop = min(args.count, next_index + args.cases_per_worker)
        command = [
            sys.executable,
            __file__,
            "--worker",
            "--saved-model",
            saved_model,
            "--keras",
            keras_path,
            "--seed",
            str(args.seed),
            "--start",
            str(next_index),
            "--stop",
            str(stop),
        ]
        done = next_index
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            stdout, _ = process.communicate(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, _ = process.communicate()
        for line in stdout.splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            peak = max(peak, record["rss_kib"])
            for outcome in record["outcomes"]:
                totals["inputs"] += 1
                key = outcome if outcome in ("ok", "rejected") else "failures"
                totals[key] += 1
                if key == "failures":
                    findings.append(f"case {record['index']} ({record['kind']}): {outcome}")
            done = record["index"] + 1
        if process.returncode != 0:
            totals["crashes"] += 1
            findings.append(
                f"case {done}: worker died with code {process.returncode}"
                f" ({'hang' if process.returncode == -9 else 'crash'})"
            )
            done += 1
        next_index = done
    peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    for finding in findings[:50]:
        print(finding, file=sys.stderr)
    print(
        f"inputs={totals['inputs']} ok={totals['ok']} rejected={totals['rejected']} "
        f"failures={totals['failures']} crashes={totals['crashes']} peak_rss_kib={peak} "
        f"cases={args.count} seed={args.seed} seconds={time.time() - start_time:.0f}"
    )
    return 0 if not totals["failures"] and not totals["crashes"] else 1


# ---------------------------------------------------------------------------
# Peak RSS of one serving request.


def _largest_accepted_png(max_pixels):
    """A real PNG (greyscale zeros) just under ``max_pixels`` pixels."""
    side = int(max_pixels**0.5)
    return png_bomb(side)


def jpeg_bomb(side=20000):
    """A real baseline JPEG of ``side`` x ``side`` grey pixels (a few MB)."""
    from PIL import Image

    return _encode(Image.new("L", (side, side), 0), "JPEG", quality=5)


def gif_frames_bomb(frames=400, side=400):
    """A GIF of ``frames`` frames of ``side`` x ``side`` (64M decoded pixels)."""
    from PIL import Image

    images = [Image.new("RGB", (side, side), (255 * (i % 2),) * 3) for i in range(frames)]
    return _gif(images, duration=10)


def _request_rss(args):
    """In a fresh process: load, call serving_default once with the request file, print VmHWM."""
    import tensorflow as tf

    loaded = tf.saved_model.load(args.saved_model)
    serve = loaded.signatures["serving_default"]
    baseline = _peak_rss_kib()
    with open(args.request, "rb") as f:
        blobs = json.loads(f.read().decode("latin-1"))
    blobs = [blob.encode("latin-1") for blob in blobs]
    start = time.time()
    try:
        serve(image_bytes=tf.constant(blobs))
        outcome = "ok"
    except tf.errors.InvalidArgumentError as error:
        from keras_inception.predict import op_error_text

        outcome = f"InvalidArgumentError: {op_error_text(error)}"
    print(
        json.dumps(
            {
                "loaded_rss_kib": baseline,
                "peak_rss_kib": _peak_rss_kib(),
                "seconds": round(time.time() - start, 2),
                "outcome": outcome,
            }
        )
    )
    return 0


def _measure_rss(args):
    from keras_inception.image_header import DEFAULT_MAX_PIXELS

    workdir = tempfile.mkdtemp(prefix="serving_rss-")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    exports = {}
    for label, limit in (("limit 40000000", None), ("no limit", 10**15)):
        directory = os.path.join(workdir, label.replace(" ", "_"))
        os.makedirs(directory)
        done = subprocess.run(
            [sys.executable, __file__, "--export-to", directory]
            + ([] if limit is None else ["--export-max-pixels", str(limit)]),
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        exports[label] = json.loads(done.stdout.strip().splitlines()[-1])[0]
    rng = np.random.default_rng(0)
    normal = [_encode(_random_image(rng, size=(480, 640)), "JPEG") for _ in range(4)]
    requests = [
        ("limit 40000000", "4 normal 640x480 JPEGs", normal),
        ("limit 40000000", "4 PNG bombs 20000x20000 (389 KB each)", [png_bomb()] * 4),
        ("limit 40000000", "4 JPEG bombs 20000x20000", [jpeg_bomb()] * 4),
        ("limit 40000000", "4 GIFs of 400 frames of 400x400", [gif_frames_bomb()] * 4),
        (
            "limit 40000000",
            "4 PNGs just under the limit (6324x6324)",
            [_largest_accepted_png(DEFAULT_MAX_PIXELS)] * 4,
        ),
        ("no limit", "4 normal 640x480 JPEGs", normal),
        ("no limit", "1 PNG bomb 20000x20000", [png_bomb()]),
        ("no limit", "4 PNG bombs 20000x20000", [png_bomb()] * 4),
        ("no limit", "4 GIFs of 400 frames of 400x400", [gif_frames_bomb()] * 4),
    ]
    for export_label, label, blobs in requests:
        request = os.path.join(workdir, "request.json")
        with open(request, "wb") as f:
            f.write(json.dumps([blob.decode("latin-1") for blob in blobs]).encode("latin-1"))
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--request-rss",
                "--saved-model",
                exports[export_label],
                "--request",
                request,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            print(f"{export_label:15} | {label:42} | process died, code {done.returncode}")
            continue
        result = json.loads(lines[-1])
        print(
            f"{export_label:15} | {label:42} | loaded {result['loaded_rss_kib'] / 2**20:.2f} GiB"
            f" | peak {result['peak_rss_kib'] / 2**20:.2f} GiB | {result['seconds']} s"
            f" | {result['outcome'][:90]}"
        )
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="cases (default 5000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases-per-worker", type=int, default=1000)
    parser.add_argument("--measure-rss", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--request-rss", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export-to", help=argparse.SUPPRESS)
    parser.add_argument("--export-max-pixels", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--saved-model", help=argparse.SUPPRESS)
    parser.add_argument("--keras", help=argparse.SUPPRESS)
    parser.add_argument("--request", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.export_to:
        print(json.dumps(export_tiny_model(args.export_to, args.export_max_pixels)))
        return 0
    if args.worker:
        return _worker(args)
    if args.request_rss:
        return _request_rss(args)
    if args.measure_rss:
        return _measure_rss(args)
    return _fuzz(args)


if __name__ == "__main__":
    sys.exit(main())
