//! The objects stages hand to each other through the store, and the published model.
//! All go through [`mltrain_core::format`]: versioned, checksummed, refused when damaged.

use bytes::Bytes;
use mltrain_core::Matrix;
use mltrain_core::ensemble::Ensemble;
use mltrain_core::format::{self, Kind};
use mltrain_core::image::{Channels, ImageSize};
#[cfg(feature = "io")]
use mltrain_store::Store;
use serde::Deserialize;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};
use crate::params::Params;

/// One image and its class (an index into the run's class names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The image's full key in the store, e.g. `data/cat/001.png`; for an image of a packed
    /// prefix, the key it would have on its own, under which it is dealt and named.
    pub key: String,
    /// Its class: an index into the list's [`KeyList::classes`].
    pub label: u32,
    /// Where its bytes are, for an image of a packed prefix; `None` for an image stored as
    /// an object of its own.
    pub at: Option<At>,
}

/// Where a packed image's bytes are: a range of one shard of its list
/// ([`KeyList::shards`]), and their CRC-32, checked when they are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct At {
    /// The shard: an index into the list's [`KeyList::shards`].
    pub shard: u32,
    /// Where the image's bytes start in the shard.
    pub offset: u64,
    /// How many bytes it has.
    pub length: u64,
    /// CRC-32 (IEEE) of its bytes.
    pub crc32: u32,
}

/// A list of images for one function: a PCA partition or the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyList {
    /// Every class of the run, sorted; the same in each of the run's lists.
    pub classes: Vec<String>,
    /// The size every image is decoded at: `--resize`, or the training images' own.
    pub image_size: ImageSize,
    /// The channels every image of the run is decoded to.
    pub channels: Channels,
    /// The images and their labels; a partition's are shuffled with the run's seed.
    pub items: Vec<Item>,
    /// Keys of the shards its packed images are in (empty when none is): a list names
    /// each shard once, so a call's list holds everything it needs to read its images.
    pub shards: Vec<String>,
}

/// Projected rows and their labels: one forest's training share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    /// One row per image, one column per PCA component its basis kept.
    pub features: Matrix,
    /// The class of each row, in row order.
    pub labels: Vec<u32>,
}

/// The published model: everything `predict` needs, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ModelData")]
pub struct Model {
    /// The run that trained it; the model's key is `ml-training/models/<run_id>.model`.
    pub run_id: String,
    /// Class names, sorted: the ensemble's class `i` is `classes[i]`.
    pub classes: Vec<String>,
    /// The size the bases were fitted at; `predict` brings every image to it.
    pub image_size: ImageSize,
    /// The channels images are decoded to before the ensemble sees them.
    pub channels: Channels,
    /// Whether images of another size are resized (the run used `--resize`).
    pub resize: bool,
    /// The parameters the run was started with.
    pub params: Params,
    /// Share of the run's test images the ensemble classified correctly, 0 to 1.
    pub accuracy: f64,
    /// Every PCA basis and the forests trained on its projections, voting softly.
    pub ensemble: Ensemble,
}

/// A model as stored, before its parts are checked against each other.
#[derive(Deserialize)]
struct ModelData {
    run_id: String,
    classes: Vec<String>,
    image_size: ImageSize,
    channels: Channels,
    resize: bool,
    params: Params,
    accuracy: f64,
    ensemble: Ensemble,
}

impl TryFrom<ModelData> for Model {
    type Error = String;

    /// A model must name every class its forests predict and take images of the size its
    /// bases were fitted on: `predict` relies on both.
    fn try_from(m: ModelData) -> Result<Self, String> {
        if m.classes.len() != m.ensemble.n_classes() {
            return Err(format!(
                "{} class names for {} classes",
                m.classes.len(),
                m.ensemble.n_classes()
            ));
        }
        if m.image_size.features(m.channels) != m.ensemble.n_features() {
            return Err(format!(
                "{} {} images for bases over {} features",
                m.image_size,
                m.channels,
                m.ensemble.n_features()
            ));
        }
        let ModelData {
            run_id,
            classes,
            image_size,
            channels,
            resize,
            params,
            accuracy,
            ensemble,
        } = m;
        Ok(Model {
            run_id,
            classes,
            image_size,
            channels,
            resize,
            params,
            accuracy,
            ensemble,
        })
    }
}

/// A type stored as one enveloped object of its own kind.
pub trait Stored: Serialize + DeserializeOwned {
    /// The kind written in the envelope's header; decoding an object of another kind is an
    /// error ([`Error::Corrupt`]).
    const KIND: Kind;
}

impl Stored for KeyList {
    const KIND: Kind = Kind::KeyList;
}
impl Stored for Rows {
    const KIND: Kind = Kind::Rows;
}
impl Stored for mltrain_core::pca::Pca {
    const KIND: Kind = Kind::PcaBasis;
}
impl Stored for mltrain_core::forest::Forest {
    const KIND: Kind = Kind::Forest;
}
impl Stored for Model {
    const KIND: Kind = Kind::Model;
}

/// `value` as the object under `key`: its envelope's bytes, ready to write.
pub fn encode<T: Stored>(key: &str, value: &T) -> Result<(String, Bytes)> {
    let bytes = format::encode(T::KIND, value).map_err(|source| Error::Corrupt {
        key: key.to_string(),
        source,
    })?;
    Ok((key.to_string(), Bytes::from(bytes)))
}

#[cfg(feature = "io")]
pub(crate) async fn get<T: Stored>(store: &Store, key: &str) -> Result<T> {
    let bytes = store.get(key).await?;
    decode(key, &bytes)
}

/// Decodes a stored object, naming `key` if it is damaged.
pub fn decode<T: Stored>(key: &str, bytes: &[u8]) -> Result<T> {
    format::decode(T::KIND, bytes).map_err(|source| Error::Corrupt {
        key: key.to_string(),
        source,
    })
}

#[cfg(feature = "io")]
/// Reads the published model at `key`.
pub async fn load_model(store: &Store, key: &str) -> Result<Model> {
    get(store, key).await
}
