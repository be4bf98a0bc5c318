//! Object storage for mltrain, over the `object_store` crate.
//!
//! A [`Store`] is built from a URL ([`Store::from_url`]): `file:///abs/dir` (a local
//! directory), `memory://` (in-process, for tests) or `s3://BUCKET` (any S3-compatible
//! server; [`S3Settings`] says how the endpoint, credentials and plain-HTTP rule come from the
//! environment, and `s3://` alone uses `$S3_BUCKET`). Keys are `/`-separated strings such as `ml-training/mnist-images-2k/3/00042.png`.
//! The store adds what the workflow needs on top of `object_store`: errors that name the key,
//! sorted listings, prefix deletion and concurrent directory upload.
//!
//! With the `conformance` feature, [`conformance`] holds the checks every backend must pass
//! and [`test_server`] starts a real S3 server (s3s-fs) on loopback for tests.
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

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod s3;
#[cfg(feature = "conformance")]
pub mod test_server;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;

pub use error::{Error, Result};
pub use s3::{ENV_NAMES, S3Settings, SECRET_ENV_NAMES, SettingsError, is_local_host};

/// How many requests directory upload and bulk reads keep in flight by default.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// A handle on an object store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
    /// The directory of a `file://` store, for direct listing and [`Store::local_reader`].
    local_root: Option<Arc<std::path::PathBuf>>,
}

impl Store {
    /// Builds a store from a URL: `file:///abs/dir`, `memory://` or `s3://BUCKET`.
    pub fn from_url(url: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        let mut local_root = None;
        let inner: Arc<dyn ObjectStore> = match parsed.scheme() {
            "memory" => Arc::new(InMemory::new()),
            "file" => {
                let path = parsed
                    .to_file_path()
                    .map_err(|()| invalid("not an absolute local path"))?;
                std::fs::create_dir_all(&path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                local_root = Some(Arc::new(path.clone()));
                // Writes go to a temporary file renamed into place: a crash never leaves a
                // half-written object under its real key.
                Arc::new(
                    LocalFileSystem::new_with_prefix(&path).map_err(|e| invalid(&e.to_string()))?,
                )
            }
            "s3" => {
                // `s3://` alone means the bucket of `S3_BUCKET`, as in the original workflow.
                let bucket = parsed.host_str().unwrap_or_default();
                if !matches!(parsed.path(), "" | "/") {
                    return Err(invalid(
                        "a path after the bucket is not supported; use key prefixes instead",
                    ));
                }
                S3Settings::from_env(bucket)
                    .and_then(|settings| settings.build())
                    .map_err(|e| invalid(&e.to_string()))?
            }
            other => {
                return Err(invalid(&format!(
                    "unknown scheme `{other}` (use file://, memory:// or s3://)"
                )));
            }
        };
        Ok(Self {
            inner,
            url: url.to_string(),
            local_root,
        })
    }

    /// Wraps any `object_store` implementation (used by tests to inject faults).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, url: impl Into<String>) -> Self {
        Self {
            inner,
            url: url.into(),
            local_root: None,
        }
    }

    /// The URL the store was built from (it never holds credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Writes `bytes` under `key`, replacing any object there.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = object_path(key)?;
        self.inner
            .put(&path, bytes.into())
            .await
            .map_err(|e| Error::backend("write", key, e))?;
        Ok(())
    }

    /// Reads the object under `key`; [`Error::NotFound`] if there is none.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let path = object_path(key)?;
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|e| Error::backend("read", key, e))?;
        result
            .bytes()
            .await
            .map_err(|e| Error::backend("read", key, e))
    }

    /// Reads many objects, `concurrency` at a time, returning them in the order of `keys`.
    pub async fn get_many(&self, keys: &[String], concurrency: usize) -> Result<Vec<Bytes>> {
        // Owned futures: a stream of futures borrowing `keys` trips the compiler's
        // higher-ranked lifetime check once callers need `Send`.
        let store = self.clone();
        let fetches = keys.iter().cloned().map(move |key| {
            let store = store.clone();
            async move { store.get(&key).await }
        });
        futures::stream::iter(fetches)
            .buffered(concurrency.max(1))
            .try_collect()
            .await
    }

    /// For a `file://` store, a reader of `keys` straight from its directory with blocking
    /// calls, for callers that process each object as it is read on threads of their own
    /// (a stage decoding thousands of images); `None` for other stores, or if a key is not
    /// one whose file is the key itself.
    pub fn local_reader(&self, keys: &[String]) -> Option<LocalReader> {
        let root = self.local_root.as_ref()?;
        keys.iter().all(|k| plain_key(k)).then(|| LocalReader {
            root: Arc::clone(root),
        })
    }

    /// Whether any object is below `prefix`; reads one listing page at most.
    pub async fn has_objects(&self, prefix: &str) -> Result<bool> {
        let prefix_path = prefix_path(prefix)?;
        let first = self.inner.list(prefix_path.as_ref()).next().await;
        match first {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(Error::backend("list", prefix, e)),
        }
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.inner.head(&object_path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Error::backend("stat", key, e)),
        }
    }

    /// Every object whose key is below `prefix` (as a folder: `a/b` lists `a/b/...`, not
    /// `a/bc`), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let prefix_path = prefix_path(prefix)?;
        let mut out: Vec<ObjectInfo> = self
            .inner
            .list(prefix_path.as_ref())
            .map_ok(|meta| ObjectInfo {
                key: meta.location.to_string(),
                size: meta.size,
            })
            .try_collect()
            .await
            .map_err(|e| Error::backend("list", prefix, e))?;
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The keys of [`list`](Self::list), sorted.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        if let Some(root) = &self.local_root {
            let trimmed = prefix.trim_matches('/');
            if trimmed.is_empty() || plain_key(trimmed) {
                let (root, dir) = (Arc::clone(root), trimmed.to_string());
                let path = root.join(&dir);
                let listed = tokio::task::spawn_blocking(move || list_local(&root, &dir))
                    .await
                    .map_err(|e| Error::Io {
                        path,
                        source: std::io::Error::other(e.to_string()),
                    })??;
                if let Some(mut keys) = listed {
                    keys.sort_unstable();
                    return Ok(keys);
                }
            }
        }
        Ok(self
            .list(prefix)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect())
    }

    /// Deletes every object below `prefix`; returns how many were deleted.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let prefix_path = prefix_path(prefix)?;
        let locations = self
            .inner
            .list(prefix_path.as_ref())
            .map_ok(|meta| meta.location)
            .boxed();
        self.inner
            .delete_stream(locations)
            .try_fold(0usize, |n, _| async move { Ok(n + 1) })
            .await
            .map_err(|e| Error::backend("delete", prefix, e))
    }

    /// Uploads every file below `dir` to `prefix/<relative path>`, `concurrency` at a time.
    /// Calls `progress(files_done, files_total)` as files complete; returns the file count.
    pub async fn upload_dir(
        &self,
        dir: &Path,
        prefix: &str,
        concurrency: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<usize> {
        let files = files_below(dir)?;
        let total = files.len();
        let prefix = prefix.trim_matches('/');
        let done = std::sync::atomic::AtomicUsize::new(0);
        futures::stream::iter(files.into_iter().map(|(path, rel)| {
            let key = if prefix.is_empty() {
                rel
            } else {
                format!("{prefix}/{rel}")
            };
            let done = &done;
            async move {
                let bytes = tokio::fs::read(&path).await.map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                self.put(&key, bytes.into()).await?;
                progress(
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
                    total,
                );
                Ok::<_, Error>(())
            }
        }))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await?;
        Ok(total)
    }
}

/// Files below `dir`, with their `/`-separated paths relative to it, sorted.
fn files_below(dir: &Path) -> Result<Vec<(std::path::PathBuf, String)>> {
    if !dir.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Io {
            path: e.path().unwrap_or(dir).to_path_buf(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("file system loop")),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let rel: Vec<_> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        files.push((entry.path().to_path_buf(), rel.join("/")));
    }
    Ok(files)
}

/// Keys whose file in a `file://` store is the key itself: no percent-encoding in play and
/// no `.`/`..` segment, so reading `root/key` directly is what `object_store` would read.
fn plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// The keys below `prefix` of a `file://` store, read straight from its directory: one
/// `readdir` per folder and no `stat` per file, where `object_store` makes three. `None`
/// when a name is not a [`plain_key`] segment or an entry is a symlink (or of unknown type):
/// the caller then lists through `object_store`, whose rules for those cases apply.
fn list_local(root: &std::path::Path, prefix: &str) -> Result<Option<Vec<String>>> {
    let mut keys = Vec::new();
    let mut pending = vec![prefix.to_string()];
    while let Some(dir) = pending.pop() {
        let path = root.join(&dir);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            // A missing folder, or a file in its place, lists nothing, as in `object_store`.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Ok(None);
            };
            let key = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            if !plain_key(&key) {
                return Ok(None);
            }
            let file_type = entry.file_type().map_err(|source| Error::Io {
                path: entry.path(),
                source,
            })?;
            if file_type.is_dir() {
                pending.push(key);
            } else if file_type.is_file() {
                keys.push(key);
            } else {
                return Ok(None);
            }
        }
    }
    Ok(Some(keys))
}

/// Reads objects of a `file://` store straight from its directory (see
/// [`Store::local_reader`]): no task hop and fewer system calls than `object_store`'s
/// one request per file.
#[derive(Debug, Clone)]
pub struct LocalReader {
    root: Arc<std::path::PathBuf>,
}

impl LocalReader {
    /// Reads the object under `key`, blocking; [`Error::NotFound`] if there is none.
    pub fn read(&self, key: &str) -> Result<Bytes> {
        let path = self.root.join(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound {
                key: key.to_string(),
            }),
            Err(source) => Err(Error::Io { path, source }),
        }
    }
}

fn object_path(key: &str) -> Result<ObjectPath> {
    if key.is_empty() || key.ends_with('/') {
        return Err(Error::InvalidKey {
            key: key.to_string(),
            reason: "empty key or key ending in `/`".into(),
        });
    }
    ObjectPath::parse(key).map_err(|e| Error::InvalidKey {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn prefix_path(prefix: &str) -> Result<Option<ObjectPath>> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    ObjectPath::parse(trimmed)
        .map(Some)
        .map_err(|e| Error::InvalidKey {
            key: prefix.to_string(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_basics() {
        let store = Store::from_url("memory://").unwrap();
        store.put("p/b/2", Bytes::from_static(b"2")).await.unwrap();
        store.put("p/a/1", Bytes::from_static(b"1")).await.unwrap();
        store.put("pq/x", Bytes::from_static(b"x")).await.unwrap();
        let keys = store.keys("p/").await.unwrap();
        assert_eq!(keys, ["p/a/1", "p/b/2"]);
        assert!(store.exists("p/a/1").await.unwrap());
        assert!(matches!(
            store.get("p/zz").await,
            Err(Error::NotFound { .. })
        ));
        assert_eq!(store.delete_prefix("p").await.unwrap(), 2);
        assert_eq!(store.list("").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn upload_dir_to_a_local_store() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("3")).unwrap();
        std::fs::write(src.path().join("3/a.png"), b"a").unwrap();
        std::fs::write(src.path().join("top.txt"), b"t").unwrap();
        let dst = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dst.path()).unwrap();
        let store = Store::from_url(url.as_str()).unwrap();
        let n = store
            .upload_dir(src.path(), "/data/", 4, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(n, 2);
        let keys = store.keys("data").await.unwrap();
        assert_eq!(keys, ["data/3/a.png", "data/top.txt"]);
        assert_eq!(
            std::fs::read(dst.path().join("data/3/a.png")).unwrap(),
            b"a"
        );
    }

    /// A local store lists plain names from its directory and anything else (names
    /// `object_store` encodes or hides, symlinks) through `object_store`: either way
    /// `keys` agrees with `list`.
    #[tokio::test]
    async fn local_keys_agree_with_object_store() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let url = url::Url::from_directory_path(root).unwrap();
        let store = Store::from_url(url.as_str()).unwrap();
        let write = |rel: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        };
        for rel in [
            "plain/3/a.png",
            "plain/3/b.png",
            "plain/10/c.png",
            "plainer/x",
        ] {
            write(rel);
        }
        std::fs::create_dir_all(root.join("plain/empty")).unwrap();
        for rel in [
            "odd/1/with space.png",
            "odd/1/part#1",
            "odd/2/été.png",
            "odd/2/ok",
        ] {
            write(rel);
        }
        write("linked/target/t.png");
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("linked/target"), root.join("linked/via")).unwrap();

        let fast = list_local(root, "plain").unwrap().unwrap();
        assert_eq!(fast.len(), 3);
        assert_eq!(list_local(root, "odd").unwrap(), None);
        #[cfg(unix)]
        assert_eq!(list_local(root, "linked").unwrap(), None);
        for prefix in [
            "plain",
            "plain/",
            "plain/3",
            "odd",
            "linked",
            "none",
            "plain/3/a.png",
        ] {
            let listed: Vec<String> = store
                .list(prefix)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .collect();
            assert_eq!(store.keys(prefix).await.unwrap(), listed, "{prefix}");
        }
        assert_eq!(
            store.keys("plain").await.unwrap(),
            ["plain/10/c.png", "plain/3/a.png", "plain/3/b.png"]
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in ["nope", "ftp://x", "s3://bucket/path", "file://relative"] {
            let err = Store::from_url(url).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err}");
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(object_path("a/../b").is_err());
        assert!(object_path("").is_err());
        assert!(object_path("a//b").is_err());
    }
}
