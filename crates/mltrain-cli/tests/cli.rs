//! Black-box tests of the `mltrain` binary: every command, and every bad input of the
//! foundation issue (exit code 2, the culprit named, nothing published).

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::path::{Path, PathBuf};

use common::{Env, mltrain_png};
use predicates::prelude::*;
use predicates::str::contains;

#[test]
fn run_trains_reports_and_predicts() {
    let env = Env::new();
    env.digits("train", 0, 600, "train");
    let out = env
        .cmd()
        .args(["run", "train", "2", "4", "--json", "--trees", "20"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    for field in [
        "run_id",
        "accuracy",
        "train_images",
        "test_images",
        "total_seconds",
        "stages",
        "model_key",
    ] {
        assert!(
            report.get(field).is_some(),
            "report lacks {field}: {report}"
        );
    }
    assert!(report["accuracy"].as_f64().unwrap() > 0.6, "{report}");
    assert_eq!(
        report["train_images"].as_u64().unwrap() + report["test_images"].as_u64().unwrap(),
        600
    );
    let model_key = report["model_key"].as_str().unwrap().to_string();
    assert!(env.path(&format!("store/{model_key}")).is_file());
    assert!(
        env.path(&format!("store/{}", report["report_key"].as_str().unwrap()))
            .is_file()
    );

    // The human summary names the accuracy, the stages and the model.
    env.cmd()
        .args(["run", "train", "2", "4", "--trees", "20"])
        .assert()
        .success()
        .stdout(
            contains("accuracy")
                .and(contains("partition"))
                .and(contains("ml-training/models/")),
        );
    assert_eq!(env.published_models(), 2);

    // predict: one line per image, `path<TAB>label<TAB>probability`, with a model that
    // recognises most digits it has seen.
    let images: Vec<PathBuf> = std::fs::read_dir(env.path("train/7"))
        .unwrap()
        .take(5)
        .map(|e| e.unwrap().path())
        .collect();
    let out = env
        .cmd()
        .arg("predict")
        .args(["--model", &model_key])
        .args(&images)
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    let sevens = lines
        .iter()
        .filter(|l| l.split('\t').nth(1) == Some("7"))
        .count();
    assert!(sevens >= 4, "{stdout}");
    for l in &lines {
        let p: f64 = l.split('\t').nth(2).unwrap().parse().unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
    // Without --model, the latest model is used.
    env.cmd()
        .arg("predict")
        .arg(&images[0])
        .assert()
        .success()
        .stdout(contains("\t"));
    env.cmd()
        .arg("predict")
        .arg(env.path("nope.png"))
        .assert()
        .code(2)
        .stderr(contains("nope.png"));
}

#[test]
fn run_with_no_arguments_writes_the_bundled_digits_first() {
    let env = Env::new();
    env.cmd()
        .args(["run", "--trees", "10"])
        .assert()
        .success()
        .stderr(contains("writing 2000 bundled MNIST digits"))
        .stdout(contains("1600 training images").or(contains("training images")));
    let listed = env
        .cmd()
        .args(["s3", "ls", "ml-training/mnist-images-2k"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&listed.get_output().stdout)
            .lines()
            .count(),
        2000
    );
}

#[test]
fn storage_commands() {
    let env = Env::new();
    env.digits("d", 0, 30, "some/data");
    let ls = env.cmd().args(["s3", "ls", "some/data"]).assert().success();
    let stdout = String::from_utf8(ls.get_output().stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 30);
    assert!(stdout.lines().all(|l| l.contains("some/data/")));
    env.cmd()
        .args(["s3", "clear-dir", "--prefix", "some/data"])
        .assert()
        .success()
        .stdout(contains("deleted 30"));
    env.cmd()
        .args(["s3", "ls", "some/data"])
        .assert()
        .success()
        .stdout(predicates::str::is_empty());
    env.cmd()
        .args(["s3", "upload-dir", "--host-path"])
        .arg(env.path("missing"))
        .args(["--s3-path", "x"])
        .assert()
        .code(2)
        .stderr(contains("missing"));
}

/// `--store` takes a directory path as well as a URL: the same objects either way.
#[test]
fn a_store_can_be_a_directory_path() {
    let env = Env::new();
    env.digits("d", 0, 5, "some/data");
    for store in ["./store", "../store"] {
        let cwd = if store.starts_with("../") {
            env.path("d")
        } else {
            env.path("")
        };
        env.cmd()
            .current_dir(cwd)
            .args(["--store", store, "s3", "ls", "some/data"])
            .assert()
            .success()
            .stdout(contains("some/data/").count(5));
    }
    let absolute = env.path("store");
    env.cmd()
        .arg("--store")
        .arg(&absolute)
        .args(["s3", "ls", "some/data"])
        .assert()
        .success()
        .stdout(contains("some/data/").count(5));
}

#[test]
fn dataset_writes_an_image_folder() {
    let env = Env::new();
    let out = env.path("ds");
    env.cmd()
        .args(["dataset", "mnist", "--count", "25", "--skip", "10", "--out"])
        .arg(&out)
        .assert()
        .success();
    let files: Vec<PathBuf> = walk(&out);
    assert_eq!(files.len(), 25);
    for f in &files {
        let label = f.parent().unwrap().file_name().unwrap().to_str().unwrap();
        assert!(label.parse::<u8>().unwrap() < 10);
        assert_eq!(f.extension().unwrap(), "png");
    }
    env.cmd()
        .args(["dataset", "mnist", "--skip", "20000", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(contains("--skip"));
    env.cmd()
        .args(["dataset", "mnist", "--out"])
        .arg(&out)
        .arg("--idx")
        .arg(env.path("no-images"))
        .arg(env.path("no-labels"))
        .assert()
        .code(1)
        .stderr(contains("no-images"));
}

#[test]
fn bad_arguments_are_refused() {
    let env = Env::new();
    env.digits("d", 0, 100, "data");
    env.refuses(&["data", "0", "4"], "NUM_PCA");
    env.refuses(&["data", "4", "2"], "NUM_RF");
    env.refuses(
        &["empty/prefix", "2", "8"],
        "no objects under `empty/prefix`",
    );
    env.cmd()
        .args(["run", "--store", "not a url"])
        .assert()
        .code(2)
        .stderr(contains("invalid store URL").and(contains("a directory path starts with")));
    env.cmd()
        .args(["run", "--store", "ftp://host/x"])
        .assert()
        .code(2)
        .stderr(contains("unknown scheme"));
}

#[test]
fn bad_data_is_refused_with_the_culprit_named() {
    let env = Env::new();
    env.digits("d", 0, 120, "data");

    // One class only.
    let one = env.path("one/only");
    std::fs::create_dir_all(&one).unwrap();
    for f in std::fs::read_dir(env.path("d/1")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, one.join(f.file_name().unwrap())).unwrap();
    }
    env.upload(&env.path("one"), "single");
    env.refuses(&["single", "1", "1"], "one class only (`only`)");

    // An object that is not an image: the message names its key.
    let junk = env.path("junk/5");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("readme.png"), "this is text").unwrap();
    env.upload(&env.path("junk"), "data");
    env.refuses(&["data", "2", "2"], "data/5/readme.png");
    std::fs::remove_file(env.path("store/data/5/readme.png")).unwrap();

    // Mixed sizes without --resize: the odd image is named; with --resize the run completes.
    let big = env.path("big/4");
    std::fs::create_dir_all(&big).unwrap();
    std::fs::write(big.join("zz-large.png"), mltrain_png(32, 32)).unwrap();
    env.upload(&env.path("big"), "data");
    env.refuses(&["data", "2", "2"], "data/4/zz-large.png");
    env.cmd()
        .args(["run", "data", "2", "2", "--resize", "28x28", "--trees", "5"])
        .assert()
        .success();

    // A test set with a class the training data does not have.
    let test = env.path("test/seven-ish");
    std::fs::create_dir_all(&test).unwrap();
    std::fs::write(test.join("x.png"), mltrain_png(28, 28)).unwrap();
    env.upload(&env.path("test"), "testset");
    let before = env.published_models();
    env.cmd()
        .args([
            "run", "data", "2", "2", "--resize", "28x28", "--test", "testset",
        ])
        .assert()
        .code(2)
        .stderr(contains("seven-ish"));
    assert_eq!(env.published_models(), before);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn resume_finishes_a_damaged_run_with_the_same_model() {
    let env = Env::new();
    env.digits("train", 0, 400, "train");
    let out = env
        .cmd()
        .args(["run", "train", "2", "4", "--json", "--trees", "10"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let run_id = report["run_id"].as_str().unwrap();
    let model = env.path(&format!("store/{}", report["model_key"].as_str().unwrap()));
    let published = std::fs::read(&model).unwrap();

    // Lose a forest and the model, and damage a share: resume redoes just those.
    let dir = env.path(&format!("store/ml-training/outputs/{run_id}"));
    std::fs::remove_file(dir.join("rf-1-0")).unwrap();
    std::fs::write(dir.join("pca-0/share-1"), b"MLTRgarbage").unwrap();
    std::fs::remove_file(&model).unwrap();
    let out = env
        .cmd()
        .args(["run", "--json", "--resume", run_id])
        .assert()
        .success();
    let resumed: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(resumed["accuracy"], report["accuracy"]);
    assert_eq!(resumed["run_id"], report["run_id"]);
    assert_eq!(
        std::fs::read(&model).unwrap(),
        published,
        "the same model, byte for byte"
    );

    env.cmd()
        .args(["run", "--resume", "20200101T000000.000Z-000000"])
        .assert()
        .code(2)
        .stderr(contains("no run"));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let env = Env::new();
    env.digits("d", 0, 50, "data");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mltrain"))
        .env("MLTRAIN_STORE", env.store_url())
        .args(["s3", "ls", "data"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once, like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}
