//! The packed layout from the command line: `s3 upload-dir --pack`, `s3 pack` converting a
//! prefix in place, runs that read either layout alike, and damaged packs refused with
//! exit code 2 and the culprit named.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use std::io::Cursor;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

/// Writes 20 colour pictures of each of three classes below `dir`, 48×40, PNG and JPEG
/// mixed, and a file that is not an image.
fn pictures(dir: &Path) {
    let mut seed = 12345u32;
    let mut next = move |n: u32| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (seed >> 16) % n
    };
    for i in 0..20 {
        for (class, colour) in [
            ("bar", [40u8, 60, 210]),
            ("disc", [215, 45, 40]),
            ("ring", [40, 190, 60]),
        ] {
            let (cx, cy) = (14 + next(20) as i32, 12 + next(16) as i32);
            let img = image::RgbImage::from_fn(48, 40, |x, y| {
                let (dx, dy) = (x as i32 - cx, y as i32 - cy);
                let d2 = dx * dx + dy * dy;
                let inside = match class {
                    "bar" => dx.abs() < 9 && dy.abs() < 3,
                    "disc" => d2 < 64,
                    _ => (36..81).contains(&d2),
                };
                if inside {
                    image::Rgb(colour)
                } else {
                    let v = 100 + ((x * 7 + y * 13 + i) % 30) as u8;
                    image::Rgb([v, v, v])
                }
            });
            let (ext, format) = if i % 3 == 0 {
                ("jpg", image::ImageFormat::Jpeg)
            } else {
                ("png", image::ImageFormat::Png)
            };
            let path = dir.join(format!("{class}/{i:03}.{ext}"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut bytes = Vec::new();
            image::DynamicImage::from(img)
                .write_to(&mut Cursor::new(&mut bytes), format)
                .unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
    std::fs::write(dir.join("notes.txt"), b"not an image").unwrap();
}

fn mltrain(store: &Path) -> Command {
    let mut cmd = Command::cargo_bin("mltrain").unwrap();
    cmd.arg("--store")
        .arg(store)
        .env_remove("MLTRAIN_STORE")
        .env_remove("S3_HOST");
    cmd
}

/// `run PREFIX 2 4 --json`, which must succeed: its report.
fn run(store: &Path, prefix: &str) -> serde_json::Value {
    let out = mltrain(store)
        .args(["run", prefix, "2", "4", "--trees", "20", "--json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// `s3 upload-dir` of `data` to `prefix`, packed into 32 KiB shards with `pack`, else one
/// object per image.
fn upload(store: &Path, data: &Path, prefix: &str, pack: bool) -> Command {
    let mut cmd = mltrain(store);
    cmd.args(["s3", "upload-dir", "--host-path"])
        .arg(data)
        .args(["--s3-path", prefix]);
    if pack {
        cmd.args(["--pack", "--shard-size", "32K"]);
    }
    cmd
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn upload_dir_pack_then_run_trains_as_the_per_image_upload_does() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    pictures(&data);
    let text = stdout(&mut upload(&store, &data, "packed", true));
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("packed 60 images from {} into ", data.display()))
            && first.ends_with("bytes) under packed/.pack"),
        "{text}"
    );
    assert!(
        text.contains("skipped 1 files:\n    notes.txt: not an image"),
        "{text}"
    );
    // Only the pack folder: the index and a few shards.
    let objects: Vec<_> = std::fs::read_dir(store.join("packed/.pack"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(objects.contains(&"index.json".to_string()), "{objects:?}");
    assert!(objects.len() > 3, "{objects:?}");
    assert_eq!(std::fs::read_dir(store.join("packed")).unwrap().count(), 1);

    upload(&store, &data, "loose", false).assert().success();
    let (packed, loose) = (run(&store, "packed"), run(&store, "loose"));
    assert_eq!(packed["accuracy"], loose["accuracy"]);
    assert_eq!(packed["train_images"], loose["train_images"]);
    assert_eq!(packed["channels"], "rgb");
    assert!(packed["accuracy"].as_f64().unwrap() > 0.8, "{packed}");
}

#[test]
fn pack_converts_a_prefix_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    pictures(&data);
    upload(&store, &data, "pics", false).assert().success();
    std::fs::write(store.join("pics/README.txt"), b"kept").unwrap();
    let before = run(&store, "pics");
    let text =
        stdout(mltrain(&store).args(["s3", "pack", "--shard-size", "48K", "--s3-path", "pics"]));
    assert!(
        text.starts_with("packed 60 images in place into "),
        "{text}"
    );
    assert!(
        text.contains("deleted 60 loose images now held by pics/.pack/index.json"),
        "{text}"
    );
    assert!(text.contains("README.txt: not an image"), "{text}");
    for class in ["bar", "disc", "ring"] {
        // The folder may stay, empty: a local store does not remove folders.
        let left = std::fs::read_dir(store.join("pics").join(class)).map_or(0, |d| d.count());
        assert_eq!(left, 0, "{class} left behind");
    }
    assert!(store.join("pics/README.txt").exists());
    let after = run(&store, "pics");
    assert_eq!(before["accuracy"], after["accuracy"]);
    assert_eq!(before["test_images"], after["test_images"]);
    // Again: nothing left to do, and it says so.
    mltrain(&store)
        .args(["s3", "pack", "--s3-path", "pics"])
        .assert()
        .success()
        .stdout(contains("pics was already packed: 60 images in"));
}

#[test]
fn damaged_packs_exit_2_naming_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    pictures(&data);
    upload(&store, &data, "p", true).assert().success();
    let refused = |needle: &str| {
        mltrain(&store)
            .args(["run", "p", "2", "4", "--trees", "20"])
            .assert()
            .code(2)
            .stderr(contains(needle))
            .stderr(contains("panicked").not());
    };
    // A byte flipped in the middle of the first shard's first image.
    let shard = store.join("p/.pack/shard-000000.tar");
    let original = std::fs::read(&shard).unwrap();
    let mut bytes = original.clone();
    bytes[512 + 100] ^= 0x20;
    std::fs::write(&shard, &bytes).unwrap();
    refused("p/.pack/shard-000000.tar");
    std::fs::write(&shard, &original).unwrap();

    // A shard the index does not name.
    let stray = store.join("p/.pack/shard-000777.tar");
    std::fs::write(&stray, [0u8; 1024]).unwrap();
    refused("shard `shard-000777.tar` is not in the index");
    std::fs::remove_file(&stray).unwrap();

    // A damaged index.
    let index = store.join("p/.pack/index.json");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.replacen("bar/", "baz/", 1)).unwrap();
    refused("p/.pack/index.json");
}
