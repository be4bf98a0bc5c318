//! Object storage for mltrain, over the `object_store` crate.
//!
//! A [`Store`] is built from a URL ([`Store::from_url`]): `file:///abs/dir` (a local
//! directory), `memory://` (in-process, for tests) or `s3://BUCKET` (any S3-compatible
//! server; [`S3Settings`] says how the endpoint, credentials and plain-HTTP rule come from the
//! environment, and `s3://` alone uses `$S3_BUCKET`). Keys are `/`-separated strings such as `ml-training/mnist-images-2k/3/00042.png`.
//! The store adds what the workflow needs on top of `object_store`: errors that name the key
//! (and a missing bucket as one), sorted listings, prefix deletion and concurrent directory
//! upload. [`Store::stats`] says what a store and its clones have asked of the backend so
//! far ([`StoreStats`]: requests by kind, bytes moved). [`folder`] holds the one rule for
//! which files of a data folder are images, and walks folders following symlinks without
//! looping. The packed layout's I/O (a packed upload, converting a prefix in place,
//! reading its index) is here too, over the format of [`mltrain_pack`].
//!
//! Without its default `client` feature the crate holds only the error type and the folder
//! rule: what code that never talks to a store (the WebAssembly guest) shares with the rest.
//!
//! With the `conformance` feature, the module `conformance` holds the checks every backend
//! must pass and `test_server` starts a real S3 server (s3s-fs) on loopback for tests.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use mltrain_store::Store;
//!
//! let store = Store::from_url("memory://").unwrap();
//! store.put("data/a/1.png", b"png bytes".to_vec().into()).await.unwrap();
//! let listed = store.list("data").await.unwrap();
//! assert_eq!(listed[0].key, "data/a/1.png");
//! assert_eq!(&store.get("data/a/1.png").await.unwrap()[..], b"png bytes");
//! # });
//! ```

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "client")]
mod counting;
mod error;
pub mod folder;
#[cfg(feature = "client")]
mod packed;
#[cfg(feature = "client")]
mod s3;
#[cfg(feature = "conformance")]
pub mod test_server;

#[cfg(feature = "client")]
pub use client::*;
#[cfg(feature = "client")]
pub use counting::StoreStats;
pub use error::{Error, Result};
#[cfg(feature = "client")]
pub use packed::{Packed, SHARDS_IN_FLIGHT};
#[cfg(feature = "client")]
pub use s3::{ENV_NAMES, S3Settings, SECRET_ENV_NAMES, SettingsError, is_local_host};
