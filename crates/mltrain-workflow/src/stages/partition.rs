//! partition: lists the data, holds out the test set, and deals the training images over the
//! PCA functions, shuffled and stratified by class.

use std::collections::BTreeMap;

use mltrain_core::image::{Channels, FeatureDecoder, ImageSize};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Computed, Ctx, blocking, commit};
use crate::error::{Error, Result};
use crate::layout::{RunLayout, valid_run_id};
use crate::notes::DataNotes;
use crate::objects::{self, Item, KeyList};
use crate::params::{Params, TestSplit};
use mltrain_store::folder::{Skip, skip_reason};

/// RNG stream of the partition stage (forests use streams 0..num_rf).
const PARTITION_STREAM: u64 = u64::MAX;

/// Training images decoded to decide `--channels auto`, taken from every partition in turn
/// after the shuffle, so from every class in proportion: one round trip of reads.
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

/// The partition stage's shell: records the parameters, lists the data, [`deal`]s it,
/// decides the image size and channels from a sample, plans every later call's memory and
/// writes the key lists ([`finish`]).
pub async fn partition(ctx: &Ctx, input: PartitionInput) -> Result<PartitionOutput> {
    let PartitionInput { run_id, params } = &input;
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
    let dealt = deal(params, train?, test?)?;
    let (image_size, channels) = probe_images(ctx, params, &dealt.parts).await?;
    plan_memory(
        ctx,
        params,
        &dealt.parts,
        dealt.test.len(),
        image_size.features(channels),
    )?;
    let computed = finish(run_id, dealt, image_size, channels)?;
    commit(ctx, computed.writes).await?;
    Ok(computed.output)
}

/// What partition lists under a prefix, by the ImageFolder rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Class name (first path segment below the prefix) → its image keys, sorted.
    pub by_class: BTreeMap<String, Vec<String>>,
    /// Keys passed over as not images, and why.
    pub skipped: Vec<(String, Skip)>,
}

/// The data dealt over the PCA functions, before the image size and channels are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dealt {
    /// Class names, sorted; labels index this list.
    pub classes: Vec<String>,
    /// The training images of each PCA function, shuffled.
    pub parts: Vec<Vec<Item>>,
    /// The test images.
    pub test: Vec<Item>,
    /// What the user should know about the classes.
    pub warnings: Vec<String>,
    /// Keys passed over as not images, under either prefix.
    pub skipped: Vec<(String, Skip)>,
}

/// The partition stage's dealing, sans I/O: holds out the test set (or takes the test
/// prefix's `test` listing) and deals the training images of `train` over the PCA
/// functions, shuffled with the run's seed and stratified by class.
pub fn deal(params: &Params, train: Listing, test: Option<Listing>) -> Result<Dealt> {
    let Listing {
        mut by_class,
        mut skipped,
    } = train;
    let test_listed = test.map(|listing| {
        skipped.extend(listing.skipped);
        listing.by_class
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
                test.extend(keys.into_iter().map(|key| Item {
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

    Ok(Dealt {
        classes,
        parts,
        test,
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
        test,
        warnings,
        skipped,
    } = dealt;
    let layout = RunLayout::new(run_id);
    let train_images = parts.iter().map(Vec::len).sum();
    let test_images = test.len();
    let key_list = |items| KeyList {
        classes: classes.clone(),
        image_size,
        channels,
        items,
    };
    let mut writes = Vec::new();
    let mut partitions = Vec::new();
    for (i, items) in parts.into_iter().enumerate() {
        let key = layout.partition(i);
        writes.push(objects::encode(&key, &key_list(items))?);
        partitions.push(key);
    }
    writes.push(objects::encode(&layout.test_list(), &key_list(test))?);
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

/// The data set's image size (that of its first training image, unless `--resize` sets it)
/// and channels (`--channels`, or for `auto` RGB if any of a sample of the training images
/// has colour). Reads one image, or [`CHANNEL_SAMPLE`] for `auto`.
async fn probe_images(
    ctx: &Ctx,
    params: &Params,
    parts: &[Vec<Item>],
) -> Result<(ImageSize, Channels)> {
    let fixed = params.channels.fixed();
    let wanted = match (params.resize, fixed) {
        (Some(size), Some(channels)) => return Ok((size, channels)),
        (None, Some(_)) => 1,
        (_, None) => CHANNEL_SAMPLE,
    };
    let longest = parts.iter().map(Vec::len).max().unwrap_or(0);
    let keys: Vec<String> = (0..longest)
        .flat_map(|i| parts.iter().filter_map(move |p| p.get(i)))
        .take(wanted)
        .map(|item| item.key.clone())
        .collect();
    let mut decoder = FeatureDecoder::new().max_pixels(ctx.limits.max_image_pixels);
    let probes: Vec<Result<_>> = match ctx.store.local_reader(&keys) {
        // A local directory is read on the blocking thread itself, as the PCA stage does:
        // the sample then costs a grey data set a few header reads and nothing more.
        Some(reader) => {
            let keys = keys.clone();
            blocking("partition", move || {
                let probe = |key: &String| -> Result<_> {
                    let bytes = reader.read(key)?;
                    Ok(decoder.probe(&bytes))
                };
                keys.iter().map(probe).collect()
            })
            .await?
        }
        None => {
            let bytes = ctx.store.get_many(&keys, ctx.io_concurrency).await?;
            blocking("partition", move || {
                bytes.iter().map(|b| Ok(decoder.probe(b))).collect()
            })
            .await?
        }
    };
    let (mut size, mut colour) = (params.resize, false);
    // An image of the sample that does not read is passed over: the pca stage names it with
    // every other bad image (or leaves it out with `--skip-invalid`).
    for probe in probes.into_iter().flatten().flatten() {
        size.get_or_insert(probe.size);
        colour |= probe.colour;
    }
    let size = match size {
        Some(size) => size,
        None => first_image_size(ctx, &parts[0]).await?,
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
    ctx: &Ctx,
    params: &Params,
    parts: &[Vec<Item>],
    test_images: usize,
    features: usize,
) -> Result<()> {
    use crate::memory;
    let fetched = !ctx.store.is_local();
    let budget = ctx.limits.memory_budget;
    let at_once = ctx.limits.concurrent_functions.clamp(1, params.num_pca);
    let k = params.components;
    for (i, part) in parts.iter().enumerate() {
        memory::check_pca(i, part.len(), features, k, fetched, budget, at_once)?;
    }
    let needed = memory::validation(test_images, features, k, params.num_pca, fetched);
    if needed > budget {
        return Err(Error::OverBudget {
            function: "validation".into(),
            needed,
            budget,
            advice: format!(
                "its {test_images} test images of {features} features and {} bases; resize the images (--resize WxH), test on fewer images, or raise --memory-budget",
                params.num_pca
            ),
        });
    }
    Ok(())
}

/// Lists `prefix` as an ImageFolder: class name (first path segment below the prefix) →
/// image keys, and the keys skipped as not images ([`mltrain_store::folder`]).
async fn list_classes(ctx: &Ctx, prefix: &str) -> Result<Listing> {
    let prefix = prefix.trim_matches('/');
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
    Ok(Listing { by_class, skipped })
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

/// Images [`first_image_size`] tries before it gives up.
const SIZE_PROBES: usize = 64;

/// The size of the first of `items` whose header reads. One that does not is passed over:
/// the pca stage names it with every other bad image (or leaves it out with
/// `--skip-invalid`), instead of this stage stopping at it alone.
async fn first_image_size(ctx: &Ctx, items: &[Item]) -> Result<ImageSize> {
    let mut first_error = None;
    for item in items.iter().take(SIZE_PROBES) {
        let bytes = ctx.store.get(&item.key).await?;
        match FeatureDecoder::new().probe_size(&bytes) {
            Ok(size) => return Ok(size),
            Err(source) => {
                first_error.get_or_insert(Error::Image {
                    key: item.key.clone(),
                    source,
                });
            }
        }
    }
    Err(first_error.unwrap_or_else(|| Error::TooFewImages {
        reason: "no training images".into(),
    }))
}
