//! The workflow's stages, each a sans-I/O `compute` inside a thin async shell.
//!
//! Each stage's module has a `gather` (the shell reads what a call needs from the store)
//! and a `compute` (synchronous, no I/O: the job and the objects as bytes, [`Objects`], to
//! the output and the objects to write, [`Computed`]). [`crate::stage`] makes each stage
//! one type over these and writes what the compute returns, so any host that can hand a
//! compute bytes can run it.

pub(crate) mod partition;
pub(crate) mod pca;
pub(crate) mod rf;
#[cfg(feature = "io")]
mod shards;
pub(crate) mod validation;

use std::collections::HashMap;

use bytes::Bytes;
#[cfg(feature = "io")]
use mltrain_store::Store;

pub use partition::{
    Dealt, Listing, Packed, PartitionInput, PartitionJob, PartitionOutput, deal, finish,
};
pub use pca::{PcaInput, PcaOutput};
pub use rf::{RfInput, RfOutput};
#[cfg(feature = "io")]
pub use shards::ShardCache;
pub use validation::{
    ForestRef, Predicted, ValidationInput, ValidationJob, ValidationOutput, ValidationPart,
    part_rows,
};

use crate::error::{Error, Result};
use crate::objects::KeyList;
#[cfg(feature = "io")]
/// What every stage runs with: the store, how many requests to keep in flight, and the
/// limits that keep hostile or mistaken input from exhausting memory.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Where the data is read from and every object of the run written to.
    pub store: Store,
    /// Store requests a stage keeps in flight when it fetches many objects (images); the
    /// CLI takes it from `MLTRAIN_IO_CONCURRENCY`.
    pub io_concurrency: usize,
    /// What the stages refuse or plan against, see [`Limits`].
    pub limits: Limits,
    /// Packed shards read whole, kept for the next calls of this process that read them
    /// (up to a quarter of [`Limits::memory_budget`]). Clones of a context share them.
    pub shards: ShardCache,
}

#[cfg(feature = "io")]
impl Ctx {
    /// A context over `store`, with [`mltrain_store::DEFAULT_CONCURRENCY`] requests in flight
    /// and the default [`Limits`].
    pub fn new(store: Store) -> Self {
        Self {
            store,
            io_concurrency: mltrain_store::DEFAULT_CONCURRENCY,
            limits: Limits::default(),
            shards: ShardCache::default(),
        }
    }
}

/// Input size limits; exceeding one is a clear bad-input error, never an out-of-memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Images under one prefix (training or test).
    pub max_images: usize,
    /// Pixels of one image, checked from its header before its pixels are decoded.
    pub max_image_pixels: u64,
    /// Bytes the functions running at once in this process may plan to allocate
    /// ([`memory`](crate::memory)); default: half of the machine's memory.
    pub memory_budget: u64,
    /// Functions of one stage that run at once in this process and share the budget.
    pub concurrent_functions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_images: 5_000_000,
            max_image_pixels: mltrain_core::image::DEFAULT_MAX_PIXELS,
            memory_budget: crate::memory::default_budget(),
            concurrent_functions: 1,
        }
    }
}

/// What a call's compute may need to know of where it runs.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Env {
    /// The limits of [`Ctx`].
    pub limits: Limits,
    /// Whether the images were fetched whole before decoding (not a local directory read
    /// as it goes): their bytes then count in the memory plan.
    pub fetched: bool,
}

#[cfg(feature = "io")]
impl Ctx {
    /// The [`Env`] of a compute run by this context's shell.
    pub fn env(&self) -> Env {
        Env {
            limits: self.limits,
            fetched: !self.store.is_local(),
        }
    }
}

/// Where a compute finds the bytes of the objects its shell handed over.
pub trait Objects: Send + Sync {
    /// The bytes under `key`; a store [`NotFound`](mltrain_store::Error::NotFound) error
    /// when the shell has none.
    fn get(&self, key: &str) -> Result<Bytes>;

    /// Those of the objects under `keys` that there are, in the order of `keys`: what a
    /// host hands a compute that cannot ask for them as it goes (a sandboxed one).
    fn get_present(&self, keys: &[String]) -> Result<Vec<(String, Bytes)>> {
        present(self, keys)
    }
}

/// [`Objects::get_present`], one object after another.
fn present<O: Objects + ?Sized>(objects: &O, keys: &[String]) -> Result<Vec<(String, Bytes)>> {
    let mut pairs = Vec::with_capacity(keys.len());
    for key in keys {
        match objects.get(key) {
            Ok(bytes) => pairs.push((key.clone(), bytes)),
            Err(Error::Store(mltrain_store::Error::NotFound { .. })) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(pairs)
}

/// Objects fetched before the compute runs; those that were not in the store are absent.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    objects: HashMap<String, Bytes>,
}

impl Fetched {
    /// No objects.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hands over `bytes` as the object under `key`.
    pub fn insert(&mut self, key: String, bytes: Bytes) {
        self.objects.insert(key, bytes);
    }
}

impl Objects for Fetched {
    fn get(&self, key: &str) -> Result<Bytes> {
        self.objects.get(key).cloned().ok_or_else(|| {
            Error::Store(mltrain_store::Error::NotFound {
                key: key.to_string(),
            })
        })
    }
}

#[cfg(feature = "io")]
/// A local directory's files, read as the compute asks for them: reading then overlaps
/// decoding instead of preceding it.
impl Objects for mltrain_store::LocalReader {
    fn get(&self, key: &str) -> Result<Bytes> {
        Ok(self.read(key)?)
    }

    /// Read on every core: natively a compute reads its files as it decodes, in parallel,
    /// and one call alone (validation's test images) would otherwise read them on one core
    /// while the others wait.
    fn get_present(&self, keys: &[String]) -> Result<Vec<(String, Bytes)>> {
        /// Files read one after another at most, per thread.
        const READS_PER_THREAD: usize = 256;
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(keys.len().div_ceil(READS_PER_THREAD));
        if threads <= 1 {
            return present(self, keys);
        }
        let chunk = keys.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = keys
                .chunks(chunk)
                .map(|part| scope.spawn(move || present(self, part)))
                .collect();
            let mut pairs = Vec::with_capacity(keys.len());
            for handle in handles {
                // A reading thread's panic goes on to the caller's, as if it were its own.
                let part = handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                pairs.extend(part);
            }
            Ok(pairs)
        })
    }
}

/// What a compute hands back: its output, and the objects to write with their bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed<O> {
    /// The call's output.
    pub output: O,
    /// `(key, bytes)` to write. The last one is written only after every other has landed:
    /// it is the one whose presence says the others are there (validation's model).
    pub writes: Vec<(String, Bytes)>,
}

#[cfg(feature = "io")]
/// Writes a compute's objects: all but the last at once, then the last.
pub(crate) async fn commit(ctx: &Ctx, mut writes: Vec<(String, Bytes)>) -> Result<()> {
    let Some((last_key, last)) = writes.pop() else {
        return Ok(());
    };
    futures::future::try_join_all(
        writes
            .into_iter()
            .map(|(key, bytes)| async move { ctx.store.put(&key, bytes).await }),
    )
    .await?;
    ctx.store.put(&last_key, last).await?;
    Ok(())
}

#[cfg(feature = "io")]
/// The objects under `keys`, for a compute: a local directory's reader, which reads each
/// as the compute asks for it, or every object fetched at once (one that is not in the
/// store is left out, for the compute to name: a deleted image is a bad image). `read`
/// holds those the shell has already fetched, which are not fetched again. The `items`
/// of a packed prefix (those with a location) are read from their `shards` instead, by
/// [`fetch_packed`], and handed over under their keys.
pub(crate) async fn objects_of(
    ctx: &Ctx,
    keys: &[String],
    shards: &[String],
    items: &[crate::objects::Item],
    read: Fetched,
) -> Result<Box<dyn Objects>> {
    let packed: Vec<&crate::objects::Item> = items.iter().filter(|i| i.at.is_some()).collect();
    if packed.is_empty() {
        if let Some(reader) = ctx.store.local_reader(keys) {
            return Ok(Box::new(reader));
        }
    }
    use futures::StreamExt;
    let in_shards: std::collections::HashSet<&str> =
        packed.iter().map(|i| i.key.as_str()).collect();
    let store = ctx.store.clone();
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !read.objects.contains_key(*k) && !in_shards.contains(k.as_str()))
        .cloned()
        .collect();
    let fetches = missing.into_iter().map(move |key| {
        let store = store.clone();
        async move {
            let got = store.get(&key).await;
            (key, got)
        }
    });
    let loose = async {
        let mut stream = futures::stream::iter(fetches).buffer_unordered(ctx.io_concurrency.max(1));
        let mut fetched = read;
        while let Some((key, got)) = stream.next().await {
            match got {
                Ok(bytes) => fetched.insert(key, bytes),
                Err(mltrain_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(Error::from(e)),
            }
        }
        Ok(fetched)
    };
    // The loose objects and the shards at once: validation's forests and its test images
    // are one round trip, not two.
    let (mut fetched, from_shards) = futures::try_join!(loose, fetch_packed(ctx, shards, &packed))?;
    for (key, bytes) in from_shards {
        fetched.insert(key, bytes);
    }
    Ok(Box::new(fetched))
}

#[cfg(feature = "io")]
/// The first of `images` that ends past a shard of `size` bytes, as the damage to name.
fn past_the_end(shard: &str, images: &[(String, crate::objects::At)], size: u64) -> Option<Error> {
    images
        .iter()
        .find(|(_, at)| at.offset.saturating_add(at.length) > size)
        .map(|(key, at)| Error::DamagedPack {
            shard: shard.to_string(),
            image: key.clone(),
            reason: format!(
                "it ends at byte {}, and the shard now has {size} bytes",
                at.offset.saturating_add(at.length)
            ),
        })
}

#[cfg(feature = "io")]
/// Reads packed images from their shards, [`Ctx::io_concurrency`] shards at a time: a
/// shard whose images cover most of it is read whole, once for all the calls of this
/// process ([`Ctx::shards`]); from the others, one coalesced ranged read per shard
/// (`get_ranges`). Each image's length and
/// CRC-32 are checked before it is handed over under its key: a damaged, shortened or
/// missing shard is [`Error::DamagedPack`] naming it and the image, never used and never
/// left out as a bad image.
async fn fetch_packed(
    ctx: &Ctx,
    shards: &[String],
    packed: &[&crate::objects::Item],
) -> Result<Vec<(String, Bytes)>> {
    use crate::objects::At;
    use futures::StreamExt;
    let mut by_shard: std::collections::BTreeMap<u32, Vec<(String, At)>> = Default::default();
    for item in packed {
        if let Some(at) = item.at {
            by_shard
                .entry(at.shard)
                .or_default()
                .push((item.key.clone(), at));
        }
    }
    let damaged = |shard: &str, image: &str, reason: String| Error::DamagedPack {
        shard: shard.to_string(),
        image: image.to_string(),
        reason,
    };
    let (budget, concurrency) = (ctx.limits.memory_budget / 4, ctx.io_concurrency);
    let fetches = by_shard.into_iter().map(|(n, images)| {
        let store = ctx.store.clone();
        let cache = ctx.shards.clone();
        let shard = shards.get(n as usize).cloned();
        async move {
            let Some(shard) = shard else {
                return Err(damaged(
                    &format!("#{n}"),
                    &images[0].0,
                    format!("the key list has {} shards", shards.len()),
                ));
            };
            // An empty image has no range to read; it reaches the decoder as it is.
            let ranges: Vec<std::ops::Range<u64>> = images
                .iter()
                .filter(|(_, at)| at.length > 0)
                .map(|(_, at)| at.offset..at.offset.saturating_add(at.length))
                .collect();
            let read = if shards::worth_reading_whole(&ranges) {
                let whole = cache.whole(&store, &shard, budget, concurrency).await;
                let short = whole
                    .as_ref()
                    .ok()
                    .and_then(|whole| past_the_end(&shard, &images, whole.len() as u64));
                if let Some(e) = short {
                    return Err(e);
                }
                whole.map(|whole| {
                    ranges
                        .iter()
                        .map(|r| whole.slice(r.start as usize..r.end as usize))
                        .collect()
                })
            } else {
                store.get_ranges(&shard, &ranges).await
            };
            let parts = match read {
                Ok(parts) => parts,
                Err(mltrain_store::Error::NotFound { .. }) => {
                    return Err(damaged(
                        &shard,
                        &images[0].0,
                        "the shard is no longer in the store".into(),
                    ));
                }
                // A range past the end is refused by the store, as a failure like any
                // other: the shard's size tells a shortened shard from a transient fault.
                Err(e) => {
                    let size = store.size(&shard).await.ok();
                    let past = size.and_then(|size| past_the_end(&shard, &images, size));
                    return Err(past.unwrap_or_else(|| e.into()));
                }
            };
            let mut parts = parts.into_iter();
            let mut out = Vec::with_capacity(images.len());
            for (key, at) in images {
                let bytes = if at.length == 0 {
                    bytes::Bytes::new()
                } else {
                    parts.next().unwrap_or_default()
                };
                if bytes.len() as u64 != at.length {
                    return Err(damaged(
                        &shard,
                        &key,
                        format!("read {} bytes, the index says {}", bytes.len(), at.length),
                    ));
                }
                let crc = crc32fast::hash(&bytes);
                if crc != at.crc32 {
                    return Err(damaged(
                        &shard,
                        &key,
                        format!("checksum mismatch (index {:08x}, read {crc:08x})", at.crc32),
                    ));
                }
                out.push((key, bytes));
            }
            Ok(out)
        }
    });
    let mut stream = futures::stream::iter(fetches).buffer_unordered(ctx.io_concurrency.max(1));
    let mut images = Vec::with_capacity(packed.len());
    while let Some(shard) = stream.next().await {
        images.extend(shard?);
    }
    Ok(images)
}

/// Fetches and decodes the stored object under `key`, keeping its bytes in `read` so that
/// [`objects_of`] does not fetch it again.
#[cfg(feature = "io")]
pub(crate) async fn get_kept<T: crate::objects::Stored>(
    ctx: &Ctx,
    key: &str,
    read: &mut Fetched,
) -> Result<T> {
    let bytes = ctx.store.get(key).await?;
    let value = crate::objects::decode(key, &bytes)?;
    read.insert(key.to_string(), bytes);
    Ok(value)
}

/// Decodes the stored object under `key` from `objects`.
pub(crate) fn read<T: crate::objects::Stored>(objects: &dyn Objects, key: &str) -> Result<T> {
    crate::objects::decode(key, &objects.get(key)?)
}

/// The keys of a list's images.
#[cfg(feature = "io")]
fn keys_of(list: &KeyList) -> Vec<String> {
    list.items.iter().map(|i| i.key.clone()).collect()
}

#[cfg(feature = "io")]
/// Runs CPU-bound (or blocking) work off the async runtime's threads. A panic in it is
/// [`Error::Panic`] naming `stage`: a bug, never retried.
pub async fn blocking<T: Send + 'static>(
    stage: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        if e.is_panic() {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Error::Panic { stage, message }
        } else {
            Error::Task {
                stage,
                reason: e.to_string(),
            }
        }
    })
}

/// Decodes the images of `list` from `images`, as levels (a byte per pixel and channel,
/// with the list's channels), naming every bad key ([`Error::BadImages`]), not only the
/// first.
fn decode_images(
    env: &Env,
    list: &KeyList,
    images: &dyn Objects,
    resize: bool,
) -> Result<mltrain_core::image::ImageLevels> {
    use mltrain_core::image::{BatchError, FeatureDecoder, fetch_and_decode_levels};

    let decoder = FeatureDecoder::new()
        .resize(resize)
        .channels(list.channels)
        .max_pixels(env.limits.max_image_pixels);
    let decoded = fetch_and_decode_levels(list.items.len(), list.image_size, &decoder, |i| {
        images.get(&list.items[i].key)
    });
    decoded.map_err(|failures| {
        let mut bad = Vec::new();
        for (i, e) in failures {
            match e {
                BatchError::Fetch(Error::Store(mltrain_store::Error::NotFound { key })) => {
                    bad.push((key, GONE.into()))
                }
                // The store failing is not the data's fault: that is the error.
                BatchError::Fetch(e) => return e,
                BatchError::Decode(source) => {
                    bad.push((list.items[i].key.clone(), error_text(&source)))
                }
            }
        }
        Error::BadImages { bad }
    })
}

/// Why an image listed by the partition stage cannot be read: it was deleted since (a
/// resumed run after the data was cleaned up keeps its old list).
const GONE: &str = "no longer in the store: it was listed when the run started, so start a new run to list the data again";

/// `list` without the images at `left_out`.
fn without<'a>(mut list: KeyList, left_out: impl IntoIterator<Item = &'a str>) -> KeyList {
    let left_out: std::collections::HashSet<&str> = left_out.into_iter().collect();
    list.items
        .retain(|item| !left_out.contains(item.key.as_str()));
    list
}

/// [`decode_images`], but with `skip_invalid` the images that do not decode are left out:
/// returns the images, the list of those kept, and the keys left out with why.
fn decode_usable_images(
    env: &Env,
    list: KeyList,
    images: &dyn Objects,
    resize: bool,
    skip_invalid: bool,
) -> Result<(
    mltrain_core::image::ImageLevels,
    KeyList,
    Vec<crate::notes::InvalidImage>,
)> {
    match decode_images(env, &list, images, resize) {
        Ok(decoded) => Ok((decoded, list, Vec::new())),
        Err(Error::BadImages { bad }) if skip_invalid => {
            let kept = without(list.clone(), bad.iter().map(|(k, _)| k.as_str()));
            // Decoding the rest again costs a second pass only when some are bad.
            let decoded = decode_images(env, &kept, images, resize)?;
            let invalid = bad
                .into_iter()
                .map(|(key, reason)| crate::notes::InvalidImage { key, reason })
                .collect();
            Ok((decoded, kept, invalid))
        }
        Err(e) => Err(e),
    }
}

#[cfg(feature = "io")]
/// `err`, and when it is bad training images, the bad test images too: one run then names
/// every bad image of the data, wherever the split put it. The test set is decoded here
/// only on this path, which ends the run anyway.
async fn with_bad_test_images(
    ctx: &Ctx,
    err: Error,
    layout: &crate::layout::RunLayout,
    resize: bool,
) -> Error {
    let Error::BadImages { mut bad } = err else {
        return err;
    };
    if let Ok(test) = crate::objects::get::<KeyList>(&ctx.store, &layout.test_list()).await {
        let keys = keys_of(&test);
        let images = objects_of(ctx, &keys, &test.shards, &test.items, Fetched::new());
        if let Ok(images) = images.await {
            let env = ctx.env();
            let checked =
                blocking("pca", move || decode_images(&env, &test, &*images, resize)).await;
            if let Ok(Err(Error::BadImages { bad: more })) = checked {
                bad.extend(more);
            }
        }
    }
    Error::BadImages { bad }
}

/// An error and its causes on one line.
pub(crate) fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    /// A panic in a stage's compute becomes an error naming the stage and calling it a bug,
    /// which is neither retried nor blamed on the input.
    #[tokio::test]
    async fn a_panic_in_blocking_work_is_a_bug_not_a_transient_fault() {
        let err = blocking("pca", || -> u32 { panic!("index out of bounds") })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Panic { stage: "pca", message } if message == "index out of bounds"),
            "{err:?}"
        );
        assert!(!err.is_retryable() && !err.is_bad_input());
        assert!(err.to_string().contains("bug in mltrain"), "{err}");
        assert_eq!(blocking("pca", || 7).await.unwrap(), 7);
    }
}
