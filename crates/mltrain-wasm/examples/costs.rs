//! What the WebAssembly backend costs before any compute: compiling the module (once per
//! run) and starting a fresh instance (every call: instantiation, WASI set-up, reading a
//! call and writing a reply). Prints one JSON object; `bench/wasm.py` records it.
//!
//!     cargo run --release -p mltrain-wasm --example costs -- target/wasm/mltrain-guest.wasm [CALLS]

use std::path::PathBuf;
use std::time::Instant;

use mltrain_wasm::{Config, Sandbox};
use mltrain_workflow::guest::{Call, Reply, Task};
use mltrain_workflow::stage::StageId;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let module = PathBuf::from(args.next().ok_or("usage: costs MODULE.wasm [CALLS]")?);
    let calls: usize = args.next().map_or(Ok(200), |n| n.parse())?;

    let started = Instant::now();
    let sandbox = Sandbox::load(&module, Config::default())?;
    let compile = started.elapsed().as_secs_f64();
    // The same, from a cache of compiled code: filled once, then read.
    let cache = std::env::temp_dir().join(format!("mltrain-costs-{}", std::process::id()));
    let cached = Config {
        cache_dir: Some(cache.clone()),
        ..Config::default()
    };
    drop(Sandbox::load(&module, cached.clone())?);
    let started = Instant::now();
    drop(Sandbox::load(&module, cached)?);
    let load_cached = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&cache)?;

    // The smallest call the module answers: an rf job it refuses at once (no share), so
    // the time is the instance's, not a compute's.
    let call = Call {
        task: Task::Stage(StageId::Rf),
        job: b"{}".to_vec(),
        env: b"{}".to_vec(),
        objects: Vec::new(),
    }
    .encode();
    let mut each = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let reply = sandbox.run("costs", call.clone())?;
        each.push(started.elapsed().as_secs_f64());
        assert!(matches!(Reply::decode(&reply)?, Reply::Refused(_)));
    }
    each.sort_by(f64::total_cmp);
    println!(
        "{{\"module\": {:?}, \"compile_seconds\": {compile:.4}, \"cached_load_seconds\": {load_cached:.4}, \"calls\": {calls}, \"cold_start_median_seconds\": {:.6}, \"cold_start_p90_seconds\": {:.6}}}",
        module.display().to_string(),
        each[calls / 2],
        each[calls * 9 / 10]
    );
    Ok(())
}
