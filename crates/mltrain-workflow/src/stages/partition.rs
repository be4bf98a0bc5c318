//! partition: lists the data, holds out the test set, and deals the training images over the
//! PCA functions, shuffled and stratified by class.

use std::collections::BTreeMap;

use mltrain_core::image::{Channels, FeatureDecoder, ImageSize};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Computed, Env, Objects};
#[cfg(feature = "io")]
use super::{Ctx, Fetched, objects_of};
use crate::error::{Error, Result};
use crate::layout::RunLayout;
#[cfg(feature = "io")]
use crate::layout::valid_run_id;
use crate::notes::DataNotes;
use crate::objects::{self, At, Item, KeyList};
use crate::params::{Params, TestSplit};
#[cfg(feature = "io")]
use crate::stage::Gathered;
use mltrain_store::folder::Skip;
#[cfg(feature = "io")]
use mltrain_store::folder::skip_reason;

/// RNG stream of the partition stage (forests use streams 0..num_rf).
const PARTITION_STREAM: u64 = u64::MAX;

/// Training images probed to decide `--channels auto` and the image size, taken from every
/// partition in turn after the shuffle, so from every class in proportion: one round trip
/// of reads.
const CHANNEL_SAMPLE: usize = 32;

/// What the partition call takes: the run's id and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionInput {
    /// The new run's id; only letters, digits, `-` and `.`, since it becomes part of keys.
    pub run_id: String,
    /// The run's parameters; the call writes them as the run's `params.json` first.
    pub params: Params,
}

/// What the partition call returns: what the PCA and validation inputs are built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionOutput {
    /// Class names, sorted; labels index this list.
    pub classes: Vec<String>,
    /// The size every image is decoded at: `--resize`, or that of the first sampled training
    /// image whose header reads.
    pub image_size: ImageSize,
    /// The channels every image is decoded to: `--channels`, or what `auto` decided.
    pub channels: Channels,
    /// Key-list key of each PCA function.
    pub partitions: Vec<String>,
    /// Key of the test set's key list.
    pub test_list: String,
    /// Training images dealt over the PCA functions, all of them.
    pub train_images: usize,
    /// Test images, held out of the training prefix or listed under the test prefix.
    pub test_images: usize,
}

#[cfg(feature = "io")]
/// The partition stage's shell: records the parameters, lists the data, and hands the
/// listings and a sample of the images (to decide their size and channels) to [`compute`].
pub(crate) async fn gather(ctx: &Ctx, input: &PartitionInput) -> Result<Gathered<PartitionJob>> {
    let PartitionInput { run_id, params } = input;
    params.check()?;
    if !valid_run_id(run_id) {
        return Err(Error::InvalidArgument {
            name: "run id",
            reason: format!("`{run_id}` has characters other than letters, digits, `-` and `.`"),
        });
    }
    let layout = RunLayout::new(run_id);
    // The run's parameters, before any other object of the run: `--resume` reads them back.
    let json = serde_json::to_vec_pretty(params).map_err(|e| Error::Task {
        stage: "partition",
        reason: e.to_string(),
    })?;
    // Writing them and listing the training and test images are independent: all three
    // run at once (the listings are blocking directory walks, each on its own thread).
    // Errors are reported in that order, whichever finishes first.
    let test_listing = async {
        match &params.test {
            TestSplit::Prefix(prefix) => list_classes(ctx, prefix).await.map(Some),
            TestSplit::Holdout(_) => Ok(None),
        }
    };
    let params_key = layout.params();
    let (written, train, test) = futures::join!(
        ctx.store.put(&params_key, json.into()),
        list_classes(ctx, &params.prefix),
        test_listing
    );
    written?;
    let job = PartitionJob {
        input: input.clone(),
        train: train?,
        test: test?,
    };
    // The compute deals again; dealing here too only picks the sample it will probe.
    let dealt = deal(params, &job.train, job.test.as_ref())?;
    let sample = sample_items(params, &dealt.parts);
    let keys: Vec<String> = sample.iter().map(|item| item.key.clone()).collect();
    let objects = objects_of(ctx, &keys, &dealt.shards, &sample, Fetched::new()).await?;
    Ok(Gathered { job, keys, objects })
}

/// What the partition stage's compute takes: the input and the listings its shell made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionJob {
    /// The call's input.
    pub input: PartitionInput,
    /// The training prefix, listed.
    pub train: Listing,
    /// The test prefix, listed, when the test set is a prefix of its own.
    pub test: Option<Listing>,
}

/// The partition stage's compute: [`deal`]s the listings, decides the image size and
/// channels from a sample of the training images, plans every later call's memory, and
/// writes the key lists and the notes ([`finish`]).
pub(crate) fn compute(
    env: &Env,
    job: PartitionJob,
    objects: &dyn Objects,
) -> Result<Computed<PartitionOutput>> {
    let PartitionJob { input, train, test } = job;
    let params = &input.params;
    params.check()?;
    let dealt = deal(params, &train, test.as_ref())?;
    drop((train, test));
    let (image_size, channels) = probe_images(env, params, &dealt.parts, objects)?;
    plan_memory(
        env,
        params,
        &dealt.parts,
        &dealt.test,
        image_size.features(channels),
    )?;
    finish(&input.run_id, dealt, image_size, channels)
}

/// What partition lists under a prefix, by the ImageFolder rule, or reads from a packed
/// prefix's index: the same keys either way, so the same data deals the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// Class name (first path segment below the prefix) → its image keys, sorted.
    pub by_class: BTreeMap<String, Vec<String>>,
    /// Keys passed over as not images, and why.
    pub skipped: Vec<(String, Skip)>,
    /// For a packed prefix, where each image's bytes are.
    #[serde(default)]
    pub packed: Option<Packed>,
}

/// Where the images of a packed prefix are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packed {
    /// The shards' keys: an [`At::shard`] indexes this list.
    pub shards: Vec<String>,
    /// Each image's key (as if it were stored on its own) → where its bytes are.
    pub at: BTreeMap<String, At>,
}

impl Listing {
    /// Where the image under `key` is, if this is a packed prefix's listing.
    fn at(&self, key: &str) -> Option<At> {
        self.packed.as_ref().and_then(|p| p.at.get(key).copied())
    }

    /// The shards of a packed prefix's listing; none otherwise.
    fn shards(&self) -> Vec<String> {
        self.packed
            .as_ref()
            .map(|p| p.shards.clone())
            .unwrap_or_default()
    }
}

/// The data dealt over the PCA functions, before the image size and channels are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dealt {
    /// Class names, sorted; labels index this list.
    pub classes: Vec<String>,
    /// The training images of each PCA function, shuffled.
    pub parts: Vec<Vec<Item>>,
    /// The shards the packed training images are in (empty when none is).
    pub shards: Vec<String>,
    /// The test images.
    pub test: Vec<Item>,
    /// The shards the packed test images are in (empty when none is).
    pub test_shards: Vec<String>,
    /// What the user should know about the classes.
    pub warnings: Vec<String>,
    /// Keys passed over as not images, under either prefix.
    pub skipped: Vec<(String, Skip)>,
}

/// The partition stage's dealing, sans I/O: holds out the test set (or takes the test
/// prefix's `test` listing) and deals the training images of `train` over the PCA
/// functions, shuffled with the run's seed and stratified by class.
pub fn deal(params: &Params, train: &Listing, test: Option<&Listing>) -> Result<Dealt> {
    let mut by_class = train.by_class.clone();
    let mut skipped = train.skipped.clone();
    // `test` names the test images below; the test prefix's listing keeps this name.
    let test_listing = test;
    let test_listed = test.map(|listing| {
        skipped.extend(listing.skipped.iter().cloned());
        listing.by_class.clone()
    });
    let mut warnings = Vec::new();
    let classes: Vec<String> = by_class.keys().cloned().collect();
    if classes.len() < 2 {
        return Err(Error::OneClass {
            prefix: params.prefix.clone(),
            class: classes.into_iter().next().unwrap_or_default(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(mltrain_core::ensemble::derive_seed(
        params.seed,
        PARTITION_STREAM,
    ));
    // Listings are sorted, so shuffling with a seeded RNG gives the same order every time.
    for keys in by_class.values_mut() {
        keys.shuffle(&mut rng);
    }

    let mut test = Vec::new();
    match &params.test {
        TestSplit::Holdout(share) => {
            for (label, keys) in by_class.values_mut().enumerate() {
                // Keep at least one training image of every class.
                let n_test = ((keys.len() as f64 * share).round() as usize).min(keys.len() - 1);
                if n_test == 0 {
                    warnings.push(too_small_to_test(&classes[label], keys.len()));
                }
                test.extend(keys.drain(..n_test).map(|key| Item {
                    at: train.at(&key),
                    key,
                    label: label as u32,
                }));
            }
        }
        TestSplit::Prefix(_) => {
            let test_by_class = test_listed.unwrap_or_default();
            let untested: Vec<String> = classes
                .iter()
                .filter(|c| !test_by_class.contains_key(*c))
                .map(|c| format!("`{c}`"))
                .collect();
            if !untested.is_empty() {
                warnings.push(format!(
                    "the test set has {} of the {} training classes: none of {} is tested, so the accuracy says nothing about {}",
                    classes.len() - untested.len(),
                    classes.len(),
                    untested.join(", "),
                    if untested.len() == 1 { "it" } else { "them" }
                ));
            }
            for (class, keys) in test_by_class {
                let Some(label) = classes.iter().position(|c| *c == class) else {
                    return Err(Error::UnknownTestClass {
                        class,
                        key: keys[0].clone(),
                    });
                };
                let listing = test_listing.unwrap_or(train);
                test.extend(keys.into_iter().map(|key| Item {
                    at: listing.at(&key),
                    key,
                    label: label as u32,
                }));
            }
        }
    }
    if test.is_empty() {
        return Err(Error::TooFewImages {
            reason: format!(
                "no test images: `{}` is too small to hold any out",
                params.prefix
            ),
        });
    }

    warnings.extend(unbalanced(&classes, &by_class));

    // Deal each class round-robin over the partitions, continuing where the previous class
    // stopped, so partitions differ in size by at most one and each gets its class share.
    let mut parts: Vec<Vec<Item>> = vec![Vec::new(); params.num_pca];
    let mut next = 0;
    for (label, keys) in by_class.into_values().enumerate() {
        for key in keys {
            parts[next].push(Item {
                at: train.at(&key),
                key,
                label: label as u32,
            });
            next = (next + 1) % params.num_pca;
        }
    }
    for (i, part) in parts.iter_mut().enumerate() {
        let needed = params.forests_of(i).max(2);
        if part.len() < needed {
            return Err(Error::TooFewImages {
                reason: format!(
                    "PCA function {i} gets {} training images but needs at least {needed} (one per forest, two for PCA); use fewer functions or more data",
                    part.len()
                ),
            });
        }
        part.shuffle(&mut rng);
    }

    let test_shards = match &params.test {
        TestSplit::Prefix(_) => test_listing.map(Listing::shards).unwrap_or_default(),
        TestSplit::Holdout(_) => train.shards(),
    };
    Ok(Dealt {
        classes,
        parts,
        shards: train.shards(),
        test,
        test_shards,
        warnings,
        skipped,
    })
}

/// The partition stage's last step, sans I/O: the key list of each PCA function and of the
/// test set, and the notes of what was skipped, once the images' size and channels are
/// decided.
pub fn finish(
    run_id: &str,
    dealt: Dealt,
    image_size: ImageSize,
    channels: Channels,
) -> Result<Computed<PartitionOutput>> {
    let Dealt {
        classes,
        parts,
        shards,
        test,
        test_shards,
        warnings,
        skipped,
    } = dealt;
    let layout = RunLayout::new(run_id);
    let train_images = parts.iter().map(Vec::len).sum();
    let test_images = test.len();
    let key_list = |items, shards: &[String]| KeyList {
        classes: classes.clone(),
        image_size,
        channels,
        items,
        shards: shards.to_vec(),
    };
    let mut writes = Vec::new();
    let mut partitions = Vec::new();
    for (i, items) in parts.into_iter().enumerate() {
        let key = layout.partition(i);
        writes.push(objects::encode(&key, &key_list(items, &shards))?);
        partitions.push(key);
    }
    writes.push(objects::encode(
        &layout.test_list(),
        &key_list(test, &test_shards),
    )?);
    let notes = DataNotes {
        skipped: crate::notes::group_skipped(skipped),
        invalid: Vec::new(),
        warnings,
    };
    let notes_json = serde_json::to_vec_pretty(&notes).map_err(|e| Error::Task {
        stage: "partition",
        reason: e.to_string(),
    })?;
    writes.push((layout.partition_notes(), notes_json.into()));
    Ok(Computed {
        output: PartitionOutput {
            classes,
            image_size,
            channels,
            partitions,
            test_list: layout.test_list(),
            train_images,
            test_images,
        },
        writes,
    })
}

/// The training images the compute may probe for their size and channels: the first
/// [`CHANNEL_SAMPLE`] of every partition in turn, so from every class in proportion. None
/// when `--resize` and `--channels` leave nothing to decide.
fn sample_items(params: &Params, parts: &[Vec<Item>]) -> Vec<Item> {
    if params.resize.is_some() && params.channels.fixed().is_some() {
        return Vec::new();
    }
    let longest = parts.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| parts.iter().filter_map(move |p| p.get(i)))
        .take(CHANNEL_SAMPLE)
        .cloned()
        .collect()
}

/// The data set's image size (that of the first sampled image whose header reads, unless
/// `--resize` sets it) and channels (`--channels`, or for `auto` RGB if any sampled image
/// has colour). With fixed channels, probing stops at the first good image.
fn probe_images(
    env: &Env,
    params: &Params,
    parts: &[Vec<Item>],
    objects: &dyn Objects,
) -> Result<(ImageSize, Channels)> {
    let fixed = params.channels.fixed();
    let (mut size, mut colour) = (params.resize, false);
    let mut first_error = None;
    let mut decoder = FeatureDecoder::new().max_pixels(env.limits.max_image_pixels);
    for Item { key, .. } in sample_items(params, parts) {
        // An image of the sample that does not read is passed over: the pca stage names
        // it with every other bad image (or leaves it out with `--skip-invalid`).
        let probed = match objects.get(&key) {
            Ok(bytes) => decoder.probe(&bytes),
            Err(Error::Store(mltrain_store::Error::NotFound { .. })) => continue,
            Err(e) => return Err(e),
        };
        match probed {
            Ok(probe) => {
                size.get_or_insert(probe.size);
                colour |= probe.colour;
                if fixed.is_some() {
                    break;
                }
            }
            Err(source) => {
                first_error.get_or_insert(Error::Image { key, source });
            }
        }
    }
    let Some(size) = size else {
        return Err(first_error.unwrap_or_else(|| Error::TooFewImages {
            reason: "no training images".into(),
        }));
    };
    let channels = fixed.unwrap_or(if colour {
        Channels::Rgb
    } else {
        Channels::Grey
    });
    Ok((size, channels))
}

/// Checks, before any PCA function or the validation runs, that each fits the memory
/// budget: the functions of a stage that run at once share it.
fn plan_memory(
    env: &Env,
    params: &Params,
    parts: &[Vec<Item>],
    test: &[Item],
    features: usize,
) -> Result<()> {
    use crate::memory;
    let budget = env.limits.memory_budget;
    let at_once = env.limits.concurrent_functions.clamp(1, params.num_pca);
    let k = params.components;
    // Packed images are fetched whole even from a local directory: their bytes count.
    for (i, part) in parts.iter().enumerate() {
        let fetched = env.fetched || part.iter().any(|item| item.at.is_some());
        memory::check_pca(i, part.len(), features, k, fetched, budget, at_once)?;
    }
    let fetched = env.fetched || test.iter().any(|item| item.at.is_some());
    let needed = memory::validation(test.len(), features, k, params.num_pca, fetched);
    if needed > budget {
        return Err(Error::OverBudget {
            function: "validation".into(),
            needed,
            budget,
            advice: format!(
                "its {} test images of {features} features and {} bases; resize the images (--resize WxH), test on fewer images, or raise --memory-budget",
                test.len(),
                params.num_pca
            ),
        });
    }
    Ok(())
}

#[cfg(feature = "io")]
/// Lists `prefix` as an ImageFolder: class name (first path segment below the prefix) →
/// image keys, and the keys skipped as not images ([`mltrain_store::folder`]).
async fn list_classes(ctx: &Ctx, prefix: &str) -> Result<Listing> {
    let prefix = prefix.trim_matches('/');
    // A packed prefix is read from its index alone, checked against one listing of its
    // shards: a missing, extra or short shard stops the run here, before any training.
    if let Some(index) = ctx.store.read_pack(prefix).await? {
        return listing_of_pack(ctx, prefix, &index);
    }
    let listed = ctx.store.keys(prefix).await?;
    if listed.len() > ctx.limits.max_images {
        return Err(Error::TooManyImages {
            prefix: prefix.to_string(),
            count: listed.len(),
            limit: ctx.limits.max_images,
        });
    }
    if listed.is_empty() {
        return Err(Error::EmptyPrefix {
            prefix: prefix.to_string(),
            store: ctx.store.url().to_string(),
        });
    }
    let mut by_class: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut skipped = Vec::new();
    for key in listed {
        let rel = key
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(&key);
        if let Some(why) = skip_reason(rel) {
            skipped.push((key, why));
            continue;
        }
        let Some((class, _)) = rel.split_once('/') else {
            return Err(Error::NotInClassFolder {
                key,
                prefix: prefix.to_string(),
            });
        };
        by_class.entry(class.to_string()).or_default().push(key);
    }
    if by_class.is_empty() {
        return Err(Error::NoImages {
            prefix: prefix.to_string(),
            store: ctx.store.url().to_string(),
            skipped: skipped.len(),
        });
    }
    Ok(Listing {
        by_class,
        skipped,
        packed: None,
    })
}

#[cfg(feature = "io")]
/// The listing of a packed prefix from its index: the keys its images would have on their
/// own, so that dealing, shuffling and the model are those of the per-image layout.
fn listing_of_pack(ctx: &Ctx, prefix: &str, index: &mltrain_pack::Index) -> Result<Listing> {
    if index.images.len() > ctx.limits.max_images {
        return Err(Error::TooManyImages {
            prefix: prefix.to_string(),
            count: index.images.len(),
            limit: ctx.limits.max_images,
        });
    }
    if index.images.is_empty() {
        return Err(Error::EmptyPrefix {
            prefix: prefix.to_string(),
            store: ctx.store.url().to_string(),
        });
    }
    let mut by_class: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut at = BTreeMap::new();
    for image in &index.images {
        let key = mltrain_pack::image_key(prefix, &image.key);
        by_class
            .entry(index.class_of(image).to_string())
            .or_default()
            .push(key.clone());
        at.insert(
            key,
            At {
                shard: image.shard,
                offset: image.offset,
                length: image.length,
                crc32: image.crc32,
            },
        );
    }
    let shards = index
        .shards
        .iter()
        .map(|s| mltrain_pack::shard_key(prefix, &s.name))
        .collect();
    Ok(Listing {
        by_class,
        skipped: Vec::new(),
        packed: Some(Packed { shards, at }),
    })
}

/// The warning for a class too small to hold any image out for testing.
fn too_small_to_test(class: &str, images: usize) -> String {
    format!(
        "class `{class}` has {images} image{}: too few to hold one out, so it is trained on but never tested",
        if images == 1 { "" } else { "s" }
    )
}

/// Training classes this many times larger than the smallest are worth a warning.
const UNBALANCED_RATIO: usize = 10;

/// A warning when the largest class has [`UNBALANCED_RATIO`] times the training images of
/// the smallest: the forests then favour the large classes.
fn unbalanced(classes: &[String], by_class: &BTreeMap<String, Vec<String>>) -> Option<String> {
    let count = |c: &String| by_class.get(c).map_or(0, Vec::len);
    let largest = classes.iter().max_by_key(|c| count(c))?;
    let smallest = classes.iter().min_by_key(|c| count(c))?;
    (count(largest) >= UNBALANCED_RATIO * count(smallest).max(1)).then(|| {
        format!(
            "classes are very unbalanced: `{largest}` has {} training images, `{smallest}` {}; the model will favour the large classes",
            count(largest),
            count(smallest)
        )
    })
}
