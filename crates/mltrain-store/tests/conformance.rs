//! The storage conformance suite against every backend: memory, a local directory and a real
//! S3 server (s3s-fs on loopback, started here).

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

use mltrain_store::Store;
use mltrain_store::conformance;
use mltrain_store::test_server::{S3Server, SECRET_KEY};

#[tokio::test]
async fn memory_store_conforms() {
    let store = Store::from_url("memory://").unwrap();
    conformance::all(&store, "conformance").await;
}

#[tokio::test]
async fn local_directory_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(dir.path()).unwrap();
    let store = Store::from_url(url.as_str()).unwrap();
    conformance::all(&store, "conformance").await;
}

#[tokio::test]
async fn s3_store_conforms() {
    let server = S3Server::start();
    conformance::all(&server.store(), "conformance").await;
}

#[tokio::test]
async fn s3_errors_never_show_the_secret() {
    let server = S3Server::start();
    // Wrong secret: every request is refused; the error must not echo any credential.
    let mut settings = server.settings();
    settings.secret_access_key = Some(format!("{SECRET_KEY}-wrong"));
    let store = Store::from_object_store(settings.build().unwrap(), "s3://mltrain-test");
    let err = store.get("some/key").await.unwrap_err();
    let shown = format!("{err} {err:?} {settings:?}");
    assert!(!shown.contains(SECRET_KEY), "{shown}");
    assert!(
        matches!(err, mltrain_store::Error::Backend { .. }),
        "{err:?}"
    );
}
