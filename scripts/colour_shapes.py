#!/usr/bin/env python3
"""A small colour data set as ImageFolder trees, with the standard library only.

    scripts/colour_shapes.py OUT [--per-class 60] [--size 32] [--seed 0]

Writes OUT/<class>/<i>.png for four classes of RGB pictures on grey noise: `red disc`,
`green square`, `blue disc` and `cat & "dog"` (a yellow square, named to show that odd
folder names survive the report page). Colours and shapes overlap a little (noise, random
sizes and positions) so the confusion matrix is not all diagonal. Used for the report
screenshot in docs/ (scripts/report-screenshot.sh).
"""
import argparse
import os
import random
import struct
import zlib

CLASSES = [
    ("red disc", (200, 50, 40), "disc"),
    ("green square", (40, 160, 50), "square"),
    ("blue disc", (40, 70, 200), "disc"),
    ('cat & "dog"', (200, 180, 40), "square"),
]


def png(width, height, rows):
    """An 8-bit RGB PNG of `rows` (lists of (r, g, b))."""
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in rows)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def picture(rng, size, colour, shape):
    level = rng.randint(60, 190)
    cx, cy = rng.uniform(size * 0.3, size * 0.7), rng.uniform(size * 0.3, size * 0.7)
    r = rng.uniform(size * 0.1, size * 0.22)
    # Some pictures are washed out, so classes of near colours get confused.
    fade = rng.uniform(0.3, 0.95)
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            noise = rng.randint(-40, 40)
            inside = ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) if shape == "disc" else (abs(x - cx) <= r and abs(y - cy) <= r)
            if inside:
                px = tuple(max(0, min(255, int(c * (1 - fade) + level * fade) + noise)) for c in colour)
            else:
                g = max(0, min(255, level + noise))
                px = (g, g, g)
            row.append(px)
        rows.append(row)
    return png(size, size, rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for name, colour, shape in CLASSES:
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        for i in range(args.per_class):
            with open(os.path.join(folder, f"{i:03}.png"), "wb") as f:
                f.write(picture(rng, args.size, colour, shape))


if __name__ == "__main__":
    main()
