//! The WebAssembly backend end to end: the real module against the native backend, and
//! modules that trap, grow past their cap, run past their time, or are not modules at all.
//!
//! The real module is `target/wasm/mltrain-guest.wasm` (or `$MLTRAIN_WASM_MODULE`), built by
//! `scripts/build-wasm.sh`, which `.ci/run` runs first; without it these tests fail, saying
//! so.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use std::path::PathBuf;
use std::time::Duration;

use mltrain_store::Store;
use mltrain_wasm::{Config, Sandbox, WasmFunctions};
use mltrain_workflow::driver::{self, Local, Quiet};
use mltrain_workflow::guest::{Call, Reply, Task};
use mltrain_workflow::layout::RunLayout;
use mltrain_workflow::objects;
use mltrain_workflow::params::Params;
use mltrain_workflow::report::Report;
use mltrain_workflow::stage::{self, StageId};
use mltrain_workflow::stages::Ctx;
use mltrain_workflow::{Error, SandboxFault};

fn module_path() -> PathBuf {
    let path = std::env::var_os("MLTRAIN_WASM_MODULE").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm/mltrain-guest.wasm"),
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "no WebAssembly module at {}: build it with scripts/build-wasm.sh",
        path.display()
    );
    path
}

fn sandbox(config: Config) -> Sandbox {
    Sandbox::load(&module_path(), config).unwrap()
}

/// The first `n` bundled digits as an ImageFolder under `prefix` in a local store.
async fn digits_store(dir: &std::path::Path, prefix: &str, n: usize) -> Store {
    let store = Store::from_url(&format!("file://{}", dir.display())).unwrap();
    let d = mltrain_dataset::bundled_mnist().unwrap();
    for i in 0..n {
        let png = mltrain_dataset::encode_png(d.width, d.height, d.image(i)).unwrap();
        let key = format!("{prefix}/{}/{i:05}.png", d.label(i));
        store.put(&key, png.into()).await.unwrap();
    }
    store
}

fn params(prefix: &str) -> Params {
    Params {
        prefix: prefix.into(),
        num_pca: 2,
        num_rf: 8,
        ..Params::default()
    }
}

/// On the bundled 2,000 digits and a fixed seed, the WebAssembly backend trains a model
/// of the same accuracy and confusion as the native one. The bases are not bit-identical:
/// faer's kernels take other floating-point paths on wasm32 than with x86's AVX2, so the
/// components differ in their last bits; the forests trained on them, and their votes, come
/// out the same on the test set.
#[tokio::test(flavor = "multi_thread")]
async fn the_module_trains_what_the_native_backend_trains() {
    let dir = tempfile::tempdir().unwrap();
    let store = digits_store(dir.path(), "digits", 2000).await;
    let p = params("digits");
    let native = Local {
        ctx: Ctx::new(store.clone()),
    };
    let wasm = WasmFunctions::new(Ctx::new(store.clone()), sandbox(Config::default()));
    let a: Report = driver::run(&native, &p, "native", 4, &Quiet).await.unwrap();
    let b: Report = driver::run(&wasm, &p, "wasm", 4, &Quiet).await.unwrap();
    assert_eq!(a.accuracy, b.accuracy);
    assert_eq!(a.confusion, b.confusion);
    assert!(a.accuracy > 0.7, "{}", a.accuracy);
    let (la, lb) = (RunLayout::new("native"), RunLayout::new("wasm"));
    for i in 0..p.num_pca {
        let basis = |l: &RunLayout| {
            let store = store.clone();
            let key = l.basis(i);
            async move {
                let bytes = store.get(&key).await.unwrap();
                objects::decode::<mltrain_core::pca::Pca>(&key, &bytes).unwrap()
            }
        };
        let (x, y) = (basis(&la).await, basis(&lb).await);
        let worst = x
            .components()
            .as_slice()
            .iter()
            .zip(y.components().as_slice())
            .map(|(u, v)| (u - v).abs())
            .fold(0.0f32, f32::max);
        println!("basis {i}: largest difference of a component's weight {worst:e}");
        assert!(worst < 1e-4, "basis {i} differs by {worst}");
    }
    // Integer work does not differ: the key lists are the same bytes.
    for key in (0..p.num_pca)
        .map(|i| (la.partition(i), lb.partition(i)))
        .chain([(la.test_list(), lb.test_list())])
    {
        assert_eq!(
            store.get(&key.0).await.unwrap(),
            store.get(&key.1).await.unwrap(),
            "{}",
            key.0
        );
    }
    let mut same_forests = 0;
    for i in 0..p.num_pca {
        for j in 0..p.forests_of(i) {
            same_forests += usize::from(
                store.get(&la.forest(i, j)).await.unwrap()
                    == store.get(&lb.forest(i, j)).await.unwrap(),
            );
        }
    }
    println!("{same_forests} of {} forests are the same bytes", p.num_rf);
    // Every call was recorded, as on any backend.
    let records = store.keys(&lb.records()).await.unwrap();
    assert_eq!(records.len(), 1 + p.num_pca + p.num_rf + 1, "{records:?}");
}

/// At 10,000 training images (distorted copies of the first 8,000 bundled digits, as
/// `bench/run --scale` makes them) tested on the last 2,000, the module's model scores as
/// the native one does.
#[tokio::test(flavor = "multi_thread")]
async fn the_module_matches_native_accuracy_on_10k_digits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::from_url(&format!("file://{}", dir.path().display())).unwrap();
    let d = mltrain_dataset::bundled_mnist().unwrap();
    let sources: Vec<usize> = (0..8000).collect();
    let train = mltrain_dataset::augment(&d, &sources, 10_000, 0);
    let put = |prefix: &'static str,
               set: &mltrain_dataset::Digits,
               range: std::ops::Range<usize>| {
        let store = store.clone();
        let puts: Vec<_> = range
            .map(|i| {
                let png = mltrain_dataset::encode_png(set.width, set.height, set.image(i)).unwrap();
                (format!("{prefix}/{}/{i:05}.png", set.label(i)), png)
            })
            .collect();
        async move {
            for (key, png) in puts {
                store.put(&key, png.into()).await.unwrap();
            }
        }
    };
    put("train", &train, 0..10_000).await;
    put("test", &d, 8000..10_000).await;
    let p = Params {
        test: mltrain_workflow::params::TestSplit::Prefix("test".into()),
        ..params("train")
    };
    let native = Local {
        ctx: Ctx::new(store.clone()),
    };
    let wasm = WasmFunctions::new(Ctx::new(store.clone()), sandbox(Config::default()));
    let a = driver::run(&native, &p, "native", 4, &Quiet).await.unwrap();
    let b = driver::run(&wasm, &p, "wasm", 4, &Quiet).await.unwrap();
    assert_eq!((a.train_images, a.test_images), (10_000, 2000));
    assert_eq!(a.accuracy, b.accuracy);
    assert_eq!(a.confusion, b.confusion);
}

/// Beyond grey digits: two classes of 64×48 colour pictures, a red and a teal square on
/// grey, PNG and JPEG mixed, in a folder with a `.DS_Store` and a README. The module reads
/// them as RGB, skips the same files, and scores as the native backend does.
#[tokio::test(flavor = "multi_thread")]
async fn the_module_matches_native_on_colour_pictures_in_an_odd_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::from_url(&format!("file://{}", dir.path().display())).unwrap();
    for i in 0..120u32 {
        let (class, colour) = if i % 2 == 0 {
            ("red", [200u8, 60, 60])
        } else {
            ("teal", [60, 140, 140])
        };
        let (ext, bytes) = square(64, 48, i, colour, i % 3 == 0);
        store
            .put(&format!("pictures/{class}/{i:03}.{ext}"), bytes.into())
            .await
            .unwrap();
    }
    store
        .put("pictures/.DS_Store", b"junk".to_vec().into())
        .await
        .unwrap();
    store
        .put("pictures/red/README.txt", b"notes".to_vec().into())
        .await
        .unwrap();
    let mut p = params("pictures");
    p.num_rf = 4;
    let native = Local {
        ctx: Ctx::new(store.clone()),
    };
    let wasm = WasmFunctions::new(Ctx::new(store.clone()), sandbox(Config::default()));
    let a = driver::run(&native, &p, "native", 4, &Quiet).await.unwrap();
    let b = driver::run(&wasm, &p, "wasm", 4, &Quiet).await.unwrap();
    assert_eq!(b.channels, mltrain_core::image::Channels::Rgb);
    assert_eq!(b.image_size, mltrain_core::image::ImageSize::new(64, 48));
    assert_eq!(b.data.skipped_files(), 2, "{:?}", b.data);
    assert_eq!((a.accuracy, &a.confusion), (b.accuracy, &b.confusion));
    assert!(b.accuracy > 0.9, "{}", b.accuracy);
}

/// Picture `i` of a `colour` square on grey noise, `width × height`, as a JPEG or a PNG:
/// its extension and bytes.
fn square(width: u32, height: u32, i: u32, colour: [u8; 3], jpeg: bool) -> (&'static str, Vec<u8>) {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let shade = ((x * 7 + y * 13 + i * 31) % 40) as u8;
        if (10 + i % 20..40 + i % 20).contains(&x) && (8..40).contains(&y) {
            image::Rgb(colour.map(|c| c.saturating_add(shade)))
        } else {
            image::Rgb([100 + shade; 3])
        }
    });
    let (ext, format) = if jpeg {
        ("jpg", image::ImageFormat::Jpeg)
    } else {
        ("png", image::ImageFormat::Png)
    };
    let mut bytes = Vec::new();
    image::DynamicImage::from(img)
        .write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .unwrap();
    (ext, bytes)
}

/// 64×64 colour squares of three classes, `n` of them under `prefix`, PNG and JPEG mixed;
/// the images at `bad` are damaged: a PNG cut short, or text named `.png`.
async fn colour_squares(store: &Store, prefix: &str, n: u32, seed: u32, bad: &[u32]) {
    const CLASSES: [(&str, [u8; 3]); 3] = [
        ("red", [200, 60, 60]),
        ("teal", [60, 140, 140]),
        ("ochre", [190, 150, 40]),
    ];
    for i in 0..n {
        let (class, colour) = CLASSES[(i % 3) as usize];
        let (ext, bytes) = square(64, 64, i + seed, colour, i % 4 == 0);
        let (ext, bytes) = match bad.iter().position(|&b| b == i) {
            Some(0) => ("png", bytes[..bytes.len() / 2].to_vec()),
            Some(_) => ("png", b"not a picture".to_vec()),
            None => (ext, bytes),
        };
        store
            .put(&format!("{prefix}/{class}/{i:04}.{ext}"), bytes.into())
            .await
            .unwrap();
    }
}

/// Validation's prediction run in three parts, side by side, scores what one call scores:
/// the same confusion, and the same test images left out with `--skip-invalid`, one in
/// the first part and one in the last. Without `--skip-invalid` the run names both, which
/// two different parts found.
#[tokio::test(flavor = "multi_thread")]
async fn validation_in_parts_scores_as_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::from_url(&format!("file://{}", dir.path().display())).unwrap();
    colour_squares(&store, "train", 240, 0, &[]).await;
    // 12,288 values an image: the projection's blocks are 170 rows, three parts of 450.
    colour_squares(&store, "test", 450, 1000, &[7, 440]).await;
    let mut p = params("train");
    p.test = mltrain_workflow::params::TestSplit::Prefix("test".into());
    p.num_rf = 4;
    p.skip_invalid = true;
    let run = |parts: usize, run_id: &'static str, p: Params| {
        let wasm = WasmFunctions::new(
            Ctx::new(store.clone()),
            sandbox(Config {
                validation_parts: Some(parts),
                ..Config::default()
            }),
        );
        async move {
            let report = driver::run(&wasm, &p, run_id, 4, &Quiet).await;
            (report, wasm.sandbox().instances_started())
        }
    };
    let (whole, one) = run(1, "whole", p.clone()).await;
    let (parts, four) = run(3, "parts", p.clone()).await;
    let (whole, parts) = (whole.unwrap(), parts.unwrap());
    // Partition, 2 PCA functions, 4 forests and validation; then 3 parts besides.
    assert_eq!((one, four), (8, 11));
    assert_eq!(whole.test_images, 448);
    assert_eq!(
        (whole.accuracy, &whole.confusion),
        (parts.accuracy, &parts.confusion)
    );
    let left_out = |r: &Report| {
        r.data
            .invalid
            .iter()
            .map(|i| i.key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        left_out(&whole),
        ["test/ochre/0440.png", "test/teal/0007.png"]
    );
    assert_eq!(left_out(&whole), left_out(&parts));
    assert!(whole.accuracy > 0.9, "{}", whole.accuracy);

    p.skip_invalid = false;
    let err = run(3, "strict", p).await.0.unwrap_err();
    let Error::Stage { source, .. } = &err else {
        panic!("{err:?}")
    };
    let Error::BadImages { bad } = &**source else {
        panic!("{err:?}")
    };
    let keys: Vec<&str> = bad.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["test/ochre/0440.png", "test/teal/0007.png"], "{err}");
}

/// The fault a call of `wat` meets in a sandbox with `config`.
fn fault_of(wat: &str, config: Config) -> (SandboxFault, String) {
    let sandbox = Sandbox::from_bytes(wat.as_bytes(), config).unwrap();
    match sandbox.run("pca-1", Vec::new()) {
        Err(Error::Sandbox {
            function,
            fault,
            detail,
        }) => {
            assert_eq!(function, "pca-1");
            (fault, detail)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_module_that_traps_is_reported_as_a_trap_of_its_call() {
    let wat = r#"(module (memory (export "memory") 1)
        (func (export "_start") unreachable))"#;
    let (fault, detail) = fault_of(wat, Config::default());
    assert_eq!(fault, SandboxFault::Trap);
    assert!(detail.contains("unreachable"), "{detail}");
    let err = Error::Sandbox {
        function: "pca-1".into(),
        fault,
        detail,
    };
    assert!(!err.is_retryable() && !err.is_bad_input(), "{err}");
}

#[test]
fn an_instance_over_its_memory_cap_is_out_of_memory() {
    // Grows one page (64 KiB) at a time until refused, then traps as Rust's allocator does.
    let wat = r#"(module (memory (export "memory") 1)
        (func (export "_start")
            (loop $more
                (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
            unreachable))"#;
    let config = Config {
        memory: 4 << 20,
        ..Config::default()
    };
    let (fault, detail) = fault_of(wat, config);
    assert_eq!(fault, SandboxFault::OutOfMemory);
    assert!(detail.contains("--wasm-memory"), "{detail}");
}

#[test]
fn a_call_past_its_time_limit_times_out() {
    let wat = r#"(module (memory (export "memory") 1)
        (func (export "_start") (loop $forever (br $forever))))"#;
    let config = Config {
        timeout: Duration::from_millis(200),
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let (fault, detail) = fault_of(wat, config);
    assert_eq!(fault, SandboxFault::Timeout);
    assert!(detail.contains("--wasm-timeout"), "{detail}");
    // Stopped by its deadline, not left to spin (a generous bound for a loaded machine).
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn bad_bytes_in_place_of_the_module_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mltrain-guest.wasm");
    std::fs::write(&path, b"this is not WebAssembly").unwrap();
    let err = Sandbox::load(&path, Config::default()).unwrap_err();
    let Error::Sandbox { fault, detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*fault, SandboxFault::BadModule);
    assert!(detail.contains(&path.display().to_string()), "{detail}");
    assert!(
        err.is_bad_input(),
        "a module the user named is theirs to fix"
    );
    // A module that is WebAssembly but wants imports WASI does not give.
    let foreign = r#"(module (import "env" "host_get" (func)) (func (export "_start")))"#;
    let err = Sandbox::from_bytes(foreign.as_bytes(), Config::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Sandbox {
                fault: SandboxFault::BadModule,
                ..
            }
        ),
        "{err:?}"
    );
}

/// The real module under a tight memory cap: the PCA call says which function ran out and
/// what to raise, and the run stops (exit 2 material), without retrying.
#[tokio::test(flavor = "multi_thread")]
async fn the_real_module_under_a_tight_cap_names_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let store = digits_store(dir.path(), "digits", 2000).await;
    // Enough for partition's listing, not for a PCA function's 800 images.
    let config = Config {
        memory: 4 << 20,
        ..Config::default()
    };
    let wasm = WasmFunctions::new(Ctx::new(store), sandbox(config));
    let mut p = params("digits");
    p.num_rf = 2;
    let err = driver::run(&wasm, &p, "tight", 2, &Quiet)
        .await
        .unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(text.contains("pca-"), "{text}");
    assert!(text.contains("out of memory"), "{text}");
    assert!(err.is_bad_input(), "{text}");
}

/// Node's built-in WASI, a second runtime, runs one call of the same module with the
/// documented ABI and writes the same reply, byte for byte, as wasmtime.
#[tokio::test(flavor = "multi_thread")]
async fn node_runs_a_call_to_the_same_reply() {
    let dir = tempfile::tempdir().unwrap();
    let store = digits_store(dir.path(), "digits", 400).await;
    let native = Local {
        ctx: Ctx::new(store.clone()),
    };
    let mut p = params("digits");
    p.num_rf = 2;
    driver::run(&native, &p, "node", 2, &Quiet).await.unwrap();
    let record = stage::record::<stage::Rf>(&store, "node", "rf-0-0")
        .await
        .unwrap()
        .unwrap();
    let input = stage::rf_inputs(
        "node",
        &p,
        &stage::record::<stage::Pca>(&store, "node", "pca-0")
            .await
            .unwrap()
            .unwrap()
            .output,
    )
    .remove(0);
    let share = store.get(&input.share).await.unwrap();
    let call = Call {
        task: Task::Stage(StageId::Rf),
        job: serde_json::to_vec(&input).unwrap(),
        env: serde_json::to_vec(&Ctx::new(store.clone()).env()).unwrap(),
        objects: vec![(input.share.clone(), share)],
    }
    .encode();

    let by_wasmtime = {
        let call = call.clone();
        // The sandbox blocks: off the async threads, as the backend runs it.
        tokio::task::spawn_blocking(move || sandbox(Config::default()).run("rf-0-0", call))
            .await
            .unwrap()
            .unwrap()
    };
    let runner = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/wasi-run.mjs");
    let mut node = std::process::Command::new("node")
        .arg(&runner)
        .arg(module_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (it is on every machine)");
    {
        use std::io::Write;
        let mut stdin = node.stdin.take().unwrap();
        stdin.write_all(&call).unwrap();
    }
    let out = node.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == by_wasmtime,
        "node's reply differs from wasmtime's"
    );
    let Reply::Done { output, writes } = Reply::decode(&out.stdout.into()).unwrap() else {
        panic!("the call was refused")
    };
    let output: mltrain_workflow::stages::RfOutput = serde_json::from_slice(&output).unwrap();
    assert_eq!(output, record.output);
    // The forest it wrote is the one the native run wrote.
    let (key, forest) = &writes[0];
    assert_eq!(*key, record.output.forest);
    assert_eq!(store.get(key).await.unwrap(), forest);
}
