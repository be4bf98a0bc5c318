#!/usr/bin/env python3
"""Beyond MNIST: mltrain against scikit-learn's same flow on colour and large images.

    bench/beyond_mnist.py [--repeat 3] [--sets photos64,redgreen,...] [--quick]
                          [--no-build | --mltrain BIN] [--regen] [--timeout 300]

Sets up what it needs as bench/run does (bench/.venv from bench/requirements.txt, then
`cargo build --release --bin mltrain` unless --no-build), makes the data sets once under
DIR (default target/bench-data/beyond; --regen remakes them) and measures, set by set,
every pipeline --repeat times, interleaved, each run one whole process: wall time from
spawn to exit, peak RSS from os.wait4, accuracy from the JSON line it prints. Run r of
every pipeline uses seed r. A run that exceeds --timeout is killed and recorded as a
timeout; a run that fails is recorded with its exit status; either way the job's later
runs are skipped and the rest goes on.

Data sets (each DIR/<set>/images/<prefix>/<class>/<file>, uploaded with `mltrain s3
upload-dir` into the file store DIR/<set>/store under the same prefixes; the Python
pipelines read DIR/<set>/images, the very same bytes):

  photos64   64x64 colour JPEG patches (quality 90) of scikit-learn's two bundled sample
             photos (china.jpg, flower.jpg; class = photo), 800 train + 400 test per class;
             train and test patches come from disjoint tiles of each photo (checkerboard)
  redgreen   64x64 RGB PNGs of a red or a green disc or square on grey noise, the two
             colours of equal ITU-R 601 luma, so grey pixels cannot tell the classes apart;
             500 train + 200 test per class
  digits128  2,000 bundled digits upscaled to 128x128 (cv2.resize INTER_LINEAR), grey PNG;
             test: the 500 digits from --skip 8000, upscaled the same way
  digits256  1,000 digits at 256x256, the same test digits at 256x256
  dscale     1,000 train / 500 test digits at 28, 64, 128 and 256 pixels a side
             (prefixes d784, d4096, d16384, d65536; --sides picks some)

Pipelines, all 2 PCA functions and 4 forests (100 trees, depth 10, min samples split 5,
10 components):

  mltrain [auto]        mltrain run PREFIX/train 2 4 --test PREFIX/test --json --store ...
  mltrain --channels X  the same with --channels grey (colour sets), when the binary has it
  sklearn grey|rgb S    bench/sklearn_flow.py TRAIN TEST --pca 2 --rf 4 --channels grey|rgb
                        --svd-solver S, S from --solvers (default: auto, randomized);
                        rgb only on the colour sets; dscale only with randomized

Prints Markdown (a "## Beyond MNIST" section with one table per set and the D-scaling
table, with date, machine and versions) on stdout, progress on stderr, and writes every
run's figures to DIR/results-<time>.json.
"""

import argparse
import datetime
import importlib.machinery
import importlib.util
import json
import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)


def _load_harness():
    sys.dont_write_bytecode = True
    loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(BENCH, "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


H = _load_harness()  # bench/run: venv, build, machine, versions, table, log, die, check
log, die, check = H.log, H.die, H.check

NUM_PCA, NUM_RF = 2, 4
SETS = ["photos64", "redgreen", "digits128", "digits256", "dscale"]
COLOUR_SETS = {"photos64", "redgreen"}
SIDES = [28, 64, 128, 256]
# Images per class (colour sets) or in all (digit sets); --quick uses the second figures.
SIZES = {
    "photos64": {"full": (800, 400), "quick": (150, 75)},
    "redgreen": {"full": (500, 200), "quick": (100, 50)},
    "digits128": {"full": (2000, 500), "quick": (400, 200)},
    "digits256": {"full": (1000, 500), "quick": (200, 100)},
    "dscale": {"full": (1000, 500), "quick": (200, 100)},
}
# Same ITU-R 601 luma, 93.82, for the red and the green object: equal to the last digit
# under the exact weights (299 R + 587 G + 114 B = 93,820 for both), and equal after
# rounding in the fixed-point forms of mltrain (16-bit) and OpenCV (14-bit). Noise is added
# to all three channels alike, which keeps the lumas equal, pixel by pixel.
RED, GREEN = (220, 40, 40), (33, 137, 31)
GEN_VERSION = 1  # bump when the generator changes, to remake the sets
GB = 10 ** 9


# ---------------------------------------------------------------- data (venv python)
#
# The generator runs in a child process under bench/.venv's Python (numpy, OpenCV): the
# measuring process must stay small, because a child's peak RSS from wait4 includes the
# RSS of its parent at spawn (Linux copies the parent's high-water mark at fork and exec).


def gen_main(argv):
    """`beyond_mnist.py _gen SET OUT JSON`: write DIR/images for one set."""
    import cv2
    import numpy as np

    name, out, params = argv[0], argv[1], json.loads(argv[2])
    images = os.path.join(out, "images")
    shutil.rmtree(images, ignore_errors=True)
    if name == "photos64":
        gen_photos(cv2, np, images, *params["sizes"])
    elif name == "redgreen":
        gen_redgreen(cv2, np, images, *params["sizes"])
    else:
        n, nt = params["sizes"]
        sides = params["sides"]
        scratch = os.path.join(out, "mnist")
        shutil.rmtree(scratch, ignore_errors=True)
        mk = params["mltrain"]
        check([mk, "dataset", "mnist", "--out", os.path.join(scratch, "train"),
               "--count", str(n)], stdout=subprocess.DEVNULL)
        check([mk, "dataset", "mnist", "--out", os.path.join(scratch, "test"),
               "--skip", "8000", "--count", str(nt)], stdout=subprocess.DEVNULL)
        for side in sides:
            pre = params["prefix"].format(d=side * side)
            for split in ("train", "test"):
                upscale(cv2, os.path.join(scratch, split),
                        os.path.join(images, pre, split), side)
        shutil.rmtree(scratch)


def upscale(cv2, src, dst, side):
    for cls in sorted(os.listdir(src)):
        os.makedirs(os.path.join(dst, cls))
        for f in sorted(os.listdir(os.path.join(src, cls))):
            img = cv2.imread(os.path.join(src, cls, f), cv2.IMREAD_GRAYSCALE)
            if side != img.shape[0]:
                img = cv2.resize(img, (side, side), interpolation=cv2.INTER_LINEAR)
            # Every side is written by OpenCV (28 too), so the D series has one encoder.
            if not cv2.imwrite(os.path.join(dst, cls, f), img):
                raise SystemExit(f"cannot write {dst}/{cls}/{f}")


def gen_photos(cv2, np, images, n_train, n_test):
    """64x64 patches of the two photos in scikit-learn's wheel, train and test from
    disjoint tiles: each photo is cut in a 4x5 grid, tiles of one checkerboard colour give
    the training patches and the others the test patches, so no test pixel is trained on."""
    import sklearn.datasets

    folder = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    for ci, cls in enumerate(("china", "flower")):
        img = cv2.imread(os.path.join(folder, cls + ".jpg"), cv2.IMREAD_COLOR)  # BGR
        if img is None:
            raise SystemExit(f"cannot read {folder}/{cls}.jpg")
        h, w = img.shape[:2]
        rows, cols = 4, 5
        th, tw = h // rows, w // cols
        assert th >= 64 and tw >= 64, (h, w)
        for si, (split, count) in enumerate((("train", n_train), ("test", n_test))):
            tiles = [(r, c) for r in range(rows) for c in range(cols) if (r + c) % 2 == si]
            rng = np.random.default_rng([0, ci, si])
            dst = os.path.join(images, split, cls)
            os.makedirs(dst)
            for i in range(count):
                r, c = tiles[rng.integers(len(tiles))]
                y = r * th + int(rng.integers(th - 64 + 1))
                x = c * tw + int(rng.integers(tw - 64 + 1))
                patch = img[y:y + 64, x:x + 64]
                if not cv2.imwrite(os.path.join(dst, f"{i:05d}.jpg"), patch,
                                   [cv2.IMWRITE_JPEG_QUALITY, 90]):
                    raise SystemExit(f"cannot write {dst}/{i:05d}.jpg")


def gen_redgreen(cv2, np, images, n_train, n_test):
    """A red or a green disc or square (position, size and shape random, independent of
    the class) on grey noise; the object carries the same noise on all three channels."""
    size = 64
    yy, xx = np.mgrid[0:size, 0:size]
    for si, (split, count) in enumerate((("train", n_train), ("test", n_test))):
        for ci, (cls, colour) in enumerate((("red", RED), ("green", GREEN))):
            rng = np.random.default_rng([1, ci, si])
            dst = os.path.join(images, split, cls)
            os.makedirs(dst)
            for i in range(count):
                bg = int(rng.integers(40, 201))
                noise = rng.integers(-20, 21, size=(size, size))
                r = int(rng.integers(6, 17))
                cy, cx = (int(v) for v in rng.integers(r, size - r, size=2))
                if rng.integers(2):
                    mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                else:
                    mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
                rgb = np.empty((size, size, 3), dtype=np.int64)
                for ch in range(3):
                    rgb[..., ch] = np.where(mask, colour[ch], bg) + noise
                assert rgb.min() >= 0 and rgb.max() <= 255
                bgr = rgb[..., ::-1].astype(np.uint8)
                if not cv2.imwrite(os.path.join(dst, f"{i:05d}.png"), bgr):
                    raise SystemExit(f"cannot write {dst}/{i:05d}.png")


# ---------------------------------------------------------------- data (measuring side)


def set_units(name, sides):
    """(unit label, prefix) pairs of one set: one for most, one per side for dscale."""
    if name == "dscale":
        return [(f"{s * s:,} ({s}×{s})", f"d{s * s}") for s in sides]
    return [(name, "")]


def ensure_set(mltrain, data, name, quick, sides, regen):
    """DIR/<name>[-quick]: images/ (ImageFolder trees) and store/ (the same, uploaded)."""
    size = SIZES[name]["quick" if quick else "full"]
    top = os.path.join(data, name + ("-quick" if quick else ""))
    store = os.path.join(top, "store")
    stamp = os.path.join(top, "complete.json")
    if name in ("digits128", "digits256"):
        gen_sides, prefix = [int(name[len("digits"):])], ""
    elif name == "dscale":
        gen_sides, prefix = SIDES, "d{d}"
    else:
        gen_sides, prefix = [64], ""
    recipe = {"set": name, "version": GEN_VERSION, "sizes": list(size),
              "sides": gen_sides, "prefix": prefix}
    prefixes = ([prefix.format(d=s * s) for s in gen_sides] if prefix else [""])
    if not regen and os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == recipe:
                return top, store
    log(f"making data set {name} in {top}")
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(top)
    check([H.VENV_PY, os.path.abspath(__file__), "_gen", name, top,
           json.dumps({**recipe, "mltrain": mltrain})])
    for pre in prefixes:
        for split in ("train", "test"):
            rel = f"{pre}/{split}" if pre else split
            src = os.path.join(top, "images", rel)
            check([mltrain, "s3", "upload-dir", "--store", "file://" + store,
                   "--host-path", src, "--s3-path", rel], stdout=subprocess.DEVNULL)
            want, got = H.count_files(src), H.count_files(os.path.join(store, rel))
            if want != got or want == 0:
                die(f"{store}/{rel} has {got} files, {src} {want}")
    with open(stamp, "w") as f:
        json.dump(recipe, f, indent=1)
    return top, store


# ---------------------------------------------------------------- measuring


def run_once(cmd, timeout, vm_limit):
    """One whole process: wall seconds, peak RSS (MiB) from wait4, its JSON report.
    Killed (with its process group) after `timeout` seconds."""

    def limits():
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if vm_limit:
            resource.setrlimit(resource.RLIMIT_AS, (vm_limit, vm_limit))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=limits)
        fired = threading.Event()

        def kill():
            fired.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    res = {"wall": wall, "peak_mib": usage.ru_maxrss / 1024.0, "user": usage.ru_utime,
           "sys": usage.ru_stime}
    if fired.is_set():
        return {**res, "status": "timeout", "stderr": stderr[-2000:]}
    if code != 0:
        what = f"signal {-code}" if code < 0 else f"exit {code}"
        return {**res, "status": "failed", "exit": what, "stderr": stderr[-2000:]}
    try:
        report = H.last_json_line(stdout)
        res.update(
            status="ok",
            accuracy=float(report["accuracy"]),
            inner=float(report.get("seconds", report.get("total_seconds", wall))),
            train_images=int(report["train_images"]),
            test_images=int(report["test_images"]),
            report=report,
        )
    except (ValueError, KeyError, IndexError, TypeError) as e:
        return {**res, "status": "failed", "exit": f"unreadable output ({e})",
                "stdout": stdout[-2000:], "stderr": stderr[-2000:]}
    return res


class Job:
    def __init__(self, set_name, unit, name, kind, cmd, pixels, dim, solver=None,
                 before=None, vm_limit=0):
        self.set, self.unit, self.name, self.kind = set_name, unit, name, kind
        self.cmd, self.pixels, self.dim, self.solver = cmd, pixels, dim, solver
        self.before, self.vm_limit = before, vm_limit
        self.runs = []

    def ok(self):
        return [r for r in self.runs if r["status"] == "ok"]

    def dead(self):
        return any(r["status"] != "ok" for r in self.runs)

    def med(self, key):
        ok = self.ok()
        return statistics.median(r[key] for r in ok) if ok else None

    def acc(self):
        ok = self.ok()
        return statistics.mean(r["accuracy"] for r in ok) if ok else None


def where(job):
    return f"{job.set} " + ("" if job.unit == job.set else f"D={job.unit} ") + "/ "


def measure(jobs, repeat, timeout):
    total = repeat * len(jobs)
    k = 0
    for r in range(repeat):
        for job in jobs:
            k += 1
            if job.dead():
                log(f"[{k}/{total}] {where(job)}{job.name}: skipped (an earlier run "
                    "failed)")
                continue
            if job.before:
                job.before()
            res = run_once(job.cmd + ["--seed", str(r)], timeout, job.vm_limit)
            res["seed"] = r
            job.runs.append(res)
            if res["status"] == "ok":
                log(f"[{k}/{total}] {where(job)}{job.name}: {res['wall']:.2f} s, "
                    f"{res['peak_mib']:.0f} MiB, accuracy {res['accuracy']:.4f}")
            else:
                why = "timeout" if res["status"] == "timeout" else res["exit"]
                log(f"[{k}/{total}] {where(job)}{job.name}: {why} after "
                    f"{res['wall']:.1f} s, {res['peak_mib']:.0f} MiB")
                tail = res.get("stderr", "").strip().splitlines()[-3:]
                for line in tail:
                    log(f"    {line}")
    for job in jobs:
        if job.before:
            job.before()


def has_channels(mltrain):
    r = subprocess.run([mltrain, "run", "--help"], capture_output=True, text=True)
    return "--channels" in r.stdout


def make_jobs(set_name, top, store, mltrain, a, channels_ok, sides):
    """The jobs of one set, in the order they are interleaved and printed, and notes on
    what was left out."""
    jobs, notes = [], []
    py = [H.VENV_PY, "-u", os.path.join(BENCH, "sklearn_flow.py")]
    extra = shlex.split(a.mltrain_args or "")
    outputs = os.path.join(store, "ml-training")

    def clean():
        shutil.rmtree(outputs, ignore_errors=True)

    colour = set_name in COLOUR_SETS
    solvers = ["randomized"] if set_name == "dscale" else a.solvers.split(",")
    for unit, pre in set_units(set_name, sides):
        train = f"{pre}/train" if pre else "train"
        test = f"{pre}/test" if pre else "test"
        if set_name == "dscale":
            d = int(pre[1:])
        elif set_name.startswith("digits"):
            d = int(set_name[len("digits"):]) ** 2
        else:
            d = 64 * 64
        side = int(round(d ** 0.5))
        if a.only in (None, "mltrain") and a.mltrain_max_side and side > a.mltrain_max_side:
            notes.append(f"mltrain not run on {side}×{side} images (--mltrain-max-side "
                         f"{a.mltrain_max_side}).")
        elif a.only in (None, "mltrain"):
            base = [mltrain, "run", train, str(NUM_PCA), str(NUM_RF), "--test", test,
                    "--json", "--store", "file://" + store, *extra]
            variants = [("auto", [])]
            if colour and channels_ok:
                variants.append(("grey", ["--channels", "grey"]))
            for ch, args in variants:
                if ch == "auto":
                    name = "mltrain" if channels_ok else "mltrain (no --channels: grey)"
                    pixels = (("auto" if colour else "grey") if channels_ok else "grey")
                else:
                    name = f"mltrain --channels {ch}"
                    pixels = ch
                # auto on colour images is RGB: three features a pixel.
                dim = d * 3 if (pixels == "auto" and colour) else d
                jobs.append(Job(set_name, unit, name, "mltrain", base + args, pixels, dim,
                                before=clean, vm_limit=int(a.mltrain_vm_limit * 2 ** 30)))
        if a.only in (None, "sklearn"):
            tdir = os.path.join(top, "images", train)
            sdir = os.path.join(top, "images", test)
            for ch in (["grey", "rgb"] if colour else ["grey"]):
                for s in solvers:
                    cmd = py + [tdir, sdir, "--pca", str(NUM_PCA), "--rf", str(NUM_RF),
                                "--channels", ch, "--svd-solver", s]
                    label = "default" if s == "auto" else s
                    jobs.append(Job(set_name, unit, f"scikit-learn {ch}, PCA {label}",
                                    "sklearn", cmd, ch, d * (3 if ch == "rgb" else 1), s))
    return jobs, notes


# ---------------------------------------------------------------- tables


def fmt_s(v):
    return "—" if v is None else f"{v:.2f}"


def fmt_mib(v):
    return "—" if v is None else f"{v:,.0f}"


def acc_text(job):
    ok = job.ok()
    if not ok:
        return "—"
    accs = [r["accuracy"] for r in ok]
    lo, hi = min(accs), max(accs)
    text = f"{statistics.mean(accs):.4f}"
    return text if hi - lo < 5e-5 else f"{text} ({lo:.4f}–{hi:.4f})"


def status_text(job):
    bad = [r for r in job.runs if r["status"] != "ok"]
    if not bad:
        return ""
    r = bad[0]
    what = (f"timeout after {r['wall']:.0f} s" if r["status"] == "timeout"
            else f"failed ({r['exit']}) after {r['wall']:.1f} s")
    return f"{what}, peak {r['peak_mib']:,.0f} MiB"


def solver_text(job):
    """What PCA solver scikit-learn used (auto resolves by shape)."""
    got = sorted({r["report"].get("svd_solver") for r in job.ok()} - {None})
    return "/".join(got)


def set_table(jobs):
    base = next((j for j in jobs if j.kind == "mltrain" and j.ok()), None)
    headers = ["pipeline", "pixels", "features", "runs", "median s", "min s",
               "in-process s", "peak MiB (median)", "accuracy", "÷ mltrain"]
    rows = []
    for j in jobs:
        ok = j.ok()
        name = j.name
        if j.kind == "sklearn" and j.solver == "auto" and solver_text(j):
            name += f" (auto → {solver_text(j)})"
        note = status_text(j)
        rows.append([
            name, j.pixels, f"{j.dim:,}", str(len(ok)) + (f" ({note})" if note else ""),
            fmt_s(j.med("wall")),
            fmt_s(min(r["wall"] for r in ok) if ok else None),
            fmt_s(j.med("inner")), fmt_mib(j.med("peak_mib")), acc_text(j),
            "—" if j is base or base is None or not ok
            else f"{j.med('wall') / base.med('wall'):.1f}×",
        ])
    return H.table(headers, rows, True, ["<", "<", ">", ">", ">", ">", ">", ">", ">", ">"])


def checks(set_name, jobs):
    """The issue's goals for this set, each met or not."""
    out = []
    ml = next((j for j in jobs if j.kind == "mltrain"), None)
    if ml is None:
        return out
    if set_name in COLOUR_SETS:
        for j in jobs:
            if j.kind == "sklearn" and j.pixels == "rgb" and j.ok() and ml.ok():
                gap = ml.acc() - j.acc()
                out.append(f"accuracy {ml.name} − {j.name} = {100 * gap:+.2f} points over "
                           f"{len(ml.ok())} seed(s) (goal ≥ 0: "
                           f"{'met' if gap >= 0 else 'not met'})")
    if set_name in ("digits128", "digits256"):
        ref = [j for j in jobs if j.kind == "sklearn" and j.solver == "randomized"]
        if not ml.ok():
            out.append(f"{ml.name}: {status_text(ml) or 'no run'} (goals not met)")
        else:
            for j in ref:
                if j.ok():
                    r = j.med("wall") / ml.med("wall")
                    out.append(f"{j.name} ÷ {ml.name} = {r:.2f}× in wall time (goal > 1: "
                               f"{'met' if r > 1 else 'not met'})")
            peak = max(r["peak_mib"] for r in ml.ok())
            out.append(f"{ml.name} largest peak RSS {peak:,.0f} MiB = {peak * 2**20 / GB:.2f}"
                       f" GB (goal < 1 GB: {'met' if peak * 2**20 < GB else 'not met'})")
    return out


def dscale_table(jobs):
    """D against time and peak memory at fixed N, mltrain and scikit-learn randomized."""
    units = []
    for j in jobs:
        if j.unit not in units:
            units.append(j.unit)

    def pick(unit, kind):
        return next((j for j in jobs if j.unit == unit and j.kind == kind), None)

    first = {k: pick(units[0], k) for k in ("mltrain", "sklearn")}
    headers = ["D", "mltrain s", "×", "mltrain MiB", "×", "mltrain accuracy",
               "sklearn-randomized s", "×", "sklearn MiB", "×", "sklearn accuracy",
               "sklearn ÷ mltrain (time)"]
    rows = []
    for u in units:
        row = [u]
        for k in ("mltrain", "sklearn"):
            j, f = pick(u, k), first[k]
            if j is None:
                row += ["—"] * 5
                continue
            t, m = j.med("wall"), j.med("peak_mib")
            if t is None:
                row += [status_text(j) or "—", "—", "—", "—", "—"]
                continue
            f_t = f.med("wall") if f is not None else None
            f_m = f.med("peak_mib") if f is not None else None
            row += [fmt_s(t), f"{t / f_t:.1f}" if f_t else "—", fmt_mib(m),
                    f"{m / f_m:.1f}" if f_m else "—", f"{j.acc():.4f}"]
        m, s = pick(u, "mltrain"), pick(u, "sklearn")
        if m is not None and s is not None and m.med("wall") and s.med("wall"):
            row.append(f"{s.med('wall') / m.med('wall'):.1f}×")
        else:
            row.append("—")
        rows.append(row)
    return H.table(headers, rows, True, ["<"] + [">"] * (len(headers) - 1))


DESCRIPTIONS = {
    "photos64": "64×64 colour JPEG patches (quality 90) of scikit-learn's two sample photos "
                "(`china.jpg`, `flower.jpg`; the class is the photo), {n} training and {t} "
                "test patches per class, from disjoint tiles of each photo.",
    "redgreen": "64×64 RGB PNGs of a red or a green disc or square on grey noise, red "
                "(220, 40, 40) and green (33, 137, 31) of equal ITU-R 601 luma (93.82), so "
                "grey pixels cannot separate the classes (chance is 0.5); {n} training and "
                "{t} test images per class.",
    "digits128": "{n} bundled MNIST digits upscaled to 128×128 (OpenCV, bilinear), grey "
                 "PNG; test: {t} other digits upscaled alike.",
    "digits256": "{n} bundled MNIST digits upscaled to 256×256 (OpenCV, bilinear), grey "
                 "PNG; test: {t} other digits upscaled alike.",
    "dscale": "{n} training and {t} test digits at 28, 64, 128 and 256 pixels a side, "
              "every side written by OpenCV. Time and peak memory (median peak RSS) of "
              "mltrain and of scikit-learn with PCA svd_solver='randomized'; each \"×\" "
              "column is the column before it as a multiple of the first row's (D grows "
              "5.2×, 4× and 4× from row to row, 84× in all).",
}


# ---------------------------------------------------------------- main


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_gen":
        return gen_main(sys.argv[2:])
    ap = argparse.ArgumentParser(
        description="Beyond MNIST: mltrain against scikit-learn's flow on colour and "
                    "large images.", epilog="See bench/README.md.")
    ap.add_argument("--repeat", type=int, default=None, help="runs of each (default 3)")
    ap.add_argument("--sets", default=",".join(SETS),
                    help=f"comma-separated, of {','.join(SETS)} (default all)")
    ap.add_argument("--sides", default=",".join(map(str, SIDES)),
                    help="image sides of dscale (default 28,64,128,256)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 run, small sets (DIR/<set>-quick)")
    ap.add_argument("--only", choices=["mltrain", "sklearn"],
                    help="measure only one side")
    ap.add_argument("--solvers", default="auto,randomized",
                    help="scikit-learn PCA svd_solver values, comma-separated (default "
                         "auto,randomized; dscale always uses randomized only)")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds before a run is killed and recorded as a timeout")
    ap.add_argument("--mltrain-args", default=None, metavar="'ARGS'",
                    help="extra arguments for every mltrain run, e.g. "
                         "--mltrain-args='--memory-budget 1G'")
    ap.add_argument("--mltrain-vm-limit", type=float, default=16.0, metavar="GIB",
                    help="address-space limit (RLIMIT_AS) of mltrain runs, so that a "
                         "runaway allocation fails instead of exhausting the machine "
                         "(default 16; 0 for none)")
    ap.add_argument("--mltrain-max-side", type=int, default=0, metavar="PIXELS",
                    help="leave mltrain out on images larger than PIXELS a side (for "
                         "builds that cannot handle them; default: no limit)")
    ap.add_argument("--data", default=os.path.join(H.target_dir(), "bench-data", "beyond"),
                    help="data cache (default target/bench-data/beyond)")
    ap.add_argument("--regen", action="store_true", help="remake the data sets")
    ap.add_argument("--no-build", action="store_true", help="use the built binary as it is")
    ap.add_argument("--mltrain", metavar="BIN",
                    help="measure this mltrain binary (implies --no-build)")
    ap.add_argument("--label", default=None,
                    help="what the binary is built from, for the header")
    a = ap.parse_args()
    repeat = a.repeat if a.repeat is not None else (1 if a.quick else 3)
    if repeat < 1:
        ap.error("--repeat must be at least 1")
    sets = [s for s in a.sets.split(",") if s]
    if not sets:
        ap.error("--sets: no set given")
    for s in sets:
        if s not in SETS:
            ap.error(f"unknown set {s!r} (one of {', '.join(SETS)})")
    try:
        sides = [int(s) for s in a.sides.split(",")]
    except ValueError:
        ap.error("--sides takes integers")
    for s in sides:
        if s not in SIDES:
            ap.error(f"--sides: {s} is not one of {SIDES}")
    for s in a.solvers.split(","):
        if s not in ("auto", "full", "covariance_eigh", "arpack", "randomized"):
            ap.error(f"--solvers: unknown svd_solver {s!r}")
    data = os.path.abspath(a.data)

    H.ensure_venv()
    mltrain = H.build(a.no_build, a.mltrain)
    label = a.label or (f"binary {mltrain}" if a.mltrain else None)
    if label is None and a.no_build:
        label = "the existing target/release/mltrain, not rebuilt"
    channels_ok = has_channels(mltrain)
    if not channels_ok:
        log("this mltrain has no `run --channels`: its runs are grey, and the --channels "
            "variants are left out")
    os.makedirs(data, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    load0 = os.getloadavg()
    raw = {"started": started.isoformat(), "machine": H.machine(), "argv": sys.argv[1:],
           "mltrain": mltrain, "channels": channels_ok, "sets": {}}
    sections = []
    results = None
    for name in sets:
        top, store = ensure_set(mltrain, data, name, a.quick, sides, a.regen)
        jobs, notes = make_jobs(name, top, store, mltrain, a, channels_ok, sides)
        log(f"{name}: {len(jobs)} pipelines, {repeat} run(s) each, interleaved")
        measure(jobs, repeat, a.timeout)
        raw["sets"][name] = [{"unit": j.unit, "name": j.name, "cmd": j.cmd,
                              "runs": j.runs} for j in jobs]
        n, t = SIZES[name]["quick" if a.quick else "full"]
        text = DESCRIPTIONS[name].format(n=f"{n:,}", t=f"{t:,}")
        if name == "dscale":
            sections.append(("D at fixed N", text + "\n\n" + dscale_table(jobs)
                             + "".join("\n\n" + n for n in notes)))
        else:
            cs = checks(name, jobs) + notes
            sections.append((name, text + "\n\n" + set_table(jobs)
                             + ("\n\n" + "\n".join("- " + c for c in cs) if cs else "")))
        # Save after every set, so an interrupted run keeps what it measured.
        raw["load"] = [load0, os.getloadavg()]
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        results = os.path.join(data, f"results-{stamp}.json")
        with open(results, "w") as f:
            json.dump(raw, f, indent=1)
    log(f"raw results: {results}")
    load1 = os.getloadavg()
    cmdline = shlex.join(["bench/beyond_mnist.py", *sys.argv[1:]])
    header = [
        f"Measured {started.strftime('%Y-%m-%d %H:%M UTC')} with `{cmdline.strip()}`",
        f"Machine: {H.machine()}; load average {load0[0]:.2f} before, {load1[0]:.2f} "
        "after.",
        f"Versions: {H.versions(mltrain, label)}.",
        f"Every pipeline: {NUM_PCA} PCA functions, {NUM_RF} forests of 100 trees, depth 10, "
        "min samples split 5, 10 components; run r of each uses seed r. Times are medians "
        "of whole processes (start-up included; \"in-process s\" is what the pipeline "
        "reports itself), peak MiB the median of each run's peak RSS (os.wait4), accuracy "
        "the mean over the seeds with the range. scikit-learn reads the same files "
        "(`bench/sklearn_flow.py --channels grey|rgb --svd-solver S`): grey is OpenCV's "
        "ITU-R 601 luma, RGB the pixels in H, W, C order, both scaled to 0..1; "
        "\"default\" is PCA's own svd_solver='auto', which picks a solver by the data's "
        "shape (named after the arrow). \"÷ mltrain\" divides a pipeline's median wall "
        "time by the first mltrain row's."
        + ("" if channels_ok else " This mltrain has no `--channels`: it turns colour "
           "into grey."),
    ]
    print("## Beyond MNIST\n\n" + "\n\n".join(header))
    for title, text in sections:
        print(f"\n### {title}\n\n{text}")


if __name__ == "__main__":
    main()
