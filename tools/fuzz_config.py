"""Fuzzes the training-config parser: ``--set`` pairs, YAML and JSON files.

Every generated input must either give a valid ``TrainConfig`` or a
``ValueError`` whose message is one bounded line; anything else (another
exception, a hang, a non-finite number accepted) is a failure.

    .venv/bin/python tools/fuzz_config.py --count 10000 --seed 0

The default test suite runs a fast subset (``tests/test_fuzz_config.py``).
"""

import argparse
import json
import math
import os
import random
import resource
import sys
import tempfile
import time

from keras_inception.training import config as config_lib

FIELDS = [f for f in config_lib.TrainConfig.__dataclass_fields__]

# Values people (and attackers) type.
TOKENS = [
    "",
    " ",
    "null",
    "~",
    "Null",
    "true",
    "no",
    "on",
    "0",
    "-1",
    "1",
    "3",
    "1.5",
    "1e-3",
    "1E+3",
    "1e999",
    "-1e999",
    ".5",
    "5.",
    "1_000",
    "0x10",
    "0o17",
    "1:30",
    ".inf",
    "-.inf",
    ".nan",
    "inf",
    "nan",
    "NaN",
    "Infinity",
    "[1, 2]",
    "[]",
    "{}",
    "{a: 1}",
    "[[[[[[1]]]]]]",
    "!!python/object:os.system {}",
    "!!python/object/apply:os.system ['true']",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "&a [*a]",
    "*undefined",
    "'unterminated",
    '"unterminated',
    "a: b: c",
    "- - -",
    "%YAML 1.1",
    "---",
    "...",
    "\x00",
    "\t",
    "\u2028",
    "é",
    "digits",
    "inception_v3",
    "mixed_bfloat16",
    "epoch",
    "9" * 400,
    "a" * 5000,
    "[" * 5000,
    "{" * 200 + "}" * 200,
    "2024-01-01",
    "=",
    "==",
    "key=value",
]


def random_text(rng, limit=40):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_.-+eE:[]{}!&*'\"#%@`|>\n\t ,="
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(limit)))


def random_value(rng):
    choice = rng.random()
    if choice < 0.7:
        return rng.choice(TOKENS)
    if choice < 0.9:
        return random_text(rng)
    return bytes(rng.randrange(256) for _ in range(rng.randrange(30))).decode("latin-1")


def random_key(rng):
    choice = rng.random()
    if choice < 0.85:
        return rng.choice(FIELDS)
    if choice < 0.95:
        return rng.choice(FIELDS)[:-1] or "x"
    return random_text(rng, 12)


def override_case(rng):
    pairs = []
    for _ in range(rng.randrange(1, 4)):
        sep = "=" if rng.random() < 0.95 else rng.choice([":", " ", ""])
        pairs.append(f"{random_key(rng)}{sep}{random_value(rng)}")
    return {"kind": "overrides", "pairs": pairs}


def file_case(rng):
    if rng.random() < 0.5:
        lines = [f"{random_key(rng)}: {random_value(rng)}" for _ in range(rng.randrange(1, 5))]
        text = "\n".join(lines)
        suffix = ".yaml"
    else:
        data = {
            random_key(rng): rng.choice([1, 0.5, None, "x", [1], {"a": 1}, True, -3])
            for _ in range(rng.randrange(1, 5))
        }
        text = json.dumps(data)
        suffix = ".json"
    text = mutate(rng, text)
    return {"kind": "file", "text": text, "suffix": suffix}


def mutate(rng, text):
    for _ in range(rng.randrange(0, 4)):
        if not text:
            break
        i = rng.randrange(len(text))
        op = rng.randrange(3)
        if op == 0:
            text = text[:i] + text[i + 1 :]
        elif op == 1:
            text = text[:i] + rng.choice("[]{}:,'\"!&*\n-#\x00") + text[i:]
        else:
            text = text[:i] + text[i:] * rng.randrange(1, 3)
    return text


def generate(count, seed):
    """``count`` fuzz cases from ``seed`` (deterministic)."""
    rng = random.Random(seed)
    return [override_case(rng) if rng.random() < 0.6 else file_case(rng) for _ in range(count)]


def check(case, directory):
    """``None`` when ``case`` is handled as promised, else what went wrong."""
    try:
        if case["kind"] == "overrides":
            config = config_lib.resolve_config("quick", overrides=case["pairs"])
        else:
            path = os.path.join(directory, "config" + case["suffix"])
            with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(case["text"])
            config = config_lib.resolve_config("quick", file=path)
        config.validate()
    except ValueError as error:
        message = str(error)
        if "\n" in message or len(message) > 1000:
            return f"unbounded or multi-line error ({len(message)} chars): {message[:200]!r}"
        return None
    except Exception as error:  # noqa: BLE001 - anything else is the finding
        return f"{type(error).__name__}: {str(error)[:200]}"
    data = config.to_dict()
    json.dumps(data)
    bad = [k for k, v in data.items() if isinstance(v, float) and not math.isfinite(v)]
    return f"non-finite value accepted: {bad}" if bad else None


def run(count, seed):
    """Runs ``count`` cases; returns ``(failures, accepted, rejected, seconds)``."""
    failures, accepted = [], 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for case in generate(count, seed):
            problem = check(case, directory)
            if problem:
                failures.append((case, problem))
            else:
                accepted += 1
    return failures, accepted, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    failures, handled, seconds = run(args.count, args.seed)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for case, problem in failures[:20]:
        print(f"FAIL {problem}\n     {case!r:.300}")
    print(
        f"config fuzz: {args.count} inputs, {handled} handled, {len(failures)} failures, "
        f"{seconds:.1f} s, peak RSS {peak} KiB"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
