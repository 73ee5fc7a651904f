"""Fuzzes the data pipeline's readers with generated hostile and broken inputs.

Two families of inputs, each run through the public paths a user takes:

- image files (random bytes, mutated JPEG/PNG/GIF/BMP/WebP, valid headers
  claiming huge sizes, many-frame GIFs, CMYK, 16-bit, greyscale, zero-byte
  files, links: loops, dangling, to devices and FIFOs, to folders). A batch of
  them is put in the class folders of a tree beside a few good images, then
  ``open_source(verify="full")``, a full ``build_dataset`` epoch and
  ``keras-inception data info`` run on the tree. Each input must be used or
  skipped with a reason; nothing may raise.
- TFRecord shards (bit flips anywhere, truncations, damaged length fields,
  records that are not examples, examples with bogus images or labels, a
  lying ``dataset_info.json``). Each case is opened with ``verify="full"``
  and, when it opens, a ``build_dataset`` epoch is read; every third case also
  with ``verify="quick"``, and another third through ``keras-inception data
  info --verify full``. Each must answer with a one-line ``ValueError`` /
  ``error:`` or read consistently (the full check's count is the epoch's).

A batch runs in a child process (so a hard crash is counted, not fatal to
the run); the parent reports the children's peak resident memory. Summary
line: ``inputs N crashes N skips N errors N peak_rss_kib N``. A crash is a
child that died or hung, or an exception other than the expected one-line
``ValueError`` (what a user would see as a traceback), or an inconsistent
answer (an epoch shorter or longer than the count reported).

    .venv/bin/python tools/fuzz_data.py --count 4000 --seed 0
"""

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Files per directory batch, cases per TFRecord batch.
FILE_BATCH = 250
RECORD_BATCH = 60
# Share of the inputs that are TFRecord cases.
RECORD_SHARE = 0.2
BATCH_TIMEOUT_S = 900


# ---------------------------------------------------------------- image files


def _pil():
    from PIL import Image

    return Image


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _random_image(rng, mode="RGB", size=None):
    import numpy as np

    Image = _pil()
    width, height = size or (rng.randint(1, 40), rng.randint(1, 40))
    pixels = np.random.default_rng(rng.randrange(1 << 30)).integers(
        0, 256, (height, width, 3), dtype=np.uint8
    )
    image = Image.fromarray(pixels)
    return image if mode == "RGB" else image.convert(mode)


def _gif(rng, frames, size=None):
    images = [_random_image(rng, "P", size) for _ in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def valid_image(rng):
    """A small valid image of a random format and colour mode."""
    import numpy as np

    Image = _pil()
    kind = rng.choice(
        [
            "jpeg",
            "jpeg_grey",
            "jpeg_cmyk",
            "png",
            "png_rgba",
            "png_palette",
            "png_grey",
            "png16",
            "gif",
            "gif_frames",
            "bmp",
            "bmp_grey",
            "webp",
            "webp_lossless",
        ]
    )
    if kind == "png16":
        size = (rng.randint(1, 30), rng.randint(1, 30))
        values = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 65536, size[::-1])
        return _encode(Image.fromarray(values.astype(np.uint16)), "PNG")
    if kind == "gif":
        return _gif(rng, 1)
    if kind == "gif_frames":
        return _gif(rng, rng.randint(2, 6))
    mode = {
        "jpeg_grey": "L",
        "jpeg_cmyk": "CMYK",
        "png_rgba": "RGBA",
        "png_palette": "P",
        "png_grey": "L",
        "bmp_grey": "L",
    }.get(kind, "RGB")
    fmt = {"jpeg": "JPEG", "png": "PNG", "bmp": "BMP", "webp": "WEBP"}[kind.split("_")[0]]
    kwargs = {"lossless": True} if kind == "webp_lossless" else {}
    return _encode(_random_image(rng, mode), fmt, **kwargs)


def huge_header(rng):
    """A valid small image whose header claims a huge size (or frames that add up)."""
    big = rng.choice([65000, 30000, 16384, 9000, 0x3FFF])
    other = rng.choice([big, 7000])
    kind = rng.choice(["jpeg", "png", "gif", "gif_frame", "bmp", "webp_vp8x", "gif_many"])
    if kind == "jpeg":
        data = bytearray(_encode(_random_image(rng), "JPEG"))
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", big, other)
        return bytes(data)
    if kind == "png":
        import zlib

        data = bytearray(_encode(_random_image(rng), "PNG"))
        data[16:24] = struct.pack(">II", other, big)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
        return bytes(data)
    if kind in ("gif", "gif_frame"):
        # TensorFlow sizes a GIF by its frames, not by its logical screen.
        data = bytearray(_gif(rng, 1))
        if kind == "gif":
            data[6:10] = struct.pack("<HH", min(big, 65535), min(other, 65535))
        descriptor = _gif_descriptor(data)
        data[descriptor + 5 : descriptor + 9] = struct.pack(
            "<HH", min(big, 65535), min(other, 65535)
        )
        return bytes(data)
    if kind == "gif_many":
        # Frames of 8000x8000 declared, one pixel of data each.
        frame = b"\x2c" + struct.pack("<HHHH", 0, 0, 8000, 8000) + b"\x00\x02\x02\x4c\x01\x00"
        header = b"GIF89a" + struct.pack("<HH", 8000, 8000) + b"\x80\x00\x00" + b"\x00" * 6
        return header + frame * rng.randint(2, 40) + b";"
    if kind == "bmp":
        data = bytearray(_encode(_random_image(rng), "BMP"))
        data[18:26] = struct.pack("<ii", big, rng.choice([other, -other]))
        return bytes(data)
    data = bytearray(_encode(_random_image(rng), "WEBP"))
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (big - 1).to_bytes(3, "little") + (other - 1).to_bytes(3, "little")
    data = data[:12] + vp8x + data[12:]
    data[4:8] = struct.pack("<I", len(data) - 8)
    return bytes(data)


def _gif_descriptor(data):
    """Offset of the first image descriptor of a GIF."""
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[pos] == 0x21:  # extensions: introducer, label, sub-blocks
        pos += 2
        while data[pos]:
            pos += 1 + data[pos]
        pos += 1
    assert data[pos] == 0x2C
    return pos


def mutate(rng, data):
    """``data`` damaged in one to three random ways."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not data:
            break
        how = rng.choice(["flip", "flip_head", "overwrite", "truncate", "insert", "zero", "repeat"])
        at = rng.randrange(len(data))
        if how == "flip":
            data[at] ^= 1 << rng.randrange(8)
        elif how == "flip_head":
            at = rng.randrange(min(len(data), 64))
            data[at] ^= 1 << rng.randrange(8)
        elif how == "overwrite":
            span = rng.randint(1, 32)
            data[at : at + span] = bytes(rng.randrange(256) for _ in range(span))
        elif how == "truncate":
            del data[at:]
        elif how == "insert":
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif how == "zero":
            data[at : at + rng.randint(1, 256)] = bytes(min(256, len(data) - at))
        else:
            data[at:at] = data[at : at + rng.randint(1, 512)] * rng.randint(2, 8)
    return bytes(data)


def random_bytes(rng):
    magic = rng.choice(
        [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP"]
    )
    return magic + bytes(rng.randrange(256) for _ in range(rng.randint(0, 2048)))


def file_input(rng, folder, name, outside):
    """Creates one fuzz input at ``folder/name``; returns its kind."""
    path = os.path.join(folder, name)
    kind = rng.choices(
        ["random", "mutated", "huge", "valid", "empty", "link", "fifo"],
        weights=[15, 45, 12, 18, 3, 6, 1],
    )[0]
    if kind == "link":
        target = rng.choice(["loop", "dangling", "/dev/zero", "/dev/null", "folder", "outside"])
        if target == "loop":
            os.symlink(path, path)
        elif target == "dangling":
            os.symlink(os.path.join(folder, "missing-" + name), path)
        elif target == "folder":
            os.symlink(folder, path)
        elif target == "outside":
            os.symlink(outside, path)
        else:
            os.symlink(target, path)
        return f"link:{target}"
    if kind == "fifo":
        os.mkfifo(path)
        return kind
    payload = {
        "random": lambda: random_bytes(rng),
        "mutated": lambda: mutate(rng, valid_image(rng)),
        "huge": lambda: huge_header(rng),
        "valid": lambda: valid_image(rng),
        "empty": lambda: b"",
    }[kind]()
    with open(path, "wb") as f:
        f.write(payload)
    return kind


def run_file_batch(seed, count, workdir):
    """``count`` file inputs in one tree, through the directory paths. Returns a result dict."""
    from keras_inception import data
    from keras_inception.cli import main as cli_main
    from keras_inception.data import sources

    rng = random.Random(seed)
    root = os.path.join(workdir, f"files-{seed}")
    outside = os.path.join(workdir, f"outside-{seed}.png")
    with open(outside, "wb") as f:
        f.write(_encode(_random_image(rng), "PNG"))
    for name in ("a", "b"):
        os.makedirs(os.path.join(root, name, "deep"))
        for i in range(2):
            with open(os.path.join(root, name, f"good{i}.png"), "wb") as f:
                f.write(_encode(_random_image(rng), "PNG"))
    for i in range(count):
        folder = os.path.join(root, rng.choice("ab"), rng.choice(["", "deep"]))
        file_input(
            rng,
            folder,
            f"in{i:05d}" + rng.choice([".jpg", ".png", ".gif", ".bmp", ".webp", ""]),
            outside,
        )
    result = {"inputs": count, "skips": 0, "errors": 0, "crashes": []}
    with _quiet():
        try:
            src = sources.open_source(root, verify="full", validation_split=0)
            result["skips"] = len(src.skipped)
            ds, info = data.build_dataset(
                data.DataConfig(
                    root,
                    image_size=16,
                    batch_size=16,
                    training=True,
                    validation_split=0,
                    verify="full",
                )
            )
            seen = sum(int(len(y)) for _, y in ds)
            if seen != (info.num_examples // 16) * 16:
                result["crashes"].append(
                    f"files {seed}: epoch of {seen}, expected {info.num_examples}"
                )
            ds, info = data.build_dataset(
                data.DataConfig(
                    root,
                    image_size=16,
                    batch_size=16,
                    training=False,
                    validation_split=0,
                    verify="full",
                )
            )
            seen = sum(int(len(y)) for _, y in ds)
            if seen != info.num_examples:
                result["crashes"].append(
                    f"files {seed}: eval epoch of {seen}, expected {info.num_examples}"
                )
        except Exception as error:  # noqa: BLE001 - any escape is what the fuzzer counts
            result["crashes"].append(f"files {seed}: {type(error).__name__}: {str(error)[:300]}")
        code, err = _cli(cli_main, ["data", "info", root, "--verify", "full"])
        if code != 0:
            result["crashes"].append(f"files {seed}: data info exit {code}: {err[-300:]}")
    shutil.rmtree(root, ignore_errors=True)
    return result


# ---------------------------------------------------------------- TFRecords


def _example_bytes(rng, label):
    from keras_inception.data import tfrecord

    make = rng.choices(
        [valid_image, huge_header, lambda r: mutate(r, valid_image(r)), random_bytes],
        weights=[70, 10, 10, 10],
    )[0]
    payload = make(rng)
    return tfrecord.make_example(
        payload,
        label,
        class_name=str(label),
        filename="x",
        height=1,
        width=1,
        image_format="JPEG",
    ).SerializeToString()


def _frame(data):
    from keras_inception.data import tfrecord

    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", tfrecord.masked_crc32c(length))
        + data
        + struct.pack("<I", tfrecord.masked_crc32c(data))
    )


def record_case(rng, folder):
    """Writes one TFRecord case into ``folder``; returns its kind."""
    records = [_example_bytes(rng, i % 2) for i in range(rng.randint(2, 6))]
    kind = rng.choice(
        [
            "flip",
            "truncate",
            "length",
            "not_example",
            "bad_label",
            "garbage_tail",
            "flip_many",
            "info_lies",
            "clean",
        ]
    )
    if kind == "not_example":
        records.insert(rng.randrange(len(records)), random_bytes(rng))
    if kind == "bad_label":
        records.insert(rng.randrange(len(records)), _example_bytes(rng, -5))
    content = bytearray(b"".join(_frame(r) for r in records))
    if kind == "flip":
        content[rng.randrange(len(content))] ^= 1 << rng.randrange(8)
    elif kind == "flip_many":
        for _ in range(rng.randint(2, 20)):
            content[rng.randrange(len(content))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del content[rng.randrange(len(content)) :]
    elif kind == "length":
        start = _frame_start(records, rng.randrange(len(records)))
        value = rng.choice([0, 1, 1 << 40, (1 << 64) - 1, len(records[0]) + 1])
        content[start : start + 8] = struct.pack("<Q", value)
        if rng.random() < 0.5:  # a length that passes its own checksum
            content[start + 8 : start + 12] = struct.pack(
                "<I", _masked(bytes(content[start : start + 8]))
            )
    elif kind == "garbage_tail":
        content += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    names = ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    with open(os.path.join(folder, names[0]), "wb") as f:
        f.write(bytes(content))
    with open(os.path.join(folder, names[1]), "wb") as f:
        f.write(b"".join(_frame(_example_bytes(rng, i % 2)) for i in range(3)))
    if kind == "info_lies" or rng.random() < 0.3:
        info = {
            "class_names": ["0", "1"],
            "splits": {
                "train": {
                    "num_examples": rng.choice([len(records) + 3, 1, 10**9]),
                    "files": rng.choices(
                        [names, names + ["../escape.tfrecord"], ["missing.tfrecord"]],
                        weights=[8, 1, 1],
                    )[0],
                }
            },
        }
        with open(os.path.join(folder, "dataset_info.json"), "w") as f:
            json.dump(info, f)
    return kind


def _masked(data):
    from keras_inception.data import tfrecord

    return tfrecord.masked_crc32c(data)


def _frame_start(records, index):
    return sum(12 + len(r) + 4 for r in records[:index])


def run_record_batch(seed, count, workdir):
    """``count`` TFRecord cases, each through the reader, a build_dataset epoch and data info."""
    from keras_inception import data
    from keras_inception.cli import main as cli_main
    from keras_inception.data import sources

    rng = random.Random(seed)
    result = {"inputs": count, "skips": 0, "errors": 0, "crashes": []}
    for i in range(count):
        folder = os.path.join(workdir, f"records-{seed}-{i}")
        os.makedirs(folder)
        kind = record_case(rng, folder)
        label = f"records {seed}/{i} ({kind})"
        with _quiet():
            # Every case through the full check; every third also through the
            # quick one and the CLI (a build_dataset graph costs ~1 s to trace).
            for verify in ("full", "quick") if i % 3 == 0 else ("full",):
                sources._SCANS.clear()
                try:
                    src = sources.open_source(folder, verify=verify, validation_split=0)
                except ValueError:
                    result["errors"] += 1
                    continue
                except Exception as error:  # noqa: BLE001
                    result["crashes"].append(
                        f"{label} open {verify}: {type(error).__name__}: {str(error)[:300]}"
                    )
                    continue
                if verify == "full":
                    result["skips"] += len(src.skipped)
                try:
                    ds, info = data.build_dataset(
                        data.DataConfig(
                            folder,
                            image_size=8,
                            batch_size=4,
                            training=False,
                            validation_split=0,
                            verify=verify,
                        )
                    )
                    seen = sum(int(len(y)) for _, y in ds)
                    if verify == "full" and seen != info.num_examples:
                        result["crashes"].append(
                            f"{label}: epoch of {seen}, expected {info.num_examples}"
                        )
                except Exception as error:  # noqa: BLE001
                    result["crashes"].append(
                        f"{label} epoch {verify}: {type(error).__name__}: {str(error)[:300]}"
                    )
            code, err = (
                (0, "")
                if i % 3 != 1
                else _cli(cli_main, ["data", "info", folder, "--verify", "full"])
            )
            if code not in (0, 1) or (code == 1 and not _one_line_error(err)):
                result["crashes"].append(f"{label}: data info exit {code}: {err[-300:]}")
        shutil.rmtree(folder, ignore_errors=True)
    return result


# ---------------------------------------------------------------- running


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _cli(cli_main, argv):
    """Runs the CLI in-process; returns (exit code, stderr). An escaping exception is code -1."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(argv)
    except SystemExit as exit_:
        code = exit_.code
    except Exception as error:  # noqa: BLE001
        return -1, f"{type(error).__name__}: {error}"
    return code, err.getvalue()


def _one_line_error(err):
    lines = [line for line in err.splitlines() if line.strip()]
    return len(lines) == 1 and ": error: " in lines[0]


def run_batch(kind, seed, count, workdir):
    """One batch in this process (``kind``: ``"files"`` or ``"records"``)."""
    runner = run_file_batch if kind == "files" else run_record_batch
    return runner(seed, count, workdir)


def plan(count, seed):
    """``[(kind, batch seed, inputs), ...]`` adding up to ``count`` inputs."""
    records = int(round(count * RECORD_SHARE))
    batches = []
    for kind, total, size in (
        ("files", count - records, FILE_BATCH),
        ("records", records, RECORD_BATCH),
    ):
        index = 0
        while total > 0:
            n = min(size, total)
            batches.append((kind, seed * 1000 + index + (500 if kind == "records" else 0), n))
            total -= n
            index += 1
    return batches


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4000, help="inputs to generate (default 4000)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--workdir", default=None, help="scratch folder (default: a new temporary one)"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "SEED", "COUNT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, seed, count = args.child[0], int(args.child[1]), int(args.child[2])
        result = run_batch(kind, seed, count, args.workdir)
        with open(args.result, "w") as f:
            json.dump(result, f)
        return 0

    workdir = args.workdir or tempfile.mkdtemp(prefix="fuzz_data-")
    totals = {"inputs": 0, "skips": 0, "errors": 0, "crashes": 0}
    details = []
    start = time.time()
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(workdir, "cache"))
    for kind, seed, count in plan(args.count, args.seed):
        result_path = os.path.join(workdir, f"result-{kind}-{seed}.json")
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            kind,
            str(seed),
            str(count),
            "--workdir",
            workdir,
            "--result",
            result_path,
        ]
        try:
            child = subprocess.run(
                command,
                env=env,
                timeout=BATCH_TIMEOUT_S,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            code, stderr = child.returncode, child.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            code, stderr = "timeout", ""
        totals["inputs"] += count
        if code != 0 or not os.path.isfile(result_path):
            totals["crashes"] += 1
            details.append(f"{kind} batch {seed}: child exit {code}: {stderr[-500:]}")
            continue
        with open(result_path) as f:
            result = json.load(f)
        totals["skips"] += result["skips"]
        totals["errors"] += result["errors"]
        totals["crashes"] += len(result["crashes"])
        details.extend(result["crashes"])
        print(
            f"{kind} batch {seed}: {count} inputs, {result['skips']} skips, "
            f"{result['errors']} errors, {len(result['crashes'])} crashes",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    for line in details:
        print("CRASH " + line)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"inputs {totals['inputs']} crashes {totals['crashes']} skips {totals['skips']} "
        f"errors {totals['errors']} peak_rss_kib {peak} seconds {time.time() - start:.0f}"
    )
    return 1 if totals["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
