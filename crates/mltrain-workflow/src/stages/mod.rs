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
/// the list's channels), naming the first bad key.
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
            let bytes = ctx.store.get_many(&keys, ctx.io_concurrency).await?;
            blocking(stage, move || {
                fetch_and_decode_levels(bytes.len(), size, &decoder, |i| {
                    Ok::<_, mltrain_store::Error>(&bytes[i])
                })
            })
            .await?
        }
    };
    decoded.map_err(|(i, e)| match e {
        BatchError::Fetch(e) => e.into(),
        BatchError::Decode(source) => Error::Image {
            key: list.items[i].key.clone(),
            source,
        },
    })
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
