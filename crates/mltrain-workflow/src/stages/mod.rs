//! The workflow's stages as plain async functions: serde input in, serde output out.
//! Transport (in-process, HTTP, CloudEvents, job files) is an adapter around them.

mod partition;
mod pca;
mod rf;
mod validation;

use mltrain_store::Store;

pub use partition::{PartitionInput, PartitionOutput, partition};
pub use pca::{PcaInput, PcaOutput, pca};
pub use rf::{RfInput, RfOutput, rf};
pub use validation::{ForestRef, ValidationInput, ValidationOutput, validation};

use crate::error::{Error, Result};
use crate::objects::KeyList;

/// What every stage runs with: the store, how many requests to keep in flight, and the
/// limits that keep hostile or mistaken input from exhausting memory.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub store: Store,
    pub io_concurrency: usize,
    pub limits: Limits,
}

impl Ctx {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            io_concurrency: mltrain_store::DEFAULT_CONCURRENCY,
            limits: Limits::default(),
        }
    }
}

/// Input size limits; exceeding one is a clear bad-input error, never an out-of-memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Runs CPU-bound work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
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

/// Fetches and decodes the images of `list`, as levels (a byte per pixel and channel, with
/// the list's channels), naming every bad key ([`Error::BadImages`]), not only the first.
///
/// From a local directory, each decoding task reads its own files as it goes, so reading
/// overlaps decoding; from other stores, every object is fetched (concurrently) first.
async fn load_images(
    ctx: &Ctx,
    stage: &'static str,
    list: &KeyList,
    resize: bool,
) -> Result<mltrain_core::image::ImageLevels> {
    use mltrain_core::image::{BatchError, FeatureDecoder, fetch_and_decode_levels};

    let keys: Vec<String> = list.items.iter().map(|i| i.key.clone()).collect();
    let size = list.image_size;
    let decoder = FeatureDecoder::new()
        .resize(resize)
        .channels(list.channels)
        .max_pixels(ctx.limits.max_image_pixels);
    let decoded = match ctx.store.local_reader(&keys) {
        Some(reader) => {
            blocking(stage, move || {
                fetch_and_decode_levels(keys.len(), size, &decoder, |i| reader.read(&keys[i]))
            })
            .await?
        }
        None => {
            let bytes = match ctx.store.get_many(&keys, ctx.io_concurrency).await {
                Ok(bytes) => bytes,
                Err(mltrain_store::Error::NotFound { key }) => {
                    return Err(Error::BadImages {
                        bad: vec![(key, GONE.into())],
                    });
                }
                Err(e) => return Err(e.into()),
            };
            blocking(stage, move || {
                fetch_and_decode_levels(bytes.len(), size, &decoder, |i| {
                    Ok::<_, mltrain_store::Error>(&bytes[i])
                })
            })
            .await?
        }
    };
    decoded.map_err(|failures| {
        let mut bad = Vec::new();
        for (i, e) in failures {
            match e {
                BatchError::Fetch(mltrain_store::Error::NotFound { key }) => {
                    bad.push((key, GONE.into()))
                }
                // The store failing is not the data's fault: that is the error.
                BatchError::Fetch(e) => return e.into(),
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

/// [`load_images`], but with `skip_invalid` the images that do not decode are left out:
/// returns the images, the list of those kept, and the keys left out with why.
async fn load_usable_images(
    ctx: &Ctx,
    stage: &'static str,
    list: KeyList,
    resize: bool,
    skip_invalid: bool,
) -> Result<(
    mltrain_core::image::ImageLevels,
    KeyList,
    Vec<crate::notes::InvalidImage>,
)> {
    match load_images(ctx, stage, &list, resize).await {
        Ok(images) => Ok((images, list, Vec::new())),
        Err(Error::BadImages { bad }) if skip_invalid => {
            let left_out: std::collections::HashSet<&str> =
                bad.iter().map(|(k, _)| k.as_str()).collect();
            let mut kept = list.clone();
            kept.items
                .retain(|item| !left_out.contains(item.key.as_str()));
            // Decoding the rest again costs a second pass only when some are bad.
            let images = load_images(ctx, stage, &kept, resize).await?;
            let invalid = bad
                .into_iter()
                .map(|(key, reason)| crate::notes::InvalidImage { key, reason })
                .collect();
            Ok((images, kept, invalid))
        }
        Err(e) => Err(e),
    }
}

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
        if let Err(Error::BadImages { bad: more }) = load_images(ctx, "pca", &test, resize).await {
            bad.extend(more);
        }
    }
    Error::BadImages { bad }
}

/// An error and its causes on one line.
fn error_text(e: &dyn std::error::Error) -> String {
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
