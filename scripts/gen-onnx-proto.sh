#!/usr/bin/env bash
# Regenerates crates/mltrain-onnx/src/proto/onnx.rs, the Rust types of ONNX's protobuf
# messages, from crates/mltrain-onnx/proto/onnx-ml.proto.
#
# The generated file is committed so that building mltrain needs no protoc: this script is
# run by hand only when the .proto changes. It builds a throwaway program under
# target/gen-onnx-proto with prost-build and protox (a protobuf compiler in Rust, so no
# protoc either), whose versions match the prost the crate depends on.
set -euo pipefail
cd "$(dirname "$0")/.."

crate=crates/mltrain-onnx
work=${CARGO_TARGET_DIR:-target}/gen-onnx-proto
mkdir -p "$work/src" "$work/out"
cat >"$work/Cargo.toml" <<'TOML'
[package]
name = "gen-onnx-proto"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
prost-build = "=0.14.6"
protox = "=0.9.1"

[workspace]
TOML
cat >"$work/src/main.rs" <<'RS'
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (proto, out) = (&args[1], &args[2]);
    let dir = std::path::Path::new(proto).parent().expect("a .proto in a folder");
    let descriptors = protox::compile([proto], [dir]).expect("the .proto compiles");
    // Comments left out: ONNX's indented prose would become failing doc tests; the
    // .proto beside the crate is the documentation.
    prost_build::Config::new()
        .disable_comments(["."])
        .out_dir(out)
        .compile_fds(descriptors)
        .expect("prost generates the types");
}
RS
cargo run --quiet --manifest-path "$work/Cargo.toml" --target-dir "$work/target" -- \
    "$crate/proto/onnx-ml.proto" "$work/out"
cp "$work/out/onnx.rs" "$crate/src/proto/onnx.rs"
echo "wrote $crate/src/proto/onnx.rs"
