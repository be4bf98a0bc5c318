//! The functions as services: a real S3 server (s3s-fs on loopback), `mltrain serve`
//! processes on separate loopback ports as if on three hosts, and `mltrain run --backend
//! http` against them, compared with the local backend on the same data and seed.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mltrain_store::test_server::{BUCKET, S3Server, SECRET_KEY};
use mltrain_workflow::report::Report;

const BIN: &str = env!("CARGO_BIN_EXE_mltrain");
const WAIT: Duration = Duration::from_secs(30);

/// A command with the S3 server's environment and nothing else of the user's store.
fn mltrain(s3: &S3Server) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("MLTRAIN_STORE")
        .env_remove("MLTRAIN_FUNCTIONS_URL")
        .env_remove("K_SINK")
        .env_remove("PORT")
        .env_remove("AWS_ENDPOINT_URL")
        .args(["--store", &format!("s3://{BUCKET}")]);
    for (k, v) in s3.env() {
        cmd.env(k, v);
    }
    cmd
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `mltrain serve` process on a free loopback port, killed on drop. Its stderr (one line
/// per request start and end) is forwarded to a channel.
struct Server {
    child: Child,
    url: String,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(s3: &S3Server, functions: &[&str]) -> Self {
        let mut cmd = mltrain(s3);
        cmd.args(["serve", "--host", "127.0.0.1", "--port", "0"]);
        for f in functions {
            cmd.args(["--function", f]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let (log_tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = log_tx.send(line);
            }
        });
        let line = rx.recv_timeout(WAIT).unwrap_or_default();
        let Some(url) = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
        else {
            let _ = child.kill();
            panic!("mltrain serve did not announce its address: {line:?}");
        };
        Self {
            child,
            url: url.to_string(),
            log,
        }
    }

    fn url(&self, function: &str) -> String {
        format!("{}/{function}", self.url)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `count` bundled digits and uploads them with `mltrain s3 upload-dir`.
fn upload_digits(s3: &S3Server, dir: &Path, count: usize, prefix: &str) {
    ok(mltrain(s3)
        .args(["dataset", "mnist", "--out"])
        .arg(dir)
        .args(["--count", &count.to_string()]));
    ok(mltrain(s3)
        .args(["s3", "upload-dir", "--host-path"])
        .arg(dir)
        .args(["--s3-path", prefix]));
}

fn run_json(cmd: &mut Command) -> Report {
    serde_json::from_str(&ok(cmd)).unwrap()
}

/// The published model's ensemble, as JSON, read back from the S3 server.
fn ensemble(s3: &S3Server, report: &Report) -> serde_json::Value {
    let store = s3.store();
    let model = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(mltrain_workflow::objects::load_model(
            &store,
            &report.model_key,
        ))
        .unwrap();
    serde_json::to_value(&model.ensemble).unwrap()
}

fn assert_same_results(http: &Report, local: &Report, s3: &S3Server) {
    assert_ne!(http.run_id, local.run_id);
    assert_eq!(http.accuracy, local.accuracy);
    assert_eq!(http.confusion, local.confusion);
    assert_eq!(http.per_class, local.per_class);
    assert_eq!(http.forests, local.forests);
    assert_eq!(http.train_images, local.train_images);
    assert_eq!(http.params, local.params);
    assert_eq!(ensemble(s3, http), ensemble(s3, local), "models differ");
}

const RUN: &[&str] = &[
    "run", "digits", "2", "4", "--trees", "20", "--seed", "7", "--json",
];

#[test]
fn http_backend_over_three_hosts_matches_the_local_backend() {
    let s3 = S3Server::start();
    let tmp = tempfile::tempdir().unwrap();
    upload_digits(&s3, &tmp.path().join("digits"), 600, "digits");

    let a = Server::start(&s3, &["partition", "validation"]);
    let b = Server::start(&s3, &["pca", "rf"]);
    let c = Server::start(&s3, &["pca", "rf"]);
    let http = run_json(mltrain(&s3).args(RUN).args([
        "--backend",
        "http",
        "--function-url",
        &format!("partition={}", a.url("partition")),
        "--function-url",
        &format!("validation={}", a.url("validation")),
        "--function-url",
        &format!("pca={},{}", b.url("pca"), c.url("pca")),
        "--function-url",
        &format!("rf={},{}", b.url("rf"), c.url("rf")),
    ]));
    let local = run_json(mltrain(&s3).args(RUN));
    assert_same_results(&http, &local, &s3);
    assert!(http.accuracy > 0.5, "{}", http.accuracy);
}

#[test]
fn killing_a_replica_mid_run_fails_over_and_loses_nothing() {
    let s3 = S3Server::start();
    let tmp = tempfile::tempdir().unwrap();
    upload_digits(&s3, &tmp.path().join("digits"), 600, "digits");

    let a = Server::start(&s3, &["partition", "validation"]);
    let mut b = Server::start(&s3, &["pca", "rf"]);
    let c = Server::start(&s3, &["pca", "rf"]);
    let args = [
        "--backend".to_string(),
        "http".into(),
        "--function-url".into(),
        format!("partition={}", a.url("partition")),
        "--function-url".into(),
        format!("validation={}", a.url("validation")),
        "--function-url".into(),
        format!("pca={},{}", b.url("pca"), c.url("pca")),
        "--function-url".into(),
        format!("rf={},{}", b.url("rf"), c.url("rf")),
    ];
    // More forests than replicas, with bigger trees, so B is busy when it dies.
    let run: Vec<String> = [
        "run", "digits", "2", "8", "--trees", "60", "--seed", "3", "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(args)
    .collect();
    let child = mltrain(&s3)
        .args(&run)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill B as soon as it has started a function: that request and B's share of the
    // later ones must fail over to C.
    let started = loop {
        match b.log.recv_timeout(WAIT) {
            Ok(line) if line.contains("call started") => break line,
            Ok(_) => continue,
            Err(e) => panic!("B never started a function: {e}"),
        }
    };
    b.kill();
    let out = wait_with_timeout(child, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "run failed after B died at `{started}`: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let http: Report = serde_json::from_slice(&out.stdout).unwrap();
    let local_run: Vec<&str> = run.iter().take(9).map(String::as_str).collect();
    let local = run_json(mltrain(&s3).args(&local_run));
    assert_eq!(http.forests, 8);
    assert_same_results(&http, &local, &s3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("retrying"),
        "no failover happened: {stderr}"
    );
    assert!(!stderr.contains(SECRET_KEY));
}

fn wait_with_timeout(child: Child, timeout: Duration) -> std::process::Output {
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // Only the run we started, by its id.
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("run did not finish within {timeout:?}");
        }
    }
}
