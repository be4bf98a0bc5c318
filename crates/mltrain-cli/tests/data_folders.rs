//! Data folders as users keep them: stray files, hidden folders, symlinks, cycles, images
//! that do not decode, and classes too small or too unbalanced to trust the score.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::path::{Path, PathBuf};

use common::Env;
use predicates::prelude::*;
use predicates::str::contains;

/// Writes `count` digits as an ImageFolder at `root`, then what real folders also hold:
/// `.DS_Store` files, a README, notes, a hidden folder with an image in it, an AppleDouble
/// file, class `9` as a symlink to a folder elsewhere, a symlinked file, a symlink back to
/// the root (a cycle) and a dangling symlink. Returns the number of images to be found.
#[cfg(unix)]
fn messy_folder(env: &Env, root: &Path, count: usize) -> usize {
    use std::os::unix::fs::symlink;
    env.cmd()
        .args(["dataset", "mnist", "--out"])
        .arg(root)
        .args(["--count", &count.to_string()])
        .assert()
        .success();
    let elsewhere = root.with_extension("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::rename(root.join("9"), elsewhere.join("9")).unwrap();
    symlink(elsewhere.join("9"), root.join("9")).unwrap();
    let an_eight = first_file(&root.join("8"));
    std::fs::copy(&an_eight, elsewhere.join("extra.png")).unwrap();
    symlink(elsewhere.join("extra.png"), root.join("8/linked.png")).unwrap();

    std::fs::write(root.join(".DS_Store"), b"\0\0\0\x01Bud1").unwrap();
    std::fs::write(root.join("3/.DS_Store"), b"\0\0\0\x01Bud1").unwrap();
    std::fs::write(root.join("README.txt"), "digits, by class\n").unwrap();
    std::fs::write(root.join("4/notes.txt"), "check the fours\n").unwrap();
    std::fs::create_dir_all(root.join(".ipynb_checkpoints/3")).unwrap();
    std::fs::copy(&an_eight, root.join(".ipynb_checkpoints/3/x.png")).unwrap();
    std::fs::write(root.join("2/._00001.png"), b"AppleDouble").unwrap();
    symlink(root, root.join("7/loop")).unwrap();
    symlink(root.join("gone.png"), root.join("1/dead.png")).unwrap();
    count + 1
}

fn first_file(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.remove(0)
}

fn report_of(out: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[cfg(unix)]
#[test]
fn upload_dir_follows_symlinks_and_says_what_it_skipped() {
    let env = Env::new();
    let src = env.path("src");
    let images = messy_folder(&env, &src, 300);
    let out = env
        .cmd()
        .args(["s3", "upload-dir", "--host-path"])
        .arg(&src)
        .args(["--s3-path", "data"])
        .assert()
        .success()
        .stdout(contains(format!("uploaded {images} images from")))
        // One write per image, nothing read: what the store was asked, on one line.
        .stdout(contains(format!(
            "store: {images} requests (0 GET, {images} PUT, 0 LIST"
        )))
        .stdout(contains("skipped 8 files:"))
        .stdout(contains(".DS_Store: hidden"))
        .stdout(contains("3/.DS_Store: hidden"))
        .stdout(contains(".ipynb_checkpoints/3/x.png: hidden"))
        .stdout(contains("2/._00001.png: hidden"))
        .stdout(contains("README.txt: not an image"))
        .stdout(contains("4/notes.txt: not an image"))
        .stdout(contains("7/loop: symlink cycle"))
        .stdout(contains("1/dead.png: broken symlink"));
    drop(out);
    let listed = env.cmd().args(["s3", "ls", "data"]).assert().success();
    let stdout = String::from_utf8(listed.get_output().stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), images, "{stdout}");
    assert!(stdout.contains("data/9/"), "the symlinked class folder");
    assert!(stdout.contains("data/8/linked.png"), "the symlinked file");

    // The whole class is there, and so the model knows ten digits.
    let out = env
        .cmd()
        .args(["run", "data", "2", "4", "--trees", "5", "--json"])
        .assert()
        .success();
    let report = report_of(&out);
    assert_eq!(report["classes"].as_array().unwrap().len(), 10, "{report}");
    // Every image is listed and read at least once, and the run writes its outputs.
    let stats = &report["store_stats"];
    assert!(
        stats["listed"].as_u64().unwrap() >= images as u64,
        "{stats}"
    );
    assert!(stats["get"].as_u64().unwrap() >= images as u64, "{stats}");
    assert!(stats["put"].as_u64().unwrap() > 0, "{stats}");

    // --all-files takes every file, still following symlinks but not the cycle.
    env.cmd()
        .args(["s3", "upload-dir", "--all-files", "--host-path"])
        .arg(&src)
        .args(["--s3-path", "everything"])
        .assert()
        .success()
        .stdout(contains(format!("uploaded {} files", images + 6)))
        .stdout(contains("7/loop: symlink cycle"));
}

/// The workflow reads a local store's folder by the same rules: stray files are counted
/// in the summary and the report, symlinks are followed, and a cycle does not loop.
#[cfg(unix)]
#[test]
fn a_run_skips_what_is_not_an_image_and_reports_it() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("store")).unwrap();
    let images = messy_folder(&env, &env.path("store/messy"), 200);
    let out = env
        .cmd()
        .args(["run", "messy", "2", "4", "--trees", "5", "--json"])
        .assert()
        .success()
        .stderr(contains("skipped 4 files, hidden"))
        .stderr(contains("skipped 2 files, not an image"));
    let report = report_of(&out);
    let used = report["train_images"].as_u64().unwrap() + report["test_images"].as_u64().unwrap();
    assert_eq!(used as usize, images, "{report}");
    assert_eq!(report["classes"].as_array().unwrap().len(), 10);
    let skipped = report["data"]["skipped"].as_array().unwrap();
    let keys: Vec<&str> = skipped
        .iter()
        .flat_map(|s| s["keys"].as_array().unwrap())
        .map(|k| k.as_str().unwrap())
        .collect();
    for key in [
        "messy/.DS_Store",
        "messy/3/.DS_Store",
        "messy/2/._00001.png",
        "messy/.ipynb_checkpoints/3/x.png",
        "messy/README.txt",
        "messy/4/notes.txt",
    ] {
        assert!(keys.contains(&key), "{key} not in {skipped:?}");
    }
    // The human summary counts them too.
    env.cmd()
        .args(["run", "messy", "2", "4", "--trees", "5"])
        .assert()
        .success()
        .stdout(contains("skipped    6 files that are not images"));
}

/// Writes `n` files that look like images but are not, into `dir/<class>/`.
fn junk_images(dir: &Path, classes: &[&str], n: usize) {
    for i in 0..n {
        let class = classes[i % classes.len()];
        std::fs::create_dir_all(dir.join(class)).unwrap();
        std::fs::write(dir.join(format!("{class}/junk-{i:02}.png")), b"not a png").unwrap();
    }
}

#[test]
fn every_bad_image_is_named_at_once_and_skip_invalid_trains_without_them() {
    let env = Env::new();
    env.digits("d", 0, 150, "data");
    junk_images(&env.path("junk"), &["1", "4", "7"], 3);
    env.upload(&env.path("junk"), "data");
    // All three named in one run, whichever PCA function holds them, and no --resume advice.
    env.cmd()
        .args(["run", "data", "2", "4", "--trees", "5"])
        .assert()
        .code(2)
        .stderr(contains("3 images cannot be used"))
        .stderr(contains("data/1/junk-00.png"))
        .stderr(contains("data/4/junk-01.png"))
        .stderr(contains("data/7/junk-02.png"))
        .stderr(contains("--skip-invalid"))
        .stderr(contains("--resume").not());
    assert_eq!(env.published_models(), 0);

    let out = env
        .cmd()
        .args([
            "run",
            "data",
            "2",
            "4",
            "--trees",
            "5",
            "--skip-invalid",
            "--json",
        ])
        .assert()
        .success()
        .stderr(contains("left out 3 images that do not decode"));
    let report = report_of(&out);
    let invalid: Vec<&str> = report["data"]["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    let mut sorted = invalid.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "data/1/junk-00.png",
            "data/4/junk-01.png",
            "data/7/junk-02.png"
        ],
        "{report}"
    );
    let used = report["train_images"].as_u64().unwrap() + report["test_images"].as_u64().unwrap();
    assert_eq!(used, 150, "the good images, and only those");
}

/// Mostly junk: whichever image the run looks at first for the data set's size, a bad one
/// does not stop a --skip-invalid run (over several seeds, so that one starts with junk).
#[test]
fn skip_invalid_copes_with_a_bad_image_first() {
    let env = Env::new();
    env.digits("d", 0, 40, "data");
    junk_images(
        &env.path("junk"),
        &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
        80,
    );
    env.upload(&env.path("junk"), "data");
    for seed in 0..5 {
        let out = env
            .cmd()
            .args([
                "run",
                "data",
                "1",
                "1",
                "--trees",
                "3",
                "--skip-invalid",
                "--json",
            ])
            .args(["--seed", &seed.to_string()])
            .assert()
            .success();
        let report = report_of(&out);
        assert_eq!(
            report["data"]["invalid"].as_array().unwrap().len(),
            80,
            "seed {seed}"
        );
    }
}

#[test]
fn more_than_twenty_bad_images_are_listed_then_counted() {
    let env = Env::new();
    env.digits("d", 0, 100, "data");
    junk_images(&env.path("junk"), &["0", "1", "2", "3", "4"], 25);
    env.upload(&env.path("junk"), "data");
    let out = env
        .cmd()
        .args(["run", "data", "1", "1", "--trees", "5"])
        .assert()
        .code(2)
        .stderr(contains("25 images cannot be used"))
        .stderr(contains("... and 5 more"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr);
    assert_eq!(stderr.matches("junk-").count(), 20, "{stderr}");
}

/// Copies the digits of `classes` (from `src/<class>`, at most `per_class` each) to
/// `dst/<class>`.
fn copy_classes(src: &Path, dst: &Path, classes: &[(&str, usize)]) {
    for (class, n) in classes {
        std::fs::create_dir_all(dst.join(class)).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(src.join(class))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files.into_iter().take(*n) {
            std::fs::copy(&f, dst.join(class).join(f.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn warnings_name_classes_too_small_unbalanced_or_untested() {
    let env = Env::new();
    env.cmd()
        .args(["dataset", "mnist", "--count", "1000", "--out"])
        .arg(env.path("all"))
        .assert()
        .success();
    // One image of class 2: trained on, never tested; 60 of the others: unbalanced.
    copy_classes(
        &env.path("all"),
        &env.path("small"),
        &[("0", 60), ("1", 60), ("2", 1)],
    );
    env.upload(&env.path("small"), "small");
    let out = env
        .cmd()
        .args(["run", "small", "1", "2", "--trees", "5", "--json"])
        .assert()
        .success()
        .stderr(contains(
            "warning: class `2` has 1 image: too few to hold one out",
        ))
        .stderr(contains("warning: classes are very unbalanced"));
    let report = report_of(&out);
    assert_eq!(report["data"]["warnings"].as_array().unwrap().len(), 2);

    // A test set without class 1: its accuracy is not measured, and the run says so.
    copy_classes(
        &env.path("all"),
        &env.path("train"),
        &[("0", 40), ("1", 40), ("3", 40)],
    );
    copy_classes(&env.path("all"), &env.path("test"), &[("0", 10), ("3", 10)]);
    env.upload(&env.path("train"), "train");
    env.upload(&env.path("test"), "test");
    env.cmd()
        .args(["run", "train", "1", "2", "--trees", "5", "--test", "test"])
        .assert()
        .success()
        .stderr(contains(
            "warning: the test set has 2 of the 3 training classes: none of `1` is tested",
        ));
    // Balanced classes, all tested: no warning.
    env.cmd()
        .args(["run", "train", "1", "2", "--trees", "5"])
        .assert()
        .success()
        .stderr(contains("warning").not());
}
