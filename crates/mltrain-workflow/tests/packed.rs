//! The packed layout: a packed prefix trains the same model as the same images stored one
//! object each, and every way its index or shards can be wrong stops the run with an error
//! naming the culprit, before anything is trained on it.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use mltrain_pack::Index;
use mltrain_store::Store;
use mltrain_store::test_server::S3Server;
use mltrain_workflow::driver::{self, Local, Quiet};
use mltrain_workflow::params::{Params, TestSplit};
use mltrain_workflow::report::Report;
use mltrain_workflow::stages::Ctx;
use mltrain_workflow::{Error, objects};

use common::{error_chain, memory, pack, put_pictures};

/// Small shards, so that every run reads several and most calls read from all of them.
const SHARD: u64 = 40 << 10;

fn params(prefix: &str) -> Params {
    Params {
        prefix: prefix.into(),
        num_pca: 2,
        num_rf: 4,
        trees: 20,
        ..Params::default()
    }
}

async fn run(store: &Store, params: &Params, run_id: &str) -> Result<Report, Error> {
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    driver::run(&local, params, run_id, 4, &Quiet).await
}

/// The same pictures under `loose` (one object each) and `packed` (converted in place).
async fn both_layouts(store: &Store) {
    put_pictures(store, "loose", 30).await;
    put_pictures(store, "packed", 30).await;
    let packed = pack(store, "packed", SHARD).await;
    assert_eq!((packed.images, packed.deleted), (90, 90));
    assert!(packed.shards >= 3, "{} shards", packed.shards);
}

async fn same_model(store: &Store) {
    both_layouts(store).await;
    let loose = run(store, &params("loose"), "loose").await.unwrap();
    let packed = run(store, &params("packed"), "packed").await.unwrap();
    assert_eq!(
        (packed.train_images, packed.test_images),
        (loose.train_images, loose.test_images)
    );
    assert_eq!(packed.accuracy, loose.accuracy);
    assert!(loose.accuracy > 0.8, "accuracy {}", loose.accuracy);
    let a = objects::load_model(store, &loose.model_key).await.unwrap();
    let b = objects::load_model(store, &packed.model_key).await.unwrap();
    assert_eq!(a.ensemble, b.ensemble);
    assert_eq!(a.classes, ["bar", "disc", "ring"]);
}

#[tokio::test]
async fn packed_and_per_image_prefixes_train_the_same_model_in_memory() {
    same_model(&memory()).await;
}

/// A local directory reads per-image prefixes as files; packed ones still go by their shards.
#[tokio::test]
async fn packed_and_per_image_prefixes_train_the_same_model_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    same_model(&common::local(dir.path())).await;
}

#[tokio::test]
async fn packed_and_per_image_prefixes_train_the_same_model_on_s3() {
    let server = S3Server::start();
    same_model(&server.store()).await;
}

/// The calls of a run in one process (partition's probes, each PCA function, validation's
/// held-out images) read each shard once between them, not once each: a packed run reads
/// no more than a per-image run of the same pictures plus the shards' bytes once.
#[tokio::test]
async fn a_run_reads_each_shard_once() {
    let store = memory();
    both_layouts(&store).await;
    let shards: u64 = index_of(&store, "packed")
        .await
        .shards
        .iter()
        .map(|s| s.size)
        .sum();
    let read = |before: mltrain_store::StoreStats| store.stats().bytes_read - before.bytes_read;
    let before = store.stats();
    run(&store, &params("loose"), "loose").await.unwrap();
    let loose = read(before);
    let before = store.stats();
    run(&store, &params("packed"), "packed").await.unwrap();
    let packed = read(before);
    assert!(
        packed < loose + shards,
        "the packed run read {packed} bytes, the per-image one {loose}, the shards are {shards}"
    );
}

/// A packed test prefix, and a per-image one beside packed training data.
#[tokio::test]
async fn packed_test_prefixes_are_read_too() {
    let store = memory();
    both_layouts(&store).await;
    put_pictures(&store, "test-packed", 6).await;
    put_pictures(&store, "test-loose", 6).await;
    pack(&store, "test-packed", SHARD).await;
    let with_test = |train: &str, test: &str| Params {
        test: TestSplit::Prefix(test.into()),
        ..params(train)
    };
    let a = run(&store, &with_test("loose", "test-loose"), "a")
        .await
        .unwrap();
    let b = run(&store, &with_test("packed", "test-packed"), "b")
        .await
        .unwrap();
    let c = run(&store, &with_test("packed", "test-loose"), "c")
        .await
        .unwrap();
    assert_eq!(a.test_images, 18);
    assert_eq!((a.accuracy, a.test_images), (b.accuracy, b.test_images));
    assert_eq!((a.accuracy, a.test_images), (c.accuracy, c.test_images));
}

async fn index_of(store: &Store, prefix: &str) -> Index {
    store.pack_index(prefix).await.unwrap().unwrap()
}

/// The run's error, which must be bad input, with its chain on one line.
async fn failing_run(store: &Store, params: &Params) -> String {
    let err = run(store, params, "broken").await.unwrap_err();
    assert!(err.is_bad_input(), "{err:?}");
    assert!(!err.is_retryable(), "{err:?}");
    error_chain(&err)
}

#[tokio::test]
async fn a_flipped_byte_in_a_shard_names_the_shard_and_the_image() {
    let store = memory();
    both_layouts(&store).await;
    let index = index_of(&store, "packed").await;
    let image = &index.images[40];
    let shard = mltrain_pack::shard_key("packed", index.shard_of(image));
    let mut bytes = store.get(&shard).await.unwrap().to_vec();
    bytes[(image.offset + image.length / 2) as usize] ^= 0x01;
    store.put(&shard, bytes.into()).await.unwrap();
    // Never left out as a bad image, whatever --skip-invalid says.
    let chain = failing_run(
        &store,
        &Params {
            skip_invalid: true,
            ..params("packed")
        },
    )
    .await;
    assert!(
        chain.contains(&shard)
            && chain.contains(&format!("packed/{}", image.key))
            && chain.contains("checksum mismatch"),
        "{chain}"
    );
}

#[tokio::test]
async fn a_damaged_index_is_named() {
    let store = memory();
    both_layouts(&store).await;
    let key = mltrain_pack::index_key("packed");
    let text = String::from_utf8(store.get(&key).await.unwrap().to_vec()).unwrap();
    // An offset changed by one digit: still JSON, still plausible, caught by the checksum.
    let at = text.find(",512,").unwrap();
    let damaged = format!("{},513,{}", &text[..at], &text[at + 5..]);
    store.put(&key, damaged.into()).await.unwrap();
    let chain = failing_run(&store, &params("packed")).await;
    assert!(
        chain.contains(&key) && chain.contains("checksum mismatch"),
        "{chain}"
    );
    store
        .put(&key, text[..text.len() / 2].to_string().into())
        .await
        .unwrap();
    let chain = failing_run(&store, &params("packed")).await;
    assert!(
        chain.contains(&key) && chain.contains("not a readable pack index"),
        "{chain}"
    );
}

#[tokio::test]
async fn a_shard_the_index_does_not_name_is_named() {
    let store = memory();
    both_layouts(&store).await;
    let stray = mltrain_pack::shard_key("packed", &mltrain_pack::shard_name(99));
    store.put(&stray, vec![0; 1024].into()).await.unwrap();
    let chain = failing_run(&store, &params("packed")).await;
    assert!(
        chain.contains("shard `shard-000099.tar` is not in the index"),
        "{chain}"
    );
}

#[tokio::test]
async fn an_index_naming_a_missing_shard_is_named() {
    let store = memory();
    both_layouts(&store).await;
    let index = index_of(&store, "packed").await;
    let name = &index.shards[1].name;
    store
        .delete(&mltrain_pack::shard_key("packed", name))
        .await
        .unwrap();
    let chain = failing_run(&store, &params("packed")).await;
    assert!(
        chain.contains(&format!("shard `{name}` is in the index but missing")),
        "{chain}"
    );
}

#[tokio::test]
async fn a_range_past_the_end_of_its_shard_is_named() {
    let store = memory();
    both_layouts(&store).await;
    let mut index = index_of(&store, "packed").await;
    let last = index.images.len() - 1;
    index.images[last].length += 10_000;
    let key = index.images[last].key.clone();
    let shard = index.shard_of(&index.images[last]).to_string();
    store
        .put(&mltrain_pack::index_key("packed"), index.encode().into())
        .await
        .unwrap();
    let chain = failing_run(&store, &params("packed")).await;
    assert!(
        chain.contains(&format!("image `{key}` ends at byte"))
            && chain.contains(&format!("of shard `{shard}`")),
        "{chain}"
    );
}

/// A shard replaced after the run listed it (same name, shorter) is caught where it is
/// read: the image is named, not decoded from whatever bytes came back, and not retried.
#[tokio::test]
async fn a_shard_shortened_after_partition_is_named_where_it_is_read() {
    use mltrain_workflow::stage;
    let store = memory();
    both_layouts(&store).await;
    let index = index_of(&store, "packed").await;
    let image = index.images.last().unwrap().clone();
    let shard = mltrain_pack::shard_key("packed", index.shard_of(&image));
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    stage::call::<stage::Partition>(
        &local.ctx,
        stage::partition_input("short", &params("packed")),
    )
    .await
    .unwrap();
    let bytes = store.get(&shard).await.unwrap();
    store
        .put(&shard, bytes.slice(..image.offset as usize + 10))
        .await
        .unwrap();
    let err = driver::resume(&local, &store, "short", &Default::default(), &Quiet)
        .await
        .unwrap_err();
    assert!(err.is_bad_input() && !err.is_retryable(), "{err:?}");
    let chain = error_chain(&err);
    assert!(
        chain.contains(&shard)
            && chain.contains(&format!("packed/{}", image.key))
            && chain.contains("bytes"),
        "{chain}"
    );
}
