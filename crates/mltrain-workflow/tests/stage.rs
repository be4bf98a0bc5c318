//! The stage abstraction: every call records its output, `--resume` reads those records,
//! and each stage's sans-I/O compute, handed the bytes a call read, hands back the very
//! objects the call wrote.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Mutex;

use mltrain_store::Store;
use mltrain_workflow::driver::{self, Functions, Local, Options, Quiet};
use mltrain_workflow::layout::RunLayout;
use mltrain_workflow::objects::{self, KeyList};
use mltrain_workflow::params::Params;
use mltrain_workflow::stage::{self, Stage};
use mltrain_workflow::stages::{self, Ctx, Fetched};
use mltrain_workflow::{Result, report::Report};

use common::memory;

const RUN: &str = "stage-run";

/// Three classes of 40×32 colour pictures (a tinted square on noise), PNG and JPEG mixed.
async fn put_colour_pictures(store: &Store, prefix: &str, per_class: usize) {
    let tints = [[200u8, 40, 40], [40, 200, 40], [40, 40, 200]];
    for (class, tint) in tints.iter().enumerate() {
        for i in 0..per_class {
            let mut seed = (class * 7919 + i * 104_729) as u32 | 1;
            let img = image::RgbImage::from_fn(40, 32, |x, y| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let noise = (seed % 64) as u8;
                let inside =
                    (8 + i as u32 % 6..24 + i as u32 % 6).contains(&x) && (6..22).contains(&y);
                if inside {
                    image::Rgb(tint.map(|c| c.saturating_add(noise / 2)))
                } else {
                    image::Rgb([noise, noise, noise])
                }
            });
            let (ext, format) = if i % 3 == 0 {
                ("jpg", image::ImageFormat::Jpeg)
            } else {
                ("png", image::ImageFormat::Png)
            };
            let mut bytes = Vec::new();
            image::DynamicImage::from(img)
                .write_to(&mut Cursor::new(&mut bytes), format)
                .unwrap();
            let key = format!("{prefix}/class-{class}/{i:03}.{ext}");
            store.put(&key, bytes.into()).await.unwrap();
        }
    }
}

fn params() -> Params {
    Params {
        prefix: "pictures".into(),
        num_pca: 2,
        num_rf: 5,
        components: 6,
        trees: 8,
        ..Params::default()
    }
}

/// A finished run of [`params`] on colour pictures.
async fn finished_run() -> (Store, Report) {
    let store = memory();
    put_colour_pictures(&store, "pictures", 30).await;
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    let report = driver::run(&local, &params(), RUN, 4, &Quiet)
        .await
        .unwrap();
    (store, report)
}

async fn record<S: Stage>(store: &Store, name: &str) -> stage::Record<S::Output> {
    stage::record::<S>(store, RUN, name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no record of {name}"))
}

/// The objects under `keys`, fetched, as a host hands them to a compute.
async fn fetched(store: &Store, keys: impl IntoIterator<Item = String>) -> Fetched {
    let mut out = Fetched::new();
    for key in keys {
        let bytes = store.get(&key).await.unwrap();
        out.insert(key, bytes);
    }
    out
}

/// Each write is what the call left in the store, byte for byte.
async fn assert_written(store: &Store, writes: &[(String, bytes::Bytes)]) {
    assert!(!writes.is_empty());
    for (key, bytes) in writes {
        let stored = store.get(key).await.unwrap();
        assert!(stored == *bytes, "{key} differs from what the call wrote");
    }
}

/// Every call of a run leaves a record of its output, and the inputs built from those
/// records are the ones the driver called with: each compute, handed only bytes, writes
/// exactly the objects its call wrote. This is what a host without a store (WebAssembly)
/// relies on.
#[tokio::test]
async fn computes_handed_bytes_write_what_their_calls_wrote() {
    let (store, report) = finished_run().await;
    let params = params();
    let layout = RunLayout::new(RUN);
    assert_eq!(report.channels, mltrain_core::image::Channels::Rgb);
    let env = Ctx::new(store.clone()).env();

    let partition = record::<stage::Partition>(&store, "partition").await.output;
    assert_eq!(partition.classes.len(), 3);
    let mut pcas = Vec::new();
    for input in stage::pca_inputs(RUN, &params, &partition) {
        let recorded = record::<stage::Pca>(&store, &format!("pca-{}", input.index)).await;
        let list: KeyList =
            objects::decode(&input.key_list, &store.get(&input.key_list).await.unwrap()).unwrap();
        let keys = list.items.iter().map(|i| i.key.clone());
        let objects = fetched(&store, keys.chain([input.key_list.clone()])).await;
        let computed = stage::Pca::compute(&env, input, &objects).unwrap();
        assert_eq!(computed.output, recorded.output);
        assert_written(&store, &computed.writes).await;
        pcas.push(computed.output);
    }
    let mut rfs = Vec::new();
    for pca in &pcas {
        for input in stage::rf_inputs(RUN, &params, pca) {
            let name = stage::Rf::call_name(&input);
            let recorded = record::<stage::Rf>(&store, &name).await;
            let objects = fetched(&store, [input.share.clone()]).await;
            let computed = stage::Rf::compute(&env, input, &objects).unwrap();
            assert_eq!(computed.output, recorded.output);
            assert_written(&store, &computed.writes).await;
            rfs.push(computed.output);
        }
    }
    assert_eq!(rfs.len(), params.num_rf);

    let input = stage::validation_input(
        RUN,
        &params,
        &partition,
        &pcas,
        &rfs,
        Default::default(),
        0.0,
    );
    let list: KeyList = objects::decode(
        &input.test_list,
        &store.get(&input.test_list).await.unwrap(),
    )
    .unwrap();
    let mut keys = vec![input.test_list.clone(), layout.partition_notes()];
    keys.extend(input.bases.iter().cloned());
    keys.extend(input.forests.iter().map(|f| f.forest.clone()));
    keys.extend(list.items.iter().map(|i| i.key.clone()));
    let objects = fetched(&store, keys).await;
    let job = stages::ValidationJob {
        input,
        predicted: None,
    };
    let computed = stage::Validation::compute(&env, job, &objects).unwrap();
    assert_eq!(computed.output.report.accuracy, report.accuracy);
    assert_eq!(computed.output.report.confusion, report.confusion);
    // The model is the last write, and the same bytes; the report and its page differ only
    // in times.
    let (model_key, _) = computed.writes.last().unwrap();
    assert_eq!(*model_key, layout.model());
    assert_written(&store, &computed.writes[2..]).await;
    let validation = record::<stage::Validation>(&store, "validation").await;
    assert_eq!(validation.output.report.accuracy, report.accuracy);

    // Partition's compute, handed its listings and the sample, deals the same key lists.
    let listing = |prefix: &str| {
        let store = store.clone();
        let prefix = prefix.to_string();
        async move {
            let mut by_class: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for key in store.keys(&prefix).await.unwrap() {
                let class = key.split('/').nth(1).unwrap().to_string();
                by_class.entry(class).or_default().push(key);
            }
            stages::Listing {
                by_class,
                skipped: Vec::new(),
                packed: None,
            }
        }
    };
    let train = listing("pictures").await;
    let dealt = stages::deal(&params, &train, None).unwrap();
    let all = dealt.parts.iter().flatten().map(|i| i.key.clone());
    let job = stages::PartitionJob {
        input: stage::partition_input(RUN, &params),
        train,
        test: None,
    };
    let objects = fetched(&store, all.collect::<Vec<_>>()).await;
    let computed = stage::Partition::compute(&env, job, &objects).unwrap();
    assert_eq!(computed.output, partition);
    assert_written(&store, &computed.writes).await;
}

/// A backend that counts the calls it passes on, by call name.
struct Counting {
    local: Local,
    calls: Mutex<BTreeMap<String, u32>>,
}

impl Functions for Counting {
    async fn call<S: Stage>(&self, input: S::Input) -> Result<S::Output> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(S::call_name(&input))
            .or_default() += 1;
        self.local.call::<S>(input).await
    }
}

/// `--resume` runs again exactly the calls that have no record, or whose record names an
/// object that no longer decodes, and what depends on them.
#[tokio::test]
async fn resume_runs_the_calls_without_a_sound_record() {
    let (store, first) = finished_run().await;
    let layout = RunLayout::new(RUN);
    // A model cut short: the run did not publish.
    store.put(&layout.model(), "MLTR".into()).await.unwrap();
    // rf-1-0's record is cut short; pca-0's basis was damaged after it recorded.
    store
        .put(&layout.record("rf-1-0"), "{\"output\":".into())
        .await
        .unwrap();
    let basis = layout.basis(0);
    let mut bytes = store.get(&basis).await.unwrap().to_vec();
    bytes[20] ^= 0x55;
    store.put(&basis, bytes.into()).await.unwrap();

    let counting = Counting {
        local: Local {
            ctx: Ctx::new(store.clone()),
        },
        calls: Mutex::default(),
    };
    let report = driver::resume(&counting, &store, RUN, &Options::default(), &Quiet)
        .await
        .unwrap();
    let calls = counting.calls.into_inner().unwrap();
    let params = params();
    let mut expected: Vec<String> = vec!["pca-0".into(), "rf-1-0".into(), "validation".into()];
    expected.extend((0..params.forests_of(0)).map(|j| format!("rf-0-{j}")));
    expected.sort();
    assert_eq!(calls.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(calls.values().all(|&n| n == 1), "{calls:?}");
    assert_eq!(report.accuracy, first.accuracy);
    assert_eq!(report.confusion, first.confusion);
}

/// A stage's shell and its compute refuse the same bad input: a PCA index past the fan-out.
#[tokio::test]
async fn shell_and_compute_refuse_an_index_past_the_fan_out() {
    let store = memory();
    let ctx = Ctx::new(store.clone());
    let input = stages::PcaInput {
        run_id: RUN.into(),
        index: 2,
        key_list: "missing".into(),
        params: params(),
    };
    let shell = stage::call::<stage::Pca>(&ctx, input.clone())
        .await
        .unwrap_err();
    assert!(shell.is_bad_input(), "{shell}");
    let list = KeyList {
        classes: vec!["a".into(), "b".into()],
        image_size: mltrain_core::image::ImageSize::new(2, 2),
        channels: mltrain_core::image::Channels::Grey,
        items: Vec::new(),
        shards: Vec::new(),
    };
    let mut objects = Fetched::new();
    let list = objects::encode("missing", &list).unwrap();
    objects.insert(list.0, list.1);
    let computed = stage::Pca::compute(&ctx.env(), input, &objects).unwrap_err();
    assert!(computed.is_bad_input(), "{computed}");
    // A refused call leaves no record.
    assert!(
        stage::record::<stage::Pca>(&store, RUN, "pca-2")
            .await
            .unwrap()
            .is_none()
    );
}
