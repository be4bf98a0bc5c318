//! Accuracy on the bundled digits: train on the first 8,000, test on the other 2,000, with
//! 4 PCA functions and 8 forests (defaults otherwise), as the foundation issue specifies.
//!
//! The reference is scikit-learn's PCA + RandomForestClassifier with the same data flow on
//! the same split, measured by `bench/sklearn_flow.py`: 0.823 with 10 components and 0.880
//! with 40 (mltrain: 0.8285 and 0.878). The bars below are half a point under
//! scikit-learn's: mltrain must be at least as good, within noise. See `bench/README.md` for
//! why these sit under the 0.84 and 0.90 scikit-learn reaches on an average split.

#![allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails

mod common;

use mltrain_dataset::{BUNDLED_TEST, BUNDLED_TRAIN};
use mltrain_workflow::driver::{self, Local, Quiet};
use mltrain_workflow::params::{Params, TestSplit};
use mltrain_workflow::stages::Ctx;

async fn accuracy(components: usize) -> f64 {
    let store = common::memory();
    common::put_digits(&store, "train", BUNDLED_TRAIN).await;
    common::put_digits(&store, "test", BUNDLED_TEST).await;
    let params = Params {
        prefix: "train".into(),
        num_pca: 4,
        num_rf: 8,
        test: TestSplit::Prefix("test".into()),
        components,
        ..Params::default()
    };
    let report = driver::run(
        &Local {
            ctx: Ctx::new(store),
        },
        &params,
        "acc",
        8,
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!((report.train_images, report.test_images), (8000, 2000));
    report.accuracy
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_components_match_scikit_learn() {
    let acc = accuracy(10).await;
    assert!(acc >= 0.82, "accuracy {acc} with 10 components");
}

#[tokio::test(flavor = "multi_thread")]
async fn forty_components_match_scikit_learn() {
    let acc = accuracy(40).await;
    assert!(acc >= 0.875, "accuracy {acc} with 40 components");
}
