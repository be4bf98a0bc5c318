//! The workflow end to end on `memory://`, with real digits.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use std::collections::{BTreeMap, BTreeSet};

use mltrain_workflow::driver::{self, Local, Quiet};
use mltrain_workflow::objects::{self, KeyList};
use mltrain_workflow::params::{Params, TestSplit};
use mltrain_workflow::stage;
use mltrain_workflow::stages::{Ctx, PartitionInput, PartitionOutput};
use mltrain_workflow::{Error, layout};

use common::{local, memory, put_digits};

fn params(prefix: &str, num_pca: usize, num_rf: usize) -> Params {
    Params {
        prefix: prefix.into(),
        num_pca,
        num_rf,
        ..Params::default()
    }
}

/// Runs the partition stage of run `run_id`.
async fn partitioned(ctx: &Ctx, run_id: &str, params: Params) -> PartitionOutput {
    stage::call::<stage::Partition>(
        ctx,
        PartitionInput {
            run_id: run_id.into(),
            params,
        },
    )
    .await
    .unwrap()
}

async fn read_list(store: &mltrain_store::Store, key: &str) -> KeyList {
    let bytes = store.get(key).await.unwrap();
    objects::decode(key, &bytes).unwrap()
}

#[tokio::test]
async fn partition_covers_every_key_once_stratified_and_deterministic() {
    let store = memory();
    put_digits(&store, "data", 0..1000).await;
    let ctx = Ctx::new(store.clone());
    let p = params("data", 3, 8);
    let out = partitioned(&ctx, "a", p.clone()).await;
    assert_eq!(
        out.classes,
        (0..10).map(|d| d.to_string()).collect::<Vec<_>>()
    );
    assert_eq!((out.train_images, out.test_images), (800, 200));

    let mut seen = BTreeMap::new();
    let mut lists = Vec::new();
    for key in out.partitions.iter().chain([&out.test_list]) {
        let list = read_list(&store, key).await;
        for item in &list.items {
            assert!(
                seen.insert(item.key.clone(), item.label).is_none(),
                "{} twice",
                item.key
            );
            // The label is the class folder, not a position.
            assert_eq!(
                out.classes[item.label as usize],
                item.key.split('/').nth(1).unwrap()
            );
        }
        lists.push(list);
    }
    let all: BTreeSet<String> = store.keys("data").await.unwrap().into_iter().collect();
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        all,
        "every key exactly once"
    );

    // Stratified: every class's share of a partition is within one image of its fair share.
    let per_class = |list: &KeyList, c: u32| list.items.iter().filter(|i| i.label == c).count();
    for c in 0..10u32 {
        let train: Vec<usize> = lists[..3].iter().map(|l| per_class(l, c)).collect();
        assert!(
            train.iter().max().unwrap() - train.iter().min().unwrap() <= 1,
            "class {c}: {train:?}"
        );
        let total = train.iter().sum::<usize>() + per_class(&lists[3], c);
        let held = per_class(&lists[3], c) as f64 / total as f64;
        assert!((held - 0.2).abs() < 0.05, "class {c} holdout share {held}");
    }

    // Deterministic: same seed, same lists; another seed, another shuffle.
    let again = partitioned(&ctx, "b", p.clone()).await;
    for (a, b) in out.partitions.iter().zip(&again.partitions) {
        assert_eq!(read_list(&store, a).await, read_list(&store, b).await);
    }
    let other = partitioned(&ctx, "c", Params { seed: 1, ..p }).await;
    assert_ne!(
        read_list(&store, &out.partitions[0]).await,
        read_list(&store, &other.partitions[0]).await
    );
}

#[tokio::test]
async fn end_to_end_runs_are_reproducible_and_never_overwrite_each_other() {
    let store = memory();
    put_digits(&store, "digits", 0..1500).await;
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    let p = params("digits", 2, 4);
    let r1 = driver::run(&local, &p, "run-1", 4, &Quiet).await.unwrap();
    let r2 = driver::run(&local, &p, "run-2", 4, &Quiet).await.unwrap();

    assert!(r1.accuracy > 0.75, "accuracy {}", r1.accuracy);
    assert_eq!(r1.accuracy, r2.accuracy);
    assert_eq!(r1.confusion, r2.confusion);
    // 20% of each class held out, rounded per class.
    assert_eq!((r1.train_images + r1.test_images, r1.forests), (1500, 4));
    assert!(
        (295..=305).contains(&r1.test_images),
        "{} test images",
        r1.test_images
    );
    assert_eq!(
        r1.confusion.iter().flatten().sum::<u64>(),
        r1.test_images as u64
    );

    let m1 = objects::load_model(&store, &r1.model_key).await.unwrap();
    let m2 = objects::load_model(&store, &r2.model_key).await.unwrap();
    assert_eq!(
        m1.ensemble, m2.ensemble,
        "same data, params and seed give the same model"
    );
    assert_ne!(r1.model_key, r2.model_key);

    // Each run's outputs sit under its own folder: partition/, pca-<i>/, rf-<i>-<j>, validation/.
    let run1: Vec<String> = store
        .list(&layout::RunLayout::new("run-1").dir())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    for want in [
        "partition/pca-0.keys",
        "partition/test.keys",
        "pca-1/basis",
        "pca-1/share-1",
        "rf-1-1",
        "validation/report.json",
    ] {
        assert!(
            run1.iter().any(|k| k.ends_with(want)),
            "missing {want} in {run1:?}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&store.get(&r1.report_key).await.unwrap()).unwrap();
    assert_eq!(report["accuracy"], r1.accuracy);

    let r3 = driver::run(&local, &Params { seed: 7, ..p }, "run-3", 4, &Quiet)
        .await
        .unwrap();
    let m3 = objects::load_model(&store, &r3.model_key).await.unwrap();
    assert_ne!(m1.ensemble, m3.ensemble, "another seed gives another model");
}

#[tokio::test]
async fn a_failed_run_publishes_nothing() {
    let store = memory();
    put_digits(&store, "digits", 0..300).await;
    store
        .put("digits/3/broken.png", b"not an image".to_vec().into())
        .await
        .unwrap();
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    let err = driver::run(&local, &params("digits", 2, 2), "bad", 2, &Quiet)
        .await
        .unwrap_err();
    assert!(err.is_bad_input());
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(chain.contains("digits/3/broken.png"), "{chain}");
    assert!(store.list(layout::MODELS).await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_data_is_refused_with_the_culprit_named() {
    let store = memory();
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    let run = |p: Params| {
        let local = local.clone();
        async move { driver::run(&local, &p, "x", 2, &Quiet).await.unwrap_err() }
    };
    let root = |e: Error| match e {
        Error::Stage { source, .. } => *source,
        e => e,
    };
    assert!(matches!(
        root(run(params("nothing", 1, 1)).await),
        Error::EmptyPrefix { .. }
    ));

    put_digits(&store, "one", 0..30).await;
    // Keep a single class: delete every other folder.
    for c in 1..10 {
        store.delete_prefix(&format!("one/{c}")).await.unwrap();
    }
    assert!(matches!(
        root(run(params("one", 1, 1)).await),
        Error::OneClass { .. }
    ));

    put_digits(&store, "train", 0..200).await;
    put_digits(&store, "test", 200..260).await;
    store
        .put(
            "test/letter-a/x.png",
            store
                .get(&store.list("test/1").await.unwrap()[0].key)
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    let p = Params {
        test: TestSplit::Prefix("test".into()),
        ..params("train", 1, 2)
    };
    match root(run(p).await) {
        Error::UnknownTestClass { class, key } => assert_eq!(
            (class.as_str(), key.as_str()),
            ("letter-a", "test/letter-a/x.png")
        ),
        other => panic!("{other:?}"),
    }

    let big = mltrain_dataset::encode_png(30, 30, &[0; 900]).unwrap();
    store.put("train/5/zz-big.png", big.into()).await.unwrap();
    match root(run(params("train", 2, 2)).await) {
        Error::BadImages { bad } => {
            assert_eq!(bad.len(), 1, "{bad:?}");
            assert_eq!(bad[0].0, "train/5/zz-big.png");
            assert!(bad[0].1.contains("30x30"), "{bad:?}");
        }
        other => panic!("{other:?}"),
    }
    // With --resize the odd one is resized and the run completes.
    let p = Params {
        resize: Some(mltrain_core::image::ImageSize::new(28, 28)),
        ..params("train", 2, 2)
    };
    assert!(driver::run(&local, &p, "resized", 2, &Quiet).await.is_ok());

    store
        .put("train/stray.png", b"x".to_vec().into())
        .await
        .unwrap();
    assert!(matches!(
        root(run(params("train", 2, 2)).await),
        Error::NotInClassFolder { .. }
    ));
}

/// From a local directory, PCA functions read each image as they decode it: an image that
/// vanished after partition listed it fails its function with the image's key named, as
/// one gone from the store, not as a decode error.
#[tokio::test]
async fn an_image_gone_after_partition_is_named() {
    use mltrain_workflow::stages::PcaInput;

    let dir = tempfile::tempdir().unwrap();
    let store = local(dir.path());
    put_digits(&store, "digits", 0..200).await;
    let ctx = Ctx::new(store.clone());
    let p = params("digits", 1, 2);
    let parted = partitioned(&ctx, "gone", p.clone()).await;
    let list = read_list(&store, &parted.partitions[0]).await;
    let victim = &list.items[list.items.len() / 2].key;
    std::fs::remove_file(dir.path().join(victim)).unwrap();

    let err = stage::call::<stage::Pca>(
        &ctx,
        PcaInput {
            run_id: "gone".into(),
            index: 0,
            key_list: parted.partitions[0].clone(),
            params: p,
        },
    )
    .await
    .unwrap_err();
    // Gone, not undecodable: the reason says so, and that a new run lists the data again.
    match &err {
        Error::BadImages { bad } => {
            assert_eq!(bad.len(), 1, "{bad:?}");
            assert_eq!(&bad[0].0, victim);
            assert!(bad[0].1.starts_with("no longer in the store"), "{bad:?}");
        }
        other => panic!("{other:?}"),
    }
}
