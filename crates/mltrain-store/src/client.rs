//! The store itself: [`Store`] over `object_store`, listing, upload and local reads.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;

use crate::counting::{Counters, CountingStore, StoreStats};
use crate::error::{Error, Result};
use crate::folder;
use crate::s3::S3Settings;

/// How many requests directory upload and bulk reads keep in flight by default. Enough to
/// cover a real network's round trip: at 50 ms a round trip, 32 requests in flight cap a
/// reader at 640 objects a second, 128 at 2,560 (see BENCHMARKS.md, issue 16).
pub const DEFAULT_CONCURRENCY: usize = 128;

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// A handle on an object store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
    /// The directory of a `file://` store, for direct listing and [`Store::local_reader`].
    local_root: Option<Arc<std::path::PathBuf>>,
    /// The bucket and endpoint of an `s3://` store, to tell a missing bucket from a missing
    /// object.
    bucket: Option<Arc<(String, String)>>,
    /// What has been asked of the store, by this handle and its clones ([`Store::stats`]).
    counters: Arc<Counters>,
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
        let mut bucket = None;
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
                if !matches!(parsed.path(), "" | "/") {
                    return Err(invalid(
                        "a path after the bucket is not supported; use key prefixes instead",
                    ));
                }
                let settings = S3Settings::from_env(parsed.host_str().unwrap_or_default())
                    .map_err(|e| invalid(&e.to_string()))?;
                bucket = Some(Arc::new((
                    settings.bucket.clone(),
                    settings.describe_endpoint(),
                )));
                settings.build().map_err(|e| invalid(&e.to_string()))?
            }
            other => {
                return Err(invalid(&format!(
                    "unknown scheme `{other}` (use file://, memory:// or s3://)"
                )));
            }
        };
        let counters = Arc::new(Counters::default());
        Ok(Self {
            inner: Arc::new(CountingStore::new(inner, Arc::clone(&counters))),
            url: url.to_string(),
            local_root,
            bucket,
            counters,
        })
    }

    /// Wraps any `object_store` implementation (used by tests to inject faults).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, url: impl Into<String>) -> Self {
        let counters = Arc::new(Counters::default());
        Self {
            inner: Arc::new(CountingStore::new(inner, Arc::clone(&counters))),
            url: url.into(),
            local_root: None,
            bucket: None,
            counters,
        }
    }

    /// The requests this store and its clones have made so far, and the bytes they moved.
    pub fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }

    /// Names the bucket and endpoint of an S3 store built with [`Store::from_object_store`],
    /// so that a missing bucket is reported as one.
    pub fn with_bucket(mut self, bucket: &str, endpoint: &str) -> Self {
        self.bucket = Some(Arc::new((bucket.to_string(), endpoint.to_string())));
        self
    }

    /// For an `s3://` store, checks that its bucket exists ([`Error::NoBucket`] if not); other
    /// stores have nothing to check. One listing request. Commands call it first: some
    /// servers create a bucket on the first write to it, so a typo in a bucket name would
    /// otherwise scatter objects into a new bucket instead of failing.
    pub async fn check_bucket(&self) -> Result<()> {
        let Some(bucket) = &self.bucket else {
            return Ok(());
        };
        match self.inner.list(None).next().await {
            Some(Err(e)) if bucket_missing(&e) => Err(Error::NoBucket {
                bucket: bucket.0.clone(),
                endpoint: bucket.1.clone(),
            }),
            Some(Err(e)) => Err(Error::backend("list", "", e)),
            _ => Ok(()),
        }
    }

    /// `err`, or [`Error::NoBucket`] when it is a missing object of an S3 store whose bucket
    /// does not exist: S3 answers both with 404, and only a listing tells them apart.
    async fn explain(&self, err: Error) -> Error {
        let (Error::NotFound { .. }, Some(bucket)) = (&err, &self.bucket) else {
            return err;
        };
        match self.inner.list(None).next().await {
            Some(Err(e)) if bucket_missing(&e) => Error::NoBucket {
                bucket: bucket.0.clone(),
                endpoint: bucket.1.clone(),
            },
            _ => err,
        }
    }

    /// `err` from an operation on `key`, naming a missing bucket as one.
    async fn backend_error(&self, op: &'static str, key: &str, e: object_store::Error) -> Error {
        if self.bucket.is_some() && bucket_missing(&e) {
            return self
                .explain(Error::NotFound {
                    key: key.to_string(),
                })
                .await;
        }
        self.explain(Error::backend(op, key, e)).await
    }

    /// The URL the store was built from (it never holds credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `object_store` client underneath, for what the store does not wrap; its errors
    /// do not name keys or missing buckets.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Writes `bytes` under `key`, replacing any object there.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = object_path(key)?;
        match self.inner.put(&path, bytes.into()).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.backend_error("write", key, e).await),
        }
    }

    /// Reads the object under `key`; [`Error::NotFound`] if there is none.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let path = object_path(key)?;
        let result = match self.inner.get(&path).await {
            Ok(result) => result,
            Err(e) => return Err(self.backend_error("read", key, e).await),
        };
        result
            .bytes()
            .await
            .map_err(|e| Error::backend("read", key, e))
    }

    /// Reads byte ranges of the object under `key`, in the order of `ranges`; nearby
    /// ranges are coalesced into fewer requests (`object_store`'s `get_ranges`).
    pub async fn get_ranges(
        &self,
        key: &str,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<Bytes>> {
        let path = object_path(key)?;
        match self.inner.get_ranges(&path, ranges).await {
            Ok(parts) => Ok(parts),
            Err(e) => Err(self.backend_error("read", key, e).await),
        }
    }

    /// The size in bytes of the object under `key`; [`Error::NotFound`] if there is none.
    pub async fn size(&self, key: &str) -> Result<u64> {
        Ok(self.version(key).await?.0)
    }

    /// The size in bytes of the object under `key` and its entity tag, when the store gives
    /// one: what tells one version of an object from another without reading it.
    /// [`Error::NotFound`] if there is none.
    pub async fn version(&self, key: &str) -> Result<(u64, Option<String>)> {
        match self.inner.head(&object_path(key)?).await {
            Ok(meta) => Ok((meta.size, meta.e_tag)),
            Err(e) => Err(self.backend_error("stat", key, e).await),
        }
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

    /// Whether this is a `file://` store, whose objects stages read as files instead of
    /// fetching them whole first.
    pub fn is_local(&self) -> bool {
        self.local_root.is_some()
    }

    /// For a `file://` store, a reader of `keys` straight from its directory with blocking
    /// calls, for callers that process each object as it is read on threads of their own
    /// (a stage decoding thousands of images); `None` for other stores, or if a key is not
    /// one whose file is the key itself.
    pub fn local_reader(&self, keys: &[String]) -> Option<LocalReader> {
        let root = self.local_root.as_ref()?;
        keys.iter().all(|k| plain_key(k)).then(|| LocalReader {
            root: Arc::clone(root),
            counters: Arc::clone(&self.counters),
        })
    }

    /// Whether any object is below `prefix`; reads one listing page at most.
    pub async fn has_objects(&self, prefix: &str) -> Result<bool> {
        let prefix_path = prefix_path(prefix)?;
        let first = self.inner.list(prefix_path.as_ref()).next().await;
        match first {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(self.backend_error("list", prefix, e).await),
        }
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.inner.head(&object_path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) if self.bucket.is_none() => Ok(false),
            Err(object_store::Error::NotFound { .. }) => {
                match self
                    .explain(Error::NotFound {
                        key: key.to_string(),
                    })
                    .await
                {
                    e @ Error::NoBucket { .. } => Err(e),
                    _ => Ok(false),
                }
            }
            Err(e) => Err(self.backend_error("stat", key, e).await),
        }
    }

    /// Every object whose key is below `prefix` (as a folder: `a/b` lists `a/b/...`, not
    /// `a/bc`), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let prefix_path = prefix_path(prefix)?;
        // A local directory has no round trips to save.
        let listed = match self.local_root {
            Some(_) => list_flat(&self.inner, prefix_path).await,
            None => self.list_by_folder(prefix_path).await,
        };
        let mut out = match listed {
            Ok(out) => out,
            Err(e) => return Err(self.backend_error("list", prefix, e).await),
        };
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Everything below `prefix`, each folder right below it listed at the same time. A
    /// listing returns at most 1,000 keys a page (S3), and each page is a round trip after
    /// the last: 100,000 images in ten class folders are 100 round trips in a row listed
    /// at once, and 1 + 10 listed by folder.
    async fn list_by_folder(
        &self,
        prefix: Option<ObjectPath>,
    ) -> object_store::Result<Vec<ObjectInfo>> {
        let top = self.inner.list_with_delimiter(prefix.as_ref()).await?;
        let mut out: Vec<ObjectInfo> = top.objects.into_iter().map(ObjectInfo::from).collect();
        let folders = top.common_prefixes.into_iter().map(|folder| {
            let inner = Arc::clone(&self.inner);
            async move { list_flat(&inner, Some(folder)).await }
        });
        let mut listed = futures::stream::iter(folders).buffer_unordered(DEFAULT_CONCURRENCY);
        while let Some(folder) = listed.next().await {
            out.extend(folder?);
        }
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
                    self.counters.listing(keys.len() as u64);
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

    /// Deletes the object under `key`; one that does not exist is not an error (as on S3).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = object_path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend_error("delete", key, e).await),
        }
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

    /// Uploads the images below `dir` to `prefix/<relative path>`, `concurrency` at a time,
    /// following symlinks to files and folders ([`folder::walk`]). With `all_files`, every
    /// file is uploaded; otherwise only images ([`folder::skip_reason`]), as the workflow
    /// reads them. Calls `progress(files_done, files_total)` as files complete; returns what
    /// was uploaded and what was skipped, and why.
    pub async fn upload_dir(
        &self,
        dir: &Path,
        prefix: &str,
        concurrency: usize,
        all_files: bool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Upload> {
        self.check_bucket().await?;
        let (files, skipped) = select_files(dir, all_files).await?;
        let mut summary = Upload {
            uploaded: 0,
            skipped,
        };
        let total = files.len();
        let prefix = prefix.trim_matches('/');
        let done = std::sync::atomic::AtomicUsize::new(0);
        futures::stream::iter(files.into_iter().map(|found| {
            let key = if prefix.is_empty() {
                found.rel
            } else {
                format!("{prefix}/{}", found.rel)
            };
            let done = &done;
            async move {
                let bytes = tokio::fs::read(&found.path)
                    .await
                    .map_err(|source| Error::Io {
                        path: found.path.clone(),
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
        summary.uploaded = total;
        Ok(summary)
    }
}

/// The files below `dir` that an upload takes, sorted by relative path: with `all_files`
/// every one, otherwise the images ([`folder::skip_reason`]); and those it passes over,
/// with why, sorted. One rule for the per-image and the packed upload.
pub(crate) async fn select_files(
    dir: &Path,
    all_files: bool,
) -> Result<(Vec<folder::Found>, Vec<(String, folder::Skip)>)> {
    let walk_dir = dir.to_path_buf();
    let walked = tokio::task::spawn_blocking(move || folder::walk(&walk_dir))
        .await
        .map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    let mut skipped = walked.unfollowed;
    let mut files = Vec::with_capacity(walked.files.len());
    for found in walked.files {
        match folder::skip_reason(&found.rel) {
            Some(why) if !all_files => skipped.push((found.rel, why)),
            _ => files.push(found),
        }
    }
    skipped.sort();
    Ok((files, skipped))
}

impl From<object_store::ObjectMeta> for ObjectInfo {
    fn from(meta: object_store::ObjectMeta) -> Self {
        Self {
            key: meta.location.to_string(),
            size: meta.size,
        }
    }
}

/// Everything below `prefix` in one listing, page after page.
async fn list_flat(
    store: &Arc<dyn ObjectStore>,
    prefix: Option<ObjectPath>,
) -> object_store::Result<Vec<ObjectInfo>> {
    store
        .list(prefix.as_ref())
        .map_ok(ObjectInfo::from)
        .try_collect()
        .await
}

/// What [`Store::upload_dir`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Files uploaded.
    pub uploaded: usize,
    /// Files (or symlinks) not uploaded, by relative path, with why; sorted.
    pub skipped: Vec<(String, folder::Skip)>,
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
/// `readdir` per folder and no `stat` per file, where `object_store` makes three. Symlinks
/// to files and folders are followed, as `object_store` does, but a symlink to a folder
/// that is already being walked (a cycle) is not, and a dangling one lists nothing: where
/// `object_store` fails on a cycle, this lists every file once. `None` when a name is not
/// a [`plain_key`] segment (or of unknown type): the caller then lists through
/// `object_store`, whose rules for those names apply.
fn list_local(root: &std::path::Path, prefix: &str) -> Result<Option<Vec<String>>> {
    let mut keys = Vec::new();
    let path = root.join(prefix);
    let real = match path.canonicalize() {
        Ok(real) => real,
        // A missing folder lists nothing, as in `object_store`.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(keys)),
        Err(source) => return Err(Error::Io { path, source }),
    };
    let complete = list_local_into(prefix, &path, &mut vec![real], &mut keys)?;
    Ok(complete.then_some(keys))
}

/// Lists folder `dir` (key prefix `prefix`) into `keys`; `ancestors` are the real paths of
/// it and the folders above it. Returns `false` at a name [`list_local`] leaves to
/// `object_store`.
fn list_local_into(
    prefix: &str,
    dir: &std::path::Path,
    ancestors: &mut Vec<std::path::PathBuf>,
    keys: &mut Vec<String>,
) -> Result<bool> {
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // A file in the folder's place lists nothing, as in `object_store`.
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(true),
        Err(source) => return Err(io(dir)(source)),
    };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Ok(false);
        };
        let key = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if !plain_key(&key) {
            return Ok(false);
        }
        let path = entry.path();
        let mut file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(meta) => file_type = meta.file_type(),
                // Dangling: nothing to read, and `object_store` lists nothing for it either.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(io(&path)(source)),
            }
        }
        if file_type.is_dir() {
            let real = path.canonicalize().map_err(io(&path))?;
            if ancestors.contains(&real) {
                continue;
            }
            ancestors.push(real);
            let complete = list_local_into(&key, &path, ancestors, keys)?;
            ancestors.pop();
            if !complete {
                return Ok(false);
            }
        } else if file_type.is_file() {
            keys.push(key);
        } else {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reads objects of a `file://` store straight from its directory (see
/// [`Store::local_reader`]): no task hop and fewer system calls than `object_store`'s
/// one request per file.
#[derive(Debug, Clone)]
pub struct LocalReader {
    root: Arc<std::path::PathBuf>,
    counters: Arc<Counters>,
}

impl LocalReader {
    /// Reads the object under `key`, blocking; [`Error::NotFound`] if there is none.
    pub fn read(&self, key: &str) -> Result<Bytes> {
        let path = self.root.join(key);
        match std::fs::read(&path) {
            Ok(bytes) => {
                self.counters.read(bytes.len() as u64);
                Ok(Bytes::from(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound {
                key: key.to_string(),
            }),
            Err(source) => Err(Error::Io { path, source }),
        }
    }
}

/// Whether an S3 error says the bucket does not exist (`NoSuchBucket`, which `object_store`
/// reports as a missing object or as a generic error, depending on the operation).
fn bucket_missing(e: &object_store::Error) -> bool {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.contains("NoSuchBucket")
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
        std::fs::write(src.path().join("3/.DS_Store"), b"d").unwrap();
        std::fs::write(src.path().join("top.txt"), b"t").unwrap();
        let dst = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dst.path()).unwrap();
        let store = Store::from_url(url.as_str()).unwrap();
        let up = store
            .upload_dir(src.path(), "/data/", 4, false, &|_, _| {})
            .await
            .unwrap();
        assert_eq!(up.uploaded, 1);
        assert_eq!(
            up.skipped,
            [
                ("3/.DS_Store".to_string(), folder::Skip::Hidden),
                ("top.txt".to_string(), folder::Skip::NotImage)
            ]
        );
        assert_eq!(store.keys("data").await.unwrap(), ["data/3/a.png"]);
        assert_eq!(
            std::fs::read(dst.path().join("data/3/a.png")).unwrap(),
            b"a"
        );
        // Every file, when asked.
        let up = store
            .upload_dir(src.path(), "all", 4, true, &|_, _| {})
            .await
            .unwrap();
        assert_eq!((up.uploaded, up.skipped.len()), (3, 0));
    }

    /// A local store lists plain names from its directory (following symlinks) and
    /// anything else (names `object_store` encodes or hides) through `object_store`: either
    /// way `keys` agrees with `list`.
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
        assert_eq!(
            list_local(root, "linked").unwrap().unwrap().len(),
            2,
            "both paths to t.png"
        );
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

    /// A symlink cycle in a local store lists every file once (where `object_store` fails),
    /// and a symlinked class folder lists its files.
    #[cfg(unix)]
    #[tokio::test]
    async fn local_keys_follow_symlinks_and_stop_at_cycles() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir_all(root.join("data/a")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(root.join("data/a/1.png"), b"1").unwrap();
        std::fs::write(dir.path().join("outside/2.png"), b"2").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("data/b")).unwrap();
        std::os::unix::fs::symlink(root.join("data"), root.join("data/a/up")).unwrap();
        let url = url::Url::from_directory_path(&root).unwrap();
        let store = Store::from_url(url.as_str()).unwrap();
        assert_eq!(
            store.keys("data").await.unwrap(),
            ["data/a/1.png", "data/b/2.png"]
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
