//! The store's error type.

use std::path::PathBuf;

/// What can go wrong talking to a store. Messages name the key or URL, never credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store URL could not be used.
    #[error("invalid store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it, e.g. an unknown scheme or a relative path.
        reason: String,
    },

    /// A key that the store cannot hold.
    #[error("invalid object key `{key}`: {reason}")]
    InvalidKey {
        /// The key (or listing prefix) as given.
        key: String,
        /// Why the store cannot hold it.
        reason: String,
    },

    /// No object under that key.
    #[error("no object at `{key}`")]
    NotFound {
        /// The key read or asked about.
        key: String,
    },

    /// The bucket of an `s3://` store does not exist on its server.
    #[error(
        "bucket `{bucket}` does not exist at {endpoint}: create it, or name an existing one \
         (s3://BUCKET or S3_BUCKET)"
    )]
    NoBucket {
        /// The bucket's name.
        bucket: String,
        /// The server asked, as [`S3Settings::describe_endpoint`](crate::S3Settings::describe_endpoint)
        /// gives it (no credentials).
        endpoint: String,
    },

    /// The store failed an operation.
    #[error("cannot {op} `{key}`")]
    Backend {
        /// The operation, e.g. `read`, `write`, `list` or `delete`.
        op: &'static str,
        /// The key or prefix it was on (empty for the whole store).
        key: String,
        /// The `object_store` error, after its retries (boxed, so the type exists without
        /// the `client` feature).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A packed prefix's index, or the shards beside it, cannot be used
    /// ([`mltrain_pack::Error`] names the shard or image).
    #[error("packed data `{key}`: {source}")]
    Pack {
        /// The index's key.
        key: String,
        /// What is wrong with it.
        #[source]
        source: mltrain_pack::Error,
    },

    /// `s3 pack` on a prefix already packed, with loose images that its index does not hold
    /// as they are: deleting them would lose them, so nothing is done.
    #[error(
        "`{prefix}` is already packed, and {} loose image(s) below it are not in its index as they are: {}; nothing was changed. Pack a folder holding every image with `s3 upload-dir --pack`, or remove the loose images",
        .images.len(),
        .images.join(", ")
    )]
    Repack {
        /// The prefix.
        prefix: String,
        /// The loose images' keys.
        images: Vec<String>,
    },

    /// A local file could not be read.
    #[error("cannot read `{}`", path.display())]
    Io {
        /// The local file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    #[cfg(feature = "client")]
    pub(crate) fn backend(op: &'static str, key: &str, source: object_store::Error) -> Self {
        match source {
            object_store::Error::NotFound { .. } => Error::NotFound {
                key: key.to_string(),
            },
            source => Error::Backend {
                op,
                key: key.to_string(),
                source: Box::new(source),
            },
        }
    }
}

/// Result with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
