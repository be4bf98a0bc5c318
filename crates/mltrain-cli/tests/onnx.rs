//! `mltrain export --format onnx`, checked by the runtime serving stacks use: ONNX Runtime
//! (from PyPI, in a venv this test makes under the target directory) runs the exported
//! graph on the 2,000 test digits and on colour pictures, and must give `mltrain predict`'s
//! label on every image and its probabilities to within 1e-5 (`scripts/onnx_check.py`).
//!
//! Needs `python3` with `venv` and pip access to PyPI; without them the test fails, it does
//! not skip.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::Env;
use mltrain_core::image::{Channels, FeatureDecoder, ImageSize};
use predicates::prelude::*;
use predicates::str::contains;

/// The repository's root, where `scripts/` is.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python with ONNX Runtime and numpy, at the versions of
/// `scripts/onnx-check-requirements.txt`: a venv under the target directory, made or
/// brought up to date on first use. One test at a time makes it.
fn python() -> PathBuf {
    static MAKING: Mutex<()> = Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("onnx-venv");
    let python = venv.join("bin/python");
    let wanted =
        std::fs::read_to_string(repo().join("scripts/onnx-check-requirements.txt")).unwrap();
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return python;
    }
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 runs: the ONNX check needs Python 3 with venv");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(repo().join("scripts/onnx-check-requirements.txt"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "pip could not install onnxruntime and numpy from PyPI"
    );
    std::fs::write(&stamp, wanted).unwrap();
    python
}

/// Exports the model of `run_id` (the latest if `None`), has `predict --json` classify
/// `images`, and has ONNX Runtime check the exported graph against it on the same pixels.
/// Returns the check's summary.
fn check_against_predict(
    env: &Env,
    run_id: Option<&str>,
    images: &Path,
    size: ImageSize,
    channels: Channels,
) -> serde_json::Value {
    let model_args: Vec<&str> = run_id.map(|id| vec!["--model", id]).unwrap_or_default();
    let onnx = env.path("model.onnx");
    env.cmd()
        .arg("export")
        .args(&model_args)
        .args(["--format", "onnx", "-o"])
        .arg(&onnx)
        .assert()
        .success()
        .stdout(contains("wrote").and(contains("float32")));

    let out = env
        .cmd()
        .arg("predict")
        .args(&model_args)
        .arg("--json")
        .arg(images)
        .assert()
        .success();
    let reference = env.path("predict.jsonl");
    std::fs::write(&reference, &out.get_output().stdout).unwrap();

    // The levels the graph is fed are the ones predict decoded, in the order it printed
    // them: the contract's input is pixels, and decoding is the caller's part.
    let mut decoder = FeatureDecoder::new().channels(channels);
    let mut row = vec![0u8; size.features(channels)];
    let mut pixels = Vec::new();
    for line in String::from_utf8(out.get_output().stdout.clone())
        .unwrap()
        .lines()
    {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        let bytes = std::fs::read(line["path"].as_str().unwrap()).unwrap();
        decoder.decode_levels(&bytes, size, &mut row).unwrap();
        pixels.extend_from_slice(&row);
    }
    let pixels_file = env.path("pixels.u8");
    std::fs::write(&pixels_file, pixels).unwrap();

    let check = Command::new(python())
        .arg(repo().join("scripts/onnx_check.py"))
        .args([&onnx, &pixels_file, &reference])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    let stderr = String::from_utf8_lossy(&check.stderr);
    eprintln!("onnx_check: {stdout}{stderr}");
    assert!(
        check.status.success(),
        "ONNX Runtime disagrees with predict:\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.lines().next().unwrap()).unwrap()
}

#[test]
fn onnx_runtime_agrees_with_predict_on_the_test_digits() {
    let env = Env::new();
    env.digits("train", 0, 2000, "train");
    let out = env
        .cmd()
        .args(["run", "train", "2", "4", "--json"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let run_id = report["run_id"].as_str().unwrap();
    // The bundled test split: the last 2,000 digits.
    env.cmd()
        .args([
            "dataset", "mnist", "--skip", "8000", "--count", "2000", "--out",
        ])
        .arg(env.path("test"))
        .assert()
        .success();
    let summary = check_against_predict(
        &env,
        Some(run_id),
        &env.path("test"),
        ImageSize::new(28, 28),
        Channels::Grey,
    );
    assert_eq!(summary["images"], 2000);
    assert_eq!(summary["classes"], 10);
    assert_eq!(summary["label_mismatches"], 0);
}

/// Writes `image` to `path`, as PNG or JPEG by its extension.
fn save(path: &Path, image: image::RgbImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let format = image::ImageFormat::from_path(path).unwrap();
    let mut bytes = Vec::new();
    image::DynamicImage::from(image)
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// 48×40 colour pictures of three classes that differ in colour and shape, on a noisy
/// background: every third one a JPEG.
fn colour_pictures(dir: &Path, n: u32, seed: u32) {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        state >> 8
    };
    for i in 0..3 * n {
        let class = ["sun", "leaf", "sea"][(i % 3) as usize];
        let (cx, cy) = (14 + next() % 20, 12 + next() % 16);
        let r = 6 + next() % 5;
        let img = image::RgbImage::from_fn(48, 40, |x, y| {
            let (dx, dy) = (x as i32 - cx as i32, y as i32 - cy as i32);
            let noise = (next() % 40) as u8;
            let inside = match class {
                "sun" => dx * dx + dy * dy < (r * r) as i32,
                "leaf" => dx.abs() + dy.abs() < r as i32,
                _ => dy.abs() < 3 && dx.abs() < 2 * r as i32,
            };
            match (class, inside) {
                ("sun", true) => image::Rgb([230, 200 - noise, 40]),
                ("leaf", true) => image::Rgb([40 + noise, 170, 50]),
                (_, true) => image::Rgb([30, 90 + noise, 210]),
                _ => image::Rgb([100 + noise, 100 + noise / 2, 100]),
            }
        });
        let ext = if i % 3 == 2 { "jpg" } else { "png" };
        save(&dir.join(format!("{class}/{i:03}.{ext}")), img);
    }
}

#[test]
fn onnx_runtime_agrees_with_predict_on_colour_pictures() {
    let env = Env::new();
    colour_pictures(&env.path("pictures"), 60, 7);
    env.upload(&env.path("pictures"), "pictures");
    let out = env
        .cmd()
        .args(["run", "pictures", "2", "3", "--trees", "40", "--json"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["channels"], "rgb");
    colour_pictures(&env.path("new"), 30, 99);
    // Without --model, export and predict both take the latest model.
    let summary = check_against_predict(
        &env,
        None,
        &env.path("new"),
        ImageSize::new(48, 40),
        Channels::Rgb,
    );
    assert_eq!(summary["images"], 90);
    assert_eq!(summary["classes"], 3);
    assert_eq!(summary["label_mismatches"], 0);
}

#[test]
fn export_needs_a_model_and_a_format() {
    let env = Env::new();
    env.cmd()
        .args(["export", "--format", "onnx", "-o"])
        .arg(env.path("m.onnx"))
        .assert()
        .code(2)
        .stderr(contains("no published model"));
    env.cmd()
        .args([
            "export",
            "--model",
            "20260101T000000Z-nope",
            "--format",
            "onnx",
            "-o",
        ])
        .arg(env.path("m.onnx"))
        .assert()
        .code(1) // as predict: a model that cannot be loaded is a runtime failure
        .stderr(contains("cannot load model"));
    env.cmd()
        .args(["export", "-o"])
        .arg(env.path("m.onnx"))
        .assert()
        .code(2)
        .stderr(contains("--format"));
    assert!(!env.path("m.onnx").exists());
}
