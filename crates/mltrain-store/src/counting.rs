//! Counts what a process asks of its store: requests by kind and bytes moved
//! ([`StoreStats`]), so that a benchmark can say what a run costs on S3 besides time.
//!
//! [`CountingStore`] wraps any `object_store` implementation, as `object_store`'s own
//! `LimitStore` and `ThrottledStore` do, and counts each call when it is issued, whether or
//! not it succeeds. It sees calls, not HTTP requests: retries inside the S3 client are not
//! counted, one listing is one `list` however many pages it takes, and a bulk delete
//! counts each object it deletes.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use serde::{Deserialize, Serialize};

/// What a [`Store`](crate::Store) and its clones have asked of the store so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Object reads, whole or ranged (a `file://` store's direct reads included).
    pub get: u64,
    /// Object writes (a multipart upload: one per part, plus its start and its end).
    pub put: u64,
    /// Listings started (a `file://` store's direct listings included).
    pub list: u64,
    /// Existence and size checks.
    pub head: u64,
    /// Objects deleted, one by one or in bulk.
    pub delete: u64,
    /// Server-side copies and renames.
    pub copy: u64,
    /// Objects the listings returned.
    pub listed: u64,
    /// Bytes of object data read.
    pub bytes_read: u64,
    /// Bytes of object data written.
    pub bytes_written: u64,
}

impl StoreStats {
    /// Every request counted: reads, writes, listings, checks, deletions and copies.
    pub fn requests(&self) -> u64 {
        self.get + self.put + self.list + self.head + self.delete + self.copy
    }
}

impl fmt::Display for StoreStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests ({} GET, {} PUT, {} LIST, {} HEAD, {} DELETE, {} COPY), {} bytes read, \
             {} bytes written",
            self.requests(),
            self.get,
            self.put,
            self.list,
            self.head,
            self.delete,
            self.copy,
            self.bytes_read,
            self.bytes_written
        )
    }
}

/// The live counters behind [`StoreStats`], shared by a store and its clones.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    get: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    head: AtomicU64,
    delete: AtomicU64,
    copy: AtomicU64,
    listed: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> StoreStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreStats {
            get: load(&self.get),
            put: load(&self.put),
            list: load(&self.list),
            head: load(&self.head),
            delete: load(&self.delete),
            copy: load(&self.copy),
            listed: load(&self.listed),
            bytes_read: load(&self.bytes_read),
            bytes_written: load(&self.bytes_written),
        }
    }

    pub(crate) fn read(&self, bytes: u64) {
        self.get.fetch_add(1, Ordering::Relaxed);
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn listing(&self, entries: u64) {
        self.list.fetch_add(1, Ordering::Relaxed);
        self.listed.fetch_add(entries, Ordering::Relaxed);
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// An [`ObjectStore`] that counts the calls made to the store it wraps.
#[derive(Debug)]
pub(crate) struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
}

impl CountingStore {
    /// Wraps `inner`, counting into `counters`.
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, counters: Arc<Counters>) -> Self {
        Self { inner, counters }
    }

    /// A listing of `inner` that counts itself and the objects it returns.
    fn counted_list(
        &self,
        list: BoxStream<'static, object_store::Result<ObjectMeta>>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        Counters::add(&self.counters.list, 1);
        let counters = Arc::clone(&self.counters);
        list.inspect(move |entry| {
            if entry.is_ok() {
                Counters::add(&counters.listed, 1);
            }
        })
        .boxed()
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountingStore({})", self.inner)
    }
}

// `put`, `put_multipart` and `get` are left to the trait, which calls the `_opts` forms
// counted here.
#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        Counters::add(&self.counters.put, 1);
        Counters::add(
            &self.counters.bytes_written,
            payload.content_length() as u64,
        );
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Counters::add(&self.counters.put, 1);
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountingUpload {
            upload,
            counters: Arc::clone(&self.counters),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let head = options.head;
        let counter = if head {
            &self.counters.head
        } else {
            &self.counters.get
        };
        Counters::add(counter, 1);
        let result = self.inner.get_opts(location, options).await?;
        if !head {
            // What the server sends back, which the caller then reads.
            Counters::add(
                &self.counters.bytes_read,
                result.range.end - result.range.start,
            );
        }
        Ok(result)
    }

    async fn get_range(&self, location: &Path, range: Range<u64>) -> object_store::Result<Bytes> {
        Counters::add(&self.counters.get, 1);
        let bytes = self.inner.get_range(location, range).await?;
        Counters::add(&self.counters.bytes_read, bytes.len() as u64);
        Ok(bytes)
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        // object_store's own default: nearby ranges are merged into fewer reads, each of
        // which goes through `get_range` above and is counted there.
        object_store::coalesce_ranges(
            ranges,
            |range| self.get_range(location, range),
            object_store::OBJECT_STORE_COALESCE_DEFAULT,
        )
        .await
    }

    async fn head(&self, location: &Path) -> object_store::Result<ObjectMeta> {
        Counters::add(&self.counters.head, 1);
        self.inner.head(location).await
    }

    async fn delete(&self, location: &Path) -> object_store::Result<()> {
        Counters::add(&self.counters.delete, 1);
        self.inner.delete(location).await
    }

    fn delete_stream<'a>(
        &'a self,
        locations: BoxStream<'a, object_store::Result<Path>>,
    ) -> BoxStream<'a, object_store::Result<Path>> {
        // The backend batches these (S3: up to 1000 a request); each object is counted.
        let counters = Arc::clone(&self.counters);
        self.inner
            .delete_stream(locations)
            .inspect(move |deleted| {
                if deleted.is_ok() {
                    Counters::add(&counters.delete, 1);
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counted_list(self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counted_list(self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await;
        let entries = listed.as_ref().map_or(0, |l| l.objects.len() as u64);
        self.counters.listing(entries);
        listed
    }

    async fn copy(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        Counters::add(&self.counters.copy, 1);
        self.inner.copy(from, to).await
    }

    async fn rename(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        Counters::add(&self.counters.copy, 1);
        self.inner.rename(from, to).await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        Counters::add(&self.counters.copy, 1);
        self.inner.copy_if_not_exists(from, to).await
    }

    async fn rename_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        Counters::add(&self.counters.copy, 1);
        self.inner.rename_if_not_exists(from, to).await
    }
}

/// A multipart upload whose parts and completion are counted as writes.
#[derive(Debug)]
struct CountingUpload {
    upload: Box<dyn MultipartUpload>,
    counters: Arc<Counters>,
}

#[async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        Counters::add(&self.counters.put, 1);
        Counters::add(&self.counters.bytes_written, data.content_length() as u64);
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        Counters::add(&self.counters.put, 1);
        self.upload.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        Counters::add(&self.counters.delete, 1);
        self.upload.abort().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Store;

    /// A known sequence of calls, through the store and through `object_store` directly,
    /// gives known counts; clones of a store share them.
    #[tokio::test]
    async fn counts_a_known_sequence() {
        let store = Store::from_url("memory://").unwrap();
        assert_eq!(store.stats(), StoreStats::default());
        let clone = store.clone();
        clone
            .put("d/a", Bytes::from_static(b"12345"))
            .await
            .unwrap();
        store.put("d/b", Bytes::from_static(b"123")).await.unwrap();
        assert_eq!(&store.get("d/a").await.unwrap()[..], b"12345");
        assert!(store.get("d/missing").await.is_err());
        assert_eq!(store.keys("d").await.unwrap().len(), 2);
        assert!(store.exists("d/b").await.unwrap());
        let os = store.object_store();
        let path = Path::from("d/a");
        assert_eq!(&os.get_range(&path, 1..3).await.unwrap()[..], b"23");
        // Two ranges near each other are one read.
        let got = os.get_ranges(&path, &[0..1, 3..5]).await.unwrap();
        assert_eq!((&got[0][..], &got[1][..]), (&b"1"[..], &b"45"[..]));
        store.delete("d/b").await.unwrap();
        assert_eq!(store.delete_prefix("d").await.unwrap(), 1);

        let stats = clone.stats();
        assert_eq!(
            stats,
            StoreStats {
                get: 4,
                put: 2,
                // `keys` and the listing `delete_prefix` makes.
                list: 2,
                head: 1,
                delete: 2,
                copy: 0,
                listed: 3,
                bytes_read: 5 + 2 + 5,
                bytes_written: 8,
            }
        );
        assert_eq!(stats.requests(), 11);
        assert!(stats.to_string().starts_with("11 requests (4 GET, 2 PUT"));
    }

    /// A listing of a store that is not a local directory lists the folders right below
    /// its prefix each on its own, at once: one listing more, and pages in parallel.
    #[tokio::test]
    async fn a_remote_listing_lists_each_folder() {
        let store = Store::from_url("memory://").unwrap();
        for key in ["p/top", "p/a/1", "p/a/2", "p/b/c/3", "p/d/4", "q/5"] {
            store.put(key, Bytes::from_static(b"x")).await.unwrap();
        }
        let keys = store.keys("p").await.unwrap();
        assert_eq!(keys, ["p/a/1", "p/a/2", "p/b/c/3", "p/d/4", "p/top"]);
        let stats = store.stats();
        assert_eq!((stats.list, stats.listed), (1 + 3, 5));
    }

    /// A `file://` store's direct listings and reads, which bypass `object_store`, are
    /// counted as the requests they stand for.
    #[tokio::test]
    async fn counts_direct_reads_of_a_local_store() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let store = Store::from_url(url.as_str()).unwrap();
        store
            .put("d/1/a.png", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        store
            .put("d/2/b.png", Bytes::from_static(b"de"))
            .await
            .unwrap();
        let keys = store.keys("d").await.unwrap();
        let reader = store.local_reader(&keys).unwrap();
        for key in &keys {
            reader.read(key).unwrap();
        }
        let stats = store.stats();
        assert_eq!(
            (stats.put, stats.list, stats.listed, stats.get),
            (2, 1, 2, 2)
        );
        assert_eq!((stats.bytes_written, stats.bytes_read), (5, 5));
    }
}
