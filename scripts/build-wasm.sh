#!/usr/bin/env bash
# Builds the stages' computes as one WebAssembly module, target/wasm/mltrain-guest.wasm
# (and, with --simd, target/wasm/mltrain-guest-simd.wasm, built with +simd128).
#
# rustup has no wasm32 target on these machines; Debian's Rust (1.96) and its standard
# library source do (docs/wasm.md, "Building"). This script installs those packages when
# they are missing (apt-get, as root or through sudo), then builds std and the module
# for wasm32-wasip1 with -Zbuild-std. The first build compiles std (1-2 minutes of CPU).
set -euo pipefail
cd "$(dirname "$0")/.."

simd=0
for arg in "$@"; do
    case "$arg" in
        --simd) simd=1 ;;
        *) echo "usage: scripts/build-wasm.sh [--simd]" >&2; exit 2 ;;
    esac
done

packages=(rustc-web cargo-web rust-web-src wasi-libc)
if [[ ! -x /usr/bin/rustc || ! -d /usr/lib/rustlib/src/rust/library || ! -f /usr/lib/wasm32-wasi/libc.a ]]; then
    echo "build-wasm: installing ${packages[*]} (Debian's Rust with its std source, WASI libc)" >&2
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# rustup's rust-lld links; Debian's rustc compiles (its std source matches it, 1.96).
lld="$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
if [[ ! -x "$lld" ]]; then
    echo "build-wasm: no rust-lld at $lld (rustup's toolchain ships it)" >&2
    exit 1
fi

flags="-C panic=abort -C link-self-contained=no -L /usr/lib/wasm32-wasi -C link-arg=/usr/lib/wasm32-wasi/crt1-command.o"
name=mltrain-guest
if [[ $simd -eq 1 ]]; then
    flags="$flags -C target-feature=+simd128"
    name=mltrain-guest-simd
fi
target_dir="target/wasm/$name"

RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
CARGO_TARGET_WASM32_WASIP1_LINKER="$lld" \
RUSTFLAGS="$flags" \
    /usr/bin/cargo build --release --locked -Zbuild-std=std,panic_abort \
        --target wasm32-wasip1 --target-dir "$target_dir" -p mltrain-guest

cp "$target_dir/wasm32-wasip1/release/mltrain-guest.wasm" "target/wasm/$name.wasm"
echo "target/wasm/$name.wasm"
