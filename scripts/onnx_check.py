#!/usr/bin/env python3
"""Runs an ONNX file written by `mltrain export` in ONNX Runtime and compares it with
`mltrain predict --json`.

    onnx_check.py MODEL.onnx PIXELS REFERENCE.jsonl

PIXELS holds the images' raw levels as bytes (0-255), one image after another, each
H*W*C bytes in row-major height, width, channel order, as the model's metadata `input`
gives them; REFERENCE.jsonl holds `mltrain predict --json`'s lines for the same images in
the same order. Uses only what the graph itself says (its input and output names, and the
metadata `classes` and `input`), as any caller would.

Prints one JSON line (images, label mismatches, the largest probability difference) and
exits 1 if a label differs or a probability differs by more than the tolerance (1e-5).
"""

import json
import sys

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-5


def main() -> int:
    model, pixels, reference = sys.argv[1:4]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    classes = json.loads(meta["classes"])
    shape = json.loads(meta["input"])
    width = shape["width"] * shape["height"] * shape["channels"]

    (inp,) = session.get_inputs()
    assert inp.name == "pixels" and inp.type == "tensor(float)", inp
    assert inp.shape[1] == width, (inp.shape, shape)
    outputs = {o.name: o.type for o in session.get_outputs()}
    assert outputs == {"label": "tensor(int64)", "probabilities": "tensor(float)"}, outputs

    with open(reference, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    x = np.fromfile(pixels, dtype=np.uint8)
    assert x.size == len(lines) * width, (x.size, len(lines), width)
    x = x.reshape(len(lines), width).astype(np.float32)

    label, probabilities = session.run(["label", "probabilities"], {"pixels": x})
    assert label.shape == (len(lines),) and label.dtype == np.int64, label.shape
    assert probabilities.shape == (len(lines), len(classes)), probabilities.shape

    # predict --json prints each f32 by its shortest decimal: back to float32 it is exact.
    expected = np.array(
        [[r["probabilities"][c] for c in classes] for r in lines], dtype=np.float32
    )
    expected_label = np.array([classes.index(r["label"]) for r in lines])
    differ = np.flatnonzero(label != expected_label)
    diff = np.abs(probabilities - expected)
    worst = int(diff.max(axis=1).argmax())
    summary = {
        "images": len(lines),
        "classes": len(classes),
        "label_mismatches": len(differ),
        "max_probability_difference": float(diff.max()),
        "probabilities_over_tolerance": int((diff > TOLERANCE).sum()),
    }
    print(json.dumps(summary))
    for i in differ[:10]:
        print(
            f"label differs: {lines[i]['path']}: onnx {classes[label[i]]}, "
            f"mltrain {lines[i]['label']}; onnx {probabilities[i].tolist()}, "
            f"mltrain {expected[i].tolist()}",
            file=sys.stderr,
        )
    if diff.max() > TOLERANCE:
        print(
            f"largest difference: {lines[worst]['path']}: onnx {probabilities[worst].tolist()}, "
            f"mltrain {expected[worst].tolist()}",
            file=sys.stderr,
        )
    return 1 if len(differ) or diff.max() > TOLERANCE else 0


if __name__ == "__main__":
    sys.exit(main())
