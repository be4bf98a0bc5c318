//! Helpers shared by the workflow's integration tests.
#![allow(dead_code)]

use std::sync::OnceLock;

use mltrain_dataset::Digits;
use mltrain_store::Store;

pub fn digits() -> &'static Digits {
    static DIGITS: OnceLock<Digits> = OnceLock::new();
    DIGITS.get_or_init(|| mltrain_dataset::bundled_mnist().expect("bundled digits decode"))
}

/// Writes bundled digits `range` as `prefix/<label>/<index>.png`.
pub async fn put_digits(store: &Store, prefix: &str, range: std::ops::Range<usize>) {
    let d = digits();
    let puts = range.map(|i| {
        let png = mltrain_dataset::encode_png(d.width, d.height, d.image(i)).expect("png");
        let key = format!("{prefix}/{}/{i:05}.png", d.label(i));
        async move { store.put(&key, png.into()).await.expect("put") }
    });
    futures::future::join_all(puts).await;
}

pub fn memory() -> Store {
    Store::from_url("memory://").expect("memory store")
}

/// A `file://` store in `dir`.
pub fn local(dir: &std::path::Path) -> Store {
    Store::from_url(&format!("file://{}", dir.display())).expect("local store")
}

/// An error and its causes on one line, as the command line prints them.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}
