//! Messages that tell the truth: what --resume can and cannot do, Ctrl-C, retries, a
//! missing bucket, `predict` on odd input, and help for every command.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::time::{Duration, Instant};

use common::{Env, mltrain_png};
use mltrain_store::test_server::{BUCKET, S3Server};
use predicates::prelude::*;
use predicates::str::contains;

fn run_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let out = env.cmd().args(args).arg("--json").assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn resume_refuses_options_it_cannot_apply_naming_them() {
    let env = Env::new();
    env.digits("d", 0, 200, "data");
    let report = run_json(&env, &["run", "data", "2", "2", "--trees", "5"]);
    let run_id = report["run_id"].as_str().unwrap();
    env.cmd()
        .args(["run", "--resume", run_id, "--resize", "28x28"])
        .assert()
        .code(2)
        .stderr(contains("--resize cannot be used with --resume"))
        .stderr(contains(format!(
            "ml-training/outputs/{run_id}/params.json"
        )));
    env.cmd()
        .args([
            "run",
            "other",
            "--resume",
            run_id,
            "--trees",
            "9",
            "--skip-invalid",
        ])
        .assert()
        .code(2)
        .stderr(contains(
            "PREFIX, --trees, --skip-invalid cannot be used with --resume",
        ));
    // Options about how to run, not what to train, are applied.
    env.cmd()
        .args([
            "run",
            "--resume",
            run_id,
            "--concurrency",
            "2",
            "--attempts",
            "1",
        ])
        .arg("--json")
        .assert()
        .success()
        .stdout(contains(run_id));
}

#[test]
fn a_failure_suggests_resume_only_when_resuming_can_help() {
    let env = Env::new();
    env.digits("d", 0, 100, "data");
    // Bad input: resuming keeps the same input, so it is not suggested.
    std::fs::create_dir_all(env.path("junk/3")).unwrap();
    std::fs::write(env.path("junk/3/x.png"), b"text").unwrap();
    env.upload(&env.path("junk"), "data");
    env.cmd()
        .args(["run", "data", "1", "1"])
        .assert()
        .code(2)
        .stderr(contains("start a new run"))
        .stderr(contains("--resume").not());
    // Resuming that run after removing the bad image names the image as gone, and says
    // again to start a new run.
    let failed_run = std::fs::read_dir(env.path("store/ml-training/outputs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    std::fs::remove_file(env.path("store/data/3/x.png")).unwrap();
    env.cmd()
        .args(["run", "--resume", failed_run.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(contains("`data/3/x.png`: no longer in the store"))
        .stderr(contains("start a new run"))
        .stderr(contains("--resume").not());

    // A runtime failure (the published model's folder is a file, so publishing fails):
    // resuming helps once that is fixed, and the message gives the exact command.
    std::fs::create_dir_all(env.path("store/ml-training")).unwrap();
    std::fs::write(env.path("store/ml-training/models"), b"in the way").unwrap();
    let out = env
        .cmd()
        .args(["run", "data", "1", "1", "--trees", "5", "--attempts", "1"])
        .assert()
        .code(1)
        .stderr(contains(format!(
            "finish it with: mltrain --store {} run --resume ",
            env.store_url()
        )));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let command = stderr
        .lines()
        .find_map(|l| l.split("finish it with: ").nth(1))
        .unwrap()
        .to_string();
    std::fs::remove_file(env.path("store/ml-training/models")).unwrap();
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "mltrain");
    env.cmd().args(&words[1..]).assert().success();
    assert_eq!(env.published_models(), 1);
}

/// Ctrl-C in the middle of a run prints the run id and the command that finishes it;
/// that command then publishes the model.
#[cfg(unix)]
#[test]
fn ctrl_c_prints_the_resume_command_and_the_run_can_be_finished() {
    let env = Env::new();
    env.digits("d", 0, 2000, "data");
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mltrain"))
        .env("MLTRAIN_STORE", env.store_url())
        // Slow enough (deep forests, one at a time) that the signal lands mid-run.
        .args([
            "run",
            "data",
            "2",
            "8",
            "--trees",
            "400",
            "--max-depth",
            "30",
        ])
        .args(["--concurrency", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once a forest is written, the run is well under way.
    let outputs = env.path("store/ml-training/outputs");
    let started = Instant::now();
    let run_dir = loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run never got to its forests"
        );
        let found = std::fs::read_dir(&outputs).ok().and_then(|mut d| d.next());
        if let Some(dir) = found {
            let dir = dir.unwrap().path();
            if dir.join("rf-0-0").exists() {
                break dir;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run_id = run_dir.file_name().unwrap().to_str().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!("interrupted: run {run_id} stopped")),
        "{stderr}"
    );
    let expected = format!(
        "finish it with: mltrain --store {} run --resume {run_id}",
        env.store_url()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(env.published_models(), 0);
    // `mltrain runs` tells it apart from a failed run.
    env.cmd()
        .args(["runs", "show", &run_id])
        .assert()
        .success()
        .stdout(contains("status     interrupted"));

    env.cmd()
        .args(["run", "--resume", &run_id])
        .assert()
        .success()
        .stdout(contains(format!("run        {run_id}")));
    assert_eq!(env.published_models(), 1);
    env.cmd()
        .args(["runs", "show", &run_id])
        .assert()
        .success()
        .stdout(contains("status     published"));
}

#[test]
fn timeout_is_refused_where_nothing_applies_it() {
    let env = Env::new();
    env.cmd()
        .args(["run", "--timeout", "5"])
        .assert()
        .code(2)
        .stderr(contains("--timeout needs --backend http"));
}

/// The WebAssembly backend's options need it, and a file that is not the module is named,
/// exit 2, before any stage runs.
#[test]
fn wasm_options_need_the_backend_and_a_bad_module_is_named() {
    let env = Env::new();
    env.cmd()
        .args(["run", "--wasm-memory", "1G"])
        .assert()
        .code(2)
        .stderr(contains("--wasm-memory needs --backend wasm"));
    let bogus = env.path("not-a-module.wasm");
    std::fs::write(&bogus, b"not WebAssembly").unwrap();
    let assert = env
        .cmd()
        .args(["run", "--backend", "wasm", "--module"])
        .arg(&bogus)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    if cfg!(feature = "wasm") {
        assert!(stderr.contains("bad module"), "{stderr}");
        assert!(stderr.contains("not-a-module.wasm"), "{stderr}");
    } else {
        assert!(stderr.contains("--features wasm"), "{stderr}");
    }
    assert_eq!(env.published_models(), 0);
}

/// A missing bucket is named as one, with the endpoint, on the real S3 test server.
#[test]
fn a_missing_bucket_is_named_with_its_endpoint() {
    let s3 = S3Server::start();
    let env = Env::new();
    env.cmd()
        .args(["dataset", "mnist", "--count", "10", "--out"])
        .arg(env.path("d"))
        .assert()
        .success();
    let endpoint = s3.endpoint();
    let s3_cmd = |bucket: &str| {
        let mut cmd = env.cmd();
        cmd.envs(s3.env())
            .env("S3_BUCKET", bucket)
            .env("MLTRAIN_STORE", "s3://");
        cmd
    };
    let missing = "no-such-bucket";
    s3_cmd(missing)
        .args(["s3", "upload-dir", "--host-path"])
        .arg(env.path("d"))
        .args(["--s3-path", "x"])
        .assert()
        .code(2)
        .stderr(contains(format!(
            "bucket `{missing}` does not exist at {endpoint}"
        )));
    s3_cmd(missing)
        .args(["run", "x", "1", "1"])
        .assert()
        .code(2)
        .stderr(contains(format!(
            "bucket `{missing}` does not exist at {endpoint}"
        )))
        .stderr(contains("no object at").not());
    // The bucket that exists works, and an empty prefix there is not a missing bucket.
    s3_cmd(BUCKET)
        .args(["s3", "upload-dir", "--host-path"])
        .arg(env.path("d"))
        .args(["--s3-path", "x"])
        .assert()
        .success()
        .stdout(contains("uploaded 10 images"));
    s3_cmd(BUCKET)
        .args(["run", "empty", "1", "1"])
        .assert()
        .code(2)
        .stderr(contains("no objects under `empty`"));
}

#[test]
fn predict_takes_a_run_id_resizes_and_reports_each_bad_file() {
    let env = Env::new();
    env.digits("d", 0, 300, "data");
    let report = run_json(&env, &["run", "data", "1", "2", "--trees", "10"]);
    let run_id = report["run_id"].as_str().unwrap();
    let seven = std::fs::read_dir(env.path("d/7"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // An image of another size, a text file and a missing file, among good ones.
    std::fs::write(env.path("big.png"), mltrain_png(40, 36)).unwrap();
    std::fs::write(env.path("notes.png"), b"not an image").unwrap();
    let out = env
        .cmd()
        .args(["predict", "--model", run_id, "--json"])
        .arg(&seven)
        .arg(env.path("big.png"))
        .arg(env.path("notes.png"))
        .arg(env.path("missing.png"))
        .assert()
        .code(2)
        .stderr(contains(format!(
            "error: {}",
            env.path("notes.png").display()
        )))
        .stderr(contains(format!(
            "error: {}",
            env.path("missing.png").display()
        )))
        .stderr(contains("2 of 4 files could not be classified"));
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["path"], seven.display().to_string());
    assert!(lines[1]["path"].as_str().unwrap().ends_with("big.png"));
    for line in &lines {
        let probabilities = line["probabilities"].as_object().unwrap();
        assert_eq!(probabilities.len(), 10, "{line}");
        let sum: f64 = probabilities.values().map(|p| p.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-3, "{line}");
        let label = line["label"].as_str().unwrap();
        assert_eq!(line["probability"], probabilities[label]);
    }

    // The full key works as well, and a directory is read by the ImageFolder rules.
    std::fs::write(env.path("d/7/.DS_Store"), b"x").unwrap();
    std::fs::write(env.path("d/7/README.txt"), b"x").unwrap();
    let images = std::fs::read_dir(env.path("d/7")).unwrap().count() - 2;
    let model_key = report["model_key"].as_str().unwrap();
    env.cmd()
        .args(["predict", "--model", model_key])
        .arg(env.path("d/7"))
        .assert()
        .success()
        .stdout(contains("\t").count(2 * images))
        .stderr(contains("skipped 2 files"));
}

#[test]
fn every_command_and_option_has_help() {
    let env = Env::new();
    for command in [
        &["run"][..],
        &["dataset", "mnist"],
        &["s3", "upload-dir"],
        &["s3", "clear-dir"],
        &["s3", "ls"],
        &["predict"],
        &["export"],
        &["report"],
        &["runs"],
        &["runs", "show"],
        &["runs", "rm"],
        &["runs", "gc"],
        &["serve"],
        &["job"],
    ] {
        let out = env.cmd().args(command).arg("--help").assert().success();
        let help = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        // Every option has words after its name, on its line or on the next, more
        // indented one: clap prints a bare name when the argument has no doc comment.
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            // Option names; `- value: ...` lines list an option's possible values.
            if !(trimmed.starts_with('-') && !trimmed.starts_with("- ") && line.starts_with("  ")) {
                continue;
            }
            let same_line = trimmed.split("  ").filter(|s| !s.trim().is_empty()).count() > 1;
            let indent = line.len() - trimmed.len();
            let next_line = lines.get(i + 1).is_some_and(|next| {
                let next_trimmed = next.trim_start();
                !next_trimmed.is_empty()
                    && !next_trimmed.starts_with('-')
                    && next.len() - next_trimmed.len() > indent
            });
            assert!(
                same_line || next_line,
                "{command:?}: `{line}` has no help\n{help}"
            );
        }
    }
    env.cmd()
        .args(["predict", "--help"])
        .assert()
        .success()
        .stdout(contains("PATH<TAB>LABEL<TAB>PROBABILITY").and(contains("\"probabilities\"")));
    env.cmd()
        .args(["dataset", "mnist", "--help"])
        .assert()
        .success()
        .stdout(predicates::str::is_match(r"Not used by\s+`dataset`").unwrap());
}
