//! The stages' computes as one WebAssembly module (`wasm32-wasip1`, built by
//! `scripts/build-wasm.sh`): reads one call from stdin, writes its reply to stdout, and does
//! no other I/O. The ABI is [`mltrain_workflow::guest`]'s, documented in `docs/wasm.md`.
//! It builds natively too, where it behaves the same: the tests run it both ways.

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    gemm::set_wasm_simd128(true);
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("mltrain-guest: cannot read the call from stdin: {e}");
        return ExitCode::from(2);
    }
    let reply = mltrain_workflow::guest::handle(input);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&reply).and_then(|()| stdout.flush()) {
        eprintln!("mltrain-guest: cannot write the reply to stdout: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
