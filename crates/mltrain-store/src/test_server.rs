//! A real S3 server for tests: s3s-fs serving a temporary directory on a free loopback port.
//!
//! Install it with `cargo install s3s-fs@0.14.1 --features binary --locked` (`.ci/run` does).
//! [`S3Server::start`] finds it on `PATH` or in `~/.cargo/bin`. When it is missing, the test
//! fails: a test that skips itself passes without having tested anything.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::S3Settings;

/// The bucket every test server has.
pub const BUCKET: &str = "mltrain-test";
/// Credentials of the test server: recognisable, so tests can check they never leak.
pub const ACCESS_KEY: &str = "mltrain-test-user";
/// The test server's secret key, made to be searched for in output.
pub const SECRET_KEY: &str = "s3cr3t-d0-n0t-l34k-9f2c";

/// A running s3s-fs, killed on drop.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server. Panics when s3s-fs is not installed or fails to start: a test that
    /// needs it fails rather than passing without it.
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir for s3s-fs");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket dir");
        let (child, port) = spawn(root.path(), 0);
        Self { child, port, root }
    }

    /// Stops the server, calls `stopped`, waits `down` (requests meanwhile are refused), and
    /// starts it again on the same port over the same directory: a store restart, as in a
    /// rolling update.
    pub fn restart(&mut self, down: Duration, stopped: impl FnOnce()) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        stopped();
        std::thread::sleep(down);
        let (child, port) = spawn(self.root.path(), self.port);
        assert_eq!(port, self.port, "restarted on another port");
        self.child = child;
    }

    /// The loopback port the server listens on; kept across [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, the endpoint for [`S3Settings`].
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory s3s-fs serves: objects are at `<dir>/<bucket>/<key>`.
    pub fn dir(&self) -> &Path {
        self.root.path()
    }

    /// The original workflow's environment for this server: set these on a child process
    /// and use the store URL `s3://` + [`BUCKET`].
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("S3_HOST", "127.0.0.1".into()),
            ("S3_PORT", self.port.to_string()),
            ("S3_USER", ACCESS_KEY.into()),
            ("S3_PASSWORD", SECRET_KEY.into()),
            ("S3_BUCKET", BUCKET.into()),
        ]
    }

    /// Settings for this server's bucket with the test credentials, as if read from
    /// [`env`](Self::env).
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            bucket: BUCKET.into(),
            endpoint: Some(self.endpoint()),
            access_key_id: Some(ACCESS_KEY.into()),
            secret_access_key: Some(SECRET_KEY.into()),
            region: "us-east-1".into(),
            allow_any_http: false,
        }
    }

    /// A [`crate::Store`] on this server's bucket.
    pub fn store(&self) -> crate::Store {
        let inner = self
            .settings()
            .build()
            .expect("S3 client for the test server");
        crate::Store::from_object_store(inner, format!("s3://{BUCKET}"))
            .with_bucket(BUCKET, &self.endpoint())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts s3s-fs over `root` on `port` (0: any free port); panics when it is not
/// installed or does not start.
fn spawn(root: &Path, port: u16) -> (Child, u16) {
    let Some(binary) = find_binary() else {
        panic!(
            "s3s-fs is not installed: run `cargo install s3s-fs@0.14.1 --features binary --locked`"
        );
    };
    let mut child = Command::new(binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(root)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn s3s-fs");
    let announced = announced_port(&mut child, Duration::from_secs(20));
    let Some(port) = announced else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("s3s-fs did not announce its port within 20 s");
    };
    (child, port)
}

fn find_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p)
            .map(|dir| dir.join("s3s-fs"))
            .collect::<Vec<_>>()
    });
    let in_cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin").join("s3s-fs"));
    on_path.chain(in_cargo_home).find(|p| p.is_file())
}

/// Reads s3s-fs's log until it says `server is running at http://HOST:PORT`.
fn announced_port(child: &mut Child, timeout: Duration) -> Option<u16> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent {
                if let Some(rest) = line.split("server is running at http://").nth(1) {
                    let port = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                    sent = tx.send(port).is_ok();
                }
            }
            // Keep draining so the server never blocks on a full pipe.
        }
    });
    rx.recv_timeout(timeout).ok().flatten()
}
