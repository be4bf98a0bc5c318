//! The `mltrain` binary on images that are not 28×28 grey digits: wide images under a
//! memory cap too small for a pixel-by-pixel covariance, colour JPEGs, and a memory budget
//! that refuses a run before it allocates.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use std::io::Cursor;
use std::path::Path;

use assert_cmd::Command;
use predicates::str::contains;

/// Writes `image` at `store/<key>`: a `file://` store's objects are its files.
fn put(store: &Path, key: &str, image: image::DynamicImage, format: image::ImageFormat) {
    let path = store.join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// `n` grey images of `side` pixels a side per class: a bright vertical or horizontal bar,
/// at a varying place, on noise.
fn bars(store: &Path, prefix: &str, n: usize, side: u32) {
    let mut state = 12345u32;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        state >> 8
    };
    for i in 0..2 * n {
        let vertical = i % 2 == 0;
        let at = side / 4 + next() % (side / 2);
        let width = side / 8;
        let noise: Vec<u8> = (0..side * side).map(|_| (next() % 60) as u8).collect();
        let img = image::GrayImage::from_fn(side, side, |x, y| {
            let across = if vertical { x } else { y };
            if across >= at && across < at + width {
                image::Luma([220])
            } else {
                image::Luma([noise[(y * side + x) as usize]])
            }
        });
        let class = if vertical { "vertical" } else { "horizontal" };
        put(
            store,
            &format!("{prefix}/{class}/{i:04}.png"),
            img.into(),
            image::ImageFormat::Png,
        );
    }
}

fn mltrain(store: &Path) -> Command {
    let mut cmd = Command::cargo_bin("mltrain").unwrap();
    cmd.arg("--store").arg(store).env_remove("MLTRAIN_STORE");
    cmd
}

/// The report `cmd` prints with `--json`, which must succeed.
fn report(cmd: &mut Command) -> serde_json::Value {
    serde_json::from_slice(&cmd.assert().success().get_output().stdout).unwrap()
}

/// 256×256 images (65,536 features) train in a process whose address space is capped at
/// 2.5 GB: a 65,536 × 65,536 covariance alone would be 17 GB.
#[test]
fn wide_images_train_under_a_memory_cap() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    bars(&store, "wide", 50, 256);
    let bin = assert_cmd::cargo::cargo_bin("mltrain");
    let r = report(
        Command::new("bash")
            .args(["-c", r#"ulimit -v 2500000 && exec "$0" "$@""#])
            .arg(&bin)
            .arg("--store")
            .arg(&store)
            .args(["run", "wide", "2", "4", "--trees", "20", "--json"])
            .env_remove("MLTRAIN_STORE"),
    );
    assert_eq!(r["image_size"]["width"], 256);
    assert_eq!(r["channels"], "grey");
    assert!(r["accuracy"].as_f64().unwrap() >= 0.9, "{r}");
}

/// Colour JPEGs of classes that differ only in colour: `auto` reads them as RGB.
#[test]
fn colour_jpegs_are_read_as_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for i in 0..80u32 {
        let (class, colour) = if i % 2 == 0 {
            ("red", [220, 40, 40])
        } else {
            ("green", [33, 137, 31])
        };
        let (cx, cy) = (30 + (i * 7) % 36, 30 + (i * 11) % 36);
        let img = image::RgbImage::from_fn(96, 96, |x, y| {
            let (dx, dy) = (x as i32 - cx as i32, y as i32 - cy as i32);
            if dx * dx + dy * dy < 400 {
                image::Rgb(colour)
            } else {
                image::Rgb([95, 95, 95])
            }
        });
        put(
            &store,
            &format!("photos/{class}/{i:03}.jpg"),
            img.into(),
            image::ImageFormat::Jpeg,
        );
    }
    let r = report(mltrain(&store).args(["run", "photos", "2", "4", "--trees", "30", "--json"]));
    assert_eq!(r["channels"], "rgb");
    assert!(r["accuracy"].as_f64().unwrap() >= 0.95, "{r}");
    // The published model applies its own channels: predict reads a JPEG as RGB.
    let model = r["model_key"].as_str().unwrap();
    mltrain(&store)
        .args(["predict", "--model", model])
        .arg(store.join("photos/green/001.jpg"))
        .assert()
        .success()
        .stdout(contains("\tgreen\t"));
}

/// A run that would not fit its memory budget stops before the PCA stage, exit 2, with
/// what it would need and what to change.
#[test]
fn a_run_over_its_memory_budget_exits_2_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    bars(&store, "wide", 10, 128);
    mltrain(&store)
        .args(["run", "wide", "2", "4", "--memory-budget", "4M"])
        .assert()
        .code(2)
        .stderr(contains("pca-0 would need about"))
        .stderr(contains("over the budget of 4.0 MiB"))
        .stderr(contains("--resize"))
        .stderr(contains("--memory-budget"));
    mltrain(&store)
        .args(["run", "wide", "2", "4", "--memory-budget", "lots"])
        .assert()
        .code(2)
        .stderr(contains("not a size"));
}
