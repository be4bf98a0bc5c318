//! `mltrain runs` and `mltrain report` on a local store: runs listed newest first with how
//! they ended, one shown, deleted by id (unknown ids refused, naming each), collected with
//! `gc --keep N`, and a run's report page written again.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use common::Env;
use predicates::str::contains;

/// Runs `mltrain run data 1 2` with few trees and returns its id.
fn run(env: &Env, seed: u64) -> String {
    let out = env
        .cmd()
        .args(["run", "data", "1", "2", "--trees", "5", "--json"])
        .args(["--seed", &seed.to_string()])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    report["run_id"].as_str().unwrap().to_string()
}

fn listed(env: &Env) -> Vec<serde_json::Value> {
    let out = env.cmd().args(["runs", "--json"]).assert().success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn ids_and_status(env: &Env) -> Vec<(String, String)> {
    listed(env)
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn runs_are_listed_shown_deleted_and_collected() {
    let env = Env::new();
    env.cmd()
        .arg("runs")
        .assert()
        .success()
        .stdout("")
        .stderr(contains("no runs in"));
    env.digits("d", 0, 120, "data");
    let first = run(&env, 1);
    // A run that fails on a bad image, between two that publish.
    std::fs::create_dir_all(env.path("junk/3")).unwrap();
    std::fs::write(env.path("junk/3/x.png"), b"text").unwrap();
    env.upload(&env.path("d"), "bad");
    env.upload(&env.path("junk"), "bad");
    env.cmd()
        .args(["run", "bad", "1", "1", "--trees", "5"])
        .assert()
        .code(2);
    let failed = ids_and_status(&env)[0].0.clone();
    let second = run(&env, 2);

    assert_eq!(
        ids_and_status(&env),
        [
            (second.clone(), "published".into()),
            (failed.clone(), "failed".into()),
            (first.clone(), "published".into()),
        ]
    );
    let runs = listed(&env);
    assert_eq!(runs[0]["params"]["prefix"], "data");
    assert_eq!(runs[0]["params"]["seed"], 2);
    assert!(runs[0]["accuracy"].as_f64().unwrap() > 0.0);
    assert_eq!(
        runs[0]["model_key"],
        format!("ml-training/models/{second}.model")
    );
    assert_eq!(runs[1]["params"]["prefix"], "bad");
    assert!(runs[1]["accuracy"].is_null() && runs[1]["model_key"].is_null());
    let why = runs[1]["message"].as_str().unwrap();
    assert!(why.contains("bad/3/x.png"), "{why}");

    // The table: a header, then one line per run, newest first.
    let out = env.cmd().arg("runs").assert().success();
    let table = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("RUN") && lines[0].contains("STATUS"),
        "{table}"
    );
    assert_eq!(lines.len(), 4, "{table}");
    for (line, (id, status)) in lines[1..].iter().zip([
        (&second, "published"),
        (&failed, "failed"),
        (&first, "published"),
    ]) {
        assert!(
            line.starts_with(id.as_str()) && line.contains(status),
            "{table}"
        );
    }

    // One run's summary; a failed one says why.
    env.cmd()
        .args(["runs", "show", &second])
        .assert()
        .success()
        .stdout(contains(format!("run        {second}")))
        .stdout(contains("accuracy"))
        .stdout(contains("status     published"));
    env.cmd()
        .args(["runs", "show", &failed])
        .assert()
        .success()
        .stdout(contains("status     failed"))
        .stdout(contains("why"))
        .stdout(contains("x.png"));

    // The report page, written again with every call's bar.
    let out = env.cmd().args(["report", &first]).assert().success();
    let path = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    assert!(
        path.ends_with(&format!("{first}/validation/report.html")),
        "{path}"
    );
    let page = std::fs::read_to_string(&path).unwrap();
    assert_eq!(page.matches("data-call=").count(), 1 + 1 + 2 + 1, "{page}");
    assert_eq!(page.matches("data-true=").count(), 100);
    env.cmd()
        .args(["report", &failed])
        .assert()
        .code(2)
        .stderr(contains("has no report"));

    // Unknown ids are refused, each named, and nothing is deleted.
    env.cmd()
        .args(["runs", "rm", "nope-1", &first, "nope-2"])
        .assert()
        .code(2)
        .stderr(contains("`nope-1`, `nope-2`"))
        .stderr(contains("nothing was deleted"));
    assert_eq!(listed(&env).len(), 3);
    env.cmd()
        .args(["runs", "rm", &first])
        .assert()
        .success()
        .stdout(contains(format!("deleted run {first} (published")));
    assert!(
        !env.path(&format!("store/ml-training/outputs/{first}"))
            .exists()
    );
    assert!(
        !env.path(&format!("store/ml-training/models/{first}.model"))
            .exists()
    );
    assert_eq!(listed(&env).len(), 2);

    // gc keeps the newest published run; the failed one goes too.
    let third = run(&env, 3);
    env.cmd()
        .args(["runs", "gc", "--keep", "1", "--dry-run"])
        .assert()
        .success()
        .stdout(contains(format!("would delete run {second}")))
        .stdout(contains(format!("would delete run {failed}")));
    assert_eq!(listed(&env).len(), 3);
    env.cmd()
        .args(["runs", "gc", "--keep", "1"])
        .assert()
        .success()
        .stdout(contains("deleted 2 runs"));
    assert_eq!(ids_and_status(&env), [(third.clone(), "published".into())]);

    // predict without --model uses the newest published model left; none left, it says so.
    let digit = env
        .path("d/3")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    env.cmd().arg("predict").arg(&digit).assert().success();
    env.cmd().args(["runs", "rm", &third]).assert().success();
    env.cmd()
        .arg("predict")
        .arg(&digit)
        .assert()
        .code(2)
        .stderr(contains("no published model"));
}

#[test]
fn unfinished_runs_are_kept_unless_asked() {
    let env = Env::new();
    // A run that recorded its parameters and then stopped without a word.
    let id = "20261127T170000.000Z-cccccc";
    let dir = env.path(&format!("store/ml-training/outputs/{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let params = mltrain_workflow::params::Params {
        prefix: "data".into(),
        ..Default::default()
    };
    std::fs::write(
        dir.join("params.json"),
        serde_json::to_vec(&params).unwrap(),
    )
    .unwrap();
    assert_eq!(
        ids_and_status(&env),
        [(id.to_string(), "unfinished".into())]
    );
    env.cmd()
        .args(["runs", "show", id])
        .assert()
        .success()
        .stdout(contains("data       data"))
        .stdout(contains("calls      0 of 12 recorded"))
        .stdout(contains("status     unfinished"))
        .stdout(contains("started    2026-11-27T17:00:00.000Z"));
    env.cmd()
        .args(["runs", "gc", "--keep", "0"])
        .assert()
        .success()
        .stdout(contains("deleted 0 runs"));
    env.cmd()
        .args(["runs", "gc", "--keep", "0", "--unfinished"])
        .assert()
        .success()
        .stdout(contains(format!("deleted run {id} (unfinished")));
    assert!(!dir.exists());
    env.cmd()
        .args(["runs", "show", id])
        .assert()
        .code(2)
        .stderr(contains(format!("no run `{id}`")));
}
