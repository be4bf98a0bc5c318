//! Faults injected into the local backend: flaky and broken functions, corrupted
//! intermediates, interrupted runs finished with `resume`, and concurrent runs.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use common::error_chain;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use mltrain_store::Store;
use mltrain_workflow::driver::{self, Functions, Local, Options, Quiet};
use mltrain_workflow::objects;
use mltrain_workflow::params::Params;
use mltrain_workflow::stage::Stage;
use mltrain_workflow::stages::Ctx;
use mltrain_workflow::{Error, Result, layout};

/// What an injected fault does to one named function ("partition", "pca-1", "rf-0-1", ...).
#[derive(Clone, Copy)]
enum Fault {
    /// Fails with a retryable error this many times, then works.
    FailTimes(u32),
    /// Always fails with a retryable error.
    Always,
    /// Always fails with a non-retryable error.
    Fatal,
    /// Runs, then flips a byte of the object at this key of the store.
    CorruptAfter(&'static str),
    /// Runs, then flips a byte inside the first image of the first shard of this packed
    /// prefix.
    CorruptShardAfter(&'static str),
    /// Fails as a stage whose code panicked does.
    Panic,
}

/// The local backend with faults injected by function name, counting calls.
struct Faulty {
    local: Local,
    faults: HashMap<String, Fault>,
    calls: Mutex<HashMap<String, u32>>,
}

impl Faulty {
    fn new(store: &Store, faults: &[(&str, Fault)]) -> Self {
        Self {
            local: Local {
                ctx: Ctx::new(store.clone()),
            },
            faults: faults.iter().map(|(k, f)| (k.to_string(), *f)).collect(),
            calls: Mutex::new(HashMap::new()),
        }
    }

    fn calls(&self, name: &str) -> u32 {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    fn total_calls(&self) -> u32 {
        self.calls.lock().unwrap().values().sum()
    }

    /// Counts the call and returns the injected failure, if any, before the function runs.
    fn before(&self, name: &str) -> Result<()> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(name.to_string()).or_default();
            *n += 1;
            *n
        };
        let transient = || Error::Task {
            stage: "injected",
            reason: format!("injected transient fault in {name}"),
        };
        match self.faults.get(name) {
            Some(Fault::FailTimes(k)) if n <= *k => Err(transient()),
            Some(Fault::Always) => Err(transient()),
            Some(Fault::Fatal) => Err(Error::InvalidArgument {
                name: "injected",
                reason: format!("fatal fault in {name}"),
            }),
            Some(Fault::Panic) => Err(Error::Panic {
                stage: "pca",
                message: format!("injected panic in {name}"),
            }),
            _ => Ok(()),
        }
    }

    async fn after(&self, name: &str) {
        if let Some(Fault::CorruptShardAfter(prefix)) = self.faults.get(name) {
            let store = &self.local.ctx.store;
            let index = store.pack_index(prefix).await.unwrap().unwrap();
            let image = &index.images[0];
            let key = mltrain_pack::shard_key(prefix, index.shard_of(image));
            let mut bytes = store.get(&key).await.unwrap().to_vec();
            bytes[image.offset as usize] ^= 0x55;
            store.put(&key, bytes.into()).await.unwrap();
        }
        if let Some(Fault::CorruptAfter(key)) = self.faults.get(name) {
            let store = &self.local.ctx.store;
            let key = format!("{}/{key}", layout::RunLayout::new(RUN).dir());
            let mut bytes = store.get(&key).await.unwrap().to_vec();
            let last = bytes.len() - 1;
            bytes[last] ^= 0x55;
            store.put(&key, bytes.into()).await.unwrap();
        }
    }
}

impl Functions for Faulty {
    async fn call<S: Stage>(&self, input: S::Input) -> Result<S::Output> {
        let name = S::call_name(&input);
        self.before(&name)?;
        let out = self.local.call::<S>(input).await?;
        self.after(&name).await;
        Ok(out)
    }
}

const RUN: &str = "faulty-run";

fn params() -> Params {
    Params {
        prefix: "digits".into(),
        num_pca: 2,
        num_rf: 4,
        trees: 30,
        ..Params::default()
    }
}

fn fast_retries() -> Options {
    Options {
        concurrency: 4,
        attempts: 3,
        backoff: Duration::from_millis(1),
    }
}

async fn store_with_digits() -> Store {
    let store = common::memory();
    common::put_digits(&store, "digits", 0..600).await;
    store
}

/// The ensemble a clean run produces, to compare faulty runs against.
async fn clean_model(store: &Store) -> mltrain_core::ensemble::Ensemble {
    let report = driver::run(
        &Local {
            ctx: Ctx::new(store.clone()),
        },
        &params(),
        "clean",
        4,
        &Quiet,
    )
    .await
    .unwrap();
    objects::load_model(store, &report.model_key)
        .await
        .unwrap()
        .ensemble
}

async fn models(store: &Store) -> Vec<String> {
    store.keys(layout::MODELS).await.unwrap()
}

#[tokio::test]
async fn a_function_that_fails_once_is_retried_and_the_model_is_the_same() {
    let store = store_with_digits().await;
    let clean = clean_model(&store).await;
    let faulty = Faulty::new(
        &store,
        &[
            ("pca-1", Fault::FailTimes(1)),
            ("rf-0-1", Fault::FailTimes(2)),
            ("validation", Fault::FailTimes(1)),
        ],
    );
    let report = driver::run_with(&faulty, &params(), RUN, &fast_retries(), &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (
            faulty.calls("pca-1"),
            faulty.calls("rf-0-1"),
            faulty.calls("validation")
        ),
        (2, 3, 2)
    );
    assert_eq!(faulty.calls("pca-0"), 1);
    let model = objects::load_model(&store, &report.model_key)
        .await
        .unwrap();
    assert_eq!(model.ensemble, clean);
}

#[tokio::test]
async fn a_function_that_always_fails_gives_a_clear_error_and_no_model() {
    let store = store_with_digits().await;
    let faulty = Faulty::new(&store, &[("rf-1-0", Fault::Always)]);
    let err = driver::run_with(&faulty, &params(), RUN, &fast_retries(), &Quiet)
        .await
        .unwrap_err();
    assert_eq!(faulty.calls("rf-1-0"), 3, "tried `attempts` times");
    assert!(err.to_string().contains("stage rf-1-0 failed"), "{err}");
    assert!(!err.is_bad_input());
    assert!(models(&store).await.is_empty(), "nothing published");
}

#[tokio::test]
async fn a_fatal_error_is_not_retried() {
    let store = store_with_digits().await;
    let faulty = Faulty::new(&store, &[("pca-0", Fault::Fatal)]);
    let err = driver::run_with(&faulty, &params(), RUN, &fast_retries(), &Quiet)
        .await
        .unwrap_err();
    assert_eq!(faulty.calls("pca-0"), 1);
    assert!(err.to_string().contains("stage pca-0 failed"), "{err}");
    assert!(models(&store).await.is_empty());
}

/// A panic is a bug, not a transient fault: tried once, and the message says so.
#[tokio::test]
async fn a_panic_is_not_retried_and_is_called_a_bug() {
    let store = store_with_digits().await;
    let faulty = Faulty::new(&store, &[("pca-1", Fault::Panic)]);
    let err = driver::run_with(&faulty, &params(), RUN, &fast_retries(), &Quiet)
        .await
        .unwrap_err();
    assert_eq!(faulty.calls("pca-1"), 1);
    assert!(!err.is_bad_input());
    let chain = error_chain(&err);
    assert!(chain.contains("stage pca-1 failed"), "{chain}");
    assert!(
        chain.contains("panicked") && chain.contains("bug"),
        "{chain}"
    );
    assert!(models(&store).await.is_empty());
}

#[tokio::test]
async fn a_corrupted_intermediate_is_detected_by_key_and_resume_repairs_it() {
    let store = store_with_digits().await;
    let clean = clean_model(&store).await;
    let faulty = Faulty::new(&store, &[("pca-0", Fault::CorruptAfter("pca-0/share-1"))]);
    let err = driver::run_with(&faulty, &params(), RUN, &fast_retries(), &Quiet)
        .await
        .unwrap_err();
    let chain = error_chain(&err);
    assert!(chain.contains("stage rf-0-1 failed"), "{chain}");
    assert!(
        chain.contains("pca-0/share-1") && chain.contains("checksum mismatch"),
        "{chain}"
    );
    assert_eq!(
        faulty.calls("rf-0-1"),
        1,
        "corruption is not retried blindly"
    );
    assert!(
        models(&store).await.iter().all(|k| !k.contains(RUN)),
        "nothing published"
    );

    // resume finds the damaged share invalid, runs pca-0 again (rewriting the same share)
    // and the forests that were missing, and publishes the same model as a clean run.
    let again = Faulty::new(&store, &[]);
    let report = driver::resume(&again, &store, RUN, &fast_retries(), &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (
            again.calls("partition"),
            again.calls("pca-0"),
            again.calls("pca-1")
        ),
        (0, 1, 0)
    );
    assert_eq!(again.calls("rf-0-1"), 1);
    assert_eq!(
        objects::load_model(&store, &report.model_key)
            .await
            .unwrap()
            .ensemble,
        clean
    );
}

#[tokio::test]
async fn resume_reruns_only_what_is_missing() {
    let store = store_with_digits().await;
    let clean = clean_model(&store).await;
    let faulty = Faulty::new(&store, &[("validation", Fault::Fatal)]);
    assert!(
        driver::run_with(&faulty, &params(), RUN, &fast_retries(), &Quiet)
            .await
            .is_err()
    );
    assert!(models(&store).await.iter().all(|k| !k.contains(RUN)));

    let again = Faulty::new(&store, &[]);
    let report = driver::resume(&again, &store, RUN, &fast_retries(), &Quiet)
        .await
        .unwrap();
    assert_eq!(again.total_calls(), 1, "only validation ran again");
    assert_eq!(again.calls("validation"), 1);
    assert_eq!(
        objects::load_model(&store, &report.model_key)
            .await
            .unwrap()
            .ensemble,
        clean
    );

    // A complete run resumes to its report without running anything.
    let third = Faulty::new(&store, &[]);
    let same = driver::resume(&third, &store, RUN, &fast_retries(), &Quiet)
        .await
        .unwrap();
    assert_eq!(third.total_calls(), 0);
    assert_eq!(same.accuracy, report.accuracy);

    let err = driver::resume(&third, &store, "no-such-run", &fast_retries(), &Quiet)
        .await
        .unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("no run `no-such-run`"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_on_the_same_prefix_both_complete() {
    let store = store_with_digits().await;
    let local = Local {
        ctx: Ctx::new(store.clone()),
    };
    let p = params();
    let (a, b) = tokio::join!(
        driver::run(&local, &p, "together-a", 4, &Quiet),
        driver::run(&local, &p, "together-b", 4, &Quiet)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.model_key, b.model_key);
    let (ma, mb) = (
        objects::load_model(&store, &a.model_key).await.unwrap(),
        objects::load_model(&store, &b.model_key).await.unwrap(),
    );
    assert_eq!(ma.ensemble, mb.ensemble);
    assert_eq!(
        (ma.run_id.as_str(), mb.run_id.as_str()),
        ("together-a", "together-b")
    );
    for run in ["together-a", "together-b"] {
        let dir = layout::RunLayout::new(run).dir();
        assert!(
            // params, 2 key lists + the test list, 2 bases, 4 shares, 4 forests, the report
            store.list(&dir).await.unwrap().len() > 2 + 1 + 2 + 4 + 4 + 1,
            "{run} has its own outputs"
        );
    }
}

#[tokio::test]
async fn inputs_over_the_limits_are_refused_not_loaded() {
    let store = store_with_digits().await;
    let mut ctx = Ctx::new(store.clone());
    ctx.limits.max_images = 100;
    let err = driver::run(
        &Local { ctx: ctx.clone() },
        &params(),
        "too-many",
        2,
        &Quiet,
    )
    .await
    .unwrap_err();
    assert!(err.is_bad_input());
    assert!(
        error_chain(&err).contains("holds 600 objects, over the limit of 100"),
        "{}",
        error_chain(&err)
    );

    ctx.limits = Default::default();
    ctx.limits.max_image_pixels = 28 * 27;
    let err = driver::run(&Local { ctx }, &params(), "too-big", 2, &Quiet)
        .await
        .unwrap_err();
    assert!(err.is_bad_input());
    let chain = error_chain(&err);
    assert!(
        chain.contains("28x28 pixels exceeds the limit of 756") && chain.contains("digits/"),
        "{chain}"
    );
    assert!(models(&store).await.is_empty());
}

/// A shard damaged after partition read the index: the call that reads the damaged image
/// fails naming the shard and the image, is not retried (the same bytes would fail again),
/// and nothing is published.
#[tokio::test]
async fn a_corrupted_shard_is_named_and_not_retried() {
    let store = common::memory();
    common::put_pictures(&store, "pictures", 20).await;
    common::pack(&store, "pictures", 32 << 10).await;
    let index = store.pack_index("pictures").await.unwrap().unwrap();
    let image = format!("pictures/{}", index.images[0].key);
    let shard = mltrain_pack::shard_key("pictures", index.shard_of(&index.images[0]));
    let faulty = Faulty::new(
        &store,
        &[("partition", Fault::CorruptShardAfter("pictures"))],
    );
    let params = Params {
        prefix: "pictures".into(),
        ..params()
    };
    let err = driver::run_with(&faulty, &params, RUN, &fast_retries(), &Quiet)
        .await
        .unwrap_err();
    assert!(err.is_bad_input() && !err.is_retryable(), "{err:?}");
    let chain = error_chain(&err);
    assert!(
        chain.contains(&shard) && chain.contains(&image) && chain.contains("checksum mismatch"),
        "{chain}"
    );
    let calls = faulty.calls.lock().unwrap().clone();
    assert!(calls.values().all(|&n| n == 1), "retried: {calls:?}");
    assert!(
        models(&store).await.iter().all(|k| !k.contains(RUN)),
        "nothing published"
    );
}
