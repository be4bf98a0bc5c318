#!/usr/bin/env python3
"""mltrain on S3 at a real network's latency (issue 16): upload and run, per-image or packed,
against the local file store, with the requests issued and the bytes moved.

    bench/s3_latency.py [--sizes 10k 100k] [--delays 0 5 25] [--runs 3]
                        [--ops upload run] [--layout per-image|packed]
                        [--proxy-check] [--io-concurrency N]
                        [--mltrain BIN | --no-build] [--data DIR]
                        [--server s3s-fs|garage]

Python 3 standard library only. It needs s3s-fs on PATH or in ~/.cargo/bin
(`cargo install s3s-fs@0.14.1 --features binary --locked`, as the store's tests), or with
--server garage, Garage (`cargo install garage --locked`, about 13 minutes): a one-node
cluster in a scratch directory, set up by this script (layout, bucket, key), region
`garage`. s3s-fs lists a bucket in quadratic time, so per-image 100k needs Garage.

1. `cargo build --release --bin mltrain` (skip with --no-build, or give --mltrain BIN);
2. the images, once, under DIR (default $CARGO_TARGET_DIR or target, /bench-data/s3):
     10k   `mltrain dataset mnist --count 10000` (the bundled digits)
     100k  `mltrain dataset mnist --augment 100000 --seed 0`
3. for each size: the local file store first (the baseline), then s3s-fs behind
   bench/delay_proxy.py holding every chunk DELAY ms each way (a 2*DELAY ms round trip), for
   each --delays value. In each, --runs times (median reported):
     upload  mltrain --store URL s3 upload-dir --host-path IMAGES --s3-path data/SIZE
     run     mltrain --store URL run data/SIZE 2 8 --json
   each as one whole process, wall time from fork to exit. Every upload starts from an empty
   store and every run from the data alone (earlier outputs removed, untimed).
   --io-concurrency N sets the requests kept in flight: `upload-dir --concurrency N` and
   MLTRAIN_IO_CONCURRENCY=N for run (default: mltrain's own).
   With --proxy-check, s3s-fs is also measured without the proxy ("direct"), to show what the
   Python proxy itself costs at 0 ms.

Requests and bytes are what mltrain counted (`store:` line of upload-dir, `store_stats` of
run --json): calls to the store as mltrain issues them, not HTTP requests (retries are not
counted; a listing is one LIST however many pages). With the local store, mltrain's direct
file reads and listings count as the requests they stand for.

--layout packed uploads with `s3 upload-dir --pack` (issue 16 part 1). Until that flag
lands, packed fails at the first upload: that is expected, not a bug of this script.

Progress goes to stderr, the Markdown table to stdout; raw figures to DIR/results-<time>.json.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PROXY = os.path.join(BENCH, "delay_proxy.py")

SETS = {
    "10k": (["--count", "10000"], 10000),
    "100k": (["--augment", "100000", "--seed", "0"], 100000),
}
NUM_PCA, NUM_RF = 2, 8
BUCKET = "mltrain-bench"
ACCESS_KEY, SECRET_KEY = "bench-user", "bench-secret-key"
STATS_KEYS = ("get", "put", "list", "head", "delete", "copy", "listed", "bytes_read",
              "bytes_written")


def log(msg):
    print(f"s3_latency: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")


def build(skip, given):
    if given:
        binary = os.path.abspath(given)
    else:
        binary = os.path.join(target_dir(), "release", "mltrain")
        if not skip:
            cmd = ["cargo", "build", "--release", "--bin", "mltrain"]
            log("$ " + " ".join(cmd))
            if subprocess.run(cmd, cwd=ROOT).returncode != 0:
                die("the release build failed; or measure a binary with --no-build/--mltrain")
    if not os.access(binary, os.X_OK):
        die(f"{binary} is missing or not executable")
    return binary


def ensure_images(mltrain, data, size):
    """DIR/SIZE/png: the ImageFolder the uploads read, made once."""
    args, n = SETS[size]
    out = os.path.join(data, size, "png")
    stamp = os.path.join(data, size, "complete.json")
    recipe = ["mltrain", "dataset", "mnist", *args]
    if os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == recipe:
                return out, n
    log(f"making {size} images in {out}")
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([mltrain, "dataset", "mnist", "--out", out, *args], check=True,
                   stdout=subprocess.DEVNULL)
    got = sum(len(files) for _, _, files in os.walk(out))
    if got != n:
        die(f"{out} has {got} files, expected {n}")
    with open(stamp, "w") as f:
        json.dump(recipe, f)
    return out, n


def installed(name, install):
    """The path of the program `name`, on PATH or in ~/.cargo/bin."""
    found = shutil.which(name)
    home = os.path.join(os.path.expanduser("~"), ".cargo", "bin", name)
    if found:
        return found
    if os.access(home, os.X_OK):
        return home
    die(f"{name} is not installed: {install}")


def s3s_fs_binary():
    return installed("s3s-fs", "cargo install s3s-fs@0.14.1 --features binary --locked")


def garage_binary():
    return installed("garage", "cargo install garage --locked")


# Garage's key ids are GK and 24 hex digits, its secrets 64 hex digits.
GARAGE_KEY_ID = "GK" + "0123456789abcdef01234567"
GARAGE_SECRET = "0123456789abcdef" * 4


def start_garage(root):
    """A one-node Garage cluster under root, with BUCKET and a key that owns it; returns
    (server process, S3 port, the `garage -c CONFIG` command prefix)."""
    s3_port, rpc_port, admin_port = free_port(), free_port(), free_port()
    config = os.path.join(root, "garage.toml")
    with open(config, "w") as f:
        f.write(f"""metadata_dir = "{root}/meta"
data_dir = "{root}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{'ab' * 32}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
""")
    cli = [garage_binary(), "-c", config]
    log_file = open(os.path.join(root, "garage.log"), "w")
    server = subprocess.Popen(cli + ["server"], stdin=subprocess.DEVNULL, stdout=log_file,
                              stderr=subprocess.STDOUT, env=dict(os.environ, RUST_LOG="warn"))
    wait_for_port(s3_port, server, "garage")

    def garage(*args):
        deadline = time.monotonic() + 30
        while True:
            p = subprocess.run(cli + list(args), capture_output=True, text=True,
                               stdin=subprocess.DEVNULL)
            if p.returncode == 0:
                return p.stdout
            if time.monotonic() > deadline:
                die(f"garage {' '.join(args)} failed:\n{p.stdout}{p.stderr}")
            time.sleep(0.5)

    node = garage("node", "id", "-q").strip().split("@")[0]
    garage("layout", "assign", "-z", "dc1", "-c", "10G", node)
    garage("layout", "apply", "--version", "1")
    garage("bucket", "create", BUCKET)
    garage("key", "import", "--yes", "-n", "bench", GARAGE_KEY_ID, GARAGE_SECRET)
    garage("bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "bench")
    return server, s3_port


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            die(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    die(f"{what} did not listen on {port} within 20 s")


class Backend:
    """Where a configuration keeps its objects: a file store, or s3s-fs (maybe proxied)."""

    def __init__(self, name, delay_ms, scratch, server="s3s-fs", mltrain=None):
        self.name, self.delay_ms, self.server, self.mltrain = name, delay_ms, server, mltrain
        self.root = tempfile.mkdtemp(prefix=f"s3lat-{name}-", dir=scratch)
        self.procs = []
        if name == "local":
            self.url, self.env, self.objects = "file://" + self.root, {}, self.root
            return
        if server == "garage":
            # Garage keeps objects as content-addressed blocks: cleared through S3.
            self.objects = None
            proc, port = start_garage(self.root)
            self.procs.append(proc)
            key, secret, region = GARAGE_KEY_ID, GARAGE_SECRET, "garage"
        else:
            os.makedirs(os.path.join(self.root, BUCKET))
            self.objects = os.path.join(self.root, BUCKET)
            port = free_port()
            proc = subprocess.Popen(
                [s3s_fs_binary(), "--host", "127.0.0.1", "--port", str(port),
                 "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, self.root],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(proc)
            wait_for_port(port, proc, "s3s-fs")
            key, secret, region = ACCESS_KEY, SECRET_KEY, "us-east-1"
        if delay_ms is not None:
            listen = free_port()
            proxy = subprocess.Popen(
                [sys.executable, PROXY, str(listen), "127.0.0.1", str(port), str(delay_ms)],
                stdin=subprocess.DEVNULL)
            self.procs.append(proxy)
            wait_for_port(listen, proxy, "delay_proxy.py")
            port = listen
        self.url = "s3://" + BUCKET
        self.env = {"S3_HOST": "127.0.0.1", "S3_PORT": str(port), "S3_USER": key,
                    "S3_PASSWORD": secret, "S3_BUCKET": BUCKET, "AWS_REGION": region}

    def label(self):
        if self.name == "local":
            return "local store"
        server = "" if self.server == "s3s-fs" else f" ({self.server})"
        if self.delay_ms is None:
            return f"S3{server} direct (no proxy)"
        return f"S3{server}, {self.delay_ms} ms each way"

    def clear(self, keep_data):
        """Removes the run outputs (and, unless keep_data, the data) straight from disk,
        or through S3 from a server that does not keep objects as files."""
        if self.objects is None:
            for prefix in ["ml-training"] + ([] if keep_data else ["data"]):
                timed([self.mltrain, "--store", self.url, "s3", "clear-dir",
                       "--prefix", prefix], self.env)
            return
        for entry in os.listdir(self.objects):
            if keep_data and entry == "data":
                continue
            path = os.path.join(self.objects, entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
            p.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def timed(cmd, env):
    full_env = dict(os.environ, **env)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=full_env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"exit code {proc.returncode}: {' '.join(cmd)}")
    return wall, proc.stdout


STORE_LINE = re.compile(
    r"^store: (\d+) requests \((\d+) GET, (\d+) PUT, (\d+) LIST, (\d+) HEAD, (\d+) DELETE, "
    r"(\d+) COPY\), (\d+) bytes read, (\d+) bytes written$", re.M)


def upload_stats(stdout):
    m = STORE_LINE.search(stdout)
    if not m:
        raise ValueError("no `store:` line in the output of upload-dir:\n" + stdout[-2000:])
    n = [int(g) for g in m.groups()]
    return {"get": n[1], "put": n[2], "list": n[3], "head": n[4], "delete": n[5],
            "copy": n[6], "listed": None, "bytes_read": n[7], "bytes_written": n[8]}


def measure(mltrain, backend, images, size, op, layout, runs, io_concurrency):
    prefix = f"data/{size}"
    env = dict(backend.env)
    if io_concurrency:
        env["MLTRAIN_IO_CONCURRENCY"] = str(io_concurrency)
    results = []
    for _ in range(runs):
        if op == "upload":
            backend.clear(keep_data=False)
            cmd = [mltrain, "--store", backend.url, "s3", "upload-dir", "--host-path", images,
                   "--s3-path", prefix]
            if layout == "packed":
                cmd.append("--pack")
            if io_concurrency:
                cmd += ["--concurrency", str(io_concurrency)]
            wall, out = timed(cmd, env)
            results.append({"wall": wall, "stats": upload_stats(out)})
        else:
            backend.clear(keep_data=True)
            cmd = [mltrain, "--store", backend.url, "run", prefix, str(NUM_PCA), str(NUM_RF),
                   "--json"]
            wall, out = timed(cmd, env)
            report = json.loads(out)
            results.append({"wall": wall, "stats": report["store_stats"],
                            "accuracy": report["accuracy"], "stages": report["stages"]})
    return results


def mib(n):
    return "" if n is None else f"{n / 2**20:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["10k", "100k"], choices=list(SETS))
    ap.add_argument("--delays", nargs="+", type=float, default=[0, 5, 25],
                    help="ms the proxy holds each chunk, each way")
    ap.add_argument("--runs", type=int, default=3, help="runs of each (median reported)")
    ap.add_argument("--ops", nargs="+", default=["upload", "run"], choices=["upload", "run"])
    ap.add_argument("--layout", default="per-image", choices=["per-image", "packed"],
                    help="packed needs `s3 upload-dir --pack` (issue 16 part 1)")
    ap.add_argument("--proxy-check", action="store_true",
                    help="also measure s3s-fs without the proxy")
    ap.add_argument("--no-local", action="store_true", help="skip the local-store baseline")
    ap.add_argument("--io-concurrency", type=int, help="store requests in flight")
    ap.add_argument("--mltrain", help="measure this binary instead of building one")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--server", default="s3s-fs", choices=["s3s-fs", "garage"],
                    help="the S3 server (Garage lists in linear time; s3s-fs does not)")
    ap.add_argument("--data", default=os.path.join(target_dir(), "bench-data", "s3"))
    args = ap.parse_args()

    mltrain = build(args.no_build, args.mltrain)
    data = os.path.abspath(args.data)
    os.makedirs(data, exist_ok=True)
    configs = [] if args.no_local else [("local", None)]
    if args.proxy_check:
        configs.append(("s3", None))
    configs += [("s3", d) for d in args.delays]

    rows, raw = [], []
    for size in args.sizes:
        images, n = ensure_images(mltrain, data, size)
        local_wall = {}
        for name, delay in configs:
            delay_label = None if delay is None else (int(delay) if delay == int(delay) else delay)
            backend = Backend(name, delay_label, data, args.server, mltrain)
            try:
                for op in args.ops:
                    if op == "run" and "upload" not in args.ops:
                        backend.clear(keep_data=False)
                        timed([mltrain, "--store", backend.url, "s3", "upload-dir",
                               "--host-path", images, "--s3-path", f"data/{size}"]
                              + (["--pack"] if args.layout == "packed" else []), backend.env)
                    log(f"{size} {backend.label()}: {op} x{args.runs}")
                    try:
                        got = measure(mltrain, backend, images, size, op, args.layout,
                                      args.runs, args.io_concurrency)
                    except (RuntimeError, ValueError) as e:
                        log(f"failed: {e}")
                        rows.append((size, n, backend.label(), op, None, None, None, None))
                        continue
                    wall = statistics.median(r["wall"] for r in got)
                    if name == "local":
                        local_wall[op] = wall
                    stats = got[-1]["stats"]
                    acc = got[-1].get("accuracy")
                    rows.append((size, n, backend.label(), op, wall, local_wall.get(op), stats,
                                 acc))
                    raw.append({"size": size, "backend": backend.label(), "op": op,
                                "layout": args.layout, "runs": got})
                    log(f"  median {wall:.2f} s, {sum(stats[k] for k in STATS_KEYS[:6])} "
                        "requests")
            finally:
                backend.close()

    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    with open(os.path.join(data, f"results-{stamp}.json"), "w") as f:
        json.dump({"machine": platform.platform(), "cpus": os.cpu_count(), "results": raw},
                  f, indent=1)

    inflight = args.io_concurrency or "mltrain's default"
    print(f"Layout **{args.layout}**, `run PREFIX {NUM_PCA} {NUM_RF}`, median of {args.runs}, "
          f"requests in flight: {inflight}; "
          f"{os.cpu_count()} CPUs, {platform.platform()}, "
          f"{datetime.date.today().isoformat()}.\n")
    print("| images | store | op | wall (median) | × local | requests | GET | PUT | LIST | "
          "HEAD | DELETE | MiB read | MiB written | accuracy |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, n, label, op, wall, local, stats, acc in rows:
        if wall is None:
            print(f"| {n:,} | {label} | {op} | failed | | | | | | | | | | |")
            continue
        ratio = f"{wall / local:.1f}×" if local else ""
        requests = sum(stats[k] for k in ("get", "put", "list", "head", "delete", "copy"))
        print(f"| {n:,} | {label} | `{op}` | {wall:.2f} s | {ratio} | {requests:,} | "
              f"{stats['get']:,} | {stats['put']:,} | {stats['list']:,} | {stats['head']:,} | "
              f"{stats['delete']:,} | {mib(stats['bytes_read'])} | "
              f"{mib(stats['bytes_written'])} | {'' if acc is None else f'{acc:.4f}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
